//! Executions: outcomes, errors with the user's line, timeouts and the kill cascade, shell.

mod common;

use common::{eventually, is_root, processes_of_uid, strs, Server};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[test]
fn error_reports_the_users_line() {
    let s = Server::start();
    let sid = s.create_session();
    let r = s.exec(&sid, "a = 1\nb = 2\nraise ValueError('bad value')\n");
    assert_eq!(r["status"], "error");
    assert_eq!(r["error"]["type"], "ValueError");
    assert_eq!(r["error"]["message"], "bad value");
    assert_eq!(r["error"]["line"], 3);
    let tb = r["error"]["traceback"].as_str().unwrap();
    assert!(tb.contains("line 3") && !tb.contains("worker.py"), "{tb}");
    assert_eq!(r["state_preserved"], true);

    let r = s.exec(&sid, "x = 1\ny = (\n");
    assert_eq!(r["error"]["type"], "SyntaxError");
    assert!(r["error"]["line"].as_u64().unwrap() >= 2);

    // an error inside a function defined in an earlier execution: line of the call here
    s.run_ok(&sid, "def f():\n    return 1/0");
    let r = s.exec(&sid, "print('before')\nf()");
    assert_eq!(r["error"]["type"], "ZeroDivisionError");
    assert_eq!(r["error"]["line"], 2);
    assert_eq!(r["stdout"], "before\n");
}

#[test]
fn stdout_and_stderr_are_separate_and_include_c_level_output() {
    let s = Server::start();
    let sid = s.create_session();
    let r = s.exec(&sid, "import sys, os\nprint('out')\nprint('err', file=sys.stderr)\nos.write(1, b'raw\\n')\nos.system('echo from-shell')");
    assert_eq!(r["status"], "ok");
    let out = r["stdout"].as_str().unwrap();
    assert!(
        out.contains("out\n") && out.contains("raw\n") && out.contains("from-shell\n"),
        "{out:?}"
    );
    assert_eq!(r["stderr"], "err\n");
    assert!(
        r["duration_ms"].is_u64() && r["cpu_ms"].is_u64() && r["max_rss_kb"].as_u64().unwrap() > 0
    );
}

#[test]
fn timeout_interrupts_and_the_session_keeps_working() {
    let s = Server::start();
    let sid = s.create_session();
    s.run_ok(&sid, "kept = 'still here'");
    let t0 = Instant::now();
    let r = s.exec_with(&sid, &json!({"code": "while True: pass", "timeout_s": 2}));
    let took = t0.elapsed();
    assert_eq!(r["status"], "timeout", "{r:#}");
    assert_eq!(r["error"]["type"], "TimeoutError");
    assert!(took < Duration::from_secs(4), "timeout took {took:?}");
    assert_eq!(r["state_preserved"], true);
    assert_eq!(s.run_ok(&sid, "print(kept)").trim(), "still here");
}

#[test]
fn code_that_ignores_sigint_is_killed_and_the_session_recovers() {
    let s = Server::start();
    let sid = s.create_session();
    s.run_ok(&sid, "kept = 1");
    let code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass";
    let t0 = Instant::now();
    let r = s.exec_with(&sid, &json!({"code": code, "timeout_s": 1}));
    assert!(t0.elapsed() < Duration::from_secs(4));
    assert_eq!(r["status"], "timeout");
    assert_eq!(r["state_preserved"], false);
    let r = s.exec(&sid, "print(1 + 1)");
    assert_eq!(r["status"], "ok");
    assert_eq!(r["stdout"], "2\n");
    assert_eq!(
        r["state_preserved"], false,
        "a fresh worker has none of the old variables"
    );
    assert_eq!(s.exec(&sid, "print(kept)")["error"]["type"], "NameError");
    assert_eq!(s.session_info(&sid)["worker_restarts"], 1);
}

#[test]
fn no_process_of_the_session_survives_a_timeout() {
    // The daemon is checked from outside by the pid it writes: host pids, no PID namespace.
    let s = Server::start_with(&["--private-pid", "false"], &[]);
    let sid = s.create_session();
    let worker = s.worker_pid(&sid);
    // A grandchild in its own session (setsid) that would outlive a process-group kill.
    let code = "\
import os, time
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        open('data/daemon.pid', 'w').write(str(os.getpid()))
        time.sleep(300)
    os._exit(0)
os.waitpid(pid, 0)
while not os.path.exists('data/daemon.pid'):
    time.sleep(0.01)
time.sleep(300)
";
    let r = s.exec_with(&sid, &json!({"code": code, "timeout_s": 1.5}));
    assert_eq!(r["status"], "timeout");
    let ws = s.run_ok(&sid, "import os\nprint(os.getcwd())");
    let daemon: i32 = std::fs::read_to_string(format!("{}/data/daemon.pid", ws.trim()))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(3), || !std::path::Path::new(&format!(
            "/proc/{daemon}/status"
        ))
        .exists()
            || std::fs::read_to_string(format!("/proc/{daemon}/status"))
                .unwrap_or_default()
                .contains("Z (")),
        "the setsid grandchild {daemon} survived"
    );
    if is_root() {
        let uid = s.session_uid(&sid);
        assert_eq!(
            processes_of_uid(uid),
            vec![worker],
            "only the worker may remain"
        );
    }
}

#[test]
fn shell_executions_report_exit_codes() {
    let s = Server::start();
    let sid = s.create_session();
    s.put_file(&sid, "data/a.csv", b"x\n1\n".to_vec());
    let r = s.exec_with(&sid, &json!({"code": "ls data", "language": "shell"}));
    assert_eq!(r["status"], "ok", "{r:#}");
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["stdout"], "a.csv\n");
    let r = s.exec_with(
        &sid,
        &json!({"code": "echo oops >&2; exit 7", "language": "shell"}),
    );
    assert_eq!(r["status"], "error");
    assert_eq!(r["exit_code"], 7);
    assert_eq!(r["stderr"], "oops\n");
    assert_eq!(r["error"]["type"], "ShellError");
}

#[test]
fn shell_timeout_kills_background_children() {
    let s = Server::start();
    let sid = s.create_session();
    let r = s.exec_with(&sid, &json!({"code": "(sleep 3; echo late > data/late.txt) & sleep 100", "language": "shell", "timeout_s": 1}));
    assert_eq!(r["status"], "timeout");
    std::thread::sleep(Duration::from_millis(3500));
    let r = s.exec(&sid, "import os\nprint(os.path.exists('data/late.txt'))");
    assert_eq!(r["stdout"], "False\n");
}

/// `plt.show()` saves what `savefig(dpi=100, bbox_inches="tight")` saves, from one render
/// (cropped) when the tight box lies inside the figure, through savefig when it does not (a
/// legend outside the axes): the same size and, within anti-aliasing, the same pixels.
#[test]
fn plt_show_saves_the_tight_figure_savefig_would() {
    let s = Server::start();
    let sid = s.create_session();
    let compare = "import numpy as np, matplotlib.image as mi\n\
        a = mi.imread(shown); b = mi.imread('data/ref.png')\n\
        print(a.shape, b.shape)\n\
        h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])\n\
        print(a.shape == b.shape, a.shape[:2] != (480, 640))\n\
        print(float(np.abs(a[:h, :w] - b[:h, :w]).mean()) < 0.03)";
    for (name, draw) in [
        ("inside", "fig, ax = plt.subplots()\nax.bar(['과일','채소','육류'], [5, 3, 4])\nax.set_title('카테고리별 매출')"),
        ("legend outside", "fig, ax = plt.subplots()\nax.plot([1, 2, 3], label='매출')\nax.legend(loc='upper left', bbox_to_anchor=(1.05, 1))"),
        // A layout engine that moves axes during the draw, a colorbar, an image's aspect, a
        // log scale and a twin axis: the tight box reuses the ticks the draw computed last.
        ("constrained, colorbar, twin log axis", "import numpy as np\nfig, (a, b) = plt.subplots(1, 2, layout='constrained')\nim = a.imshow(np.arange(100).reshape(10, 10))\nfig.colorbar(im, ax=a)\nb.plot([1, 10, 100], label='매출')\nb.set_yscale('log')\nb.twinx().plot([3, 2, 1], color='r')\nb.set_title('카테고리별')"),
    ] {
        let code = format!(
            "import matplotlib.pyplot as plt\n{draw}\nfig.savefig('data/ref.png', dpi=100, bbox_inches='tight')\nplt.show()"
        );
        let r = s.exec(&sid, &code);
        assert_eq!(r["status"], "ok", "{name}: {r:#}");
        let shown = strs(&r["artifacts"])[0].to_string();
        let out = s.run_ok(&sid, &format!("shown = '{shown}'\n{compare}"));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[1..], ["True True", "True"], "{name}: {out}");
    }
}

#[test]
fn plt_show_saves_figures_as_artifacts() {
    let s = Server::start();
    let sid = s.create_session();
    let r = s.exec(&sid, "import matplotlib.pyplot as plt\nplt.plot([1,2,3])\nplt.show()\nplt.figure(); plt.bar(['가','나'],[1,2]); plt.show()");
    let arts: Vec<&str> = strs(&r["artifacts"]);
    assert_eq!(arts.len(), 2, "{r:#}");
    assert!(arts
        .iter()
        .all(|a| a.starts_with("artifacts/") && a.ends_with(".png")));
    // a file written explicitly is listed too
    let r = s.exec(&sid, "open('artifacts/result.json','w').write('{}')");
    assert_eq!(r["artifacts"], json!(["artifacts/result.json"]));
}

#[test]
fn a_second_execution_while_busy_gets_409() {
    let s = Server::start();
    let sid = s.create_session();
    let base = s.url(&format!("/v1/sessions/{sid}/executions"));
    let client = s.client.clone();
    let slow = std::thread::spawn(move || {
        client
            .post(base)
            .json(&json!({"code": "import time; time.sleep(2)"}))
            .send()
            .unwrap()
            .status()
    });
    assert!(eventually(Duration::from_secs(5), || s.session_info(&sid)
        ["state"]
        == "busy"));
    let r = s.post_json(
        &format!("/v1/sessions/{sid}/executions"),
        &json!({"code": "print(1)"}),
    );
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().unwrap()["error"]["code"], "session_busy");
    assert_eq!(slow.join().unwrap(), 200);
    s.run_ok(&sid, "print(1)");
}

/// A client that sends its next execution the moment it has read the last one's result is
/// never refused as busy: the result is published only once the worker is free again (or held
/// by the after-execution check, which a next execution waits for). It was published first,
/// and a fast client sometimes found the worker still held: 409 `session_busy`.
#[test]
fn back_to_back_executions_are_never_refused_as_busy() {
    use std::io::Write;
    let s = Server::start();
    let sid = s.create_session();
    // A raw keep-alive connection: the next request is written within microseconds of the
    // last byte of the response.
    let (mut conn, addr) = common::raw_http::connect(&s);
    let body = r#"{"code": "print(1)"}"#;
    let request = format!(
        "POST /v1/sessions/{sid}/executions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    for i in 0..400 {
        conn.write_all(request.as_bytes()).unwrap();
        let Some((head, text)) = common::raw_http::read_response(&mut conn) else {
            panic!("the server closed the connection at call {i}");
        };
        assert!(head.starts_with("http/1.1 200"), "call {i}: {head}{text}");
        assert!(text.contains(r#""stdout":"1\n""#), "call {i}: {text}");
    }
}

#[test]
fn output_flood_stops_with_output_limit() {
    let s = Server::start_with(
        &[
            "--output-cap-bytes",
            "100000",
            "--output-return-bytes",
            "1000",
        ],
        &[],
    );
    let sid = s.create_session();
    let r = s.exec_with(
        &sid,
        &json!({"code": "while True: print('x' * 1000)", "timeout_s": 30}),
    );
    assert_eq!(r["status"], "output_limit", "{}", r["error"]);
    assert_eq!(r["stdout_truncated"], true);
    assert!(r["stdout"].as_str().unwrap().len() <= 1000);
    s.run_ok(&sid, "print('fine')");
}

#[test]
fn memory_error_reports_oom() {
    let s = Server::start_with(&["--memory-limit-mb", "256"], &[]);
    let sid = s.create_session();
    let r = s.exec(&sid, "x = bytearray(1024 * 1024 * 1024)");
    assert_eq!(r["status"], "oom", "{r:#}");
    assert_eq!(r["error"]["type"], "MemoryError");
    s.run_ok(&sid, "import numpy as np\nprint(np.ones(1000).sum())");
}

#[test]
fn executions_are_kept_and_listed() {
    let s = Server::start();
    let sid = s.create_session();
    let r = s.exec(&sid, "print('hello')");
    let id = r["id"].as_str().unwrap();
    let again = s.get_json(&format!("/v1/sessions/{sid}/executions/{id}"));
    assert_eq!(again["stdout"], "hello\n");
    let list = s.get_json(&format!("/v1/sessions/{sid}/executions"));
    assert_eq!(list["executions"].as_array().unwrap().len(), 1);
    let missing = s.get(&format!("/v1/sessions/{sid}/executions/nope"));
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<Value>().unwrap()["error"]["code"],
        "execution_not_found"
    );
}

#[test]
fn korean_text_round_trips() {
    let s = Server::start();
    let sid = s.create_session();
    let r = s.exec(&sid, "name = '신선식품'\nprint(f'{name} 매출')\nopen('artifacts/요약.txt','w',encoding='utf-8').write(name)");
    assert_eq!(r["stdout"], "신선식품 매출\n");
    assert_eq!(r["artifacts"], json!(["artifacts/요약.txt"]));
    let body = s
        .get(&format!(
            "/v1/sessions/{sid}/artifacts/{}",
            "%EC%9A%94%EC%95%BD.txt"
        ))
        .text()
        .unwrap();
    assert_eq!(body, "신선식품");
}

#[test]
fn events_keep_the_order_of_output() {
    let s = Server::start();
    let sid = s.create_session();
    let code = "import sys, time, matplotlib.pyplot as plt\nprint('one', flush=True)\ntime.sleep(0.05)\nprint('two', file=sys.stderr, flush=True)\ntime.sleep(0.05)\nplt.plot([1]); plt.show()\ntime.sleep(0.05)\nprint('three', flush=True)";
    let r = s.exec(&sid, code);
    let id = r["id"].as_str().unwrap();
    let ev = s.get_json(&format!("/v1/sessions/{sid}/executions/{id}/events"));
    let kinds: Vec<String> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["type"].as_str().unwrap(),
                e["data"]
                    .as_str()
                    .or(e["path"].as_str())
                    .or(e["status"].as_str())
                    .unwrap_or("")
                    .trim()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "stdout:one",
            "stderr:two",
            "artifact:artifacts/figure-1-1.png",
            "stdout:three",
            "result:ok"
        ],
        "{ev:#}"
    );
    assert_eq!(ev["events"][0]["seq"], 0);
}

/// The request is queued in the stopped worker's socket before the worker is continued; one
/// larger than the socket buffer is finished after, so it still arrives whole.
#[test]
fn code_larger_than_the_socket_buffer_reaches_a_stopped_worker() {
    let s = Server::start();
    let sid = s.create_session();
    // after this the worker is stopped until the next request
    s.run_ok(&sid, "print(0)");
    let code = format!("s = '{}'\nprint(len(s))", "x".repeat(4 << 20));
    assert_eq!(s.run_ok(&sid, &code).trim(), (4 << 20).to_string());
    s.run_ok(&sid, "print('next')");
}

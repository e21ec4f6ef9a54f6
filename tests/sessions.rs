//! Session lifecycle: state, isolation, listing, deletion, reaping, stickiness.

mod common;

use common::{eventually, is_root, processes_of_uid, root_or_skip, Server};
use serde_json::{json, Value};
use std::time::Duration;

#[test]
fn variables_persist_within_a_session() {
    let s = Server::start();
    let sid = s.create_session();
    s.run_ok(&sid, "x = 41");
    assert_eq!(s.run_ok(&sid, "print(x + 1)").trim(), "42");
}

#[test]
fn sessions_do_not_share_variables_or_files() {
    let s = Server::start();
    let a = s.create_session();
    let b = s.create_session();
    s.run_ok(
        &a,
        "secret = 'alpha'\nopen('data/mine.txt', 'w').write('alpha')",
    );
    let r = s.exec(&b, "print(secret)");
    assert_eq!(r["status"], "error");
    assert_eq!(r["error"]["type"], "NameError");
    let r = s.exec(&b, "import os\nprint(os.path.exists('data/mine.txt'))");
    assert_eq!(r["stdout"].as_str().unwrap().trim(), "False");
    let files: Value = s.get_json(&format!("/v1/sessions/{b}/files"));
    assert!(files["files"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["path"] != "data/mine.txt"));
}

#[test]
fn reading_another_sessions_workspace_fails() {
    if !root_or_skip() {
        return;
    }
    let s = Server::start();
    let a = s.create_session();
    let b = s.create_session();
    let ws_a = s.run_ok(
        &a,
        "import os\nopen('data/secret.txt','w').write('top secret')\nprint(os.getcwd())",
    );
    let ws_a = ws_a.trim();
    // Out of reach: refused (uid, Landlock) or not even there (a private mount namespace).
    let unreachable = ["PermissionError", "FileNotFoundError"];
    let r = s.exec(&b, &format!("print(open('{ws_a}/data/secret.txt').read())"));
    assert_eq!(r["status"], "error", "{r:#}");
    assert!(
        unreachable.contains(&r["error"]["type"].as_str().unwrap()),
        "{r:#}"
    );
    let r = s.exec(&b, &format!("import os\nprint(os.listdir('{ws_a}'))"));
    assert!(
        unreachable.contains(&r["error"]["type"].as_str().unwrap()),
        "{r:#}"
    );
    // and the workspace root does not reveal other sessions' workspace names
    let root = std::path::Path::new(ws_a)
        .parent()
        .unwrap()
        .display()
        .to_string();
    let name_a = std::path::Path::new(ws_a)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let r = s.exec(&b, &format!("import os\nprint(os.listdir('{root}'))"));
    let refused = r["error"]["type"] == "PermissionError";
    assert!(
        refused || !r["stdout"].as_str().unwrap().contains(&name_a),
        "{r:#}"
    );
}

#[test]
fn create_list_get_delete() {
    let s = Server::start();
    let r = s.post_json("/v1/sessions", &json!({"id": "job-42.a_b"}));
    assert_eq!(r.status(), 201);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("dynexec_session=job-42.a_b;"),
        "{cookie}"
    );
    let info: Value = r.json().unwrap();
    assert_eq!(info["id"], "job-42.a_b");
    assert_eq!(info["state"], "ready");

    let dup = s.post_json("/v1/sessions", &json!({"id": "job-42.a_b"}));
    assert_eq!(dup.status(), 409);
    assert_eq!(
        dup.json::<Value>().unwrap()["error"]["code"],
        "session_exists"
    );

    let listed = s.get_json("/v1/sessions");
    assert!(listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["id"] == "job-42.a_b"));
    assert_eq!(s.session_info("job-42.a_b")["executions"], 0);
    s.run_ok("job-42.a_b", "print(1)");
    assert_eq!(s.session_info("job-42.a_b")["executions"], 1);

    let d = s
        .client
        .delete(s.url("/v1/sessions/job-42.a_b"))
        .send()
        .unwrap();
    assert_eq!(d.status(), 204);
    assert_eq!(s.get("/v1/sessions/job-42.a_b").status(), 404);
    assert_eq!(
        s.client
            .delete(s.url("/v1/sessions/job-42.a_b"))
            .send()
            .unwrap()
            .status(),
        404
    );
}

#[test]
fn invalid_client_ids_are_rejected() {
    let s = Server::start();
    for bad in ["", "../x", "a b", "-x", &"x".repeat(129), "한글"] {
        let r = s.post_json("/v1/sessions", &json!({ "id": bad }));
        assert_eq!(r.status(), 400, "{bad:?}");
        assert_eq!(r.json::<Value>().unwrap()["error"]["code"], "bad_request");
    }
}

#[test]
fn deleting_a_session_kills_its_processes_and_removes_its_workspace() {
    let s = Server::start();
    let sid = s.create_session();
    let ws = std::path::PathBuf::from(s.run_ok(&sid, "import os\nprint(os.getcwd())").trim());
    let uid = if is_root() {
        Some(s.session_uid(&sid))
    } else {
        None
    };
    // Delete while the code runs, with a detached child alive.
    let (client, url) = (
        s.client.clone(),
        s.url(&format!("/v1/sessions/{sid}/executions")),
    );
    let running = std::thread::spawn(move || {
        let code = "import subprocess, time\nsubprocess.Popen(['sleep', '300'], start_new_session=True)\ntime.sleep(300)";
        client
            .post(url)
            .json(&json!({ "code": code }))
            .send()
            .unwrap()
            .status()
    });
    if let Some(uid) = uid {
        assert!(
            eventually(Duration::from_secs(10), || processes_of_uid(uid).len() >= 2),
            "worker and sleep should run"
        );
    } else {
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        s.client
            .delete(s.url(&format!("/v1/sessions/{sid}")))
            .send()
            .unwrap()
            .status(),
        204
    );
    assert!(!ws.exists(), "workspace should be gone");
    if let Some(uid) = uid {
        assert!(
            eventually(Duration::from_secs(5), || processes_of_uid(uid).is_empty()),
            "processes of uid {uid} survived"
        );
    }
    assert_eq!(
        running.join().unwrap(),
        200,
        "the interrupted execution still gets its result"
    );
}

#[test]
fn no_process_outlives_the_execution_that_started_it() {
    // The child is checked from outside by the pid it writes: host pids, no PID namespace.
    let s = Server::start_with(&["--private-pid", "false"], &[]);
    let sid = s.create_session();
    let r = s.exec(&sid, "import subprocess, os\np = subprocess.Popen(['sleep', '300'], start_new_session=True)\nopen('data/pid', 'w').write(str(p.pid))\nprint('started')");
    assert_eq!(r["status"], "ok");
    let pid = s
        .run_ok(&sid, "print(open('data/pid').read())")
        .trim()
        .to_string();
    assert!(
        eventually(Duration::from_secs(3), || {
            let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            st.is_empty() || st.contains("Z (")
        }),
        "the background sleep {pid} survived its execution"
    );
    s.run_ok(&sid, "print('the session goes on')");
}

#[test]
fn idle_sessions_are_reaped() {
    let s = Server::start_with(&["--idle-ttl-s", "1"], &[]);
    let sid = s.create_session();
    let ws = s.run_ok(&sid, "import os\nprint(os.getcwd())");
    assert!(eventually(Duration::from_secs(10), || s
        .get(&format!("/v1/sessions/{sid}"))
        .status()
        == 404));
    assert!(eventually(Duration::from_secs(5), || {
        !std::path::Path::new(ws.trim()).exists()
    }));
}

#[test]
fn max_sessions_is_enforced() {
    let s = Server::start_with(&["--max-sessions", "2"], &[]);
    s.create_session();
    s.create_session();
    let r = s.post_json("/v1/sessions", &json!({}));
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.json::<Value>().unwrap()["error"]["code"],
        "too_many_sessions"
    );
}

#[test]
fn shutdown_stops_sessions_but_keeps_their_files() {
    let mut s = Server::start();
    let sid = s.create_session();
    let ws = s.run_ok(
        &sid,
        "import os\nopen('artifacts/result.txt','w').write('keep me')\nprint(os.getcwd())",
    );
    let uid = if is_root() {
        Some(s.session_uid(&sid))
    } else {
        None
    };
    common::signal(s.pid(), libc::SIGTERM);
    assert!(
        eventually(Duration::from_secs(10), || s.exited()),
        "the server did not exit on SIGTERM"
    );
    assert_eq!(
        std::fs::read_to_string(format!("{}/artifacts/result.txt", ws.trim())).unwrap(),
        "keep me"
    );
    if let Some(uid) = uid {
        assert!(
            processes_of_uid(uid).is_empty(),
            "sandboxed processes outlived the server"
        );
    }
}

/// Voluntary plus involuntary context switches of a process so far.
fn context_switches(pid: i64) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("ctxt_switches:"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

fn parent_of(pid: i32) -> i64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat.rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

/// A session's worker is stopped after each execution and continued before the next. Its
/// parent — the PID namespace's relay, or the zygote where there is no PID namespace — must
/// not be woken by each of those (it was, twice per execution, on the critical path's cores).
#[test]
fn stopping_and_continuing_a_worker_does_not_wake_its_parent() {
    for args in [
        &["--private-pid", "true"][..],
        &["--private-pid", "false"][..],
    ] {
        let s = Server::start_with(args, &[]);
        let sid = s.create_session();
        s.run_ok(&sid, "print(0)");
        let parent = parent_of(s.worker_pid(&sid));
        // the warm pool's refill (the zygote forks) settles first
        std::thread::sleep(Duration::from_millis(500));
        let before = context_switches(parent);
        for _ in 0..40 {
            s.run_ok(&sid, "print(1)");
        }
        let woken = context_switches(parent) - before;
        assert!(
            woken < 10,
            "{args:?}: the worker's parent {parent} was woken {woken} times in 40 executions"
        );
    }
}

/// Private memory (clean + dirty) of a process, in MiB.
fn private_mib(pid: i32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("Private_Clean:") || l.starts_with("Private_Dirty:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .sum::<f64>()
        / 1024.0
}

/// A warm worker draws a throwaway chart before it waits in the pool (its pages a chart needs
/// become its own: ~12 MiB, the first chart's copy-on-write faults paid ahead), and leaves no
/// trace a session can see: no file, no figure, the first `plt.show()` is figure 1 of its
/// execution. `--prewarm-charts false` turns it off.
#[test]
fn warm_workers_prewarm_a_chart_without_a_trace() {
    if !root_or_skip() {
        return;
    }
    for (args, prewarmed) in [(&[][..], true), (&["--prewarm-charts", "false"][..], false)] {
        let s = Server::start_with(args, &[]);
        // the first session may have raced the pool's first worker: take one made after it
        let first = s.create_session();
        std::thread::sleep(Duration::from_millis(1500));
        let sid = s.create_session();
        let mib = private_mib(s.worker_pid(&sid));
        assert_eq!(mib > 10.0, prewarmed, "{args:?}: {mib:.1} MiB private");
        let files = s.get_json(&format!("/v1/sessions/{sid}/files"));
        assert_eq!(files["files"], json!([]), "{args:?}: {files:#}");
        assert_eq!(
            s.run_ok(
                &sid,
                "import matplotlib.pyplot as plt\nprint(plt.get_fignums())"
            )
            .trim(),
            "[]"
        );
        let r = s.exec(&sid, "plt.bar(['가', '나'], [1, 2])\nplt.show()");
        assert_eq!(r["artifacts"], json!(["artifacts/figure-2-1.png"]), "{r:#}");
        s.delete_session(&first);
    }
}

//! The compat API against the contract (shared/reference/deep-insight-executor-contract.md):
//! every endpoint, status code and string the unchanged agent runtime relies on.

mod common;

use common::Server;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn execute(s: &Server, body: Value) -> (u16, Value) {
    let r = s.post_json("/execute", &body);
    (r.status().as_u16(), r.json().unwrap())
}

fn ok(s: &Server, code: &str) -> Value {
    let (status, v) = execute(s, json!({ "code": code }));
    assert_eq!(status, 200, "{v}");
    v
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn health_and_status_shapes() {
    let s = Server::start();
    let h = s.get_json("/health");
    assert_eq!(h["status"], "healthy");
    assert_eq!(h["session_id"], "default");
    assert_eq!(h["executions_completed"], 0);
    assert_eq!(h["max_executions"], 500);
    assert_eq!(h["is_complete"], false);
    let st = s.get_json("/session/status");
    for k in [
        "session_id",
        "executions_completed",
        "max_executions",
        "is_complete",
        "workspace",
        "uptime_seconds",
    ] {
        assert!(st.get(k).is_some(), "{k} missing from {st}");
    }
    // the v1 API works beside the compat one
    let sid = s.create_session();
    s.run_ok(&sid, "print(1)");
}

#[test]
fn execute_returns_the_exact_shape_even_for_failing_code() {
    let s = Server::start();
    let v = ok(&s, "print('hello')");
    let expected: BTreeSet<String> = [
        "session_id",
        "execution_num",
        "status",
        "stdout",
        "stderr",
        "error",
        "execution_time_ms",
        "total_executions",
        "is_session_complete",
        "s3_backup",
    ]
    .iter()
    .map(|k| k.to_string())
    .collect();
    assert_eq!(keys(&v), expected);
    assert_eq!(v["status"], "completed");
    assert_eq!(v["stdout"], "hello\n");
    assert_eq!(v["error"], Value::Null);
    assert_eq!(v["execution_num"], 1);
    assert_eq!(v["total_executions"], 1);
    assert_eq!(v["s3_backup"], "skipped_until_session_end");
    assert_eq!(v["is_session_complete"], false);

    let v = ok(&s, "a = 1\nraise KeyError('k')");
    assert_eq!(keys(&v), expected);
    assert_eq!(v["status"], "failed");
    let e = &v["error"];
    assert_eq!(
        keys(e),
        ["key_info", "line", "message", "traceback", "type"]
            .iter()
            .map(|k| k.to_string())
            .collect()
    );
    assert_eq!(e["type"], "KeyError");
    assert_eq!(e["line"], 2, "line is the user's line");
    assert_eq!(e["key_info"], json!({}));
    assert_eq!(v["execution_num"], 2);

    // Framed as the reference's Flask frames it: a Content-Length, not chunks.
    let r = s.post_json("/execute", &json!({ "code": "print('매출')" }));
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("transfer-encoding").is_none(), "{r:?}");
    let length: usize = r.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = r.bytes().unwrap();
    assert_eq!(body.len(), length);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["stdout"], "매출\n");
}

#[test]
fn fresh_namespace_with_the_reference_globals() {
    let s = Server::start();
    ok(&s, "x = 1\nimport math\nmath.marker = 7");
    let v = ok(&s, "print(x)");
    assert_eq!(v["error"]["type"], "NameError");
    assert_eq!(v["error"]["key_info"], json!({"undefined_variable": "x"}));
    let v = ok(&s, "import math\nprint(math.marker)");
    assert_eq!(v["stdout"], "7\n", "imported modules stay cached: {v}");
    let v = ok(&s, "print(datetime.now().year > 2000, json.dumps([1]), os.getcwd() == workspace, os.path.isdir('./data'), os.path.isdir('./artifacts'))");
    assert_eq!(v["stdout"], "True [1] True True True\n", "{v}");
}

#[test]
fn key_info_rules_from_real_errors() {
    let s = Server::start();
    let cases = [
        (
            "width = 100px",
            "SyntaxError",
            json!({"issue": "Invalid number format (possibly CSS in Python code)"}),
        ),
        (
            "x = 1.5\nprint(f'{x:d}')",
            "ValueError",
            json!({"issue": "f-string format specifier error"}),
        ),
        (
            "print(format('abc', ','))",
            "ValueError",
            json!({"issue": "Invalid format combination"}),
        ),
        (
            "print(undefined_thing)",
            "NameError",
            json!({"undefined_variable": "undefined_thing"}),
        ),
        (
            "import polars_not_installed",
            "ModuleNotFoundError",
            json!({"missing_module": "polars_not_installed"}),
        ),
        ("1/0", "ZeroDivisionError", json!({})),
    ];
    for (code, kind, info) in cases {
        let v = ok(&s, code);
        assert_eq!(v["status"], "failed");
        assert_eq!(v["error"]["type"], kind, "{code}: {v}");
        assert_eq!(v["error"]["key_info"], info, "{code}");
    }
}

#[test]
fn error_message_and_traceback_are_capped() {
    let s = Server::start();
    let v = ok(&s, "raise ValueError('m' * 10000)");
    let msg = v["error"]["message"].as_str().unwrap();
    assert_eq!(msg.chars().count(), 8195);
    assert!(msg.ends_with("m..."));
    let tb = v["error"]["traceback"].as_str().unwrap();
    assert!(tb.chars().count() <= 8195 && tb.ends_with("..."));
}

#[test]
fn output_truncation_is_byte_for_byte_the_references() {
    let s = Server::start();
    // exactly 8192 characters: unchanged
    let v = ok(&s, "import sys\nsys.stdout.write('x' * 8192)");
    assert_eq!(v["stdout"].as_str().unwrap(), "x".repeat(8192));
    // > 8192 characters on ≤ 6 lines: cut at 8192 characters
    let v = ok(&s, "print('가' * 9000)");
    assert_eq!(
        v["stdout"].as_str().unwrap(),
        format!(
            "{}...\n\n[Output truncated: 9001 chars total]",
            "가".repeat(8192)
        )
    );
    // > 8192 characters on > 6 lines: first three, last three
    let v = ok(&s, "for i in range(100):\n    print(f'{i:03d}' + '-' * 96)");
    let line = |i: usize| format!("{i:03}{}", "-".repeat(96));
    let expected = format!(
        "{}\n{}\n{}\n\n... (94 lines omitted) ...\n\n{}\n{}\n{}\n\n[Output truncated: 10000 chars, 100 lines total]",
        line(0), line(1), line(2), line(97), line(98), line(99)
    );
    assert_eq!(v["stdout"].as_str().unwrap(), expected);
    // stderr is truncated on its own
    let v = ok(
        &s,
        "import sys\nfor i in range(10):\n    print('e' * 1000, file=sys.stderr)",
    );
    assert!(v["stderr"]
        .as_str()
        .unwrap()
        .contains("... (4 lines omitted) ..."));
    assert_eq!(v["stdout"], "");
}

#[test]
fn bash_prefix_runs_a_shell() {
    let s = Server::start();
    let v = ok(&s, "  BASH: ls -d data artifacts  ");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["stdout"], "artifacts\ndata\n");
    let v = ok(&s, "BASH: echo partial; exit 3");
    assert_eq!(v["status"], "failed");
    assert_eq!(v["stdout"], "partial\n");
    assert_eq!(
        v["error"],
        json!({"type": "BashError", "message": "Command failed with return code 3", "return_code": 3})
    );
    // `bash:` (lower case) is Python, as in the reference
    let v = ok(&s, "bash: ls");
    assert_eq!(v["error"]["type"], "NameError");
}

#[test]
fn bash_timeout_kills_the_whole_tree() {
    let s = Server::start_with(&["--bash-timeout-s", "1"], &[]);
    let t0 = Instant::now();
    let v = ok(
        &s,
        "BASH: (sleep 2; echo late > artifacts/late.txt) & sleep 30",
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(v["status"], "failed");
    assert_eq!(
        v["error"],
        json!({"type": "TimeoutError", "message": "Command timed out after 1 seconds"})
    );
    std::thread::sleep(Duration::from_millis(2500));
    let v = ok(&s, "import os\nprint(os.path.exists('artifacts/late.txt'))");
    assert_eq!(
        v["stdout"], "False\n",
        "the background child outlived the timeout"
    );
}

#[test]
fn python_timeout_is_a_timeout_error() {
    let s = Server::start_with(&["--compat-python-timeout-s", "1"], &[]);
    let v = ok(&s, "import time\ntime.sleep(30)");
    assert_eq!(v["status"], "failed");
    assert_eq!(v["error"]["type"], "TimeoutError");
    assert_eq!(v["error"]["message"], "Execution timed out after 1 seconds");
    assert_eq!(v["error"]["line"], 2);
    assert_eq!(ok(&s, "print('next')")["stdout"], "next\n");
}

#[test]
fn request_errors_in_the_contracts_order() {
    let s = Server::start_with(&[], &[("SESSION_ID", "job-7")]);
    let (st, v) = execute(&s, json!({}));
    assert_eq!((st, v), (400, json!({"error": "No code provided"})));
    let (st, v) = execute(&s, json!({"code": ""}));
    assert_eq!((st, v), (400, json!({"error": "No code provided"})));
    let r = s
        .client
        .post(s.url("/execute"))
        .body("not json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.json::<Value>().unwrap()["error"].is_string());
    let (st, v) = execute(
        &s,
        json!({"code": "print(1)", "session_id": "someone-else"}),
    );
    assert_eq!(
        (st, v),
        (
            403,
            json!({"error": "Session ID mismatch - request routed to wrong container"})
        )
    );
    let (st, v) = execute(&s, json!({"code": "print(1)", "session_id": "job-7"}));
    assert_eq!(st, 200);
    assert_eq!(v["session_id"], "job-7");
    let (st, _) = execute(&s, json!({"code": "print(1)", "session_id": ""}));
    assert_eq!(st, 200, "an empty session_id is not a mismatch");
}

#[test]
fn max_executions_completes_the_session() {
    let s = Server::start_with(&["--max-executions", "2"], &[]);
    assert_eq!(ok(&s, "print(1)")["is_session_complete"], false);
    let v = ok(&s, "print(2)");
    assert_eq!(v["is_session_complete"], true);
    assert_eq!(v["execution_num"], 2);
    let (st, v) = execute(&s, json!({"code": "print(3)"}));
    assert_eq!(
        (st, v),
        (
            400,
            json!({"error": "Session is already complete", "session_id": "default"})
        )
    );
    // complete is checked before anything else, even a malformed body
    let r = s.client.post(s.url("/execute")).body("{{{").send().unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().unwrap()["error"],
        "Session is already complete"
    );
    let h = s.get("/health");
    assert_eq!(h.status(), 503);
    assert_eq!(
        h.json::<Value>().unwrap(),
        json!({"status": "complete", "session_id": "default", "executions_completed": 2})
    );
}

#[test]
fn completion_checks_the_session_then_fails_keeping_everything_until_the_store_works() {
    let s = Server::start();
    ok(&s, "print(1)");
    let r = s.post_json("/session/complete", &json!({"session_id": "other"}));
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().unwrap(),
        json!({"error": "Session ID mismatch - completion request routed to wrong container"})
    );
    // The embedded local store, broken: its bucket directory is a file.
    let bucket = s.store.join("local");
    std::fs::create_dir_all(&s.store).unwrap();
    std::fs::write(&bucket, b"not a directory").unwrap();
    for body in [
        None,
        Some(json!({})),
        Some(json!({"session_id": "default"})),
    ] {
        let req = s.client.post(s.url("/session/complete"));
        let r = match body {
            Some(b) => req.json(&b).send().unwrap(),
            None => req.send().unwrap(),
        };
        assert_eq!(r.status(), 500);
        assert_eq!(
            r.json::<Value>().unwrap(),
            json!({"message": "Session completion failed - S3 upload did not finish", "session_id": "default", "total_executions": 1, "upload_completed": false})
        );
    }
    assert_eq!(s.get("/health").status(), 200);
    assert_eq!(ok(&s, "print('still usable')")["status"], "completed");
    // the store works again: the retry stores it all
    std::fs::remove_file(&bucket).unwrap();
    let r = s.post_json("/session/complete", &json!({}));
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().unwrap(),
        json!({"message": "Session completed", "session_id": "default", "total_executions": 2, "upload_completed": true})
    );
    assert!(bucket
        .join("deep-insight/fargate_sessions/default/debug/execution_2.json")
        .is_file());
}

#[test]
fn file_sync_validates_everything_and_writes_nothing_outside() {
    let s = Server::start();
    let post = |b: Value| {
        let r = s.post_json("/file-sync", &b);
        (r.status().as_u16(), r.json::<Value>().unwrap())
    };
    assert_eq!(
        post(json!({})),
        (400, json!({"error": "No action specified"}))
    );
    assert_eq!(
        post(json!({"action": "sync_data_from_s3", "bucket_name": "b"})),
        (400, json!({"error": "Missing required parameters"}))
    );
    let full = |action: &str, local: &str| json!({"action": action, "bucket_name": "my-bucket", "s3_key_prefix": "p/", "local_path": local});
    assert_eq!(
        post(full("explode", "/app/data/")),
        (400, json!({"error": "Unknown action: explode"}))
    );
    for bad in [
        "/etc/",
        "../../x",
        "/app/data/../../etc",
        "/app/../etc",
        "/root/x",
    ] {
        for action in ["sync_data_from_s3", "sync_artifacts_to_s3"] {
            let (st, v) = post(full(action, bad));
            assert_eq!(st, 400, "{bad}: {v}");
        }
    }
    assert!(!std::path::Path::new("/x").exists());
    // good paths work, against the embedded local store
    let (st, v) = post(full("sync_data_from_s3", "/app/data/"));
    assert_eq!(
        (st, v["message"].as_str()),
        (200, Some("No files to download"))
    );
    ok(&s, "open('./artifacts/r.txt', 'w').write('x')");
    let (st, v) = post(full("sync_artifacts_to_s3", "./artifacts"));
    assert_eq!((st, v["uploaded_files"].clone()), (200, json!(["p/r.txt"])));
    assert!(s.store.join("my-bucket/p/r.txt").is_file());
    let (st, v) = post(full("sync_data_from_s3", "/app/in/"));
    assert_eq!(
        (st, v["downloaded_files"].clone()),
        (200, json!(["/app/in/r.txt"]))
    );
    // a bucket name S3 would refuse is the client's mistake
    let (st, v) = post(
        json!({"action": "sync_data_from_s3", "bucket_name": "B", "s3_key_prefix": "p/", "local_path": "/app/data/"}),
    );
    assert_eq!(st, 400, "{v}");
}

#[test]
fn container_info_uses_the_ecs_task_metadata() {
    // A stand-in for the ECS agent's metadata endpoint, on loopback.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let meta_url = format!("http://{}/v4/container", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming().take(5) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let body = r#"{"DockerId":"x","Networks":[{"NetworkMode":"awsvpc","IPv4Addresses":["10.20.30.40"]}]}"#;
            let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    let s = Server::start_with(
        &[],
        &[
            ("SESSION_ID", "job-9"),
            ("ECS_CONTAINER_METADATA_URI_V4", &meta_url),
        ],
    );
    let v = s.get_json("/container-info?session_id=job-9");
    assert_eq!(v["private_ip"], "10.20.30.40");
    assert_eq!(v["session_id"], "job-9");
    assert!(v["known_sessions"]
        .as_array()
        .unwrap()
        .contains(&json!("job-9")));
    assert!(v["hostname"].is_string() && v["executions_completed"] == 0);
    assert!(
        s.get("/container-info")
            .headers()
            .get("set-cookie")
            .is_none(),
        "the ALB sets AWSALB, never us"
    );
    // the metadata URI is an ECS_* variable: it must not reach sandboxed code
    assert_eq!(
        ok(
            &s,
            "import os\nprint('ECS_CONTAINER_METADATA_URI_V4' in os.environ)"
        )["stdout"],
        "False\n"
    );
}

#[test]
fn private_ip_can_be_configured() {
    let s = Server::start_with(&["--private-ip", "10.1.2.3"], &[]);
    assert_eq!(s.get_json("/container-info")["private_ip"], "10.1.2.3");
}

#[test]
fn hard_cap_ends_a_single_session_task() {
    let mut s = Server::start_with(&["--hard-cap-s", "2"], &[("SESSION_ID", "job-cap")]);
    assert!(
        common::eventually(Duration::from_secs(15), || s.exited()),
        "the task outlived its hard cap"
    );
}

#[test]
fn korean_code_output_and_file_names_round_trip() {
    let s = Server::start();
    let v = ok(&s, "import os\nname = '신선식품 분석'\nopen('./artifacts/결과.txt', 'w', encoding='utf-8').write(name)\nprint(name, sorted(os.listdir('./artifacts')))");
    assert_eq!(v["stdout"], "신선식품 분석 ['결과.txt']\n");
    let got = s
        .get("/v1/sessions/default/artifacts/%EA%B2%B0%EA%B3%BC.txt")
        .text()
        .unwrap();
    assert_eq!(got, "신선식품 분석");
}

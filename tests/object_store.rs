//! The object store end to end: the embedded local store, a real S3-compatible server (moto)
//! on loopback for /file-sync and /session/complete, the store going down and coming back,
//! the ECS container-credentials path, and the v1 export, import and artifacts.zip.

mod common;

use common::s3::{BUCKET, S3};
use common::Server;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use unicode_normalization::UnicodeNormalization;

const PREFIX: &str = "deep-insight/fargate_sessions";

fn start_s3(s3: &S3, session: &str, extra: &[(&str, &str)]) -> Server {
    start_s3_with(s3, session, &[], extra)
}

/// A server on `s3` for the compat session `session`, with extra flags and environment.
fn start_s3_with(s3: &S3, session: &str, args: &[&str], extra: &[(&str, &str)]) -> Server {
    let env = s3.env();
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.push(("SESSION_ID", session));
    all.extend_from_slice(extra);
    Server::start_with(args, &all)
}

fn execute(s: &Server, code: &str) -> Value {
    let r = s.post_json("/execute", &json!({ "code": code }));
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["status"], "completed", "{v}");
    v
}

/// A job's worth of files: a data file, a chart, the metadata JSON, a text result.
const JOB: &str = r#"
import os, json, matplotlib.pyplot as plt
os.makedirs('./artifacts/charts', exist_ok=True)
fig, ax = plt.subplots(); ax.bar(['가', '나'], [1, 2]); fig.savefig('./artifacts/charts/매출.png')
json.dump({"calculations": [{"id": "c1", "value": 3}]}, open('./artifacts/calculation_metadata.json', 'w'))
open('./artifacts/all_results.txt', 'w').write('합계 3\n')
open('./data/extra.csv', 'w').write('a,b\n1,2\n')
print('ok')
"#;

#[test]
fn completion_writes_the_layout_to_the_local_store_by_default() {
    let s = Server::start();
    execute(&s, "import os\nos.makedirs('./data', exist_ok=True)");
    execute(&s, JOB);
    let r = s.post_json("/session/complete", &json!({}));
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().unwrap(),
        json!({"message": "Session completed", "session_id": "default", "total_executions": 2, "upload_completed": true})
    );
    let base = s.store.join("local").join(PREFIX).join("default");
    for f in [
        "debug/session_status.json",
        "debug/execution_1.json",
        "debug/execution_2.json",
        "artifacts/charts/매출.png",
        "artifacts/calculation_metadata.json",
        "artifacts/all_results.txt",
        "data/extra.csv",
    ] {
        assert!(
            base.join(f).is_file(),
            "{f} missing under {}",
            base.display()
        );
    }
    let status: Value =
        serde_json::from_slice(&std::fs::read(base.join("debug/session_status.json")).unwrap())
            .unwrap();
    assert_eq!(status["total_executions"], 2);
    assert_eq!(status["executions"].as_array().unwrap().len(), 2);
    let rec: Value =
        serde_json::from_slice(&std::fs::read(base.join("debug/execution_2.json")).unwrap())
            .unwrap();
    assert_eq!(rec["execution_num"], 2);
    assert_eq!(rec["stdout"], "ok\n");
    // idempotent after success
    let r = s.post_json("/session/complete", &json!({"session_id": "default"}));
    assert_eq!(r.status(), 200);
    assert_eq!(s.get("/health").status(), 503);
}

#[test]
fn file_sync_downloads_every_page_with_nfc_names_and_uploads_back() {
    let s3 = S3::start();
    let s = start_s3(&s3, "job-sync", &[]);
    let input = format!("{PREFIX}/job-sync/input");
    // > 1,000 objects: the reference stopped at the first page.
    let many: Vec<(String, Vec<u8>)> = (0..1005)
        .map(|i| {
            (
                format!("{input}/many/f{i:04}.txt"),
                format!("{i}").into_bytes(),
            )
        })
        .collect();
    s3.put_many(&many);
    let nfd: String = "신선식품.csv".nfd().collect();
    assert_ne!(nfd, "신선식품.csv");
    s3.put(
        &format!("{input}/{nfd}"),
        "날짜,금액\n2024-01-01,100\n".into(),
    );
    s3.put(&format!("{input}/"), vec![]); // a "directory" marker
    let body = json!({"action": "sync_data_from_s3", "bucket_name": BUCKET, "s3_key_prefix": format!("{input}/"), "local_path": "/app/data/"});
    let r = s.post_json("/file-sync", &body);
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["status"], "success");
    assert_eq!(v["files_count"], 1006, "{}", v["message"]);
    assert_eq!(v["message"], "Downloaded 1006 files from S3");
    let files: Vec<&str> = common::strs(&v["downloaded_files"]);
    assert!(files.contains(&"/app/data/신선식품.csv"), "NFC name");
    assert!(files.contains(&"/app/data/many/f1004.txt"));
    // the code sees the file under its NFC name
    let out = execute(
        &s,
        "import pandas as pd\nprint(int(pd.read_csv('./data/신선식품.csv')['금액'].sum()))",
    );
    assert_eq!(out["stdout"], "100\n");
    // idempotent: the same call again gives the same answer
    let again: Value = s.post_json("/file-sync", &body).json().unwrap();
    assert_eq!(again["files_count"], 1006);
    // nothing under a prefix
    let none: Value = s
        .post_json("/file-sync", &json!({"action": "sync_data_from_s3", "bucket_name": BUCKET, "s3_key_prefix": "nothing/here/", "local_path": "/app/data/"}))
        .json()
        .unwrap();
    assert_eq!(
        none,
        json!({"status": "success", "message": "No files to download", "files_count": 0, "downloaded_files": []})
    );
    // upload: every file under the local path, to prefix/relpath
    execute(&s, "import os\nos.makedirs('./artifacts/sub', exist_ok=True)\nopen('./artifacts/sub/r.txt','w').write('x')\nopen('./artifacts/a.json','w').write('{}')");
    let out = format!("{PREFIX}/job-sync/output");
    let v: Value = s
        .post_json("/file-sync", &json!({"action": "sync_artifacts_to_s3", "bucket_name": BUCKET, "s3_key_prefix": out, "local_path": "/app/artifacts"}))
        .json()
        .unwrap();
    assert_eq!(v["message"], "Uploaded 2 files to S3");
    let mut keys = common::strs(&v["uploaded_files"]);
    keys.sort();
    assert_eq!(
        keys,
        vec![format!("{out}/a.json"), format!("{out}/sub/r.txt")]
    );
    assert_eq!(
        s3.get(&format!("{out}/a.json")).content_type,
        "application/json"
    );
    let v: Value = s
        .post_json("/file-sync", &json!({"action": "sync_artifacts_to_s3", "bucket_name": BUCKET, "s3_key_prefix": out, "local_path": "/app/nope"}))
        .json()
        .unwrap();
    assert_eq!(
        v,
        json!({"status": "success", "message": "Local path does not exist", "files_count": 0, "uploaded_files": []})
    );
}

#[test]
fn file_sync_refuses_what_it_must_not_touch() {
    let s3 = S3::start();
    let s = start_s3(&s3, "job-bad", &[]);
    let sync = |bucket: &str, prefix: &str, local: &str| {
        let r = s.post_json("/file-sync", &json!({"action": "sync_data_from_s3", "bucket_name": bucket, "s3_key_prefix": prefix, "local_path": local}));
        (r.status().as_u16(), r.json::<Value>().unwrap())
    };
    let (st, v) = sync(BUCKET, "in/", "/etc/");
    assert_eq!(st, 400, "{v}");
    let (st, v) = sync(BUCKET, "in/", "/app/../etc");
    assert_eq!(st, 400, "{v}");
    let (st, v) = sync("someone-elses-bucket", "in/", "/app/data/");
    assert_eq!(st, 403, "{v}");
    assert!(v["error"]
        .as_str()
        .unwrap()
        .contains("not this executor's bucket"));
    let (st, v) = sync(BUCKET, "a/../b", "/app/data/");
    assert_eq!(st, 400, "{v}");
    // an object whose name would climb out of the directory: refused, nothing written
    s3.put("in2/ok.txt", b"fine".to_vec());
    s3.put("in2/../escape.txt", b"no".to_vec());
    let (st, v) = sync(BUCKET, "in2/", "/app/data/");
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("in2/../escape.txt"),
        "{v}"
    );
    let found = std::process::Command::new("find")
        .args([s.root.to_str().unwrap(), "-name", "escape.txt"])
        .output()
        .unwrap();
    assert!(found.stdout.is_empty());
    let (st, v) = sync(BUCKET, "in/", "");
    assert_eq!(
        (st, v),
        (400, json!({"error": "Missing required parameters"}))
    );
}

#[test]
fn completion_writes_the_contracts_layout_and_content_types_to_s3() {
    let s3 = S3::start();
    let s = start_s3(&s3, "job-layout", &[]);
    execute(&s, JOB);
    execute(&s, "BASH: echo hi");
    let t0 = Instant::now();
    let r = s.post_json("/session/complete", &json!({"session_id": "job-layout"}));
    assert_eq!(r.status(), 200, "{:?}", r.text());
    eprintln!("completion took {:?}", t0.elapsed());
    let base = format!("{PREFIX}/job-layout");
    let keys = s3.keys(&format!("{base}/"));
    let want: Vec<String> = [
        "artifacts/all_results.txt",
        "artifacts/calculation_metadata.json",
        "artifacts/charts/매출.png",
        "data/extra.csv",
        "debug/execution_1.json",
        "debug/execution_2.json",
        "debug/session_status.json",
    ]
    .iter()
    .map(|k| format!("{base}/{k}"))
    .collect();
    assert_eq!(keys, want);
    for (k, t) in [
        ("artifacts/all_results.txt", "text/plain"),
        ("artifacts/calculation_metadata.json", "application/json"),
        ("artifacts/charts/매출.png", "image/png"),
        ("data/extra.csv", "text/csv"),
        ("debug/execution_1.json", "application/json"),
    ] {
        let o = s3.get(&format!("{base}/{k}"));
        assert_eq!((o.status, o.content_type.as_str()), (200, t), "{k}");
    }
    let png = s3.get(&format!("{base}/artifacts/charts/매출.png"));
    assert_eq!(&png.body[..4], b"\x89PNG");
    let status: Value =
        serde_json::from_slice(&s3.get(&format!("{base}/debug/session_status.json")).body).unwrap();
    assert_eq!(status["session_id"], "job-layout");
    assert_eq!(status["total_executions"], 2);
    assert_eq!(status["executions"][1]["code_type"], "bash");
    // credentials stay in the server
    let r = s.post_json("/session/complete", &json!({}));
    assert_eq!(r.status(), 200);
}

#[test]
fn a_store_that_is_down_gets_the_contracts_500_in_time_and_a_retry_succeeds() {
    let mut s3 = S3::start();
    let s = start_s3(&s3, "job-down", &[]);
    execute(&s, JOB);
    s3.stop();
    let t0 = Instant::now();
    let r = s.post_json("/session/complete", &json!({}));
    let took = t0.elapsed();
    assert_eq!(r.status(), 500);
    assert_eq!(
        r.json::<Value>().unwrap(),
        json!({"message": "Session completion failed - S3 upload did not finish", "session_id": "job-down", "total_executions": 1, "upload_completed": false})
    );
    assert!(
        took < Duration::from_secs(10),
        "the client waits 10 s; took {took:?}"
    );
    // nothing lost, the session still usable and not complete
    assert_eq!(s.get("/health").status(), 200);
    let v = execute(&s, "print(open('./artifacts/all_results.txt').read())");
    assert_eq!(v["stdout"], "합계 3\n\n");
    s3.restart();
    let r = s.post_json("/session/complete", &json!({}));
    assert_eq!(r.status(), 200, "{}", s.log_text());
    let keys = s3.keys(&format!("{PREFIX}/job-down/"));
    assert_eq!(keys.len(), 7, "{keys:?}"); // 4 files, 2 records, the status
}

#[test]
fn sigterm_drains_running_work_and_stores_every_artifact_before_exit() {
    let s3 = S3::start();
    // the drain's defaults (the harness shortens them)
    let s = start_s3_with(
        &s3,
        "job-term",
        &["--drain-grace-s", "10", "--drain-timeout-s", "25"],
        &[],
    );
    execute(&s, JOB);
    // a step still running when SIGTERM arrives: it gets its grace and its file is stored
    let url = s.url("/execute");
    let slow = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .post(url)
            .json(&json!({"code": "import time\ntime.sleep(1.5)\nopen('./artifacts/late.txt','w').write('late')\nprint('done')"}))
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(400));
    common::signal(s.pid(), libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(100));
    let h = s.get("/health");
    assert_eq!(h.status(), 503);
    assert_eq!(h.json::<Value>().unwrap()["status"], "draining");
    let r = s.post_json("/execute", &json!({"code": "print(1)"}));
    assert_eq!(r.status(), 503);
    let v = slow.join().unwrap();
    assert_eq!(v["stdout"], "done\n", "{v}");
    let mut s = s;
    assert_eq!(
        s.wait_exit(Duration::from_secs(30)),
        Some(0),
        "{}",
        s.log_text()
    );
    let keys = s3.keys(&format!("{PREFIX}/job-term/"));
    for k in [
        "artifacts/late.txt",
        "artifacts/charts/매출.png",
        "debug/execution_2.json",
        "debug/session_status.json",
    ] {
        assert!(
            keys.contains(&format!("{PREFIX}/job-term/{k}")),
            "{k} not in {keys:?}"
        );
    }
}

#[test]
fn sigterm_with_the_store_down_exits_non_zero_and_names_what_stayed() {
    let mut s3 = S3::start();
    let mut s = start_s3(&s3, "job-lost", &[]);
    execute(&s, JOB);
    s3.stop();
    common::signal(s.pid(), libc::SIGTERM);
    assert_eq!(s.wait_exit(Duration::from_secs(30)), Some(1));
    // (the log reaches its file through the harness's reader thread: wait for it)
    common::eventually(Duration::from_secs(10), || {
        s.log_text().contains("drain incomplete")
    });
    let log = s.log_text();
    assert!(log.contains("drain incomplete"), "{log}");
    assert!(log.contains("artifacts/charts/매출.png"), "{log}");
    assert!(s.root.exists());
}

#[test]
fn the_ecs_task_role_credentials_are_fetched_by_the_server_only() {
    // A stand-in for the ECS agent's credentials endpoint, on loopback.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming().take(20) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).to_string());
            let body = r#"{"AccessKeyId":"ASIATASKROLE","SecretAccessKey":"task-secret","Token":"task-token","Expiration":"2099-01-01T00:00:00Z"}"#;
            let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    let s3 = S3::start();
    let env: Vec<(&str, String)> = s3
        .env()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET"))
        .chain([
            // Fargate's form: a path relative to the ECS agent (here on loopback).
            (
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "/v2/credentials/task".into(),
            ),
            ("EXECUTOR_ECS_CREDENTIALS_ENDPOINT", base.clone()),
            ("SESSION_ID", "job-role".into()),
        ])
        .collect();
    let s = Server::start_with(
        &[],
        &env.iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    );
    let v = execute(
        &s,
        "import os\nprint(sorted(k for k in os.environ if k.startswith(('AWS_', 'ECS_'))))",
    );
    assert_eq!(
        v["stdout"], "[]\n",
        "sandboxed code sees no credentials variable"
    );
    execute(&s, JOB);
    let r = s.post_json("/session/complete", &json!({}));
    assert_eq!(r.status(), 200, "{}", s.log_text());
    let req = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the credentials endpoint was asked");
    assert!(req.starts_with("GET /v2/credentials/task"), "{req}");
    assert!(s3.keys(&format!("{PREFIX}/job-role/")).len() >= 5);
    drop(s);
    // The full-URI form with its authorization token (EKS, and ECS on Outposts/Anywhere).
    let env: Vec<(&str, String)> = env
        .into_iter()
        .filter(|(k, _)| !k.starts_with("AWS_CONTAINER") && !k.starts_with("EXECUTOR_ECS"))
        .chain([
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", format!("{base}/full")),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "agent-token".into()),
        ])
        .collect();
    let s = Server::start_with(
        &[],
        &env.iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    );
    execute(&s, JOB);
    assert_eq!(s.post_json("/session/complete", &json!({})).status(), 200);
    let req = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the full URI was asked");
    assert!(req.starts_with("GET /full"), "{req}");
    assert!(
        req.to_ascii_lowercase()
            .contains("authorization: agent-token"),
        "{req}"
    );
}

#[test]
fn v1_export_import_and_artifacts_zip() {
    let s = Server::start();
    let a = s.create_session();
    s.run_ok(&a, "import os\nos.makedirs('artifacts/d', exist_ok=True)\nopen('artifacts/d/x.txt','w').write('x'*1000)\nopen('artifacts/c.csv','w').write('가,나\\n1,2\\n')\nopen('notes.md','w').write('# n')");
    let r = s.post_json(&format!("/v1/sessions/{a}/export"), &json!({}));
    assert_eq!(r.status(), 200);
    let m: Value = r.json().unwrap();
    assert_eq!(m["bucket"], "local");
    assert_eq!(m["prefix"], format!("dynamic-executor/sessions/{a}"));
    let objs = m["objects"].as_array().unwrap();
    let paths: Vec<&str> = objs.iter().map(|o| o["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        vec!["artifacts/c.csv", "artifacts/d/x.txt", "notes.md"]
    );
    let x = objs
        .iter()
        .find(|o| o["path"] == "artifacts/d/x.txt")
        .unwrap();
    assert_eq!(x["size"], 1000);
    assert_eq!(
        x["key"],
        format!("dynamic-executor/sessions/{a}/artifacts/d/x.txt")
    );
    assert_eq!(x["sha256"].as_str().unwrap().len(), 64);
    assert!(s
        .store
        .join("local")
        .join(x["key"].as_str().unwrap())
        .is_file());
    // some paths only, under a prefix of the client's
    let m: Value = s
        .post_json(
            &format!("/v1/sessions/{a}/export"),
            &json!({"prefix": "mine/run1", "paths": ["artifacts/d"]}),
        )
        .json()
        .unwrap();
    assert_eq!(m["objects"].as_array().unwrap().len(), 1);
    let r = s.post_json(
        &format!("/v1/sessions/{a}/export"),
        &json!({"paths": ["nope.txt"]}),
    );
    assert_eq!(r.status(), 404);
    let r = s.post_json(
        &format!("/v1/sessions/{a}/export"),
        &json!({"paths": ["../x"]}),
    );
    assert_eq!(r.status(), 400);
    // import into another session
    let b = s.create_session();
    let r = s.post_json(
        &format!("/v1/sessions/{b}/import"),
        &json!({"prefix": format!("dynamic-executor/sessions/{a}"), "to": "from_a"}),
    );
    assert_eq!(r.status(), 200);
    let m: Value = r.json().unwrap();
    assert_eq!(m["objects"].as_array().unwrap().len(), 3);
    assert_eq!(
        s.run_ok(
            &b,
            "print(open('from_a/artifacts/c.csv').read().split()[0])"
        ),
        "가,나\n"
    );
    let r = s.post_json(
        &format!("/v1/sessions/{b}/import"),
        &json!({"prefix": "x", "to": "../.."}),
    );
    assert_eq!(r.status(), 400);
    let r = s.post_json(&format!("/v1/sessions/{b}/import"), &json!({"prefx": "x"}));
    assert_eq!(r.status(), 400);
    // every artifact as one zip
    let r = s.get(&format!("/v1/sessions/{a}/artifacts.zip"));
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    let bytes = r.bytes().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("a.zip");
    std::fs::write(&zip, &bytes).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nfor i in z.infolist(): print(i.filename, i.file_size, len(z.read(i)))"])
        .arg(&zip)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "c.csv 12 12\nd/x.txt 1000 1000\n"
    );
    assert_eq!(s.get("/v1/sessions/nope/artifacts.zip").status(), 404);
}

#[test]
fn a_client_that_gives_up_does_not_stop_the_upload_and_its_retry_attaches_to_it() {
    let s3 = S3::start();
    let s = start_s3(&s3, "job-retry", &[]);
    execute(&s, "import os\nos.makedirs('./data', exist_ok=True)\nfor i in range(300):\n    open(f'./data/part_{i:03}.csv', 'w').write('a,b\\n1,2\\n' * 50)");
    // The unchanged client waits 10 s; this one gives up after 50 ms.
    let impatient = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    assert!(impatient
        .post(s.url("/session/complete"))
        .json(&json!({}))
        .send()
        .is_err());
    let r = s.post_json("/session/complete", &json!({}));
    assert_eq!(r.status(), 200);
    let keys = s3.keys(&format!("{PREFIX}/job-retry/"));
    assert_eq!(keys.len(), 302, "300 files, 1 record, the status");
    common::eventually(Duration::from_secs(10), || {
        s.log_text().contains("compat session uploaded")
    });
    // a second upload would have logged by now (it would have run before the 200)
    std::thread::sleep(Duration::from_millis(300));
    let log = s.log_text();
    assert_eq!(
        log.matches("compat session uploaded").count(),
        1,
        "one upload, not two: {log}"
    );
}

#[test]
fn sigterm_exports_v1_sessions_when_a_drain_prefix_is_set() {
    let mut s = Server::start_with(&["--drain-export-prefix", "drained"], &[]);
    let info = s.get_json("/v1/info");
    assert_eq!(info["object_store"]["kind"], "local");
    assert_eq!(info["draining"], false);
    let a = s.create_session();
    s.run_ok(
        &a,
        "open('artifacts/r.txt','w').write('kept')\nopen('notes.txt','w').write('n')",
    );
    common::signal(s.pid(), libc::SIGTERM);
    assert_eq!(
        s.wait_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        s.log_text()
    );
    let base = s.store.join("local/drained").join(&a);
    assert_eq!(
        std::fs::read(base.join("artifacts/r.txt")).unwrap(),
        b"kept"
    );
    assert!(base.join("notes.txt").is_file());
}

//! Every client mistake gets a clear 4xx JSON error and loses nothing.

mod common;

use common::Server;
use serde_json::{json, Value};

fn assert_error(resp: reqwest::blocking::Response, status: u16, code: &str) {
    assert_eq!(resp.status(), status);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let v: Value = resp.json().unwrap();
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(!v["error"]["message"].as_str().unwrap().is_empty());
}

#[test]
fn unknown_session_is_404_session_not_found() {
    let s = Server::start();
    assert_error(s.get("/v1/sessions/nope"), 404, "session_not_found");
    assert_error(
        s.post_json("/v1/sessions/nope/executions", &json!({"code": "1"})),
        404,
        "session_not_found",
    );
    assert_error(s.get("/v1/sessions/nope/files"), 404, "session_not_found");
    assert_error(
        s.get("/v1/sessions/nope/artifacts"),
        404,
        "session_not_found",
    );
    assert_error(
        s.put_file("nope", "data/x", b"x".to_vec()),
        404,
        "session_not_found",
    );
}

#[test]
fn malformed_bodies_are_400() {
    let s = Server::start();
    let sid = s.create_session();
    let url = s.url(&format!("/v1/sessions/{sid}/executions"));
    let send = |body: &'static str| {
        s.client
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap()
    };
    assert_error(send("{not json"), 400, "invalid_json");
    assert_error(send("{}"), 400, "bad_request");
    assert_error(send("{\"code\": 5}"), 400, "bad_request");
    assert_error(
        send("{\"code\": \"1\", \"language\": \"cobol\"}"),
        400,
        "bad_request",
    );
    assert_error(
        send("{\"code\": \"1\", \"timeout_s\": -1}"),
        400,
        "bad_request",
    );
    assert_error(
        send("{\"code\": \"1\", \"timeout_s\": 999999}"),
        400,
        "bad_request",
    );
    assert_error(
        send("{\"code\": \"1\", \"surprise\": true}"),
        400,
        "bad_request",
    );
    assert_error(
        s.client
            .post(s.url("/v1/sessions"))
            .body("[")
            .send()
            .unwrap(),
        400,
        "invalid_json",
    );
    // the session is unharmed
    s.run_ok(&sid, "print('ok')");
}

#[test]
fn oversized_bodies_are_413() {
    let s = Server::start_with(&["--max-upload-mb", "1"], &[]);
    let sid = s.create_session();
    assert_error(
        s.put_file(&sid, "data/big.bin", vec![b'x'; 2 << 20]),
        413,
        "payload_too_large",
    );
    let code = "x".repeat(2 << 20);
    assert_error(
        s.post_json(
            &format!("/v1/sessions/{sid}/executions"),
            &json!({ "code": code }),
        ),
        413,
        "payload_too_large",
    );
    assert_eq!(
        s.put_file(&sid, "data/ok.bin", vec![b'x'; 1000]).status(),
        201
    );
    let files = s.get_json(&format!("/v1/sessions/{sid}/files"));
    let paths: Vec<&str> = files["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert_eq!(paths, vec!["data/ok.bin"]);
}

#[test]
fn bad_paths_are_rejected_and_nothing_is_written_outside() {
    let s = Server::start();
    let sid = s.create_session();
    let before: Vec<_> = std::fs::read_dir(s.root.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    for (path, code) in [
        ("..%2F..%2Fescape.txt", "invalid_path"),
        ("data/..%2F..%2Fescape.txt", "invalid_path"),
        ("%2Fetc%2Fpasswd", "invalid_path"),
        ("data/a%00b", "invalid_path"),
        ("data/%FF%FE", "invalid_path"),
        ("data/a%5Cb", "invalid_path"),
    ] {
        assert_error(s.put_file(&sid, path, b"x".to_vec()), 400, code);
        assert_error(
            s.get(&format!("/v1/sessions/{sid}/files/{path}")),
            400,
            code,
        );
    }
    let long = "a/".repeat(600);
    assert_error(s.put_file(&sid, &long, b"x".to_vec()), 400, "invalid_path");
    let after: Vec<_> = std::fs::read_dir(s.root.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        before, after,
        "something was written beside the workspace root"
    );
    assert!(!std::path::Path::new("/etc/passwd.x").exists());
    assert!(!std::path::Path::new("/escape.txt").exists());
}

#[test]
fn symlinks_planted_by_code_are_never_followed() {
    let s = Server::start();
    let a = s.create_session();
    let b = s.create_session();
    let ws_b = s.run_ok(
        &b,
        "import os\nopen('artifacts/private.txt','w').write('b-secret')\nprint(os.getcwd())",
    );
    let ws_b = ws_b.trim();
    s.run_ok(&a, &format!("import os\nos.symlink('/etc/shadow', 'artifacts/shadow')\nos.symlink('{ws_b}/artifacts/private.txt', 'artifacts/other')\nos.symlink('/etc', 'data/etc')"));
    assert_error(
        s.get(&format!("/v1/sessions/{a}/artifacts/shadow")),
        403,
        "path_forbidden",
    );
    assert_error(
        s.get(&format!("/v1/sessions/{a}/artifacts/other")),
        403,
        "path_forbidden",
    );
    assert_error(
        s.get(&format!("/v1/sessions/{a}/files/data/etc/passwd")),
        403,
        "path_forbidden",
    );
    assert_error(
        s.put_file(&a, "data/etc/evil", b"x".to_vec()),
        403,
        "path_forbidden",
    );
    assert!(!std::path::Path::new("/etc/evil").exists());
    // links are not listed as artifacts (they are not files the session produced)
    let listing = s.get_json(&format!("/v1/sessions/{a}/artifacts"));
    assert_eq!(listing["artifacts"], json!([]));
    // deleting the link removes the link, not its target
    assert_eq!(
        s.client
            .delete(s.url(&format!("/v1/sessions/{a}/files/artifacts/other")))
            .send()
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        s.get(&format!("/v1/sessions/{b}/artifacts/private.txt"))
            .text()
            .unwrap(),
        "b-secret"
    );
}

#[test]
fn hard_links_to_foreign_files_are_not_served() {
    if !common::is_root() {
        eprintln!("SKIPPED: owner checks need uid isolation");
        return;
    }
    let s = Server::start();
    let a = s.create_session();
    // A root-owned file placed in the workspace (what a hard link to /etc/shadow would be,
    // were protected_hardlinks off) is refused because the session's uid does not own it.
    let ws = s.run_ok(&a, "import os\nprint(os.getcwd())");
    std::fs::write(format!("{}/artifacts/foreign.txt", ws.trim()), "root data").unwrap();
    assert_error(
        s.get(&format!("/v1/sessions/{a}/artifacts/foreign.txt")),
        403,
        "path_forbidden",
    );
    let r = s.exec(&a, "import os\nos.link('/etc/shadow', 'artifacts/h')");
    assert_eq!(
        r["status"], "error",
        "hard-linking a file we do not own must fail: {r:#}"
    );
}

#[test]
fn unknown_routes_and_methods_are_json() {
    let s = Server::start();
    assert_error(s.get("/nope"), 404, "not_found");
    assert_error(
        s.client.patch(s.url("/v1/sessions")).send().unwrap(),
        405,
        "method_not_allowed",
    );
    let sid = s.create_session();
    assert_error(
        s.get(&format!("/v1/sessions/{sid}/files/data/missing.csv")),
        404,
        "file_not_found",
    );
    assert_error(
        s.get(&format!("/v1/sessions/{sid}/files/data")),
        400,
        "invalid_path",
    );
    assert_error(
        s.client
            .delete(s.url(&format!("/v1/sessions/{sid}/files/data/missing.csv")))
            .send()
            .unwrap(),
        404,
        "file_not_found",
    );
}

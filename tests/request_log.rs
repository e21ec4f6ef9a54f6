//! Every request is logged once (method, matched route, status, latency, session) under its
//! request id, which the client may send (`x-request-id`) and always gets back.

mod common;

use common::{eventually, Server};
use serde_json::{json, Value};
use std::time::Duration;

fn log_lines(s: &Server) -> Vec<Value> {
    s.log_text()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn requests_are_logged_under_their_id_and_health_is_not() {
    let s = Server::start();
    let sid = s.create_session();
    let r = s
        .client
        .post(s.url(&format!("/v1/sessions/{sid}/executions")))
        .header("x-request-id", "req-4711")
        .json(&json!({"code": "print(1)"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "req-4711");
    let made = s.get("/v1/info");
    let id = made.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 32, "a generated id: {id}");
    for _ in 0..3 {
        assert_eq!(s.get("/health").status(), 200);
    }
    let line = |pred: &dyn Fn(&Value) -> bool| {
        let mut found = None;
        eventually(Duration::from_secs(5), || {
            found = log_lines(&s).into_iter().find(|v| pred(v));
            found.is_some()
        });
        found
    };
    let exec = line(&|v| v["span"]["request_id"] == "req-4711" && v["fields"]["status"].is_u64())
        .unwrap_or_else(|| panic!("no request line for req-4711:\n{}", s.log_text()));
    assert_eq!(exec["span"]["method"], "POST");
    assert_eq!(exec["span"]["route"], "/v1/sessions/{id}/executions");
    assert_eq!(exec["span"]["session"], sid.as_str());
    assert_eq!(exec["fields"]["status"], 200);
    assert!(exec["fields"]["latency_ms"].as_f64().unwrap() > 0.0);
    assert!(line(&|v| v["span"]["request_id"] == id.as_str()).is_some());
    assert!(
        !log_lines(&s)
            .iter()
            .any(|v| v["span"]["route"] == "/health"),
        "/health was logged"
    );
    // a client mistake is logged with its status too
    assert_eq!(s.get("/v1/sessions/nope").status(), 404);
    assert!(
        line(&|v| v["fields"]["status"] == 404 && v["span"]["route"] == "/v1/sessions/{id}")
            .is_some()
    );
}

#[test]
fn log_lines_are_flat_json() {
    let s = Server::start();
    s.run_ok(&s.create_session(), "print(1)");
    let log = s.log_text();
    let mut lines = 0;
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("every line is JSON");
        lines += 1;
        for (k, val) in v["fields"].as_object().unwrap() {
            if let Some(text) = val.as_str() {
                let t = text.trim_start();
                assert!(
                    !(t.starts_with('{') || t.starts_with('[')),
                    "field `{k}` holds encoded JSON: {line}"
                );
            }
        }
    }
    assert!(lines >= 4, "{log}");
    assert!(log.contains("\"cgroup.enabled\""), "{log}");
    assert!(log.contains("\"seccomp\":"), "{log}");
}

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
    assert_flat(&s.log_text());
}

#[test]
fn log_lines_are_flat_json_in_the_fargate_posture() {
    // Where the shared directories are locked, the start-up log lists them.
    if !common::root_or_skip() {
        return;
    }
    let s = Server::start_in(common::Posture::Fargate, &[], &[]);
    s.run_ok(&s.create_session(), "print(1)");
    let log = s.log_text();
    assert!(log.contains("shared directories locked"), "{log}");
    assert_flat(&log);
}

fn assert_flat(log: &str) {
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

#[test]
fn a_traceparent_becomes_the_trace_of_the_request_and_of_its_execution() {
    let s = Server::start();
    let sid = s.create_session();
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let r: Value = s
        .client
        .post(s.url(&format!("/v1/sessions/{sid}/executions")))
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .header("x-request-id", "traced-1")
        .json(&json!({"code": "print('traced')"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["trace_id"], trace, "{r}");
    // the request's line and the execution's lines carry it
    assert!(
        eventually(Duration::from_secs(10), || {
            s.log_text().lines().any(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                v["span"]["name"] == "execution"
                    && v["span"]["trace_id"] == trace
                    && v["fields"]["message"] == "execution"
                    && v["fields"]["status"] == "ok"
            })
        }),
        "{}",
        s.log_text()
    );
    // (the log reaches its file through the harness's reader thread: wait for it)
    let logged = eventually(Duration::from_secs(10), || {
        s.log_text().lines().any(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["span"]["request_id"] == "traced-1" && v["span"]["trace_id"] == trace
        })
    });
    assert!(logged, "{}", s.log_text());
    // without (or with a malformed) traceparent: a new trace per request
    let a = s.exec(&sid, "print(1)");
    let b: Value = s
        .client
        .post(s.url(&format!("/v1/sessions/{sid}/executions")))
        .header(
            "traceparent",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        )
        .json(&json!({"code": "print(2)"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let (ta, tb) = (
        a["trace_id"].as_str().unwrap(),
        b["trace_id"].as_str().unwrap(),
    );
    assert_eq!((ta.len(), tb.len()), (32, 32));
    assert!(ta != tb && tb != "00000000000000000000000000000000");
}

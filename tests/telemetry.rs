//! OTLP export: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the request span and the execution span
//! inside it reach a loopback receiver that decodes the real protobuf payloads
//! (`opentelemetry-proto` from PyPI), in the caller's trace when it sent a `traceparent`, and
//! the trace id in the logs and the execution result is the exported one.

mod common;

use common::{eventually, free_port, tools_bin, Server};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Receiver {
    child: Child,
    port: u16,
    spans: Arc<Mutex<Vec<Value>>>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receiver {
    fn start() -> Receiver {
        let port = free_port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otlp_receiver.py");
        let mut child = Command::new(tools_bin("python3"))
            .args([script, &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the tools venv's python");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        let spans = Arc::new(Mutex::new(vec![]));
        let sink = spans.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_str(&line).unwrap());
            }
        });
        Receiver { child, port, spans }
    }

    fn span(&self, name: &str, trace_id: &str) -> Option<Value> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name && s["trace_id"] == trace_id)
            .cloned()
    }
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// `print(1)` sent with the caller's `traceparent`; its result.
fn run_in_callers_trace(s: &Server, sid: &str) -> Value {
    s.client
        .post(s.url(&format!("/v1/sessions/{sid}/executions")))
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .json(&json!({"code": "print(1)"}))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

#[test]
fn spans_reach_an_otlp_receiver_inside_the_callers_trace() {
    let rx = Receiver::start();
    let endpoint = format!("http://127.0.0.1:{}", rx.port);
    let s = Server::start_with(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_SERVICE_NAME", "executor-under-test"),
        ],
    );
    let sid = s.create_session();
    assert_eq!(run_in_callers_trace(&s, &sid)["trace_id"], TRACE);

    // Without a traceparent: a new trace, and the result names the exported one.
    let r2 = s.exec(&sid, "print(2)");
    let own = r2["trace_id"].as_str().unwrap().to_string();
    assert_ne!(own, TRACE);

    let arrived = eventually(Duration::from_secs(15), || {
        rx.span("execution", TRACE).is_some() && rx.span("execution", &own).is_some()
    });
    assert!(arrived, "spans: {:#?}", rx.spans.lock().unwrap());
    let request = rx.span("request", TRACE).expect("the request span");
    let execution = rx.span("execution", TRACE).unwrap();
    assert_eq!(request["path"], "/v1/traces");
    assert_eq!(request["content_type"], "application/x-protobuf");
    assert_eq!(request["service"], "executor-under-test");
    // the caller's span is the request span's parent; the execution sits inside the request
    assert_eq!(request["parent_span_id"], PARENT);
    assert_eq!(execution["parent_span_id"], request["span_id"]);
    assert_eq!(
        request["attributes"]["route"],
        "/v1/sessions/{id}/executions"
    );
    assert_eq!(request["attributes"]["session"], sid.as_str());
    // no traceparent: a root span, and its trace id is the one in the result and the logs
    let root = rx.span("request", &own).expect("the second request's span");
    assert_eq!(root["parent_span_id"], "");
    let logged = eventually(Duration::from_secs(5), || {
        s.log_text()
            .lines()
            .any(|l| l.contains("\"message\":\"execution\"") && l.contains(&own))
    });
    assert!(
        logged,
        "the execution's log line carries the exported trace id"
    );
}

#[test]
fn without_an_endpoint_nothing_is_exported_and_traces_still_flow() {
    let s = Server::start();
    let sid = s.create_session();
    assert_eq!(run_in_callers_trace(&s, &sid)["trace_id"], TRACE);
    assert!(!s.log_text().contains("OTLP"));
}

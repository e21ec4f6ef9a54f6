//! `GET /metrics`, scraped and parsed by a real Prometheus parser (`prometheus-client` from
//! PyPI, OpenMetrics): the counters move with what the server does, and no label carries a
//! session id or a path.

mod common;

use common::Server;
use serde_json::{json, Value};
use std::process::{Command, Stdio};

/// Every sample as `[name, {labels}, value]`, parsed by the Python client's OpenMetrics parser.
fn scrape(s: &Server) -> Vec<(String, Value, f64)> {
    use std::io::Write;
    let r = s.get("/metrics");
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = r.text().unwrap();
    let mut child = Command::new(common::tools_bin("python3"))
        .args(["-c", "import sys, json\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as parse\nout = [[s.name, s.labels, s.value] for f in parse(sys.stdin.read()) for s in f.samples]\nprint(json.dumps(out))"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused it: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<(String, Value, f64)> = serde_json::from_slice(&out.stdout).unwrap();
    v
}

fn value(samples: &[(String, Value, f64)], name: &str, labels: Value) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .as_object()
                    .unwrap()
                    .iter()
                    .all(|(k, v)| l.get(k) == Some(v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

#[test]
fn metrics_move_with_the_work_and_stay_low_cardinality() {
    let s = Server::start();
    let sid = s.create_session();
    let before = scrape(&s);
    let ok = |samples: &[(String, Value, f64)]| {
        value(
            samples,
            "dynexec_executions_total",
            json!({"language": "python", "status": "ok"}),
        )
    };
    s.run_ok(&sid, "print(1)");
    let after = scrape(&s);
    assert_eq!(ok(&after) - ok(&before), 1.0, "one more ok execution");
    s.exec(&sid, "raise ValueError('x')");
    s.exec_with(&sid, &json!({"code": "echo hi", "language": "shell"}));
    assert_eq!(
        s.put_file(&sid, "artifacts/a.txt", b"abc".to_vec())
            .status(),
        201
    );
    // the compat API, and its completion into the (local) object store
    assert_eq!(
        s.post_json(
            "/execute",
            &json!({"code": "open('./artifacts/r.txt','w').write('r')"})
        )
        .status(),
        200
    );
    assert_eq!(s.post_json("/session/complete", &json!({})).status(), 200);
    s.delete_session(&sid);
    let m = scrape(&s);
    assert!(value(&m, "dynexec_executions_total", json!({"status": "error"})) >= 1.0);
    assert!(value(&m, "dynexec_executions_total", json!({"language": "shell"})) >= 1.0);
    assert!(
        value(
            &m,
            "dynexec_execution_seconds_count",
            json!({"language": "python"})
        ) >= 3.0
    );
    assert!(
        value(
            &m,
            "dynexec_http_requests_total",
            json!({"route": "/v1/sessions/{id}/executions", "status": "200", "method": "POST"})
        ) >= 3.0
    );
    assert!(
        value(
            &m,
            "dynexec_http_requests_total",
            json!({"route": "/execute"})
        ) >= 1.0
    );
    assert!(
        value(
            &m,
            "dynexec_http_request_seconds_count",
            json!({"route": "/v1/sessions/{id}/files/{*path}"})
        ) >= 1.0
    );
    assert!(
        value(
            &m,
            "dynexec_object_store_operations_total",
            json!({"op": "put", "outcome": "ok"})
        ) >= 3.0
    );
    assert!(
        value(
            &m,
            "dynexec_object_store_bytes_total",
            json!({"direction": "up"})
        ) > 0.0
    );
    assert_eq!(
        value(
            &m,
            "dynexec_sessions_closed_total",
            json!({"reason": "deleted"})
        ),
        1.0
    );
    assert!(value(&m, "dynexec_sessions_created_total", json!({})) >= 2.0);
    assert_eq!(value(&m, "dynexec_zygote_warm", json!({})), 1.0);
    assert_eq!(value(&m, "dynexec_draining", json!({})), 0.0);
    // no label value is a session id, an execution id or a path
    for (name, labels, _) in &m {
        for (k, v) in labels.as_object().unwrap() {
            let v = v.as_str().unwrap();
            let execution_id = v.len() == 16 && v.starts_with('e') && v.as_bytes()[7] == b'-';
            assert!(
                !v.contains(&sid) && !v.contains("artifacts/") && !execution_id,
                "{name}{{{k}={v}}}"
            );
        }
    }
}

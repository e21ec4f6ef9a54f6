//! Two executors behind a real HAProxy with cookie stickiness (the ALB's stand-in): a client
//! that keeps the balancer's cookie always reaches the instance holding its session.

mod common;

use common::haproxy::Haproxy;
use common::Server;
use reqwest::blocking::Client;
use serde_json::{json, Value};

#[test]
fn sticky_cookie_pins_a_client_to_its_session() {
    let a = Server::start_with(&["--instance-id", "a"], &[]);
    let b = Server::start_with(&["--instance-id", "b"], &[]);
    let lb = Haproxy::start(&[&a.base, &b.base], 60);
    let base = lb.base.clone();

    // A client with a cookie jar: create, then every call lands on the same instance.
    let sticky = Client::builder().cookie_store(true).build().unwrap();
    let r = sticky
        .post(format!("{base}/v1/sessions"))
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let sid = r.json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    sticky
        .post(format!("{base}/v1/sessions/{sid}/executions"))
        .json(&json!({"code": "n = 0"}))
        .send()
        .unwrap();
    for i in 1..=10 {
        let v: Value = sticky
            .post(format!("{base}/v1/sessions/{sid}/executions"))
            .json(&json!({"code": "n += 1\nprint(n)"}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(
            v["stdout"],
            format!("{i}\n"),
            "call {i} lost its session: {v}"
        );
    }

    // Without the cookie, round robin sends about half the calls to the other instance, which
    // answers with a clear 404 rather than running the code somewhere else.
    let plain = Client::new();
    let mut not_here = 0;
    for _ in 0..6 {
        let r = plain
            .get(format!("{base}/v1/sessions/{sid}"))
            .send()
            .unwrap();
        if r.status() == 404 {
            assert_eq!(
                r.json::<Value>().unwrap()["error"]["code"],
                "session_not_found"
            );
            not_here += 1;
        }
    }
    assert!(
        not_here >= 2,
        "round robin should have reached the other instance"
    );
}

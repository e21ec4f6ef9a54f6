//! Two executors behind a real HAProxy with cookie stickiness (the ALB's stand-in): a client
//! that keeps the balancer's cookie always reaches the instance holding its session.

mod common;

use common::Server;
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn sticky_cookie_pins_a_client_to_its_session() {
    let a = Server::start_with(&["--instance-id", "a"], &[]);
    let b = Server::start_with(&["--instance-id", "b"], &[]);
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("haproxy.cfg");
    let strip = |s: &Server| s.base.trim_start_matches("http://").to_string();
    std::fs::write(
        &cfg,
        format!(
            "defaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n\
             frontend fe\n  bind 127.0.0.1:{port}\n  default_backend be\n\
             backend be\n  balance roundrobin\n  cookie EXECUTOR insert indirect nocache\n\
             \x20 server a {} cookie a\n  server b {} cookie b\n",
            strip(&a),
            strip(&b)
        ),
    )
    .unwrap();
    let _lb = Haproxy(
        Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy"),
    );
    let base = format!("http://127.0.0.1:{port}");
    assert!(common::eventually(Duration::from_secs(10), || Client::new(
    )
    .get(format!("{base}/health"))
    .send()
    .is_ok()));

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

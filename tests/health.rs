//! `/health` answers from memory: fast while sessions burn both cores and while a
//! catastrophic regex holds a worker's GIL (which froze the old Flask server's health check).

mod common;

use common::Server;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[test]
fn health_stays_fast_under_cpu_load_and_catastrophic_regex() {
    let s = Server::start_with(&["--warm-workers", "3"], &[]);
    let sessions: Vec<String> = (0..3).map(|_| s.create_session()).collect();
    let codes = [
        "while True: pass".to_string(),
        "x = 0\nwhile True: x += 1".to_string(),
        "import re\nre.match(r'(a+)+b', 'a' * 30)".to_string(),
    ];
    let mut runners = vec![];
    for (sid, code) in sessions.iter().zip(codes) {
        let (client, url) = (
            s.client.clone(),
            s.url(&format!("/v1/sessions/{sid}/executions")),
        );
        runners.push(std::thread::spawn(move || {
            client
                .post(url)
                .json(&json!({"code": code, "timeout_s": 6}))
                .send()
                .unwrap()
                .json::<serde_json::Value>()
                .unwrap()
        }));
    }
    std::thread::sleep(Duration::from_millis(500));
    let probe = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut worst = Duration::ZERO;
    let mut n = 0;
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until && n < 2000 {
        let t0 = Instant::now();
        let r = probe.get(s.url("/health")).send().unwrap();
        let took = t0.elapsed();
        assert_eq!(r.status(), 200);
        worst = worst.max(took);
        n += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!("{n} health probes, worst {worst:?}");
    assert!(
        worst < Duration::from_millis(100),
        "a /health probe took {worst:?}"
    );
    for r in runners {
        let v = r.join().unwrap();
        assert_eq!(v["status"], "timeout", "{v}");
    }
}

#[test]
fn health_answers_before_the_zygote_is_warm() {
    let s = Server::spawn(&[], &[]);
    let r = s.get("/health");
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["status"], "healthy");
    assert!(["starting", "warm"].contains(&v["zygote"].as_str().unwrap()));
    s.wait_warm();
    let info = s.get_json("/v1/info");
    assert_eq!(info["zygote"]["state"], "warm");
    assert!(info["python"].as_str().unwrap().starts_with("3."));
    assert!(info["preloaded_modules"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == "pandas"));
}

#[test]
fn a_dead_zygote_is_restarted_and_sessions_recover() {
    let s = Server::start();
    let sid = s.create_session();
    s.run_ok(&sid, "x = 1");
    let zpid = s.get_json("/v1/info")["zygote"]["pid"].as_i64().unwrap() as u32;
    common::signal(zpid, libc::SIGKILL);
    assert!(common::eventually(Duration::from_secs(30), || {
        let i = s.get_json("/v1/info");
        i["zygote"]["state"] == "warm" && i["zygote"]["pid"].as_i64() != Some(zpid as i64)
    }));
    assert_eq!(s.get_json("/v1/info")["zygote"]["restarts"], 1);
    let r = s.exec(&sid, "print('back')");
    assert_eq!(r["status"], "ok", "{r:#}");
    assert_eq!(r["state_preserved"], false);
    s.create_session();
}

fn healthcheck_exit(s: &Server) -> i32 {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_dynamic-executor"))
        .parent()
        .unwrap()
        .join("healthcheck");
    std::process::Command::new(bin)
        .arg(s.base.trim_start_matches("http://"))
        .output()
        .unwrap()
        .status
        .code()
        .unwrap_or(-1)
}

#[test]
fn an_instance_that_cannot_run_code_says_so() {
    // A wrong interpreter: the zygote can never start.
    let s = Server::spawn(&["--python", "/nonexistent/python3"], &[]);
    assert!(common::eventually(Duration::from_secs(10), || s
        .get("/health")
        .status()
        == 503));
    let v = s.get_json("/health");
    assert_eq!(v["status"], "unhealthy");
    assert!(
        v["reason"].as_str().unwrap().contains("failed to start"),
        "{v}"
    );
    assert_eq!(healthcheck_exit(&s), 1);
}

#[test]
fn a_brief_zygote_restart_does_not_flap_the_target() {
    let s = Server::start();
    assert_eq!(healthcheck_exit(&s), 0);
    let zpid = s.get_json("/v1/info")["zygote"]["pid"].as_i64().unwrap() as u32;
    common::signal(zpid, libc::SIGKILL);
    let until = Instant::now() + Duration::from_secs(4);
    let mut saw_restart = false;
    while Instant::now() < until {
        let r = s.get("/health");
        assert_eq!(r.status(), 200, "flapped during a restart");
        saw_restart |= r.json::<Value>().unwrap()["zygote"] != "warm";
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(saw_restart, "the restart was not observed");
}

#[test]
fn a_full_or_unwritable_workspace_root_is_unhealthy() {
    let s = Server::spawn(&["--min-free-mb", "999999999"], &[]);
    assert!(common::eventually(Duration::from_secs(10), || s
        .get("/health")
        .status()
        == 503));
    let v = s.get_json("/health");
    assert!(v["reason"].as_str().unwrap().contains("MiB free"), "{v}");
    drop(s);
    if !common::is_root() {
        return;
    }
    let s = Server::start();
    // Immutable: even root cannot create a file there.
    let chattr = |flag: &str| {
        std::process::Command::new("chattr")
            .arg(flag)
            .arg(&s.root)
            .status()
            .map(|st| st.success())
            .unwrap_or(false)
    };
    if !chattr("+i") {
        eprintln!("skipped: chattr does not work on this filesystem");
        return;
    }
    let went = common::eventually(Duration::from_secs(15), || s.get("/health").status() == 503);
    let v = s.get_json("/health");
    let back = {
        chattr("-i");
        common::eventually(Duration::from_secs(15), || s.get("/health").status() == 200)
    };
    assert!(went, "never unhealthy");
    assert!(
        v["reason"].as_str().unwrap().contains("cannot be written"),
        "{v}"
    );
    assert!(back, "never healthy again");
}

/// A log collector that stops draining the server's stdout (a container runtime's log driver
/// in blocking mode behind a slow sink) does not stop the server: log lines are written from a
/// thread of their own and dropped when its queue is full, so `/health` and the API answer.
/// Logging on the runtime threads, the first request past the pipe's 64 KiB blocked its thread
/// in `write`, and the next one the other thread, on stdout's lock.
#[test]
fn a_stdout_nobody_reads_does_not_stop_the_server() {
    let s = Server::start();
    s.stall_log_reader();
    let quick = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    // Each request logs a line of ~300 bytes: 1,500 of them are several pipes' worth.
    let t0 = Instant::now();
    for i in 0..1500 {
        let r = quick.get(s.url("/v1/sessions")).send();
        assert!(
            r.as_ref().is_ok_and(|r| r.status() == 200),
            "request {i} after {:?}: {r:?}",
            t0.elapsed()
        );
    }
    let r = quick.get(s.url("/health")).send().unwrap();
    assert_eq!(r.status(), 200);
    let sid = s.create_session();
    assert_eq!(s.run_ok(&sid, "print(6 * 7)"), "42\n");
}

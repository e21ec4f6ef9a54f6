//! Per-session cgroups (where the host lets us create them): every process of a session is in
//! its groups from the first instruction, the memory and process limits are per session, and
//! the groups are killed and removed with the session, at shutdown and after a crash.
//!
//! On this development VM memory and pids live in v1 hierarchies and cgroup v2 (mounted at
//! /sys/fs/cgroup/unified) has no controllers but gives `cgroup.kill`; where a host has no
//! writable cgroups at all these tests skip and say why.

mod common;

use common::{eventually, processes_of_uid, root_or_skip, Server};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// The server's cgroup report when the layer is in use, else says why the test is skipped.
fn cgroups_or_skip(s: &Server) -> Option<Value> {
    let report = s.get_json("/v1/info")["sandbox"]["cgroup"].clone();
    if report["enabled"] != true {
        eprintln!(
            "SKIPPED: no per-session cgroups on this host: {}",
            report["problems"]
        );
        return None;
    }
    Some(report)
}

/// The directories of a session's groups (`"v1 /sys/..."` / a plain path in the report).
fn session_dirs(report: &Value, uid: u32) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = ["kill", "memory", "pids"]
        .iter()
        .filter_map(|k| report[*k].as_str())
        .map(|s| s.rsplit(' ').next().unwrap().to_string())
        .map(|base| PathBuf::from(base).join(format!("uid-{uid}")))
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

fn members(dir: &std::path::Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[test]
fn a_sessions_processes_are_all_in_its_own_groups_with_its_limits() {
    if !root_or_skip() {
        return;
    }
    let s = Server::start_with(
        &[],
        &[
            ("EXECUTOR_SESSION_MEMORY_MB", "700"),
            ("EXECUTOR_SESSION_PIDS_MAX", "40"),
        ],
    );
    let Some(report) = cgroups_or_skip(&s) else {
        return;
    };
    assert_eq!(report["memory_max_mb"], 700);
    assert_eq!(report["pids_max"], 40);
    let sid = s.create_session();
    let info = s.session_info(&sid);
    assert!(
        common::strs(&info["sandbox"]["layers"]).contains(&"cgroup"),
        "{info:#}"
    );
    assert_eq!(
        common::strs(&s.get_json("/v1/info")["sandbox"]["layers"])[0],
        "cgroup"
    );
    let uid = s.session_uid(&sid);
    let worker = s.worker_pid(&sid);
    // A child the code starts is in the same groups as the worker.
    let out = s.run_ok(
        &sid,
        "import subprocess\n\
         mine = open('/proc/self/cgroup').read()\n\
         child = subprocess.run(['cat', '/proc/self/cgroup'], capture_output=True, text=True).stdout\n\
         print(mine == child)\n\
         print(mine)",
    );
    assert!(out.starts_with("True\n"), "{out}");
    assert!(out.contains(&format!("/uid-{uid}\n")), "{out}");
    for dir in session_dirs(&report, uid) {
        let m = members(&dir);
        assert_eq!(m, [worker], "{}", dir.display());
        if let Ok(max) = std::fs::read_to_string(dir.join("memory.limit_in_bytes"))
            .or_else(|_| std::fs::read_to_string(dir.join("memory.max")))
        {
            assert_eq!(max.trim(), (700u64 << 20).to_string());
        }
        if let Ok(max) = std::fs::read_to_string(dir.join("pids.max")) {
            assert_eq!(max.trim(), "40");
        }
    }
    // The groups' files are root's: code cannot move itself out or raise its limits.
    for dir in session_dirs(&report, uid) {
        let escape = dir.parent().unwrap().join("cgroup.procs");
        let raise = ["pids.max", "memory.limit_in_bytes", "memory.max"]
            .iter()
            .map(|f| dir.join(f))
            .find(|f| f.exists())
            .unwrap_or(escape.clone());
        for (file, value) in [(&escape, "0"), (&raise, "max")] {
            let r = s.exec(
                &sid,
                &format!("open('{}', 'w').write('{value}')", file.display()),
            );
            assert_eq!(r["status"], "error", "{}: {r:#}", file.display());
        }
    }
    assert_eq!(members(&session_dirs(&report, uid)[0]), [worker]);
}

#[test]
fn memory_is_limited_per_session_not_per_process() {
    if !root_or_skip() {
        return;
    }
    let s = Server::start_with(&[], &[("EXECUTOR_SESSION_MEMORY_MB", "400")]);
    if cgroups_or_skip(&s).is_none() {
        return;
    }
    let sid = s.create_session();
    let canary = s.create_session();
    s.run_ok(&canary, "total = sum(range(1000))");
    s.run_ok(&sid, "kept = 'still here'");
    // Three children of 200 MiB each: every one is far under the per-process RLIMIT_DATA
    // (2 GiB), together they are over the session's 400 MiB.
    let r = s.exec(
        &sid,
        "import subprocess\n\
         hog = ['python3', '-c', 'b = bytearray(200 << 20); import time; time.sleep(2)']\n\
         ps = [subprocess.Popen(hog) for _ in range(3)]\n\
         codes = [p.wait() for p in ps]\n\
         print(codes)\n\
         assert all(c == 0 for c in codes), codes",
    );
    assert_eq!(r["status"], "oom", "{r:#}");
    assert!(r["stdout"].as_str().unwrap().contains("-9"), "{r:#}");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains("400 MiB") && msg.contains("intact"), "{msg}");
    // A child was the victim: the worker and its variables survive.
    assert_eq!(r["state_preserved"], true, "{r:#}");
    assert_eq!(s.run_ok(&sid, "print(kept)").trim(), "still here");

    // The worker itself over the limit: killed, reported as oom, and the session goes on
    // with a fresh worker.
    let r = s.exec(
        &sid,
        "import numpy as np\nhold = [np.ones(25 << 20) for _ in range(4)]",
    );
    assert_eq!(r["status"], "oom", "{r:#}");
    assert_eq!(r["state_preserved"], false, "{r:#}");
    assert!(r["error"]["message"]
        .as_str()
        .unwrap()
        .contains("variables are gone"));
    assert_eq!(s.run_ok(&sid, "print(6 * 7)").trim(), "42");
    assert_eq!(s.get("/health").status(), 200);
    assert_eq!(s.run_ok(&canary, "print(total)").trim(), "499500");
}

#[test]
fn the_process_limit_counts_the_whole_session() {
    if !root_or_skip() {
        return;
    }
    // RLIMIT_NPROC far above pids.max: a failed fork here is the cgroup's doing.
    let s = Server::start_with(
        &["--nproc-limit", "500"],
        &[("EXECUTOR_SESSION_PIDS_MAX", "24")],
    );
    let Some(report) = cgroups_or_skip(&s) else {
        return;
    };
    let sid = s.create_session();
    let uid = s.session_uid(&sid);
    let out = s.run_ok(
        &sid,
        "import subprocess\n\
         ps, refused = [], 0\n\
         for _ in range(60):\n\
         \x20   try:\n\
         \x20       ps.append(subprocess.Popen(['sleep', '30']))\n\
         \x20   except (BlockingIOError, OSError):\n\
         \x20       refused += 1\n\
         print(len(ps), refused)\n\
         for p in ps: p.kill(); p.wait()",
    );
    let counts: Vec<u32> = out.split_whitespace().map(|n| n.parse().unwrap()).collect();
    assert!(counts[0] < 24 && counts[1] > 0, "{out}");
    let pids_dir = session_dirs(&report, uid)
        .into_iter()
        .find(|d| d.join("pids.events").exists())
        .expect("a pids group");
    let events = std::fs::read_to_string(pids_dir.join("pids.events")).unwrap();
    assert!(!events.contains("max 0"), "{events}");
    assert_eq!(s.run_ok(&sid, "print('fine')").trim(), "fine");
}

#[test]
fn deleting_a_session_kills_its_group_and_removes_it() {
    if !root_or_skip() {
        return;
    }
    let s = Server::start();
    let Some(report) = cgroups_or_skip(&s) else {
        return;
    };
    let sid = s.create_session();
    let uid = s.session_uid(&sid);
    // Deleted mid-execution, with a detached daemon running.
    let (client, url) = (
        s.client.clone(),
        s.url(&format!("/v1/sessions/{sid}/executions")),
    );
    let running = std::thread::spawn(move || {
        let code = "import subprocess, time\nsubprocess.Popen(['setsid', 'sleep', '300'])\ntime.sleep(300)";
        let _ = client
            .post(url)
            .json(&serde_json::json!({ "code": code }))
            .send();
    });
    let dirs = session_dirs(&report, uid);
    assert!(
        eventually(Duration::from_secs(10), || members(&dirs[0]).len() >= 2),
        "worker and daemon should run"
    );
    let r = s
        .client
        .delete(s.url(&format!("/v1/sessions/{sid}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    running.join().unwrap();
    assert!(
        eventually(Duration::from_secs(10), || dirs.iter().all(|d| !d.exists())),
        "groups left: {dirs:?}"
    );
    assert!(processes_of_uid(uid).is_empty());
}

#[test]
fn groups_go_at_shutdown_and_a_crashed_runs_groups_at_the_next_start() {
    if !root_or_skip() {
        return;
    }
    let mut crashed = Server::start();
    let Some(report) = cgroups_or_skip(&crashed) else {
        return;
    };
    let sid = crashed.create_session();
    let uid = crashed.session_uid(&sid);
    let dirs = session_dirs(&report, uid);
    unsafe { libc::kill(crashed.pid() as i32, libc::SIGKILL) };
    assert!(eventually(Duration::from_secs(10), || crashed.exited()));
    // The kernel killed the processes (parent-death signals); the groups stay behind.
    assert!(eventually(Duration::from_secs(10), || processes_of_uid(
        uid
    )
    .is_empty()));
    assert!(dirs.iter().all(|d| d.exists()), "{dirs:?}");

    // The next run on the same uids removes them before it forks anything.
    let base = crashed.uid_base.to_string();
    let next = Server::start_with(&["--uid-base", &base, "--warm-workers", "0"], &[]);
    // (The uid may be in use again by now: the compat API's session is created at start.)
    let removed = next
        .log_text()
        .lines()
        .any(|l| l.contains("left by a previous run") && l.contains(&format!("\"uid\":{uid}")));
    assert!(removed, "{}", next.log_text());

    // A clean shutdown removes the groups of its sessions (their files stay).
    let sid = next.create_session();
    let uid = next.session_uid(&sid);
    let dirs = session_dirs(&report, uid);
    assert!(dirs.iter().all(|d| d.exists()));
    let pid = next.pid() as i32;
    drop(next);
    assert!(dirs.iter().all(|d| !d.exists()), "{dirs:?}");
    assert!(std::fs::metadata(format!("/proc/{pid}")).is_err());
}

#[test]
fn cgroups_can_be_turned_off() {
    if !root_or_skip() {
        return;
    }
    let s = Server::start_with(&[], &[("EXECUTOR_CGROUPS", "false")]);
    let info = s.get_json("/v1/info");
    let report = &info["sandbox"]["cgroup"];
    assert_eq!(report["enabled"], false);
    assert!(report["problems"][0].as_str().unwrap().contains("off"));
    assert!(!common::strs(&info["sandbox"]["layers"]).contains(&"cgroup"));
    let sid = s.create_session();
    assert!(!common::strs(&s.session_info(&sid)["sandbox"]["layers"]).contains(&"cgroup"));
    assert!(s
        .run_ok(&sid, "print(open('/proc/self/cgroup').read())")
        .lines()
        .all(|l| !l.contains("uid-")));
}

//! Per-session cgroups (where the host lets us create them): every process of a session is in
//! its groups from the first instruction, the memory and process limits are per session, and
//! the groups are killed and removed with the session, at shutdown and after a crash.
//!
//! This development VM is a v1/v2 hybrid: memory lives in v1, and cgroup v2 (mounted at
//! /sys/fs/cgroup/unified) gives `cgroup.kill` and, once the unused v1 pids hierarchy is
//! unmounted (`umount /sys/fs/cgroup/pids`, done by hand, not by these tests), the pids
//! controller; so both the v1 and the v2 placement are exercised here. Where a host has no
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

/// The members of a group, less the worker's parent: with a PID namespace that is the root
/// relay waiting outside it (it joined the group before forking the worker).
fn session_processes(dir: &std::path::Path, worker: i32) -> Vec<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{worker}/stat")).unwrap_or_default();
    let parent: i32 = stat
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // Without a PID namespace the worker's parent is the zygote, which is never in the group.
    members(dir).into_iter().filter(|p| *p != parent).collect()
}

/// Code that starts 60 sleeping children gets fewer than `limit` of them (the worker counts too)
/// and a refusal for the rest, then cleans up.
fn assert_forks_stop_below(s: &Server, sid: &str, limit: u32) {
    let out = s.run_ok(
        sid,
        "import subprocess\n\
         ps, refused = [], 0\n\
         for _ in range(60):\n\
         \x20   try:\n\
         \x20       ps.append(subprocess.Popen(['sleep', '30']))\n\
         \x20   except OSError:\n\
         \x20       refused += 1\n\
         print(len(ps), refused)\n\
         for p in ps: p.kill(); p.wait()",
    );
    let counts: Vec<u32> = out.split_whitespace().map(|n| n.parse().unwrap()).collect();
    assert!(counts[0] < limit && counts[1] > 0, "{out}");
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
    // One base per server, named after its uid range, under its own group of each hierarchy.
    for key in ["kill", "memory", "pids"] {
        if let Some(place) = report[key].as_str() {
            let base = format!("/dynamic-executor-{}", s.uid_base);
            assert!(place.ends_with(&base), "{key}: {place}");
        }
    }
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
    // A child the code starts is in the same groups as the worker; from the inside (a cgroup
    // namespace, with namespaces) the host's cgroup layout does not show.
    let out = s.run_ok(
        &sid,
        "import subprocess\n\
         mine = open('/proc/self/cgroup').read()\n\
         child = subprocess.run(['cat', '/proc/self/cgroup'], capture_output=True, text=True).stdout\n\
         print(mine == child)\n\
         print(mine)",
    );
    assert!(out.starts_with("True\n"), "{out}");
    if info["sandbox"]["namespaces"]
        .as_str()
        .unwrap_or("")
        .contains("cgroup")
    {
        assert!(!out.contains("dynamic-executor"), "{out}");
        assert!(out.contains("0::/\n"), "{out}");
    }
    let outside = std::fs::read_to_string(format!("/proc/{worker}/cgroup")).unwrap();
    assert!(outside.contains(&format!("/uid-{uid}\n")), "{outside}");
    for dir in session_dirs(&report, uid) {
        assert_eq!(
            session_processes(&dir, worker),
            [worker],
            "{}",
            dir.display()
        );
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
    assert_eq!(
        session_processes(&session_dirs(&report, uid)[0], worker),
        [worker]
    );
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
    assert_forks_stop_below(&s, &sid, 24);
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
    s.delete_session(&sid);
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
    common::signal(crashed.pid(), libc::SIGKILL);
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
    let sandbox = s.session_info(&sid)["sandbox"].clone();
    assert!(!common::strs(&sandbox["layers"]).contains(&"cgroup"));
    // Said loudly: the session's memory and process limits are per process, not per session.
    assert_eq!(sandbox["degraded"], true);
    assert!(common::strs(&sandbox["warnings"])
        .iter()
        .any(|w| w.starts_with("no cgroup")));
    assert_eq!(info["sandbox"]["degraded"], true);
    assert!(s
        .run_ok(&sid, "print(open('/proc/self/cgroup').read())")
        .lines()
        .all(|l| !l.contains("uid-")));
}

/// A v2 group of the test's own, removed (with what the server left in it) when dropped.
struct TestGroup(PathBuf);

impl Drop for TestGroup {
    fn drop(&mut self) {
        // Children first (the server's leaf, once its zygote has died too), then the group.
        eventually(Duration::from_secs(10), || {
            for e in std::fs::read_dir(&self.0).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
            std::fs::remove_dir(&self.0).is_ok()
        });
    }
}

#[test]
fn on_cgroup_v2_the_server_delegates_controllers_below_its_own_group() {
    if !root_or_skip() {
        return;
    }
    // Where is the v2 hierarchy, and does its root hand out a controller we use?
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let Some(v2) = mountinfo
        .lines()
        .find(|l| l.contains(" - cgroup2 "))
        .and_then(|l| l.split_whitespace().nth(4))
        .map(PathBuf::from)
    else {
        eprintln!("SKIPPED: no cgroup v2 hierarchy");
        return;
    };
    let available = std::fs::read_to_string(v2.join("cgroup.controllers")).unwrap_or_default();
    let Some(controller) = ["pids", "memory"]
        .into_iter()
        .find(|c| available.split_whitespace().any(|a| a == *c))
    else {
        eprintln!(
            "SKIPPED: the v2 hierarchy offers neither memory nor pids (they are bound to v1 here)"
        );
        return;
    };
    let enabled = std::fs::read_to_string(v2.join("cgroup.subtree_control")).unwrap_or_default();
    if !enabled.split_whitespace().any(|c| c == controller)
        && std::fs::write(v2.join("cgroup.subtree_control"), format!("+{controller}")).is_err()
    {
        eprintln!("SKIPPED: cannot enable {controller} at the v2 root");
        return;
    }
    // The server starts inside a non-root group of its own, as under systemd (Delegate=yes)
    // or in a privileged container: it must move itself into a leaf before it may enable
    // controllers for its sessions' groups (no internal processes; a threaded controller such
    // as pids would otherwise make every new child group refuse members).
    let group = TestGroup(v2.join(format!("dynexec-test-{}", std::process::id())));
    std::fs::create_dir(&group.0).unwrap();
    let s = Server::start_in_cgroup(
        &group.0,
        &["--session-pids-max", "30", "--nproc-limit", "500"],
    );
    let report = s.get_json("/v1/info")["sandbox"]["cgroup"].clone();
    let base = group.0.join(format!("dynamic-executor-{}", s.uid_base));
    assert_eq!(
        report[controller],
        format!("v2 {}", base.display()),
        "{report:#}"
    );
    assert_eq!(report["problems"], serde_json::json!([]), "{report:#}");
    let leaf = group.0.join("dynamic-executor.server");
    assert!(members(&leaf).contains(&(s.pid() as i32)));
    assert!(members(&group.0).is_empty());
    let sid = s.create_session();
    let uid = s.session_uid(&sid);
    let own = std::fs::read_to_string(format!("/proc/{}/cgroup", s.worker_pid(&sid))).unwrap();
    let rel = base.strip_prefix(&v2).unwrap().join(format!("uid-{uid}"));
    assert!(own.contains(&format!("0::/{}\n", rel.display())), "{own}");
    let limit = if controller == "pids" {
        "pids.max"
    } else {
        "memory.max"
    };
    let expected = if controller == "pids" {
        "30".to_string()
    } else {
        (3072u64 << 20).to_string()
    };
    let written = std::fs::read_to_string(base.join(format!("uid-{uid}")).join(limit)).unwrap();
    assert_eq!(written.trim(), expected);
    if controller == "pids" {
        assert_forks_stop_below(&s, &sid, 30);
    }
    drop(s);
    assert!(!base.exists(), "the base outlived the server");
}

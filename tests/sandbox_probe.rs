//! The startup capability probe, `EXECUTOR_SANDBOX_REQUIRE`, and the layer report.

mod common;

use common::{is_root, strs, Server};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

fn probe() -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_dynamic-executor"))
        .args(["--sandbox-probe", "45000"])
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn probe_reports_the_hosts_layers() {
    let p = probe();
    for k in [
        "kernel",
        "cap_eff",
        "can_switch_uid",
        "seccomp",
        "landlock_abi",
        "user_namespace",
        "net_namespace",
        "cgroup_v2_writable",
        "close_range",
        "pidfd_open",
    ] {
        assert!(p.get(k).is_some(), "{k} missing from {p}");
    }
    assert_eq!(p["seccomp"], true, "seccomp works on every supported host");
    assert_eq!(p["can_switch_uid"], is_root());
}

#[test]
fn info_and_sessions_report_layers_and_degradation() {
    let s = Server::start();
    let p = probe();
    let info = s.get_json("/v1/info");
    assert_eq!(
        info["sandbox"]["capabilities"]["landlock_abi"],
        p["landlock_abi"]
    );
    let layers: Vec<&str> = strs(&info["sandbox"]["layers"]);
    let landlock = p["landlock_abi"].as_i64().unwrap() > 0;
    assert_eq!(layers.contains(&"landlock"), landlock);
    let sid = s.create_session();
    let sb = s.session_info(&sid)["sandbox"].clone();
    if landlock {
        assert_eq!(sb["landlock"], "fully_enforced", "{sb}");
    }
    // Everything this suite's hosts can offer: root, Landlock, and writable cgroups.
    let full = landlock && is_root() && info["sandbox"]["cgroup"]["enabled"] == true;
    assert_eq!(sb["degraded"], !full, "{sb}");
    assert_eq!(info["sandbox"]["degraded"], !full);
}

#[test]
fn a_missing_required_layer_refuses_to_start() {
    // Turned off, a layer is as missing as on a host without it (and this is deterministic).
    let layer = "cgroup";
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dynamic-executor"))
        .args(["--bind", "127.0.0.1:0", "--workspace-root"])
        .arg(dir.path().join("ws"))
        .env("EXECUTOR_SANDBOX_REQUIRE", format!("seccomp,{layer}"))
        .env("EXECUTOR_CGROUPS", "false")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        common::eventually(Duration::from_secs(10), || matches!(
            child.try_wait(),
            Ok(Some(_))
        )),
        "it started anyway"
    );
    let status = child.wait().unwrap();
    assert!(!status.success());
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut log).unwrap();
    assert!(
        log.contains("required sandbox layers are not available") && log.contains(layer),
        "{log}"
    );
    assert!(!log.contains("\"listening\""));
}

/// Directories called `name` in any mounted cgroup hierarchy (a few levels deep).
fn cgroup_dirs_named(name: &str) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, name: &str, depth: u32, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                if e.file_name() == name {
                    out.push(p.clone());
                }
                if depth > 0 {
                    walk(&p, name, depth - 1, out);
                }
            }
        }
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut out = vec![];
    for line in mountinfo.lines().filter(|l| l.contains(" - cgroup")) {
        let point = line.split_whitespace().nth(4).unwrap();
        walk(std::path::Path::new(point), name, 3, &mut out);
    }
    out
}

#[test]
fn unknown_required_layers_are_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dynamic-executor"))
        .args([
            "--bind",
            "127.0.0.1:0",
            "--sandbox-require",
            "seccomp,magic",
            // Below the harness's uid slots: a starting server kills whatever runs in its range.
            "--uid-base",
            "39000",
            "--uid-count",
            "64",
        ])
        .arg("--workspace-root")
        .arg(dir.path().join("ws"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("magic"));
    // A refused start leaves nothing behind (its cgroups were set up before the check).
    assert_eq!(
        cgroup_dirs_named("dynamic-executor-39000"),
        Vec::<std::path::PathBuf>::new()
    );
}

#[test]
fn required_layers_that_exist_start_normally() {
    let need = if is_root() { "uid,seccomp" } else { "seccomp" };
    let s = Server::start_with(&["--sandbox-require", need], &[]);
    assert_eq!(
        s.get_json("/v1/info")["sandbox"]["required"]
            .as_array()
            .unwrap()
            .len(),
        need.split(',').count()
    );
}

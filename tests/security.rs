//! What sandboxed code must not reach: credentials, other processes, the network.

mod common;

use common::{root_or_skip, strs, Server};

fn server_with_secrets() -> Server {
    Server::start_with(
        &[],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "very-secret"),
            (
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "/v2/credentials/abc",
            ),
            ("ECS_CONTAINER_METADATA_URI_V4", "http://169.254.170.2/v4/x"),
        ],
    )
}

#[test]
fn no_aws_or_ecs_variables_reach_user_code() {
    let s = server_with_secrets();
    let sid = s.create_session();
    let out = s.run_ok(
        &sid,
        "import os\nprint(sorted(k for k in os.environ if k.startswith(('AWS_', 'ECS_'))))",
    );
    assert_eq!(out.trim(), "[]");
    let out = s.run_ok(
        &sid,
        "print(open('/proc/self/environ','rb').read().count(b'AWS_'))",
    );
    assert_eq!(out.trim(), "0");
    let r = s.exec_with(
        &sid,
        &serde_json::json!({"code": "env | grep -c AWS_ || true", "language": "shell"}),
    );
    assert_eq!(r["stdout"].as_str().unwrap().trim(), "0");
}

#[test]
fn init_and_server_environ_are_unreadable() {
    let s = server_with_secrets();
    let sid = s.create_session();
    // In a PID namespace (where the host has them) /proc/1 is the worker itself and the
    // server is not there at all; either way nothing of the server's environment is readable.
    let own_pid_ns = s.session_info(&sid)["sandbox"]["namespaces"]
        .as_str()
        .unwrap_or("")
        .contains("pid");
    for path in [
        "/proc/1/environ".to_string(),
        format!("/proc/{}/environ", s.pid()),
    ] {
        let r = s.exec(&sid, &format!("print(open('{path}','rb').read())"));
        assert!(!r["stdout"].as_str().unwrap().contains("very-secret"));
        if own_pid_ns && path == "/proc/1/environ" {
            continue;
        }
        assert_eq!(r["status"], "error", "{path} was readable: {r:#}");
        let expected: &[&str] = if own_pid_ns {
            &["FileNotFoundError", "PermissionError"]
        } else {
            &["PermissionError"]
        };
        let kind = r["error"]["type"].as_str().unwrap_or("");
        assert!(expected.contains(&kind), "{path}: {r:#}");
    }
}

#[test]
fn network_sockets_are_denied() {
    let s = Server::start();
    let sid = s.create_session();
    let port = s.base.rsplit(':').next().unwrap();
    for target in [
        "('169.254.170.2', 80)".to_string(),
        format!("('127.0.0.1', {port})"),
    ] {
        let r = s.exec(&sid, &format!("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\ns.connect({target})"));
        assert_eq!(r["status"], "error");
        assert_eq!(r["error"]["type"], "PermissionError", "{target}: {r:#}");
    }
    let r = s.exec(
        &sid,
        "import socket\nsocket.socket(socket.AF_INET6, socket.SOCK_DGRAM)",
    );
    assert_eq!(r["error"]["type"], "PermissionError");
    // AF_UNIX still works (multiprocessing and friends need it)
    s.run_ok(
        &sid,
        "import socket\na, b = socket.socketpair()\na.send(b'x')\nassert b.recv(1) == b'x'",
    );
}

#[test]
fn network_can_be_allowed_by_config() {
    let s = Server::start_with(&["--network", "allow"], &[]);
    let sid = s.create_session();
    s.run_ok(
        &sid,
        "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_STREAM).close()",
    );
}

#[test]
fn ptrace_and_process_vm_are_denied() {
    let s = Server::start();
    let sid = s.create_session();
    let code = "\
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
child = os.fork()
if child == 0:
    import time; time.sleep(30); os._exit(0)
rc = libc.ptrace(16, child, 0, 0)  # PTRACE_ATTACH to our own child
err = ctypes.get_errno()
os.kill(child, 9); os.waitpid(child, 0)
print(rc, err)
";
    let out = s.run_ok(&sid, code);
    assert_eq!(out.trim(), "-1 1", "ptrace must fail with EPERM");
    let r = s.run_ok(&sid, "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.syscall(310, 1, 0, 0, 0, 0, 0), ctypes.get_errno())");
    assert_eq!(r.trim(), "-1 1", "process_vm_readv must fail with EPERM");
}

#[test]
fn threads_still_work_under_seccomp() {
    let s = Server::start();
    let sid = s.create_session();
    let out = s.run_ok(&sid, "import threading\nr=[]\nts=[threading.Thread(target=r.append, args=(i,)) for i in range(4)]\n[t.start() for t in ts]; [t.join() for t in ts]\nprint(sorted(r))");
    assert_eq!(out.trim(), "[0, 1, 2, 3]");
}

#[test]
fn sessions_run_as_distinct_unprivileged_uids() {
    if !root_or_skip() {
        return;
    }
    let s = Server::start();
    let a = s.create_session();
    let b = s.create_session();
    let ua: u32 = s
        .run_ok(&a, "import os\nprint(os.getuid())")
        .trim()
        .parse()
        .unwrap();
    let ub: u32 = s
        .run_ok(&b, "import os\nprint(os.getuid())")
        .trim()
        .parse()
        .unwrap();
    assert_ne!(ua, ub);
    assert!(ua >= s.uid_base && ub >= s.uid_base);
    let info = s.get_json("/v1/info");
    assert_eq!(info["sandbox"]["uid_isolation"], true);
    let layers: Vec<&str> = strs(&info["sandbox"]["layers"]);
    for l in ["uid", "seccomp", "rlimits", "no_new_privs"] {
        assert!(layers.contains(&l), "{l} missing from {layers:?}");
    }
    // the server cannot be signalled from a sandbox (refused, or not even visible from a PID
    // namespace)
    let r = s.exec(&a, &format!("import os\nos.kill({}, 9)", s.pid()));
    let kind = r["error"]["type"].as_str().unwrap_or("");
    assert!(
        ["PermissionError", "ProcessLookupError"].contains(&kind),
        "{r:#}"
    );
}

//! The attack suite: real hostile code through the real API. Every attack must fail with a
//! clear outcome while `/health` stays 200 and a canary session next to the attacker keeps
//! computing correctly. See docs/security.md for what each layer stops.

mod common;

use common::{eventually, is_root, processes_of_uid, strs, Server};
use serde_json::{json, Value};
use std::time::Duration;

struct Arena {
    s: Server,
    attacker: String,
    canary: String,
}

impl Arena {
    fn new() -> Arena {
        Arena::with(&[])
    }

    fn with(args: &[&str]) -> Arena {
        let s = Server::start_with(args, &[]);
        let attacker = s.create_session();
        let canary = s.create_session();
        s.run_ok(
            &canary,
            "import pandas as pd\nbase = pd.Series([40, 1]).sum()",
        );
        Arena {
            s,
            attacker,
            canary,
        }
    }

    fn attack(&self, code: &str) -> Value {
        self.s.exec(&self.attacker, code)
    }

    fn attack_with(&self, body: Value) -> Value {
        self.s.exec_with(&self.attacker, &body)
    }

    /// The attack must have failed (not `ok`) with the given error type.
    fn failed(&self, code: &str, error_type: &str) -> Value {
        let r = self.attack(code);
        assert_ne!(r["status"], "ok", "attack succeeded: {r:#}");
        assert_eq!(r["error"]["type"], error_type, "{r:#}");
        r
    }

    /// The attack must have failed with one of the error types (namespaces hide what Landlock
    /// or permissions would refuse: not found and permission denied both mean out of reach).
    fn failed_any(&self, code: &str, error_types: &[&str]) -> Value {
        let r = self.attack(code);
        assert_ne!(r["status"], "ok", "attack succeeded: {r:#}");
        let t = r["error"]["type"].as_str().unwrap_or("");
        assert!(
            error_types.contains(&t),
            "{t} not among {error_types:?}: {r:#}"
        );
        r
    }

    /// A process outside the session, by host pid: refused (uid) or not even there (the PID
    /// namespace, on hosts that have one).
    fn process_out_of_reach(&self, code: &str) -> Value {
        self.failed_any(
            code,
            &["PermissionError", "ProcessLookupError", "FileNotFoundError"],
        )
    }

    /// Whether the attacker runs in a PID namespace of its own.
    fn in_pid_namespace(&self) -> bool {
        self.s.session_info(&self.attacker)["sandbox"]["namespaces"]
            .as_str()
            .unwrap_or("")
            .contains("pid")
    }

    /// The attack's own code must print `expect` (it reports what the kernel answered).
    fn prints(&self, code: &str, expect: &str) {
        let r = self.attack(code);
        assert_eq!(r["stdout"].as_str().unwrap_or("").trim(), expect, "{r:#}");
    }

    fn workspace(&self, sid: &str) -> String {
        self.s
            .run_ok(sid, "import os\nprint(os.getcwd())")
            .trim()
            .to_string()
    }
}

impl Drop for Arena {
    /// After every attack: the server answers and the canary's state and compute are intact.
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let h = self.s.get("/health");
        assert_eq!(h.status(), 200, "/health after the attack");
        let r = self.s.exec(&self.canary, "print(int(base) + 1)");
        assert_eq!(r["stdout"], "42\n", "canary after the attack: {r:#}");
        assert_eq!(r["state_preserved"], true);
    }
}

// ---- other sessions' files ----

#[test]
fn read_another_sessions_file_by_path() {
    let a = Arena::new();
    a.s.run_ok(
        &a.canary,
        "open('data/secret.txt','w').write('canary secret')",
    );
    let ws = a.workspace(&a.canary);
    a.failed_any(
        &format!("print(open('{ws}/data/secret.txt').read())"),
        &["PermissionError", "FileNotFoundError"],
    );
}

/// The analytics helper parses files as the attacker's session: another session's file is out
/// of its reach by path, by symlink and by SQL's own file reader.
#[test]
fn read_another_sessions_file_through_the_analytics_helper() {
    let a = Arena::new();
    a.s.run_ok(
        &a.canary,
        "open('data/secret.csv','w').write('secret\\ncanary-secret-42\\n')",
    );
    let ws = a.workspace(&a.canary);
    a.s.run_ok(
        &a.attacker,
        &format!("import os\nos.makedirs('data', exist_ok=True)\nos.symlink('{ws}/data/secret.csv', 'data/theirs.csv')\nopen('data/mine.csv','w').write('a\\n1\\n')"),
    );
    let post = |what: &str, body: Value| {
        let r =
            a.s.post_json(&format!("/v1/sessions/{}/{what}", a.attacker), &body);
        (r.status().as_u16(), r.text().unwrap())
    };
    for path in [format!("{ws}/data/secret.csv"), "data/theirs.csv".into()] {
        let (status, body) = post("profile", json!({"path": path, "top": 5}));
        assert!((400..500).contains(&status), "{path}: {status} {body}");
        assert!(!body.contains("canary-secret-42"), "{body}");
    }
    let meta = json!({"calculations": [{"id": "steal", "value": 1, "source_file": "data/mine.csv",
        "query": format!("SELECT COUNT(*) FROM read_csv('{ws}/data/secret.csv')")}]});
    a.s.put_file(
        &a.attacker,
        "artifacts/calculation_metadata.json",
        meta.to_string().into_bytes(),
    );
    let (status, body) = post("verify", json!({"output": ""}));
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["results"][0]["status"], "unverifiable", "{v:#}");
    assert!(v["results"][0]["actual"].is_null(), "{v:#}");
}

#[test]
fn read_another_session_through_proc_cwd() {
    let a = Arena::new();
    let pid = a.s.worker_pid(&a.canary);
    a.process_out_of_reach(&format!("import os\nprint(os.listdir('/proc/{pid}/cwd'))"));
}

#[test]
fn guess_workspace_names() {
    let a = Arena::new();
    let ws = a.workspace(&a.attacker);
    let canary_ws = a.workspace(&a.canary);
    let root = std::path::Path::new(&ws)
        .parent()
        .unwrap()
        .display()
        .to_string();
    let canary_name = std::path::Path::new(&canary_ws)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    // Either the root cannot be listed (0711), or (namespaces) it shows only our own workspace.
    let r = a.attack(&format!("import os\nprint(os.listdir('{root}'))"));
    if r["status"] == "ok" {
        assert!(
            !r["stdout"].as_str().unwrap().contains(&canary_name),
            "another workspace's name leaked: {r:#}"
        );
    } else {
        assert_eq!(r["error"]["type"], "PermissionError", "{r:#}");
    }
    a.failed_any(
        &format!("import os\nprint(os.listdir('{canary_ws}'))"),
        &["PermissionError", "FileNotFoundError"],
    );
}

// ---- credentials ----

#[test]
fn proc_1_environ() {
    let a = Arena::new();
    if a.in_pid_namespace() {
        // PID 1 is the worker itself (its own allow-listed environment); the host's init is
        // not even visible.
        a.prints(
            "import os\nprint(os.getpid(), os.readlink('/proc/1/exe') == os.readlink('/proc/self/exe'))",
            "1 True",
        );
    } else {
        a.failed(
            "print(open('/proc/1/environ','rb').read())",
            "PermissionError",
        );
    }
}

#[test]
fn server_environ() {
    let a = Arena::new();
    a.process_out_of_reach(&format!(
        "print(open('/proc/{}/environ','rb').read())",
        a.s.pid()
    ));
}

#[test]
fn aws_variables_from_the_environment() {
    let s = Server::start_with(
        &[],
        &[
            ("AWS_SECRET_ACCESS_KEY", "s3cr3t"),
            ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/x"),
        ],
    );
    let sid = s.create_session();
    let out = s.run_ok(&sid, "import os\nprint([k for k in os.environ if k.startswith('AWS')], b's3cr3t' in open('/proc/self/environ','rb').read())");
    assert_eq!(out.trim(), "[] False");
}

#[test]
fn connect_to_the_credentials_endpoint() {
    let a = Arena::new();
    a.failed(
        "import socket\nsocket.create_connection(('169.254.170.2', 80), timeout=2)",
        "PermissionError",
    );
}

#[test]
fn connect_to_the_servers_own_port() {
    let a = Arena::new();
    let port = a.s.base.rsplit(':').next().unwrap().to_string();
    a.failed(
        &format!("import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)"),
        "PermissionError",
    );
}

// ---- other processes ----

#[test]
fn ptrace_the_server() {
    let a = Arena::new();
    a.prints(&format!("import ctypes\nl = ctypes.CDLL(None, use_errno=True)\nprint(l.ptrace(16, {}, 0, 0), ctypes.get_errno())", a.s.pid()), "-1 1");
}

#[test]
fn process_vm_readv_another_worker() {
    let a = Arena::new();
    let pid = a.s.worker_pid(&a.canary);
    let code = format!(
        "import ctypes\nl = ctypes.CDLL(None, use_errno=True)\nbuf = ctypes.create_string_buffer(64)\n\
         class iov(ctypes.Structure): _fields_ = [('b', ctypes.c_void_p), ('n', ctypes.c_size_t)]\n\
         local = iov(ctypes.addressof(buf), 64); remote = iov(0x400000, 64)\n\
         print(l.process_vm_readv({pid}, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0), ctypes.get_errno())"
    );
    a.prints(&code, "-1 1");
}

#[test]
fn kill_the_server() {
    let a = Arena::new();
    a.process_out_of_reach(&format!("import os\nos.kill({}, 9)", a.s.pid()));
}

#[test]
fn kill_the_zygote() {
    let a = Arena::new();
    let z = a.s.get_json("/v1/info")["zygote"]["pid"].as_i64().unwrap();
    a.process_out_of_reach(&format!("import os\nos.kill({z}, 9)"));
}

#[test]
fn kill_another_sessions_worker() {
    let a = Arena::new();
    let pid = a.s.worker_pid(&a.canary);
    a.process_out_of_reach(&format!("import os\nos.kill({pid}, 9)"));
}

// ---- resources ----

#[test]
fn fork_bomb() {
    let a = Arena::new();
    let r = a.attack_with(json!({"code": "import os\nwhile True:\n    os.fork()", "timeout_s": 5}));
    assert_ne!(r["status"], "ok");
    if is_root() {
        let uid = a.s.session_uid(&a.attacker);
        let worker = a.s.worker_pid(&a.attacker);
        let clean = eventually(Duration::from_secs(5), || {
            processes_of_uid(uid).iter().all(|p| *p == worker)
        });
        let left: Vec<String> = processes_of_uid(uid)
            .iter()
            .map(|p| {
                format!(
                    "{p}: {}",
                    std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default()
                )
            })
            .collect();
        assert!(
            clean,
            "fork bomb survivors (worker {worker}): {left:#?}\nresult: {r:#}"
        );
    }
}

#[test]
fn thread_bomb() {
    let a = Arena::new();
    let r = a.attack_with(json!({"code": "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()", "timeout_s": 10}));
    assert_ne!(r["status"], "ok");
    assert_eq!(r["error"]["type"], "RuntimeError", "{r:#}");
}

#[test]
fn memory_bomb_numpy() {
    let a = Arena::with(&["--memory-limit-mb", "512"]);
    let r = a.attack("import numpy as np\nx = np.ones((1 << 32,), dtype=np.float64)");
    assert_eq!(r["status"], "oom", "{r:#}");
}

#[test]
fn memory_bomb_pure_python() {
    let a = Arena::with(&["--memory-limit-mb", "512"]);
    let r = a.attack("x = []\nwhile True:\n    x.append(' ' * (1 << 20))");
    assert_eq!(r["status"], "oom", "{r:#}");
    a.s.run_ok(&a.attacker, "del x\nprint('recovered')");
}

#[test]
fn disk_fill_one_big_file() {
    let a = Arena::with(&["--file-size-limit-mb", "64"]);
    let r = a.attack("with open('data/big.bin', 'wb') as f:\n    for _ in range(1024):\n        f.write(b'x' * (1 << 20))");
    assert_eq!(r["status"], "error");
    assert_eq!(r["error"]["type"], "OSError", "{r:#}");
    assert!(r["error"]["message"]
        .as_str()
        .unwrap()
        .contains("File too large"));
}

#[test]
fn disk_fill_many_small_files() {
    let a = Arena::with(&["--disk-quota-mb", "32"]);
    let r = a.attack_with(json!({"code": "i = 0\nwhile True:\n    open(f'data/f{i}.bin', 'wb').write(b'x' * 65536)\n    i += 1", "timeout_s": 60}));
    assert_eq!(r["status"], "disk_quota", "{r:#}");
    assert_eq!(r["error"]["type"], "DiskQuotaError");
    // the next execution is refused until files are deleted; uploads too
    assert_eq!(a.attack("print(1)")["status"], "disk_quota");
    let up =
        a.s.put_file(&a.attacker, "data/more.bin", vec![0u8; 1 << 20]);
    assert_eq!(up.status(), 413);
    assert_eq!(
        up.json::<Value>().unwrap()["error"]["code"],
        "disk_quota_exceeded"
    );
    a.s.run_ok(&a.canary, "open('data/ok.txt','w').write('unaffected')");
}

#[test]
fn output_flood() {
    let a = Arena::with(&["--output-cap-bytes", "4000000"]);
    let r = a.attack_with(json!({"code": "import sys\nfor _ in range(1024):\n    sys.stdout.write('x' * (1 << 20))", "timeout_s": 60}));
    assert_eq!(r["status"], "output_limit", "{}", r["error"]);
}

// ---- escaping the timeout ----

#[test]
fn infinite_loop_ignoring_sigint() {
    let a = Arena::new();
    let r = a.attack_with(json!({"code": "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass", "timeout_s": 1}));
    assert_eq!(r["status"], "timeout");
    assert_eq!(a.attack("print('back')")["stdout"], "back\n");
}

#[test]
fn setsid_double_fork_daemon() {
    let a = Arena::new();
    let code = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        signal = __import__('signal'); signal.signal(signal.SIGTERM, signal.SIG_IGN)\n        time.sleep(600)\n    os._exit(0)\ntime.sleep(600)";
    let r = a.attack_with(json!({"code": code, "timeout_s": 1}));
    assert_eq!(r["status"], "timeout");
    if is_root() {
        let uid = a.s.session_uid(&a.attacker);
        let worker = a.s.worker_pid(&a.attacker);
        assert!(
            eventually(Duration::from_secs(3), || processes_of_uid(uid)
                == vec![worker]),
            "the daemon survived"
        );
    }
}

// ---- paths ----

#[test]
fn symlink_to_etc_shadow_then_download() {
    let a = Arena::new();
    a.s.run_ok(
        &a.attacker,
        "import os\nos.symlink('/etc/shadow', 'artifacts/x')",
    );
    let r = a.s.get(&format!("/v1/sessions/{}/artifacts/x", a.attacker));
    assert_eq!(r.status(), 403);
    assert!(!r.text().unwrap().contains("root:"));
}

#[test]
fn symlink_to_another_sessions_file_then_download() {
    let a = Arena::new();
    a.s.run_ok(
        &a.canary,
        "open('artifacts/report.txt','w').write('canary report')",
    );
    let ws = a.workspace(&a.canary);
    a.s.run_ok(
        &a.attacker,
        &format!("import os\nos.symlink('{ws}/artifacts/report.txt', 'artifacts/stolen')"),
    );
    let r =
        a.s.get(&format!("/v1/sessions/{}/artifacts/stolen", a.attacker));
    assert_eq!(r.status(), 403);
}

#[test]
fn hard_links_to_foreign_files() {
    let a = Arena::new();
    a.s.run_ok(
        &a.canary,
        "open('artifacts/report.txt','w').write('canary report')",
    );
    let ws = a.workspace(&a.canary);
    assert_eq!(
        a.attack("import os\nos.link('/etc/shadow', 'artifacts/h')")["status"],
        "error"
    );
    assert_eq!(
        a.attack(&format!(
            "import os\nos.link('{ws}/artifacts/report.txt', 'artifacts/h2')"
        ))["status"],
        "error"
    );
}

#[test]
fn uploads_with_hostile_paths() {
    let a = Arena::new();
    for p in [
        "..%2F..%2Fetc%2Fcron.d%2Fx",
        "%2Fetc%2Fpasswd",
        "data%2F..%2F..%2Fx",
        "data/a%00b",
    ] {
        let r = a.s.put_file(&a.attacker, p, b"owned".to_vec());
        assert_eq!(r.status(), 400, "{p}");
    }
    let long = "d/".repeat(700) + "f";
    assert_eq!(
        a.s.put_file(&a.attacker, &long, b"x".to_vec()).status(),
        400
    );
    assert!(!std::path::Path::new("/etc/cron.d/x").exists());
}

#[test]
fn tmp_and_dev_shm_as_a_channel() {
    // With namespaces (bare Linux as root) each session has its own /tmp and /dev/shm; with
    // Landlock alone they are not writable; with neither (Fargate) they are a shared channel,
    // though not a leak of 0600 files: see docs/security.md.
    let a = Arena::new();
    let sb = a.s.session_info(&a.attacker)["sandbox"].clone();
    let private = sb["namespaces"].as_str().unwrap_or("").contains("mount");
    let landlock = sb["landlock"] == "fully_enforced";
    let w = a.attack("for p in ('/tmp/dynexec-channel', '/dev/shm/dynexec-channel'):\n    open(p, 'w').write('hi')");
    let r = a.s.exec(&a.canary, "import os\nprint(os.path.exists('/tmp/dynexec-channel'), os.path.exists('/dev/shm/dynexec-channel'))");
    if private {
        assert_eq!(w["status"], "ok", "a private /tmp is writable: {w:#}");
        assert_eq!(
            r["stdout"], "False False\n",
            "the canary saw the attacker's /tmp"
        );
    } else if landlock {
        assert_eq!(w["error"]["type"], "PermissionError", "{w:#}");
    } else {
        eprintln!(
            "no namespaces or Landlock here: /tmp is a shared channel ({})",
            r["stdout"]
        );
        let _ = std::fs::remove_file("/tmp/dynexec-channel");
        let _ = std::fs::remove_file("/dev/shm/dynexec-channel");
    }
    assert!(!std::path::Path::new("/tmp/dynexec-channel").exists() || !private);
}

#[test]
fn the_network_is_gone_not_just_filtered() {
    // With a private network namespace (opt-in) there is no interface past the filter either.
    let a = Arena::with(&["--private-network", "true"]);
    let ns = a.s.session_info(&a.attacker)["sandbox"]["namespaces"].clone();
    if !ns.as_str().unwrap_or("").starts_with("net,") {
        eprintln!("SKIPPED: no network namespaces on this host ({ns})");
        return;
    }
    let out = a.s.run_ok(
        &a.attacker,
        "print([l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:]])",
    );
    assert_eq!(out.trim(), "['lo']");
    a.failed(
        "import socket\nsocket.create_connection(('127.0.0.1', 80), timeout=1)",
        "PermissionError",
    );
}

#[test]
fn network_allow_opens_sockets_and_nothing_else() {
    let a = Arena::with(&["--network", "allow"]);
    a.s.run_ok(
        &a.attacker,
        "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_STREAM).close()",
    );
    // the other layers stay: still no ptrace, still no other workspaces
    a.prints("import ctypes\nl = ctypes.CDLL(None, use_errno=True)\nprint(l.ptrace(0, 0, 0, 0), ctypes.get_errno())", "-1 1");
}

#[test]
fn read_outside_the_allowed_filesystem() {
    let a = Arena::new();
    if a.s.session_info(&a.attacker)["sandbox"]["landlock"] != "fully_enforced" {
        eprintln!("SKIPPED: no Landlock on this host");
        return;
    }
    a.failed("import os\nprint(os.listdir('/root'))", "PermissionError");
    a.failed("import os\nprint(os.listdir('/home'))", "PermissionError");
}

// ---- the kernel ----

#[test]
fn changing_rlimits_back_up() {
    let a = Arena::new();
    a.prints(
        "import resource\nsoft, hard = resource.getrlimit(resource.RLIMIT_NPROC)\ntry:\n    resource.setrlimit(resource.RLIMIT_NPROC, (hard * 2, hard * 2))\n    print('raised')\nexcept (ValueError, PermissionError, OSError) as e:\n    print('denied')",
        "denied",
    );
}

/// One test per denied syscall family: the call must fail with EPERM inside the sandbox.
macro_rules! denied {
    ($name:ident, $nr:expr, $args:expr) => {
        #[cfg(target_arch = "x86_64")]
        #[test]
        fn $name() {
            let a = Arena::new();
            let code = format!("import ctypes\nl = ctypes.CDLL(None, use_errno=True)\nl.syscall.restype = ctypes.c_long\nprint(l.syscall({}, {}), ctypes.get_errno())", $nr, $args);
            a.prints(&code, "-1 1");
        }
    };
}

denied!(syscall_ptrace_traceme, 101, "0, 0, 0, 0");
denied!(syscall_kcmp, 312, "1, 1, 0, 0, 0");
denied!(syscall_pidfd_getfd, 438, "3, 0, 0");
denied!(syscall_bpf, 321, "0, 0, 0");
denied!(syscall_perf_event_open, 298, "0, 0, -1, -1, 0");
denied!(syscall_userfaultfd, 323, "0");
denied!(syscall_keyctl, 250, "0, 0, 0, 0, 0");
denied!(syscall_add_key, 248, "0, 0, 0, 0, 0");
denied!(syscall_io_uring_setup, 425, "1, 0");
denied!(syscall_unshare_user, 272, "0x10000000");
denied!(syscall_setns, 308, "0, 0");
denied!(syscall_mount, 165, "0, 0, 0, 0, 0");
denied!(syscall_pivot_root, 155, "0, 0");
denied!(syscall_chroot, 161, "b'/'");
denied!(syscall_init_module, 175, "0, 0, 0");
denied!(syscall_finit_module, 313, "0, 0, 0");
denied!(syscall_kexec_load, 246, "0, 0, 0, 0");
denied!(syscall_personality, 135, "0x0400000");
denied!(syscall_clone_newnet, 56, "0x40000000 | 17, 0, 0, 0, 0");
denied!(syscall_socket_netlink, 41, "16, 3, 0");
// x32 getpid: without the x32 filter a kernel lacking x32 says ENOSYS, and one with x32 runs
// it — and every x32 twin of a denied call (x32 ptrace) would run too.
denied!(syscall_x32_abi, "0x40000000 | 39", "");

#[test]
fn clone3_is_enosys_so_threads_still_work() {
    let a = Arena::new();
    a.prints("import ctypes\nl = ctypes.CDLL(None, use_errno=True)\nprint(l.syscall(435, 0, 0), ctypes.get_errno())", "-1 38");
    a.prints("import threading\nt = threading.Thread(target=print, args=('thread ok',))\nt.start(); t.join()", "thread ok");
}

// ---- with the PID namespace (the default where namespaces are usable) ----

#[test]
fn pid_namespace_hides_every_other_process() {
    let a = Arena::new();
    if !a.s.session_info(&a.attacker)["sandbox"]["namespaces"]
        .as_str()
        .unwrap_or("")
        .contains("pid")
    {
        eprintln!("SKIPPED: no PID namespaces on this host");
        return;
    }
    a.prints(
        "import os\nprint(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))",
        "[1]",
    );
    a.failed(
        &format!("import os\nos.kill({}, 9)", a.s.pid()),
        "ProcessLookupError",
    );
    a.failed(
        &format!("print(open('/proc/{}/environ','rb').read())", a.s.pid()),
        "FileNotFoundError",
    );
    // what is /proc/1 now is the worker itself: its environment holds nothing secret
    a.prints(
        "print(b'AWS_' in open('/proc/1/environ','rb').read())",
        "False",
    );
}

#[test]
fn pid_namespace_fork_bomb_and_daemon_die_with_the_timeout() {
    let a = Arena::new();
    let code = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(600)\n    os._exit(0)\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)";
    let r = a.attack_with(json!({"code": code, "timeout_s": 2}));
    assert_eq!(r["status"], "timeout", "{r:#}");
    if is_root() {
        let uid = a.s.session_uid(&a.attacker);
        let worker = a.s.worker_pid(&a.attacker);
        // Nothing but the worker survives. (Under load the worker itself may miss the
        // interrupt's grace and go with the rest; the next execution gets a new one.)
        let survivors = || -> Vec<i32> {
            processes_of_uid(uid)
                .into_iter()
                .filter(|p| *p != worker)
                .collect()
        };
        assert!(
            eventually(Duration::from_secs(5), || survivors().is_empty()),
            "survivors: {:?}",
            survivors()
        );
    }
    a.prints("print('alive')", "alive");
}

// ---- the production posture (issue #17): each runs in both postures (`make test` runs this
// suite on the host's full layers and again as Fargate gives it: no namespaces, Landlock or
// cgroups) ----

impl Arena {
    fn sandbox(&self) -> Value {
        self.s.session_info(&self.attacker)["sandbox"].clone()
    }

    /// Whether sessions here have no memory cgroup (then shared memory is denied instead).
    fn no_memory_cgroup(&self) -> bool {
        !strs(&self.sandbox()["layers"]).contains(&"cgroup")
    }

    /// Starts hostile code that keeps appending to `data/beat` after its execution returns,
    /// then checks from outside that nothing of it runs once the execution is over.
    fn assert_nothing_runs_after(&self, r: &Value) {
        assert_ne!(r["status"], "timeout", "{r:#}");
        let size = || {
            let resp = self
                .s
                .get(&format!("/v1/sessions/{}/files/data/beat", self.attacker));
            resp.bytes().map(|b| b.len()).unwrap_or(0)
        };
        std::thread::sleep(Duration::from_millis(400));
        let first = size();
        std::thread::sleep(Duration::from_millis(800));
        assert_eq!(
            size(),
            first,
            "code kept running after its execution returned"
        );
    }
}

#[test]
fn shell_code_is_never_a_process_argument() {
    let a = Arena::new();
    let (client, url) = (
        a.s.client.clone(),
        a.s.url(&format!("/v1/sessions/{}/executions", a.canary)),
    );
    let bg = std::thread::spawn(move || {
        client
            .post(url)
            .json(&json!({"code": "export T=SECRET_TOKEN_4711; sleep 2", "language": "shell"}))
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap()
    });
    let r = a.attack("import os, time\nfound = set()\nend = time.time() + 1.5\nwhile time.time() < end:\n    for p in os.listdir('/proc'):\n        try:\n            c = open(f'/proc/{p}/cmdline', 'rb').read()\n        except OSError:\n            continue\n        if b'SECRET_TOKEN' in c:\n            found.add(c)\nprint(sorted(found))");
    assert_eq!(r["stdout"], "[]\n", "{r:#}");
    assert_eq!(bg.join().unwrap()["status"], "ok");
}

#[test]
fn a_squatted_shared_name_is_no_channel() {
    let a = Arena::new();
    // The attacker plants a world-writable file (and a FIFO) under the names the canary uses.
    a.attack("import os\nfor p in ('/tmp/report.csv', '/dev/shm/report.csv'):\n    try:\n        open(p, 'w').close(); os.chmod(p, 0o666)\n    except OSError as e:\n        print(type(e).__name__)\ntry:\n    os.mkfifo('/tmp/pipe', 0o666)\nexcept OSError as e:\n    print(type(e).__name__)");
    // The canary's code hardcodes /tmp: with the directory locked it is refused outright.
    a.s.exec(
        &a.canary,
        "for p in ('/tmp/report.csv', '/dev/shm/report.csv'):\n    try:\n        open(p, 'w').write('canary numbers')\n    except OSError:\n        pass",
    );
    let stolen = a.attack("out = []\nfor p in ('/tmp/report.csv', '/dev/shm/report.csv'):\n    try:\n        out.append(open(p).read())\n    except OSError:\n        pass\nprint(out)");
    assert!(
        !stolen["stdout"]
            .as_str()
            .unwrap_or("")
            .contains("canary numbers"),
        "the attacker read what the canary wrote: {stolen:#}"
    );
    let where_tmp = a.sandbox()["shared_tmp"].clone();
    assert!(
        where_tmp == "private" || where_tmp == "locked",
        "sessions share /tmp: {where_tmp}"
    );
}

#[test]
fn temp_files_land_in_the_workspace() {
    let a = Arena::new();
    let out = a.s.run_ok(
        &a.attacker,
        "import os, tempfile\nws = os.getcwd()\nprint(all(os.environ[k].startswith(ws) for k in ('TMPDIR', 'TMP', 'TEMP')), tempfile.gettempdir().startswith(ws))",
    );
    assert_eq!(out.trim(), "True True");
}

#[test]
fn sysv_ipc_is_no_channel() {
    let a = Arena::new();
    let create = "import ctypes\nl = ctypes.CDLL(None, use_errno=True)\nprint(l.shmget(0x4711, 4096, 0o1000 | 0o666), ctypes.get_errno())";
    let made = a.attack(create);
    let private_ipc = a.sandbox()["namespaces"]
        .as_str()
        .unwrap_or("")
        .contains("ipc");
    if !private_ipc {
        assert_eq!(
            made["stdout"], "-1 1\n",
            "SysV IPC without an IPC namespace: {made:#}"
        );
    }
    let seen = a.s.run_ok(
        &a.canary,
        "import ctypes\nl = ctypes.CDLL(None, use_errno=True)\nprint(l.shmget(0x4711, 0, 0) >= 0)",
    );
    assert_eq!(
        seen.trim(),
        "False",
        "the canary attached the attacker's segment"
    );
}

#[test]
fn shared_memory_beyond_the_limit_fails_the_attacker_only() {
    let a = Arena::with(&["--session-memory-mb", "512"]);
    let code = "import mmap\nm = mmap.mmap(-1, 1 << 30)\nfor i in range(0, 1 << 30, 4096):\n    m[i] = 1\nprint('allocated')";
    let r = a.attack_with(json!({"code": code, "timeout_s": 60}));
    if a.no_memory_cgroup() {
        assert_eq!(r["error"]["type"], "PermissionError", "{r:#}");
        a.failed("import os\nos.memfd_create('x')", "PermissionError");
    } else {
        assert_eq!(r["status"], "oom", "{r:#}");
    }
}

#[test]
fn ptys_are_out_of_reach() {
    let a = Arena::new();
    a.failed("import os\nos.openpty()", "PermissionError");
}

#[test]
fn setsid_makes_no_new_scheduling_group() {
    let a = Arena::new();
    a.prints(
        "import os\npid = os.fork()\nif pid == 0:\n    os.setsid()\n    os._exit(0 if os.getsid(0) == os.getsid(os.getppid()) else 1)\nprint(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))",
        "0",
    );
    // and the usual way to ask for it keeps working
    a.prints(
        "import subprocess\nprint(subprocess.run(['true'], start_new_session=True).returncode)",
        "0",
    );
}

denied!(syscall_io_setup, 206, "1, ctypes.byref(ctypes.c_ulong(0))");
denied!(syscall_kill_everything_of_the_uid, 62, "-1, 0");
denied!(syscall_prctl_set_dumpable, 157, "4, 0, 0, 0, 0");

#[test]
fn a_patched_reaper_does_not_keep_a_child_alive() {
    let a = Arena::new();
    let r = a.attack("import sys, subprocess\nsys.modules['worker']._reap_children = lambda: False\nsubprocess.Popen(['/bin/sh', '-c', 'while :; do echo x >> data/beat; sleep 0.05; done'])");
    a.assert_nothing_runs_after(&r);
}

#[test]
fn a_daemon_thread_does_not_run_between_executions() {
    let a = Arena::new();
    let r = a.attack("import threading, time\ndef beat():\n    while True:\n        open('data/beat', 'a').write('x')\n        time.sleep(0.05)\nthreading.Thread(target=beat, daemon=True).start()\ntime.sleep(0.2)");
    a.assert_nothing_runs_after(&r);
    a.prints("print('next execution')", "next execution");
}

#[test]
fn a_forged_result_does_not_let_code_run_on() {
    let a = Arena::new();
    let r = a.attack_with(json!({"code": "import os, json, time\nos.write(3, json.dumps({'ev': 'result', 'id': 'forged', 'status': 'ok', 'error': None, 'exit_code': None}).encode() + b'\\n')\nwhile True:\n    open('data/beat', 'a').write('x')\n    time.sleep(0.05)", "timeout_s": 30}));
    a.assert_nothing_runs_after(&r);
}

#[test]
fn killing_the_uid_sweep_helper_does_not_drain_the_pool() {
    let a = Arena::new();
    // A process that kills every other process of its uid it can find, as fast as it can.
    let killer = "import os, subprocess, sys\ncode = '''\nimport os, signal\nme = os.getpid()\nwhile True:\n    try:\n        os.kill(-1, signal.SIGKILL)\n    except OSError:\n        pass\n    for p in os.listdir('/proc'):\n        if p.isdigit() and int(p) != me:\n            try:\n                if os.stat('/proc/' + p).st_uid == os.getuid():\n                    os.kill(int(p), signal.SIGKILL)\n            except OSError:\n                pass\n'''\nsubprocess.Popen([sys.executable, '-c', code])\nimport time; time.sleep(0.5)";
    let uid = is_root().then(|| a.s.session_uid(&a.attacker));
    a.attack_with(json!({"code": killer, "timeout_s": 5}));
    a.s.delete_session(&a.attacker);
    if let Some(uid) = uid {
        assert!(
            eventually(Duration::from_secs(5), || processes_of_uid(uid).is_empty()),
            "processes of the deleted session survive"
        );
    }
    assert!(
        !a.s.log_text().contains("stays out of the pool"),
        "the uid was lost to the pool:\n{}",
        a.s.log_text()
    );
    // the arena's drop runs its checks on a new attacker-less server state
    let fresh = a.s.create_session();
    a.s.run_ok(&fresh, "print('pool fine')");
}

#[test]
fn the_quota_counts_directories_links_and_sparse_files() {
    let a = Arena::with(&["--disk-quota-mb", "16", "--disk-inodes", "3000"]);
    // directories: 6000 of them exceed both the bytes (24 MiB of blocks) and the entries
    let r = a.attack_with(json!({"code": "import os\nfor i in range(6000):\n    os.mkdir(f'data/d{i}')", "timeout_s": 60}));
    let next = a.attack("print(1)");
    assert_eq!(next["status"], "disk_quota", "after {r:#}: {next:#}");
    a.s.run_ok(&a.canary, "print('unaffected')");
}

#[test]
fn sparse_files_count_for_their_size() {
    let a = Arena::with(&["--disk-quota-mb", "64"]);
    let r = a.attack("f = open('artifacts/sparse.bin', 'wb')\nf.truncate(1 << 30)\nf.close()");
    let next = a.attack("print(1)");
    assert_eq!(next["status"], "disk_quota", "after {r:#}: {next:#}");
}

#[test]
fn files_whose_names_are_not_utf8_count_for_the_quota() {
    let a = Arena::with(&["--disk-quota-mb", "64"]);
    // bytes names, a directory and a file: the walk once skipped every name it could not
    // read as UTF-8, and with it everything beneath
    let r = a.attack("import os\nos.mkdir(b'data/\\xfe')\nfor i in range(3):\n    with open(b'data/\\xfe/\\xff%d' % i, 'wb') as f:\n        f.truncate(30 << 20)");
    assert_eq!(r["status"], "ok", "{r:#}");
    let next = a.attack("print(1)");
    assert_eq!(next["status"], "disk_quota", "after {r:#}: {next:#}");
}

#[test]
fn the_quota_walk_stops_at_the_inode_quota() {
    let a = Arena::with(&["--disk-inodes", "2000"]);
    let r = a.attack_with(json!({"code": "import os, time\nfor i in range(2500):\n    os.symlink('x' * 4000, f'data/l{i}')\ntime.sleep(5)", "timeout_s": 60}));
    assert_eq!(r["status"], "disk_quota", "{r:#}");
}

#[test]
fn the_posture_is_what_it_claims() {
    let a = Arena::new();
    let sb = a.sandbox();
    if common::Posture::from_env() == common::Posture::Fargate {
        let layers = strs(&sb["layers"]);
        for absent in ["namespaces", "landlock", "cgroup"] {
            assert!(!layers.contains(&absent), "{absent} in {layers:?}");
        }
        for present in ["uid", "seccomp", "rlimits", "no_new_privs"] {
            assert!(layers.contains(&present), "{present} missing: {layers:?}");
        }
        assert_eq!(sb["shared_tmp"], "locked");
        let info = a.s.get_json("/v1/info");
        assert_eq!(info["sandbox"]["shared_dirs"]["locked"], true, "{info:#}");
    }
    // The data stack works under whatever the posture denies (BLAS, pandas, a chart, a
    // thread pool, a subprocess, a shell).
    let out = a.s.run_ok(
        &a.attacker,
        "import numpy as np, pandas as pd, matplotlib.pyplot as plt, subprocess
from concurrent.futures import ThreadPoolExecutor
m = np.random.rand(300, 300)
print(round(float((m @ np.linalg.inv(m)).trace())))
print(pd.DataFrame({'a': [1, 2, 3]}).describe().loc['mean', 'a'])
plt.plot([1, 2]); plt.show()
with ThreadPoolExecutor(2) as ex:
    print(sum(ex.map(abs, [-1, -2])))
print(subprocess.run(['echo', 'sub'], capture_output=True, text=True).stdout.strip())",
    );
    assert_eq!(out, "300\n2.0\n3\nsub\n");
    let r = a.attack_with(json!({"code": "echo shell; ls artifacts", "language": "shell"}));
    assert_eq!(r["stdout"], "shell\nfigure-1-1.png\n", "{r:#}");
}

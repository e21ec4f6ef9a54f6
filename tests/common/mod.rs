//! The shared integration-test harness: starts the real binary on a free port with a temp
//! workspace root and its own slice of the uid pool, and talks real HTTP to it.
#![allow(dead_code)]

pub mod api;
pub mod calcs;
pub mod container;
pub mod data;
pub mod haproxy;
pub mod raw_http;
pub mod s3;

pub use api::Api;
use reqwest::blocking::Client;
use serde_json::Value;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    /// HTTP to this server (`Server` derefs to it: `s.exec(…)`, `s.base`).
    pub api: Api,
    pub root: PathBuf,
    /// The embedded local object store's directory (`<store>/<bucket>/<key>`).
    pub store: PathBuf,
    _tmp: tempfile::TempDir,
    _uid_slot: File,
    pub uid_base: u32,
    pub log: PathBuf,
    /// Set: the harness stops reading the server's stdout (see `stall_log_reader`).
    log_stalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl std::ops::Deref for Server {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

const UID_SLOT_SIZE: u32 = 64;

/// A slice of uids no other concurrently running test server uses (an flock per slice), so
/// one server's uid sweeps can never touch another's sandboxes.
fn uid_slot() -> (File, u32) {
    let dir = PathBuf::from("/tmp/dynamic-executor-test-uids");
    std::fs::create_dir_all(&dir).unwrap();
    for slot in 0..500u32 {
        let f = File::create(dir.join(format!("{slot}.lock"))).unwrap();
        // SAFETY: flock on a descriptor this function owns; no pointers.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return (f, 40_000 + slot * UID_SLOT_SIZE);
        }
    }
    panic!("no free uid slot for a test server");
}

pub fn python() -> String {
    std::env::var("EXECUTOR_PYTHON").unwrap_or_else(|_| {
        if is_root() {
            "/opt/dynamic-executor/venv/bin/python3".into()
        } else {
            format!(
                "{}/.local/share/dynamic-executor/venv/bin/python3",
                std::env::var("HOME").unwrap()
            )
        }
    })
}

/// The worker loads the sandbox cdylib from beside the binary, and `cargo test` alone does
/// not rebuild that file: make sure it matches the sources before any server starts.
fn ensure_sandbox_lib() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_dynamic-executor"));
        let profile_dir = bin.parent().unwrap();
        let target_dir = profile_dir.parent().unwrap();
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "dynexec-sandbox",
            "--lib",
            "--target-dir",
        ])
        .arg(target_dir);
        if profile_dir.ends_with("release") {
            cmd.arg("--release");
        }
        let status = cmd
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo");
        assert!(status.success(), "building the sandbox library failed");
    });
}

/// Where a server runs: the host as it is (every layer this machine offers), or the posture
/// Fargate gives us — no namespaces, no cgroup delegation, no Landlock, so the shared
/// directories are locked instead — inside a private mount namespace whose shared directories
/// are fresh tmpfs mounts, with a private devpts and `/dev/ptmx`, so that neither the server's
/// lock nor an attack's fill ever touches the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posture {
    Host,
    Fargate,
}

/// The Fargate posture's flags (a test's own flags come after them and win).
pub const FARGATE_FLAGS: [&str; 8] = [
    "--landlock",
    "false",
    "--namespaces",
    "false",
    "--cgroups",
    "false",
    "--lock-shared-dirs",
    "true",
];

/// Mounts a private tmpfs on each shared directory and a private pty multiplexer, then execs
/// the server (`$0 "$@"`). What must stay reachable though it lives under one of those
/// directories (the repository, the build: a CI clone may sit in /tmp) is held on a private
/// tmpfs over /mnt meanwhile and bound back at its path (`DYNEXEC_KEEP`, `:`-separated).
const PRIVATE_MOUNTS: &str = r#"set -e
shared="/tmp /var/tmp /dev/shm /run/lock /dev/mqueue"
mount -t tmpfs -o mode=0700 tmpfs /mnt
i=0
for k in $(echo "$DYNEXEC_KEEP" | tr ':' ' '); do
  mkdir /mnt/$i && mount --bind "$k" /mnt/$i
  i=$((i+1))
done
for d in $shared; do
  [ -d "$d" ] && mount -t tmpfs -o mode=1777,size=64m,nosuid,nodev tmpfs "$d"
done
i=0
for k in $(echo "$DYNEXEC_KEEP" | tr ':' ' '); do
  for d in $shared; do
    case "$k" in "$d"/*) mkdir -p "$k" && mount --bind /mnt/$i "$k";; esac
  done
  i=$((i+1))
done
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
mknod -m 0666 /var/tmp/.ptmx c 5 2
mount --bind /var/tmp/.ptmx /dev/ptmx
unset DYNEXEC_KEEP
exec "$0" "$@""#;

impl Posture {
    /// The posture `DYNEXEC_TEST_POSTURE` asks for (`make test` runs the attack suite in both).
    pub fn from_env() -> Posture {
        match std::env::var("DYNEXEC_TEST_POSTURE").as_deref() {
            Ok("fargate") => Posture::Fargate,
            _ => Posture::Host,
        }
    }
}

/// Test state kept outside every directory the Fargate posture replaces.
fn state_dir(posture: Posture) -> PathBuf {
    match posture {
        Posture::Host => std::env::temp_dir(),
        Posture::Fargate => {
            let d = PathBuf::from("/var/lib/dynamic-executor-tests");
            std::fs::create_dir_all(&d).unwrap();
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o711)).unwrap();
            d
        }
    }
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[], &[])
    }

    /// Starts a server in the given posture and waits until the zygote is warm.
    pub fn start_in(posture: Posture, args: &[&str], env: &[(&str, &str)]) -> Server {
        let s = Server::spawn_posture(posture, args, env, None);
        s.wait_warm();
        s
    }

    /// Starts the binary with extra flags and environment (in the posture the environment asks
    /// for), and waits until the zygote is warm.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_in(Posture::from_env(), args, env)
    }

    /// Starts the binary and returns as soon as it listens (the zygote may still be warming).
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::spawn_in(args, env, None)
    }

    /// Starts the binary as a member of the cgroup at `cgroup` (it joins before it execs) and
    /// waits until the zygote is warm.
    pub fn start_in_cgroup(cgroup: &std::path::Path, args: &[&str]) -> Server {
        let s = Server::spawn_in(args, &[], Some(cgroup));
        s.wait_warm();
        s
    }

    fn spawn_in(args: &[&str], env: &[(&str, &str)], cgroup: Option<&std::path::Path>) -> Server {
        Server::spawn_posture(Posture::Host, args, env, cgroup)
    }

    fn spawn_posture(
        posture: Posture,
        args: &[&str],
        env: &[(&str, &str)],
        cgroup: Option<&std::path::Path>,
    ) -> Server {
        ensure_sandbox_lib();
        assert!(
            posture == Posture::Host || is_root(),
            "the Fargate posture needs root (a private mount namespace)"
        );
        let state = state_dir(posture);
        let tmp = tempfile::tempdir_in(&state).unwrap();
        // Session uids must be able to traverse down to their own workspace.
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        let root = tmp.path().join("ws");
        let store = tmp.path().join("store");
        let log = tmp.path().join("server.log");
        let (slot, uid_base) = uid_slot();
        let mpl = state.join("dynamic-executor-test-mplcache");
        let bin = env!("CARGO_BIN_EXE_dynamic-executor");
        let mut cmd = match posture {
            Posture::Host => Command::new(bin),
            Posture::Fargate => {
                let mut c = Command::new("unshare");
                let keep = [
                    env!("CARGO_MANIFEST_DIR").to_string(),
                    std::path::Path::new(bin)
                        .parent()
                        .unwrap()
                        .display()
                        .to_string(),
                ];
                c.args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
                    .arg(PRIVATE_MOUNTS)
                    .env("DYNEXEC_KEEP", keep.join(":"))
                    .arg(bin)
                    .args(FARGATE_FLAGS);
                c
            }
        };
        cmd.args(["--bind", "127.0.0.1:0", "--workspace-root"])
            .arg(&root)
            .args([
                "--uid-base",
                &uid_base.to_string(),
                "--uid-count",
                &UID_SLOT_SIZE.to_string(),
            ])
            .arg("--python")
            .arg(python())
            .arg("--mpl-cache-dir")
            .arg(&mpl)
            .arg("--store-dir")
            .arg(&store)
            // Dropping a server sends SIGTERM: a short drain unless a test asks for more.
            .args(["--drain-grace-s", "0.5", "--drain-timeout-s", "5"])
            .args(["--warm-workers", "1"])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = cgroup {
            let procs =
                std::ffi::CString::new(dir.join("cgroup.procs").into_os_string().into_vec())
                    .unwrap();
            // SAFETY: between fork and exec only raw syscalls on memory prepared before.
            unsafe {
                use std::os::unix::process::CommandExt;
                cmd.pre_exec(move || {
                    let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
                    if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    libc::close(fd);
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().expect("start dynamic-executor");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log_path = log.clone();
        let log_stalled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stalled = log_stalled.clone();
        std::thread::spawn(move || {
            let mut out = File::create(&log_path).unwrap();
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                use std::io::Write;
                while stalled.load(std::sync::atomic::Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                let _ = writeln!(out, "{line}");
                if !sent && line.contains("\"listening\"") {
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        let addr = v["fields"]["addr"].as_str().unwrap_or_default().to_string();
                        let _ = tx.send(addr);
                        sent = true;
                    }
                }
            }
        });
        let err_path = tmp.path().join("server.stderr");
        std::thread::spawn(move || {
            let mut out = File::create(&err_path).unwrap();
            let _ = std::io::copy(&mut BufReader::new(stderr), &mut out);
        });
        let err_file = tmp.path().join("server.stderr");
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "server did not report its address; stderr:\n{}",
                    std::fs::read_to_string(&err_file).unwrap_or_default()
                )
            });
        let client = Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap();
        Server {
            child,
            api: Api {
                base: format!("http://{addr}"),
                client,
            },
            root,
            store,
            _tmp: tmp,
            _uid_slot: slot,
            uid_base,
            log,
            log_stalled,
        }
    }

    /// Stops reading the server's stdout until the server is dropped, as a log collector that
    /// stopped draining would: the pipe fills and every write to it blocks.
    pub fn stall_log_reader(&self) {
        self.log_stalled
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether the server process has exited (and reaps it if so).
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits up to `timeout` for the server to exit; its exit code (a signal's death: -1).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn wait_warm(&self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if let Ok(r) = self.client.get(self.url("/health")).send() {
                if let Ok(v) = r.json::<Value>() {
                    if v["zygote"] == "warm" {
                        return;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("zygote did not become warm; log:\n{}", self.log_text());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.log_stalled
            .store(false, std::sync::atomic::Ordering::SeqCst);
        signal(self.child.id(), libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Live (non-zombie) processes whose real uid is `uid`.
pub fn processes_of_uid(uid: u32) -> Vec<i32> {
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let zombie = status
            .lines()
            .any(|l| l.starts_with("State:") && (l.contains("Z (") || l.contains("X (")));
        let ruid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|u| u.split_whitespace().next()?.parse::<u32>().ok());
        if !zombie && ruid == Some(uid) {
            out.push(pid);
        }
    }
    out
}

/// A program of the test tools' venv (installed by the test command).
pub fn tools_bin(name: &str) -> PathBuf {
    let tools = std::env::var("EXECUTOR_TOOLS_VENV").unwrap_or_else(|_| {
        format!(
            "{}/.cache/dynamic-executor/tools",
            std::env::var("HOME").unwrap()
        )
    });
    PathBuf::from(tools).join("bin").join(name)
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Sends a signal to a process the test started.
pub fn signal(pid: u32, sig: libc::c_int) {
    let sig = nix::sys::signal::Signal::try_from(sig).expect("a signal");
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
}

/// For tests that need uid isolation: true when the server will run as root, else says why the
/// test is skipped.
pub fn root_or_skip() -> bool {
    if !is_root() {
        eprintln!("SKIPPED: uid isolation needs the server to run as root");
    }
    is_root()
}

/// The strings of a JSON array (empty for anything else).
pub fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Waits (bounded) for a condition.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    f()
}

//! What this host lets a sandbox use, found by trying (each irreversible attempt in a forked
//! child). Must run in a single-threaded process: the server runs it in a helper process it
//! spawns (`dynamic-executor --sandbox-probe`), never in itself.

use crate::policy::NetworkPolicy;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Capabilities {
    pub kernel: String,
    /// `CapEff` of the probing process, hex.
    pub cap_eff: String,
    /// The seccomp mode the process already runs under (2 = a container runtime's filter).
    pub seccomp_mode: String,
    pub can_switch_uid: bool,
    pub seccomp: bool,
    pub landlock_abi: i64,
    pub max_user_namespaces: Option<i64>,
    pub user_namespace: bool,
    pub net_namespace: bool,
    pub pid_namespace: bool,
    pub mount_namespace: bool,
    pub cgroup_v2_writable: bool,
    pub cgroup_v2: String,
    pub close_range: bool,
    pub pidfd_open: bool,
}

impl Capabilities {
    /// Layer names as `EXECUTOR_SANDBOX_REQUIRE` spells them, and whether each is available.
    /// (`cgroup` is decided by the server's cgroup set-up, which also finds v1 controllers.)
    pub fn layers(&self) -> Vec<(&'static str, bool)> {
        vec![
            ("uid", self.can_switch_uid),
            ("seccomp", self.seccomp),
            ("landlock", self.landlock_abi > 0),
            ("userns", self.user_namespace),
            ("netns", self.net_namespace),
            ("pidns", self.pid_namespace),
            ("mountns", self.mount_namespace),
        ]
    }
}

/// Runs `f` in a forked child and reports whether it returned true.
fn in_child(f: impl FnOnce() -> bool) -> bool {
    // SAFETY: called from a single-threaded helper process.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return false;
    }
    if pid == 0 {
        let ok = f();
        // SAFETY: the child ends here without running the parent's exit handlers.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer; `pid` is our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

fn status_field(name: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
        .unwrap_or_default()
}

fn unshare_works(flags: libc::c_int) -> bool {
    let flags = nix::sched::CloneFlags::from_bits_truncate(flags);
    in_child(|| nix::sched::unshare(flags).is_ok())
}

/// The cgroup2 mount, its controllers, and whether we may create a child group there.
fn cgroup_v2() -> (bool, String) {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let Some(mount) = mountinfo.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        right
            .starts_with("cgroup2 ")
            .then(|| left.split_whitespace().nth(4).map(str::to_string))?
    }) else {
        return (false, "no cgroup2 mount".into());
    };
    let controllers =
        std::fs::read_to_string(format!("{mount}/cgroup.controllers")).unwrap_or_default();
    let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
    let probe_dir = format!("{mount}/dynexec-probe-{}", std::process::id());
    let writable = std::fs::create_dir(&probe_dir).is_ok();
    if writable {
        let _ = std::fs::remove_dir(&probe_dir);
    }
    let usable = writable && has("memory") && has("pids");
    (
        usable,
        format!(
            "{mount}: controllers [{}]{}",
            controllers.trim(),
            if writable {
                ", writable"
            } else {
                ", read-only"
            }
        ),
    )
}

pub fn probe(test_uid: u32) -> Capabilities {
    let (cgroup_v2_writable, cgroup_v2) = cgroup_v2();
    Capabilities {
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string(),
        cap_eff: status_field("CapEff:"),
        seccomp_mode: status_field("Seccomp:"),
        can_switch_uid: test_uid != 0
            && in_child(|| crate::identity::switch_to(test_uid, test_uid).is_ok()),
        seccomp: in_child(|| {
            crate::seccomp::install(NetworkPolicy::Deny, &Default::default()).is_ok()
                && nix::sys::socket::socket(
                    nix::sys::socket::AddressFamily::Inet,
                    nix::sys::socket::SockType::Stream,
                    nix::sys::socket::SockFlag::empty(),
                    None,
                )
                .err()
                    == Some(nix::errno::Errno::EPERM)
        }),
        landlock_abi: crate::landlock::abi_version(),
        max_user_namespaces: std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
            .ok()
            .and_then(|v| v.trim().parse().ok()),
        user_namespace: unshare_works(libc::CLONE_NEWUSER),
        net_namespace: unshare_works(libc::CLONE_NEWNET),
        pid_namespace: unshare_works(libc::CLONE_NEWPID),
        mount_namespace: unshare_works(libc::CLONE_NEWNS),
        cgroup_v2_writable,
        cgroup_v2,
        // SAFETY: closes no descriptor that exists (the range starts at u32::MAX - 1).
        close_range: unsafe { libc::syscall(libc::SYS_close_range, u32::MAX - 1, u32::MAX, 0) }
            == 0,
        pidfd_open: {
            // SAFETY: opens a pidfd of this process, closed right after; no pointers.
            let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
            if fd >= 0 {
                // SAFETY: `fd` was just opened here and is used by nothing else.
                unsafe { libc::close(fd as i32) };
            }
            fd >= 0
        },
    }
}

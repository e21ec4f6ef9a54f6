//! Namespaces, on hosts that allow them (root with CAP_SYS_ADMIN on bare Linux; never on
//! Fargate or under Docker's default profile): a private network namespace with nothing in it,
//! a private IPC namespace (SysV IPC and POSIX queues are no channel to other sessions), and a
//! private mount namespace whose `/tmp` and `/dev/shm` are the session's own tmpfs.
//!
//! Best effort: when unsharing fails the reason is reported and the other layers stand alone.

use crate::error::SandboxError;
use crate::policy::NamespacePolicy;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

fn err(e: nix::Error) -> SandboxError {
    SandboxError::msg("namespaces", e.desc())
}

fn mount_tmpfs(target: &str, size_mb: u64) -> Result<(), SandboxError> {
    let opts = format!("size={size_mb}m,mode=1777");
    mount(
        Some("tmpfs"),
        target,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(opts.as_str()),
    )
    .map_err(err)
}

/// The namespaces a policy asks for, as reports name them (`net,pid,ipc,mount,cgroup`).
pub fn kinds(p: &NamespacePolicy) -> String {
    let mut kinds = vec![];
    if p.private_network {
        kinds.push("net");
    }
    if p.private_pid {
        kinds.push("pid");
    }
    kinds.extend(["ipc", "mount", "cgroup"]);
    kinds.join(",")
}

/// Opens each path that a new tmpfs on `dir` would hide, to bind it back afterwards.
fn hidden_by(dir: &str, keep: &[String]) -> Vec<(String, std::fs::File)> {
    use std::os::unix::fs::OpenOptionsExt;
    keep.iter()
        .filter(|k| std::path::Path::new(k).starts_with(dir) && k.as_str() != dir)
        .filter_map(|k| {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
                .open(k)
                .ok()?;
            Some((k.clone(), f))
        })
        .collect()
}

/// Makes `path` (inside a fresh tmpfs) show the directory `fd` refers to again.
fn bind_back(path: &str, fd: &std::fs::File) -> Result<(), SandboxError> {
    use std::os::fd::AsRawFd;
    std::fs::create_dir_all(path)
        .map_err(|e| SandboxError::msg("namespaces", format!("{path}: {e}")))?;
    let src = format!("/proc/self/fd/{}", fd.as_raw_fd());
    mount(
        Some(src.as_str()),
        path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(err)
}

/// What entering the namespaces changed.
pub struct Entered {
    /// Paths that became private to the session (and so writable for it).
    pub private_paths: Vec<String>,
    /// The worker's pid in the host's namespace, when it moved into a PID namespace.
    pub host_pid: Option<i32>,
}

/// After `unshare(CLONE_NEWPID)` the *next child* is PID 1 of the new namespace, so the
/// worker forks once: the child goes on as the worker (PID 1: when it dies the kernel kills
/// everything in its namespace), the parent stays behind as root, holding no descriptor, and
/// only waits for it (it dies with the zygote, and the worker dies with it).
fn become_pid_one() -> Result<(), SandboxError> {
    // SAFETY: the worker is single-threaded here, so the child may do anything.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(SandboxError::os("namespaces"));
    }
    if child > 0 {
        // The relay: raw calls only (it must not touch the Python runtime it shares with the
        // worker, nor drop anything), then _exit with the worker's status.
        // SAFETY: syscalls on this process and its child; `status` and `p` (the pidfd's pollfd)
        // are valid pointers to locals for the calls that take them.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
            // Woken only by the worker's exit: a waitpid() waiter is also woken each time the
            // worker is stopped or continued (twice per execution, see the server's
            // `pause_and_check`), a pidfd polls readable only once it has exited. Without
            // pidfds (Linux < 5.3) the waitpid below does the waiting.
            let pidfd = libc::syscall(libc::SYS_pidfd_open, child, 0) as libc::c_int;
            if pidfd >= 0 {
                let mut p = libc::pollfd {
                    fd: pidfd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                while libc::poll(&mut p, 1, -1) < 0
                    && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
                {
                }
            }
            let mut status = 0;
            loop {
                let r = libc::waitpid(child, &mut status, 0);
                if r == child
                    || (r < 0
                        && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR))
                {
                    break;
                }
            }
            let code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            };
            libc::_exit(code);
        }
    }
    Ok(())
}

/// This process's pid as the host sees it (read before `/proc` is replaced).
pub fn host_pid() -> i32 {
    std::fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| nix::unistd::getpid().as_raw())
}

/// Unshares and sets up the namespaces; returns the paths that became private and writable.
/// Paths in `p.keep_visible` that live under `/tmp` or `/dev/shm` (a workspace root in `/tmp`,
/// say) are bound back into the private tmpfs at the same place.
pub fn enter(p: &NamespacePolicy) -> Result<Entered, SandboxError> {
    // A cgroup namespace rooted at the session's own group (joined just before): code reads
    // `0::/` in /proc/self/cgroup instead of the host's cgroup layout.
    let mut flags =
        CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWCGROUP;
    if p.private_network {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    if p.private_pid {
        flags |= CloneFlags::CLONE_NEWPID;
    }
    unshare(flags).map_err(err)?;
    // Nothing we mount may propagate back to the host's mount table.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(err)?;
    let mut private = vec![];
    for dir in ["/tmp", "/dev/shm"] {
        if std::path::Path::new(dir).is_dir() {
            let keep = hidden_by(dir, &p.keep_visible);
            mount_tmpfs(dir, p.tmp_size_mb)?;
            for (path, fd) in &keep {
                bind_back(path, fd)?;
            }
            private.push(dir.to_string());
        }
    }
    let mut host = None;
    if p.private_pid {
        become_pid_one()?;
        host = Some(host_pid());
        // A /proc of the new PID namespace: the session sees its own processes only.
        mount(
            Some("proc"),
            "/proc",
            Some("proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&str>,
        )
        .map_err(err)?;
    }
    Ok(Entered {
        private_paths: private,
        host_pid: host,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{ensure, in_child, root};

    fn ns(kind: &str) -> Result<std::path::PathBuf, String> {
        std::fs::read_link(format!("/proc/self/ns/{kind}")).map_err(|e| e.to_string())
    }

    #[test]
    fn private_ipc_mount_and_tmp() {
        if !root() {
            eprintln!("SKIPPED: namespaces need root");
            return;
        }
        let keep = tempfile::tempdir_in("/tmp").unwrap();
        std::fs::write(keep.path().join("kept"), "yes").unwrap();
        let keep_path = keep.path().display().to_string();
        in_child(|| {
            let (ipc, mnt) = (ns("ipc")?, ns("mnt")?);
            let p = NamespacePolicy {
                private_network: false,
                private_pid: false,
                tmp_size_mb: 8,
                keep_visible: vec![keep_path.clone()],
            };
            match enter(&p) {
                Ok(entered) => {
                    ensure(ns("ipc")? != ipc, "same IPC namespace")?;
                    ensure(ns("mnt")? != mnt, "same mount namespace")?;
                    ensure(
                        entered.private_paths.contains(&"/tmp".to_string()),
                        "no private /tmp",
                    )?;
                    let st = nix::sys::statfs::statfs("/tmp").map_err(|e| e.to_string())?;
                    ensure(
                        st.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC,
                        "/tmp is not a tmpfs",
                    )?;
                    let kept = std::fs::read_to_string(format!("{keep_path}/kept"))
                        .map_err(|e| format!("a kept path vanished: {e}"))?;
                    ensure(kept == "yes", "kept path content")?;
                    ensure(kinds(&p) == "ipc,mount,cgroup", "kinds")
                }
                // a host without namespaces (a container) reports why instead
                Err(e) => ensure(!e.detail.is_empty(), "an empty reason"),
            }
        });
    }
}

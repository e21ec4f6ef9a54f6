//! Namespaces, on hosts that allow them (root with CAP_SYS_ADMIN on bare Linux; never on
//! Fargate or under Docker's default profile): a private network namespace with nothing in it,
//! a private IPC namespace (SysV IPC and POSIX queues are no channel to other sessions), and a
//! private mount namespace whose `/tmp` and `/dev/shm` are the session's own tmpfs.
//!
//! Best effort: when unsharing fails the reason is reported and the other layers stand alone.

use crate::error::SandboxError;
use crate::policy::NamespacePolicy;
use std::ffi::CString;

fn c(s: &str) -> CString {
    CString::new(s).expect("static path")
}

fn mount_tmpfs(target: &str, size_mb: u64) -> Result<(), SandboxError> {
    let opts = c(&format!("size={size_mb}m,mode=1777"));
    let rc = unsafe {
        libc::mount(
            c("tmpfs").as_ptr(),
            c(target).as_ptr(),
            c("tmpfs").as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            opts.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(SandboxError::os("namespaces"));
    }
    Ok(())
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
    let src = c(&format!("/proc/self/fd/{}", fd.as_raw_fd()));
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            c(path).as_ptr(),
            std::ptr::null(),
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(SandboxError::os("namespaces"));
    }
    Ok(())
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
    // SAFETY: the worker is single-threaded here.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(SandboxError::os("namespaces"));
    }
    if child > 0 {
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
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
        .unwrap_or_else(|| unsafe { libc::getpid() })
}

/// Unshares and sets up the namespaces; returns the paths that became private and writable.
/// Paths in `p.keep_visible` that live under `/tmp` or `/dev/shm` (a workspace root in `/tmp`,
/// say) are bound back into the private tmpfs at the same place.
pub fn enter(p: &NamespacePolicy) -> Result<Entered, SandboxError> {
    // A cgroup namespace rooted at the session's own group (joined just before): code reads
    // `0::/` in /proc/self/cgroup instead of the host's cgroup layout.
    let mut flags = libc::CLONE_NEWNS | libc::CLONE_NEWIPC | libc::CLONE_NEWCGROUP;
    if p.private_network {
        flags |= libc::CLONE_NEWNET;
    }
    if p.private_pid {
        flags |= libc::CLONE_NEWPID;
    }
    if unsafe { libc::unshare(flags) } != 0 {
        return Err(SandboxError::os("namespaces"));
    }
    // Nothing we mount may propagate back to the host's mount table.
    let rc = unsafe {
        libc::mount(
            std::ptr::null(),
            c("/").as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(SandboxError::os("namespaces"));
    }
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
        let rc = unsafe {
            libc::mount(
                c("proc").as_ptr(),
                c("/proc").as_ptr(),
                c("proc").as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                std::ptr::null(),
            )
        };
        if rc != 0 {
            return Err(SandboxError::os("namespaces"));
        }
    }
    Ok(Entered {
        private_paths: private,
        host_pid: host,
    })
}

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

/// Unshares and sets up the namespaces; returns the paths that became private and writable.
/// Paths in `p.keep_visible` that live under `/tmp` or `/dev/shm` (a workspace root in `/tmp`,
/// say) are bound back into the private tmpfs at the same place.
pub fn enter(p: &NamespacePolicy) -> Result<Vec<String>, SandboxError> {
    let mut flags = libc::CLONE_NEWNS | libc::CLONE_NEWIPC;
    if p.private_network {
        flags |= libc::CLONE_NEWNET;
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
    Ok(private)
}

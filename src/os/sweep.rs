//! Killing every process of a session, including ones that called setsid() or double-forked.
//!
//! With a per-session uid (server running as root) this is race-free: a helper forked from
//! the server switches to exactly that uid and signals `-1`, which the kernel applies to every
//! process the uid may signal while holding the tasklist lock, so no fork can slip through.
//! Without uid isolation (a non-root dev run) it falls back to the worker's process tree.

use super::procs;
use std::time::{Duration, Instant};

/// Signals every process of `uid` (except the helper itself) with `sig`, from a forked helper
/// that runs as `uid`. Blocking: call it from a blocking thread.
///
/// While the helper runs as `uid`, the session's code could kill it (seccomp denies the
/// `kill(-1)` that would do it blindly, but a targeted kill is allowed). A helper that died
/// of a signal is not a failure to give up on: root needs no helper to signal one pid, so
/// every process of the uid that can be seen is signalled directly, and the helper tries
/// again; the uid is never left unfreeable.
pub fn signal_uid(uid: u32, sig: libc::c_int) -> std::io::Result<()> {
    for _ in 0..16 {
        match helper_signal(uid, sig)? {
            HelperEnd::Done => return Ok(()),
            HelperEnd::Killed(by) => {
                tracing::warn!(uid, signal = by, "the uid-sweep helper was killed; signalling the uid's processes directly, then again");
                for pid in procs::of_uid(uid) {
                    procs::signal(pid, sig);
                }
            }
        }
    }
    Err(std::io::Error::other(
        "the uid-sweep helper kept being killed",
    ))
}

enum HelperEnd {
    Done,
    Killed(i32),
}

fn helper_signal(uid: u32, sig: libc::c_int) -> std::io::Result<HelperEnd> {
    // SAFETY: after fork() in a multi-threaded process the child may only make
    // async-signal-safe calls: it makes raw syscalls and _exit()s, nothing else. Raw calls,
    // not nix or std: their wrappers may allocate or take locks another thread held at fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: see above; only raw syscalls and _exit in the child.
        unsafe {
            let u = uid as libc::c_long;
            let ok = libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) == 0
                && libc::syscall(libc::SYS_setresgid, u, u, u) == 0
                && libc::syscall(libc::SYS_setresuid, u, u, u) == 0;
            if !ok {
                libc::_exit(1);
            }
            libc::syscall(libc::SYS_kill, -1 as libc::c_long, sig as libc::c_long);
            libc::_exit(0);
        }
    }
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer; `pid` is our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(HelperEnd::Done)
    } else if libc::WIFSIGNALED(status) {
        Ok(HelperEnd::Killed(libc::WTERMSIG(status)))
    } else {
        Err(std::io::Error::other(format!(
            "uid sweep helper failed (status {status})"
        )))
    }
}

/// Kills every process of the session's uid except `keep` (the worker holding the session's
/// state): stop them all at once, kill everything stopped that is not `keep`, resume `keep`.
///
/// Repeated until a pass finds nothing: a fork that was in flight during the stop sweep
/// publishes its (already stopped) child just after it, so one pass can miss it.
pub fn kill_all_but(uid: u32, keep: i32) -> std::io::Result<()> {
    for _ in 0..50 {
        signal_uid(uid, libc::SIGSTOP)?;
        let others: Vec<i32> = procs::of_uid(uid)
            .into_iter()
            .filter(|p| *p != keep)
            .collect();
        if others.is_empty() {
            break;
        }
        for pid in others {
            procs::signal(pid, libc::SIGKILL);
        }
    }
    procs::signal(keep, libc::SIGCONT);
    Ok(())
}

/// Kills every process of the uid, then waits (bounded) until none is left alive.
pub fn kill_uid(uid: u32) -> std::io::Result<bool> {
    signal_uid(uid, libc::SIGKILL)?;
    Ok(wait_gone(|| procs::of_uid(uid).is_empty()))
}

/// Degraded mode: kill the process group and every descendant of `root`, except `keep`.
pub fn kill_tree(root: i32, keep: Option<i32>) {
    if keep != Some(root) {
        procs::signal(-root, libc::SIGKILL);
    }
    for pid in procs::tree(root) {
        if Some(pid) != keep {
            procs::signal(pid, libc::SIGKILL);
        }
    }
}

fn wait_gone(done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    done()
}

//! Signals and process relations: a process group of its own, no controlling terminal, the
//! subreaper, PDEATHSIG, no_new_privs.

use crate::error::SandboxError;
use nix::fcntl::OFlag;
use nix::sys::prctl;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, FromRawFd};

fn err(step: &'static str) -> impl Fn(nix::Error) -> SandboxError {
    move |e| SandboxError::msg(step, e.desc())
}

/// Unblocks every signal, leaves the zygote's process group (signals aimed at the zygote's
/// group miss the worker) and drops any controlling terminal (no `/dev/tty`, no TIOCSTI).
/// Handlers are left to the Python side, which re-installs its KeyboardInterrupt handler.
///
/// Not a new session (`setsid`), which would do both: where the kernel schedules by session
/// (autogroup: tasks in the root cpu cgroup, as on a bare host or a VM; not inside a
/// container's cgroup) every session is a scheduling group with a nice-0 share, inside which
/// SCHED_IDLE only ranks the worker against itself. Each busy session then held a core against
/// the server's threads for up to a scheduler tick (`/health` p99 3–4 ms with both cores busy,
/// ~0.4 ms without; docs/benchmarks.md). In the server's session, SCHED_IDLE ranks the worker
/// below the server's threads as it does in a container.
pub fn reset_mask_and_leave_group() -> Result<(), SandboxError> {
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None).map_err(err("signals"))?;
    nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0)).map_err(err("setpgid"))?;
    drop_controlling_terminal()
}

/// Detaches the process from its session's controlling terminal, if the session has one (a
/// server started from a shell). For a process that does not lead its session, TIOCNOTTY
/// clears only that process's terminal; the server keeps its own.
fn drop_controlling_terminal() -> Result<(), SandboxError> {
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let fd = match nix::fcntl::open("/dev/tty", flags, Mode::empty()) {
        Ok(fd) => fd,
        // ENXIO: no controlling terminal; ENOENT and the like: no /dev/tty to open either.
        Err(_) => return Ok(()),
    };
    // SAFETY: `fd` was just opened and is owned by nothing else; TIOCNOTTY takes no argument.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    // SAFETY: an ioctl without an argument on a descriptor we own (nix wraps no TIOCNOTTY).
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCNOTTY) };
    crate::error::check("no_controlling_terminal", rc as _)?;
    Ok(())
}

/// Makes the worker the reaper of everything it starts: orphans (a double-forked daemon) stay
/// its descendants.
pub fn become_subreaper() -> Result<(), SandboxError> {
    prctl::set_child_subreaper(true).map_err(err("subreaper"))
}

/// Arms PDEATHSIG (after the uid switch, which clears it) so the worker dies with the zygote.
pub fn die_with_parent(expected_parent: Option<i32>) -> Result<(), SandboxError> {
    prctl::set_pdeathsig(Signal::SIGKILL).map_err(err("pdeathsig"))?;
    if let Some(ppid) = expected_parent {
        if nix::unistd::getppid().as_raw() != ppid {
            return Err(SandboxError::msg(
                "pdeathsig",
                "zygote died before the worker was armed",
            ));
        }
    }
    Ok(())
}

/// No setuid binary or file capability can give sandboxed code privileges back.
pub fn no_new_privs() -> Result<(), SandboxError> {
    prctl::set_no_new_privs().map_err(err("no_new_privs"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{ensure, in_child};
    use std::os::fd::AsRawFd;

    #[test]
    fn own_group_subreaper_pdeathsig_no_new_privs_are_set() {
        in_child(|| {
            let session = nix::unistd::getsid(None).map_err(|e| e.to_string())?;
            reset_mask_and_leave_group().map_err(|e| e.to_string())?;
            let me = nix::unistd::getpid();
            ensure(
                nix::unistd::getpgid(None).map_err(|e| e.to_string())? == me,
                "not the leader of a process group of its own",
            )?;
            // the same session: no scheduling group of its own where there are autogroups
            ensure(
                nix::unistd::getsid(None).map_err(|e| e.to_string())? == session,
                "a new session",
            )?;
            let mut blocked = SigSet::empty();
            sigprocmask(SigmaskHow::SIG_BLOCK, None, Some(&mut blocked))
                .map_err(|e| e.to_string())?;
            ensure(!blocked.contains(Signal::SIGINT), "SIGINT still blocked")?;
            become_subreaper().map_err(|e| e.to_string())?;
            ensure(prctl::get_child_subreaper() == Ok(true), "not a subreaper")?;
            die_with_parent(Some(nix::unistd::getppid().as_raw())).map_err(|e| e.to_string())?;
            ensure(
                prctl::get_pdeathsig() == Ok(Some(Signal::SIGKILL)),
                "no PDEATHSIG",
            )?;
            no_new_privs().map_err(|e| e.to_string())?;
            ensure(prctl::get_no_new_privs() == Ok(true), "no no_new_privs")
        });
    }

    #[test]
    fn the_controlling_terminal_is_dropped_for_the_worker_only() {
        in_child(|| {
            // a session with a terminal, as a server started from a shell has
            nix::unistd::setsid().map_err(|e| e.to_string())?;
            let pty = nix::pty::openpty(None, None).map_err(|e| e.to_string())?;
            // SAFETY: TIOCSCTTY with argument 0 on a descriptor we own.
            let rc = unsafe { libc::ioctl(pty.slave.as_raw_fd(), libc::TIOCSCTTY, 0) };
            ensure(rc == 0, "could not make the pty the controlling terminal")?;
            let tty =
                || nix::fcntl::open("/dev/tty", OFlag::O_RDWR | OFlag::O_NOCTTY, Mode::empty());
            ensure(tty().is_ok(), "no /dev/tty before")?;
            in_child(|| {
                reset_mask_and_leave_group().map_err(|e| e.to_string())?;
                ensure(
                    tty() == Err(nix::errno::Errno::ENXIO),
                    format!("/dev/tty still opens: {:?}", tty()),
                )
            });
            // the session leader (the server) keeps its terminal
            ensure(tty().is_ok(), "the session lost its terminal")?;
            // closing the pty's master would hang the terminal up: SIGHUP to this leader
            std::mem::forget(pty);
            Ok(())
        });
    }

    #[test]
    fn a_dead_zygote_is_noticed() {
        in_child(|| {
            ensure(
                die_with_parent(Some(1)).is_err() || nix::unistd::getppid().as_raw() == 1,
                "a wrong parent was accepted",
            )
        });
    }
}

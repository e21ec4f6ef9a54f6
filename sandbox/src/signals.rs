//! Signals and process relations: a new session, the subreaper, PDEATHSIG, no_new_privs.

use crate::error::SandboxError;
use nix::sys::prctl;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};

fn err(step: &'static str) -> impl Fn(nix::Error) -> SandboxError {
    move |e| SandboxError::msg(step, e.desc())
}

/// Unblocks every signal and starts a new session: the worker leaves the zygote's process
/// group (so signals aimed at the zygote miss it) and any controlling terminal (TIOCSTI).
/// Handlers are left to the Python side, which re-installs its KeyboardInterrupt handler.
pub fn reset_mask_and_setsid() -> Result<(), SandboxError> {
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None).map_err(err("signals"))?;
    nix::unistd::setsid().map_err(err("setsid"))?;
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

    #[test]
    fn setsid_subreaper_pdeathsig_no_new_privs_are_set() {
        in_child(|| {
            reset_mask_and_setsid().map_err(|e| e.to_string())?;
            let me = nix::unistd::getpid();
            ensure(
                nix::unistd::getsid(None).map_err(|e| e.to_string())? == me,
                "not a session leader",
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
    fn a_dead_zygote_is_noticed() {
        in_child(|| {
            ensure(
                die_with_parent(Some(1)).is_err() || nix::unistd::getppid().as_raw() == 1,
                "a wrong parent was accepted",
            )
        });
    }
}

use crate::error::{check, SandboxError};

/// Unblocks every signal and starts a new session: the worker leaves the zygote's process
/// group (so signals aimed at the zygote miss it) and any controlling terminal (TIOCSTI).
/// Handlers are left to the Python side, which re-installs its KeyboardInterrupt handler.
pub fn reset_mask_and_setsid() -> Result<(), SandboxError> {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        check(
            "signals",
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) as _,
        )?;
        check("setsid", libc::setsid() as _)?;
    }
    Ok(())
}

/// Makes the worker the reaper of everything it starts: orphans (a double-forked daemon) stay
/// its descendants, so it can tell the server whether anything outlived an execution.
pub fn become_subreaper() -> Result<(), SandboxError> {
    check(
        "subreaper",
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } as _,
    )
}

/// Arms PDEATHSIG (after the uid switch, which clears it) so the worker dies with the zygote.
pub fn die_with_parent(expected_parent: Option<i32>) -> Result<(), SandboxError> {
    check(
        "pdeathsig",
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } as _,
    )?;
    if let Some(ppid) = expected_parent {
        if unsafe { libc::getppid() } != ppid {
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
    check(
        "no_new_privs",
        unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } as _,
    )
}

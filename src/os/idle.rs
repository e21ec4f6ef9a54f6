//! Work the server does because of what sandboxed code did (measuring a workspace, hashing
//! its files) runs at idle CPU priority: it never takes CPU from the server's own threads,
//! whatever the code made it cost.

/// Runs `f` on the calling (blocking-pool) thread under SCHED_IDLE, then restores the thread's
/// policy. Only as root: an unprivileged thread could not raise itself back afterwards.
pub fn run<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return f();
    }
    let idle = libc::sched_param { sched_priority: 0 };
    // SAFETY: `idle` is a valid sched_param; pid 0 is the calling thread.
    let lowered = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &idle) } == 0;
    let out = f();
    if lowered {
        let normal = libc::sched_param { sched_priority: 0 };
        // SAFETY: as above; root may return to SCHED_OTHER.
        unsafe { libc::sched_setscheduler(0, libc::SCHED_OTHER, &normal) };
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_idle_and_restores() {
        let policy = || {
            // SAFETY: sched_getscheduler has no memory preconditions.
            unsafe { libc::sched_getscheduler(0) }
        };
        let before = policy();
        let inside = super::run(policy);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            assert_eq!(inside, libc::SCHED_IDLE);
        }
        assert_eq!(policy(), before);
    }
}

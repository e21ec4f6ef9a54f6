//! Running a test in a forked child (youki's `test_in_child_process`): a layer changes the
//! process irreversibly (a uid switch, a seccomp filter), so each test applies it in a child
//! and reports back through the exit status.

/// Runs `f` in a forked child; panics in the parent with the child's error if it failed.
/// `f` returns `Err(why)` to fail; a panic in the child fails too.
pub fn in_child(f: impl FnOnce() -> Result<(), String>) {
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};
    // SAFETY: the test harness runs one test per process under nextest (and the closure only
    // makes syscalls and small allocations); the child never returns into the harness.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                Ok(Ok(())) => 0,
                Ok(Err(why)) => {
                    eprintln!("in the child: {why}");
                    1
                }
                Err(_) => 2,
            };
            // SAFETY: _exit skips the harness's atexit handlers and buffered output.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
            WaitStatus::Exited(_, 0) => {}
            other => panic!("the child failed: {other:?} (its stderr says why)"),
        },
    }
}

/// Whether the tests run as root (the identity and namespace layers need it).
pub fn root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Fails with `what` unless `cond`.
pub fn ensure(cond: bool, what: impl Into<String>) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what.into())
    }
}

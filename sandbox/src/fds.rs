use crate::error::{check, SandboxError};

/// Closes every fd at or above `first`: a forked worker must not keep the zygote's (or its
/// launcher's) descriptors, which could be logs, sockets or another session's channel.
pub fn close_all_above(first: u32) -> Result<(), SandboxError> {
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) };
    if rc == 0 {
        return Ok(());
    }
    // Old kernels or seccomp profiles without close_range: close one by one.
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    check(
        "fd_hygiene",
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } as libc::c_long,
    )?;
    let max = lim.rlim_cur.min(1 << 20) as i32;
    for fd in first as i32..max {
        unsafe { libc::close(fd) };
    }
    Ok(())
}

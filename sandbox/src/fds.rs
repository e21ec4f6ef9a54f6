//! Descriptor hygiene: nothing the zygote (or its launcher) held stays open in a worker.

use crate::error::{check, SandboxError};

/// Closes every fd at or above `first`: a forked worker must not keep the zygote's (or its
/// launcher's) descriptors, which could be logs, sockets or another session's channel.
pub fn close_all_above(first: u32) -> Result<(), SandboxError> {
    // nix has no close_range.
    // SAFETY: closes descriptors only; nothing in this process uses them after the fork.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) };
    if rc == 0 {
        return Ok(());
    }
    // Old kernels or seccomp profiles without close_range: close one by one.
    let (soft, _) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_err(|e| SandboxError::msg("fd_hygiene", e.desc()))?;
    let max = soft.min(1 << 20) as i32;
    for fd in first as i32..max {
        // SAFETY: as above; EBADF for descriptors that are not open is expected.
        unsafe { libc::close(fd) };
    }
    check("fd_hygiene", 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{ensure, in_child};
    use std::os::fd::{AsRawFd, IntoRawFd};

    #[test]
    fn descriptors_above_the_line_are_closed() {
        in_child(|| {
            let kept = std::fs::File::open("/dev/null").map_err(|e| e.to_string())?;
            let high = std::fs::File::open("/dev/null")
                .map_err(|e| e.to_string())?
                .into_raw_fd();
            let line = kept.as_raw_fd() as u32 + 1;
            ensure(high as u32 >= line, "fd order")?;
            close_all_above(line).map_err(|e| e.to_string())?;
            let open = |fd| nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_ok();
            ensure(
                open(kept.as_raw_fd()),
                "a descriptor below the line was closed",
            )?;
            ensure(!open(high), "a descriptor above the line stayed open")
        });
    }
}

use crate::error::{check, SandboxError};

/// Drops root for the session's own uid/gid with no supplementary groups. Switching every uid
/// to a non-zero one clears all capabilities; a uid per session is what makes the kill sweep,
/// RLIMIT_NPROC and file permissions per-session.
pub fn switch_to(uid: u32, gid: u32) -> Result<(), SandboxError> {
    if uid == 0 || gid == 0 {
        return Err(SandboxError::msg(
            "uid",
            "refusing to run a session as root",
        ));
    }
    unsafe {
        check("setgroups", libc::setgroups(0, std::ptr::null()) as _)?;
        check("setresgid", libc::setresgid(gid, gid, gid) as _)?;
        check("setresuid", libc::setresuid(uid, uid, uid) as _)?;
        let (mut r, mut e, mut s) = (0, 0, 0);
        libc::getresuid(&mut r, &mut e, &mut s);
        if r != uid || e != uid || s != uid {
            return Err(SandboxError::msg("setresuid", "uid did not change"));
        }
        // The uid change made us non-dumpable, which hands our own /proc/self files to root;
        // as the session's own uid they may be ours again (other uids still cannot read them,
        // and seccomp denies ptrace either way).
        check(
            "dumpable",
            libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) as _,
        )?;
    }
    Ok(())
}

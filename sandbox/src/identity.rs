//! The session's own uid and gid.

use crate::error::SandboxError;
use nix::unistd::{getresgid, getresuid, setgroups, setresgid, setresuid, Gid, Uid};

fn err(step: &'static str) -> impl Fn(nix::Error) -> SandboxError {
    move |e| SandboxError::msg(step, e.desc())
}

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
    let (u, g) = (Uid::from_raw(uid), Gid::from_raw(gid));
    setgroups(&[]).map_err(err("setgroups"))?;
    setresgid(g, g, g).map_err(err("setresgid"))?;
    setresuid(u, u, u).map_err(err("setresuid"))?;
    let r = getresuid().map_err(err("setresuid"))?;
    if [r.real, r.effective, r.saved] != [u, u, u] {
        return Err(SandboxError::msg("setresuid", "uid did not change"));
    }
    let r = getresgid().map_err(err("setresgid"))?;
    if [r.real, r.effective, r.saved] != [g, g, g] {
        return Err(SandboxError::msg("setresgid", "gid did not change"));
    }
    // The uid change made us non-dumpable, which hands our own /proc/self files to root; as
    // the session's own uid they may be ours again (other uids still cannot read them, and
    // seccomp denies ptrace either way).
    nix::sys::prctl::set_dumpable(true).map_err(err("dumpable"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{ensure, in_child, root};

    #[test]
    fn refuses_root() {
        assert!(switch_to(0, 5).is_err());
        assert!(switch_to(5, 0).is_err());
    }

    #[test]
    fn switches_every_uid_and_drops_groups() {
        if !root() {
            eprintln!("SKIPPED: switching uids needs root");
            return;
        }
        in_child(|| {
            switch_to(39_993, 39_994).map_err(|e| e.to_string())?;
            let r = getresuid().map_err(|e| e.to_string())?;
            ensure(r.saved == Uid::from_raw(39_993), "saved uid kept")?;
            ensure(
                getresgid().map_err(|e| e.to_string())?.real == Gid::from_raw(39_994),
                "gid",
            )?;
            ensure(
                nix::unistd::getgroups()
                    .map_err(|e| e.to_string())?
                    .is_empty(),
                "supplementary groups kept",
            )?;
            // no way back
            ensure(
                setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0)).is_err(),
                "became root again",
            )?;
            ensure(nix::sys::prctl::get_dumpable() == Ok(true), "not dumpable")
        });
    }
}

//! Joining the session's cgroups: the first layer, so every process the session ever starts is
//! counted against its aggregate limits and dies with `cgroup.kill`.
//!
//! The server creates the groups and writes their limits (it keeps the paths to kill and to
//! read OOM counters); the worker moves itself in, as root, before anything else happens, so no
//! window exists in which it or a child runs outside them. Once the uid is dropped the group's
//! files (root-owned, and outside Landlock's writable set) cannot be used to leave.

use crate::error::SandboxError;

/// Writes `0` (the writer itself) to each `cgroup.procs` file.
pub fn join(procs_files: &[String]) -> Result<(), SandboxError> {
    for file in procs_files {
        std::fs::write(file, b"0")
            .map_err(|e| SandboxError::msg("cgroup", format!("joining {file}: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_group_fails_the_step_by_name() {
        let e = join(&["/nonexistent/dynexec/cgroup.procs".into()]).unwrap_err();
        assert_eq!(e.step, "cgroup");
        assert!(e.detail.contains("/nonexistent/dynexec"), "{e}");
    }
}

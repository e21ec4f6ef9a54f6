//! Landlock, where the kernel has it: the filesystem becomes read-only system paths plus the
//! session's own workspace (so other workspaces, `/tmp` and `/dev/shm` are out of reach even
//! where permissions would allow), TCP is denied (ABI ≥ 4) unless the network is allowed, and
//! signals and abstract UNIX sockets stay inside the sandbox (ABI ≥ 6).
//!
//! Best effort: on a kernel (or container profile) without Landlock this reports
//! `not_enforced` and the other layers stand alone, as on Fargate.

use crate::error::SandboxError;
use crate::policy::{LandlockPolicy, NetworkPolicy};
use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

/// Newest ABI this code knows how to use; older kernels get the intersection.
const TARGET: ABI = ABI::V6;

fn err(e: impl std::fmt::Display) -> SandboxError {
    SandboxError::msg("landlock", e.to_string())
}

/// Builds the ruleset and opens every allowed path. Runs while still privileged, because after
/// the uid switch some of these paths (a venv under /root, say) may no longer be openable.
pub fn prepare(p: &LandlockPolicy, network: NetworkPolicy) -> Result<RulesetCreated, SandboxError> {
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(TARGET))
        .map_err(err)?;
    if network == NetworkPolicy::Deny {
        ruleset = ruleset
            .handle_access(AccessNet::from_all(TARGET))
            .map_err(err)?;
    }
    ruleset
        .scope(Scope::from_all(TARGET))
        .map_err(err)?
        .create()
        .map_err(err)?
        .add_rules(path_beneath_rules(
            &p.read_only,
            AccessFs::from_read(TARGET),
        ))
        .map_err(err)?
        .add_rules(path_beneath_rules(
            &p.read_write,
            AccessFs::from_all(TARGET),
        ))
        .map_err(err)
}

/// Enforces the prepared ruleset on this process; returns what the kernel enforced.
pub fn restrict(created: RulesetCreated) -> Result<&'static str, SandboxError> {
    let status = created.restrict_self().map_err(err)?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => "fully_enforced",
        RulesetStatus::PartiallyEnforced => "partially_enforced",
        RulesetStatus::NotEnforced => "not_enforced",
    })
}

/// The kernel's Landlock ABI version, 0 when Landlock is unavailable.
pub fn abi_version() -> i64 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_long = 1;
    // SAFETY: the documented version query: null attributes, size 0, no other effect.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    v.max(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{ensure, in_child};

    #[test]
    fn only_the_workspace_is_writable_and_only_listed_paths_readable() {
        if abi_version() == 0 {
            eprintln!("SKIPPED: no Landlock on this kernel");
            return;
        }
        let ws = tempfile::tempdir().unwrap();
        let ws_path = ws.path().display().to_string();
        in_child(|| {
            let p = LandlockPolicy {
                read_only: vec!["/usr".into(), "/proc".into()],
                read_write: vec![ws_path.clone()],
            };
            let created = prepare(&p, NetworkPolicy::Deny).map_err(|e| e.to_string())?;
            let status = restrict(created).map_err(|e| e.to_string())?;
            ensure(status != "not_enforced", status)?;
            std::fs::write(format!("{ws_path}/ok"), "x").map_err(|e| e.to_string())?;
            ensure(std::fs::read_dir("/usr").is_ok(), "/usr unreadable")?;
            ensure(
                std::fs::read_to_string("/etc/hostname").is_err(),
                "/etc readable",
            )?;
            ensure(
                std::fs::write("/usr/dynexec-landlock-test", "x").is_err(),
                "/usr writable",
            )
        });
    }
}

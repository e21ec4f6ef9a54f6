//! The startup capability probe: which sandbox layers this host offers, whether the configured
//! minimum (`EXECUTOR_SANDBOX_REQUIRE`) is met, and what to warn about.

use crate::config::Config;
use dynexec_sandbox::probe::Capabilities;
use serde::Serialize;

/// The probe's findings plus what the operator required.
#[derive(Debug, Clone, Serialize)]
pub struct SandboxReport {
    pub capabilities: Capabilities,
    pub cgroup: crate::cgroups::CgroupReport,
    pub required: Vec<String>,
    pub warnings: Vec<String>,
    /// Whether the shared directories were taken away from session uids (set after the probe).
    pub shared_dirs: crate::os::shared_dirs::LockReport,
}

/// Runs the probe in a helper process (`<this binary> --sandbox-probe <uid>`): forking the
/// multi-threaded server for it would be unsafe, and its attempts must not touch the server.
pub async fn probe(config: &Config) -> Capabilities {
    let exe = std::env::current_exe().unwrap_or_else(|_| "dynamic-executor".into());
    let out = tokio::process::Command::new(exe)
        .arg("--sandbox-probe")
        .arg(config.uid_base.to_string())
        .env_clear()
        .output()
        .await;
    match out {
        Ok(o) if o.status.success() => serde_json::from_slice(&o.stdout).unwrap_or_default(),
        Ok(o) => {
            tracing::error!(stderr = %String::from_utf8_lossy(&o.stderr), "sandbox probe failed");
            Capabilities::default()
        }
        Err(e) => {
            tracing::error!(error = %e, "could not run the sandbox probe");
            Capabilities::default()
        }
    }
}

/// Checks the requirement and collects warnings for every missing layer that matters.
pub fn assess(
    config: &Config,
    caps: Capabilities,
    cgroup: crate::cgroups::CgroupReport,
) -> Result<SandboxReport, String> {
    let mut available = caps.layers();
    available.push(("cgroup", cgroup.enabled));
    let known: Vec<&str> = available.iter().map(|(n, _)| *n).collect();
    let mut missing = vec![];
    for req in &config.sandbox_require {
        match available.iter().find(|(n, _)| n == req) {
            Some((_, true)) => {}
            Some((_, false)) => missing.push(req.clone()),
            None => {
                return Err(format!(
                    "EXECUTOR_SANDBOX_REQUIRE names `{req}`; known layers: {}",
                    known.join(",")
                ))
            }
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "required sandbox layers are not available on this host: {}",
            missing.join(",")
        ));
    }
    let mut warnings = vec![];
    if !caps.can_switch_uid {
        warnings.push("no uid isolation (not root): sessions share one uid; their files and processes are not isolated from each other".to_string());
    }
    if !caps.seccomp {
        warnings.push(
            "seccomp is unavailable: the network and dangerous syscalls are not filtered"
                .to_string(),
        );
    }
    if caps.landlock_abi == 0 || !config.landlock {
        warnings
            .push("no Landlock: filesystem isolation relies on uids and permissions".to_string());
    }
    if !cgroup.enabled {
        warnings.push(format!(
            "no per-session cgroup: memory and processes are limited per process and per uid, not per session ({})",
            cgroup.problems.join("; ")
        ));
    }
    Ok(SandboxReport {
        capabilities: caps,
        cgroup,
        required: config.sandbox_require.clone(),
        warnings,
        shared_dirs: Default::default(),
    })
}

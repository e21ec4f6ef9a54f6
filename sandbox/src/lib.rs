//! The sandbox a session's worker enters right after the zygote forks it.
//!
//! The policy is computed by the server and handed to the worker as JSON; the worker (Python)
//! loads this crate as a cdylib and calls [`ffi::dynexec_sandbox_enter`], so every security
//! decision and the order of the layers live here, in tested Rust. [`enter`] walks
//! [`Layer::ORDER`].

pub mod cgroup;
pub mod error;
pub mod fds;
pub mod ffi;
pub mod identity;
pub mod landlock;
pub mod layers;
pub mod namespaces;
pub mod policy;
pub mod probe;
pub mod rlimits;
pub mod seccomp;
pub mod signals;
#[cfg(test)]
mod test_util;

pub use error::SandboxError;
pub use layers::Layer;
pub use policy::{
    LandlockPolicy, NamespacePolicy, NetworkPolicy, Policy, Report, RlimitPolicy, SeccompExtras,
};

/// Applies every layer of `policy` to the calling (single-threaded, freshly forked) process, in
/// [`Layer::ORDER`]. Each step fails with an error naming the step; the caller must exit on
/// error rather than run user code half-sandboxed. A layer the policy leaves out, or the host
/// cannot give (namespaces, Landlock), is missing from the report's `layers`.
pub fn enter(policy: &Policy) -> Result<Report, SandboxError> {
    let mut entering = Entering {
        policy,
        report: Report {
            pid: nix::unistd::getpid().as_raw(),
            landlock: "off".into(),
            namespaces: "off".into(),
            ..Report::default()
        },
        private_paths: vec![],
        in_pid_ns: false,
        ruleset: None,
    };
    for layer in Layer::ORDER {
        if entering.apply(layer)? {
            entering.report.layers.push(layer.name().into());
        }
    }
    entering.report.uid = nix::unistd::getuid().as_raw();
    Ok(entering.report)
}

/// What entering has done so far: later layers depend on earlier ones (Landlock allows the
/// private /tmp the namespaces made; PDEATHSIG watches the relay inside a PID namespace).
struct Entering<'a> {
    policy: &'a Policy,
    report: Report,
    private_paths: Vec<String>,
    in_pid_ns: bool,
    ruleset: Option<::landlock::RulesetCreated>,
}

impl Entering<'_> {
    /// Applies one layer; false when it was skipped (not asked for, or not available).
    fn apply(&mut self, layer: Layer) -> Result<bool, SandboxError> {
        let p = self.policy;
        match layer {
            Layer::Cgroup => {
                if p.cgroup_procs.is_empty() {
                    return Ok(false);
                }
                cgroup::join(&p.cgroup_procs)?;
            }
            Layer::FdHygiene => fds::close_all_above(p.keep_fds_below)?,
            Layer::Setsid => {
                signals::reset_mask_and_setsid()?;
                signals::become_subreaper()?;
            }
            Layer::Rlimits => rlimits::apply(&p.rlimits, &mut self.report)?,
            Layer::Namespaces => {
                let Some(ns) = &p.namespaces else {
                    return Ok(false);
                };
                match namespaces::enter(ns) {
                    Ok(entered) => {
                        self.private_paths = entered.private_paths;
                        if let Some(pid) = entered.host_pid {
                            self.report.pid = pid;
                            self.in_pid_ns = true;
                        }
                        self.report.namespaces = namespaces::kinds(ns);
                    }
                    Err(e) => {
                        self.report.namespaces = format!("unavailable: {}", e.detail);
                        return Ok(false);
                    }
                }
            }
            Layer::Uid => {
                // Built while still privileged: after the switch some allowed paths (a venv
                // under /root, say) may no longer be openable. A private /tmp (namespaces) is
                // the session's own: writable under Landlock too.
                if let Some(ll) = &p.landlock {
                    let mut ll = ll.clone();
                    ll.read_write.extend(self.private_paths.iter().cloned());
                    self.ruleset = Some(landlock::prepare(&ll, p.network)?);
                }
                let Some(uid) = p.uid else {
                    return Ok(false);
                };
                identity::switch_to(uid, p.gid.unwrap_or(uid))?;
            }
            Layer::Pdeathsig => {
                // In a PID namespace our parent is the waiting relay, invisible from here.
                let parent = if self.in_pid_ns {
                    None
                } else {
                    p.expected_parent
                };
                signals::die_with_parent(parent)?;
            }
            Layer::NoNewPrivs => signals::no_new_privs()?,
            Layer::Landlock => {
                let Some(ruleset) = self.ruleset.take() else {
                    return Ok(false);
                };
                let status = landlock::restrict(ruleset)?;
                self.report.landlock = status.to_string();
                if status == "not_enforced" {
                    return Ok(false);
                }
            }
            Layer::Seccomp => {
                let mut extras = p.seccomp_extras;
                // Inside an IPC namespace SysV objects are the session's own and die with it.
                if self.report.namespaces.contains("ipc") {
                    extras.deny_sysv_ipc = false;
                }
                seccomp::install(p.network, &extras)?;
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{ensure, in_child, root};

    #[test]
    fn enter_applies_the_layers_in_order() {
        let ws = tempfile::tempdir().unwrap();
        let uid = root().then_some(39_995u32);
        if let Some(u) = uid {
            std::os::unix::fs::chown(ws.path(), Some(u), Some(u)).unwrap();
        }
        let ws_path = ws.path().display().to_string();
        in_child(|| {
            let policy = Policy {
                keep_fds_below: 3,
                rlimits: RlimitPolicy {
                    cpu_seconds: 60,
                    memory_bytes: 512 << 20,
                    file_size_bytes: 1 << 30,
                    open_files: 256,
                    processes: 4096,
                    nice: 0,
                    sched_idle: false,
                },
                uid,
                gid: uid,
                network: NetworkPolicy::Deny,
                expected_parent: Some(nix::unistd::getppid().as_raw()),
                landlock: Some(LandlockPolicy {
                    read_only: vec!["/usr".into(), "/proc".into()],
                    read_write: vec![ws_path.clone()],
                }),
                namespaces: None,
                cgroup_procs: vec![],
                seccomp_extras: SeccompExtras::default(),
            };
            let report = enter(&policy).map_err(|e| e.to_string())?;
            // what was applied, in the one order
            let order: Vec<&str> = Layer::ORDER.iter().map(|l| l.name()).collect();
            let positions: Vec<usize> = report
                .layers
                .iter()
                .map(|l| order.iter().position(|o| o == l).unwrap_or(usize::MAX))
                .collect();
            ensure(
                positions.windows(2).all(|w| w[0] < w[1]),
                format!("{:?}", report.layers),
            )?;
            for must in [
                "fd_hygiene",
                "setsid",
                "rlimits",
                "pdeathsig",
                "no_new_privs",
                "seccomp",
            ] {
                ensure(
                    report.layers.iter().any(|l| l == must),
                    format!("{must} missing"),
                )?;
            }
            ensure(
                !report
                    .layers
                    .iter()
                    .any(|l| l == "cgroup" || l == "namespaces"),
                "a layer not asked for",
            )?;
            ensure(
                report.layers.iter().any(|l| l == "uid") == uid.is_some(),
                "uid layer",
            )?;
            ensure(report.uid == nix::unistd::getuid().as_raw(), "report uid")?;
            ensure(report.namespaces == "off", "namespaces")
        });
    }
}

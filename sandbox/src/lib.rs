//! The sandbox a session's worker enters right after the zygote forks it.
//!
//! The policy is computed by the server and handed to the worker as JSON; the worker (Python)
//! loads this crate as a cdylib and calls [`ffi::dynexec_sandbox_enter`], so every security
//! decision and the order of the layers live here, in tested Rust. [`enter`] is that order.

pub mod cgroup;
pub mod error;
pub mod fds;
pub mod ffi;
pub mod identity;
pub mod landlock;
pub mod namespaces;
pub mod policy;
pub mod probe;
pub mod rlimits;
pub mod seccomp;
pub mod signals;

pub use error::SandboxError;
pub use policy::{
    LandlockPolicy, NamespacePolicy, NetworkPolicy, Policy, Report, RlimitPolicy, SeccompExtras,
};

/// Applies every layer of `policy` to the calling (single-threaded, freshly forked) process, in
/// the order the architecture fixes. Each step fails with an error naming the step; the caller
/// must exit on error rather than run user code half-sandboxed.
pub fn enter(policy: &Policy) -> Result<Report, SandboxError> {
    let mut report = Report {
        pid: unsafe { libc::getpid() },
        ..Report::default()
    };
    if !policy.cgroup_procs.is_empty() {
        cgroup::join(&policy.cgroup_procs)?;
        report.layers.push("cgroup".into());
    }
    fds::close_all_above(policy.keep_fds_below)?;
    report.layers.push("fd_hygiene".into());
    signals::reset_mask_and_setsid()?;
    signals::become_subreaper()?;
    report.layers.push("setsid".into());
    rlimits::apply(&policy.rlimits, &mut report)?;
    report.layers.push("rlimits".into());
    let mut private_paths = vec![];
    let mut in_pid_ns = false;
    report.namespaces = match &policy.namespaces {
        None => "off".into(),
        Some(ns) => match namespaces::enter(ns) {
            Ok(entered) => {
                private_paths = entered.private_paths;
                if let Some(pid) = entered.host_pid {
                    report.pid = pid;
                    in_pid_ns = true;
                }
                report.layers.push("namespaces".into());
                let mut kinds = vec![];
                if ns.private_network {
                    kinds.push("net");
                }
                if ns.private_pid {
                    kinds.push("pid");
                }
                kinds.extend(["ipc", "mount", "cgroup"]);
                kinds.join(",")
            }
            Err(e) => format!("unavailable: {}", e.detail),
        },
    };
    let ruleset = match &policy.landlock {
        Some(ll) => {
            // A private /tmp (namespaces) is the session's own: writable under Landlock too.
            let mut ll = ll.clone();
            ll.read_write.extend(private_paths);
            Some(landlock::prepare(&ll, policy.network)?)
        }
        None => None,
    };
    if let Some(uid) = policy.uid {
        identity::switch_to(uid, policy.gid.unwrap_or(uid))?;
        report.layers.push("uid".into());
    }
    // In a PID namespace our parent is the waiting outer process, invisible from here.
    signals::die_with_parent(if in_pid_ns {
        None
    } else {
        policy.expected_parent
    })?;
    report.layers.push("pdeathsig".into());
    signals::no_new_privs()?;
    report.layers.push("no_new_privs".into());
    report.landlock = match ruleset {
        Some(r) => landlock::restrict(r)?.to_string(),
        None => "off".to_string(),
    };
    if report.landlock != "not_enforced" && report.landlock != "off" {
        report.layers.push("landlock".into());
    }
    let mut extras = policy.seccomp_extras;
    // Inside an IPC namespace SysV objects are the session's own and die with it.
    if report.namespaces.contains("ipc") {
        extras.deny_sysv_ipc = false;
    }
    seccomp::install(policy.network, &extras)?;
    report.layers.push("seccomp".into());
    report.uid = unsafe { libc::getuid() };
    Ok(report)
}

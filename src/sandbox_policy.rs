//! The sandbox policy a session's worker enters, derived from the config.

use crate::cgroups::SessionCgroup;
use crate::config::Config;
use crate::host::Host;
use dynexec_sandbox::{
    LandlockPolicy, Layer, NamespacePolicy, NetworkPolicy, Policy, Report, RlimitPolicy,
    SeccompExtras,
};
use std::path::Path;

/// What sandboxed code may read: the system, the Python installation, the fonts and caches it
/// needs. Everything else (other workspaces, `/tmp`, `/dev/shm`, `/root`, `/home`) is denied.
fn landlock(config: &Config, workspace: &Path) -> LandlockPolicy {
    let mut read_only: Vec<String> = [
        "/usr",
        "/lib",
        "/lib64",
        "/lib32",
        "/bin",
        "/sbin",
        "/etc",
        "/proc",
        "/sys",
        "/var/cache/fontconfig",
        "/dev/urandom",
        "/dev/random",
        "/dev/zero",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // The venv (python → venv/bin/python3) and the interpreter it points to.
    if let Some(venv) = config.python.parent().and_then(Path::parent) {
        read_only.push(venv.display().to_string());
    }
    if let Ok(real) = std::fs::canonicalize(&config.python) {
        if let Some(prefix) = real.parent().and_then(Path::parent) {
            read_only.push(prefix.display().to_string());
        }
    }
    read_only.push(config.sandbox_dir().display().to_string());
    read_only.push(config.mpl_cache_dir.display().to_string());
    read_only.extend(config.landlock_read.iter().cloned());
    LandlockPolicy {
        read_only,
        read_write: vec![workspace.display().to_string(), "/dev/null".into()],
    }
}

/// The policy of one session's worker. `zygote_pid`: the worker dies if its zygote already
/// has (PDEATHSIG is armed after the fork).
pub fn for_session(
    config: &Config,
    host: &Host,
    uid: Option<u32>,
    cgroup: Option<&SessionCgroup>,
    zygote_pid: Option<i32>,
    workspace: &Path,
) -> Policy {
    let memory_bounded = cgroup.is_some_and(|c| c.memory_max().is_some());
    Policy {
        // 0-2 stdio, 3 the session channel.
        keep_fds_below: 4,
        rlimits: RlimitPolicy {
            cpu_seconds: config.cpu_limit_s,
            memory_bytes: config.memory_limit_mb << 20,
            file_size_bytes: config.file_size_limit_mb << 20,
            open_files: config.open_files_limit,
            processes: config.nproc_limit,
            nice: config.worker_nice,
            sched_idle: config.worker_sched_idle,
        },
        uid,
        gid: uid,
        network: config.network.into(),
        expected_parent: zygote_pid,
        landlock: config.landlock.then(|| landlock(config, workspace)),
        namespaces: namespaces(config, host, workspace),
        cgroup_procs: cgroup.map(|c| c.procs_files()).unwrap_or_default(),
        seccomp_extras: SeccompExtras {
            // The worker lifts this itself when it got an IPC namespace.
            deny_sysv_ipc: true,
            deny_shared_memory: !memory_bounded,
        },
    }
}

/// The policy of an analytics helper (`dynamic-executor-analytics`) of the session: the
/// worker's layers and limits, with stdio the only descriptors, no PID namespace of its own
/// (one short-lived process the server waits for), the server as the parent it dies with, and
/// a configured chart font readable.
pub fn for_helper(
    config: &Config,
    host: &Host,
    uid: Option<u32>,
    cgroup: Option<&SessionCgroup>,
    workspace: &Path,
) -> Policy {
    let mut p = for_session(config, host, uid, cgroup, None, workspace);
    p.keep_fds_below = 3;
    p.expected_parent = Some(std::process::id() as i32);
    if let Some(ns) = &mut p.namespaces {
        ns.private_pid = false;
    }
    if let (Some(ll), Some(font)) = (&mut p.landlock, &config.chart_font) {
        ll.read_only.push(font.display().to_string());
    }
    p
}

/// Namespaces are used where the probe found them and we can mount (root, before the uid
/// switch).
pub fn namespaces_usable(config: &Config, host: &Host) -> bool {
    config.namespaces && host.uid_isolation && host.caps.mount_namespace
}

/// Landlock is attempted whenever enabled; it counts as a layer where the kernel has it.
fn landlock_usable(config: &Config, host: &Host) -> bool {
    config.landlock && host.caps.landlock_abi > 0
}

/// The layers a session's worker enters on this host, in the order it enters them (what
/// `/v1/info` shows; each session reports what it actually got).
pub fn planned_layers(config: &Config, host: &Host) -> Vec<&'static str> {
    Layer::ORDER
        .into_iter()
        .filter(|l| planned(config, host, *l))
        .map(Layer::name)
        .collect()
}

fn planned(config: &Config, host: &Host, layer: Layer) -> bool {
    match layer {
        Layer::Cgroup => host.uid_isolation && host.cgroups.is_some(),
        Layer::Namespaces => namespaces_usable(config, host),
        Layer::Uid => host.uid_isolation,
        Layer::Landlock => landlock_usable(config, host),
        _ => true,
    }
}

/// What a session misses of the optional layers, as warnings (the session is `degraded`
/// when there is any). `cgroup_limits`: its groups bound both memory and processes (a
/// kill-only v2 group is not the cgroup layer); `shared_dirs_locked`: without a mount
/// namespace, the shared directories are still no meeting place.
pub fn session_warnings(
    report: &Report,
    cgroup_limits: bool,
    shared_dirs_locked: bool,
) -> Vec<&'static str> {
    let has = |l: Layer| report.layers.iter().any(|x| x == l.name());
    Layer::ORDER
        .into_iter()
        .filter(|l| l.optional())
        .filter_map(|l| match l {
            Layer::Uid if !has(l) => {
                Some("no uid isolation: this session shares a uid with the others")
            }
            Layer::Landlock if !has(l) => {
                Some("no Landlock: filesystem isolation relies on uids and permissions")
            }
            Layer::Namespaces if !has(l) && !shared_dirs_locked => Some(
                "no private namespaces and shared directories not locked: /tmp and /dev/shm are the host's (Landlock, when enforced, keeps them out of reach)",
            ),
            Layer::Cgroup if !(has(l) && cgroup_limits) => Some(
                "no cgroup: memory and processes are limited per process and per uid, not for the session as a whole",
            ),
            _ => None,
        })
        .collect()
}

fn namespaces(config: &Config, host: &Host, workspace: &Path) -> Option<NamespacePolicy> {
    let caps = &host.caps;
    namespaces_usable(config, host).then(|| NamespacePolicy {
        private_network: config.private_network
            && NetworkPolicy::from(config.network) == NetworkPolicy::Deny,
        private_pid: config.private_pid && caps.pid_namespace,
        tmp_size_mb: config.tmp_size_mb,
        keep_visible: landlock(config, workspace)
            .read_only
            .into_iter()
            .chain([workspace.display().to_string()])
            .collect(),
    })
}

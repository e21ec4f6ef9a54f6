use serde::{Deserialize, Serialize};

/// Whether sandboxed code may open network sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NetworkPolicy {
    /// Only `AF_UNIX` sockets: no TCP/UDP, no netlink, so the ECS credentials endpoint
    /// (169.254.170.2) and the server's own port are unreachable.
    #[default]
    Deny,
    Allow,
}

/// Resource limits, each applied as soft = hard so user code cannot raise them again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RlimitPolicy {
    /// CPU seconds for the worker's whole life (wall-clock timeouts are the server's job).
    pub cpu_seconds: u64,
    /// Bytes of data segment allowed *on top of* what the worker inherited from the zygote:
    /// a forked worker already maps the zygote's numpy/pandas/matplotlib heap, so an absolute
    /// limit would either be useless or break at import.
    pub memory_bytes: u64,
    /// Largest single file.
    pub file_size_bytes: u64,
    pub open_files: u64,
    /// Processes + threads of the session's uid (only enforced for a non-root uid).
    pub processes: u64,
    /// Scheduling niceness (0-19): user code yields the CPU to the server's control plane, so
    /// `/health` stays fast while every core runs sessions.
    #[serde(default)]
    pub nice: i32,
    /// Run under SCHED_IDLE: any runnable server thread preempts sandboxed code at once.
    #[serde(default)]
    pub sched_idle: bool,
}

/// What Landlock allows, when the kernel has it.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct LandlockPolicy {
    /// Read (and execute) only: system paths, the Python installation, the sandbox code.
    pub read_only: Vec<String>,
    /// Full access: the session's workspace and a few devices.
    pub read_write: Vec<String>,
}

/// Private namespaces, where the host allows them.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct NamespacePolicy {
    /// A network namespace of its own (nothing but a down loopback): only with network `deny`.
    pub private_network: bool,
    /// A PID namespace of its own, the worker as its PID 1: sandboxed code sees only the
    /// session's processes, and they all die with the worker.
    #[serde(default)]
    pub private_pid: bool,
    /// Size of the private `/tmp` and `/dev/shm` tmpfs, in MiB.
    pub tmp_size_mb: u64,
    /// Directories that must stay reachable at their paths (the workspace, the Python
    /// installation) even if they live under `/tmp`.
    #[serde(default)]
    pub keep_visible: Vec<String>,
}

/// Syscall families denied because the layer that would otherwise contain them is missing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeccompExtras {
    /// No IPC namespace: SysV IPC objects would be host-wide.
    #[serde(default)]
    pub deny_sysv_ipc: bool,
    /// No memory cgroup: shared anonymous mappings and memfds escape RLIMIT_DATA.
    #[serde(default)]
    pub deny_shared_memory: bool,
}

/// Everything the worker needs to sandbox itself. Computed by the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Policy {
    /// fds `0..keep_fds_below` stay open (stdio and the session channel); all others close.
    pub keep_fds_below: u32,
    pub rlimits: RlimitPolicy,
    /// The per-session uid; `None` when the server is not root (degraded dev mode).
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub network: NetworkPolicy,
    /// The zygote's pid: if it already died before PDEATHSIG was armed, the worker exits.
    pub expected_parent: Option<i32>,
    /// Landlock rules; `None` skips the layer.
    #[serde(default)]
    pub landlock: Option<LandlockPolicy>,
    /// Namespaces; `None` skips the layer.
    #[serde(default)]
    pub namespaces: Option<NamespacePolicy>,
    /// `cgroup.procs` files of the session's cgroups (one per hierarchy), joined first; empty
    /// skips the layer.
    #[serde(default)]
    pub cgroup_procs: Vec<String>,
    /// Extra seccomp denials for what the missing layers would have contained.
    #[serde(default)]
    pub seccomp_extras: SeccompExtras,
}

/// What was actually applied, reported to the server and shown to clients.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Report {
    pub layers: Vec<String>,
    pub uid: u32,
    /// The absolute RLIMIT_DATA that was set (inherited + budget).
    pub data_limit_bytes: u64,
    /// `fully_enforced`, `partially_enforced`, `not_enforced`, or `off`.
    pub landlock: String,
    /// `net,ipc,mount,cgroup` when entered, `off`, or why they could not be entered.
    pub namespaces: String,
    /// The worker's pid as the server sees it (differs from `getpid()` in a PID namespace).
    pub pid: i32,
}

//! Every tunable of the service: one struct, read from CLI flags or `EXECUTOR_*` variables.

use clap::Parser;
use dynexec_sandbox::NetworkPolicy;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Network {
    Deny,
    Allow,
}

impl From<Network> for NetworkPolicy {
    fn from(n: Network) -> Self {
        match n {
            Network::Deny => NetworkPolicy::Deny,
            Network::Allow => NetworkPolicy::Allow,
        }
    }
}

/// Whether the server takes the shared directories away from session uids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LockSharedDirs {
    /// Lock where sessions get no private mount namespace and the server runs as root in a
    /// container (its `/tmp` is its own): Fargate, Docker.
    Auto,
    /// Always lock (as root): for a host or namespace dedicated to the service.
    True,
    /// Never lock.
    False,
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "dynamic-executor",
    version,
    args_override_self = true,
    about = "Runs untrusted Python for AI agents in sandboxed per-session workers"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "EXECUTOR_BIND", default_value = "0.0.0.0:8080")]
    pub bind: SocketAddr,

    /// Directory holding one workspace per session (created 0711 if missing).
    #[arg(
        long,
        env = "EXECUTOR_WORKSPACE_ROOT",
        default_value = "/tmp/dynamic-executor"
    )]
    pub workspace_root: PathBuf,

    /// Python interpreter the zygote runs (a venv with sandbox/requirements.txt installed).
    #[arg(
        long,
        env = "EXECUTOR_PYTHON",
        default_value = "/opt/dynamic-executor/venv/bin/python3"
    )]
    pub python: PathBuf,

    /// Where the zygote keeps matplotlib's font cache, so restarts do not rebuild it.
    #[arg(
        long,
        env = "EXECUTOR_MPL_CACHE_DIR",
        default_value = "/var/cache/dynamic-executor/matplotlib"
    )]
    pub mpl_cache_dir: PathBuf,

    /// Directory with zygote.py and worker.py (default: next to the binary's source tree).
    #[arg(long, env = "EXECUTOR_SANDBOX_DIR")]
    pub sandbox_dir: Option<PathBuf>,

    /// The sandbox cdylib the worker loads (default: libdynexec_sandbox.so beside the binary).
    #[arg(long, env = "EXECUTOR_SANDBOX_LIB")]
    pub sandbox_lib: Option<PathBuf>,

    /// The analytics helper (profile, verify, charts); default: dynamic-executor-analytics
    /// beside this binary.
    #[arg(long, env = "EXECUTOR_ANALYTICS_BIN")]
    pub analytics_bin: Option<PathBuf>,

    /// A TrueType font with Hangul for charts (default: NanumGothic, found through fontconfig
    /// at start). Outside /usr it must also be in EXECUTOR_LANDLOCK_READ.
    #[arg(long, env = "EXECUTOR_CHART_FONT")]
    pub chart_font: Option<PathBuf>,

    /// Wall-clock seconds one profile, verify or charts request may take.
    #[arg(long, env = "EXECUTOR_ANALYTICS_TIMEOUT_S", default_value_t = 60.0)]
    pub analytics_timeout_s: f64,

    /// Modules the zygote imports before forking; missing ones are skipped and reported.
    #[arg(
        long,
        env = "EXECUTOR_PRELOAD",
        value_delimiter = ',',
        default_value = "numpy,pandas,matplotlib,matplotlib.pyplot,lovelyplots,koreanize_matplotlib,markdown,weasyprint,json,csv,datetime"
    )]
    pub preload: Vec<String>,

    /// Default per-execution timeout in seconds.
    #[arg(long, env = "EXECUTOR_EXEC_TIMEOUT_S", default_value_t = 300.0)]
    pub exec_timeout_s: f64,

    /// Largest timeout a client may ask for, in seconds.
    #[arg(long, env = "EXECUTOR_MAX_EXEC_TIMEOUT_S", default_value_t = 3600.0)]
    pub max_exec_timeout_s: f64,

    /// After SIGINT, how long the code gets to stop before every process of the session is killed.
    #[arg(long, env = "EXECUTOR_KILL_GRACE_MS", default_value_t = 500)]
    pub kill_grace_ms: u64,

    /// Memory a worker may allocate on top of what it inherits from the zygote (RLIMIT_DATA).
    #[arg(long, env = "EXECUTOR_MEMORY_LIMIT_MB", default_value_t = 2048)]
    pub memory_limit_mb: u64,

    /// CPU seconds a session's worker may use over its whole life (RLIMIT_CPU).
    #[arg(long, env = "EXECUTOR_CPU_LIMIT_S", default_value_t = 7200)]
    pub cpu_limit_s: u64,

    /// Processes + threads per session uid (RLIMIT_NPROC).
    #[arg(long, env = "EXECUTOR_NPROC_LIMIT", default_value_t = 64)]
    pub nproc_limit: u64,

    /// Run sandboxed code under SCHED_IDLE: the server's threads preempt it the moment they wake,
    /// so `/health` and the API stay fast while sessions use every core.
    #[arg(long, env = "EXECUTOR_WORKER_SCHED_IDLE", default_value_t = true, action = clap::ArgAction::Set)]
    pub worker_sched_idle: bool,

    /// Niceness of sandboxed code (0-19): it yields the CPU to the server under load.
    #[arg(long, env = "EXECUTOR_WORKER_NICE", default_value_t = 10)]
    pub worker_nice: i32,

    /// Largest single file sandboxed code may write, in MiB (RLIMIT_FSIZE).
    #[arg(long, env = "EXECUTOR_FILE_SIZE_LIMIT_MB", default_value_t = 1024)]
    pub file_size_limit_mb: u64,

    /// Disk a session's workspace may occupy, in MiB (0 = no quota). Checked while code runs
    /// and on upload; a session over it is stopped with `disk_quota`.
    #[arg(long, env = "EXECUTOR_DISK_QUOTA_MB", default_value_t = 2048)]
    pub disk_quota_mb: u64,

    /// Files and directories a session's workspace may hold (with the disk quota): past it, or
    /// deeper than 32 levels, the workspace counts as over quota.
    #[arg(long, env = "EXECUTOR_DISK_INODES", default_value_t = 100_000)]
    pub disk_inodes: u64,

    /// Open files per worker process (RLIMIT_NOFILE).
    #[arg(long, env = "EXECUTOR_OPEN_FILES_LIMIT", default_value_t = 1024)]
    pub open_files_limit: u64,

    /// stdout/stderr kept per stream per execution; beyond it the execution stops as `output_limit`.
    #[arg(long, env = "EXECUTOR_OUTPUT_CAP_BYTES", default_value_t = 16 << 20)]
    pub output_cap_bytes: usize,

    /// stdout/stderr returned inline in a result (the rest is flagged `*_truncated`).
    #[arg(long, env = "EXECUTOR_OUTPUT_RETURN_BYTES", default_value_t = 1 << 20)]
    pub output_return_bytes: usize,

    /// Largest request body (file uploads included), in MiB.
    #[arg(long, env = "EXECUTOR_MAX_UPLOAD_MB", default_value_t = 512)]
    pub max_upload_mb: usize,

    /// Most sessions this instance holds at once.
    #[arg(long, env = "EXECUTOR_MAX_SESSIONS", default_value_t = 64)]
    pub max_sessions: usize,

    /// Sandboxed workers kept forked and ready for the next session.
    #[arg(long, env = "EXECUTOR_WARM_WORKERS", default_value_t = 2)]
    pub warm_workers: usize,

    /// Each warm worker draws and encodes a throwaway chart before it waits in the pool (when
    /// the zygote preloaded matplotlib): the pages a chart touches are then the worker's own
    /// already, and a session's first chart is ~15-20 ms faster. It costs ~12 MiB of private
    /// memory per idle session that never draws (one that draws pays it at its first chart).
    #[arg(long, env = "EXECUTOR_PREWARM_CHARTS", default_value_t = true, action = clap::ArgAction::Set)]
    pub prewarm_charts: bool,

    /// A session unused for this long is closed, in seconds.
    #[arg(long, env = "EXECUTOR_IDLE_TTL_S", default_value_t = 1800)]
    pub idle_ttl_s: u64,

    /// A session older than this is closed whatever it does, in seconds.
    #[arg(long, env = "EXECUTOR_MAX_SESSION_LIFETIME_S", default_value_t = 6 * 3600)]
    pub max_session_lifetime_s: u64,

    /// Whether sandboxed code may open network sockets.
    #[arg(long, env = "EXECUTOR_NETWORK", value_enum, default_value = "deny")]
    pub network: Network,

    /// Sandbox layers this instance refuses to run without (comma-separated: uid, seccomp,
    /// landlock, userns, netns, pidns, mountns, cgroup). The Docker image requires uid,seccomp.
    #[arg(long, env = "EXECUTOR_SANDBOX_REQUIRE", value_delimiter = ',')]
    pub sandbox_require: Vec<String>,

    /// Use Landlock where the kernel has it (best effort; reported per session).
    #[arg(long, env = "EXECUTOR_LANDLOCK", default_value_t = true, action = clap::ArgAction::Set)]
    pub landlock: bool,

    /// Use private namespaces (network, IPC, mount with its own /tmp) where the host allows them.
    #[arg(long, env = "EXECUTOR_NAMESPACES", default_value_t = true, action = clap::ArgAction::Set)]
    pub namespaces: bool,

    /// With namespaces and network `deny`, also give each worker an empty network namespace.
    /// Off by default: seccomp already denies every non-UNIX socket, and creating and tearing
    /// down a network namespace per session costs the kernel tens of milliseconds of CPU.
    #[arg(long, env = "EXECUTOR_PRIVATE_NETWORK", default_value_t = false, action = clap::ArgAction::Set)]
    pub private_network: bool,

    /// With namespaces, also a PID namespace per worker (the worker is its PID 1): sandboxed
    /// code sees only its own session's processes, and they all die with the worker. Pids that
    /// code prints are namespace pids.
    #[arg(long, env = "EXECUTOR_PRIVATE_PID", default_value_t = true, action = clap::ArgAction::Set)]
    pub private_pid: bool,

    /// Size of a session's private /tmp and /dev/shm (with namespaces), in MiB.
    #[arg(long, env = "EXECUTOR_TMP_SIZE_MB", default_value_t = 256)]
    pub tmp_size_mb: u64,

    /// A cgroup per session where the host lets us create one (v2, or v1 controllers on a
    /// hybrid host): an aggregate memory and process limit and `cgroup.kill`.
    #[arg(long, env = "EXECUTOR_CGROUPS", default_value_t = true, action = clap::ArgAction::Set)]
    pub cgroups: bool,

    /// Resident memory of all of a session's processes together, page cache and its private
    /// /tmp included (the cgroup's memory.max); overrunning it OOM-kills the largest process.
    #[arg(long, env = "EXECUTOR_SESSION_MEMORY_MB", default_value_t = 3072)]
    pub session_memory_mb: u64,

    /// Processes + threads of a session together (the cgroup's pids.max), counted by the
    /// kernel whatever their uid.
    #[arg(long, env = "EXECUTOR_SESSION_PIDS_MAX", default_value_t = 128)]
    pub session_pids_max: u64,

    /// Take the shared world-writable directories (`EXECUTOR_SHARED_PATHS`) away from session
    /// uids at start (`o-rw`; put back at shutdown), so that they are no meeting place between
    /// sessions and no disk outside the quota. Code that hardcodes `/tmp` then gets
    /// PermissionError; every temp-dir convention already points into the workspace.
    #[arg(
        long,
        env = "EXECUTOR_LOCK_SHARED_DIRS",
        value_enum,
        default_value = "auto"
    )]
    pub lock_shared_dirs: LockSharedDirs,

    /// The shared paths locked (and scrubbed of a uid's leftovers before the uid is reused).
    #[arg(
        long,
        env = "EXECUTOR_SHARED_PATHS",
        value_delimiter = ',',
        default_value = "/tmp,/var/tmp,/dev/shm,/dev/mqueue,/run/lock,/dev/ptmx,/dev/pts/ptmx"
    )]
    pub shared_paths: Vec<PathBuf>,

    /// Extra paths sandboxed code may read under Landlock (comma-separated).
    #[arg(long, env = "EXECUTOR_LANDLOCK_READ", value_delimiter = ',')]
    pub landlock_read: Vec<String>,

    /// First uid of the per-session pool (each session runs as its own uid when we are root).
    #[arg(long, env = "EXECUTOR_UID_BASE", default_value_t = 20000)]
    pub uid_base: u32,

    /// How many uids the pool has.
    #[arg(long, env = "EXECUTOR_UID_COUNT", default_value_t = 10000)]
    pub uid_count: u32,

    /// Cookie set on session creation so a load balancer can pin the client to this instance.
    #[arg(
        long,
        env = "EXECUTOR_STICKY_COOKIE",
        default_value = "dynexec_session"
    )]
    pub sticky_cookie: String,

    /// Single-session mode (the Deep Insight compat API): the session ECS started this task
    /// for. Without it the compat endpoints act on a session named `default`.
    #[arg(long, env = "SESSION_ID")]
    pub session_id: Option<String>,

    /// Directory the compat session works in (`/app` in the image, where agents' code expects
    /// `./data` and `./artifacts`); a fresh workspace under the root when unset.
    #[arg(long, env = "EXECUTOR_COMPAT_WORKSPACE")]
    pub compat_workspace: Option<PathBuf>,

    /// The absolute prefix clients use for the compat workspace in `/file-sync` `local_path`.
    #[arg(long, env = "EXECUTOR_COMPAT_PATH_PREFIX", default_value = "/app")]
    pub compat_path_prefix: String,

    /// Executions after which the compat session completes.
    #[arg(long, env = "EXECUTOR_MAX_EXECUTIONS", default_value_t = 500)]
    pub max_executions: u64,

    /// Timeout of a compat Python execution, in seconds (the reference has none; its client
    /// waits 600 s).
    #[arg(
        long,
        env = "EXECUTOR_COMPAT_PYTHON_TIMEOUT_S",
        default_value_t = 600.0
    )]
    pub compat_python_timeout_s: f64,

    /// Timeout of a compat `BASH:` execution, in seconds.
    #[arg(long, env = "EXECUTOR_BASH_TIMEOUT_S", default_value_t = 30.0)]
    pub bash_timeout_s: f64,

    /// Single-session mode: the task's hard cap; it attempts the upload, then exits. 0 = none.
    #[arg(long, env = "EXECUTOR_HARD_CAP_S", default_value_t = 3600)]
    pub hard_cap_s: u64,

    /// Single-session mode: seconds between a successful completion and exiting. 0 = never exit.
    #[arg(long, env = "EXECUTOR_EXIT_AFTER_COMPLETE_S", default_value_t = 60)]
    pub exit_after_complete_s: u64,

    /// The private IP `/container-info` reports (default: the ECS task metadata, else the
    /// hostname's address).
    #[arg(long, env = "EXECUTOR_PRIVATE_IP")]
    pub private_ip: Option<String>,

    /// This instance's id in responses (random when unset).
    #[arg(long, env = "EXECUTOR_INSTANCE_ID")]
    pub instance_id: Option<String>,

    /// `/health` turns 503 when the zygote has not been warm this long since start.
    #[arg(long, env = "EXECUTOR_ZYGOTE_START_GRACE_S", default_value_t = 60.0)]
    pub zygote_start_grace_s: f64,

    /// `/health` turns 503 when the zygote has not been warm this long after it was (a restart
    /// takes ~1-2 s: shorter outages do not flap the target).
    #[arg(long, env = "EXECUTOR_ZYGOTE_DOWN_GRACE_S", default_value_t = 10.0)]
    pub zygote_down_grace_s: f64,

    /// `/health` turns 503 when the workspace root has less free space than this.
    #[arg(long, env = "EXECUTOR_MIN_FREE_MB", default_value_t = 64)]
    pub min_free_mb: u64,

    /// SSE streams send `: keepalive` after this many seconds without an event (proxies close
    /// idle connections: the ALB after 60 s by default).
    #[arg(long, env = "EXECUTOR_HEARTBEAT_S", default_value_t = 15.0)]
    pub heartbeat_s: f64,

    /// Host names `/mcp` accepts (comma-separated; DNS-rebinding protection). Empty: any, as
    /// for the REST API (behind a load balancer the Host is the balancer's name).
    #[arg(long, env = "EXECUTOR_MCP_ALLOWED_HOSTS", value_delimiter = ',')]
    pub mcp_allowed_hosts: Vec<String>,

    /// A compat `/execute` that has not answered after this many seconds commits its 200 and
    /// sends a space every this many seconds until the JSON (0 = never).
    #[arg(long, env = "EXECUTOR_COMPAT_HEARTBEAT_S", default_value_t = 15.0)]
    pub compat_heartbeat_s: f64,

    /// The S3 bucket (the reference's variable; ECS sets it). Selects S3 as the object store:
    /// region from `AWS_REGION`, endpoint from `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`,
    /// credentials from the standard chain (environment, ECS task role, web identity, IMDS).
    #[arg(long, env = "S3_BUCKET_NAME")]
    pub s3_bucket: Option<String>,

    /// The ECS agent's address that `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` is relative to.
    #[arg(
        long,
        env = "EXECUTOR_ECS_CREDENTIALS_ENDPOINT",
        default_value = "http://169.254.170.2"
    )]
    pub ecs_credentials_endpoint: String,

    /// Where the embedded local object store keeps its buckets (`<dir>/<bucket>/<key>`), used
    /// when no S3 bucket is configured.
    #[arg(
        long,
        env = "EXECUTOR_STORE_DIR",
        default_value = "/var/lib/dynamic-executor/object-store"
    )]
    pub store_dir: PathBuf,

    /// The local store's bucket name (what completion and export write to without S3).
    #[arg(long, env = "EXECUTOR_STORE_BUCKET", default_value = "local")]
    pub store_bucket: String,

    /// Tries per object before a transfer fails (with back-off between them).
    #[arg(long, env = "EXECUTOR_STORE_TRIES", default_value_t = 3)]
    pub store_tries: u32,

    /// Seconds a connection to the object store may take before the try fails.
    #[arg(long, env = "EXECUTOR_STORE_CONNECT_TIMEOUT_S", default_value_t = 2.0)]
    pub store_connect_timeout_s: f64,

    /// Objects transferred at once by file-sync, completion, export and import.
    #[arg(long, env = "EXECUTOR_TRANSFER_CONCURRENCY", default_value_t = 16)]
    pub transfer_concurrency: usize,

    /// Key prefix v1 exports use when the request names none: `<prefix>/<session id>/`.
    #[arg(
        long,
        env = "EXECUTOR_EXPORT_PREFIX",
        default_value = "dynamic-executor/sessions"
    )]
    pub export_prefix: String,

    /// When set, every v1 session is exported under `<prefix>/<session id>/` on SIGTERM.
    #[arg(long, env = "EXECUTOR_DRAIN_EXPORT_PREFIX")]
    pub drain_export_prefix: Option<String>,

    /// On SIGTERM: seconds running executions get to finish before uploads start.
    #[arg(long, env = "EXECUTOR_DRAIN_GRACE_S", default_value_t = 10.0)]
    pub drain_grace_s: f64,

    /// On SIGTERM: seconds for everything (grace included) before the process gives up and
    /// exits non-zero; below ECS's stopTimeout (30 s by default, 120 s at most).
    #[arg(long, env = "EXECUTOR_DRAIN_TIMEOUT_S", default_value_t = 25.0)]
    pub drain_timeout_s: f64,
}

impl Config {
    pub fn sandbox_dir(&self) -> PathBuf {
        self.sandbox_dir.clone().unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/sandbox/python"))
        })
    }

    pub fn analytics_bin(&self) -> PathBuf {
        self.analytics_bin.clone().unwrap_or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(|d| d.join("dynamic-executor-analytics")))
                .unwrap_or_else(|| PathBuf::from("dynamic-executor-analytics"))
        })
    }

    pub fn sandbox_lib(&self) -> PathBuf {
        self.sandbox_lib.clone().unwrap_or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(|d| d.join("libdynexec_sandbox.so")))
                .unwrap_or_else(|| PathBuf::from("libdynexec_sandbox.so"))
        })
    }

    /// What a scrub of the shared directories must never touch: the workspaces (live ones,
    /// and those a previous run kept) belong to session uids too.
    pub fn scrub_exclude(&self) -> Vec<PathBuf> {
        let mut v = vec![self.workspace_root.clone()];
        v.extend(self.compat_workspace.clone());
        v
    }

    /// The timeout an execution request asks for (`timeout_s`), or the default; an error
    /// message when it is outside (0, `max_exec_timeout_s`].
    pub fn exec_timeout(&self, requested: Option<f64>) -> Result<std::time::Duration, String> {
        match requested {
            None => Ok(std::time::Duration::from_secs_f64(self.exec_timeout_s)),
            Some(t) if t.is_finite() && t > 0.0 && t <= self.max_exec_timeout_s => {
                Ok(std::time::Duration::from_secs_f64(t))
            }
            Some(t) => Err(format!(
                "timeout_s must be greater than 0 and at most {} (got {t})",
                self.max_exec_timeout_s
            )),
        }
    }

    /// The workspace quota, or none when `EXECUTOR_DISK_QUOTA_MB` is 0.
    pub fn disk_quota(&self) -> Option<crate::paths::Quota> {
        (self.disk_quota_mb > 0).then_some(crate::paths::Quota {
            bytes: self.disk_quota_mb << 20,
            inodes: self.disk_inodes,
        })
    }

    /// The uids of this server's pool: the ones it may kill, scrub and put in cgroups.
    pub fn uid_range(&self) -> std::ops::Range<u32> {
        self.uid_base..self.uid_base.saturating_add(self.uid_count)
    }

    pub fn max_body_bytes(&self) -> usize {
        self.max_upload_mb.saturating_mul(1 << 20)
    }
}

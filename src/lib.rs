//! dynamic-executor: runs untrusted Python for AI agents in sandboxed per-session workers.
//!
//! Data flows one way: request (`http`) → session (`sessions`) → worker (`zygote`, `worker`)
//! → result (`executions`) → files (`paths`, `artifacts`).

pub mod analytics;
pub mod artifacts;
pub mod capabilities;
pub mod cgroups;
pub mod compat;
pub mod config;
pub mod drain;
pub mod error;
pub mod executions;
pub mod exports;
pub mod health;
pub mod host;
pub mod http;
pub mod log_writer;
pub mod metrics;
pub mod os;
pub mod paths;
pub mod sandbox_policy;
pub mod sessions;
pub mod store;
pub mod telemetry;
pub mod time;
pub mod worker;
pub mod zygote;

use config::Config;
use std::sync::Arc;
use std::time::Instant;

/// Runs the service until SIGTERM/SIGINT, then stops every session (keeping its files).
pub async fn run(config: Config) -> std::io::Result<()> {
    let started = Instant::now();
    // Our /proc files become root-owned: sandboxed code can't read our environ even if it
    // ever shared our uid.
    let _ = nix::sys::prctl::set_dumpable(false);
    let mut config = config;
    let config = tokio::task::spawn_blocking(move || {
        sessions::workspace::init_root(&config.workspace_root)?;
        config.mpl_cache_dir =
            os::mpl_cache::writable(&config.mpl_cache_dir, &std::env::temp_dir())?;
        clear_previous_run(&config);
        Ok::<_, std::io::Error>(config)
    })
    .await
    .map_err(std::io::Error::other)??;
    let config = Arc::new(config);
    // Independent, and both on the way to the first /health: side by side.
    let root = nix::unistd::geteuid().is_root();
    let cg_config = config.clone();
    let (caps, cgroup) = tokio::join!(
        capabilities::probe(&config),
        tokio::task::spawn_blocking(move || {
            let t0 = Instant::now();
            let (report, tree) = cgroups::setup(&cg_config, root);
            // Flat fields (no JSON inside a string): log pipelines index each one.
            tracing::info!(
                cgroup.enabled = report.enabled,
                cgroup.kill = report.kill.as_deref().unwrap_or(""),
                cgroup.memory = report.memory.as_deref().unwrap_or(""),
                cgroup.pids = report.pids.as_deref().unwrap_or(""),
                cgroup.memory_max_mb = report.memory_max_mb,
                cgroup.pids_max = report.pids_max,
                cgroup.problems = %report.problems.join("; "),
                took_ms = t0.elapsed().as_millis() as u64,
                "cgroups"
            );
            (report, tree)
        })
    );
    let (cgroup, tree) = cgroup.map_err(std::io::Error::other)?;
    let mut sandbox = match capabilities::assess(&config, caps.clone(), cgroup) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "refusing to start");
            // Nothing may stay behind a refused start, the cgroup bases included.
            let _ = tokio::task::spawn_blocking(move || cgroups::shutdown(tree.as_ref())).await;
            return Err(std::io::Error::other(e));
        }
    };
    let mut host = host::Host {
        caps,
        cgroups: tree,
        uid_isolation: root,
        shared_dirs_locked: false,
    };
    let private_tmp = sandbox_policy::namespaces_usable(&config, &host);
    let lock_config = config.clone();
    let (shared_lock, report) =
        tokio::task::spawn_blocking(move || lock_shared_dirs(&lock_config, root, private_tmp))
            .await
            .map_err(std::io::Error::other)?;
    if !report.locked && !private_tmp {
        sandbox.warnings.push(format!(
            "/tmp, /dev/shm and the other shared directories are shared between sessions: {}",
            report.reason
        ));
    }
    host.shared_dirs_locked = report.locked;
    sandbox.shared_dirs = report;
    let host = Arc::new(host);
    for w in &sandbox.warnings {
        tracing::warn!(warning = %w, "sandbox degraded");
    }
    let c = &sandbox.capabilities;
    tracing::info!(
        kernel = %c.kernel,
        cap_eff = %c.cap_eff,
        seccomp_mode = %c.seccomp_mode,
        can_switch_uid = c.can_switch_uid,
        seccomp = c.seccomp,
        landlock_abi = c.landlock_abi,
        user_namespace = c.user_namespace,
        net_namespace = c.net_namespace,
        pid_namespace = c.pid_namespace,
        mount_namespace = c.mount_namespace,
        cgroup_v2 = %c.cgroup_v2,
        close_range = c.close_range,
        pidfd_open = c.pidfd_open,
        "sandbox probe"
    );
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    let addr = listener.local_addr()?;
    let instance_id: Arc<str> = config
        .instance_id
        .clone()
        .unwrap_or_else(|| format!("{:08x}", rand::random::<u32>()))
        .into();
    tracing::info!(addr = %addr, instance_id = %instance_id, "listening");
    let metrics = Arc::new(metrics::Metrics::new());
    // Building the store creates the local store's directory: off the runtime's threads.
    let (c, m) = (config.clone(), metrics.clone());
    let store = Arc::new(
        tokio::task::spawn_blocking(move || store::ObjectStorage::from_config(&c, m))
            .await
            .map_err(std::io::Error::other)?
            .map_err(std::io::Error::other)?,
    );
    tracing::info!(backend = ?store.backend, "object store");
    let zygote = zygote::Zygote::start(config.clone());
    let analytics = Arc::new(analytics::Analytics::new(&config));
    // The chart font is looked up once, off the start-up path.
    tokio::spawn({
        let a = analytics.clone();
        async move {
            a.font().await;
        }
    });
    let engine = Arc::new(sessions::Engine {
        config: config.clone(),
        zygote: zygote.clone(),
        host: host.clone(),
        metrics: metrics.clone(),
        analytics: analytics.clone(),
        ticks: executions::Ticks::start(executions::QUOTA_TICK),
    });
    let sessions = sessions::SessionManager::new(engine);
    let compat = compat::Compat::start(
        config.clone(),
        sessions.clone(),
        zygote.clone(),
        store.clone(),
    );
    let drain = Arc::new(drain::Drain::default());
    let health = health::Health::start(config.clone(), zygote.clone());
    let state = http::AppState {
        config: config.clone(),
        sessions: sessions.clone(),
        zygote,
        compat: compat.clone(),
        store: store.clone(),
        drain: drain.clone(),
        health,
        metrics,
        sandbox: Arc::new(sandbox),
        instance_id,
        started,
    };
    // The server keeps serving while it drains (`/health` answers `draining`); it stops
    // listening once the drain is over.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<drain::Drained>();
    let (d_sessions, d_compat) = (sessions.clone(), compat.clone());
    tokio::spawn(async move {
        let drained = match wait_for_stop(compat.shutdown.clone()).await {
            Stop::Exit => drain::Drained { unstored: vec![] },
            Stop::Signal => drain::run(&drain, &config, &d_sessions, &d_compat, &store).await,
        };
        let _ = stop_tx.send(drained);
    });
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<drain::Drained>();
    http::serve(listener, http::router(state), async move {
        if let Ok(d) = stop_rx.await {
            let _ = done_tx.send(d);
        }
    })
    .await?;
    tracing::info!("shutting down: stopping sessions (their files stay)");
    sessions.stop_all().await;
    let _ = tokio::task::spawn_blocking(move || {
        cgroups::shutdown(host.cgroups.as_ref());
        shared_lock.release();
    })
    .await;
    match done_rx.await {
        Ok(d) if !d.unstored.is_empty() => Err(std::io::Error::other(format!(
            "{} item(s) were not stored and stay on disk",
            d.unstored.len()
        ))),
        _ => Ok(()),
    }
}

/// Takes the shared directories away from session uids where sessions have no private mount
/// namespace and the directories are the service's own (see `EXECUTOR_LOCK_SHARED_DIRS`).
fn lock_shared_dirs(
    config: &Config,
    root: bool,
    private_tmp: bool,
) -> (os::shared_dirs::Lock, os::shared_dirs::LockReport) {
    use config::LockSharedDirs;
    use os::shared_dirs::{in_container, Lock, LockReport};
    let (lock, reason) = match config.lock_shared_dirs {
        _ if !root => (false, "not root: nothing to lock with, and sessions share our uid"),
        LockSharedDirs::False => (false, "EXECUTOR_LOCK_SHARED_DIRS=false"),
        LockSharedDirs::True => (true, "EXECUTOR_LOCK_SHARED_DIRS=true"),
        LockSharedDirs::Auto if private_tmp => (
            false,
            "not needed: each session has a private /tmp and /dev/shm (mount namespace)",
        ),
        LockSharedDirs::Auto if in_container() => (
            true,
            "no mount namespaces, and the directories are this container's own",
        ),
        LockSharedDirs::Auto => (
            false,
            "no mount namespaces, but not in a container: the host's /tmp is not ours to lock (EXECUTOR_LOCK_SHARED_DIRS=true forces it)",
        ),
    };
    if !lock {
        return (
            Lock::default(),
            LockReport {
                locked: false,
                reason: reason.into(),
                paths: vec![],
            },
        );
    }
    let (held, paths) = Lock::apply(&config.shared_paths);
    tracing::info!(paths = %paths.join(", "), "shared directories locked for session uids");
    (
        held,
        LockReport {
            locked: true,
            reason: reason.into(),
            paths,
        },
    )
}

/// What pool uids of a previous run (a crash) left: processes (they would share uids with new
/// sessions), and files and SysV IPC objects in the shared places (a new session with the
/// same uid must not find them). Blocking.
fn clear_previous_run(config: &Config) {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let range = config.uid_range();
    for p in os::procs::all() {
        if range.contains(&p.uid) {
            tracing::warn!(
                pid = p.pid,
                uid = p.uid,
                "killing a leftover sandboxed process"
            );
            crate::os::procs::signal(p.pid, libc::SIGKILL);
        }
    }
    os::shared_dirs::scrub(&config.shared_paths, &config.scrub_exclude(), &|u| {
        range.contains(&u)
    });
}

/// Why the server stops.
enum Stop {
    /// SIGTERM or SIGINT: drain first.
    Signal,
    /// The compat lifecycle (hard cap, exit after completion) already stored what it had.
    Exit,
}

async fn wait_for_stop(exit: Arc<tokio::sync::Notify>) -> Stop {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => Stop::Signal,
        _ = int.recv() => Stop::Signal,
        _ = exit.notified() => Stop::Exit,
    }
}

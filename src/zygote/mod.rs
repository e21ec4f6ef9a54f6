//! The zygote supervisor: starts the Python zygote with an allow-listed environment, keeps it
//! warm, restarts it when it dies, and asks it to fork sandboxed workers.

mod process;
pub mod protocol;

pub use process::environment as worker_environment;
pub use protocol::MissingModule;

use crate::config::Config;
use crate::os::fdpass::{self, SeqPacket};
use crate::worker::{Worker, WorkerError};
use protocol::{Event, Request};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// What the zygote reported when it became warm.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ZygoteInfo {
    pub pid: i32,
    pub python: String,
    pub preloaded: Vec<String>,
    pub missing: Vec<MissingModule>,
}

#[derive(Debug, Clone)]
pub enum ZygoteState {
    Starting,
    Warm(ZygoteInfo),
    Down(String),
}

impl ZygoteState {
    pub fn label(&self) -> &'static str {
        match self {
            ZygoteState::Starting => "starting",
            ZygoteState::Warm(_) => "warm",
            ZygoteState::Down(_) => "down",
        }
    }
}

struct Conn {
    sock: SeqPacket,
    next_req: AtomicU64,
    pending: Mutex<HashMap<u64, oneshot::Sender<i32>>>,
}

pub struct Zygote {
    state_tx: watch::Sender<ZygoteState>,
    conn: Mutex<Option<Arc<Conn>>>,
    pub restarts: AtomicU64,
    /// Bumped on every zygote start: workers of an older generation died with their zygote.
    pub generation: AtomicU64,
    /// Starts in a row that ended before the zygote was warm (0 once it is).
    pub failed_starts: AtomicU64,
    /// Since when the zygote has not been warm (process start, or when it went away).
    not_warm_since: Mutex<Option<std::time::Instant>>,
    /// Whether it was ever warm (start-up gets a longer grace than a restart).
    pub was_warm: std::sync::atomic::AtomicBool,
}

impl Zygote {
    /// Starts the supervisor task; the zygote warms up in the background.
    pub fn start(config: Arc<Config>) -> Arc<Zygote> {
        let (state_tx, _) = watch::channel(ZygoteState::Starting);
        let z = Arc::new(Zygote {
            state_tx,
            conn: Mutex::new(None),
            restarts: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            failed_starts: AtomicU64::new(0),
            not_warm_since: Mutex::new(Some(std::time::Instant::now())),
            was_warm: std::sync::atomic::AtomicBool::new(false),
        });
        tokio::spawn(supervise(z.clone(), config));
        z
    }

    pub fn state(&self) -> ZygoteState {
        self.state_tx.borrow().clone()
    }

    /// How long the zygote has not been warm (None while it is).
    pub fn not_warm_for(&self) -> Option<Duration> {
        self.not_warm_since.lock().unwrap().map(|t| t.elapsed())
    }

    pub fn is_warm(&self) -> bool {
        matches!(*self.state_tx.borrow(), ZygoteState::Warm(_))
    }

    /// Waits (bounded) until the zygote is warm.
    pub async fn wait_warm(&self, timeout: Duration) -> Result<(), WorkerError> {
        let mut rx = self.state_tx.subscribe();
        let ok =
            tokio::time::timeout(timeout, rx.wait_for(|s| matches!(s, ZygoteState::Warm(_)))).await;
        match ok {
            Ok(Ok(_)) => Ok(()),
            _ => Err(match self.state() {
                ZygoteState::Down(why) => WorkerError::ZygoteDown(why),
                _ => WorkerError::ZygoteStarting,
            }),
        }
    }

    /// Forks a worker that sandboxes itself with `policy` in `workspace`.
    pub async fn spawn_worker(
        &self,
        policy: &dynexec_sandbox::Policy,
        workspace: &Path,
        env: &[(String, String)],
    ) -> Result<Worker, WorkerError> {
        self.wait_warm(Duration::from_secs(120)).await?;
        let conn = self
            .conn
            .lock()
            .unwrap()
            .clone()
            .ok_or(WorkerError::ZygoteRestarting)?;
        let (chan_parent, chan_child) = fdpass::socketpair(fdpass::Kind::Stream)?;
        let (out_r, out_w) = fdpass::pipe()?;
        let (err_r, err_w) = fdpass::pipe()?;
        let req = conn.next_req.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        conn.pending.lock().unwrap().insert(req, tx);
        let msg = Request::Spawn {
            req,
            policy: policy.clone(),
            workspace: workspace.to_path_buf(),
            env: env.iter().cloned().collect(),
        };
        let msg = serde_json::to_vec(&msg).map_err(std::io::Error::from)?;
        let child_fds: [&OwnedFd; 3] = [&chan_child, &out_w, &err_w];
        let raw: Vec<i32> = child_fds.iter().map(|f| f.as_raw_fd()).collect();
        conn.sock
            .send(&msg, &raw)
            .await
            .map_err(WorkerError::ZygoteSend)?;
        drop((chan_child, out_w, err_w));
        let pid = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .map_err(|_| WorkerError::SpawnTimeout)?
            .map_err(|_| WorkerError::ZygoteDied)?;
        Worker::connect(
            pid,
            chan_parent,
            out_r,
            err_r,
            self.generation.load(Ordering::SeqCst),
        )
        .await
    }
}

async fn supervise(z: Arc<Zygote>, config: Arc<Config>) {
    const FIRST_BACKOFF: Duration = Duration::from_millis(100);
    let mut backoff = FIRST_BACKOFF;
    loop {
        z.generation.fetch_add(1, Ordering::SeqCst);
        z.state_tx.send_replace(ZygoteState::Starting);
        let why = match process::launch(&config) {
            Ok((child, sock)) => {
                let why = run_connection(&z, sock).await;
                if z.is_warm() {
                    // It was serving: this is a crash, not a failed start.
                    backoff = FIRST_BACKOFF;
                } else {
                    z.failed_starts.fetch_add(1, Ordering::Relaxed);
                }
                z.not_warm_since
                    .lock()
                    .unwrap()
                    .get_or_insert_with(std::time::Instant::now);
                *z.conn.lock().unwrap() = None;
                process::stop(child).await;
                why
            }
            Err(e) => {
                z.failed_starts.fetch_add(1, Ordering::Relaxed);
                e
            }
        };
        tracing::error!(reason = %why, "zygote down; restarting");
        z.state_tx.send_replace(ZygoteState::Down(why));
        z.restarts.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Reads the zygote's messages until it goes away; returns why it went away.
async fn run_connection(z: &Arc<Zygote>, sock: SeqPacket) -> String {
    let conn = Arc::new(Conn {
        sock,
        next_req: AtomicU64::new(1),
        pending: Mutex::new(HashMap::new()),
    });
    loop {
        let data = match conn.sock.recv().await {
            Ok(d) if d.is_empty() => return "the zygote exited".into(),
            Ok(d) => d,
            Err(e) => return format!("reading the zygote: {e}"),
        };
        let ev = match serde_json::from_slice::<Event>(&data) {
            Ok(ev) => ev,
            Err(e) => return format!("the zygote sent an unreadable message: {e}"),
        };
        match ev {
            Event::Ready {
                pid,
                python,
                preloaded,
                missing,
            } => {
                let info = ZygoteInfo {
                    pid,
                    python,
                    preloaded,
                    missing,
                };
                let missing: Vec<&str> = info.missing.iter().map(|m| m.module.as_str()).collect();
                tracing::info!(
                    python = %info.python,
                    preloaded = %info.preloaded.join(","),
                    missing = %missing.join(","),
                    "zygote warm"
                );
                *z.conn.lock().unwrap() = Some(conn.clone());
                z.failed_starts.store(0, Ordering::Relaxed);
                *z.not_warm_since.lock().unwrap() = None;
                z.was_warm.store(true, Ordering::Relaxed);
                z.state_tx.send_replace(ZygoteState::Warm(info));
            }
            Event::Spawned { req, pid } => {
                if let Some(tx) = req.and_then(|r| conn.pending.lock().unwrap().remove(&r)) {
                    let _ = tx.send(pid);
                }
            }
            Event::Exited { pid, status } => {
                tracing::debug!(pid, status, "worker reaped by the zygote")
            }
            Event::Fatal { error } => return error,
        }
    }
}

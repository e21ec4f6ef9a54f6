//! Workers forked and sandboxed ahead of time, so creating a session is a table insert.

use super::engine::Engine;
use super::uid_pool::UidPool;
use super::workspace;
use crate::worker::{Stopper, Worker, WorkerError};
use crate::zygote::Zygote;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// A uid, an empty workspace owned by it, and a worker already sandboxed in it (and in the
/// session's cgroup, when the layer is in use).
pub struct Prepared {
    pub workspace: PathBuf,
    pub worker: Worker,
    /// The uid and cgroup that stop the session's processes.
    pub stopper: Stopper,
}

pub struct WarmPool {
    ready: Mutex<Vec<Prepared>>,
    /// Set at shutdown: nothing more is prepared.
    closed: std::sync::atomic::AtomicBool,
    refill: Notify,
    uids: Arc<Option<UidPool>>,
}

/// Longest a warm worker may take to draw its prewarm chart (~60 ms on 2 cores).
const PREWARM: std::time::Duration = std::time::Duration::from_secs(20);

impl WarmPool {
    pub fn new(uids: Arc<Option<UidPool>>) -> Arc<WarmPool> {
        Arc::new(WarmPool {
            ready: Mutex::new(Vec::new()),
            closed: std::sync::atomic::AtomicBool::new(false),
            refill: Notify::new(),
            uids,
        })
    }

    /// A prepared worker of the current zygote generation, if one is waiting.
    pub fn take(&self, zygote: &Zygote) -> Option<Prepared> {
        let generation = zygote.generation.load(Ordering::SeqCst);
        let mut ready = self.ready.lock().unwrap();
        while let Some(p) = ready.pop() {
            let alive = crate::os::procs::alive(p.worker.pid);
            if p.worker.generation == generation && alive {
                self.refill.notify_one();
                return Some(p);
            }
            self.discard(p);
        }
        self.refill.notify_one();
        None
    }

    pub fn len(&self) -> usize {
        self.ready.lock().unwrap().len()
    }

    /// Keeps `config.warm_workers` prepared workers around, forever.
    pub async fn keep_filled(self: Arc<Self>, engine: Arc<Engine>, uids: Arc<Option<UidPool>>) {
        let (config, zygote) = (&engine.config, &engine.zygote);
        loop {
            let generation = zygote.generation.load(Ordering::SeqCst);
            let old: Vec<Prepared> = {
                let mut ready = self.ready.lock().unwrap();
                let (keep, old) = ready
                    .drain(..)
                    .partition(|p| p.worker.generation == generation);
                *ready = keep;
                old
            };
            for p in old {
                self.discard(p);
            }
            if self.closed.load(Ordering::SeqCst) {
                return;
            }
            if self.len() < config.warm_workers && zygote.is_warm() {
                match prepare(&engine, &uids, None).await {
                    Ok(p) if self.closed.load(Ordering::SeqCst) => {
                        self.discard(p);
                    }
                    Ok(mut p) if config.prewarm_charts => match p.worker.prewarm(PREWARM).await {
                        Ok(()) => self.ready.lock().unwrap().push(p),
                        Err(e) => {
                            tracing::warn!(error = %e, "a warm worker failed its prewarm");
                            self.discard(p);
                        }
                    },
                    Ok(p) => self.ready.lock().unwrap().push(p),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not prepare a warm worker");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
                continue;
            }
            if !zygote.is_warm() {
                let _ = zygote.wait_warm(std::time::Duration::from_secs(3600)).await;
                continue;
            }
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), self.refill.notified())
                .await;
        }
    }
}

impl WarmPool {
    /// At shutdown: no more workers are prepared, and the waiting ones go with their (empty)
    /// workspaces and cgroups.
    pub async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let waiting: Vec<Prepared> = self.ready.lock().unwrap().drain(..).collect();
        let handles: Vec<_> = waiting.into_iter().map(|p| self.discard(p)).collect();
        for h in handles {
            let _ = h.await;
        }
    }

    /// A worker from a dead zygote generation: kill what is left, delete its workspace, and
    /// free its uid once nothing of it runs.
    fn discard(&self, p: Prepared) -> tokio::task::JoinHandle<()> {
        let uids = self.uids.clone();
        tokio::task::spawn_blocking(move || {
            let free = p.stopper.kill_all_now(p.worker.pid);
            let _ = workspace::remove(&p.workspace);
            if let (Some(pool), Some(uid), true) = (uids.as_ref(), p.stopper.uid, free) {
                pool.release(uid);
            }
        })
    }
}

/// Allocates a uid, creates a workspace (or adopts `fixed_workspace`) and forks a sandboxed
/// worker into it.
pub async fn prepare(
    engine: &Engine,
    uids: &Option<UidPool>,
    fixed_workspace: Option<&std::path::Path>,
) -> Result<Prepared, WorkerError> {
    let uid = match uids {
        Some(pool) => Some(pool.allocate().ok_or(WorkerError::UidsExhausted)?),
        None => None,
    };
    let root = engine.config.workspace_root.clone();
    let fixed = fixed_workspace.map(|p| p.to_path_buf());
    let ws = tokio::task::spawn_blocking(move || match fixed {
        Some(dir) => workspace::adopt(&dir, uid).map(|_| dir),
        None => workspace::create(&root, uid),
    })
    .await?
    .map_err(WorkerError::Workspace);
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            if let (Some(pool), Some(uid)) = (uids, uid) {
                pool.release(uid);
            }
            return Err(e);
        }
    };
    let cgroup = engine.host.session_cgroup(uid);
    match engine.spawn_worker(uid, cgroup.as_ref(), &ws).await {
        Ok(worker) => Ok(Prepared {
            workspace: ws,
            worker,
            stopper: Stopper { uid, cgroup },
        }),
        Err(e) => {
            let _ = workspace::remove(&ws);
            if let (Some(pool), Some(uid)) = (uids, uid) {
                pool.release(uid);
            }
            Err(e)
        }
    }
}

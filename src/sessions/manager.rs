//! The table of sessions on this instance: create (from the warm pool), look up, close, reap.

use super::engine::Engine;
use super::error::{SessionError, SessionResult};
use super::session::Session;
use super::uid_pool::UidPool;
use super::warm_pool::{self, WarmPool};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

pub struct SessionManager {
    engine: Arc<Engine>,
    uids: Arc<Option<UidPool>>,
    pool: Arc<WarmPool>,
    sessions: RwLock<HashMap<String, Arc<Session>>>,
    /// Ids being created right now, so two concurrent creates of one id cannot both win.
    /// (The value: whether the session being created is pinned.)
    reserved: Mutex<HashMap<String, bool>>,
}

/// Client-chosen ids: 1–128 characters of `[A-Za-z0-9._-]`, not starting with `.` or `-`.
pub fn validate_id(id: &str) -> SessionResult<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !id.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(SessionError::BadId)
    }
}

impl SessionManager {
    pub fn new(engine: Arc<Engine>) -> Arc<SessionManager> {
        let uids = if engine.host.uid_isolation {
            Some(UidPool::new(
                engine.config.uid_base,
                engine.config.uid_count,
            ))
        } else {
            tracing::warn!(
                "not running as root: sessions share the server's uid (degraded isolation)"
            );
            None
        };
        let uids = Arc::new(uids);
        let pool = WarmPool::new(uids.clone());
        let mgr = Arc::new(SessionManager {
            engine: engine.clone(),
            uids: uids.clone(),
            pool: pool.clone(),
            sessions: RwLock::new(HashMap::new()),
            reserved: Mutex::new(HashMap::new()),
        });
        if engine.config.warm_workers > 0 {
            tokio::spawn(pool.keep_filled(engine, uids));
        }
        tokio::spawn(mgr.clone().reap_forever());
        mgr
    }

    /// What sessions run on (configuration, zygote, host).
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn uid_isolation(&self) -> bool {
        self.uids.is_some()
    }

    pub fn count(&self) -> usize {
        self.sessions.read().unwrap().len()
    }

    pub fn warm_workers(&self) -> usize {
        self.pool.len()
    }

    pub fn get(&self, id: &str) -> SessionResult<Arc<Session>> {
        self.sessions
            .read()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(|| SessionError::NotFound(id.to_string()))
    }

    pub fn ids(&self) -> Vec<String> {
        self.list().iter().map(|s| s.id.clone()).collect()
    }

    pub fn list(&self) -> Vec<Arc<Session>> {
        let mut v: Vec<_> = self.sessions.read().unwrap().values().cloned().collect();
        v.sort_by_key(|s| s.created_instant);
        v
    }

    pub async fn create(&self, requested: Option<String>) -> SessionResult<Arc<Session>> {
        self.create_with(requested, None, false).await
    }

    /// The compat session: a given id, optionally a fixed workspace directory, never reaped.
    pub async fn create_pinned(
        &self,
        id: String,
        workspace: Option<PathBuf>,
    ) -> SessionResult<Arc<Session>> {
        self.create_with(Some(id), workspace, true).await
    }

    async fn create_with(
        &self,
        requested: Option<String>,
        fixed: Option<PathBuf>,
        pinned: bool,
    ) -> SessionResult<Arc<Session>> {
        let id = match requested {
            Some(id) => {
                validate_id(&id)?;
                id
            }
            None => format!("{:032x}", rand::random::<u128>()),
        };
        {
            let sessions = self.sessions.read().unwrap();
            let mut reserved = self.reserved.lock().unwrap();
            if sessions.contains_key(&id) || reserved.contains_key(&id) {
                return Err(SessionError::Exists(id));
            }
            // The compat session is the system's own: it does not use up the clients' quota.
            let counted = sessions.values().filter(|s| !s.pinned).count()
                + reserved.values().filter(|p| !**p).count();
            let max = self.engine.config.max_sessions;
            if !pinned && counted >= max {
                return Err(SessionError::TooMany(max));
            }
            reserved.insert(id.clone(), pinned);
        }
        let pooled = if fixed.is_none() {
            self.pool.take(&self.engine.zygote)
        } else {
            None
        };
        let prepared = match pooled {
            Some(p) => Ok(p),
            None => warm_pool::prepare(&self.engine, &self.uids, fixed.as_deref())
                .await
                .map_err(SessionError::from),
        };
        let result = prepared.map(|p| {
            let session = Arc::new(Session::new(id.clone(), p, pinned, self.engine.clone()));
            self.engine.metrics.sessions_created.inc();
            self.sessions
                .write()
                .unwrap()
                .insert(id.clone(), session.clone());
            session
        });
        self.reserved.lock().unwrap().remove(&id);
        result
    }

    pub async fn delete(&self, id: &str) -> SessionResult<()> {
        let session = self
            .sessions
            .write()
            .unwrap()
            .remove(id)
            .ok_or_else(|| SessionError::NotFound(id.to_string()))?;
        self.closed("deleted");
        self.close(session).await;
        Ok(())
    }

    fn closed(&self, reason: &'static str) {
        self.engine
            .metrics
            .sessions_closed
            .get_or_create(&crate::metrics::ClosedLabel { reason })
            .inc();
    }

    async fn close(&self, session: Arc<Session>) {
        let uid_free = session.close().await;
        if let (Some(pool), Some(uid)) = (self.uids.as_ref(), session.uid) {
            if !uid_free {
                tracing::error!(
                    uid,
                    "processes of a closed session remain; its uid stays out of the pool"
                );
            } else if self.scrub(uid).await {
                pool.release(uid);
            }
        }
        tracing::info!(session = %session.id, "session closed");
    }

    /// Removes what `uid` still owns outside its workspace (files in the shared directories,
    /// SysV IPC objects). True when provably nothing is left, so the uid may be reused.
    async fn scrub(&self, uid: u32) -> bool {
        let (paths, exclude) = (
            self.engine.config.shared_paths.clone(),
            self.engine.config.scrub_exclude(),
        );
        let done = tokio::task::spawn_blocking(move || {
            crate::os::shared_dirs::scrub(&paths, &exclude, &|u| u == uid)
        })
        .await;
        let complete = done.is_ok_and(|(files, _)| files.complete);
        if !complete {
            tracing::error!(uid, "could not prove the shared directories clean of a closed session's files; its uid stays out of the pool");
        }
        complete
    }

    /// Closes sessions idle past the TTL (never one mid-execution) or older than the lifetime.
    async fn reap_forever(self: Arc<Self>) {
        let idle = Duration::from_secs(self.engine.config.idle_ttl_s);
        let lifetime = Duration::from_secs(self.engine.config.max_session_lifetime_s);
        let tick =
            (idle.min(lifetime) / 4).clamp(Duration::from_millis(200), Duration::from_secs(10));
        loop {
            tokio::time::sleep(tick).await;
            let expired: Vec<Arc<Session>> = {
                let mut sessions = self.sessions.write().unwrap();
                let ids: Vec<String> = sessions
                    .values()
                    .filter(|s| {
                        (!s.is_busy() && s.idle_for() >= idle)
                            || s.created_instant.elapsed() >= lifetime
                    })
                    .map(|s| s.id.clone())
                    .collect();
                ids.iter().filter_map(|id| sessions.remove(id)).collect()
            };
            for s in expired {
                tracing::info!(session = %s.id, "session expired");
                self.closed("reaped");
                self.close(s).await;
            }
        }
    }

    /// Closes every session (shutdown).
    /// Shutdown: stops every session's processes but keeps its files. A deploy or a SIGTERM
    /// must never be what loses a file; the workspaces stay under the root (the durable export
    /// drains them).
    pub async fn stop_all(&self) {
        self.pool.close().await;
        let all: Vec<Arc<Session>> = self
            .sessions
            .write()
            .unwrap()
            .drain()
            .map(|(_, s)| s)
            .collect();
        for s in all {
            s.stop().await;
            tracing::info!(session = %s.id, workspace = %s.workspace.display(), "session stopped; files kept");
        }
    }
}

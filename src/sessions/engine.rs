//! What every session needs from the server to run code, built once at start and shared: the
//! configuration, the zygote that forks workers, and what start-up found about the host.

use crate::cgroups::SessionCgroup;
use crate::config::Config;
use crate::host::Host;
use crate::worker::{Worker, WorkerError};
use crate::zygote::{Zygote, ZygoteState};
use std::path::Path;
use std::sync::Arc;

pub struct Engine {
    pub config: Arc<Config>,
    pub zygote: Arc<Zygote>,
    pub host: Arc<Host>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub analytics: Arc<crate::analytics::Analytics>,
    /// What running executions check their disk quota on.
    pub ticks: Arc<crate::executions::Ticks>,
}

impl Engine {
    /// Forks a worker for a uid + workspace (a new session's, or one replacing a lost worker),
    /// in the session's cgroup (created first, with its limits).
    pub async fn spawn_worker(
        &self,
        uid: Option<u32>,
        cgroup: Option<&SessionCgroup>,
        ws: &Path,
    ) -> Result<Worker, WorkerError> {
        let counters = match cgroup.cloned() {
            Some(cg) => tokio::task::spawn_blocking(move || cg.create().map(|_| cg.counters()))
                .await?
                .map_err(WorkerError::Cgroup)?,
            None => Default::default(),
        };
        let zygote_pid = match self.zygote.state() {
            ZygoteState::Warm(info) => Some(info.pid),
            _ => None,
        };
        let policy = crate::sandbox_policy::for_session(
            &self.config,
            &self.host,
            uid,
            cgroup,
            zygote_pid,
            ws,
        );
        let env = crate::zygote::worker_environment(&self.config);
        let spawned = self
            .zygote
            .spawn_worker(&policy, ws, &env)
            .await
            .map(|mut w| {
                w.set_counters(counters);
                w
            });
        if let (Err(_), Some(cg)) = (&spawned, cgroup.cloned()) {
            // Nothing of the session may run there now; an empty group is not left behind.
            let _ = tokio::task::spawn_blocking(move || cg.kill_and_remove()).await;
        }
        spawned
    }
}

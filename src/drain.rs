//! SIGTERM (ECS StopTask, a deploy, scale-in): stop taking work, give running executions a
//! grace, then store everything not stored yet within `EXECUTOR_DRAIN_TIMEOUT_S`. The server
//! keeps answering meanwhile (`/health` says `draining`, so the load balancer stops routing).

use crate::compat::Compat;
use crate::config::Config;
use crate::sessions::SessionManager;
use crate::{exports, store::ObjectStorage};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Whether the server is draining: read by `/health` and by everything that starts work.
#[derive(Default)]
pub struct Drain {
    draining: AtomicBool,
}

impl Drain {
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    fn begin(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
}

/// What the drain could not store (empty: everything is in the object store).
pub struct Drained {
    pub unstored: Vec<String>,
}

/// Runs the drain; returns what is still only on disk.
pub async fn run(
    drain: &Drain,
    config: &Config,
    sessions: &Arc<SessionManager>,
    compat: &Arc<Compat>,
    store: &Arc<ObjectStorage>,
) -> Drained {
    let t0 = Instant::now();
    drain.begin();
    let timeout = Duration::from_secs_f64(config.drain_timeout_s.max(0.0));
    let grace = Duration::from_secs_f64(config.drain_grace_s.max(0.0)).min(timeout);
    tracing::info!(
        grace_s = grace.as_secs_f64(),
        timeout_s = timeout.as_secs_f64(),
        "draining: no new work; running executions get their grace"
    );
    while sessions.list().iter().any(|s| s.is_busy()) && t0.elapsed() < grace {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let still = sessions.list().iter().filter(|s| s.is_busy()).count();
    if still > 0 {
        tracing::warn!(
            executions = still,
            "grace over: stopping executions still running (their files stay)"
        );
    }
    // Stops every worker (and empties the table): nothing changes the files while they are
    // uploaded.
    let all = sessions.list();
    sessions.stop_all().await;
    let left = timeout.saturating_sub(t0.elapsed());
    let uploads = async {
        let mut unstored = Vec::new();
        if compat.needs_upload() {
            if let Err(e) = compat.complete().await {
                tracing::error!(error = %e, "drain: the compat session's upload failed");
            }
        }
        if let Some(prefix) = &config.drain_export_prefix {
            for s in &all {
                if s.pinned {
                    continue; // the compat session: its own layout, above
                }
                let to = exports::default_prefix(prefix, &s.id);
                match exports::export(store, s, &to, None).await {
                    Ok(b) => {
                        unstored.extend(b.failed.iter().map(|e| format!("{}: {e}", s.id)));
                        tracing::info!(session = %s.id, objects = b.moved.len(), prefix = %to, "drain: session exported");
                    }
                    Err(e) => unstored.push(format!("{}: {e}", s.id)),
                }
            }
        }
        unstored
    };
    let mut unstored = match tokio::time::timeout(left, uploads).await {
        Ok(u) => u,
        Err(_) => vec![format!(
            "the drain timeout ({} s) ended the uploads",
            timeout.as_secs_f64()
        )],
    };
    if compat.needs_upload() {
        let mut rest = compat.unstored().await;
        if rest.is_empty() {
            rest.push("debug/session_status.json".into());
        }
        let id = &compat.session_id;
        unstored.extend(rest.into_iter().map(|p| format!("{id}: {p}")));
    }
    if unstored.is_empty() {
        tracing::info!(
            took_ms = t0.elapsed().as_millis() as u64,
            "drained: everything is stored"
        );
    } else {
        tracing::error!(remaining = %unstored.join(", "), took_ms = t0.elapsed().as_millis() as u64, "drain incomplete: these stay on disk only");
    }
    Drained { unstored }
}

//! Whether this instance can serve, decided from memory for `/health`: a task that cannot run
//! code must not keep getting jobs, and a brief zygote restart must not flap the target
//! (sticky sessions move when a target turns unhealthy).
//!
//! Unhealthy when (1) the zygote has not been warm for `EXECUTOR_ZYGOTE_START_GRACE_S` since
//! start, or for `EXECUTOR_ZYGOTE_DOWN_GRACE_S` after it was warm; (2) it failed to start
//! `FAILED_STARTS` times in a row (a wrong interpreter: no point waiting out the grace); (3) the
//! workspace root is full (less than `EXECUTOR_MIN_FREE_MB` or 1,000 inodes free) or cannot be
//! written — measured every `DISK_EVERY` by a background task, never by `/health` itself.

use crate::config::Config;
use crate::zygote::Zygote;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

const FAILED_STARTS: u64 = 3;
const DISK_EVERY: Duration = Duration::from_secs(5);
const MIN_FREE_INODES: u64 = 1000;

pub struct Health {
    zygote: Arc<Zygote>,
    start_grace: Duration,
    down_grace: Duration,
    /// Why the workspace root cannot be used (None: it can), from the last probe.
    disk: RwLock<Option<String>>,
}

impl Health {
    /// Starts the disk probe; the verdict is read from memory.
    pub fn start(config: Arc<Config>, zygote: Arc<Zygote>) -> Arc<Health> {
        let h = Arc::new(Health {
            zygote,
            start_grace: Duration::from_secs_f64(config.zygote_start_grace_s.max(0.0)),
            down_grace: Duration::from_secs_f64(config.zygote_down_grace_s.max(0.0)),
            disk: RwLock::new(None),
        });
        let probe = h.clone();
        tokio::spawn(async move {
            loop {
                let c = config.clone();
                let verdict = tokio::task::spawn_blocking(move || disk_problem(&c))
                    .await
                    .unwrap_or(None);
                if verdict != *probe.disk.read().unwrap() {
                    match &verdict {
                        Some(why) => tracing::error!(reason = %why, "unhealthy: workspace root"),
                        None => tracing::info!("workspace root usable again"),
                    }
                }
                *probe.disk.write().unwrap() = verdict;
                tokio::time::sleep(DISK_EVERY).await;
            }
        });
        h
    }

    /// Ok, or why this instance cannot serve.
    pub fn verdict(&self) -> Result<(), String> {
        let z = &self.zygote;
        let failed = z.failed_starts.load(Ordering::Relaxed);
        if failed >= FAILED_STARTS {
            return Err(format!(
                "the Python zygote failed to start {failed} times in a row: {}",
                down_reason(z)
            ));
        }
        if let Some(for_) = z.not_warm_for() {
            let grace = if z.was_warm.load(Ordering::Relaxed) {
                self.down_grace
            } else {
                self.start_grace
            };
            if for_ > grace {
                return Err(format!(
                    "the Python zygote has not been warm for {:.0} s: {}",
                    for_.as_secs_f64(),
                    down_reason(z)
                ));
            }
        }
        match &*self.disk.read().unwrap() {
            Some(why) => Err(why.clone()),
            None => Ok(()),
        }
    }
}

fn down_reason(z: &Zygote) -> String {
    match z.state() {
        crate::zygote::ZygoteState::Down(why) => why,
        s => s.label().to_string(),
    }
}

/// Blocking: statvfs and a test write in the workspace root.
fn disk_problem(config: &Config) -> Option<String> {
    let root = &config.workspace_root;
    match nix::sys::statvfs::statvfs(root) {
        Ok(st) => {
            let free_mb = st.blocks_available().saturating_mul(st.fragment_size()) >> 20;
            if free_mb < config.min_free_mb {
                return Some(format!(
                    "the workspace root {} has {free_mb} MiB free (EXECUTOR_MIN_FREE_MB: {})",
                    root.display(),
                    config.min_free_mb
                ));
            }
            let files = st.files_available();
            if st.files() > 0 && files < MIN_FREE_INODES {
                return Some(format!(
                    "the workspace root {} has {files} inodes free",
                    root.display()
                ));
            }
        }
        Err(e) => return Some(format!("the workspace root {}: {e}", root.display())),
    }
    let probe = root.join(format!(".health-{:08x}", rand::random::<u32>()));
    match std::fs::write(&probe, b"ok") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(e) => Some(format!(
            "the workspace root {} cannot be written: {e}",
            root.display()
        )),
    }
}

//! The Deep Insight compat API's engine: one session (SESSION_ID, else `default`) driven the way
//! the reference Flask executor is driven, on the same sandboxed workers as v1.

pub mod error_info;
pub mod export;
pub mod file_sync;
pub mod netinfo;
pub mod truncate;

use crate::config::Config;
use crate::executions::{Language, Outcome};
use crate::paths::RelPath;
use crate::sessions::{ExecSpec, Session, SessionManager};
use crate::sessions::{SessionError, SessionResult};
use crate::store::ObjectStorage;
use crate::zygote::Zygote;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{Notify, OnceCell};

/// A completion upload that several callers can wait for.
type Upload = Shared<BoxFuture<'static, Result<(), String>>>;

/// An `/execute`'s answer: 200 with the contract's body, or an error status and message.
pub type Replied = Result<Value, (u16, String)>;
/// A running `/execute` that several requests can wait for.
pub type Run = Shared<BoxFuture<'static, Replied>>;

/// How long a result nobody received is kept for an identical re-send (the client re-sends at
/// once after a failed read; this bounds what an unrelated identical call much later sees).
const UNDELIVERED_TTL: Duration = Duration::from_secs(600);

/// The id of the compat session when ECS did not pass SESSION_ID.
pub const DEFAULT_SESSION: &str = "default";

pub struct Compat {
    pub session_id: String,
    /// SESSION_ID was given: this process exists for one job (lifecycle rules apply).
    pub single_session: bool,
    private_ip: OnceCell<String>,
    pub hostname: String,
    pub max_executions: u64,
    config: Arc<Config>,
    sessions: Arc<SessionManager>,
    zygote: Arc<Zygote>,
    session: OnceCell<Arc<Session>>,
    meta: Mutex<Meta>,
    exporter: export::Exporter,
    /// The completion upload in progress: a retry (or the drain) attaches to it.
    completion: Mutex<Option<Upload>>,
    /// The `/execute` running now: an identical re-send attaches to it.
    inflight: Mutex<Option<(u64, Run)>>,
    /// The last result no client has taken yet: an identical re-send gets it instead of
    /// running the code again.
    undelivered: Mutex<Option<(u64, Replied, Instant)>>,
    /// Notified when the process should exit (hard cap, or after completion).
    pub shutdown: Arc<Notify>,
    started: SystemTime,
    started_instant: Instant,
}

#[derive(Default)]
struct Meta {
    executions: u64,
    complete: bool,
    uploaded: bool,
    /// Executions ran or files were synced: there is something to upload.
    touched: bool,
    records: Vec<Value>,
    end_time: Option<SystemTime>,
}

/// What `/health` needs, read from memory.
pub struct Status {
    pub executions: u64,
    pub complete: bool,
}

impl Compat {
    /// Sets up the compat session in the background: nothing here may delay `/health`.
    pub fn start(
        config: Arc<Config>,
        sessions: Arc<SessionManager>,
        zygote: Arc<Zygote>,
        store: Arc<ObjectStorage>,
    ) -> Arc<Compat> {
        let single_session = config.session_id.is_some();
        let session_id = config
            .session_id
            .clone()
            .unwrap_or_else(|| DEFAULT_SESSION.into());
        let compat = Arc::new(Compat {
            session_id,
            single_session,
            private_ip: OnceCell::new(),
            hostname: netinfo::hostname(),
            max_executions: config.max_executions,
            config: config.clone(),
            sessions,
            zygote,
            session: OnceCell::new(),
            meta: Mutex::new(Meta::default()),
            exporter: export::Exporter::new(store),
            completion: Mutex::new(None),
            inflight: Mutex::new(None),
            undelivered: Mutex::new(None),
            shutdown: Arc::new(Notify::new()),
            started: SystemTime::now(),
            started_instant: Instant::now(),
        });
        // Create the session as soon as the zygote is warm, so the first call does not wait.
        let c = compat.clone();
        tokio::spawn(async move {
            c.private_ip().await;
            if let Err(e) = c.session().await {
                tracing::error!(error = %e, "could not create the compat session");
            }
        });
        if single_session && config.hard_cap_s > 0 {
            tokio::spawn(
                compat
                    .clone()
                    .hard_cap(Duration::from_secs(config.hard_cap_s)),
            );
        }
        compat
    }

    /// The task's private IP (detected once: ECS metadata, else the hostname's address).
    pub async fn private_ip(&self) -> String {
        self.private_ip
            .get_or_init(|| netinfo::private_ip(self.config.private_ip.as_deref()))
            .await
            .clone()
    }

    pub fn status(&self) -> Status {
        let m = self.meta.lock().unwrap();
        Status {
            executions: m.executions,
            complete: m.complete,
        }
    }

    pub fn uptime_s(&self) -> u64 {
        self.started_instant.elapsed().as_secs()
    }

    pub async fn session(&self) -> SessionResult<Arc<Session>> {
        self.session
            .get_or_try_init(|| async {
                self.zygote
                    .wait_warm(Duration::from_secs(120))
                    .await
                    .map_err(SessionError::from)?;
                self.sessions
                    .create_pinned(
                        self.session_id.clone(),
                        self.config.compat_workspace.clone(),
                    )
                    .await
            })
            .await
            .cloned()
    }

    /// Runs `code` on its own task, or attaches to an identical one: the run in progress, or
    /// the last result that was never delivered (see docs/compat.md). Returns the run and a
    /// digest of the code (for [`Compat::delivered`]).
    pub fn execute_once(self: &Arc<Self>, code: String, trace_id: Option<String>) -> (Run, u64) {
        let digest = crate::executions::digest64(code.as_bytes());
        let mut inflight = self.inflight.lock().unwrap();
        if let Some((d, run)) = &*inflight {
            if *d == digest {
                tracing::info!("an identical /execute is running: attaching to it");
                return (run.clone(), digest);
            }
        }
        {
            let mut undelivered = self.undelivered.lock().unwrap();
            match undelivered.take() {
                Some((d, reply, at)) if d == digest && at.elapsed() < UNDELIVERED_TTL => {
                    tracing::info!(
                        "an identical /execute's result was never delivered: answering with it"
                    );
                    let ready: Run = futures_util::future::ready(reply).boxed().shared();
                    return (ready, digest);
                }
                other => *undelivered = other,
            }
        }
        let c = self.clone();
        let task = tokio::spawn(async move {
            let reply: Replied = c.execute(&code, trace_id).await.map_err(|e| {
                let e = crate::error::ApiError::from(e);
                (e.status().as_u16(), e.message())
            });
            *c.undelivered.lock().unwrap() = Some((digest, reply.clone(), Instant::now()));
            let mut inflight = c.inflight.lock().unwrap();
            if inflight.as_ref().is_some_and(|(d, _)| *d == digest) {
                *inflight = None;
            }
            reply
        });
        let run: Run = async move {
            task.await
                .unwrap_or_else(|e| Err((500, format!("the execution task failed: {e}"))))
        }
        .boxed()
        .shared();
        *inflight = Some((digest, run.clone()));
        (run, digest)
    }

    /// The answer for `digest` was handed to the connection whole: a re-send runs again.
    pub fn delivered(&self, digest: u64) {
        let mut undelivered = self.undelivered.lock().unwrap();
        if undelivered.as_ref().is_some_and(|(d, _, _)| *d == digest) {
            *undelivered = None;
        }
    }

    /// Runs `code` the reference's way and returns its response body (always for a 200).
    pub async fn execute(
        self: &Arc<Self>,
        code: &str,
        trace_id: Option<String>,
    ) -> SessionResult<Value> {
        let session = self.session().await?;
        let trimmed = code.trim();
        let (language, body, timeout) = match trimmed.strip_prefix("BASH:") {
            Some(cmd) => (
                Language::Shell,
                cmd.trim().to_string(),
                self.config.bash_timeout_s,
            ),
            None => (
                Language::Python,
                code.to_string(),
                self.config.compat_python_timeout_s,
            ),
        };
        let spec = ExecSpec {
            code: body,
            language,
            timeout: Duration::from_secs_f64(timeout),
            fresh_namespace: true,
            wait_if_busy: true,
            trace_id: trace_id.clone(),
        };
        let timestamp = SystemTime::now();
        let container_ip = self.private_ip().await;
        let done = session.execute(spec).await?;
        let r = &done.result;
        let error = match (r.status, language) {
            (Outcome::Ok, _) => Value::Null,
            (Outcome::Timeout, Language::Shell) => {
                json!({"type": "TimeoutError", "message": format!("Command timed out after {} seconds", python_number(timeout))})
            }
            (Outcome::Error, Language::Shell) if r.exit_code.is_some() => {
                let rc = r.exit_code.unwrap_or(-1);
                json!({"type": "BashError", "message": format!("Command failed with return code {rc}"), "return_code": rc})
            }
            (Outcome::Timeout, Language::Python) => {
                let mut e = r.error.clone().unwrap_or_default();
                e.kind = "TimeoutError".into();
                e.message = format!(
                    "Execution timed out after {} seconds",
                    python_number(timeout)
                );
                error_info::python(&e)
            }
            _ => match &r.error {
                Some(e) => error_info::python(e),
                None => {
                    json!({"type": "ExecutionError", "message": format!("execution ended as {:?}", r.status), "line": null, "key_info": {}, "traceback": ""})
                }
            },
        };
        let status = if error.is_null() {
            "completed"
        } else {
            "failed"
        };
        let (n, reached_max) = {
            let mut m = self.meta.lock().unwrap();
            m.executions += 1;
            m.touched = true;
            let n = m.executions;
            m.records.push(json!({
                "execution_num": n,
                "timestamp": crate::time::python_str(timestamp),
                "code": code_preview(code),
                "code_type": if language == Language::Shell { "bash" } else { "python" },
                "status": status,
                "stdout": done.stdout,
                "stderr": done.stderr,
                "error": error,
                "execution_time_ms": r.duration_ms,
                "container_ip": container_ip,
            }));
            (n, n >= self.max_executions)
        };
        if reached_max {
            // The reference completes the session inside the request that hits the cap.
            self.meta.lock().unwrap().complete = true;
            if let Err(e) = self.complete().await {
                tracing::warn!(error = %e, "upload at max_executions failed; /session/complete can retry it");
            }
        }
        Ok(json!({
            "session_id": self.session_id,
            "execution_num": n,
            "status": status,
            "stdout": truncate::output(&done.stdout),
            "stderr": truncate::output(&done.stderr),
            "error": error,
            "execution_time_ms": r.duration_ms,
            "total_executions": n,
            "is_session_complete": self.status().complete,
            "s3_backup": "skipped_until_session_end",
        }))
    }

    /// Uploads the session (records, artifacts, data) and marks it complete. Idempotent once
    /// it succeeded; the session stays usable when it fails. The upload runs on its own task:
    /// a client that gives up does not stop it, and a retry waits for the same upload instead
    /// of starting another.
    pub async fn complete(self: &Arc<Self>) -> Result<(), String> {
        if self.meta.lock().unwrap().uploaded {
            return Ok(());
        }
        let upload = {
            let mut slot = self.completion.lock().unwrap();
            match &*slot {
                Some(running) => running.clone(),
                None => {
                    let c = self.clone();
                    let task = tokio::spawn(async move {
                        let r = c.upload().await;
                        *c.completion.lock().unwrap() = None;
                        r
                    });
                    let shared = async move { task.await.unwrap_or_else(|e| Err(e.to_string())) }
                        .boxed()
                        .shared();
                    *slot = Some(shared.clone());
                    shared
                }
            }
        };
        upload.await
    }

    async fn upload(self: &Arc<Self>) -> Result<(), String> {
        let session = self.session().await.map_err(|e| e.to_string())?;
        let (records, status) = {
            let records = self.meta.lock().unwrap().records.clone();
            (records, self.session_status_document())
        };
        let t0 = Instant::now();
        let n = self
            .exporter
            .upload(
                &self.session_id,
                &session.workspace,
                session.uid,
                &records,
                &status,
            )
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(objects = n, took_ms = t0.elapsed().as_millis() as u64, prefix = %export::Exporter::prefix(&self.session_id), "compat session uploaded");
        {
            let mut m = self.meta.lock().unwrap();
            m.uploaded = true;
            m.complete = true;
            m.end_time.get_or_insert_with(SystemTime::now);
        }
        if self.single_session && self.config.exit_after_complete_s > 0 {
            let (notify, delay) = (
                self.shutdown.clone(),
                Duration::from_secs(self.config.exit_after_complete_s),
            );
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                tracing::info!("session complete: exiting so the task frees its slot");
                notify.notify_one();
            });
        }
        Ok(())
    }

    /// Whether a drain must upload this session: a job's task always, else once used; never
    /// twice.
    pub fn needs_upload(&self) -> bool {
        let m = self.meta.lock().unwrap();
        !m.uploaded && (self.single_session || m.touched)
    }

    /// What is still only on disk (workspace paths and records), for the drain's last log.
    pub async fn unstored(&self) -> Vec<String> {
        let Some(session) = self.session.get() else {
            return vec![];
        };
        let n = self.status().executions;
        self.exporter
            .remaining(&session.workspace, &self.session_id, n)
            .await
    }

    pub fn store(&self) -> &Arc<ObjectStorage> {
        &self.exporter.store
    }

    pub fn mark_touched(&self) {
        self.meta.lock().unwrap().touched = true;
    }

    /// `debug/session_status.json` of the reference's S3 layout.
    pub fn session_status_document(&self) -> Value {
        let m = self.meta.lock().unwrap();
        json!({
            "session_id": self.session_id,
            "total_executions": m.executions,
            "start_time": crate::time::python_str(self.started),
            "end_time": crate::time::python_str(m.end_time.unwrap_or_else(SystemTime::now)),
            "executions": m.records,
        })
    }

    /// Maps a `/file-sync` `local_path` onto the workspace: `/app/data/` → `data`, a relative
    /// path as is. Anything else (outside the workspace) is refused.
    pub fn resolve_local_path(&self, local_path: &str) -> Result<Option<RelPath>, String> {
        let prefix = self.config.compat_path_prefix.trim_end_matches('/');
        let rel = if local_path == prefix || local_path == format!("{prefix}/") {
            return Ok(None);
        } else if let Some(rest) = local_path.strip_prefix(&format!("{prefix}/")) {
            rest
        } else if local_path.starts_with('/') {
            return Err(format!(
                "local_path must be inside the session workspace ({prefix}/...)"
            ));
        } else {
            local_path.trim_start_matches("./")
        };
        if rel.trim_matches('/').is_empty() || rel == "." {
            return Ok(None);
        }
        RelPath::parse(rel).map(Some).map_err(|e| e.to_string())
    }

    async fn hard_cap(self: Arc<Self>, after: Duration) {
        tokio::time::sleep(after).await;
        tracing::warn!("hard cap reached: uploading what is not uploaded, then exiting");
        if let Err(e) = self.complete().await {
            tracing::error!(error = %e, "upload at the hard cap failed");
        }
        self.shutdown.notify_one();
    }
}

/// How Python prints a number of seconds in an f-string: `30`, `2.5`.
fn python_number(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// The first 200 characters of the code, `...` when longer.
fn code_preview(code: &str) -> String {
    truncate::cap(code, 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_and_numbers() {
        assert_eq!(code_preview("print(1)"), "print(1)");
        let long = "가".repeat(250);
        assert_eq!(code_preview(&long), format!("{}...", "가".repeat(200)));
        assert_eq!(python_number(30.0), "30");
        assert_eq!(python_number(2.5), "2.5");
    }
}

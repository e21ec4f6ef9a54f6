//! One session: its workspace, uid and worker, its execution history and what it produced.

use super::engine::Engine;
use super::error::{SessionError, SessionResult};
use super::warm_pool;
use crate::artifacts::{self, FileKey};
use crate::executions::{self, ExecEvent, ExecutionResult, Language, Outcome, RawRun, RunLimits};
use crate::worker::protocol::Request;
use crate::worker::{Stopper, Worker};
use dynexec_sandbox::Report;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Notify;

/// Results kept per session for `GET .../executions/{id}`.
const HISTORY: usize = 100;
/// Executions whose full event journal (every output chunk, in order) is kept.
const JOURNALS: usize = 16;

pub struct Session {
    pub id: String,
    pub workspace: PathBuf,
    pub uid: Option<u32>,
    /// Stops the session's processes: its uid and its cgroup, held from creation.
    stopper: Stopper,
    engine: Arc<Engine>,
    pub created: SystemTime,
    pub created_instant: Instant,
    last_used: Mutex<Instant>,
    last_used_wall: Mutex<SystemTime>,
    /// Held for the whole of an execution (and the outside check after it): one execution at
    /// a time per session.
    worker: Arc<tokio::sync::Mutex<Option<Worker>>>,
    /// The check after an execution holds the worker: a new execution waits for it rather
    /// than being refused as busy.
    checking: Arc<AtomicBool>,
    cancel: Arc<Notify>,
    meta: Mutex<Meta>,
    history: Mutex<VecDeque<Arc<ExecutionResult>>>,
    journals: Mutex<VecDeque<(String, Arc<Vec<ExecEvent>>)>>,
    /// Which execution last wrote each artifact.
    origins: Mutex<HashMap<String, String>>,
    /// sha256 by path, valid while (size, mtime, inode) match.
    hashes: Mutex<HashMap<String, (FileKey, String)>>,
    closed: AtomicBool,
    /// The last execution ended over the disk quota: measure before running the next one.
    over_quota: Arc<AtomicBool>,
    /// When the last quota walk after an execution ended, and what it cost.
    quota_walk: Arc<Mutex<(Option<Instant>, Duration)>>,
    /// Kept for the life of the process (the compat session): never reaped, never deleted.
    pub pinned: bool,
}

#[derive(Default)]
struct Meta {
    executions: u64,
    worker_restarts: u64,
    worker_pid: i32,
    sandbox: Report,
    busy: bool,
}

/// A session as the API shows it.
#[derive(Debug, Serialize)]
pub struct SessionInfo {
    pub id: String,
    pub state: &'static str,
    pub created_at: String,
    pub last_used_at: String,
    pub executions: u64,
    pub worker_restarts: u64,
    pub sandbox: SandboxInfo,
}

/// The sandbox a session's worker is in: what it applied, and what that means.
#[derive(Debug, Serialize)]
pub struct SandboxInfo {
    #[serde(flatten)]
    pub report: Report,
    pub worker_pid: i32,
    pub uid_isolation: bool,
    /// `private` (a mount namespace), `locked` (the server took the shared directories away
    /// from session uids) or `shared`.
    pub shared_tmp: &'static str,
    pub degraded: bool,
    pub warnings: Vec<&'static str>,
}

/// An execution request after validation.
pub struct ExecSpec {
    pub code: String,
    pub language: Language,
    pub timeout: Duration,
    /// Run in a fresh namespace (the reference executor's semantics) instead of the session's.
    pub fresh_namespace: bool,
    /// Wait for a running execution to finish instead of answering 409 (the compat client
    /// re-sends on timeout and must not be refused).
    pub wait_if_busy: bool,
}

/// What one execution left, for [`Session::record`].
struct Recorded {
    id: String,
    language: Language,
    raw: RawRun,
    produced: Vec<String>,
    started: SystemTime,
    duration_ms: u64,
    /// The worker was not replaced before the run.
    state_preserved: bool,
}

/// A finished execution plus its complete output (the result holds the inline part only).
pub struct Executed {
    pub result: Arc<ExecutionResult>,
    pub stdout: String,
    pub stderr: String,
}

impl Session {
    pub fn new(
        id: String,
        prepared: warm_pool::Prepared,
        pinned: bool,
        engine: Arc<Engine>,
    ) -> Session {
        let meta = Meta {
            worker_pid: prepared.worker.pid,
            sandbox: prepared.worker.sandbox.clone(),
            ..Meta::default()
        };
        Session {
            id,
            workspace: prepared.workspace,
            uid: prepared.stopper.uid,
            stopper: prepared.stopper,
            engine,
            created: SystemTime::now(),
            created_instant: Instant::now(),
            last_used: Mutex::new(Instant::now()),
            last_used_wall: Mutex::new(SystemTime::now()),
            worker: Arc::new(tokio::sync::Mutex::new(Some(prepared.worker))),
            checking: Arc::new(AtomicBool::new(false)),
            cancel: Arc::new(Notify::new()),
            meta: Mutex::new(meta),
            history: Mutex::new(VecDeque::new()),
            journals: Mutex::new(VecDeque::new()),
            origins: Mutex::new(HashMap::new()),
            hashes: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            over_quota: Arc::new(AtomicBool::new(false)),
            quota_walk: Arc::new(Mutex::new((None, Duration::ZERO))),
            pinned,
        }
    }

    pub fn touch(&self) {
        *self.last_used.lock().unwrap() = Instant::now();
        *self.last_used_wall.lock().unwrap() = SystemTime::now();
    }

    pub fn idle_for(&self) -> Duration {
        self.last_used.lock().unwrap().elapsed()
    }

    pub fn is_busy(&self) -> bool {
        self.meta.lock().unwrap().busy
    }

    pub fn worker_pid(&self) -> i32 {
        self.meta.lock().unwrap().worker_pid
    }

    pub fn info(&self) -> SessionInfo {
        let m = self.meta.lock().unwrap();
        let report = m.sandbox.clone();
        let private_tmp = report.namespaces.contains("mount");
        let locked = self.engine.host.shared_dirs_locked;
        let limited = self
            .stopper
            .cgroup
            .as_ref()
            .is_some_and(|c| c.limits_memory_and_processes());
        let warnings = crate::sandbox_policy::session_warnings(&report, limited, locked);
        SessionInfo {
            id: self.id.clone(),
            state: if self.closed.load(Ordering::SeqCst) {
                "closed"
            } else if m.busy {
                "busy"
            } else {
                "ready"
            },
            created_at: crate::time::rfc3339(self.created),
            last_used_at: crate::time::rfc3339(*self.last_used_wall.lock().unwrap()),
            executions: m.executions,
            worker_restarts: m.worker_restarts,
            sandbox: SandboxInfo {
                report,
                worker_pid: m.worker_pid,
                uid_isolation: self.uid.is_some(),
                shared_tmp: match (private_tmp, locked) {
                    (true, _) => "private",
                    (false, true) => "locked",
                    (false, false) => "shared",
                },
                degraded: !warnings.is_empty(),
                warnings,
            },
        }
    }

    /// Runs one execution. A second concurrent one is refused with 409 (`session_busy`):
    /// queueing would hide from the caller that its code has not started.
    pub async fn execute(&self, spec: ExecSpec) -> SessionResult<Executed> {
        let mut slot = match self.worker.clone().try_lock_owned() {
            Ok(slot) => slot,
            Err(_) if spec.wait_if_busy || self.checking.load(Ordering::SeqCst) => {
                self.worker.clone().lock_owned().await
            }
            Err(_) => return Err(SessionError::Busy(self.id.clone())),
        };
        if self.closed.load(Ordering::SeqCst) {
            return Err(SessionError::NotFound(self.id.clone()));
        }
        self.set_busy(true);
        let result = self.execute_locked(&mut slot, spec).await;
        self.set_busy(false);
        self.touch();
        self.pause_and_check(slot, self.engine.config.disk_quota());
        result
    }

    /// Between executions nothing of the session runs, whatever the worker claims: the worker
    /// is stopped (SIGSTOP) the moment its result is in — a daemon thread, or code that forged
    /// a result on the channel and carries on, is frozen until the next execution — and the
    /// server looks for processes of the session's uid other than the worker from outside
    /// (the worker's own report of leftovers can be patched away) and kills them. The look
    /// runs after the response is on its way, holding the worker, so the next execution
    /// waits for it.
    fn pause_and_check(
        &self,
        slot: tokio::sync::OwnedMutexGuard<Option<Worker>>,
        quota: Option<crate::paths::Quota>,
    ) {
        let Some(worker) = slot.as_ref() else {
            return;
        };
        worker.signal(libc::SIGSTOP);
        let (uid, pid) = (self.uid, worker.pid);
        // Code that wrote fast and returned before the first in-run measurement (500 ms) is
        // measured here, so the next execution is refused if it went over.
        let walk = quota.filter(|_| self.quota_walk_due());
        if uid.is_none() && walk.is_none() {
            return;
        }
        self.checking.store(true, Ordering::SeqCst);
        let checking = self.checking.clone();
        let (over_quota, timing, ws, stopper) = (
            self.over_quota.clone(),
            self.quota_walk.clone(),
            self.workspace.clone(),
            self.stopper.clone(),
        );
        tokio::spawn(async move {
            let checked = tokio::task::spawn_blocking(move || {
                let strays = uid
                    .map(|uid| crate::os::procs::others_of_uid(uid, pid))
                    .unwrap_or_default();
                let t0 = Instant::now();
                let over = walk.map(|q| (q.exceeded(&ws, 0), t0.elapsed()));
                (strays, over)
            })
            .await;
            let (strays, over) = checked.unwrap_or_default();
            if let Some((over, took)) = over {
                over_quota.store(over, Ordering::SeqCst);
                *timing.lock().unwrap() = (Some(Instant::now()), took);
            }
            if let (false, Some(uid)) = (strays.is_empty(), uid) {
                tracing::warn!(uid, strays = ?strays, "processes outlived their execution; killing them");
                stopper.kill_children(pid).await;
                crate::os::procs::signal(pid, libc::SIGSTOP);
            }
            drop(slot);
            checking.store(false, Ordering::SeqCst);
        });
    }

    /// A quota walk after an execution is due when the last one is older than ten times what
    /// it took: a workspace made to be slow to walk is measured less often, never more than
    /// 10% of a (idle-priority) core.
    fn quota_walk_due(&self) -> bool {
        match *self.quota_walk.lock().unwrap() {
            (None, _) => true,
            (Some(at), took) => at.elapsed() >= took * 10,
        }
    }

    fn set_busy(&self, busy: bool) {
        self.meta.lock().unwrap().busy = busy;
    }

    /// One execution, the worker held: a live worker, the run, then what is kept of it.
    async fn execute_locked(
        &self,
        slot: &mut Option<Worker>,
        spec: ExecSpec,
    ) -> SessionResult<Executed> {
        let fresh_worker = self.prepare_worker(slot).await?;
        let worker = slot.as_mut().expect("prepare_worker left a worker");
        let n = {
            let mut m = self.meta.lock().unwrap();
            m.executions += 1;
            m.executions
        };
        let id = format!("e{:06}-{:08x}", n, rand::random::<u32>());
        let ws = self.workspace.clone();
        let before = tokio::task::spawn_blocking(move || artifacts::snapshot(&ws))
            .await
            .unwrap_or_default();
        let started = SystemTime::now();
        let t0 = Instant::now();
        let ExecSpec {
            code,
            language,
            timeout,
            fresh_namespace,
            ..
        } = spec;
        let msg = Request::Exec {
            id: id.clone(),
            n,
            code,
            language,
            fresh: fresh_namespace,
        };
        let raw = self.run(worker, &msg, timeout).await;
        let duration_ms = t0.elapsed().as_millis() as u64;
        if worker.chan.lost {
            // Whatever is left of the session's processes goes with the worker.
            self.stopper.kill_all(worker.pid).await;
            *slot = None;
        } else if raw.stray_processes {
            // No process outlives the execution that started it (a fork bomb's children, a
            // daemon): the session's worker and its variables stay, everything else goes.
            self.stopper.kill_children(worker.pid).await;
        }
        let ws = self.workspace.clone();
        let after = tokio::task::spawn_blocking(move || artifacts::snapshot(&ws))
            .await
            .unwrap_or_default();
        let produced = artifacts::changed(&before, &after);
        Ok(self.record(Recorded {
            id,
            language,
            raw,
            produced,
            started,
            duration_ms,
            state_preserved: !fresh_worker,
        }))
    }

    /// Makes sure the slot holds a live worker of the current zygote; true when it had to
    /// start a new one (the session's variables are gone).
    async fn prepare_worker(&self, slot: &mut Option<Worker>) -> SessionResult<bool> {
        let current = self.engine.zygote.generation.load(Ordering::SeqCst);
        // A worker of an older zygote died with it (PDEATHSIG); one that is gone for any
        // other reason is replaced too, before the code is sent rather than after it fails.
        if slot
            .as_ref()
            .is_some_and(|w| w.generation != current || !crate::os::procs::alive(w.pid))
        {
            *slot = None;
        }
        if slot.is_some() {
            return Ok(false);
        }
        *slot = Some(self.respawn().await?);
        Ok(true)
    }

    /// Sends the code and runs it to its end under the session's limits (or refuses it while
    /// the workspace is over its quota).
    async fn run(&self, worker: &mut Worker, msg: &Request, timeout: Duration) -> RawRun {
        let config = &self.engine.config;
        let limits = RunLimits {
            timeout,
            grace: Duration::from_millis(config.kill_grace_ms),
            output_cap: config.output_cap_bytes,
            disk_quota: config.disk_quota().map(|q| (self.workspace.clone(), q)),
        };
        // Only a session that went over its quota is measured up front (until it is back under).
        let refuse =
            self.over_quota.load(Ordering::SeqCst) && executions::over_quota(&limits).await;
        // Stopped since the last execution ended (see `pause_and_check`).
        worker.signal(libc::SIGCONT);
        let raw = if refuse {
            RawRun::refused(
                Outcome::DiskQuota,
                executions::quota_error(&limits),
                config.output_cap_bytes,
            )
        } else {
            executions::run(worker, msg, &limits, &self.stopper, self.cancel.clone()).await
        };
        self.over_quota
            .store(raw.status == Outcome::DiskQuota, Ordering::SeqCst);
        raw
    }

    /// Keeps the result, its event journal and which execution produced which artifact.
    fn record(&self, r: Recorded) -> Executed {
        let config = &self.engine.config;
        {
            let mut origins = self.origins.lock().unwrap();
            for p in &r.produced {
                origins.insert(p.clone(), r.id.clone());
            }
        }
        let raw = r.raw;
        let (stdout, stdout_truncated) = raw.stdout.inline(config.output_return_bytes);
        let (stderr, stderr_truncated) = raw.stderr.inline(config.output_return_bytes);
        let result = Arc::new(ExecutionResult {
            id: r.id,
            session_id: self.id.clone(),
            language: r.language,
            status: raw.status,
            stdout,
            stderr,
            stdout_truncated,
            stderr_truncated,
            error: raw.error,
            exit_code: raw.exit_code,
            duration_ms: r.duration_ms,
            cpu_ms: raw.cpu_ms,
            max_rss_kb: raw.max_rss_kb,
            artifacts: r.produced,
            state_preserved: r.state_preserved && raw.state_preserved,
            started_at: crate::time::rfc3339(r.started),
        });
        let mut history = self.history.lock().unwrap();
        if history.len() >= HISTORY {
            history.pop_front();
        }
        history.push_back(result.clone());
        let mut journals = self.journals.lock().unwrap();
        if journals.len() >= JOURNALS {
            journals.pop_front();
        }
        journals.push_back((result.id.clone(), Arc::new(raw.events)));
        Executed {
            result,
            stdout: raw.stdout.full_text(),
            stderr: raw.stderr.full_text(),
        }
    }

    /// Replaces a lost worker: same uid, same workspace, fresh interpreter state.
    async fn respawn(&self) -> SessionResult<Worker> {
        self.stopper.kill_all(self.worker_pid()).await;
        let worker = self
            .engine
            .spawn_worker(self.uid, self.stopper.cgroup.as_ref(), &self.workspace)
            .await?;
        let mut m = self.meta.lock().unwrap();
        m.worker_restarts += 1;
        m.worker_pid = worker.pid;
        m.sandbox = worker.sandbox.clone();
        Ok(worker)
    }

    pub fn executions_list(&self) -> Vec<Arc<ExecutionResult>> {
        self.history.lock().unwrap().iter().cloned().collect()
    }

    pub fn execution(&self, id: &str) -> Option<Arc<ExecutionResult>> {
        self.history
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.id == id)
            .cloned()
    }

    /// The ordered events of a recent execution (stdout/stderr chunks, artifacts, result).
    pub fn execution_events(&self, id: &str) -> Option<Arc<Vec<ExecEvent>>> {
        self.journals
            .lock()
            .unwrap()
            .iter()
            .find(|(e, _)| e == id)
            .map(|(_, ev)| ev.clone())
    }

    pub fn origin_of(&self, path: &str) -> Option<String> {
        self.origins.lock().unwrap().get(path).cloned()
    }

    pub fn cached_hash(&self, path: &str, key: FileKey) -> Option<String> {
        self.hashes
            .lock()
            .unwrap()
            .get(path)
            .filter(|(k, _)| *k == key)
            .map(|(_, h)| h.clone())
    }

    pub fn store_hash(&self, path: &str, key: FileKey, hash: String) {
        self.hashes
            .lock()
            .unwrap()
            .insert(path.to_string(), (key, hash));
    }

    /// Kills every process of the session (and waits for a running execution to notice);
    /// the workspace stays. Returns whether the uid is provably free again.
    pub async fn stop(&self) -> bool {
        self.closed.store(true, Ordering::SeqCst);
        self.cancel.notify_one();
        let (stopper, pid) = (self.stopper.clone(), self.worker_pid());
        let free = tokio::task::spawn_blocking(move || stopper.kill_all_now(pid))
            .await
            .unwrap_or(false);
        // The run loop (if any) sees its worker die and returns; then the slot is ours.
        *self.worker.lock().await = None;
        free
    }

    /// [`Session::stop`], then deletes the workspace.
    pub async fn close(&self) -> bool {
        let free = self.stop().await;
        let ws = self.workspace.clone();
        let removed = tokio::task::spawn_blocking(move || super::workspace::remove(&ws)).await;
        if let Ok(Err(e)) = removed {
            tracing::error!(workspace = %self.workspace.display(), error = %e, "could not remove a workspace");
        }
        free
    }
}

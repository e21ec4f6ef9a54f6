//! One session: its workspace, uid and worker, its execution history and what it produced.

use super::engine::Engine;
use super::error::{SessionError, SessionResult};
use super::warm_pool;
use crate::artifacts::{self, FileKey};
use crate::executions::{self, ExecutionResult, Journal, Language, Outcome, RawRun, RunLimits};
use crate::worker::protocol::Request;
use crate::worker::{Stopper, Worker, WorkerError};
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
    /// The journals of the running execution and the most recent ones.
    journals: Mutex<VecDeque<Arc<Journal>>>,
    /// `Idempotency-Key` → the execution it started (as long as the session lives).
    keys: Mutex<HashMap<String, Keyed>>,
    /// Follows writes under `artifacts/` (inotify) so an execution needs no walk of the tree;
    /// None until the first execution, or when it cannot be used (then executions walk).
    tracker: Arc<Mutex<Option<artifacts::watch::Tracker>>>,
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
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub id: String,
    pub state: &'static str,
    pub created_at: String,
    pub last_used_at: String,
    pub executions: u64,
    pub worker_restarts: u64,
    /// The layers applied to this session's worker, its uid and pid, and what is degraded.
    #[schema(value_type = Object)]
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
    /// The W3C trace id of the request that asked for it (logs and the result carry it).
    pub trace_id: Option<String>,
}

/// Idempotency keys kept per session (the oldest go first).
const KEYS: usize = 1000;

/// What an idempotency key points at.
#[derive(Clone)]
enum Keyed {
    Running {
        body: u64,
        journal: Arc<Journal>,
    },
    Done {
        body: u64,
        result: Arc<ExecutionResult>,
    },
}

/// What [`Session::submit`] gives back.
pub enum Submitted {
    /// A new execution, running on its own task; `done` delivers its full output.
    Started {
        journal: Arc<Journal>,
        done: tokio::sync::oneshot::Receiver<Executed>,
    },
    /// The key's execution, still running: attach to it.
    Running(Arc<Journal>),
    /// The key's execution, finished: its stored result (and journal, when still kept).
    Done(Arc<ExecutionResult>, Option<Arc<Journal>>),
}

/// An `Idempotency-Key` and a digest of the request it came with.
pub struct IdempotencyKey {
    pub key: String,
    pub body: u64,
}

/// What one execution left, for [`Session::record`].
struct Recorded {
    id: String,
    language: Language,
    raw: RawRun,
    produced: Vec<String>,
    started: SystemTime,
    duration_ms: u64,
    trace_id: Option<String>,
    /// The worker was not replaced before the run.
    state_preserved: bool,
}

/// A finished execution plus its complete output (the result holds the inline part only).
pub struct Executed {
    pub result: Arc<ExecutionResult>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `f` on the session's artifact tracker when it is working and nothing is queued on it
/// (so `f` reads no directory); false, `f` not run, otherwise.
fn quiet_tracker(
    tracker: &std::sync::Mutex<Option<artifacts::watch::Tracker>>,
    f: impl FnOnce(&mut artifacts::watch::Tracker),
) -> bool {
    match tracker.lock().unwrap().as_mut() {
        Some(t) if !t.is_broken() && t.is_quiet() => {
            f(t);
            true
        }
        _ => false,
    }
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
            keys: Mutex::new(HashMap::new()),
            tracker: Arc::new(Mutex::new(None)),
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

    /// Runs one execution to its end. A second concurrent one is refused with 409
    /// (`session_busy`) unless `wait_if_busy`: queueing would hide from the caller that its code
    /// has not started.
    pub async fn execute(self: &Arc<Self>, spec: ExecSpec) -> SessionResult<Executed> {
        match self.submit(spec, None).await? {
            Submitted::Started { done, journal } => match done.await {
                Ok(e) => Ok(e),
                // The task ended without a result (the runtime is shutting down).
                Err(_) => Err(SessionError::NotFound(journal.session_id.clone())),
            },
            // Without a key nothing is attached to.
            Submitted::Running(_) | Submitted::Done(..) => unreachable!("no key was given"),
        }
    }

    /// Starts an execution on its own task and returns at once: the client going away does
    /// not stop it, and its journal is readable (and followable) while it runs. With a key
    /// seen before, the earlier execution is returned instead (never run twice), or
    /// `KeyReused` when the key came with another request.
    pub async fn submit(
        self: &Arc<Self>,
        spec: ExecSpec,
        key: Option<IdempotencyKey>,
    ) -> SessionResult<Submitted> {
        // The key table is held from the look-up to the insertion, so two requests with one key
        // cannot both start: the second finds the first's journal.
        let quick = {
            let mut keys = self.keys.lock().unwrap();
            if let Some(k) = &key {
                if let Some(found) = keys.get(&k.key) {
                    return self.attach(found.clone(), k.body);
                }
            }
            match self.worker.clone().try_lock_owned() {
                Ok(slot) => {
                    if self.closed.load(Ordering::SeqCst) {
                        return Err(SessionError::NotFound(self.id.clone()));
                    }
                    let journal = self.open_journal(spec.language);
                    if let Some(k) = &key {
                        if keys.len() >= KEYS {
                            if let Some(oldest) = keys.keys().next().cloned() {
                                keys.remove(&oldest);
                            }
                        }
                        keys.insert(
                            k.key.clone(),
                            Keyed::Running {
                                body: k.body,
                                journal: journal.clone(),
                            },
                        );
                    }
                    Some((slot, journal))
                }
                Err(_) if spec.wait_if_busy || self.checking.load(Ordering::SeqCst) => None,
                Err(_) => return Err(SessionError::Busy(self.id.clone())),
            }
        };
        let (slot, journal) = match quick {
            Some(started) => started,
            None => {
                // Waiting for the running execution (compat) or the check after it; keys are
                // only ever given where waiting is not (v1), so none is reserved here.
                let slot = self.worker.clone().lock_owned().await;
                if self.closed.load(Ordering::SeqCst) {
                    return Err(SessionError::NotFound(self.id.clone()));
                }
                (slot, self.open_journal(spec.language))
            }
        };
        let key_name = key.map(|k| (k.key, k.body));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (session, j) = (self.clone(), journal.clone());
        // The execution's own span: its log lines carry the session, the execution and the
        // trace of the request that started it (it outlives that request).
        let span = tracing::info_span!(
            "execution",
            session = %self.id,
            execution = %journal.id,
            trace_id = %spec.trace_id.as_deref().unwrap_or(""),
        );
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                let mut slot = slot;
                let executed = session.execute_locked(&mut slot, spec, &j).await;
                let executed = match executed {
                    Ok(e) => e,
                    Err(e) => session.record_refusal(&j, e),
                };
                session.count(&executed.result);
                let r = &executed.result;
                tracing::info!(
                    status = r.status.label(),
                    language = r.language.label(),
                    duration_ms = r.duration_ms,
                    cpu_ms = r.cpu_ms,
                    artifacts = r.artifacts.len(),
                    "execution"
                );
                if let Some((name, body)) = key_name {
                    session.keys.lock().unwrap().insert(
                        name,
                        Keyed::Done {
                            body,
                            result: executed.result.clone(),
                        },
                    );
                }
                session.set_busy(false);
                session.touch();
                let check = session.pause_and_check(slot, session.engine.config.disk_quota());
                // Only now is the result published: the worker is released, or held by a check
                // that a next execution waits for. Published before, a client that sends its
                // next execution the moment it has this one's result found the worker still
                // held, with no check to wait for, and was refused as busy.
                j.finish(executed.result.clone());
                let _ = tx.send(executed);
                // The check runs on this task once the result is handed over: the request's
                // task, woken by the send onto this thread, writes the response while the check
                // waits on the blocking pool (a task of its own would wake a second thread).
                if let Some(check) = check {
                    check.await;
                }
            },
            span,
        ));
        Ok(Submitted::Started { journal, done: rx })
    }

    /// Runs an analytics request (profile, verify, charts) in a helper process of the session,
    /// in its sandbox. It holds the worker like an execution does — refused with `Busy` while
    /// one runs, waiting for the check after one — so the session's process sweeps never meet
    /// the helper half-way and its files are not changing under it.
    pub async fn analyze(
        &self,
        request: dynexec_analytics_protocol::Request,
    ) -> SessionResult<dynexec_analytics_protocol::Reply> {
        let slot = match self.worker.clone().try_lock_owned() {
            Ok(slot) => slot,
            Err(_) if self.checking.load(Ordering::SeqCst) => {
                self.worker.clone().lock_owned().await
            }
            Err(_) => return Err(SessionError::Busy(self.id.clone())),
        };
        if self.closed.load(Ordering::SeqCst) {
            return Err(SessionError::NotFound(self.id.clone()));
        }
        self.touch();
        let engine = &self.engine;
        if let (None, Some(cg)) = (slot.as_ref(), self.stopper.cgroup.clone()) {
            // The worker was lost and its groups removed: the helper joins them, so they exist.
            tokio::task::spawn_blocking(move || cg.create())
                .await
                .map_err(WorkerError::from)?
                .map_err(WorkerError::Cgroup)?;
        }
        let policy = crate::sandbox_policy::for_helper(
            &engine.config,
            &engine.host,
            self.uid,
            self.stopper.cgroup.as_ref(),
            &self.workspace,
        );
        let reply = engine
            .analytics
            .run(
                request,
                policy,
                &self.workspace,
                engine.config.memory_limit_mb,
            )
            .await;
        if let Ok(dynexec_analytics_protocol::Reply::Chart(c)) = &reply {
            // Written by no execution.
            let mut origins = self.origins.lock().unwrap();
            for a in &c.artifacts {
                origins.remove(&a.path);
            }
        }
        drop(slot);
        self.touch();
        Ok(reply?)
    }

    /// Numbers a new execution and opens its journal (readable from now on).
    fn open_journal(&self, language: Language) -> Arc<Journal> {
        let n = {
            let mut m = self.meta.lock().unwrap();
            m.executions += 1;
            m.busy = true;
            m.executions
        };
        let journal = Arc::new(Journal::new(
            format!("e{:06}-{:08x}", n, rand::random::<u32>()),
            self.id.clone(),
            language,
            crate::time::rfc3339(SystemTime::now()),
        ));
        let mut journals = self.journals.lock().unwrap();
        if journals.len() >= JOURNALS {
            journals.pop_front();
        }
        journals.push_back(journal.clone());
        journal
    }

    fn attach(&self, found: Keyed, body: u64) -> SessionResult<Submitted> {
        match found {
            Keyed::Running { body: b, .. } | Keyed::Done { body: b, .. } if b != body => {
                Err(SessionError::KeyReused)
            }
            Keyed::Running { journal, .. } => Ok(match journal.result() {
                Some(r) => Submitted::Done(r, Some(journal)),
                None => Submitted::Running(journal),
            }),
            Keyed::Done { result, .. } => {
                let journal = self.journal(&result.id);
                Ok(Submitted::Done(result, journal))
            }
        }
    }

    /// The execution in the metrics: by language and outcome, its wall and CPU time.
    fn count(&self, r: &ExecutionResult) {
        use crate::metrics::{ExecLabels, LanguageLabel};
        let m = &self.engine.metrics;
        let language = r.language.label();
        m.executions
            .get_or_create(&ExecLabels {
                language,
                status: r.status.label(),
            })
            .inc();
        let l = LanguageLabel { language };
        m.execution_seconds
            .get_or_create(&l)
            .observe(r.duration_ms as f64 / 1000.0);
        m.execution_cpu_seconds
            .get_or_create(&l)
            .observe(r.cpu_ms as f64 / 1000.0);
    }

    /// Asks the running execution `id` to stop (interrupt, then kill, as a timeout does).
    /// False when `id` is not running.
    pub fn cancel(&self, id: &str) -> bool {
        match self.journal(id) {
            Some(j) if j.is_running() => {
                j.cancel.notify_one();
                true
            }
            _ => false,
        }
    }

    /// Between executions nothing of the session runs, whatever the worker claims: the worker
    /// is stopped (SIGSTOP) the moment its result is in — a daemon thread, or code that forged
    /// a result on the channel and carries on, is frozen until the next execution — and the
    /// server looks for processes of the session's uid other than the worker from outside
    /// (the worker's own report of leftovers can be patched away) and kills them. Where the
    /// session's pids group counts only the worker's own tasks, that count is the look;
    /// otherwise it runs after the response is on its way, holding the worker, so the next
    /// execution waits for it. The stop is immediate; the look is the returned future (None
    /// when there is nothing to look for), which holds the worker until it is done.
    fn pause_and_check(
        &self,
        slot: tokio::sync::OwnedMutexGuard<Option<Worker>>,
        quota: Option<crate::paths::Quota>,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let worker = slot.as_ref()?;
        worker.signal(libc::SIGSTOP);
        // A pids group that counts no more tasks than the worker's own process has no other
        // process in it: nothing to look for (one read of a file held open). A worker whose
        // code left threads running is looked at the long way.
        let alone = worker.counters.alone();
        let (uid, pid) = (self.uid.filter(|_| !alone), worker.pid);
        // Code that wrote fast and returned before the first in-run measurement (500 ms) is
        // measured here, so the next execution is refused if it went over.
        let walk = quota.filter(|_| self.quota_walk_due());
        if uid.is_none() && walk.is_none() {
            return None;
        }
        self.checking.store(true, Ordering::SeqCst);
        let checking = self.checking.clone();
        let (over_quota, timing, ws, stopper) = (
            self.over_quota.clone(),
            self.quota_walk.clone(),
            self.workspace.clone(),
            self.stopper.clone(),
        );
        Some(async move {
            let cgroup = stopper.cgroup.clone();
            let checked = tokio::task::spawn_blocking(move || {
                // Where the session has a pids cgroup, every process it can have is a member:
                // read its members instead of stat-ing every process on the host.
                let strays = uid
                    .map(|uid| match cgroup.as_ref().and_then(|c| c.pids_members()) {
                        Some(members) => crate::os::procs::of_uid_among(uid, pid, members),
                        None => crate::os::procs::others_of_uid(uid, pid),
                    })
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
                tracing::warn!(uid, strays = %strays.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "), "processes outlived their execution; killing them");
                stopper.kill_children(pid).await;
                crate::os::procs::signal(pid, libc::SIGSTOP);
            }
            drop(slot);
            checking.store(false, Ordering::SeqCst);
        })
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
        journal: &Journal,
    ) -> SessionResult<Executed> {
        let fresh_worker = self.prepare_worker(slot).await?;
        let worker = slot.as_mut().expect("prepare_worker left a worker");
        let id = journal.id.clone();
        // The execution number is the journal's (`e000042-…`).
        let n = id[1..7].parse().unwrap_or(0);
        let before = self.artifacts_before().await;
        let started = SystemTime::now();
        let t0 = Instant::now();
        let ExecSpec {
            code,
            language,
            timeout,
            fresh_namespace,
            trace_id,
            ..
        } = spec;
        let msg = Request::Exec {
            id: id.clone(),
            n,
            code,
            language,
            fresh: fresh_namespace,
        };
        let raw = self.run(worker, &msg, timeout, journal).await;
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
        let produced = self.artifacts_after(before, started).await;
        Ok(self.record(Recorded {
            id,
            language,
            raw,
            produced,
            started,
            duration_ms,
            state_preserved: !fresh_worker,
            trace_id,
        }))
    }

    /// Where this execution's artifacts will be found. With a working tracker nothing is
    /// walked: it is reset (uploads since the last execution are not this one's) and read
    /// after the run (None). Without one: a snapshot of `artifacts/`. A quiet tracker (nothing
    /// queued) is reset on this thread; anything else may read or walk directories, on the
    /// blocking pool.
    async fn artifacts_before(&self) -> Option<artifacts::Snapshot> {
        if quiet_tracker(&self.tracker, |t| t.reset_quiet()) {
            return None;
        }
        let (ws, tracker) = (self.workspace.clone(), self.tracker.clone());
        tokio::task::spawn_blocking(move || {
            let mut t = tracker.lock().unwrap();
            if t.as_ref().is_none_or(|t| t.is_broken()) {
                *t = artifacts::watch::Tracker::start(&ws.join(artifacts::ARTIFACTS_DIR));
            }
            match t.as_mut() {
                Some(t) => {
                    t.reset();
                    None
                }
                None => Some(artifacts::snapshot(&ws)),
            }
        })
        .await
        .unwrap_or_default()
    }

    /// The files under `artifacts/` the execution that started at `started` wrote. Nothing
    /// queued after the run: what the tracker holds is all of it (nothing, most of the time:
    /// then no hop at all).
    async fn artifacts_after(
        &self,
        before: Option<artifacts::Snapshot>,
        started: SystemTime,
    ) -> Vec<String> {
        let mut taken = None;
        if before.is_none() {
            quiet_tracker(&self.tracker, |t| taken = t.take_quiet());
        }
        if taken.as_ref().is_some_and(Vec::is_empty) {
            return vec![];
        }
        let (ws, tracker) = (self.workspace.clone(), self.tracker.clone());
        tokio::task::spawn_blocking(move || match (taken, before) {
            (Some(written), _) => artifacts::existing(&ws, written),
            (None, Some(before)) => artifacts::changed(&before, &artifacts::snapshot(&ws)),
            (None, None) => match tracker.lock().unwrap().as_mut().and_then(|t| t.take()) {
                Some(written) => artifacts::existing(&ws, written),
                // It lost track during the run (a full queue, `artifacts/` replaced).
                None => artifacts::modified_since(&ws, started),
            },
        })
        .await
        .unwrap_or_default()
    }

    /// An execution that could not start (no worker could be made): recorded as lost, so its
    /// journal closes and whoever follows it gets an answer.
    fn record_refusal(&self, journal: &Journal, e: SessionError) -> Executed {
        let cap = self.engine.config.output_cap_bytes;
        let raw = RawRun::refused(
            Outcome::WorkerLost,
            crate::executions::ErrorInfo {
                kind: "WorkerLost".into(),
                message: format!("the execution could not start: {e}"),
                line: None,
                traceback: String::new(),
            },
            cap,
        );
        self.record(Recorded {
            id: journal.id.clone(),
            language: journal.language,
            raw,
            produced: vec![],
            started: SystemTime::now(),
            duration_ms: 0,
            state_preserved: false,
            trace_id: None,
        })
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
    async fn run(
        &self,
        worker: &mut Worker,
        msg: &Request,
        timeout: Duration,
        journal: &Journal,
    ) -> RawRun {
        let config = &self.engine.config;
        let limits = RunLimits {
            timeout,
            grace: Duration::from_millis(config.kill_grace_ms),
            output_cap: config.output_cap_bytes,
            disk_quota: config.disk_quota().map(|q| (self.workspace.clone(), q)),
            ticks: self.engine.ticks.clone(),
        };
        // Only a session that went over its quota is measured up front (until it is back under).
        let refuse =
            self.over_quota.load(Ordering::SeqCst) && executions::over_quota(&limits).await;
        // Stopped since the last execution ended (see `pause_and_check`). Continued before the
        // request is written, not after: its wake-up then overlaps the server's own work (the
        // other order, one wake-up instead of two, measured ~25 µs slower: docs/benchmarks.md).
        worker.signal(libc::SIGCONT);
        let raw = if refuse {
            RawRun::refused(
                Outcome::DiskQuota,
                executions::quota_error(&limits),
                config.output_cap_bytes,
            )
        } else {
            executions::run(
                worker,
                msg,
                &limits,
                &self.stopper,
                self.cancel.clone(),
                journal,
            )
            .await
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
            trace_id: r.trace_id,
        });
        let mut history = self.history.lock().unwrap();
        if history.len() >= HISTORY {
            history.pop_front();
        }
        history.push_back(result.clone());
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

    /// The journal of the running or a recent execution.
    pub fn journal(&self, id: &str) -> Option<Arc<Journal>> {
        self.journals
            .lock()
            .unwrap()
            .iter()
            .find(|j| j.id == id)
            .cloned()
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

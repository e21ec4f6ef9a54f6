//! Running one execution on a worker: send the code, collect ordered output events, enforce
//! the timeout and output cap with the kill cascade, and interpret how it ended.

use super::{ErrorInfo, ExecEvent, Journal, Outcome, OutputBuffer, Ticks};
use crate::worker::protocol::{CodeStatus, Event, Request, ResultMessage};
use crate::worker::{Stopper, Worker};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;
use tokio::time::{sleep_until, Instant};

pub struct RunLimits {
    pub timeout: Duration,
    pub grace: Duration,
    pub output_cap: usize,
    /// The workspace and its quota in bytes, checked while the code runs.
    pub disk_quota: Option<(std::path::PathBuf, crate::paths::Quota)>,
    /// The tick the quota is checked on.
    pub ticks: Arc<Ticks>,
}

/// How often a running execution's workspace is measured against its quota, at most: a walk
/// that took T waits at least `QUOTA_DUTY` × T before the next, so a tree made to be slow to
/// walk cannot keep a core busy (the walk also runs at idle priority and stops at the inode
/// quota).
const QUOTA_CHECK: Duration = Duration::from_millis(500);
/// The period of the process's [`Ticks`]: the quota is measured on the first tick at or past
/// its time, so up to this much later than `QUOTA_CHECK` says.
pub const QUOTA_TICK: Duration = Duration::from_millis(250);
const QUOTA_DUTY: u32 = 10;

/// What the run loop observed.
pub struct RawRun {
    pub status: Outcome,
    pub error: Option<ErrorInfo>,
    pub exit_code: Option<i64>,
    pub cpu_ms: u64,
    pub max_rss_kb: u64,
    pub stdout: OutputBuffer,
    pub stderr: OutputBuffer,
    pub state_preserved: bool,
    /// The worker said processes the code started are still running.
    pub stray_processes: bool,
}

impl RawRun {
    /// An execution refused before it started (the code never ran; state is untouched).
    pub fn refused(status: Outcome, error: ErrorInfo, cap: usize) -> RawRun {
        RawRun {
            status,
            error: Some(error),
            exit_code: None,
            cpu_ms: 0,
            max_rss_kb: 0,
            stdout: OutputBuffer::new(cap),
            stderr: OutputBuffer::new(cap),
            state_preserved: true,
            stray_processes: false,
        }
    }
}

#[derive(PartialEq)]
enum Phase {
    Running,
    Interrupting,
    Killed,
}

pub async fn run(
    worker: &mut Worker,
    msg: &Request,
    limits: &RunLimits,
    stopper: &Stopper,
    cancel: Arc<Notify>,
    journal: &Journal,
) -> RawRun {
    let mut raw = RawRun {
        status: Outcome::WorkerLost,
        error: None,
        exit_code: None,
        cpu_ms: 0,
        max_rss_kb: 0,
        stdout: OutputBuffer::new(limits.output_cap),
        stderr: OutputBuffer::new(limits.output_cap),
        state_preserved: false,
        stray_processes: false,
    };
    let cgroup = stopper.cgroup.as_ref();
    // Read on the runtime thread on purpose: a cgroupfs file is generated from kernel memory
    // and never waits on a disk (a hop to the blocking pool, twice per execution, cost ~0.1 ms
    // of `print(1)`'s round trip), and it is held open (an open costs more than the read).
    let ooms_before = worker.counters.oom_kills();
    if worker.chan.send(msg).await.is_err() {
        worker.chan.lost = true;
        raw.error = Some(lost_error());
        return raw;
    }
    let mut phase = Phase::Running;
    let mut reason: Option<Outcome> = None;
    let mut deadline = Instant::now() + limits.timeout;
    let (mut out_open, mut err_open) = (true, true);
    let mut result: Option<ResultMessage> = None;
    let (mut ocarry, mut ecarry) = (Utf8Carry::default(), Utf8Carry::default());
    // First measured one period in: short executions never pay for a walk of the workspace.
    let mut quota_at = Instant::now() + QUOTA_CHECK;
    let _ticking = limits.disk_quota.is_some().then(|| limits.ticks.running());

    loop {
        let mut stop_for: Option<Outcome> = None;
        tokio::select! {
            ev = worker.chan.next_event() => match ev {
                None => break,
                Some(Event::Result(r)) => { result = Some(r); break; }
                Some(Event::Artifact { path, .. }) => journal.push(ExecEvent::Artifact { path }),
                Some(_) => {}
            },
            r = worker.stdout.read(&mut worker.stdout_buf), if out_open => match r {
                Ok(n) if n > 0 => {
                    if !take_chunk(&mut raw.stdout, journal, &mut ocarry, &worker.stdout_buf[..n], true) { stop_for = Some(Outcome::OutputLimit); }
                }
                _ => out_open = false,
            },
            r = worker.stderr.read(&mut worker.stderr_buf), if err_open => match r {
                Ok(n) if n > 0 => {
                    if !take_chunk(&mut raw.stderr, journal, &mut ecarry, &worker.stderr_buf[..n], false) { stop_for = Some(Outcome::OutputLimit); }
                }
                _ => err_open = false,
            },
            _ = sleep_until(deadline) => match phase {
                Phase::Running => stop_for = Some(Outcome::Timeout),
                Phase::Interrupting => {
                    // The code ignored SIGINT: the session's processes all go, state is lost.
                    stopper.kill_all(worker.pid).await;
                    phase = Phase::Killed;
                    deadline = Instant::now() + Duration::from_secs(10);
                }
                Phase::Killed => { worker.chan.lost = true; break; }
            },
            _ = cancel.notified(), if phase == Phase::Running => stop_for = Some(Outcome::Cancelled),
            _ = journal.cancel.notified(), if phase == Phase::Running => stop_for = Some(Outcome::Cancelled),
            _ = limits.ticks.next(), if phase == Phase::Running && limits.disk_quota.is_some() => {
                if Instant::now() >= quota_at {
                    let t0 = Instant::now();
                    if over_quota(limits).await {
                        stop_for = Some(Outcome::DiskQuota);
                    }
                    quota_at = Instant::now() + QUOTA_CHECK.max(t0.elapsed() * QUOTA_DUTY);
                }
            }
        }
        if let (Some(why), Phase::Running) = (stop_for, &phase) {
            reason = Some(why);
            stopper.kill_children(worker.pid).await;
            worker.signal(libc::SIGINT);
            phase = Phase::Interrupting;
            deadline = Instant::now() + limits.grace;
        }
    }
    drain(
        &mut worker.stdout,
        &mut worker.stdout_buf,
        &mut raw.stdout,
        journal,
        &mut ocarry,
        true,
    );
    drain(
        &mut worker.stderr,
        &mut worker.stderr_buf,
        &mut raw.stderr,
        journal,
        &mut ecarry,
        false,
    );
    ocarry.flush(journal, true);
    ecarry.flush(journal, false);
    if raw.stdout.overflowed() || raw.stderr.overflowed() {
        reason = Some(Outcome::OutputLimit);
    }
    let oom_killed = worker.counters.oom_kills() > ooms_before;
    interpret(&mut raw, result, reason, limits);
    if oom_killed {
        blame_memory_limit(&mut raw, cgroup);
    }
    raw
}

pub async fn over_quota(limits: &RunLimits) -> bool {
    let Some((ws, quota)) = limits.disk_quota.clone() else {
        return false;
    };
    tokio::task::spawn_blocking(move || quota.exceeded(&ws, 0))
        .await
        .unwrap_or(false)
}

/// The kernel killed a process of the session for memory while this execution ran: whatever
/// else the code saw (a lost worker, a subprocess dying of SIGKILL), that is the outcome.
fn blame_memory_limit(raw: &mut RawRun, cgroup: Option<&crate::cgroups::SessionCgroup>) {
    // A timeout, cancel or quota stop explains itself; a kernel kill explains an error.
    if !matches!(
        raw.status,
        Outcome::Error | Outcome::WorkerLost | Outcome::Oom
    ) {
        return;
    }
    let mib = cgroup.and_then(|c| c.memory_max()).unwrap_or(0) >> 20;
    let what = if raw.state_preserved {
        "the kernel killed a process of the session; the worker and its variables are intact"
    } else {
        "the kernel killed the worker; its variables are gone (files are kept)"
    };
    let line = raw.error.as_ref().and_then(|e| e.line);
    raw.status = Outcome::Oom;
    raw.error = Some(ErrorInfo {
        kind: "MemoryError".into(),
        message: format!(
            "the session's processes together used more than its {mib} MiB memory limit: {what}"
        ),
        line,
        traceback: raw.error.take().map(|e| e.traceback).unwrap_or_default(),
    });
}

fn take_chunk(
    buf: &mut OutputBuffer,
    journal: &Journal,
    carry: &mut Utf8Carry,
    chunk: &[u8],
    stdout: bool,
) -> bool {
    if buf.overflowed() {
        return false;
    }
    let ok = buf.push(chunk);
    if let Some(data) = carry.take(chunk) {
        journal.push(output_event(data, stdout));
    }
    ok
}

fn output_event(data: String, stdout: bool) -> ExecEvent {
    if stdout {
        ExecEvent::Stdout { data }
    } else {
        ExecEvent::Stderr { data }
    }
}

/// A pipe read can end inside a multi-byte character (Hangul is 3 bytes): the incomplete tail
/// waits for the next read instead of becoming U+FFFD in the streamed events.
#[derive(Default)]
struct Utf8Carry {
    pending: Vec<u8>,
}

impl Utf8Carry {
    /// The text that is complete after `chunk` (None when nothing is).
    fn take(&mut self, chunk: &[u8]) -> Option<String> {
        self.pending.extend_from_slice(chunk);
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            // An incomplete sequence at the very end (at most 3 bytes): keep it for later.
            Err(e) if e.error_len().is_none() && self.pending.len() - e.valid_up_to() < 4 => {
                e.valid_up_to()
            }
            // Invalid bytes: replaced, as a one-shot decode would.
            Err(_) => self.pending.len(),
        };
        if valid == 0 {
            return None;
        }
        let rest = self.pending.split_off(valid);
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending = rest;
        Some(text)
    }

    /// What is left at the end (an incomplete character for good: replaced).
    fn flush(&mut self, journal: &Journal, stdout: bool) {
        if !self.pending.is_empty() {
            let text = String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned();
            journal.push(output_event(text, stdout));
        }
    }
}

/// Output written before the result message is already in the pipe: read it without waiting.
/// Takes what is left in a worker's output pipe once its result is in: everything the code
/// wrote before it, since the worker flushes before it reports.
///
/// Read with `read(2)` until the pipe is empty, not with the runtime's `try_read`: that one
/// does not even try while the runtime has not yet seen the pipe's readiness event, and the
/// result can be read before it has — the channel's readiness was left set by the last
/// result, so an execution task that was descheduled past the worker's whole run reads the
/// new result at its first poll, ahead of the event loop. The output then stayed in the pipe
/// and was lost to its execution (and shown by the next one). The pipe is non-blocking.
fn drain(
    pipe: &mut tokio::net::unix::pipe::Receiver,
    chunk: &mut [u8],
    buf: &mut OutputBuffer,
    journal: &Journal,
    carry: &mut Utf8Carry,
    stdout: bool,
) {
    use std::os::fd::AsRawFd;
    loop {
        match nix::unistd::read(pipe.as_raw_fd(), chunk) {
            Ok(0) => break,
            Ok(n) => {
                if !take_chunk(buf, journal, carry, &chunk[..n], stdout) {
                    break;
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            // EAGAIN: empty for now; anything else: nothing more to take.
            Err(_) => break,
        }
    }
}

fn lost_error() -> ErrorInfo {
    ErrorInfo {
        kind: "WorkerLost".into(),
        message: "the session's worker process died; its variables are gone (files are kept)"
            .into(),
        line: None,
        traceback: String::new(),
    }
}

fn interpret(
    raw: &mut RawRun,
    result: Option<ResultMessage>,
    reason: Option<Outcome>,
    limits: &RunLimits,
) {
    let Some(r) = result else {
        raw.status = reason.unwrap_or(Outcome::WorkerLost);
        raw.error = Some(match reason {
            Some(Outcome::Timeout) => timeout_error(limits, None),
            Some(Outcome::OutputLimit) => output_error(limits),
            Some(Outcome::DiskQuota) => quota_error(limits),
            Some(Outcome::Cancelled) => cancelled_error(None),
            _ => lost_error(),
        });
        raw.state_preserved = false;
        return;
    };
    raw.state_preserved = true;
    raw.stray_processes = r.stray_processes;
    raw.cpu_ms = r.cpu_ms;
    raw.max_rss_kb = r.max_rss_kb;
    raw.exit_code = r.exit_code;
    let error = r.error;
    // With a reason set, anything short of success is what our interruption caused: a shell
    // whose children the sweep killed returns -9 before the SIGINT even lands.
    (raw.status, raw.error) = match (r.status, reason) {
        (_, Some(Outcome::OutputLimit)) => (Outcome::OutputLimit, Some(output_error(limits))),
        (CodeStatus::Ok, _) => (Outcome::Ok, None),
        (_, Some(Outcome::DiskQuota)) => (Outcome::DiskQuota, Some(quota_error(limits))),
        (_, Some(Outcome::Timeout)) => (Outcome::Timeout, Some(timeout_error(limits, error))),
        (_, Some(Outcome::Cancelled)) => (Outcome::Cancelled, Some(cancelled_error(error))),
        (CodeStatus::Interrupted, _) => (
            Outcome::Error,
            error.or_else(|| Some(cancelled_error(None))),
        ),
        (CodeStatus::Oom, _) => (Outcome::Oom, error),
        (CodeStatus::Error, _) => (Outcome::Error, error),
    };
}

fn timeout_error(limits: &RunLimits, interrupted: Option<ErrorInfo>) -> ErrorInfo {
    ErrorInfo {
        kind: "TimeoutError".into(),
        message: format!(
            "execution timed out after {} seconds",
            limits.timeout.as_secs_f64()
        ),
        line: interrupted.as_ref().and_then(|e| e.line),
        traceback: interrupted.map(|e| e.traceback).unwrap_or_default(),
    }
}

fn output_error(limits: &RunLimits) -> ErrorInfo {
    ErrorInfo {
        kind: "OutputLimitError".into(),
        message: format!(
            "output exceeded {} bytes per stream; the execution was stopped",
            limits.output_cap
        ),
        line: None,
        traceback: String::new(),
    }
}

pub fn quota_error(limits: &RunLimits) -> ErrorInfo {
    let (bytes, inodes) = limits
        .disk_quota
        .as_ref()
        .map(|(_, q)| (q.bytes, q.inodes))
        .unwrap_or((0, 0));
    ErrorInfo {
        kind: "DiskQuotaError".into(),
        message: format!(
            "the workspace uses more than its disk quota ({} MiB, {inodes} files and directories); delete files to continue",
            bytes >> 20
        ),
        line: None,
        traceback: String::new(),
    }
}

fn cancelled_error(interrupted: Option<ErrorInfo>) -> ErrorInfo {
    ErrorInfo {
        kind: "KeyboardInterrupt".into(),
        message: "execution was interrupted".into(),
        line: interrupted.as_ref().and_then(|e| e.line),
        traceback: interrupted.map(|e| e.traceback).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::Utf8Carry;

    /// Output the event loop has not seen yet (written just before the result was read) is
    /// drained all the same: `try_read` would not even try before the pipe's readiness event.
    #[tokio::test]
    async fn drain_takes_output_the_event_loop_has_not_seen_yet() {
        use std::io::Write;
        let (r, w) = nix::unistd::pipe().unwrap();
        nix::fcntl::fcntl(
            std::os::fd::AsRawFd::as_raw_fd(&r),
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .unwrap();
        let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(r).unwrap();
        let mut w = std::fs::File::from(w);
        w.write_all("1\n매출\n".as_bytes()).unwrap();
        // no await between the write and the drain: the runtime has not polled the pipe
        let journal = super::Journal::new(
            "e000001-00000000".into(),
            "s".into(),
            super::super::Language::Python,
            String::new(),
        );
        let mut out = super::OutputBuffer::new(1 << 20);
        let mut carry = Utf8Carry::default();
        let mut chunk = vec![0u8; 4096];
        super::drain(&mut pipe, &mut chunk, &mut out, &journal, &mut carry, true);
        carry.flush(&journal, true);
        assert_eq!(out.full_text(), "1\n매출\n");
        // and an empty pipe is left at once, not waited on
        super::drain(&mut pipe, &mut chunk, &mut out, &journal, &mut carry, true);
        assert_eq!(out.full_text(), "1\n매출\n");
    }

    #[test]
    fn a_character_split_across_reads_stays_whole() {
        let text = "매출 합계";
        let bytes = text.as_bytes();
        let mut c = Utf8Carry::default();
        let mut out = String::new();
        for chunk in bytes.chunks(2) {
            if let Some(t) = c.take(chunk) {
                out.push_str(&t);
            }
        }
        assert_eq!(out, text);
        assert!(c.pending.is_empty());
        // invalid bytes are replaced, not held forever
        assert_eq!(c.take(b"a\xffb").as_deref(), Some("a\u{fffd}b"));
    }
}

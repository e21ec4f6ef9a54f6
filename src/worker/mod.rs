//! The server's end of one sandboxed worker: its control channel (JSON lines of
//! [`protocol`] messages) and the two pipes that are its stdout and stderr.

mod error;
pub mod protocol;
mod stopper;

pub use error::WorkerError;
pub use stopper::Stopper;

use crate::os::fdpass::set_nonblocking;
use dynexec_sandbox::Report;
use protocol::{Event, Request};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::net::UnixStream;

/// Longest message a worker may send; anything longer is a misbehaving worker.
const MAX_LINE: usize = 16 << 20;

pub struct Worker {
    pub pid: i32,
    /// What the worker's sandbox entry applied.
    pub sandbox: Report,
    pub generation: u64,
    pub chan: Channel,
    pub stdout: pipe::Receiver,
    pub stderr: pipe::Receiver,
    /// Read buffers for the two pipes, kept for the worker's life: a fresh pair per execution
    /// was 128 KiB zeroed, and often handed back to the kernel, on every `print(1)`.
    pub stdout_buf: Box<[u8]>,
    pub stderr_buf: Box<[u8]>,
    /// The session's cgroup counters, held open for this worker's life (none outside a
    /// cgroup).
    pub counters: crate::cgroups::Counters,
}

/// The most a pipe read takes at once (a Linux pipe holds 64 KiB by default).
const PIPE_READ: usize = 64 << 10;

/// The JSON-lines control channel to a worker.
pub struct Channel {
    stream: UnixStream,
    buf: Vec<u8>,
    /// Set once the worker is gone or broke the protocol.
    pub lost: bool,
}

impl Worker {
    /// Gives a new worker its session's cgroup counters, before any code of the session runs:
    /// they learn whether its group holds exactly the worker's own tasks — its one thread, and
    /// in a PID namespace the (single-threaded) relay outside it that forked it.
    pub fn set_counters(&mut self, mut counters: crate::cgroups::Counters) {
        let own_tasks = 1 + u64::from(self.sandbox.namespaces.split(',').any(|k| k == "pid"));
        counters.expect_alone(own_tasks);
        self.counters = counters;
    }

    pub async fn connect(
        pid: i32,
        chan: OwnedFd,
        out: OwnedFd,
        err: OwnedFd,
        generation: u64,
    ) -> Result<Worker, WorkerError> {
        for fd in [&chan, &out, &err] {
            set_nonblocking(fd.as_raw_fd())?;
        }
        let chan = UnixStream::from_std(std::os::unix::net::UnixStream::from(chan))?;
        let stdout = pipe::Receiver::from_owned_fd(out)?;
        let stderr = pipe::Receiver::from_owned_fd(err)?;
        let chan = Channel {
            stream: chan,
            buf: Vec::new(),
            lost: false,
        };
        let mut w = Worker {
            pid,
            sandbox: Report::default(),
            generation,
            chan,
            stdout,
            stderr,
            stdout_buf: vec![0; PIPE_READ].into_boxed_slice(),
            stderr_buf: vec![0; PIPE_READ].into_boxed_slice(),
            counters: Default::default(),
        };
        let ready = tokio::time::timeout(Duration::from_secs(30), w.chan.next_event())
            .await
            .map_err(|_| WorkerError::ReadyTimeout)?;
        match ready {
            Some(Event::Ready { sandbox, .. }) => {
                // In a PID namespace the worker is not the process the zygote forked: the
                // report gives its pid as the server sees it.
                if sandbox.pid > 0 {
                    w.pid = sandbox.pid;
                }
                w.sandbox = sandbox;
                Ok(w)
            }
            Some(Event::SandboxFailed { error }) => Err(WorkerError::Sandbox(error)),
            _ => Err(WorkerError::DiedStarting),
        }
    }

    /// Has the worker draw a throwaway chart ([`Request::Prewarm`]) and waits for it, at most
    /// `timeout`. Err when the worker is gone; a chart it could not draw is only logged.
    pub async fn prewarm(&mut self, timeout: Duration) -> Result<(), WorkerError> {
        self.chan.send(&Request::Prewarm).await?;
        let done = tokio::time::timeout(timeout, async {
            loop {
                match self.chan.next_event().await {
                    Some(Event::Prewarmed { error }) => return Ok(error),
                    Some(_) => continue,
                    None => return Err(WorkerError::DiedStarting),
                }
            }
        })
        .await
        .map_err(|_| WorkerError::ReadyTimeout)??;
        if let Some(error) = done {
            tracing::debug!(%error, "the warm worker could not draw its prewarm chart");
        }
        Ok(())
    }

    /// Sends a signal to the worker process itself.
    pub fn signal(&self, sig: libc::c_int) {
        crate::os::procs::signal(self.pid, sig);
    }
}

impl Channel {
    pub async fn send(&mut self, msg: &Request) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(msg)?;
        line.push(b'\n');
        self.stream.write_all(&line).await
    }

    /// The next message, or None when the worker is gone (or broke the protocol).
    /// Cancel-safe: a partially read line stays buffered.
    pub async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                match serde_json::from_slice(&line) {
                    Ok(ev) => return Some(ev),
                    Err(_) => continue, // user code can write to the channel; ignore garbage
                }
            }
            if self.buf.len() > MAX_LINE {
                self.lost = true;
                return None;
            }
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    self.lost = true;
                    return None;
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

//! Executions: what a client asks to run, what it gets back, and the run loop in between.

mod journal;
mod output;
mod run;
mod ticks;

pub use crate::worker::protocol::{ErrorInfo, Language};
pub use journal::{Entry, Journal};
pub use output::OutputBuffer;
pub use run::{over_quota, quota_error, run, RawRun, RunLimits, QUOTA_TICK};
pub use ticks::Ticks;

use serde::{Deserialize, Serialize};

/// A 64-bit digest (SHA-256's first bytes) that tells two execution requests apart: an
/// `Idempotency-Key`'s body, a compat re-send's code.
pub fn digest64(bytes: &[u8]) -> u64 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(bytes);
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_le_bytes(first)
}

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Error,
    Timeout,
    Cancelled,
    Oom,
    OutputLimit,
    /// The workspace grew past its disk quota.
    DiskQuota,
    WorkerLost,
}

impl Outcome {
    /// The name the API and the metrics use.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
            Outcome::Cancelled => "cancelled",
            Outcome::Oom => "oom",
            Outcome::OutputLimit => "output_limit",
            Outcome::DiskQuota => "disk_quota",
            Outcome::WorkerLost => "worker_lost",
        }
    }
}

/// One event of an execution, in the order the server saw it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExecEvent {
    Stdout { data: String },
    Stderr { data: String },
    Artifact { path: String },
    Result { status: Outcome },
}

/// A finished execution as the API returns it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExecutionResult {
    pub id: String,
    pub session_id: String,
    pub language: Language,
    pub status: Outcome,
    pub stdout: String,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub error: Option<ErrorInfo>,
    pub exit_code: Option<i64>,
    pub duration_ms: u64,
    pub cpu_ms: u64,
    pub max_rss_kb: u64,
    pub artifacts: Vec<String>,
    pub state_preserved: bool,
    pub started_at: String,
    /// The W3C trace id of the request that started it (its `traceparent`'s, or a new one).
    pub trace_id: Option<String>,
}

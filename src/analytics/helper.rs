//! Starting the helper for one request and reading its answer: the request and the sandbox
//! policy on stdin, the reply on stdout, bounded in time and output; a death by the memory
//! limit becomes `oom`, the wall-clock limit `timeout`.

use super::AnalyticsError;
use dynexec_analytics_protocol::{HelperInput, Reply, Request};
use dynexec_sandbox::Policy;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::OnceCell;

/// A reply is a profile, a report or chart data: never near this.
const MAX_REPLY: u64 = 64 << 20;
/// What is kept of the helper's stderr for the log.
const MAX_STDERR: u64 = 16 << 10;

pub struct Analytics {
    bin: PathBuf,
    configured_font: Option<PathBuf>,
    font: OnceCell<Option<String>>,
    timeout: Duration,
}

impl Analytics {
    pub fn new(config: &crate::config::Config) -> Analytics {
        Analytics {
            bin: config.analytics_bin(),
            configured_font: config.chart_font.clone(),
            font: OnceCell::new(),
            timeout: Duration::from_secs_f64(config.analytics_timeout_s.max(0.1)),
        }
    }

    /// The chart font: the configured one, else what `dynamic-executor-analytics font` finds
    /// (fontconfig), looked up once.
    pub async fn font(&self) -> Option<String> {
        self.font
            .get_or_init(|| async {
                if let Some(p) = &self.configured_font {
                    return Some(p.display().to_string());
                }
                let out = tokio::process::Command::new(&self.bin)
                    .arg("font")
                    .stdin(Stdio::null())
                    .stderr(Stdio::null())
                    .output()
                    .await
                    .ok()?;
                let path = String::from_utf8(out.stdout).ok()?.trim().to_string();
                if !out.status.success() || path.is_empty() {
                    tracing::warn!("no Korean font found: charts will answer font_unavailable");
                    return None;
                }
                tracing::info!(font = %path, "chart font");
                Some(path)
            })
            .await
            .clone()
    }

    /// Runs `request` in `workspace` under `policy`. `memory_mb`: the session's limit, for the
    /// `oom` message.
    pub async fn run(
        &self,
        request: Request,
        policy: Policy,
        workspace: &Path,
        memory_mb: u64,
    ) -> Result<Reply, AnalyticsError> {
        let font = match &request {
            Request::Chart(_) => self.font().await,
            _ => None,
        };
        let input = serde_json::to_vec(&HelperInput {
            policy: Some(policy),
            font,
            request,
        })
        .map_err(|e| AnalyticsError::Failed(e.to_string()))?;
        let mut child = tokio::process::Command::new(&self.bin)
            .current_dir(workspace)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            // polars' thread pool: the session's share of the machine, not all of it.
            .env("POLARS_MAX_THREADS", "2")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| AnalyticsError::Failed(format!("{}: {e}", self.bin.display())))?;
        let (mut stdin, stdout, stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let talk = async {
            if let Some(s) = stdin.as_mut() {
                // A helper that dies early closes the pipe: its exit status says why.
                let _ = s.write_all(&input).await;
            }
            drop(stdin.take());
            let mut out = Vec::new();
            let mut err = Vec::new();
            let read_out = async {
                if let Some(o) = stdout {
                    let _ = o.take(MAX_REPLY).read_to_end(&mut out).await;
                }
            };
            let read_err = async {
                if let Some(e) = stderr {
                    let _ = e.take(MAX_STDERR).read_to_end(&mut err).await;
                }
            };
            tokio::join!(read_out, read_err);
            let status = child.wait().await;
            (status, out, err)
        };
        let (status, out, err) = match tokio::time::timeout(self.timeout, talk).await {
            Ok(done) => done,
            Err(_) => {
                // kill_on_drop ends the helper with the dropped future's child.
                return Err(AnalyticsError::Timeout(self.timeout.as_secs_f64()));
            }
        };
        let status = status.map_err(|e| AnalyticsError::Failed(e.to_string()))?;
        let stderr = String::from_utf8_lossy(&err);
        if status.success() {
            return match serde_json::from_slice::<Reply>(&out) {
                Ok(Reply::Error(e)) => Err(AnalyticsError::Rejected(e)),
                Ok(reply) => Ok(reply),
                Err(e) => Err(AnalyticsError::Failed(format!("unreadable reply: {e}"))),
            };
        }
        // Out of memory: an allocation refused by RLIMIT_DATA aborts the helper (Rust prints
        // "memory allocation of N bytes failed"); the cgroup's OOM killer sends SIGKILL.
        let oom = stderr.contains("memory allocation of")
            || stderr.contains("capacity overflow")
            || status.signal() == Some(libc::SIGKILL);
        if oom {
            return Err(AnalyticsError::Oom {
                limit_mb: memory_mb,
            });
        }
        if status.signal() == Some(libc::SIGXCPU) {
            return Err(AnalyticsError::Timeout(self.timeout.as_secs_f64()));
        }
        let tail: String = stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        Err(AnalyticsError::Failed(format!("{status}: {tail}")))
    }
}

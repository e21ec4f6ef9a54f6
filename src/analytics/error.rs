//! How an analytics request can fail on the server's side of the helper.

use dynexec_analytics_protocol::HelperError;

#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// The helper answered with an error about the request or its files.
    #[error("{}", .0.message)]
    Rejected(HelperError),
    /// The helper ran out of the session's memory.
    #[error("the file needs more memory than the session may use ({limit_mb} MiB); profile or chart a smaller file, or a projection of it")]
    Oom { limit_mb: u64 },
    #[error("the analysis took longer than {0} s and was stopped")]
    Timeout(f64),
    /// The helper could not be started or died otherwise (an internal error).
    #[error("the analytics helper failed: {0}")]
    Failed(String),
}

//! Where a completed compat session's files go. The reference uploads to S3 under
//! `deep-insight/fargate_sessions/{session_id}/`; the S3 exporter plugs in here. Without one,
//! completion cannot succeed (the reference answers 500 and keeps the session usable).

use crate::config::Config;
use serde_json::Value;
use std::path::Path;

pub enum Exporter {
    /// No durable store configured.
    Unconfigured,
}

impl Exporter {
    pub fn from_config(_config: &Config) -> Exporter {
        Exporter::Unconfigured
    }

    /// Uploads `debug/session_status.json`, `debug/execution_{i}.json`, `artifacts/` and
    /// `data/` of `workspace`.
    pub async fn upload(
        &self,
        _session_id: &str,
        _workspace: &Path,
        _status: &Value,
    ) -> Result<(), String> {
        match self {
            Exporter::Unconfigured => Err("no S3 bucket is configured for this executor".into()),
        }
    }
}

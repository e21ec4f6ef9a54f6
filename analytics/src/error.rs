//! What an analytics request can fail with; each variant is one API error code.

use dynexec_analytics_protocol::HelperError;

#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// The request or a file it names cannot be used (malformed, unknown column, bad spec).
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    InvalidPath(String),
    #[error("no file `{0}`")]
    FileNotFound(String),
    /// Charts with Korean text need a Korean font and none was found.
    #[error("{0}")]
    FontUnavailable(String),
}

impl AnalyticsError {
    pub fn code(&self) -> &'static str {
        match self {
            AnalyticsError::BadRequest(_) => "bad_request",
            AnalyticsError::InvalidPath(_) => "invalid_path",
            AnalyticsError::FileNotFound(_) => "file_not_found",
            AnalyticsError::FontUnavailable(_) => "font_unavailable",
        }
    }

    pub fn to_helper(&self) -> HelperError {
        HelperError {
            code: self.code().into(),
            message: self.to_string(),
        }
    }
}

impl From<polars::prelude::PolarsError> for AnalyticsError {
    fn from(e: polars::prelude::PolarsError) -> Self {
        AnalyticsError::BadRequest(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, AnalyticsError>;

pub fn bad(msg: impl Into<String>) -> AnalyticsError {
    AnalyticsError::BadRequest(msg.into())
}

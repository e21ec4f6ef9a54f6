//! What a session operation can fail with, converted to the HTTP error in `crate::error`.

use crate::worker::WorkerError;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no session `{0}` on this instance")]
    NotFound(String),
    #[error("session `{0}` is running another execution; retry when it finishes")]
    Busy(String),
    #[error("a session `{0}` already exists")]
    Exists(String),
    #[error("this instance already holds its maximum of {0} sessions")]
    TooMany(usize),
    #[error("session id must be 1-128 characters of A-Z a-z 0-9 . _ - and not start with . or -")]
    BadId,
    #[error("this Idempotency-Key was used with a different request in this session")]
    KeyReused,
    #[error(transparent)]
    Unavailable(#[from] WorkerError),
    #[error(transparent)]
    Analytics(#[from] crate::analytics::AnalyticsError),
}

pub type SessionResult<T> = Result<T, SessionError>;

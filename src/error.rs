//! The one error type of the HTTP surface: each variant has a status and a stable code, and
//! internal causes are logged, never sent to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug)]
pub enum ApiError {
    SessionNotFound(String),
    ExecutionNotFound(String),
    SessionBusy(String),
    SessionExists(String),
    SessionPinned(String),
    TooManySessions(usize),
    BadRequest(String),
    BadJson(String),
    BadPath(String),
    PathForbidden(String),
    FileNotFound(String),
    PayloadTooLarge,
    DiskQuota(u64),
    RangeNotSatisfiable(u64),
    NotFound(String),
    MethodNotAllowed,
    Unavailable(String),
    /// An Idempotency-Key sent again with a different request.
    KeyReused,
    /// The server is draining (SIGTERM): no new work.
    Draining,
    /// A bucket this executor does not serve.
    BucketForbidden(String),
    ObjectNotFound(String),
    /// The object store failed after every try.
    StoreFailed(String),
    /// A file the request names is missing (the message names it).
    Missing(String),
    /// An analysis needed more memory than the session's limit.
    AnalysisOom(String),
    /// An analysis ran past its time limit.
    AnalysisTimeout(String),
    /// Charts need a Korean font and the host has none.
    FontUnavailable(String),
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            SessionNotFound(_) | ExecutionNotFound(_) | FileNotFound(_) | NotFound(_)
            | Missing(_) => StatusCode::NOT_FOUND,
            SessionBusy(_) | SessionExists(_) | SessionPinned(_) => StatusCode::CONFLICT,
            TooManySessions(_) | Unavailable(_) | Draining | FontUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AnalysisOom(_) | AnalysisTimeout(_) => StatusCode::UNPROCESSABLE_ENTITY,
            BucketForbidden(_) => StatusCode::FORBIDDEN,
            KeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ObjectNotFound(_) => StatusCode::NOT_FOUND,
            StoreFailed(_) => StatusCode::BAD_GATEWAY,
            BadRequest(_) | BadJson(_) | BadPath(_) => StatusCode::BAD_REQUEST,
            PathForbidden(_) => StatusCode::FORBIDDEN,
            PayloadTooLarge | DiskQuota(_) => StatusCode::PAYLOAD_TOO_LARGE,
            RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            SessionNotFound(_) => "session_not_found",
            ExecutionNotFound(_) => "execution_not_found",
            SessionBusy(_) => "session_busy",
            SessionExists(_) => "session_exists",
            SessionPinned(_) => "session_pinned",
            TooManySessions(_) => "too_many_sessions",
            BadRequest(_) => "bad_request",
            BadJson(_) => "invalid_json",
            BadPath(_) => "invalid_path",
            PathForbidden(_) => "path_forbidden",
            FileNotFound(_) | Missing(_) => "file_not_found",
            AnalysisOom(_) => "oom",
            AnalysisTimeout(_) => "timeout",
            FontUnavailable(_) => "font_unavailable",
            PayloadTooLarge => "payload_too_large",
            DiskQuota(_) => "disk_quota_exceeded",
            RangeNotSatisfiable(_) => "range_not_satisfiable",
            NotFound(_) => "not_found",
            MethodNotAllowed => "method_not_allowed",
            Unavailable(_) => "unavailable",
            Draining => "draining",
            KeyReused => "idempotency_key_reused",
            BucketForbidden(_) => "bucket_forbidden",
            ObjectNotFound(_) => "object_not_found",
            StoreFailed(_) => "object_store_failed",
            Internal(_) => "internal",
        }
    }

    pub fn message(&self) -> String {
        use ApiError::*;
        match self {
            SessionNotFound(id) => format!("no session `{id}` on this instance"),
            ExecutionNotFound(id) => format!("no execution `{id}` in this session"),
            SessionBusy(id) => {
                format!("session `{id}` is running another execution; retry when it finishes")
            }
            SessionExists(id) => format!("a session `{id}` already exists"),
            SessionPinned(id) => {
                format!("`{id}` is the compat API's session; it lives as long as the process")
            }
            TooManySessions(n) => {
                format!("this instance already holds its maximum of {n} sessions")
            }
            BadRequest(m) | BadJson(m) | BadPath(m) | PathForbidden(m) => m.clone(),
            FileNotFound(p) => format!("no file `{p}`"),
            DiskQuota(mb) => {
                format!("the upload would take the workspace past its {mb} MiB disk quota")
            }
            PayloadTooLarge => {
                "request body is larger than this server accepts (EXECUTOR_MAX_UPLOAD_MB)".into()
            }
            RangeNotSatisfiable(len) => format!("range outside the file's {len} bytes"),
            NotFound(p) => format!("no route for `{p}`"),
            MethodNotAllowed => "method not allowed on this route".into(),
            Unavailable(m) | BucketForbidden(m) | StoreFailed(m) => m.clone(),
            Missing(m) | AnalysisOom(m) | AnalysisTimeout(m) | FontUnavailable(m) => m.clone(),
            Draining => "this instance is shutting down (SIGTERM); send new work to another".into(),
            ObjectNotFound(k) => format!("no object `{k}` in the store"),
            KeyReused => {
                "this Idempotency-Key was already used with a different request in this session"
                    .into()
            }
            Internal(_) => "internal error; see the server log".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(cause = %cause, "internal error");
        }
        let status = self.status();
        let mut resp = (
            status,
            Json(json!({"error": {"code": self.code(), "message": self.message()}})),
        )
            .into_response();
        if let ApiError::RangeNotSatisfiable(len) = self {
            if let Ok(v) = format!("bytes */{len}").parse() {
                resp.headers_mut()
                    .insert(axum::http::header::CONTENT_RANGE, v);
            }
        }
        resp
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::Internal(e.to_string())
    }
}

/// The one place lower layers' errors become HTTP errors.
impl From<crate::paths::PathError> for ApiError {
    fn from(e: crate::paths::PathError) -> Self {
        use crate::paths::PathError::*;
        match e {
            Invalid(m) => ApiError::BadPath(m),
            Forbidden(m) => ApiError::PathForbidden(m),
            NotFound(p) => ApiError::FileNotFound(p),
            Io(m) => ApiError::Internal(m),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError::*;
        match e {
            Config(m) => ApiError::Internal(m),
            e @ OtherBucket(..) => ApiError::BucketForbidden(e.to_string()),
            BadKey(m) => ApiError::BadRequest(m),
            Path(p) => p.into(),
            Quota { quota_mb, .. } => ApiError::DiskQuota(quota_mb),
            Missing(k) => ApiError::ObjectNotFound(k),
            e @ Transfer { .. } => ApiError::StoreFailed(e.to_string()),
        }
    }
}

impl From<crate::sessions::SessionError> for ApiError {
    fn from(e: crate::sessions::SessionError) -> Self {
        use crate::sessions::SessionError::*;
        match e {
            NotFound(id) => ApiError::SessionNotFound(id),
            Busy(id) => ApiError::SessionBusy(id),
            Exists(id) => ApiError::SessionExists(id),
            TooMany(n) => ApiError::TooManySessions(n),
            BadId => ApiError::BadRequest(e.to_string()),
            KeyReused => ApiError::KeyReused,
            Unavailable(w) => ApiError::Unavailable(w.to_string()),
            Analytics(a) => a.into(),
        }
    }
}

impl From<crate::analytics::AnalyticsError> for ApiError {
    fn from(e: crate::analytics::AnalyticsError) -> Self {
        use crate::analytics::AnalyticsError::*;
        match e {
            Rejected(h) => match h.code.as_str() {
                "invalid_path" => ApiError::BadPath(h.message),
                "file_not_found" => ApiError::Missing(h.message),
                "font_unavailable" => ApiError::FontUnavailable(h.message),
                _ => ApiError::BadRequest(h.message),
            },
            e @ Oom { .. } => ApiError::AnalysisOom(e.to_string()),
            e @ Timeout(_) => ApiError::AnalysisTimeout(e.to_string()),
            Failed(m) => ApiError::Internal(m),
        }
    }
}

impl From<crate::worker::WorkerError> for ApiError {
    fn from(e: crate::worker::WorkerError) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

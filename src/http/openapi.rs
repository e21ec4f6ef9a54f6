//! `GET /openapi.json`: OpenAPI 3.1 generated (utoipa) from the handlers' annotations and the
//! request/response types, built once at start. docs/openapi.json is a copy; a test fails when
//! the two drift, and schemathesis runs against it in the test command.

use super::v1::{analytics, artifacts, executions, files, sessions, transfers};
use super::workspace::{ArtifactEntry, FileEntry};
use super::{compat, ops};
use crate::executions::ExecutionResult;
use crate::sessions::SessionInfo;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// The `{"error": {code, message}}` every v1 error answers with (`crate::error::ApiError`).
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable code: `session_not_found`, `invalid_path`, `disk_quota_exceeded`, … (README).
    code: String,
    message: String,
}

/// The error statuses of the v1 routes (which one a route gives depends on the request).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum ApiErrors {
    /// A malformed request: bad JSON, an unknown field, a bad value or path.
    #[response(status = 400)]
    BadRequest(#[to_schema] ErrorBody),
    /// A bucket this executor does not serve, or a path outside the workspace.
    #[response(status = 403)]
    Forbidden(#[to_schema] ErrorBody),
    /// No such session, execution, file or object.
    #[response(status = 404)]
    NotFound(#[to_schema] ErrorBody),
    /// The session is busy, exists already, or is pinned.
    #[response(status = 409)]
    Conflict(#[to_schema] ErrorBody),
    /// The body is larger than allowed, or the disk quota is exceeded.
    #[response(status = 413)]
    TooLarge(#[to_schema] ErrorBody),
    /// A byte range outside the file.
    #[response(status = 416)]
    RangeNotSatisfiable(#[to_schema] ErrorBody),
    /// An Idempotency-Key re-used with a different request.
    #[response(status = 422)]
    KeyReused(#[to_schema] ErrorBody),
    /// The object store failed after every try.
    #[response(status = 502)]
    StoreFailed(#[to_schema] ErrorBody),
    /// Too many sessions, the Python side unavailable, or draining.
    #[response(status = 503)]
    Unavailable(#[to_schema] ErrorBody),
}

#[derive(Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionInfo>,
}

#[derive(Serialize, ToSchema)]
pub struct ExecutionList {
    #[schema(value_type = Vec<ExecutionResult>)]
    pub executions: Vec<std::sync::Arc<ExecutionResult>>,
}

#[derive(Serialize, ToSchema)]
pub struct FileList {
    pub files: Vec<FileEntry>,
}

#[derive(Serialize, ToSchema)]
pub struct ArtifactList {
    pub artifacts: Vec<ArtifactEntry>,
}

/// An ended execution's result, or (`status: "running"`) one still running. Documents the
/// union `GET …/executions/{exec_id}` answers with; the handler builds either side itself.
#[derive(Serialize, ToSchema)]
#[allow(dead_code, clippy::large_enum_variant)]
#[serde(untagged)]
pub enum ExecutionOrRunning {
    Done(ExecutionResult),
    Running(executions::Running<'static>),
}

/// One event: `type` is `stdout`/`stderr` (`data`), `artifact` (`path`) or `result`
/// (`status`), numbered by `seq`.
#[derive(Serialize, ToSchema)]
pub struct EventList {
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<serde_json::Value>,
    pub running: bool,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "dynamic-executor",
        description = "Sandboxed Python sessions for AI agents: the v1 API, the Deep Insight \
                       compat API and the operations routes. MCP is at /mcp (JSON-RPC over \
                       Streamable HTTP; README)."
    ),
    paths(
        sessions::create,
        sessions::list,
        sessions::get,
        sessions::delete,
        executions::create,
        executions::list,
        executions::get,
        executions::events,
        executions::cancel,
        files::list,
        files::upload,
        files::download,
        files::remove,
        artifacts::list,
        artifacts::download,
        transfers::export,
        transfers::import,
        transfers::zip,
        analytics::profile,
        analytics::verify,
        analytics::charts,
        ops::info,
        ops::metrics,
        compat::health,
        compat::container_info,
        compat::session_status,
        compat::execute,
        compat::complete,
        compat::file_sync,
    ),
    components(schemas(ErrorBody, ErrorDetail))
)]
pub struct ApiDoc;

/// The document, serialised once.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// The handler for `GET /openapi.json`: the document is built at the first request (3 ms of
/// CPU, kept off the start-up path to the first `/health` and off the runtime's threads), then
/// served from memory.
pub fn serve() -> impl Fn() -> futures_util::future::BoxFuture<'static, axum::response::Response>
       + Clone
       + Send
       + Sync
       + 'static {
    use axum::response::IntoResponse;
    let cell: std::sync::Arc<tokio::sync::OnceCell<std::sync::Arc<str>>> = Default::default();
    move || {
        let cell = cell.clone();
        Box::pin(async move {
            let doc = cell
                .get_or_init(|| async {
                    tokio::task::spawn_blocking(document)
                        .await
                        .unwrap_or_default()
                        .into()
                })
                .await
                .clone();
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                doc.to_string(),
            )
                .into_response()
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_is_cheap_to_build() {
        let t0 = std::time::Instant::now();
        let doc = super::document();
        eprintln!(
            "openapi document: {} bytes in {:?}",
            doc.len(),
            t0.elapsed()
        );
        assert!(doc.contains("\"/v1/sessions\""));
    }
}

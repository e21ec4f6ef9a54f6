//! The compat API: the exact endpoints, status codes and strings of the Deep Insight Flask
//! executor (see docs/compat.md), served by the same engine as v1.

use super::extract::RawBody;
use super::AppState;
use crate::compat::file_sync::{self, Outcome};
use crate::compat::{Compat, Run};
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::http::header;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/container-info", get(container_info))
        .route("/session/status", get(session_status))
        .route("/execute", post(execute))
        .route("/session/complete", post(complete))
        .route("/file-sync", post(file_sync))
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn err(status: StatusCode, message: &str) -> Response {
    reply(status, json!({ "error": message }))
}

/// The body as JSON: `Ok(None)` when it is not JSON (or not an object), an error response for
/// an unreadable or oversized body.
async fn json_body(
    state: &AppState,
    req: Request,
) -> Result<Option<serde_json::Map<String, Value>>, Response> {
    match RawBody::from_request(req, state).await {
        Ok(RawBody(bytes)) => Ok(serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.as_object().cloned())),
        Err(e @ ApiError::PayloadTooLarge) => {
            Err(reply(e.status(), json!({ "error": e.message() })))
        }
        Err(e) => Err(err(StatusCode::BAD_REQUEST, &e.message())),
    }
}

/// A body that must be a JSON object (the reference answers 400 otherwise).
async fn object_body(
    state: &AppState,
    req: Request,
) -> Result<serde_json::Map<String, Value>, Response> {
    json_body(state, req).await?.ok_or_else(|| {
        err(
            StatusCode::BAD_REQUEST,
            "Request body must be a JSON object",
        )
    })
}

/// `/health` in the reference's shape, plus whether the zygote is warm. 503 once the session
/// is complete, so the load balancer drains the finished target.
#[utoipa::path(get, path = "/health", tag = "compat",
    responses((status = 200, description = "healthy (the reference's shape plus zygote, sessions, instance_id)", body = Object),
        (status = 503, description = "draining, unhealthy (with the reason) or complete", body = Object)))]
pub async fn health(State(s): State<AppState>) -> Response {
    let st = s.compat.status();
    if s.drain.is_draining() {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "draining", "session_id": s.compat.session_id, "executions_completed": st.executions}),
        );
    }
    if let Err(reason) = s.health.verdict() {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "unhealthy", "reason": reason, "session_id": s.compat.session_id, "executions_completed": st.executions, "zygote": s.zygote.state().label()}),
        );
    }
    if st.complete {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "complete", "session_id": s.compat.session_id, "executions_completed": st.executions}),
        );
    }
    reply(
        StatusCode::OK,
        json!({
            "status": "healthy",
            "session_id": s.compat.session_id,
            "executions_completed": st.executions,
            "max_executions": s.compat.max_executions,
            "is_complete": false,
            "zygote": s.zygote.state().label(),
            "sessions": s.sessions.count(),
            "instance_id": &*s.instance_id,
        }),
    )
}

#[utoipa::path(get, path = "/container-info", tag = "compat", responses((status = 200, body = Object)))]
async fn container_info(State(s): State<AppState>) -> Json<Value> {
    // The session is "known" once it exists: a client that sees its id may use it at once.
    if let Err(e) = s.compat.session().await {
        tracing::warn!(error = %e, "the compat session is not available yet");
    }
    let known = s.sessions.ids();
    Json(json!({
        "private_ip": s.compat.private_ip().await,
        "hostname": s.compat.hostname,
        "session_id": s.compat.session_id,
        "known_sessions": known,
        "executions_completed": s.compat.status().executions,
    }))
}

#[utoipa::path(get, path = "/session/status", tag = "compat", responses((status = 200, body = Object)))]
async fn session_status(State(s): State<AppState>) -> Json<Value> {
    let st = s.compat.status();
    let workspace = s
        .compat
        .session()
        .await
        .map(|x| x.workspace.display().to_string())
        .unwrap_or_default();
    Json(json!({
        "session_id": s.compat.session_id,
        "executions_completed": st.executions,
        "max_executions": s.compat.max_executions,
        "is_complete": st.complete,
        "workspace": workspace,
        "uptime_seconds": s.compat.uptime_s(),
    }))
}

fn mismatched(body: &serde_json::Map<String, Value>, ours: &str) -> bool {
    matches!(body.get("session_id").and_then(Value::as_str), Some(id) if !id.is_empty() && id != ours)
}

#[utoipa::path(post, path = "/execute", tag = "compat",
    request_body(content = Object, description = "`{\"code\": \"…\", \"session_id\"?: \"…\"}` (docs/compat.md)"),
    responses((status = 200, description = "the reference's execution shape", body = Object), (status = 400, description = "the reference's error shape: `{\"error\": \"…\"}`", body = Object), (status = 500, description = "the reference's shape for a failed upload/download", body = Object), (status = 503, description = "draining", body = Object)))]
async fn execute(State(s): State<AppState>, req: Request) -> Response {
    let trace = req
        .extensions()
        .get::<super::layers::TraceId>()
        .map(|t| t.0.clone());
    let c = &s.compat;
    if c.status().complete {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"error": "Session is already complete", "session_id": c.session_id}),
        );
    }
    if s.drain.is_draining() {
        let e = ApiError::Draining;
        return reply(e.status(), json!({ "error": e.message() }));
    }
    let body = match object_body(&s, req).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let code = match body.get("code") {
        None | Some(Value::Null) => return err(StatusCode::BAD_REQUEST, "No code provided"),
        Some(Value::String(code)) if code.is_empty() => {
            return err(StatusCode::BAD_REQUEST, "No code provided")
        }
        Some(Value::String(code)) => code.clone(),
        Some(_) => return err(StatusCode::BAD_REQUEST, "code must be a string"),
    };
    if mismatched(&body, &c.session_id) {
        return err(
            StatusCode::FORBIDDEN,
            "Session ID mismatch - request routed to wrong container",
        );
    }
    let (run, digest) = s.compat.execute_once(code, trace);
    let beat = s.config.compat_heartbeat_s;
    let early = if beat > 0.0 {
        tokio::time::timeout(Duration::from_secs_f64(beat), run.clone())
            .await
            .ok()
    } else {
        Some(run.clone().await)
    };
    match early {
        // Answered in time: the contract's status and body as they are.
        Some(Ok(v)) => delivered_body(StatusCode::OK, v, s.compat.clone(), digest),
        Some(Err((status, message))) => reply(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            json!({ "error": message }),
        ),
        // Still running: commit the 200 and keep the connection busy (a proxy closes an idle
        // one: the ALB after 60 s) with a space every `beat` seconds; JSON parsers skip them.
        None => heartbeats(run, Duration::from_secs_f64(beat), s.compat.clone(), digest),
    }
}

/// A JSON body that tells the compat engine once the connection has taken all of it.
fn delivered_body(status: StatusCode, v: Value, compat: Arc<Compat>, digest: u64) -> Response {
    let body = Delivered {
        bytes: Some(Bytes::from(serde_json::to_vec(&v).unwrap_or_default())),
        on_taken: Some(Box::new(move || compat.delivered(digest))),
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::new(body),
    )
        .into_response()
}

/// One frame of a known length — sent with a Content-Length, as the reference's Flask sends
/// it, and in one write — that runs `on_taken` when the connection takes it. (http-body-util's
/// `map_frame` would do the latter, but its size is unknown: a chunked answer.)
struct Delivered {
    bytes: Option<Bytes>,
    on_taken: Option<Box<dyn FnOnce() + Send>>,
}

impl http_body::Body for Delivered {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let frame = self.bytes.take().map(|bytes| {
            if let Some(taken) = self.on_taken.take() {
                taken();
            }
            Ok(http_body::Frame::data(bytes))
        });
        std::task::Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.bytes.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.bytes.as_ref().map_or(0, |b| b.len() as u64))
    }
}

/// 200 now; a space every `beat` until the run ends, then its JSON (an error that happens after
/// the 200 is committed arrives as `{"error": …}`, which the client reads as a failure).
fn heartbeats(run: Run, beat: Duration, compat: Arc<Compat>, digest: u64) -> Response {
    let mut tick = tokio::time::interval(beat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let body = futures_util::stream::unfold(
        (Some(run), tick, compat),
        move |(run, mut tick, compat)| async move {
            let mut pending = run?;
            let chunk = tokio::select! {
                r = &mut pending => {
                    let v = match r {
                        Ok(v) => v,
                        Err((_, message)) => json!({ "error": message }),
                    };
                    compat.delivered(digest);
                    return Some((
                        Ok::<_, std::convert::Infallible>(Bytes::from(serde_json::to_vec(&v).unwrap_or_default())),
                        (None, tick, compat),
                    ));
                }
                _ = tick.tick() => Bytes::from_static(b" "),
            };
            Some((Ok(chunk), (Some(pending), tick, compat)))
        },
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response()
}

#[utoipa::path(post, path = "/session/complete", tag = "compat",
    request_body(content = Object, description = "optional `{\"session_id\": \"…\"}`"),
    responses((status = 200, description = "uploaded to the contract's layout", body = Object), (status = 400, description = "the reference's error shape: `{\"error\": \"…\"}`", body = Object), (status = 500, description = "the reference's shape for a failed upload/download", body = Object), (status = 503, description = "draining", body = Object)))]
async fn complete(State(s): State<AppState>, req: Request) -> Response {
    let c = &s.compat;
    let body = match json_body(&s, req).await {
        Ok(b) => b.unwrap_or_default(),
        Err(resp) => return resp,
    };
    if mismatched(&body, &c.session_id) {
        return err(
            StatusCode::FORBIDDEN,
            "Session ID mismatch - completion request routed to wrong container",
        );
    }
    let total = c.status().executions;
    match c.complete().await {
        Ok(()) => reply(
            StatusCode::OK,
            json!({"message": "Session completed", "session_id": c.session_id, "total_executions": total, "upload_completed": true}),
        ),
        Err(why) => {
            tracing::warn!(reason = %why, "session completion failed");
            reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({
                    "message": "Session completion failed - S3 upload did not finish",
                    "session_id": c.session_id,
                    "total_executions": total,
                    "upload_completed": false,
                }),
            )
        }
    }
}

#[utoipa::path(post, path = "/file-sync", tag = "compat",
    request_body(content = Object, description = "`{\"action\": \"upload\"|\"download\", \"bucket_name\", \"s3_key_prefix\", \"local_path\"}`"),
    responses((status = 200, body = Object), (status = 403, description = "a bucket this executor does not serve", body = Object), (status = 400, description = "the reference's error shape: `{\"error\": \"…\"}`", body = Object), (status = 500, description = "the reference's shape for a failed upload/download", body = Object), (status = 503, description = "draining", body = Object)))]
async fn file_sync(State(s): State<AppState>, req: Request) -> Response {
    let body = match object_body(&s, req).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let Some(action) = text("action") else {
        return err(StatusCode::BAD_REQUEST, "No action specified");
    };
    let (Some(bucket), Some(prefix), Some(local_path)) = (
        text("bucket_name"),
        text("s3_key_prefix"),
        text("local_path"),
    ) else {
        return err(StatusCode::BAD_REQUEST, "Missing required parameters");
    };
    let Some(action) = file_sync::Action::parse(&action) else {
        return err(
            StatusCode::BAD_REQUEST,
            &format!("Unknown action: {action}"),
        );
    };
    let dir = match s.compat.resolve_local_path(&local_path) {
        Ok(d) => d,
        Err(why) => return err(StatusCode::BAD_REQUEST, &why),
    };
    let req = file_sync::Request {
        action,
        bucket,
        prefix,
        local_path,
        dir,
    };
    match s.compat.file_sync(req).await {
        Ok(Outcome::Downloaded(files)) if files.is_empty() => reply(
            StatusCode::OK,
            json!({"status": "success", "message": "No files to download", "files_count": 0, "downloaded_files": []}),
        ),
        Ok(Outcome::Downloaded(files)) => reply(
            StatusCode::OK,
            json!({"status": "success", "message": format!("Downloaded {} files from S3", files.len()), "files_count": files.len(), "downloaded_files": files}),
        ),
        Ok(Outcome::Uploaded(keys)) => reply(
            StatusCode::OK,
            json!({"status": "success", "message": format!("Uploaded {} files to S3", keys.len()), "files_count": keys.len(), "uploaded_files": keys}),
        ),
        Ok(Outcome::NoLocalPath) => reply(
            StatusCode::OK,
            json!({"status": "success", "message": "Local path does not exist", "files_count": 0, "uploaded_files": []}),
        ),
        Err(e) => {
            let api = ApiError::from(e);
            // The reference's shape for a failed transfer; a client's mistake keeps its 4xx.
            if api.status().is_server_error() {
                tracing::warn!(error = %api.message(), "file-sync failed");
                reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"status": "error", "message": api.message()}),
                )
            } else {
                err(api.status(), &api.message())
            }
        }
    }
}

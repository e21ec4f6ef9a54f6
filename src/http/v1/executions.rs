//! Executions: run (and wait, stream as SSE, or start and return 202), read, long-poll,
//! follow or replay the event journal, cancel. Every execution runs on its own task: a client
//! that disconnects cancels nothing, and its result stays retrievable by id.

use crate::error::{ApiError, ApiResult};
use crate::executions::{Entry, ExecEvent, ExecutionResult, Journal, Language};
use crate::http::extract::{JsonBody, PathParams, QueryParams};
use crate::http::openapi::{ApiErrors, EventList, ExecutionList, ExecutionOrRunning};
use crate::http::AppState;
use crate::sessions::{ExecSpec, IdempotencyKey, Submitted};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExecution {
    code: String,
    #[serde(default)]
    language: Language,
    #[serde(default)]
    timeout_s: Option<f64>,
    /// `false`: answer 202 at once (poll, follow or cancel by id).
    #[serde(default = "yes", skip_serializing)]
    wait: bool,
}

fn yes() -> bool {
    true
}

/// An execution that has not ended, as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Running<'a> {
    id: &'a str,
    session_id: &'a str,
    language: Language,
    /// Always `running` (what tells it from a result).
    #[schema(value_type = String, pattern = "^running$")]
    status: &'static str,
    started_at: &'a str,
}

fn running(j: &Journal) -> Json<serde_json::Value> {
    Json(
        serde_json::to_value(Running {
            id: &j.id,
            session_id: &j.session_id,
            language: j.language,
            status: "running",
            started_at: &j.started_at,
        })
        .unwrap_or_default(),
    )
}

fn wants_sse(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

/// The `Idempotency-Key` header with a digest of what the request asks to run.
fn idempotency_key(
    headers: &HeaderMap,
    body: &CreateExecution,
) -> ApiResult<Option<IdempotencyKey>> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::BadRequest("Idempotency-Key must be 1-255 visible ASCII characters".into())
        })?;
    let canonical = serde_json::to_vec(body).unwrap_or_default();
    Ok(Some(IdempotencyKey {
        key: key.to_string(),
        body: crate::executions::digest64(&canonical),
    }))
}

#[utoipa::path(post, path = "/v1/sessions/{id}/executions", tag = "executions", params(("id" = String, Path, description = "session id"),
        ("Idempotency-Key" = Option<String>, Header, description = "a re-sent request with the same key attaches to the first")),
    request_body = CreateExecution,
    responses(
        (status = 200, description = "the result (or, with `Accept: text/event-stream`, the events as SSE)", content(
            (ExecutionResult = "application/json"), (String = "text/event-stream"))),
        (status = 202, description = "`wait: false`: started; poll, follow or cancel it by id", body = Running),
        ApiErrors))]
pub async fn create(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
    trace: Option<axum::Extension<crate::http::layers::TraceId>>,
    JsonBody(body): JsonBody<CreateExecution>,
) -> ApiResult<Response> {
    if s.drain.is_draining() {
        return Err(ApiError::Draining);
    }
    let session = s.sessions.get(&id)?;
    let timeout = s
        .config
        .exec_timeout(body.timeout_s)
        .map_err(ApiError::BadRequest)?;
    let key = idempotency_key(&headers, &body)?;
    let wait = body.wait;
    let spec = ExecSpec {
        code: body.code,
        language: body.language,
        timeout,
        fresh_namespace: false,
        wait_if_busy: false,
        trace_id: trace.map(|t| t.0 .0),
    };
    let submitted = session.submit(spec, key).await?;
    let heartbeat = Duration::from_secs_f64(s.config.heartbeat_s.max(0.1));
    if wants_sse(&headers) {
        let journal = match submitted {
            Submitted::Started { journal, .. } | Submitted::Running(journal) => journal,
            Submitted::Done(_, Some(journal)) => journal,
            Submitted::Done(result, None) => {
                let mut r = result_only_stream(result.clone(), heartbeat);
                set_execution_header(&mut r, &result.id);
                return Ok(r);
            }
        };
        let mut r = stream(journal.clone(), None, heartbeat);
        set_execution_header(&mut r, &journal.id);
        return Ok(r);
    }
    match submitted {
        Submitted::Done(result, _) => Ok(Json(result).into_response()),
        Submitted::Started { journal, .. } | Submitted::Running(journal) if !wait => {
            let location = format!("/v1/sessions/{id}/executions/{}", journal.id);
            Ok((
                StatusCode::ACCEPTED,
                [(header::LOCATION, location)],
                running(&journal),
            )
                .into_response())
        }
        Submitted::Started { journal, .. } | Submitted::Running(journal) => {
            Ok(Json(journal.wait().await).into_response())
        }
    }
}

/// `x-execution-id` on a stream: a client that loses the connection resumes from
/// `.../executions/<id>/events` with `Last-Event-ID`.
fn set_execution_header(r: &mut Response, id: &str) {
    if let Ok(v) = axum::http::HeaderValue::from_str(id) {
        r.headers_mut().insert("x-execution-id", v);
    }
}

/// The journal as Server-Sent Events after `after`: `event: stdout|stderr|artifact|result`,
/// `id: <seq>`, `data: <JSON>`; `: keepalive` whenever nothing was sent for `heartbeat`.
fn stream(journal: Arc<Journal>, after: Option<usize>, heartbeat: Duration) -> Response {
    let events = journal.follow(after).map(|entry| {
        Ok::<_, std::convert::Infallible>(match entry {
            Entry::Event(seq, ev) => {
                let name = match &ev {
                    ExecEvent::Stdout { .. } => "stdout",
                    ExecEvent::Stderr { .. } => "stderr",
                    ExecEvent::Artifact { .. } => "artifact",
                    ExecEvent::Result { .. } => "result",
                };
                let mut data = serde_json::to_value(&ev).unwrap_or_default();
                data["seq"] = json!(seq);
                Event::default()
                    .event(name)
                    .id(seq.to_string())
                    .data(data.to_string())
            }
            Entry::Result(seq, result) => Event::default()
                .event("result")
                .id(seq.to_string())
                .data(serde_json::to_string(&*result).unwrap_or_default()),
        })
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(heartbeat).text("keepalive"))
        .into_response()
}

/// A finished execution whose journal is no longer kept: its result as the one event.
fn result_only_stream(result: Arc<ExecutionResult>, heartbeat: Duration) -> Response {
    let ev = Event::default()
        .event("result")
        .data(serde_json::to_string(&*result).unwrap_or_default());
    Sse::new(futures_util::stream::once(async move {
        Ok::<_, std::convert::Infallible>(ev)
    }))
    .keep_alive(KeepAlive::new().interval(heartbeat).text("keepalive"))
    .into_response()
}

#[utoipa::path(get, path = "/v1/sessions/{id}/executions", tag = "executions", params(("id" = String, Path, description = "session id")),
    responses((status = 200, body = ExecutionList), ApiErrors))]
pub async fn list(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<ExecutionList>> {
    let session = s.sessions.get(&id)?;
    Ok(Json(ExecutionList {
        executions: session.executions_list(),
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GetQuery {
    /// Long poll: wait up to this many seconds (at most 300) for a running execution to end.
    #[serde(default)]
    wait_s: Option<f64>,
}

/// Longest long poll: below the usual proxy idle timeouts' multiples, and bounded.
const MAX_WAIT_S: f64 = 300.0;

#[utoipa::path(get, path = "/v1/sessions/{id}/executions/{exec_id}", tag = "executions", params(("id" = String, Path, description = "session id"), ("exec_id" = String, Path, description = "execution id"), GetQuery),
    responses((status = 200, description = "the result, or the execution still running after `wait_s`", body = ExecutionOrRunning), ApiErrors))]
pub async fn get(
    State(s): State<AppState>,
    PathParams((id, exec_id)): PathParams<(String, String)>,
    QueryParams(q): QueryParams<GetQuery>,
) -> ApiResult<Response> {
    let wait = match q.wait_s {
        None => 0.0,
        Some(w) if w.is_finite() && (0.0..=MAX_WAIT_S).contains(&w) => w,
        Some(w) => {
            return Err(ApiError::BadRequest(format!(
                "wait_s must be between 0 and {MAX_WAIT_S} (got {w})"
            )))
        }
    };
    let session = s.sessions.get(&id)?;
    if let Some(r) = session.execution(&exec_id) {
        return Ok(Json(r).into_response());
    }
    let journal = session
        .journal(&exec_id)
        .ok_or(ApiError::ExecutionNotFound(exec_id))?;
    match tokio::time::timeout(Duration::from_secs_f64(wait), journal.wait()).await {
        Ok(r) => Ok(Json(r).into_response()),
        Err(_) => Ok(running(&journal).into_response()),
    }
}

/// The execution's events in the order the server saw them, numbered from 0. With
/// `Accept: text/event-stream` they stream (live while it runs; `Last-Event-ID` resumes after
/// that seq); otherwise JSON. Kept for the session's most recent executions.
#[utoipa::path(get, path = "/v1/sessions/{id}/executions/{exec_id}/events", tag = "executions", params(("id" = String, Path, description = "session id"), ("exec_id" = String, Path, description = "execution id"),
        ("Last-Event-ID" = Option<String>, Header, description = "with SSE: resume after this seq")),
    responses((status = 200, description = "the events so far (JSON), or live as SSE with `Accept: text/event-stream`", content(
        (EventList = "application/json"), (String = "text/event-stream"))), ApiErrors))]
pub async fn events(
    State(s): State<AppState>,
    PathParams((id, exec_id)): PathParams<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let session = s.sessions.get(&id)?;
    let journal = session
        .journal(&exec_id)
        .ok_or(ApiError::ExecutionNotFound(exec_id))?;
    if wants_sse(&headers) {
        let after = match headers.get("last-event-id") {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .ok()
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .ok_or_else(|| {
                        ApiError::BadRequest("Last-Event-ID must be an event's seq".into())
                    })?,
            ),
        };
        let heartbeat = Duration::from_secs_f64(s.config.heartbeat_s.max(0.1));
        return Ok(stream(journal, after, heartbeat));
    }
    let numbered: Vec<serde_json::Value> = journal
        .snapshot()
        .iter()
        .enumerate()
        .map(|(seq, ev)| {
            let mut v = serde_json::to_value(ev).unwrap_or_default();
            v["seq"] = json!(seq);
            v
        })
        .collect();
    Ok(Json(EventList {
        events: numbered,
        running: journal.is_running(),
    })
    .into_response())
}

/// Stops a running execution (interrupt, then kill, as a timeout does) and answers with its
/// result; an execution that already ended is answered as it is.
#[utoipa::path(post, path = "/v1/sessions/{id}/executions/{exec_id}/cancel", tag = "executions", params(("id" = String, Path, description = "session id"), ("exec_id" = String, Path, description = "execution id")),
    responses((status = 200, body = ExecutionResult), ApiErrors))]
pub async fn cancel(
    State(s): State<AppState>,
    PathParams((id, exec_id)): PathParams<(String, String)>,
) -> ApiResult<Json<Arc<ExecutionResult>>> {
    let session = s.sessions.get(&id)?;
    if session.cancel(&exec_id) {
        if let Some(j) = session.journal(&exec_id) {
            return Ok(Json(j.wait().await));
        }
    }
    session
        .execution(&exec_id)
        .map(Json)
        .ok_or(ApiError::ExecutionNotFound(exec_id))
}

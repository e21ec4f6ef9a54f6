use crate::error::{ApiError, ApiResult};
use crate::executions::{ExecutionResult, Language};
use crate::http::extract::{JsonBody, PathParams};
use crate::http::AppState;
use crate::sessions::ExecSpec;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateExecution {
    code: String,
    #[serde(default)]
    language: Language,
    #[serde(default)]
    timeout_s: Option<f64>,
}

pub async fn create(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<CreateExecution>,
) -> ApiResult<Json<Arc<ExecutionResult>>> {
    if s.drain.is_draining() {
        return Err(ApiError::Draining);
    }
    let session = s.sessions.get(&id)?;
    let timeout = match body.timeout_s {
        None => s.config.exec_timeout_s,
        Some(t) if t.is_finite() && t > 0.0 && t <= s.config.max_exec_timeout_s => t,
        Some(t) => {
            return Err(ApiError::BadRequest(format!(
                "timeout_s must be greater than 0 and at most {} (got {t})",
                s.config.max_exec_timeout_s
            )))
        }
    };
    let spec = ExecSpec {
        code: body.code,
        language: body.language,
        timeout: Duration::from_secs_f64(timeout),
        fresh_namespace: false,
        wait_if_busy: false,
    };
    Ok(Json(session.execute(spec).await?.result))
}

pub async fn list(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let session = s.sessions.get(&id)?;
    Ok(Json(json!({ "executions": session.executions_list() })))
}

pub async fn get(
    State(s): State<AppState>,
    PathParams((id, exec_id)): PathParams<(String, String)>,
) -> ApiResult<Json<Arc<ExecutionResult>>> {
    let session = s.sessions.get(&id)?;
    session
        .execution(&exec_id)
        .map(Json)
        .ok_or(ApiError::ExecutionNotFound(exec_id))
}

/// The execution's events in the order the server saw them, numbered: the journal that
/// streaming and reconnects build on. Kept for the session's most recent executions.
pub async fn events(
    State(s): State<AppState>,
    PathParams((id, exec_id)): PathParams<(String, String)>,
) -> ApiResult<Json<serde_json::Value>> {
    let session = s.sessions.get(&id)?;
    let events = session
        .execution_events(&exec_id)
        .ok_or(ApiError::ExecutionNotFound(exec_id))?;
    let numbered: Vec<serde_json::Value> = events
        .iter()
        .enumerate()
        .map(|(seq, ev)| {
            let mut v = serde_json::to_value(ev).unwrap_or_default();
            v["seq"] = json!(seq);
            v
        })
        .collect();
    Ok(Json(json!({ "events": numbered })))
}

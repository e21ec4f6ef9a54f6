use crate::error::ApiResult;
use crate::http::extract::{JsonBody, PathParams};
use crate::http::AppState;
use crate::sessions::SessionInfo;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// A client-chosen id (the agent runtime has one); random when absent.
    #[serde(default)]
    id: Option<String>,
}

pub async fn create(
    State(s): State<AppState>,
    JsonBody(body): JsonBody<CreateSession>,
) -> ApiResult<Response> {
    if s.drain.is_draining() {
        return Err(crate::error::ApiError::Draining);
    }
    let session = s.sessions.create(body.id).await?;
    let cookie = format!(
        "{}={}; Path=/; HttpOnly; SameSite=Lax",
        s.config.sticky_cookie, session.id
    );
    Ok((
        StatusCode::CREATED,
        [(header::SET_COOKIE, cookie)],
        Json(session.info()),
    )
        .into_response())
}

pub async fn list(State(s): State<AppState>) -> Json<serde_json::Value> {
    let sessions: Vec<SessionInfo> = s.sessions.list().iter().map(|s| s.info()).collect();
    Json(json!({ "sessions": sessions }))
}

pub async fn get(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<SessionInfo>> {
    Ok(Json(s.sessions.get(&id)?.info()))
}

pub async fn delete(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<StatusCode> {
    s.sessions.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

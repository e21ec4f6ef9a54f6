use crate::error::ApiResult;
use crate::http::extract::{JsonBody, PathParams};
use crate::http::openapi::{ApiErrors, SessionList};
use crate::http::AppState;
use crate::sessions::SessionInfo;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// A client-chosen id (the agent runtime has one); random when absent.
    #[serde(default)]
    id: Option<String>,
}

#[utoipa::path(post, path = "/v1/sessions", tag = "sessions",
    request_body(content = CreateSession, description = "optional; an empty body makes a random id"),
    responses((status = 201, description = "created (sets the sticky cookie)", body = SessionInfo), ApiErrors))]
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

#[utoipa::path(get, path = "/v1/sessions", tag = "sessions",
    responses((status = 200, body = SessionList), ApiErrors))]
pub async fn list(State(s): State<AppState>) -> Json<SessionList> {
    let sessions: Vec<SessionInfo> = s.sessions.list().iter().map(|s| s.info()).collect();
    Json(SessionList { sessions })
}

#[utoipa::path(get, path = "/v1/sessions/{id}", tag = "sessions", params(("id" = String, Path, description = "session id")),
    responses((status = 200, body = SessionInfo), ApiErrors))]
pub async fn get(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<SessionInfo>> {
    Ok(Json(s.sessions.get(&id)?.info()))
}

#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "sessions", params(("id" = String, Path, description = "session id")),
    responses((status = 204, description = "deleted with its files"), ApiErrors))]
pub async fn delete(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<StatusCode> {
    s.sessions.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Native analytics over a session's files: a dataset's profile, the Coder's calculations
//! verified into `citations.json`, charts from a spec (`src/http/analytics.rs` runs them).

use crate::error::ApiResult;
use crate::http::extract::{JsonBody, PathParams};
use crate::http::openapi::ApiErrors;
use crate::http::{analytics, AppState};
use axum::extract::State;
use axum::Json;
use dynexec_analytics_protocol::{
    ChartRequest, ChartResult, Profile, ProfileRequest, VerifyReport, VerifyRequest,
};

#[utoipa::path(post, path = "/v1/sessions/{id}/profile", tag = "analytics", params(("id" = String, Path, description = "session id")),
    request_body = ProfileRequest, responses((status = 200, body = Profile), ApiErrors))]
pub async fn profile(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<ProfileRequest>,
) -> ApiResult<Json<Profile>> {
    let session = s.sessions.get(&id)?;
    Ok(Json(analytics::profile(&session, body).await?))
}

#[utoipa::path(post, path = "/v1/sessions/{id}/verify", tag = "analytics", params(("id" = String, Path, description = "session id")),
    request_body = VerifyRequest, responses((status = 200, body = VerifyReport), ApiErrors))]
pub async fn verify(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<VerifyRequest>,
) -> ApiResult<Json<VerifyReport>> {
    let session = s.sessions.get(&id)?;
    Ok(Json(analytics::verify(&session, body).await?))
}

#[utoipa::path(post, path = "/v1/sessions/{id}/charts", tag = "analytics", params(("id" = String, Path, description = "session id")),
    request_body = ChartRequest, responses((status = 200, body = ChartResult), ApiErrors))]
pub async fn charts(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<ChartRequest>,
) -> ApiResult<Json<ChartResult>> {
    let session = s.sessions.get(&id)?;
    Ok(Json(analytics::chart(&session, body).await?))
}

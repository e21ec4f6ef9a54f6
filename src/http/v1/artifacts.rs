use crate::artifacts::ARTIFACTS_DIR;
use crate::error::ApiResult;
use crate::http::download;
use crate::http::extract::PathParams;
use crate::http::openapi::{ApiErrors, ArtifactList};
use crate::http::{workspace, AppState};
use crate::paths::RelPath;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;

/// Every file under `artifacts/` with size, sha256, media type, mtime and the execution that
/// last wrote it (null for files uploaded rather than produced).
#[utoipa::path(get, path = "/v1/sessions/{id}/artifacts", tag = "artifacts", params(("id" = String, Path, description = "session id")),
    responses((status = 200, body = ArtifactList), ApiErrors))]
pub async fn list(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<ArtifactList>> {
    let session = s.sessions.get(&id)?;
    Ok(Json(ArtifactList {
        artifacts: workspace::artifacts(&session).await?,
    }))
}

#[utoipa::path(get, path = "/v1/sessions/{id}/artifacts/{path}", tag = "artifacts", params(("id" = String, Path, description = "session id"), ("path" = String, Path, description = "a path under artifacts/")),
    responses((status = 200, description = "the artifact (Range supported)", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "a byte range", content_type = "application/octet-stream", body = Vec<u8>), ApiErrors))]
pub async fn download(
    State(s): State<AppState>,
    PathParams((id, path)): PathParams<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let session = s.sessions.get(&id)?;
    let rel = RelPath::from_parts(vec![ARTIFACTS_DIR.into()]).join(&RelPath::parse(&path)?);
    download::serve(session, rel, &headers).await
}

//! Workspaces to and from the object store (`export`, `import`) and every artifact as one zip
//! (`artifacts.zip`). All of them stream: memory stays bounded whatever the file sizes.

use crate::error::ApiResult;
use crate::exports::{self, Manifest};
use crate::http::extract::{JsonBody, PathParams};
use crate::http::openapi::ApiErrors;
use crate::http::AppState;
use crate::paths::RelPath;
use crate::store::transfer::Batch;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use std::time::Instant;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// Key prefix (default `<EXECUTOR_EXPORT_PREFIX>/<session id>`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Workspace files or directories (default: the whole workspace).
    #[serde(default)]
    pub paths: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    pub prefix: String,
    /// Workspace directory to import into (default: the workspace root).
    #[serde(default)]
    pub to: Option<String>,
}

#[utoipa::path(post, path = "/v1/sessions/{id}/export", tag = "transfers", params(("id" = String, Path, description = "session id")),
    request_body = ExportRequest, responses((status = 200, body = Manifest), ApiErrors))]
pub async fn export(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<ExportRequest>,
) -> ApiResult<Json<Manifest>> {
    let session = s.sessions.get(&id)?;
    session.touch();
    let prefix = body
        .prefix
        .unwrap_or_else(|| exports::default_prefix(&s.config.export_prefix, &id));
    let paths = body
        .paths
        .map(|ps| {
            ps.iter()
                .map(|p| RelPath::parse(p))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let t0 = Instant::now();
    let batch = exports::export(&s.store, &session, &prefix, paths).await?;
    manifest(&s, &prefix, batch, t0)
}

#[utoipa::path(post, path = "/v1/sessions/{id}/import", tag = "transfers", params(("id" = String, Path, description = "session id")),
    request_body = ImportRequest, responses((status = 200, body = Manifest), ApiErrors))]
pub async fn import(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<ImportRequest>,
) -> ApiResult<Json<Manifest>> {
    let session = s.sessions.get(&id)?;
    session.touch();
    let to = body.to.as_deref().map(RelPath::parse).transpose()?;
    let t0 = Instant::now();
    let batch =
        exports::import(&s.store, &session, &body.prefix, to, s.config.disk_quota()).await?;
    manifest(&s, &body.prefix, batch, t0)
}

/// The manifest, or the first failure (every object is tried; the others may have moved).
fn manifest(
    s: &AppState,
    prefix: &str,
    mut batch: Batch,
    t0: Instant,
) -> ApiResult<Json<Manifest>> {
    if let Some(first) = batch.failed.drain(..).next() {
        return Err(first.into());
    }
    Ok(Json(Manifest::new(
        &s.store.bucket,
        prefix,
        batch.moved,
        t0.elapsed(),
    )))
}

/// Every file under `artifacts/` as one zip, written while it is sent.
#[utoipa::path(get, path = "/v1/sessions/{id}/artifacts.zip", tag = "transfers", params(("id" = String, Path, description = "session id")),
    responses((status = 200, description = "every artifact, streamed", content_type = "application/zip", body = Vec<u8>), ApiErrors))]
pub async fn zip(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    let session = s.sessions.get(&id)?;
    session.touch();
    let rx = crate::http::zip_stream::artifacts(session);
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    let name = format!("attachment; filename=\"{id}-artifacts.zip\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        body,
    )
        .into_response())
}

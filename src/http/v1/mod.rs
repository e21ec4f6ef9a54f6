//! The v1 API: many sessions per instance, executions, files and artifacts.

pub(super) mod analytics;
pub(super) mod artifacts;
pub(super) mod executions;
pub(super) mod files;
pub(super) mod sessions;
pub(super) mod transfers;

use super::AppState;
use axum::routing::{get, post};
use axum::Router;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/sessions", get(sessions::list).post(sessions::create))
        .route(
            "/v1/sessions/{id}",
            get(sessions::get).delete(sessions::delete),
        )
        .route(
            "/v1/sessions/{id}/executions",
            get(executions::list).post(executions::create),
        )
        .route(
            "/v1/sessions/{id}/executions/{exec_id}",
            get(executions::get),
        )
        .route(
            "/v1/sessions/{id}/executions/{exec_id}/events",
            get(executions::events),
        )
        .route(
            "/v1/sessions/{id}/executions/{exec_id}/cancel",
            post(executions::cancel),
        )
        .route("/v1/sessions/{id}/files", get(files::list))
        .route(
            "/v1/sessions/{id}/files/{*path}",
            get(files::download)
                .put(files::upload)
                .delete(files::remove),
        )
        .route("/v1/sessions/{id}/artifacts", get(artifacts::list))
        .route("/v1/sessions/{id}/profile", post(analytics::profile))
        .route("/v1/sessions/{id}/verify", post(analytics::verify))
        .route("/v1/sessions/{id}/charts", post(analytics::charts))
        .route("/v1/sessions/{id}/artifacts.zip", get(transfers::zip))
        .route("/v1/sessions/{id}/export", post(transfers::export))
        .route("/v1/sessions/{id}/import", post(transfers::import))
        .route(
            "/v1/sessions/{id}/artifacts/{*path}",
            get(artifacts::download),
        )
}

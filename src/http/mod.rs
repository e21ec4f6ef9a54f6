//! The HTTP surface: one module per resource, assembled here.

mod analytics;
mod compat;
mod download;
mod extract;
mod layers;
mod mcp;
mod openapi;
mod ops;
mod repoll;
mod serve;
mod v1;
mod workspace;
mod zip_stream;

use crate::config::Config;
use crate::error::ApiError;
use crate::sessions::SessionManager;
use crate::zygote::Zygote;
use axum::extract::DefaultBodyLimit;
use axum::http::Uri;
use axum::Router;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub sessions: Arc<SessionManager>,
    pub zygote: Arc<Zygote>,
    pub compat: Arc<crate::compat::Compat>,
    pub store: Arc<crate::store::ObjectStorage>,
    pub drain: Arc<crate::drain::Drain>,
    pub health: Arc<crate::health::Health>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub sandbox: Arc<crate::capabilities::SandboxReport>,
    pub instance_id: Arc<str>,
    pub started: Instant,
}

pub use serve::serve;

pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes();
    let routes = Router::new()
        .route("/health", axum::routing::get(compat::health))
        .route("/openapi.json", axum::routing::get(openapi::serve()))
        .merge(ops::routes())
        .merge(compat::routes())
        .merge(v1::routes())
        .nest_service("/mcp", {
            let cookie = state.config.sticky_cookie.clone();
            tower::ServiceBuilder::new()
                .map_response(move |mut r: axum::http::Response<_>| {
                    mcp::stick(&cookie, &mut r);
                    r
                })
                .service(mcp::service(state.clone()))
        })
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::Extension(extract::BodyLimit(limit)))
        .layer(DefaultBodyLimit::disable());
    let metrics = state.metrics.clone();
    layers::apply(routes, metrics).with_state(state)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(uri.path().to_string())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

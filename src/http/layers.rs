//! The tower-http layers every request goes through: a request id (the client's
//! `x-request-id`, or a new one) echoed on the response and carried by every log line of the
//! request, one log line per request (method, matched route, status, latency, session), and
//! a panic in a handler answered as the JSON `internal` error instead of a dropped connection.
//! None of them waits on anything: `/health` stays as fast as its handler (and is not logged:
//! a load balancer polls it every few seconds).

use crate::error::ApiError;
use crate::metrics::{HttpLabels, Metrics, RouteLabel};
use axum::extract::MatchedPath;
use axum::http::{HeaderName, HeaderValue, Request, Response};
use axum::response::IntoResponse;
use axum::Router;
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use tracing::Span;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// 128 random bits in hex for a request that came without an id.
#[derive(Clone, Copy, Default)]
struct RandomId;

impl MakeRequestId for RandomId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let id = format!("{:032x}", rand::random::<u128>());
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// The request's W3C trace id: the `traceparent` header's (`00-<32 hex>-<16 hex>-<2 hex>`), or
/// a new one. Handlers read it from the request's extensions.
#[derive(Clone, Debug)]
pub struct TraceId(pub String);

fn trace_id_of(traceparent: Option<&str>) -> String {
    let parsed = traceparent.and_then(|tp| {
        let parts: Vec<&str> = tp.trim().split('-').collect();
        let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        let ok = parts.len() >= 4
            && hex(parts[0], 2)
            && parts[0] != "ff"
            && hex(parts[1], 32)
            && parts[1].bytes().any(|b| b != b'0')
            && hex(parts[2], 16)
            && hex(parts[3], 2);
        ok.then(|| parts[1].to_ascii_lowercase())
    });
    parsed.unwrap_or_else(|| format!("{:032x}", rand::random::<u128>()))
}

/// Adds the [`TraceId`] extension (before the span is made, so the span carries it).
async fn trace(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let tp = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok());
    let id = trace_id_of(tp);
    req.extensions_mut().insert(TraceId(id));
    next.run(req).await
}

/// The matched route template (`/v1/sessions/{id}`), never the path itself.
fn route_of<B>(req: &Request<B>) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "(no route)".into())
}

/// The session a path names (`/v1/sessions/{id}/…`), for the log line.
fn session_of(path: &str) -> &str {
    path.strip_prefix("/v1/sessions/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("")
}

fn span_for<B>(req: &Request<B>) -> Span {
    let path = req.uri().path();
    if path == "/health" {
        return Span::none();
    }
    let route = route_of(req);
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let trace = req
        .extensions()
        .get::<TraceId>()
        .map(|t| t.0.as_str())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %req.method(),
        route = %route,
        request_id = %id,
        trace_id = %trace,
        session = %session_of(path),
    )
}

fn log_response<B>(res: &Response<B>, latency: Duration, span: &Span) {
    if span.is_none() {
        return;
    }
    tracing::info!(
        status = res.status().as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        "request"
    );
}

/// Requests by method, route template and status, and their latency (atomic counters: nothing
/// here waits).
async fn count(
    metrics: Arc<Metrics>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = route_of(&req);
    let method = req.method().to_string();
    let t0 = std::time::Instant::now();
    let res = next.run(req).await;
    metrics
        .http_seconds
        .get_or_create(&RouteLabel {
            route: route.clone(),
        })
        .observe(t0.elapsed().as_secs_f64());
    metrics
        .http_requests
        .get_or_create(&HttpLabels {
            method,
            route,
            status: res.status().as_u16(),
        })
        .inc();
    res
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<axum::body::Body> {
    ApiError::Internal("a request handler panicked".into()).into_response()
}

/// Wraps the routes: request id outermost (so every layer inside sees it), then its echo on
/// the response, the request log, and the panic catcher closest to the handlers.
pub fn apply<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    metrics: Arc<Metrics>,
) -> Router<S> {
    router
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn(move |req, next| {
            count(metrics.clone(), req, next)
        }))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(span_for)
                .on_request(())
                .on_response(log_response)
                .on_failure(()),
        )
        .layer(axum::middleware::from_fn(trace))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomId))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    async fn boom() -> &'static str {
        panic!("a handler bug")
    }

    #[tokio::test]
    async fn a_panic_is_a_json_500_and_the_request_id_is_echoed() {
        let app = apply(
            Router::new().route("/boom", get(boom)),
            Arc::new(Metrics::new()),
        );
        let res = app
            .clone()
            .oneshot(
                Request::get("/boom")
                    .header("x-request-id", "abc-123")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), 500);
        assert_eq!(res.headers()["x-request-id"], "abc-123");
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "internal");
        // without an id, one is made up and echoed
        let res = app
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.headers()["x-request-id"].len(), 32);
    }

    #[test]
    fn the_session_is_read_off_the_path() {
        assert_eq!(session_of("/v1/sessions/abc/executions"), "abc");
        assert_eq!(session_of("/v1/sessions/abc"), "abc");
        assert_eq!(session_of("/execute"), "");
    }
}

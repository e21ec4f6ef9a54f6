//! The tower-http layers every request goes through: a request id (the client's
//! `x-request-id`, or a new one) echoed on the response and carried by every log line of the
//! request, one log line per request (method, matched route, status, latency, session), the
//! request's trace (W3C `traceparent`; the parent of the exported span when OTLP export is on,
//! see crate::telemetry), and a panic in a handler answered as the JSON `internal` error instead
//! of a dropped connection.
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

/// The request's W3C trace id (see [`trace`]). Handlers read it from the request's extensions;
/// executions carry it in their results and log lines.
#[derive(Clone, Debug)]
pub struct TraceId(pub String);

/// A valid W3C `traceparent` (`00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>`).
struct TraceParent {
    trace_id: String,
    span_id: String,
    flags: u8,
}

fn parse_traceparent(tp: &str) -> Option<TraceParent> {
    let parts: Vec<&str> = tp.trim().split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    let ok = parts.len() >= 4
        && hex(parts[0], 2)
        && parts[0] != "ff"
        && hex(parts[1], 32)
        && nonzero(parts[1])
        && hex(parts[2], 16)
        && nonzero(parts[2])
        && hex(parts[3], 2);
    ok.then(|| TraceParent {
        trace_id: parts[1].to_ascii_lowercase(),
        span_id: parts[2].to_ascii_lowercase(),
        flags: u8::from_str_radix(parts[3], 16).unwrap_or(0),
    })
}

fn traceparent_of<B>(req: &Request<B>) -> Option<TraceParent> {
    req.headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_traceparent)
}

/// The caller's span as the OpenTelemetry parent of `span` (a no-op without the OTLP layer).
fn set_remote_parent(span: &Span, tp: &TraceParent) {
    use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceState};
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let (Ok(trace), Ok(parent)) = (
        opentelemetry::trace::TraceId::from_hex(&tp.trace_id),
        SpanId::from_hex(&tp.span_id),
    ) else {
        return;
    };
    let remote = SpanContext::new(
        trace,
        parent,
        TraceFlags::new(tp.flags),
        true,
        TraceState::default(),
    );
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
}

/// Sets the request's [`TraceId`] extension and the span's `trace_id` field: the trace the
/// exported span belongs to when OTLP export is on (the caller's when it sent a
/// `traceparent`), else the `traceparent`'s, else a new one. Runs inside the request span.
async fn trace(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let span = Span::current();
    let exported = (!span.is_none())
        .then(|| span.context().span().span_context().clone())
        .filter(|c| c.is_valid())
        .map(|c| c.trace_id().to_string());
    let id = exported
        .or_else(|| traceparent_of(&req).map(|tp| tp.trace_id))
        .unwrap_or_else(|| format!("{:032x}", rand::random::<u128>()));
    span.record("trace_id", id.as_str());
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
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        route = %route,
        request_id = %id,
        trace_id = tracing::field::Empty,
        session = %session_of(path),
    );
    if let Some(tp) = traceparent_of(req) {
        set_remote_parent(&span, &tp);
    }
    span
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
/// the response, the request span and log, the trace id (inside the span: it reads the
/// exported trace), and the panic catcher closest to the handlers.
pub fn apply<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    metrics: Arc<Metrics>,
) -> Router<S> {
    router
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn(move |req, next| {
            count(metrics.clone(), req, next)
        }))
        .layer(axum::middleware::from_fn(trace))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(span_for)
                .on_request(())
                .on_response(log_response)
                .on_failure(()),
        )
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

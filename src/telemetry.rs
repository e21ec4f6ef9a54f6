//! OpenTelemetry: spans exported over OTLP/HTTP (protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set — the request span, and inside it the
//! execution span, in the caller's trace when it sent a W3C `traceparent` (http/layers.rs sets
//! the parent). The exporter reads the standard `OTEL_*` variables itself (headers, timeout,
//! `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`) and runs batched
//! on its own thread: nothing on a request's path waits for the collector.

use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

const ENDPOINT_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
];

/// The tracer provider when an OTLP endpoint is configured; None otherwise. Must be built
/// outside the async runtime (the exporter's HTTP client is a blocking one).
pub fn otlp_from_env() -> Result<Option<SdkTracerProvider>, String> {
    let configured = ENDPOINT_VARS
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|s| !s.trim().is_empty()));
    if !configured {
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| format!("OTLP exporter: {e}"))?;
    let mut resource = Resource::builder();
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        resource = resource.with_service_name("dynamic-executor");
    }
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource.build())
            .build(),
    ))
}

/// Exports what is still buffered (at exit).
pub fn shutdown(provider: &SdkTracerProvider) {
    if let Err(e) = provider.shutdown_with_timeout(std::time::Duration::from_secs(5)) {
        tracing::warn!(error = %e, "OTLP: spans lost at shutdown");
    }
}

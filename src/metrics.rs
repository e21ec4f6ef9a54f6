//! Prometheus metrics (`GET /metrics`, text format) on the `prometheus-client` crate. One
//! registry built at start and passed in. Labels stay low-cardinality: a route template, a
//! status, a language, an outcome — never a session id or a path.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExecLabels {
    pub language: &'static str,
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LanguageLabel {
    pub language: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreLabels {
    /// `put`, `get`, `list`.
    pub op: &'static str,
    /// `ok`, `error`, `retried` (a try that failed and was tried again).
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectionLabel {
    /// `up` (to the store) or `down` (into a workspace).
    pub direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClosedLabel {
    /// `deleted` (by a client) or `reaped` (idle or too old).
    pub reason: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub executions: Family<ExecLabels, Counter>,
    pub execution_seconds: Family<LanguageLabel, Histogram>,
    pub execution_cpu_seconds: Family<LanguageLabel, Histogram>,
    pub sessions_created: Counter,
    pub sessions_closed: Family<ClosedLabel, Counter>,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_seconds: Family<RouteLabel, Histogram>,
    pub store_operations: Family<StoreLabels, Counter>,
    pub store_bytes: Family<DirectionLabel, Counter>,
    /// Set when scraped, from the state that owns them.
    pub sessions_live: Gauge,
    pub warm_workers: Gauge,
    pub zygote_restarts: Gauge<u64, AtomicU64>,
    pub zygote_warm: Gauge,
    pub sandbox_degraded: Gauge,
    pub draining: Gauge,
    pub healthy: Gauge,
}

fn latency_histogram() -> Histogram {
    // 0.1 ms … ~54 min: HTTP answers and executions both fit.
    Histogram::new(exponential_buckets(0.0001, 4.0, 13))
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("dynexec");
        let m = Metrics {
            executions: Family::default(),
            execution_seconds: Family::new_with_constructor(latency_histogram),
            execution_cpu_seconds: Family::new_with_constructor(latency_histogram),
            sessions_created: Counter::default(),
            sessions_closed: Family::default(),
            http_requests: Family::default(),
            http_seconds: Family::new_with_constructor(latency_histogram),
            store_operations: Family::default(),
            store_bytes: Family::default(),
            sessions_live: Gauge::default(),
            warm_workers: Gauge::default(),
            zygote_restarts: Gauge::default(),
            zygote_warm: Gauge::default(),
            sandbox_degraded: Gauge::default(),
            draining: Gauge::default(),
            healthy: Gauge::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "executions",
            "Executions by language and how they ended",
            m.executions.clone(),
        );
        r.register(
            "execution_seconds",
            "Execution wall time",
            m.execution_seconds.clone(),
        );
        r.register(
            "execution_cpu_seconds",
            "Execution CPU time (user + system)",
            m.execution_cpu_seconds.clone(),
        );
        r.register(
            "sessions_created",
            "Sessions created",
            m.sessions_created.clone(),
        );
        r.register(
            "sessions_closed",
            "Sessions closed, by reason",
            m.sessions_closed.clone(),
        );
        r.register(
            "http_requests",
            "HTTP requests by method, route template and status",
            m.http_requests.clone(),
        );
        r.register(
            "http_request_seconds",
            "HTTP request latency by route template",
            m.http_seconds.clone(),
        );
        r.register(
            "object_store_operations",
            "Object-store operations by outcome",
            m.store_operations.clone(),
        );
        r.register(
            "object_store_bytes",
            "Bytes moved to and from the object store",
            m.store_bytes.clone(),
        );
        r.register(
            "sessions_live",
            "Sessions on this instance",
            m.sessions_live.clone(),
        );
        r.register(
            "warm_workers",
            "Pre-forked workers ready for new sessions",
            m.warm_workers.clone(),
        );
        r.register(
            "zygote_restarts",
            "Times the Python zygote was restarted",
            m.zygote_restarts.clone(),
        );
        r.register(
            "zygote_warm",
            "1 when the zygote is warm",
            m.zygote_warm.clone(),
        );
        r.register(
            "sandbox_degraded",
            "1 when a sandbox layer is missing on this host",
            m.sandbox_degraded.clone(),
        );
        r.register("draining", "1 from SIGTERM on", m.draining.clone());
        r.register(
            "healthy",
            "1 when /health would answer 200",
            m.healthy.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn store_op(&self, op: &'static str, outcome: &'static str) {
        self.store_operations
            .get_or_create(&StoreLabels { op, outcome })
            .inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

//! `/v1/info`: what this instance is, runs and enforces. (`/health` is the compat module's: its
//! shape is the reference executor's, answered from memory, never behind a worker.)

use super::AppState;
use crate::zygote::ZygoteState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/info", get(info))
        .route("/metrics", get(metrics))
}

/// Prometheus text format; the gauges are read from the state that owns them.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "OpenMetrics text (docs/operations.md)", content_type = "application/openmetrics-text", body = String)))]
async fn metrics(State(s): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let m = &s.metrics;
    m.sessions_live.set(s.sessions.count() as i64);
    m.warm_workers.set(s.sessions.warm_workers() as i64);
    m.zygote_restarts
        .set(s.zygote.restarts.load(std::sync::atomic::Ordering::Relaxed));
    m.zygote_warm.set(i64::from(s.zygote.is_warm()));
    m.sandbox_degraded
        .set(i64::from(!s.sandbox.warnings.is_empty()));
    m.draining.set(i64::from(s.drain.is_draining()));
    m.healthy.set(i64::from(s.health.verdict().is_ok()));
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/v1/info", tag = "ops",
    responses((status = 200, description = "this instance: version, limits, sandbox layers, zygote, object store", body = Object)))]
async fn info(State(s): State<AppState>) -> Json<Value> {
    let c = &s.config;
    let (python, preloaded, missing, zygote_pid, down_reason) = match s.zygote.state() {
        ZygoteState::Warm(i) => (Some(i.python), i.preloaded, i.missing, Some(i.pid), None),
        ZygoteState::Down(why) => (None, vec![], vec![], None, Some(why)),
        ZygoteState::Starting => (None, vec![], vec![], None, None),
    };
    let uid_isolation = s.sessions.uid_isolation();
    let caps = &s.sandbox.capabilities;
    let layers = crate::sandbox_policy::planned_layers(c, &s.sessions.engine().host);
    Json(json!({
        "name": "dynamic-executor",
        "version": env!("CARGO_PKG_VERSION"),
        "instance_id": &*s.instance_id,
        "object_store": &s.store.backend,
        "draining": s.drain.is_draining(),
        "uptime_s": s.started.elapsed().as_secs(),
        "python": python,
        "zygote": {
            "state": s.zygote.state().label(),
            "pid": zygote_pid,
            "restarts": s.zygote.restarts.load(Ordering::Relaxed),
            "down_reason": down_reason,
        },
        "preloaded_modules": preloaded,
        "missing_modules": missing,
        "sessions": s.sessions.count(),
        "warm_workers": s.sessions.warm_workers(),
        "sandbox": {
            "uid_isolation": uid_isolation,
            "layers": layers,
            "network": match c.network { crate::config::Network::Deny => "deny", crate::config::Network::Allow => "allow" },
            "denied_syscalls": dynexec_sandbox::seccomp::denied_syscalls().iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            "degraded": !s.sandbox.warnings.is_empty(),
            "warnings": s.sandbox.warnings,
            "required": s.sandbox.required,
            "cgroup": s.sandbox.cgroup,
            "shared_dirs": s.sandbox.shared_dirs,
            "capabilities": caps,
        },
        "limits": {
            "exec_timeout_s": c.exec_timeout_s,
            "max_exec_timeout_s": c.max_exec_timeout_s,
            "kill_grace_ms": c.kill_grace_ms,
            "memory_limit_mb": c.memory_limit_mb,
            "cpu_limit_s": c.cpu_limit_s,
            "nproc_limit": c.nproc_limit,
            "file_size_limit_mb": c.file_size_limit_mb,
            "open_files_limit": c.open_files_limit,
            "output_cap_bytes": c.output_cap_bytes,
            "output_return_bytes": c.output_return_bytes,
            "max_upload_mb": c.max_upload_mb,
            "max_sessions": c.max_sessions,
            "idle_ttl_s": c.idle_ttl_s,
            "max_session_lifetime_s": c.max_session_lifetime_s,
        },
    }))
}

//! Logs and metrics.
//!
//! Logs: `tracing` with an env filter (`RUST_LOG`, default `info`), pretty or JSON lines.
//! Metrics: the `metrics` facade with a Prometheus recorder, rendered at `/metrics`;
//! the HTTP layer records `http_requests_total` and `http_request_duration_seconds`
//! per method, matched route and status.

use crate::base::config::LogFormat;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

/// The directive that keeps connection addresses out of the logs.
pub const NO_PEER_ADDRESSES: &str = "axum::serve=off";

/// Installs the global log subscriber (once; later calls do nothing).
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    // axum logs every accepted connection's peer address at TRACE; that would record
    // integrity reporters' addresses, so it is off whatever RUST_LOG says.
    let filter = match NO_PEER_ADDRESSES.parse() {
        Ok(d) => filter.add_directive(d),
        Err(_) => filter,
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The process-wide Prometheus recorder's handle, installed on first use. Falls back to
/// a recorder that is not global if another recorder was installed first.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            let builder = match builder.set_buckets_for_metric(
                Matcher::Full("http_request_duration_seconds".into()),
                &LATENCY_BUCKETS,
            ) {
                Ok(b) => b,
                Err(_) => PrometheusBuilder::new(),
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be sparse");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(
        "http_requests_total",
        "HTTP requests by method, route, status"
    );
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency by method, route, status"
    );
    metrics::describe_counter!("tarmim_logins_total", "Login attempts by outcome");
}

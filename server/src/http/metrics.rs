//! HTTP request metrics: a middleware counting requests and timing them by method,
//! matched route and status (`http_requests_total`, `http_request_duration_seconds`).
//!
//! The integrity channel is never counted, under its routes or any other label: a counter
//! that moves when a report is filed dates the report to the scrape interval. Its router
//! is nested outside this layer, and a path under its prefix is skipped here as well.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

/// Axum middleware recording request count and latency.
pub async fn track_http(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    if path.starts_with(crate::http::integrity::PREFIX)
        || req.uri().path().starts_with(crate::http::integrity::PREFIX)
    {
        return next.run(req).await;
    }
    let method = req.method().as_str().to_owned();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    let labels = [("method", method), ("path", path), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    resp
}

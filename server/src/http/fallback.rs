//! What the router answers for a request no route takes: 404 `{"error": "no_such_route"}`
//! for an unknown path and 405 `{"error": "method_not_allowed"}` for a known path with
//! another method, both marked with the `X-Tarmim-No-Route` header.
//!
//! No handler ever produces these codes or that header, so a client (and
//! `server/tests/it/openapi.rs`, which checks every documented route against the running
//! router) can tell "the router does not know this" from a handler's own 404 ("no such
//! task") or 4xx.

use axum::Json;
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The header that marks a fallback answer.
pub const HEADER: &str = "x-tarmim-no-route";

fn answer(status: StatusCode, code: &str, message: String) -> Response {
    let mut resp = (status, Json(json!({"error": code, "message": message}))).into_response();
    resp.headers_mut()
        .insert(HEADER, HeaderValue::from_static("1"));
    resp
}

/// The router's fallback: no route has this path.
pub async fn no_route(method: Method, uri: Uri) -> Response {
    answer(
        StatusCode::NOT_FOUND,
        "no_such_route",
        format!("no route for {method} {}", uri.path()),
    )
}

/// A route has this path, but not for this method.
pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    answer(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not accept {method}", uri.path()),
    )
}

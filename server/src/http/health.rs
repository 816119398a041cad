//! Liveness, readiness and metrics endpoints.
//!
//! Metrics time and count every request, so they are not public: on the public listener
//! `GET /metrics` answers only the bearer token `metrics_token` (404 with none set, 401
//! for a wrong or missing one); `metrics_listen` serves them, without a token, on a
//! second address of their own ([`metrics_router`]).

use crate::http::AppState;
use crate::storage::Store;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use subtle::ConstantTimeEq;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The health routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// `GET /healthz`: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Object)))]
pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "`{\"status\": \"ready\"}`", body = Object),
    (status = 503, description = "The database does not answer", body = Object),
))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "message": "database unreachable"})),
            )
        }
    }
}

fn exposition(state: &AppState) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// `GET /metrics` on the public listener: Prometheus text, for the metrics token only.
#[utoipa::path(get, path = "/metrics", tag = "health",
    security(("bearer" = [])),
    responses(
    (status = 200, description = "Prometheus text exposition format 0.0.4 (with `Authorization: Bearer <metrics_token>`)", content_type = "text/plain", body = String),
    (status = 401, description = "A metrics token is set and this request does not carry it", body = Object),
    (status = 404, description = "No metrics token is set: metrics are not served on this address", body = Object),
))]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = state.config.metrics_token.as_deref() else {
        return (
            StatusCode::NOT_FOUND,
            Json(
                json!({"error": "not_found", "message": "metrics are not served on this address"}),
            ),
        )
            .into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
        exposition(&state)
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({"error": "unauthorized", "message": "the metrics token is needed"})),
        )
            .into_response()
    }
}

/// `GET /metrics` on the metrics listener (`metrics_listen`): no token.
#[utoipa::path(get, path = "/metrics", tag = "health", responses(
    (status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain", body = String),
))]
pub async fn metrics_private(State(state): State<AppState>) -> Response {
    exposition(&state)
}

/// The router of the metrics listener: `GET /metrics` and nothing else.
pub fn metrics_router(state: AppState) -> axum::Router {
    let (router, _doc) = OpenApiRouter::new()
        .routes(routes!(metrics_private))
        .split_for_parts();
    router.with_state(state)
}

/// Binds `metrics_listen` (when set) and serves [`metrics_router`] there until the task
/// is aborted.
pub async fn listen_metrics(
    state: &AppState,
) -> Result<Option<tokio::task::JoinHandle<()>>, crate::http::StartError> {
    let Some(addr) = state.config.metrics_listen else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| crate::http::StartError::Bind { addr, source })?;
    tracing::info!(addr = %listener.local_addr().unwrap_or(addr), "metrics listening");
    let app = metrics_router(state.clone());
    Ok(Some(tokio::spawn(async move {
        if let Err(e) = crate::http::serve_router(app, listener, std::future::pending::<()>()).await
        {
            tracing::error!(error = %e, "the metrics listener failed");
        }
    })))
}

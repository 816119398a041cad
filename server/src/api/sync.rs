//! `GET /api/v1/sync` (WebSocket) and `POST /api/v1/sync/exchange` (HTTP fallback).
//!
//! Both authenticate with the bearer token before anything else: a missing, malformed,
//! expired or revoked token is a 401 JSON answer, never an upgrade. The work is in
//! [`crate::sync`].

use crate::api::openapi::ErrorBody;
use crate::app::AppState;
use crate::auth::Identity;
use crate::error::ApiError;
use crate::sync::{self, ExchangeError, FRAMES_MEDIA_TYPE};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sync_core::{Actor, ScopeId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The sync routes; the exchange body is limited to the configured message size.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let exchange_limit = state.config.sync_max_message_bytes;
    OpenApiRouter::new().routes(routes!(websocket)).merge(
        OpenApiRouter::new()
            .routes(routes!(exchange))
            .layer(DefaultBodyLimit::max(exchange_limit)),
    )
}

/// The actor and scopes of an authenticated device; admins do not sync documents.
fn sync_identity(state: &AppState, id: &Identity) -> Result<(Actor, Vec<ScopeId>), ApiError> {
    let actor = id.actor().ok_or_else(|| {
        ApiError::Forbidden(format!("role {} does not sync task documents", id.role))
    })?;
    Ok((actor, id.scopes(state.config.crew_sees_district_open)))
}

/// The WebSocket read and write buffers' starting size.
const IDLE_BUFFER_BYTES: usize = 4 * 1024;

/// `GET /api/v1/sync`: upgrades to a WebSocket carrying binary sync frames.
#[utoipa::path(get, path = "/api/v1/sync", tag = "sync", security(("bearer" = [])),
    description = "A WebSocket upgrade (`Connection: Upgrade`, `Upgrade: websocket`); the \
        socket then carries sync-core's binary frames (`Hello`, `Push`, `Batch`, `Ack`, …).",
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket upgrade request"),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
        (status = 403, description = "The role does not sync task documents", body = ErrorBody),
    ))]
pub async fn websocket(
    State(state): State<AppState>,
    identity: Identity,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let (actor, scopes) = sync_identity(&state, &identity)?;
    // The transport buffers up to twice the limit, so that a message over the limit is
    // still read whole and answered with a clean policy-violation close (see
    // `sync::run_websocket`); beyond that the transport fails and the close is best effort.
    let transport_limit = state.config.sync_max_message_bytes.saturating_mul(2);
    Ok(ws
        // Most connections sit idle: tungstenite's default 128 KiB read and write buffers
        // would cost 256 KiB per phone. Buffers still grow for a large message.
        .read_buffer_size(IDLE_BUFFER_BYTES)
        .write_buffer_size(IDLE_BUFFER_BYTES)
        .max_message_size(transport_limit)
        .max_frame_size(transport_limit)
        .on_upgrade(move |socket| sync::run_websocket(state, socket, actor, scopes)))
}

/// `POST /api/v1/sync/exchange`: length-prefixed frames in, length-prefixed frames out.
#[utoipa::path(post, path = "/api/v1/sync/exchange", tag = "sync", security(("bearer" = [])),
    description = "The HTTP fallback of the sync WebSocket: the body is a sequence of frames, \
        each prefixed with its length (u32, little-endian); the answer is the server's \
        frames in the same form.",
    request_body(content = Vec<u8>, content_type = "application/x-tarmim-frames"),
    responses(
        (status = 200, description = "The server's frames", content_type = "application/x-tarmim-frames", body = Vec<u8>),
        (status = 400, description = "Empty or truncated frames", body = ErrorBody),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
        (status = 403, description = "The role does not sync task documents", body = ErrorBody),
        (status = 413, description = "Over the configured message size", body = ErrorBody),
    ))]
pub async fn exchange(
    State(state): State<AppState>,
    identity: Identity,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (actor, scopes) = sync_identity(&state, &identity)?;
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let message = format!(
                "the body exceeds the limit of {} bytes; send fewer pushes per exchange",
                state.config.sync_max_message_bytes
            );
            return Ok((
                StatusCode::PAYLOAD_TOO_LARGE,
                Json(serde_json::json!({"error": "payload_too_large", "message": message})),
            )
                .into_response());
        }
        Err(e) => return Err(ApiError::BadRequest(e.body_text())),
    };
    match sync::exchange(&state, actor, scopes, &body).await {
        Ok(out) => Ok(([(header::CONTENT_TYPE, FRAMES_MEDIA_TYPE)], out).into_response()),
        Err(e @ (ExchangeError::Empty | ExchangeError::Truncated { .. })) => {
            Err(ApiError::BadRequest(e.to_string()))
        }
    }
}

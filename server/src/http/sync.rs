//! `GET /api/v1/sync` (WebSocket) and `POST /api/v1/sync/exchange` (HTTP fallback).
//!
//! Both authenticate with the bearer token before anything else: a missing, malformed,
//! expired or revoked token is a 401 JSON answer, never an upgrade. The work is in
//! [`crate::domain::sync`].
//!
//! A socket lives as long as its authority: it holds a [`SessionGuard`] and closes with
//! `4401 token revoked` (logout, `user revoke-tokens`), `4401 account disabled` (after a
//! `Scopes` frame granting nothing: the phone drops the user's tasks) or `4409 scopes
//! changed; reconnect` (new districts, crew, role) when its session is cut on any replica,
//! sending nothing else after the cut (`domain::sessions`). A disabled user's token is
//! refused with `401 account_disabled` before any upgrade or exchange.
//!
//! A catch-up goes out one step at a time: the loop asks for the next page only once the
//! previous one was written to the socket (back-pressure), and keeps reading the device's
//! frames, checking its cut and the server's shutdown between pages.

use crate::base::time::now_millis;
use crate::domain::identity::{self, Identity, reauthenticate};
use crate::domain::sessions::{self as live, SessionGuard};
use crate::domain::sync::{self, Connection, ExchangeError, FRAMES_MEDIA_TYPE, Outgoing, Peer};
use crate::domain::sync_admission::Turn;
use crate::domain::throttle::SocketsFull;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi::{ErrorBody, Unauthorized};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use tokio::time::Instant;
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

/// The WebSocket read and write buffers' starting size.
const IDLE_BUFFER_BYTES: usize = 4 * 1024;

/// `GET /api/v1/sync`: upgrades to a WebSocket carrying binary sync frames.
#[utoipa::path(get, path = "/api/v1/sync", tag = "sync", security(("bearer" = [])),
    description = "A WebSocket upgrade (`Connection: Upgrade`, `Upgrade: websocket`); the \
        socket then carries sync-core's binary frames (`Hello`, `Push`, `Batch`, `Ack`, …).",
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket upgrade request"),
        Unauthorized,
        (status = 403, description = "The role does not sync task documents", body = ErrorBody),
        (status = 429, description = "Too many open sync connections (per user or on this \
            server); `Retry-After`", body = ErrorBody),
        (status = 503, description = "Too many handshakes under way (a reconnect storm): no \
            turn came in time; `Retry-After`", body = ErrorBody),
    ))]
pub async fn websocket(
    State(state): State<AppState>,
    identity: Identity,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    // Registered before the identity is read again: a revocation or scope change
    // committed after that read finds the guard and closes the socket; one committed
    // before it is seen by the read (401, or the new scopes).
    let guard = state
        .hub()
        .sessions()
        .register(&identity.user_id, identity.token_hash);
    // Refused before the upgrade: no socket, no buffers.
    let slot = state
        .sockets
        .open(&identity.user_id)
        .map_err(|full| ApiError::RetryAfter {
            secs: SocketsFull::RETRY_AFTER_SECS,
            message: full.to_string(),
        })?;
    // The handshake waits for its turn (the reconnect storm): the server admits in waves.
    let turn = state
        .handshakes
        .enter()
        .await
        .map_err(|busy| ApiError::BusyFor {
            secs: busy.retry_after_secs,
            message: busy.to_string(),
        })?;
    // Read again within the turn (its reads are part of what the turns pace).
    let identity = reauthenticate(&state.db, &identity, now_millis()).await?;
    let peer = Peer::of(&identity, state.config.crew_sees_district_open)?;
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
        // What waits to be sent is bounded too: one message of the largest size (a peer
        // that stops reading is closed by the send timeout, not buffered for).
        .max_write_buffer_size(transport_limit.saturating_add(IDLE_BUFFER_BYTES))
        .on_upgrade(move |socket| async move {
            run_websocket(state, socket, peer, guard, Some(turn)).await;
            drop(slot);
        }))
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
        Unauthorized,
        (status = 403, description = "The role does not sync task documents", body = ErrorBody),
        (status = 413, description = "Over the configured message size", body = ErrorBody),
    ))]
pub async fn exchange(
    State(state): State<AppState>,
    identity: Identity,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let peer = Peer::of(&identity, state.config.crew_sees_district_open)?;
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
    match sync::exchange(&state.dispatch, peer, &body).await {
        Ok(out) => Ok(([(header::CONTENT_TYPE, FRAMES_MEDIA_TYPE)], out).into_response()),
        Err(e @ (ExchangeError::Empty | ExchangeError::Truncated { .. })) => {
            Err(ApiError::BadRequest(e.to_string()))
        }
    }
}

/// Keeps the live-connection gauge and the open/close counters.
struct ConnectionMetrics {
    reason: &'static str,
}

impl ConnectionMetrics {
    fn open() -> ConnectionMetrics {
        metrics::counter!("tarmim_sync_connections_opened_total").increment(1);
        metrics::gauge!("tarmim_sync_connections").increment(1.0);
        ConnectionMetrics { reason: "dropped" }
    }
}

impl Drop for ConnectionMetrics {
    fn drop(&mut self) {
        metrics::gauge!("tarmim_sync_connections").decrement(1.0);
        metrics::counter!("tarmim_sync_connections_closed_total", "reason" => self.reason)
            .increment(1);
    }
}

/// How a connection ends.
enum End {
    /// The session was cut: see [`cut`].
    Cut(live::CutKind),
    /// Close with this code and reason.
    Close(u16, &'static str, &'static str),
    /// The peer closed or the transport broke: nothing more to send.
    Gone(&'static str),
}

/// The end of a cut session.
fn cut_end(kind: live::CutKind) -> End {
    let (code, reason) = live::close_of(kind);
    let label = match kind {
        live::CutKind::Revoked => "revoked",
        live::CutKind::Rescoped => "rescoped",
    };
    End::Close(code, reason, label)
}

/// The end of a cut session. A revoked one asks why: if its user was disabled, the device
/// is first told that it has no scope left (it drops the user's tasks), then the socket
/// closes with `4401 account disabled`.
async fn cut(
    state: &AppState,
    socket: &mut WebSocket,
    conn: &mut Connection,
    guard: &SessionGuard,
    kind: live::CutKind,
    send_timeout: Duration,
) -> End {
    if kind == live::CutKind::Revoked {
        match identity::account_disabled(&state.db, guard.token_hash()).await {
            Ok(true) => {
                let out = conn.account_disabled();
                for f in out.frames {
                    let sent = socket.send(Message::Binary(f.into()));
                    match tokio::time::timeout(send_timeout, sent).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return End::Gone("send_failed"),
                        Err(_) => return End::Gone("send_timeout"),
                    }
                }
                return End::Close(live::CLOSE_REVOKED, "account disabled", "disabled");
            }
            Ok(false) => {}
            // The plain revocation's close; the phone learns the rest at its next login.
            Err(e) => tracing::warn!(error = %e, "cannot tell why a sync session was revoked"),
        }
    }
    cut_end(kind)
}

/// Sends a reply's frames, then announces its commits. `Some` ends the connection.
async fn deliver(
    socket: &mut WebSocket,
    conn: &Connection,
    guard: &SessionGuard,
    out: Outgoing,
    send_timeout: Duration,
) -> Option<End> {
    let mut end = None;
    for f in out.frames {
        // Nothing goes out once the session is cut, even what was already queued.
        if let Some(kind) = guard.is_cut() {
            end = Some(End::Cut(kind));
            break;
        }
        // A peer that stops reading is closed, not waited for (nor buffered for).
        match tokio::time::timeout(send_timeout, socket.send(Message::Binary(f.into()))).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                end = Some(End::Gone("send_failed"));
                break;
            }
            Err(_) => {
                end = Some(End::Gone("send_timeout"));
                break;
            }
        }
    }
    conn.announce(&out.touched).await;
    if end.is_none() && out.close {
        end = Some(End::Close(
            close_code::NORMAL,
            "session ended (see the error frame)",
            "session_error",
        ));
    }
    end
}

/// Sleeps until `at`; never resolves for `None`.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Resolves once the server is shutting down.
async fn shutting_down(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Serves one authenticated device over an upgraded WebSocket until it closes, or until
/// its session is cut (`guard`: revoked token, disabled user, new scopes). `turn`, the
/// handshake's turn, is given back once the first catch-up has ended, or when it expires.
pub async fn run_websocket(
    state: AppState,
    mut socket: WebSocket,
    peer: Peer,
    mut guard: SessionGuard,
    mut turn: Option<Turn>,
) {
    let mut metrics = ConnectionMetrics::open();
    let mut conn = Connection::open(&state.dispatch, peer);
    let device = conn.device().clone();
    let mut shutdown = conn.shutdown_signal();
    let idle = state.config.sync_idle_timeout();
    let limit = state.config.sync_max_message_bytes;
    let send_timeout = Duration::from_secs(state.config.limits.sync_send_timeout_secs.max(1));
    let mut deadline = Instant::now() + idle;
    let mut greeted = false;
    // The work of an arm (storage reads, a push, sending) is boxed: its future exists only
    // while it runs, so the task of an idle connection holds the small futures of the
    // select below, not the largest of its arms' (issue 21 §3).
    let end = loop {
        let catching_up = conn.catching_up();
        if greeted && !catching_up {
            turn = None;
        }
        let turn_ends = turn.as_ref().map(Turn::ends);
        tokio::select! {
            biased;
            kind = guard.cut() => break End::Cut(kind),
            () = sleep_until_some(turn_ends) => turn = None,
            () = shutting_down(&mut shutdown) => {
                break End::Close(close_code::AWAY, "server shutting down", "shutdown");
            }
            () = tokio::time::sleep_until(deadline) => {
                break End::Close(close_code::NORMAL, "idle timeout", "idle");
            }
            msg = socket.recv() => {
                deadline = Instant::now() + idle;
                match msg {
                    None => break End::Gone("peer_closed"),
                    Some(Err(e)) => {
                        tracing::debug!(device = %device, error = %e, "sync socket error");
                        break End::Close(
                            close_code::POLICY,
                            "message too large or not valid WebSocket",
                            "transport_error",
                        );
                    }
                    Some(Ok(Message::Binary(bytes))) if bytes.len() > limit => {
                        break End::Close(
                            close_code::POLICY,
                            "message exceeds the size limit",
                            "too_large",
                        );
                    }
                    Some(Ok(Message::Binary(bytes))) => {
                        greeted = true;
                        let out = Box::pin(conn.on_frame(&bytes)).await;
                        if let Some(end) =
                            Box::pin(deliver(&mut socket, &conn, &guard, out, send_timeout)).await
                        {
                            break end;
                        }
                    }
                    Some(Ok(Message::Text(_))) => {
                        break End::Close(
                            close_code::POLICY,
                            "sync frames are binary messages",
                            "text_message",
                        );
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) => break End::Gone("peer_closed"),
                }
            }
            touched = conn.touched() => {
                let mut end = None;
                for scope in touched {
                    if let Some(kind) = guard.is_cut() {
                        end = Some(End::Cut(kind));
                        break;
                    }
                    let out = Box::pin(conn.on_notify(&scope)).await;
                    if let Some(e) =
                        Box::pin(deliver(&mut socket, &conn, &guard, out, send_timeout)).await
                    {
                        end = Some(e);
                        break;
                    }
                }
                if let Some(end) = end {
                    break end;
                }
            }
            // Last, and only when nothing else is ready: the next page of the catch-up,
            // once the previous one was written.
            () = std::future::ready(()), if catching_up => {
                if let Some(out) = Box::pin(conn.next_catch_up()).await {
                    // A device taking its catch-up is not idle.
                    deadline = Instant::now() + idle;
                    if let Some(end) =
                        Box::pin(deliver(&mut socket, &conn, &guard, out, send_timeout)).await
                    {
                        break end;
                    }
                }
            }
        }
    };
    let end = match end {
        End::Cut(kind) => {
            Box::pin(cut(
                &state,
                &mut socket,
                &mut conn,
                &guard,
                kind,
                send_timeout,
            ))
            .await
        }
        other => other,
    };
    // Unsubscribed before the closing handshake: shutdown waits for subscriptions only.
    drop(conn);
    drop(guard);
    metrics.reason = match end {
        End::Close(code, reason, label) => {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            // Best effort: the peer may be gone already.
            let _ = tokio::time::timeout(
                Duration::from_secs(5),
                socket.send(Message::Close(Some(frame))),
            )
            .await;
            // Let the peer's closing handshake complete.
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                while let Some(Ok(_)) = socket.recv().await {}
            })
            .await;
            label
        }
        End::Gone(label) => label,
        // Resolved above.
        End::Cut(_) => "cut",
    };
    tracing::debug!(device = %device, reason = metrics.reason, "sync connection closed");
}

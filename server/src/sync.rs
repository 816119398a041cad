//! The sync host: drives one `sync_core` [`ServerSession`] per connection over a transport,
//! against the server's storage, and announces commits through the [`Hub`].
//!
//! - [`run_websocket`]: one task per WebSocket. Every binary message is a frame for
//!   [`ServerSession::on_frame`]; the reply's frames go back as binary messages, in order.
//!   Between frames the task pulls the scopes the hub says were touched
//!   ([`ServerSession::on_notify`]). Text or oversized messages close the socket with a
//!   policy-violation code; a connection silent for longer than the idle timeout is closed;
//!   at shutdown each connection finishes the frame in hand and closes with "going away".
//!   The task holds no global lock while it awaits anything.
//! - [`exchange`]: the HTTP fallback. A request body of length-prefixed frames (u32 LE
//!   length, then the frame) runs through a fresh session; the answer is the server's
//!   frames in the same format.
//!
//! Metrics: `tarmim_sync_connections_opened_total`, `tarmim_sync_connections_closed_total`
//! (by reason), `tarmim_sync_connections` (gauge), `tarmim_sync_frames_in_total` and
//! `tarmim_sync_frames_out_total` (by transport), `tarmim_sync_commits_total`,
//! `tarmim_sync_refusals_total` (by code).

use crate::app::AppState;
use crate::compaction;
use crate::db::now_millis;
use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use std::time::Duration;
use sync_core::session::TaskScopes;
use sync_core::session::server::{Reply, ServerConfig, ServerSession};
use sync_core::task::RefusalCode;
use sync_core::{Actor, ScopeId};
use tokio::time::Instant;

/// Media type of the HTTP fallback's bodies.
pub const FRAMES_MEDIA_TYPE: &str = "application/x-tarmim-frames";

/// Why an HTTP exchange body is not a sequence of frames.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// The body holds no frame.
    #[error("the body holds no frame; send length-prefixed frames starting with Hello")]
    Empty,
    /// A length prefix or a frame ends early.
    #[error("truncated body: the frame at byte {offset} needs {needed} bytes, {available} remain")]
    Truncated {
        /// Where the frame (or its prefix) starts.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left in the body.
        available: usize,
    },
}

/// Splits a body of `u32 LE length | frame` records.
pub fn decode_frames(body: &[u8]) -> Result<Vec<&[u8]>, ExchangeError> {
    let mut out = Vec::new();
    let mut rest = body;
    let mut offset = 0usize;
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(ExchangeError::Truncated {
                offset,
                needed: 4,
                available: rest.len(),
            });
        };
        let len = u32::from_le_bytes(*len) as usize;
        if tail.len() < len {
            return Err(ExchangeError::Truncated {
                offset,
                needed: 4 + len,
                available: rest.len(),
            });
        }
        let (frame, tail) = tail.split_at(len);
        out.push(frame);
        offset += 4 + len;
        rest = tail;
    }
    if out.is_empty() {
        return Err(ExchangeError::Empty);
    }
    Ok(out)
}

/// Joins frames as `u32 LE length | frame` records.
pub fn encode_frames<B: AsRef<[u8]>>(frames: &[B]) -> Vec<u8> {
    let total: usize = frames.iter().map(|f| f.as_ref().len() + 4).sum();
    let mut out = Vec::with_capacity(total);
    for f in frames {
        let f = f.as_ref();
        // A frame is at most `MAX_FRAME_BYTES` (32 MiB), far below u32::MAX.
        out.extend_from_slice(&u32::try_from(f.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

fn new_session(actor: Actor, scopes: Vec<ScopeId>) -> ServerSession<TaskScopes> {
    ServerSession::new(actor, scopes, TaskScopes, ServerConfig::default())
}

fn refusal_name(code: RefusalCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{code:?}"))
}

/// Records a reply's metrics and wakes this process's subscribers of the scopes its
/// commits touched; returns those scopes, to announce to other replicas.
fn account(state: &AppState, reply: &Reply, transport: &'static str) -> Vec<ScopeId> {
    let hub = &state.hub;
    compaction::after_commits(&state.db, &reply.committed);
    metrics::counter!("tarmim_sync_frames_out_total", "transport" => transport)
        .increment(reply.frames.len() as u64);
    for (doc, code) in &reply.refused {
        tracing::info!(doc = %doc, code = ?code, "sync push refused");
        metrics::counter!("tarmim_sync_refusals_total", "code" => refusal_name(*code)).increment(1);
    }
    let mut touched: Vec<ScopeId> = Vec::new();
    for c in &reply.committed {
        metrics::counter!("tarmim_sync_commits_total").increment(1);
        touched.extend(c.touched.iter().cloned());
        if c.created {
            crate::intake::adopt_in_background(state, c.doc.clone());
        }
    }
    touched.sort();
    touched.dedup();
    hub.publish_local(&touched);
    touched
}

/// Runs the HTTP fallback's exchange: a fresh session fed every frame of `body` in order.
/// Returns the server's frames, length-prefixed. Stops early if the session closes (an
/// error frame is then the last frame).
pub async fn exchange(
    state: &AppState,
    actor: Actor,
    scopes: Vec<ScopeId>,
    body: &[u8],
) -> Result<Vec<u8>, ExchangeError> {
    let frames = decode_frames(body)?;
    metrics::counter!("tarmim_sync_frames_in_total", "transport" => "http")
        .increment(frames.len() as u64);
    let mut session = new_session(actor, scopes);
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut touched: Vec<ScopeId> = Vec::new();
    for f in frames {
        let reply = session.on_frame(&state.db, f, now_millis()).await;
        touched.extend(account(state, &reply, "http"));
        out.extend(reply.frames);
        if reply.close {
            break;
        }
    }
    touched.sort();
    touched.dedup();
    state.hub.announce(&touched).await;
    Ok(encode_frames(&out))
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
    /// Close with this code and reason.
    Close(u16, &'static str, &'static str),
    /// The peer closed or the transport broke: nothing more to send.
    Gone(&'static str),
}

/// Sends a reply's frames; publishes its commits. `Some` ends the connection.
async fn deliver(socket: &mut WebSocket, state: &AppState, reply: Reply) -> Option<End> {
    let hub = &state.hub;
    let touched = account(state, &reply, "ws");
    let close = reply.close;
    let mut end = None;
    for f in reply.frames {
        if socket.send(Message::Binary(f.into())).await.is_err() {
            end = Some(End::Gone("send_failed"));
            break;
        }
    }
    // Announced to other replicas after the device has its acks: they need not wait.
    hub.announce(&touched).await;
    if end.is_none() && close {
        end = Some(End::Close(
            close_code::NORMAL,
            "session ended (see the error frame)",
            "session_error",
        ));
    }
    end
}

/// Resolves once the server is shutting down.
async fn shutting_down(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Serves one authenticated device over an upgraded WebSocket until it closes.
pub async fn run_websocket(
    state: AppState,
    mut socket: WebSocket,
    actor: Actor,
    scopes: Vec<ScopeId>,
) {
    let mut metrics = ConnectionMetrics::open();
    let device = actor.device.clone();
    tracing::debug!(device = %device, scopes = ?scopes, "sync connection opened");
    // Subscribed before the handshake: a commit that lands while the catch-up is being
    // read is queued here and pulled right after it, so none falls in between.
    let sub = state.hub.subscribe(&scopes);
    let mut shutdown = state.hub.shutdown_signal();
    let mut session = new_session(actor, scopes);
    let idle = state.config.sync_idle_timeout();
    let limit = state.config.sync_max_message_bytes;
    let mut deadline = Instant::now() + idle;
    let end = loop {
        tokio::select! {
            biased;
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
                        metrics::counter!("tarmim_sync_frames_in_total", "transport" => "ws")
                            .increment(1);
                        let reply = session.on_frame(&state.db, &bytes, now_millis()).await;
                        if let Some(end) = deliver(&mut socket, &state, reply).await {
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
            touched = sub.next() => {
                let mut end = None;
                for scope in touched {
                    let reply = session.on_notify(&state.db, &scope).await;
                    if let Some(e) = deliver(&mut socket, &state, reply).await {
                        end = Some(e);
                        break;
                    }
                }
                if let Some(end) = end {
                    break end;
                }
            }
        }
    };
    drop(sub);
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
    };
    tracing::debug!(device = %device, reason = metrics.reason, "sync connection closed");
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn frames_round_trip_and_truncation_is_detected() {
        let frames: Vec<Vec<u8>> = vec![b"abc".to_vec(), vec![], vec![7; 300]];
        let body = encode_frames(&frames);
        let back = decode_frames(&body).unwrap();
        assert_eq!(back, frames.iter().map(Vec::as_slice).collect::<Vec<_>>());
        for cut in 1..body.len() {
            if cut == 7 || cut == 11 {
                continue; // record boundaries
            }
            assert!(
                matches!(
                    decode_frames(&body[..cut]),
                    Err(ExchangeError::Truncated { .. })
                ),
                "{cut}"
            );
        }
        assert_eq!(decode_frames(&[]), Err(ExchangeError::Empty));
    }
}

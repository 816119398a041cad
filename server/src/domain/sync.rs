//! The sync host, transport-agnostic: a `sync_core` [`ServerSession`] per connection
//! driven against the server's storage, each reply's commits announced through the
//! [`crate::domain::hub::Hub`] (and a task filed on a phone handed to intake), and the
//! HTTP fallback's framing.
//!
//! - [`Peer`]: who a connection syncs as (the actor its pushes carry, the scopes it
//!   follows); admins do not sync task documents.
//! - [`Connection`]: one live connection (the WebSocket; its loop is the HTTP layer's,
//!   `http::sync`): subscribed to its scopes before the handshake, fed frames and hub
//!   notifications, its replies accounted (metrics, compaction, this process's subscribers, intake) before
//!   they are sent and announced
//!   to other replicas after.
//! - [`exchange`]: the HTTP fallback. A request body of length-prefixed frames (u32 LE
//!   length, then the frame) runs through a fresh session; the answer is the server's
//!   frames in the same format. Its catch-up stops after [`EXCHANGE_CATCH_UP_BYTES`]:
//!   an answer without `CaughtUp` tells the device to come back for the rest (its
//!   cursors, written with each batch, say where to go on from).
//!
//! A catch-up is sent step by step ([`Connection::next_catch_up`]), each step (one page
//! of scope entries) read only once the previous one was written, so memory does not grow
//! with the size of the device's scopes.
//!
//! The sessions of one process share their catch-up pages ([`catch_up_pages`],
//! `sync_core::session::pages`): the ten phones of a crew reconnecting from the same
//! cursor at the start of a shift are sent one page, built once. Each page is built in a
//! turn of [`crate::domain::sync_work::CatchUpTurns`], so live pulls go first.
//!
//! A push's handling (decode, apply, validate, fold, save) runs on the bounded pool of
//! [`crate::domain::sync_work`], never on an async worker; other frames (handshake,
//! pings, live pulls) stay where they are.
//!
//! Metrics: `tarmim_sync_frames_in_total` and `tarmim_sync_frames_out_total` (by
//! transport), `tarmim_sync_commits_total`, `tarmim_sync_refusals_total` (by code) here;
//! the WebSocket's `tarmim_sync_connections_opened_total`,
//! `tarmim_sync_connections_closed_total` (by reason) and `tarmim_sync_connections`
//! (gauge) in `http::sync`.

use crate::base::time::now_millis;
use crate::domain::compaction;
use crate::domain::dispatch::Dispatch;
use crate::domain::hub::Subscription;
use crate::domain::identity::{Identity, UserRole};
use std::sync::Arc;
use sync_core::protocol::looks_like_push;
use sync_core::session::TaskScopes;
use sync_core::session::pages::PageCache;
use sync_core::session::server::{Reply, ServerConfig, ServerSession};
use sync_core::task::RefusalCode;
use sync_core::{Actor, DeviceId, ScopeId};
use tokio::sync::watch;

/// Media type of the HTTP fallback's bodies.
pub const FRAMES_MEDIA_TYPE: &str = "application/x-tarmim-frames";

/// An exchange's answer stops adding catch-up steps once its frames reach this many
/// bytes (one step goes beyond it by at most a page): the device syncs again for the
/// rest, and neither side holds a whole city in one answer.
pub const EXCHANGE_CATCH_UP_BYTES: usize = 4 * 1024 * 1024;

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

/// A role that does not sync task documents (admins).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role {0} does not sync task documents")]
pub struct NotSynced(pub UserRole);

/// Who a connection syncs as.
#[derive(Debug, Clone)]
pub struct Peer {
    actor: Actor,
    scopes: Vec<ScopeId>,
}

impl Peer {
    /// The authenticated caller as a sync peer: its actor and its device's scopes.
    pub fn of(who: &Identity, crew_sees_district_open: bool) -> Result<Peer, NotSynced> {
        let actor = who.actor().ok_or(NotSynced(who.role))?;
        Ok(Peer {
            actor,
            scopes: who.scopes(crew_sees_district_open),
        })
    }
}

/// Catch-up pages kept at most, and their bytes: a reconnect storm's crews come back
/// within seconds, so a page is needed briefly. A page over a quarter of the bytes is not
/// kept.
pub const CATCH_UP_PAGES: (usize, usize) = (1_024, 32 * 1024 * 1024);

/// The process's shared catch-up pages (one per [`Dispatch`]).
pub fn catch_up_pages() -> PageCache {
    PageCache::new(CATCH_UP_PAGES.0, CATCH_UP_PAGES.1)
}

/// A session for one connection of `actor`, following `scopes`.
fn new_session(d: &Dispatch, actor: Actor, scopes: Vec<ScopeId>) -> ServerSession<TaskScopes> {
    let cfg: ServerConfig = d.settings.sync.clone();
    ServerSession::new(actor, scopes, TaskScopes, cfg).with_pages(Arc::clone(&d.catch_up_pages))
}

type Session = ServerSession<TaskScopes>;

/// Feeds one frame to `session`: a push on the sync work pool (the session travels there
/// and back), anything else here. `None` back: the work was lost (a panic), and with it
/// the session; the connection closes.
async fn drive(d: &Arc<Dispatch>, mut session: Session, frame: &[u8]) -> (Option<Session>, Reply) {
    if !looks_like_push(frame) {
        let reply = session.on_frame(&d.store, frame, now_millis()).await;
        return (Some(session), reply);
    }
    let store = d.store.clone();
    let frame = frame.to_vec();
    let work = async move {
        let reply = session.on_frame(&store, &frame, now_millis()).await;
        (session, reply)
    };
    match d.sync_work.run(work).await {
        Ok((session, reply)) => (Some(session), reply),
        Err(e) => {
            tracing::error!(error = %e, "a sync push was lost; closing the connection");
            (None, closed())
        }
    }
}

fn refusal_name(code: RefusalCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{code:?}"))
}

/// Records a reply's metrics and wakes this process's subscribers of the scopes its
/// commits touched; returns those scopes, to announce to other replicas.
fn account(d: &Arc<Dispatch>, reply: &Reply, transport: &'static str) -> Vec<ScopeId> {
    let hub = &d.hub;
    compaction::after_commits(&d.store, &reply.committed);
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
            crate::domain::outbox::adopt_now(d, c.doc.clone());
        }
    }
    touched.sort();
    touched.dedup();
    hub.publish_local(&touched);
    touched
}

/// Runs the HTTP fallback's exchange: a fresh session fed every frame of `body` in order,
/// then as much of the catch-up its `Hello` started as fits in
/// [`EXCHANGE_CATCH_UP_BYTES`]. Returns the server's frames, length-prefixed. Stops early
/// if the session closes (an error frame is then the last frame).
pub async fn exchange(
    d: &Arc<Dispatch>,
    peer: Peer,
    body: &[u8],
) -> Result<Vec<u8>, ExchangeError> {
    let frames = decode_frames(body)?;
    metrics::counter!("tarmim_sync_frames_in_total", "transport" => "http")
        .increment(frames.len() as u64);
    let mut session = Some(new_session(d, peer.actor, peer.scopes));
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut touched: Vec<ScopeId> = Vec::new();
    for f in frames {
        let Some(s) = session.take() else { break };
        let (back, reply) = drive(d, s, f).await;
        touched.extend(account(d, &reply, "http"));
        out.extend(reply.frames);
        if !reply.close {
            session = back;
        }
    }
    // The pushes were answered above; the catch-up comes after them, bounded.
    let mut size: usize = out.iter().map(Vec::len).sum();
    while let Some(s) = session.as_mut()
        && size < EXCHANGE_CATCH_UP_BYTES
    {
        let turn = d.catch_up_turns.turn().await;
        let step = s.next_catch_up(&d.store).await;
        drop(turn);
        let Some(reply) = step else {
            break;
        };
        touched.extend(account(d, &reply, "http"));
        size += reply.frames.iter().map(Vec::len).sum::<usize>();
        out.extend(reply.frames);
        if reply.close {
            break;
        }
    }
    touched.sort();
    touched.dedup();
    d.hub.announce(&touched).await;
    Ok(encode_frames(&out))
}

/// What a connection sends for one reply, and what it announces once it has.
#[derive(Debug)]
pub struct Outgoing {
    /// Frames to send, in order.
    pub frames: Vec<Vec<u8>>,
    /// The session ended (the last frame says why): close after sending.
    pub close: bool,
    /// Scopes the reply's commits touched, for [`Connection::announce`].
    pub touched: Vec<ScopeId>,
}

/// One device's live connection on this replica (the WebSocket).
pub struct Connection {
    d: Arc<Dispatch>,
    /// `None` once a push's work was lost (the connection then closes).
    session: Option<Session>,
    sub: Subscription,
    device: DeviceId,
}

impl Connection {
    /// Opens a connection for `peer`. It is subscribed to its scopes before the
    /// handshake: a commit that lands while the catch-up is being read is queued and
    /// pulled right after it, so none falls in between.
    pub fn open(d: &Arc<Dispatch>, peer: Peer) -> Connection {
        let sub = d
            .hub
            .subscribe_device(&peer.scopes, peer.actor.device.as_str());
        tracing::debug!(device = %peer.actor.device, scopes = ?peer.scopes, "sync connection opened");
        Connection {
            d: Arc::clone(d),
            device: peer.actor.device.clone(),
            session: Some(new_session(d, peer.actor, peer.scopes)),
            sub,
        }
    }

    /// The peer's device.
    pub fn device(&self) -> &DeviceId {
        &self.device
    }

    /// Turns `true` when the server is shutting down: finish the frame in hand and close.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.d.hub.shutdown_signal()
    }

    /// Handles one frame from the device.
    pub async fn on_frame(&mut self, frame: &[u8]) -> Outgoing {
        metrics::counter!("tarmim_sync_frames_in_total", "transport" => "ws").increment(1);
        let Some(session) = self.session.take() else {
            return self.outgoing(closed());
        };
        let (back, reply) = drive(&self.d, session, frame).await;
        self.session = back;
        self.outgoing(reply)
    }

    /// Whether the catch-up a `Hello` started is under way: the host then asks for
    /// [`Connection::next_catch_up`] each time it has written the previous step.
    pub fn catching_up(&self) -> bool {
        self.session.as_ref().is_some_and(Session::is_catching_up)
    }

    /// The next step of the catch-up (a page of scope entries, or `CaughtUp`); `None`
    /// when none is under way.
    pub async fn next_catch_up(&mut self) -> Option<Outgoing> {
        let session = self.session.as_mut()?;
        // In a turn: a storm's catch-ups do not crowd out live pulls (which take none).
        let turn = self.d.catch_up_turns.turn().await;
        let reply = session.next_catch_up(&self.d.store).await;
        drop(turn);
        Some(self.outgoing(reply?))
    }

    /// Waits until a followed scope was touched, on this replica or another, and takes
    /// every touched scope. Cancel-safe.
    pub async fn touched(&self) -> Vec<ScopeId> {
        self.sub.next().await
    }

    /// Pulls what changed in `scope` to the device.
    pub async fn on_notify(&mut self, scope: &ScopeId) -> Outgoing {
        let Some(session) = self.session.as_mut() else {
            return self.outgoing(closed());
        };
        let reply = session.on_notify(&self.d.store, scope).await;
        self.outgoing(reply)
    }

    /// Ends the session because its user was disabled: a device past its handshake (of
    /// protocol version 2 on) is told it has no scope left, so it drops what it holds of
    /// the user's tasks. Send the frames, then close.
    pub fn account_disabled(&mut self) -> Outgoing {
        let reply = match self.session.as_mut() {
            Some(session) => session.account_disabled(),
            None => closed(),
        };
        self.outgoing(reply)
    }

    /// Announces a sent reply's commits to the other replicas. After the device has its
    /// acks: they need not wait for the announcement.
    pub async fn announce(&self, touched: &[ScopeId]) {
        self.d.hub.announce(touched).await;
    }

    fn outgoing(&self, reply: Reply) -> Outgoing {
        let touched = account(&self.d, &reply, "ws");
        Outgoing {
            frames: reply.frames,
            close: reply.close,
            touched,
        }
    }
}

fn closed() -> Reply {
    Reply {
        close: true,
        ..Reply::default()
    }
}

#[cfg(test)]
mod tests {
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

//! One sync session between this phone's `sync_core` device and the server, over the
//! WebSocket or the HTTP fallback: the frames come from and go to
//! `sync_core::session::device::Device`; this module only carries them and counts what
//! happened for the [`SyncReport`] and the app's listener.

use crate::auth::Auth;
use crate::device::SharedDevice;
use crate::error::TarmimError;
use crate::listener::Listeners;
use crate::model::{RefusedChange, SyncReport, SyncTransport};
use crate::transport::TransportError;
use crate::transport::ws::{Incoming, SyncSocket};
use std::collections::BTreeSet;
use std::time::Duration;
use sync_core::session::device::{DeviceEvent, DeviceOutput};
use tokio::sync::Notify;

/// How long `sync_now` waits for the server to answer everything it sent.
const ONCE_TIMEOUT: Duration = Duration::from_secs(60);
/// WebSocket pings on a live connection (the server closes silent ones after 5 minutes).
pub(crate) const PING_EVERY: Duration = Duration::from_secs(30);

/// What a session works with, handed down by the background worker.
#[derive(Clone, Copy)]
pub(crate) struct Parts<'a> {
    /// The phone's device: frames come from it and go to it.
    pub(crate) device: &'a SharedDevice,
    /// The login the connection is made with.
    pub(crate) auth: &'a Auth,
    /// The app's listener, told what changed.
    pub(crate) listeners: &'a Listeners,
}

/// What happened during a session, for the report.
#[derive(Debug)]
pub(crate) struct Tally {
    transport: SyncTransport,
    sent: u32,
    received: BTreeSet<String>,
    acknowledged: u32,
    refused: Vec<RefusedChange>,
    /// Pushes not yet answered (one Ack or Refused comes per push).
    awaiting: usize,
    caught_up: bool,
    /// The server said the user is disabled (the device has dropped the user's tasks).
    disabled: bool,
}

impl Tally {
    fn new(transport: SyncTransport) -> Tally {
        Tally {
            transport,
            sent: 0,
            received: BTreeSet::new(),
            acknowledged: 0,
            refused: Vec::new(),
            awaiting: 0,
            caught_up: false,
            disabled: false,
        }
    }

    /// Caught up, and every push answered.
    pub(crate) fn quiet(&self) -> bool {
        self.caught_up && self.awaiting == 0
    }

    fn pushed(&mut self, pushes: usize) {
        self.awaiting += pushes;
        self.sent = self
            .sent
            .saturating_add(u32::try_from(pushes).unwrap_or(u32::MAX));
    }

    /// Starts counting afresh (for a new `sync_now` on a live connection); what is in
    /// flight stays in flight.
    pub(crate) fn restart(&mut self) {
        let (awaiting, caught_up) = (self.awaiting, self.caught_up);
        *self = Tally::new(self.transport);
        self.awaiting = awaiting;
        self.caught_up = caught_up;
    }

    /// Counts the device's events and tells the app's listener.
    fn apply(&mut self, parts: Parts<'_>, out: DeviceOutput) {
        let mut changed = Vec::new();
        let mut removed = Vec::new();
        for e in out.events {
            match e {
                DeviceEvent::Changed(id) => {
                    self.received.insert(id.to_string());
                    changed.push(id.to_string());
                }
                DeviceEvent::Dropped(id) => removed.push(id.to_string()),
                DeviceEvent::Acknowledged(_) => {
                    self.awaiting = self.awaiting.saturating_sub(1);
                    self.acknowledged += 1;
                }
                DeviceEvent::Refused { doc, code, message } => {
                    self.awaiting = self.awaiting.saturating_sub(1);
                    let r = RefusedChange {
                        task_id: doc.to_string(),
                        code: refusal_code(code),
                        message,
                    };
                    self.refused.push(r.clone());
                    // The task was reset to the server's copy, or forgotten.
                    if parts
                        .device
                        .lock()
                        .store()
                        .get(&doc)
                        .ok()
                        .flatten()
                        .is_some()
                    {
                        changed.push(doc.to_string());
                    } else {
                        removed.push(doc.to_string());
                    }
                    parts.listeners.refused(r);
                }
                DeviceEvent::CaughtUp => self.caught_up = true,
                DeviceEvent::AccountDisabled => self.disabled = true,
            }
        }
        parts.listeners.changed(changed);
        parts.listeners.removed(removed);
    }

    /// The report, with what is still pending.
    pub(crate) fn report(&self, device: &SharedDevice) -> Result<SyncReport, TarmimError> {
        // Each read takes the device's lock on its own statement (a temporary guard lives
        // to the end of its statement, and the lock is not reentrant).
        let pending_changes = device.lock().pending_count()? as u64;
        let pending_uploads = device.pending_uploads()?;
        Ok(SyncReport {
            transport: self.transport,
            sent: self.sent,
            received: u32::try_from(self.received.len()).unwrap_or(u32::MAX),
            acknowledged: self.acknowledged,
            refused: self.refused.clone(),
            pending_changes,
            pending_uploads,
        })
    }
}

fn refusal_code(code: sync_core::task::RefusalCode) -> String {
    // The wire name, as serde writes it (snake_case).
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{code:?}"))
}

/// The server refused the account as disabled (`why`): the device drops what it holds of
/// the user's tasks, keeping what has not reached the server, and the app's listener hears
/// of the tasks removed. Returns what the app is told.
pub(crate) fn account_disabled(parts: Parts<'_>, why: TransportError) -> TarmimError {
    let out = parts.device.lock().account_disabled();
    match out {
        Ok(out) => {
            Tally::new(SyncTransport::Http).apply(parts, out);
            why.into()
        }
        Err(e) => e.into(),
    }
}

/// What the app is told of a sync attempt's transport failure: a disabled account's
/// refusal first drops the user's tasks ([`account_disabled`]).
pub(crate) fn refusal(parts: Parts<'_>, e: TransportError) -> TarmimError {
    match e {
        e @ TransportError::AccountDisabled(_) => account_disabled(parts, e),
        other => other.into(),
    }
}

/// Opens the WebSocket, logging in again once if the token is refused. A failure goes to
/// the app through [`refusal`].
pub(crate) async fn connect(auth: &Auth) -> Result<SyncSocket, TransportError> {
    let token = auth.token().await?;
    match SyncSocket::connect(auth.api().endpoint(), &token).await {
        Err(TransportError::Unauthorized(_)) => {
            let token = auth.login_again().await?;
            SyncSocket::connect(auth.api().endpoint(), &token).await
        }
        other => other,
    }
}

/// A session on an open WebSocket.
pub(crate) struct Live<'a> {
    parts: Parts<'a>,
    sock: SyncSocket,
    /// What happened so far.
    pub(crate) tally: Tally,
}

impl<'a> Live<'a> {
    /// Sends the handshake and every pending change.
    pub(crate) async fn start(
        parts: Parts<'a>,
        mut sock: SyncSocket,
    ) -> Result<Live<'a>, TarmimError> {
        let frames = parts.device.lock().connect()?;
        let mut tally = Tally::new(SyncTransport::WebSocket);
        tally.pushed(frames.len().saturating_sub(1));
        if let Err(e) = sock.send(frames).await {
            parts.device.lock().disconnect();
            return Err(e.into());
        }
        Ok(Live { parts, sock, tally })
    }

    /// Waits for the next frame and applies it. An error ends the session (the device
    /// is disconnected; the next session resumes from the stored cursors).
    pub(crate) async fn step(&mut self) -> Result<(), TarmimError> {
        let bytes = match self.sock.next().await {
            Incoming::Frame(b) => b,
            Incoming::Closed(why) => {
                self.parts.device.lock().disconnect();
                return Err(TransportError::Broken(why).into());
            }
        };
        let out = self.parts.device.lock().on_frame(&bytes);
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                self.parts.device.lock().disconnect();
                return Err(e.into());
            }
        };
        let frames = self.tally_frames(out);
        if self.tally.disabled {
            // The device has dropped the user's tasks; the server closes the socket.
            return Err(TarmimError::AccountDisabled {
                reason: "the server disabled this account".into(),
            });
        }
        self.send(frames).await
    }

    fn tally_frames(&mut self, mut out: DeviceOutput) -> Vec<Vec<u8>> {
        let frames = std::mem::take(&mut out.frames);
        self.tally.apply(self.parts, out);
        frames
    }

    async fn send(&mut self, frames: Vec<Vec<u8>>) -> Result<(), TarmimError> {
        if frames.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.sock.send(frames).await {
            self.parts.device.lock().disconnect();
            return Err(e.into());
        }
        Ok(())
    }

    /// Pushes local edits made since the last push.
    pub(crate) async fn push_local(&mut self) -> Result<(), TarmimError> {
        let frames = self.parts.device.lock().outgoing()?;
        self.tally.pushed(frames.len());
        self.send(frames).await
    }

    /// Keeps the connection alive.
    pub(crate) async fn ping(&mut self) -> Result<(), TarmimError> {
        if let Err(e) = self.sock.ping().await {
            self.parts.device.lock().disconnect();
            return Err(e.into());
        }
        Ok(())
    }

    /// Ends the session politely.
    pub(crate) async fn close(self) {
        self.parts.device.lock().disconnect();
        self.sock.close().await;
    }
}

/// One session to quiescence: connect, push everything, take everything, wait for every
/// answer (pushing what `edited` announces meanwhile), close. WebSocket first, unless
/// `http_only`; the HTTP fallback if this network does not pass one.
pub(crate) async fn once(
    parts: Parts<'_>,
    http_only: bool,
    edited: &Notify,
) -> Result<SyncReport, TarmimError> {
    if !http_only {
        match connect(parts.auth).await {
            Ok(sock) => return once_ws(parts, sock, edited).await,
            Err(TransportError::NoWebSocket(_)) => {}
            Err(e) => return Err(refusal(parts, e)),
        }
    }
    exchange(parts).await
}

async fn once_ws(
    parts: Parts<'_>,
    sock: SyncSocket,
    edited: &Notify,
) -> Result<SyncReport, TarmimError> {
    let mut live = Live::start(parts, sock).await?;
    let deadline = tokio::time::Instant::now() + ONCE_TIMEOUT;
    while !live.tally.quiet() {
        tokio::select! {
            r = live.step() => r?,
            _ = edited.notified() => live.push_local().await?,
            _ = tokio::time::sleep_until(deadline) => {
                live.close().await;
                return Err(TarmimError::Offline {
                    reason: format!("the server did not finish within {} s", ONCE_TIMEOUT.as_secs()),
                    retry_after_secs: None,
                });
            }
        }
    }
    let report = live.tally.report(parts.device);
    live.close().await;
    report
}

/// Exchanges over the HTTP fallback: the handshake and every pending change in one
/// request, the answers to the pushes and the catch-up in its response. A response holds
/// a bounded part of a long catch-up (no `CaughtUp` at its end): the device's cursors,
/// written with each batch, say where the next request goes on from.
pub(crate) async fn exchange(parts: Parts<'_>) -> Result<SyncReport, TarmimError> {
    let mut tally = Tally::new(SyncTransport::Http);
    let deadline = tokio::time::Instant::now() + ONCE_TIMEOUT;
    while !tally.caught_up && tokio::time::Instant::now() < deadline {
        let frames = parts.device.lock().connect()?;
        tally.pushed(frames.len().saturating_sub(1));
        let auth = parts.auth;
        let answer = auth
            .authed(|token| {
                let frames = frames.clone();
                async move { auth.api().exchange(&token, &frames).await }
            })
            .await;
        let result = match answer {
            Ok(reply) => (|| {
                let n = reply.len();
                for f in reply {
                    let out = parts.device.lock().on_frame(&f)?;
                    tally.apply(parts, out);
                }
                Ok::<_, TarmimError>(n)
            })(),
            Err(e) => Err(refusal(parts, e)),
        };
        parts.device.lock().disconnect();
        // A Welcome alone, without CaughtUp: nothing to come back for.
        if result? < 2 {
            break;
        }
    }
    tally.report(parts.device)
}

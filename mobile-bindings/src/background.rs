//! The background sync loop the app starts and stops: keeps a WebSocket open (so changes
//! arrive within a second and local edits leave at once), reconnects with back-off, and
//! polls the HTTP fallback where WebSockets do not pass. `sync_now` while it runs asks the
//! loop rather than opening a second session.

use crate::client::{Inner, now_ms};
use crate::error::TarmimError;
use crate::model::{SyncReport, SyncState};
use crate::session::{self, Live, PING_EVERY};
use crate::transport::TransportError;
use crate::transport::backoff::Backoff;
use crate::uploads;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// How often the loop syncs over the HTTP fallback when WebSockets do not pass.
const POLL_EVERY: Duration = Duration::from_secs(15);

type Reply = oneshot::Sender<Result<SyncReport, TarmimError>>;

/// What the app asks of a running loop.
pub(crate) enum Command {
    /// Sync now and answer with the report once everything sent is answered.
    Flush(Reply),
    /// Stop.
    Stop,
}

/// A running loop.
pub(crate) struct Handle {
    pub(crate) tx: mpsc::UnboundedSender<Command>,
    pub(crate) task: JoinHandle<()>,
    /// The photo uploader beside it (aborting it is safe: progress is in the outbox).
    pub(crate) uploader: JoinHandle<()>,
}

/// Starts the loop and its photo uploader on the client's runtime.
pub(crate) fn spawn(rt: &tokio::runtime::Runtime, inner: Arc<Inner>) -> Handle {
    let (tx, rx) = mpsc::unbounded_channel();
    let uploader = rt.spawn(upload_loop(inner.clone()));
    let task = rt.spawn(run(inner, rx));
    Handle { tx, task, uploader }
}

/// Uploads due photos whenever one is added, a sync ends, or the outbox's next retry is
/// due (at least once a minute).
async fn upload_loop(inner: Arc<Inner>) {
    loop {
        // A failure is recorded in the outbox with its back-off; nothing to do here.
        let _ = uploads::run_due(&inner).await;
        let next = inner.device().next_upload_at().ok().flatten();
        let wait_ms = next.map_or(60_000, |at| (at - now_ms()).clamp(1_000, 60_000));
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait_ms as u64)) => {}
            _ = inner.upload_kick.notified() => {}
        }
    }
}

/// How a live connection ended.
enum End {
    Stop,
    Failed(TarmimError),
}

async fn run(inner: Arc<Inner>, mut rx: mpsc::UnboundedReceiver<Command>) {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    let mut waiting: Vec<Reply> = Vec::new();
    loop {
        inner.listeners.state(SyncState::Connecting);
        let connected = if inner.http_only {
            Err(TransportError::NoWebSocket("HTTP only".into()))
        } else {
            session::connect(&inner).await
        };
        let failure: TarmimError = match connected {
            Ok(sock) => match live(&inner, sock, &mut rx, &mut waiting, &mut backoff).await {
                End::Stop => break,
                End::Failed(e) => e,
            },
            Err(TransportError::NoWebSocket(_)) => match session::exchange(&inner).await {
                Ok(report) => {
                    backoff.reset();
                    inner.upload_kick.notify_one();
                    answer(&mut waiting, || Ok(report.clone()));
                    inner.listeners.state(SyncState::Live);
                    match wait(&inner, &mut rx, &mut waiting, POLL_EVERY, true).await {
                        Wake::Stop => break,
                        Wake::Go => continue,
                    }
                }
                Err(e) => e,
            },
            Err(e) => e.into(),
        };
        answer(&mut waiting, || Err(failure.clone()));
        match failure {
            TarmimError::LoginRequired { reason } => {
                // Retrying with the same password cannot help.
                inner.listeners.state(SyncState::LoginRequired { reason });
                return;
            }
            other => {
                let retry_after = match &other {
                    TarmimError::Offline {
                        retry_after_secs, ..
                    } => retry_after_secs.map(Duration::from_secs),
                    _ => None,
                };
                let delay = backoff.at_least(retry_after);
                inner.listeners.state(SyncState::Offline {
                    reason: other.to_string(),
                    retry_in_ms: delay.as_millis() as u64,
                });
                match wait(&inner, &mut rx, &mut waiting, delay, false).await {
                    Wake::Stop => break,
                    Wake::Go => continue,
                }
            }
        }
    }
    answer(&mut waiting, || {
        Err(TarmimError::Offline {
            reason: "the background sync was stopped".into(),
            retry_after_secs: None,
        })
    });
    inner.listeners.state(SyncState::Stopped);
}

enum Wake {
    Stop,
    Go,
}

/// Waits `delay`, or less when the app asks for a sync (or, when `on_edit`, when it
/// edits something).
async fn wait(
    inner: &Inner,
    rx: &mut mpsc::UnboundedReceiver<Command>,
    waiting: &mut Vec<Reply>,
    delay: Duration,
    on_edit: bool,
) -> Wake {
    tokio::select! {
        _ = tokio::time::sleep(delay) => Wake::Go,
        cmd = rx.recv() => match cmd {
            None | Some(Command::Stop) => Wake::Stop,
            Some(Command::Flush(reply)) => {
                waiting.push(reply);
                Wake::Go
            }
        },
        _ = inner.kick.notified(), if on_edit => Wake::Go,
    }
}

async fn live(
    inner: &Inner,
    sock: crate::transport::ws::SyncSocket,
    rx: &mut mpsc::UnboundedReceiver<Command>,
    waiting: &mut Vec<Reply>,
    backoff: &mut Backoff,
) -> End {
    let mut live = match Live::start(inner, sock).await {
        Ok(l) => l,
        Err(e) => return End::Failed(e),
    };
    let mut was_quiet = false;
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        let quiet = live.tally.quiet();
        if quiet {
            if !was_quiet {
                backoff.reset();
                inner.listeners.state(SyncState::Live);
                inner.upload_kick.notify_one();
            }
            answer(waiting, || live.tally.report(inner));
        }
        was_quiet = quiet;
        let step = tokio::select! {
            r = live.step() => r,
            _ = inner.kick.notified() => live.push_local().await,
            _ = ping.tick() => live.ping().await,
            cmd = rx.recv() => match cmd {
                None | Some(Command::Stop) => {
                    live.close().await;
                    return End::Stop;
                }
                Some(Command::Flush(reply)) => {
                    if waiting.is_empty() {
                        live.tally.restart();
                    }
                    waiting.push(reply);
                    live.push_local().await
                }
            },
        };
        if let Err(e) = step {
            return End::Failed(e);
        }
    }
}

fn answer(waiting: &mut Vec<Reply>, result: impl Fn() -> Result<SyncReport, TarmimError>) {
    for reply in waiting.drain(..) {
        // The app may have given up waiting; that is fine.
        let _ = reply.send(result());
    }
}

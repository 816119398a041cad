//! The background worker: it owns the sync sessions and the photo uploads, and runs them
//! on the client's small tokio runtime. The client holds a [`Handle`] and asks it to sync
//! now, to start or stop the live loop, and to push an edit; the pieces the client shares
//! with the worker (the device, the login, the listener) are handed to [`Handle::new`].
//!
//! The live loop keeps a WebSocket open (so changes arrive within a second and local edits
//! leave at once), reconnects with back-off, and polls the HTTP fallback where WebSockets
//! do not pass. `sync_now` while it runs asks the loop rather than opening a second
//! session.

use crate::auth::Auth;
use crate::device::{SharedDevice, now_ms};
use crate::error::TarmimError;
use crate::listener::Listeners;
use crate::model::{SyncReport, SyncState};
use crate::session::{self, Live, PING_EVERY};
use crate::transport::TransportError;
use crate::transport::backoff::Backoff;
use crate::transport::upload::TusUpload;
use crate::uploads::Uploads;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

/// How often the loop syncs over the HTTP fallback when WebSockets do not pass.
const POLL_EVERY: Duration = Duration::from_secs(15);
/// How long `stop` lets the loop finish its current step before abandoning it.
const STOP_GRACE: Duration = Duration::from_secs(2);

type Reply = oneshot::Sender<Result<SyncReport, TarmimError>>;

/// What the app asks of a running loop.
enum Command {
    /// Sync now and answer with the report once everything sent is answered.
    Flush(Reply),
    /// Stop.
    Stop,
}

/// What the worker's tasks share.
struct Worker {
    device: Arc<SharedDevice>,
    auth: Arc<Auth>,
    listeners: Arc<Listeners>,
    http_only: bool,
    uploads: Uploads,
    /// Woken by every local edit, so a live connection pushes it at once.
    kick: Notify,
    /// Woken when photos may be ready to upload (a photo added, a sync done).
    upload_kick: Notify,
}

impl Worker {
    fn parts(&self) -> session::Parts<'_> {
        session::Parts {
            device: &self.device,
            auth: &self.auth,
            listeners: &self.listeners,
        }
    }

    /// Uploads the photos that are due.
    async fn upload_due(&self) -> Result<(), TarmimError> {
        self.uploads.run_due(&self.device, &self.auth).await
    }

    /// One session to quiescence, then the photos that are due.
    async fn once(&self) -> Result<SyncReport, TarmimError> {
        let mut report = session::once(self.parts(), self.http_only, &self.kick).await?;
        self.upload_due().await?;
        report.pending_uploads = self.device.pending_uploads()?;
        Ok(report)
    }
}

/// A running live loop.
struct Running {
    tx: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
    /// The photo uploader beside it (aborting it is safe: progress is in the outbox).
    uploader: JoinHandle<()>,
}

impl Running {
    fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    /// Asks the loop to stop, and the uploader at once (neither is waited for).
    fn signal_stop(&self) {
        let _ = self.tx.send(Command::Stop);
        self.uploader.abort();
    }
}

/// The client's handle on the worker: its runtime, and the live loop when one runs.
pub(crate) struct Handle {
    worker: Arc<Worker>,
    rt: Option<Runtime>,
    running: Mutex<Option<Running>>,
}

impl Handle {
    /// A worker on `rt` over the pieces it shares with the client; nothing runs until
    /// asked.
    pub(crate) fn new(
        rt: Runtime,
        device: Arc<SharedDevice>,
        auth: Arc<Auth>,
        listeners: Arc<Listeners>,
        tus: TusUpload,
        http_only: bool,
    ) -> Handle {
        let worker = Worker {
            device,
            auth,
            listeners,
            http_only,
            uploads: Uploads::new(tus),
            kick: Notify::new(),
            upload_kick: Notify::new(),
        };
        Handle {
            worker: Arc::new(worker),
            rt: Some(rt),
            running: Mutex::new(None),
        }
    }

    fn rt(&self) -> Result<&Runtime, TarmimError> {
        self.rt
            .as_ref()
            .ok_or_else(|| TarmimError::storage("the client is closed"))
    }

    fn running(&self) -> std::sync::MutexGuard<'_, Option<Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs network work on the worker's runtime, blocking the caller. Refused on the
    /// runtime's own threads (a listener callback), which it would wait for.
    pub(crate) fn block_on<T>(&self, fut: impl Future<Output = T>) -> Result<T, TarmimError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(TarmimError::invalid(
                "network calls cannot be made from a listener callback; post them to a worker thread",
            ));
        }
        Ok(self.rt()?.block_on(fut))
    }

    /// A local edit was made: a live connection pushes it, and its photo is uploaded.
    pub(crate) fn edited(&self) {
        self.worker.kick.notify_one();
        self.worker.upload_kick.notify_one();
    }

    /// Syncs now: asks the live loop when one runs, else runs one session here.
    pub(crate) fn sync_now(&self) -> Result<SyncReport, TarmimError> {
        let live = self
            .running()
            .as_ref()
            .filter(|r| r.is_running())
            .map(|r| r.tx.clone());
        match live {
            Some(tx) => {
                let (reply, answer) = oneshot::channel();
                tx.send(Command::Flush(reply))
                    .map_err(|_| TarmimError::storage("the background sync has ended"))?;
                self.block_on(answer)?
                    .map_err(|_| TarmimError::storage("the background sync has ended"))?
            }
            None => self.block_on(self.worker.once())?,
        }
    }

    /// Starts the live loop and its photo uploader, unless they already run.
    pub(crate) fn start(&self) -> Result<(), TarmimError> {
        let mut slot = self.running();
        if slot.as_ref().is_some_and(Running::is_running) {
            return Ok(());
        }
        let rt = self.rt()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let uploader = rt.spawn(upload_loop(self.worker.clone()));
        let task = rt.spawn(run(self.worker.clone(), rx));
        *slot = Some(Running { tx, task, uploader });
        Ok(())
    }

    /// Stops the live loop (closing its connection) and waits for it to end (at most a
    /// couple of seconds).
    pub(crate) fn stop(&self) -> Result<(), TarmimError> {
        let running = self.running().take();
        if let Some(mut r) = running {
            r.signal_stop();
            // The loop reads the request between steps; a connection attempt to a server
            // that does not answer may take longer, and is abandoned (every store write is
            // atomic and made between awaits, so aborting leaves nothing half-done).
            self.block_on(async {
                if tokio::time::timeout(STOP_GRACE, &mut r.task).await.is_err() {
                    r.task.abort();
                    let _ = r.task.await;
                }
            })?;
        }
        Ok(())
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Some(r) = self.running().take() {
            r.signal_stop();
        }
        // Never blocks, so dropping is safe on any thread, the runtime's own included.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Uploads due photos whenever one is added, a sync ends, or the outbox's next retry is
/// due (at least once a minute).
async fn upload_loop(worker: Arc<Worker>) {
    loop {
        // A failure is recorded in the outbox with its back-off; nothing to do here.
        let _ = worker.upload_due().await;
        let next = worker.device.lock().next_upload_at().ok().flatten();
        let wait_ms = next.map_or(60_000, |at| (at - now_ms()).clamp(1_000, 60_000));
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait_ms as u64)) => {}
            _ = worker.upload_kick.notified() => {}
        }
    }
}

/// How a live connection ended.
enum End {
    Stop,
    Failed(TarmimError),
}

async fn run(worker: Arc<Worker>, mut rx: mpsc::UnboundedReceiver<Command>) {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    let mut waiting: Vec<Reply> = Vec::new();
    loop {
        worker.listeners.state(SyncState::Connecting);
        let connected = if worker.http_only {
            Err(TransportError::NoWebSocket("HTTP only".into()))
        } else {
            session::connect(&worker.auth).await
        };
        let failure: TarmimError = match connected {
            Ok(sock) => match live(&worker, sock, &mut rx, &mut waiting, &mut backoff).await {
                End::Stop => break,
                End::Failed(e) => e,
            },
            Err(TransportError::NoWebSocket(_)) => match session::exchange(worker.parts()).await {
                Ok(report) => {
                    backoff.reset();
                    worker.upload_kick.notify_one();
                    answer(&mut waiting, || Ok(report.clone()));
                    worker.listeners.state(SyncState::Live);
                    match wait(&worker, &mut rx, &mut waiting, POLL_EVERY, true).await {
                        Wake::Stop => break,
                        Wake::Go => continue,
                    }
                }
                Err(e) => e,
            },
            Err(e) => session::refusal(worker.parts(), e),
        };
        answer(&mut waiting, || Err(failure.clone()));
        match failure {
            TarmimError::LoginRequired { reason } => {
                // Retrying with the same password cannot help.
                worker.listeners.state(SyncState::LoginRequired { reason });
                return;
            }
            TarmimError::AccountDisabled { reason } => {
                // The device has dropped the user's tasks; no login will succeed.
                worker
                    .listeners
                    .state(SyncState::AccountDisabled { reason });
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
                worker.listeners.state(SyncState::Offline {
                    reason: other.to_string(),
                    retry_in_ms: delay.as_millis() as u64,
                });
                match wait(&worker, &mut rx, &mut waiting, delay, false).await {
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
    worker.listeners.state(SyncState::Stopped);
}

enum Wake {
    Stop,
    Go,
}

/// Waits `delay`, or less when the app asks for a sync (or, when `on_edit`, when it
/// edits something).
async fn wait(
    worker: &Worker,
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
        _ = worker.kick.notified(), if on_edit => Wake::Go,
    }
}

async fn live(
    worker: &Worker,
    sock: crate::transport::ws::SyncSocket,
    rx: &mut mpsc::UnboundedReceiver<Command>,
    waiting: &mut Vec<Reply>,
    backoff: &mut Backoff,
) -> End {
    let mut live = match Live::start(worker.parts(), sock).await {
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
                worker.listeners.state(SyncState::Live);
                worker.upload_kick.notify_one();
            }
            answer(waiting, || live.tally.report(&worker.device));
        }
        was_quiet = quiet;
        let step = tokio::select! {
            r = live.step() => r,
            _ = worker.kick.notified() => live.push_local().await,
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

//! The phone's half of sync, over the phone's durable [`Store`].
//!
//! [`Device`] is what an app (through the mobile bindings) talks to: it reads tasks from
//! the store's index, edits them through the typed task API (each edit is written together
//! with its pending changes in one durable write), and runs a connection:
//! [`Device::connect`] gives the opening frames, [`Device::on_frame`] applies what the
//! server sends, [`Device::outgoing`] pushes edits made while connected.
//!
//! What the device keeps, and why nothing acknowledged is lost:
//! - a local edit is durable before the call returns, and stays pending until the server
//!   acknowledges it (the server acknowledges only after its commit is durable);
//! - a batch from the server and the cursor it advances are written in one transaction, so
//!   a crash re-fetches the batch instead of skipping it (such writes, and acknowledgements,
//!   need not wait for the disk: what a crash loses of them is fetched or acknowledged
//!   again; only a local edit and the batch that completes a catch-up wait);
//! - a document the server drops from the device's scope is kept until its pending changes
//!   are acknowledged (a completion made offline still reaches the server), and takes no
//!   new edit meanwhile ([`DeviceError::Dropped`]);
//! - a scope's cursor (what a `Hello` confirms holding) does not move past a batch while
//!   any local edit is unacknowledged: the server judges a push against what the device
//!   confirmed, and work made before a batch whose push was lost must not look like a
//!   fork that hides it.
//!
//! When the device's scopes shrink (its crew moved to another district, its user's
//! districts or crew changed), the server closes the live session and the next
//! [`Welcome`] lists the scopes now granted: that list is authoritative. Once the catch-up
//! of the granted scopes is over ([`ServerFrame::CaughtUp`]: every document still in one
//! of them is then as new as the server's), the device forgets the cursors of the scopes
//! it lost and drops every document that the scope rule ([`TaskScopes`]) places in none of
//! the granted scopes, with their photos; a document with pending changes is only marked,
//! and dropped once they are acknowledged. The app hears [`DeviceEvent::Dropped`]. A photo
//! whose upload is still due stays until the upload ends (the server needs its bytes).
//!
//! When the device's user is disabled, the server tells a connected device so
//! ([`ServerFrame::Scopes`]: no scope, `account_disabled`) before closing, and refuses
//! every later login or token with a typed refusal, on which the transport calls
//! [`Device::account_disabled`]. Either way the device drops at once every document and
//! photo it holds, forgets every cursor, and the app hears [`DeviceEvent::Dropped`] and
//! [`DeviceEvent::AccountDisabled`]. What is not yet on the server stays: a document with
//! pending changes (marked, so that it is dropped once they are acknowledged) and a photo
//! whose upload is due. They cannot reach the server while the user is disabled; if an
//! administrator enables the user again, the next sync on this device pushes them (and
//! the catch-up, which starts afresh, brings back what the user may see).

use super::scope::{ScopePolicy, TaskScopes};
use super::untrusted;
use crate::ids::{Actor, DocId, Millis, ScopeId};
use crate::outbox::{
    Backoff, OutboxEntry, OutboxError, UploadFailure, UploadState, check_photo_bytes, content_hash,
};
use crate::protocol::*;
use crate::store::{IndexEntry, PendingChange, Store, StoreError, WriteBatch};
use crate::task::{
    FieldReport, GeoPoint, NewTask, PhotoKind, PhotoRef, RefusalCode, Status, TaskDoc, TaskError,
    TaskView,
};
use automerge::{ActorId, Change};
use std::collections::HashSet;

/// What went wrong on the device.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A task operation was refused or a document is unreadable.
    #[error(transparent)]
    Task(#[from] TaskError),
    /// The server sent bytes that are not a frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The server broke the protocol (or frames were lost): reconnect.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server ended the session with an error.
    #[error("server error {code:?}: {message}")]
    Server {
        /// Code.
        code: ErrorCode,
        /// Words.
        message: String,
    },
    /// No such task on this device.
    #[error("no task {0} on this device")]
    UnknownTask(DocId),
    /// The task left this device's scopes (given to another crew, say) while it held
    /// unsent edits: it stays only until those reach the server, and takes no new ones,
    /// which the server would refuse as a stale view once this device has seen the drop.
    #[error("task {0} is no longer this device's; it is kept only until its unsent edits are sent")]
    Dropped(DocId),
    /// A sync call without a connection.
    #[error("not connected")]
    NotConnected,
    /// A photo cannot enter the outbox, or an outbox call names an unknown blob.
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

/// A photo the app adds to a task ([`Device::add_photo`]); the bytes are passed beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPhoto {
    /// Before, after or evidence.
    pub kind: PhotoKind,
    /// Content type, e.g. `image/jpeg` (must be `image/…`; the server checks the bytes).
    pub mime: String,
    /// When it was taken (the camera's clock), if known.
    pub taken_at: Option<Millis>,
    /// Where it was taken (the phone's fix), if known.
    pub taken_point: Option<GeoPoint>,
}

/// Something the app's screens may want to react to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceEvent {
    /// A task arrived or changed from the server.
    Changed(DocId),
    /// A task left this device.
    Dropped(DocId),
    /// The server refused local changes; the task was reset to the server's copy (or
    /// forgotten, if it is not this device's to see).
    Refused {
        /// The task.
        doc: DocId,
        /// Why.
        code: RefusalCode,
        /// In words.
        message: String,
    },
    /// Local changes are now durable on the server.
    Acknowledged(DocId),
    /// The device is up to date; live updates follow.
    CaughtUp,
    /// The device's user was disabled: every document without pending changes was
    /// dropped (each told as [`DeviceEvent::Dropped`] before this), and no login will
    /// succeed. The connection is closed.
    AccountDisabled,
}

/// What a call to [`Device::on_frame`] produced.
#[derive(Debug, Default)]
pub struct DeviceOutput {
    /// Frames to send, in order.
    pub frames: Vec<Vec<u8>>,
    /// Events for the app.
    pub events: Vec<DeviceEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitWelcome,
    CatchingUp,
    Live,
}

#[derive(Debug)]
struct Conn {
    counter: FrameCounter,
    version: u16,
    phase: Phase,
    inflight: HashSet<[u8; 32]>,
    /// The scopes the server's [`Welcome`] granted.
    granted: Vec<ScopeId>,
    /// Scopes this device held cursors for that the [`Welcome`] no longer granted: shed at
    /// [`ServerFrame::CaughtUp`].
    lost: Vec<String>,
}

const DROP_KEY: &str = "drop:";
const SCANNED_KEY: &str = "scanned:";
const ACTOR_KEY: &str = "automerge-actor";

/// The phone's replica: the store plus the state of one connection.
#[derive(Debug)]
pub struct Device {
    store: Store,
    actor: Actor,
    conn: Option<Conn>,
    am_actor: Option<ActorId>,
    backoff: Backoff,
}

impl Device {
    /// Opens the device over its store, acting as `actor`.
    pub fn new(store: Store, actor: Actor) -> Device {
        Device {
            store,
            actor,
            conn: None,
            am_actor: None,
            backoff: Backoff::default(),
        }
    }

    /// Sets the back-off between failed uploads (default: 5 s doubling to 1 h).
    pub fn set_upload_backoff(&mut self, backoff: Backoff) {
        self.backoff = backoff;
    }

    /// The automerge actor this device's edits are made as: random once per store, kept in
    /// it. One actor per installation keeps documents small (a fresh actor per edit would
    /// add one to every document each time) and cannot collide with an earlier
    /// installation of the same device, whose store is gone.
    fn edit_actor(&mut self) -> Result<ActorId, DeviceError> {
        if let Some(a) = &self.am_actor {
            return Ok(a.clone());
        }
        let actor = match self.store.meta(ACTOR_KEY)? {
            Some(bytes) if !bytes.is_empty() => ActorId::from(bytes),
            _ => {
                let a = ActorId::random();
                let mut batch = WriteBatch::default();
                batch.meta.push((ACTOR_KEY.into(), a.to_bytes().to_vec()));
                self.store.write(batch)?;
                a
            }
        };
        self.am_actor = Some(actor.clone());
        Ok(actor)
    }

    /// Who edits on this device.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The local store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Gives back the store (the device's connection state is dropped).
    pub fn into_store(self) -> Store {
        self.store
    }

    /// The task list, from the index (no document is loaded).
    pub fn list(&self) -> Result<Vec<IndexEntry>, DeviceError> {
        Ok(self.store.list()?)
    }

    /// One task, read in full.
    pub fn task(&self, id: &DocId) -> Result<TaskView, DeviceError> {
        Ok(self.load(id)?.view()?)
    }

    /// Whether `id` left this device's scopes and is kept only until its unsent edits
    /// are acknowledged (then it is dropped and the app hears [`DeviceEvent::Dropped`]).
    pub fn is_dropped(&self, id: &DocId) -> Result<bool, DeviceError> {
        Ok(self
            .store
            .meta(&format!("{DROP_KEY}{id}"))?
            .is_some_and(|v| !v.is_empty()))
    }

    /// The document of a task the app may still edit.
    fn load_for_edit(&self, id: &DocId) -> Result<TaskDoc, DeviceError> {
        let doc = self.load(id)?;
        if self.is_dropped(id)? {
            return Err(DeviceError::Dropped(id.clone()));
        }
        Ok(doc)
    }

    fn load(&self, id: &DocId) -> Result<TaskDoc, DeviceError> {
        match self.store.get(id)? {
            Some(bytes) => Ok(TaskDoc::load(&bytes)?),
            None => Err(DeviceError::UnknownTask(id.clone())),
        }
    }

    /// Creates a task on this device (e.g. urgent work a crew found itself).
    pub fn create(&mut self, new: NewTask, at: Millis) -> Result<DocId, DeviceError> {
        let id = new.id.clone();
        if self.store.get(&id)?.is_some() {
            return Err(TaskError::Invalid(format!("task {id} already exists")).into());
        }
        let mut doc = TaskDoc::create(new, &self.actor, at)?;
        let changes = doc.automerge().get_changes(&[]);
        self.persist_local(&id, &mut doc, changes, at)?;
        Ok(id)
    }

    /// Files work the crew found in the field as a new task (source crew) under a fresh
    /// id ([`DocId::field_report`]). Returns the id.
    pub fn report_field_work(
        &mut self,
        report: FieldReport,
        at: Millis,
    ) -> Result<DocId, DeviceError> {
        self.create(report.into_new_task(DocId::field_report()), at)
    }

    /// Completes a job: see [`TaskDoc::complete`] (an empty `after_photos` names all of
    /// the task's after photos; none at all is refused with [`TaskError::NoAfterPhoto`]
    /// and nothing is written). Returns the event's id.
    pub fn complete(
        &mut self,
        task: &DocId,
        after_photos: Vec<String>,
        at: Millis,
    ) -> Result<String, DeviceError> {
        self.edit(task, at, |doc, actor| doc.complete(actor, at, after_photos))
    }

    /// Edits a task: `f` runs on the document; whatever it changed is written, with the
    /// changes marked pending, in one durable write before this returns. If `f` fails,
    /// nothing is written.
    pub fn edit<T>(
        &mut self,
        id: &DocId,
        at: Millis,
        f: impl FnOnce(&mut TaskDoc, &Actor) -> Result<T, TaskError>,
    ) -> Result<T, DeviceError> {
        let mut doc = self.load_for_edit(id)?;
        let am_actor = self.edit_actor()?;
        doc.automerge().set_actor(am_actor);
        let before = doc.heads();
        let out = f(&mut doc, &self.actor)?;
        let changes = doc.automerge().get_changes(&before);
        if !changes.is_empty() {
            self.persist_local(id, &mut doc, changes, at)?;
        }
        Ok(out)
    }

    fn persist_local(
        &mut self,
        id: &DocId,
        doc: &mut TaskDoc,
        changes: Vec<Change>,
        at: Millis,
    ) -> Result<(), DeviceError> {
        self.persist_local_with(id, doc, changes, at, WriteBatch::default())
    }

    /// Writes a local edit together with whatever `batch` already holds (a photo's blob
    /// and outbox entry), in one durable transaction.
    fn persist_local_with(
        &mut self,
        id: &DocId,
        doc: &mut TaskDoc,
        changes: Vec<Change>,
        at: Millis,
        mut batch: WriteBatch,
    ) -> Result<(), DeviceError> {
        let view = doc.view()?;
        batch
            .put_docs
            .push((id.clone(), doc.save(), index_entry(&view, at)));
        for mut c in changes {
            batch.add_pending.push((
                id.clone(),
                PendingChange {
                    hash: c.hash().0,
                    bytes: c.bytes().into_owned(),
                },
            ));
        }
        self.store.write(batch)?;
        Ok(())
    }

    /// Adds a photo to a task: stores its bytes in the outbox, computes its SHA-256 and adds
    /// the reference (hash, kind, time and point taken, author, size, type) to the task
    /// document, all in **one durable transaction**, before returning the hash.
    ///
    /// Idempotent by content: the same bytes added again (to this or another task) are one
    /// blob, stored and uploaded once; the task names it once. Fails with
    /// [`DeviceError::Outbox`] for an empty or oversized photo and [`DeviceError::Task`] for
    /// a type that is not `image/…`, leaving nothing written.
    pub fn add_photo(
        &mut self,
        task: &DocId,
        photo: NewPhoto,
        bytes: &[u8],
        at: Millis,
    ) -> Result<String, DeviceError> {
        check_photo_bytes(bytes)?;
        let hash = content_hash(bytes);
        let size = bytes.len() as u64;
        let mut doc = self.load_for_edit(task)?;
        let am_actor = self.edit_actor()?;
        doc.automerge().set_actor(am_actor);
        let before = doc.heads();
        doc.add_photo(
            &self.actor,
            PhotoRef {
                hash: hash.clone(),
                kind: photo.kind,
                taken_at: photo.taken_at,
                taken_point: photo.taken_point,
                author: self.actor.user.clone(),
                device: self.actor.device.as_str().to_owned(),
                bytes: size,
                mime: photo.mime.clone(),
                added_at: at,
            },
        )?;
        let changes = doc.automerge().get_changes(&before);
        let mut batch = WriteBatch::default();
        let entry = match self.store.outbox_entry(&hash)? {
            Some(mut e) => {
                if !e.tasks.contains(task) {
                    e.tasks.push(task.clone());
                }
                e
            }
            None => OutboxEntry {
                hash: hash.clone(),
                size,
                mime: photo.mime,
                tasks: vec![task.clone()],
                added_at: at,
                confirmed: 0,
                attempts: 0,
                next_attempt_at: at,
                state: UploadState::Pending,
                last_error: None,
            },
        };
        if !self.store.has_blob(&hash)? {
            batch.put_blobs.push((hash.clone(), bytes.to_vec()));
        }
        batch.put_outbox.push(entry);
        if changes.is_empty() {
            self.store.write(batch)?;
        } else {
            self.persist_local_with(task, &mut doc, changes, at, batch)?;
        }
        Ok(hash)
    }

    /// Every blob in the outbox (pending, uploaded or refused), by hash.
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>, DeviceError> {
        Ok(self.store.outbox()?)
    }

    /// The blobs a transport should upload at `now`, oldest first.
    pub fn due_uploads(&self, now: Millis) -> Result<Vec<OutboxEntry>, DeviceError> {
        let mut due: Vec<OutboxEntry> = self
            .store
            .outbox()?
            .into_iter()
            .filter(|e| e.is_due(now))
            .collect();
        due.sort_by(|a, b| (a.added_at, &a.hash).cmp(&(b.added_at, &b.hash)));
        Ok(due)
    }

    /// When the next pending upload is due (to schedule a wake-up); `None` if none waits.
    pub fn next_upload_at(&self) -> Result<Option<Millis>, DeviceError> {
        Ok(self
            .store
            .outbox()?
            .iter()
            .filter(|e| e.state == UploadState::Pending)
            .map(|e| e.next_attempt_at)
            .min())
    }

    /// Up to `len` bytes of blob `hash` from `offset`: what a transport sends next. Empty at
    /// the blob's end; [`OutboxError::BadRange`] past it, [`OutboxError::UnknownBlob`] if
    /// the bytes are not (or no longer) on the phone.
    pub fn blob_range(&self, hash: &str, offset: u64, len: usize) -> Result<Vec<u8>, DeviceError> {
        let entry = self.outbox_entry(hash)?;
        if offset > entry.size {
            return Err(OutboxError::BadRange {
                offset,
                len: len as u64,
                size: entry.size,
            }
            .into());
        }
        self.store
            .blob_range(hash, offset, len)?
            .ok_or_else(|| OutboxError::UnknownBlob(hash.to_owned()).into())
    }

    /// A photo's whole bytes (to show it on the phone), if still stored.
    pub fn photo_bytes(&self, hash: &str) -> Result<Option<Vec<u8>>, DeviceError> {
        Ok(self.store.blob_range(hash, 0, usize::MAX)?)
    }

    fn outbox_entry(&self, hash: &str) -> Result<OutboxEntry, DeviceError> {
        self.store
            .outbox_entry(hash)?
            .ok_or_else(|| OutboxError::UnknownBlob(hash.to_owned()).into())
    }

    fn update_entry(
        &mut self,
        hash: &str,
        lazy: bool,
        f: impl FnOnce(&mut OutboxEntry),
    ) -> Result<OutboxEntry, DeviceError> {
        let mut entry = self.outbox_entry(hash)?;
        f(&mut entry);
        let mut batch = WriteBatch {
            lazy,
            ..WriteBatch::default()
        };
        if entry.state != UploadState::Pending && !self.referenced(&entry, &HashSet::new())? {
            // Every task naming it left the device while its upload was due: now that the
            // upload is over, the photo goes too.
            batch.delete_blobs.push(entry.hash.clone());
            batch.delete_outbox.push(entry.hash.clone());
        } else {
            batch.put_outbox.push(entry.clone());
        }
        self.store.write(batch)?;
        Ok(entry)
    }

    /// Records the offset the server confirmed for blob `hash` (from a tus `HEAD`, `POST` or
    /// `PATCH` answer). Not waited to disk: a crash only loses an offset the next `HEAD`
    /// tells again.
    pub fn upload_progress(
        &mut self,
        hash: &str,
        confirmed: u64,
    ) -> Result<OutboxEntry, DeviceError> {
        self.update_entry(hash, true, |e| e.record_progress(confirmed))
    }

    /// Records that the server holds the whole blob `hash`: it is never uploaded again.
    pub fn upload_complete(&mut self, hash: &str) -> Result<OutboxEntry, DeviceError> {
        self.update_entry(hash, false, OutboxEntry::record_complete)
    }

    /// Records a failed attempt at `now`: a [`UploadFailure::Retry`] is tried again after
    /// the back-off, a [`UploadFailure::Refused`] not at all (see [`Device::requeue_upload`]).
    pub fn upload_failed(
        &mut self,
        hash: &str,
        now: Millis,
        failure: UploadFailure,
    ) -> Result<OutboxEntry, DeviceError> {
        let backoff = self.backoff;
        self.update_entry(hash, false, |e| e.record_failure(now, failure, &backoff))
    }

    /// Puts a refused (or backed-off) upload back in the queue, due at `now` (the user
    /// asked to retry).
    pub fn requeue_upload(&mut self, hash: &str, now: Millis) -> Result<OutboxEntry, DeviceError> {
        self.update_entry(hash, false, |e| {
            if e.state != UploadState::Uploaded {
                e.state = UploadState::Pending;
                e.attempts = 0;
                e.next_attempt_at = now;
            }
        })
    }

    /// Drops the bytes of uploaded photos added before `before` (to free the phone's
    /// storage; their derivatives are on the server). Their outbox entries stay, so the same
    /// bytes added again are still not uploaded twice. Returns how many were dropped.
    pub fn prune_uploaded(&mut self, before: Millis) -> Result<usize, DeviceError> {
        let mut batch = WriteBatch::default();
        for e in self.store.outbox()? {
            if e.state == UploadState::Uploaded
                && e.added_at < before
                && self.store.has_blob(&e.hash)?
            {
                batch.delete_blobs.push(e.hash);
            }
        }
        let n = batch.delete_blobs.len();
        if n > 0 {
            self.store.write(batch)?;
        }
        Ok(n)
    }

    /// How many local changes wait for the server's acknowledgement.
    pub fn pending_count(&self) -> Result<usize, DeviceError> {
        Ok(self.store.all_pending()?.iter().map(|(_, p)| p.len()).sum())
    }

    /// Whether a connection is open.
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Whether the device is caught up and receiving live updates.
    pub fn is_live(&self) -> bool {
        matches!(&self.conn, Some(c) if c.phase == Phase::Live)
    }

    /// Starts a connection: the handshake and every pending change, to send at once (one
    /// round trip brings a device up to date in both directions).
    pub fn connect(&mut self) -> Result<Vec<Vec<u8>>, DeviceError> {
        let mut cursors = Vec::new();
        for (scope, seq) in self.store.cursors()? {
            let scanned = self.scanned(&scope)?.unwrap_or(seq).max(seq);
            if let Ok(scope) = ScopeId::new(scope) {
                cursors.push(Cursor {
                    scope,
                    seq,
                    scanned,
                });
            }
        }
        let mut conn = Conn {
            counter: FrameCounter::default(),
            version: PROTOCOL_VERSION,
            phase: Phase::AwaitWelcome,
            inflight: HashSet::new(),
            granted: Vec::new(),
            lost: Vec::new(),
        };
        let hello = ClientFrame::Hello(Hello {
            oldest_version: OLDEST_SUPPORTED_VERSION,
            newest_version: PROTOCOL_VERSION,
            device: self.actor.device.clone(),
            cursors,
        });
        let mut frames = vec![encode_client(conn.version, conn.counter.next_out(), &hello)];
        self.conn = Some(conn);
        frames.extend(self.outgoing()?);
        Ok(frames)
    }

    /// Forgets the connection (the transport closed or broke).
    pub fn disconnect(&mut self) {
        self.conn = None;
    }

    /// Push frames for local changes not yet sent on this connection.
    pub fn outgoing(&mut self) -> Result<Vec<Vec<u8>>, DeviceError> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(DeviceError::NotConnected);
        };
        let mut frames = Vec::new();
        for (doc, pending) in self.store.all_pending()? {
            let fresh: Vec<PendingChange> = pending
                .into_iter()
                .filter(|p| !conn.inflight.contains(&p.hash))
                .collect();
            if fresh.is_empty() {
                continue;
            }
            conn.inflight.extend(fresh.iter().map(|p| p.hash));
            let push = ClientFrame::Push(Push {
                doc,
                changes: fresh.into_iter().map(|p| p.bytes).collect(),
            });
            frames.push(encode_client(conn.version, conn.counter.next_out(), &push));
        }
        Ok(frames)
    }

    /// Applies one frame from the server. An error means the connection is unusable: the
    /// caller disconnects and reconnects later; nothing durable is lost.
    pub fn on_frame(&mut self, bytes: &[u8]) -> Result<DeviceOutput, DeviceError> {
        let decoded = decode_server(bytes)?;
        let conn = self.conn.as_mut().ok_or(DeviceError::NotConnected)?;
        match conn.counter.arrive(decoded.number) {
            Arrival::InOrder => {}
            Arrival::Duplicate => return Ok(DeviceOutput::default()),
            Arrival::Gap { expected, got } => {
                return Err(DeviceError::Protocol(format!(
                    "frame {expected} is missing (got {got})"
                )));
            }
        }
        let phase = conn.phase;
        let mut out = DeviceOutput::default();
        match (phase, decoded.frame) {
            (_, ServerFrame::Error(e)) => {
                self.conn = None;
                return Err(DeviceError::Server {
                    code: e.code,
                    message: e.message,
                });
            }
            (Phase::AwaitWelcome, ServerFrame::Welcome(w)) => {
                if !supports(w.version) {
                    return Err(DeviceError::Protocol(format!(
                        "server chose unsupported version {}",
                        w.version
                    )));
                }
                conn.version = w.version;
                conn.phase = Phase::CatchingUp;
                // Nothing is dropped yet: the catch-up that follows may bring documents of
                // the lost scopes into a granted one.
                conn.lost = self
                    .store
                    .cursors()?
                    .into_keys()
                    .filter(|held| !w.scopes.iter().any(|s| s.as_str() == held))
                    .collect();
                conn.granted = w.scopes;
            }
            (Phase::AwaitWelcome, _) => {
                return Err(DeviceError::Protocol("expected Welcome".into()));
            }
            (_, ServerFrame::Welcome(_)) => {
                return Err(DeviceError::Protocol("Welcome sent twice".into()));
            }
            (_, ServerFrame::Batch(b)) => self.apply_batch(b, &mut out)?,
            (_, ServerFrame::CaughtUp) => {
                conn.phase = Phase::Live;
                let lost = std::mem::take(&mut conn.lost);
                let granted = conn.granted.clone();
                if !lost.is_empty() {
                    self.shed_lost_scopes(&granted, &lost, &mut out)?;
                }
                out.events.push(DeviceEvent::CaughtUp);
            }
            (_, ServerFrame::Scopes(change)) => self.apply_scopes(change, &mut out)?,
            (_, ServerFrame::Ack(a)) => self.apply_ack(a, &mut out)?,
            (_, ServerFrame::Refused(r)) => self.apply_refused(r, &mut out)?,
            (_, ServerFrame::Pong(_)) => {}
        }
        Ok(out)
    }

    /// The server refused this device's login or token because its user is disabled (a
    /// typed refusal on the WebSocket upgrade, the HTTP fallback or the login): drops
    /// every document and photo as [`ServerFrame::Scopes`] with `account_disabled` does,
    /// keeping what is not yet on the server (see the module's documentation), and
    /// forgets the connection. Idempotent.
    pub fn account_disabled(&mut self) -> Result<DeviceOutput, DeviceError> {
        let mut out = DeviceOutput::default();
        let change = ScopeChange {
            scopes: Vec::new(),
            account_disabled: true,
        };
        self.apply_scopes(change, &mut out)?;
        Ok(out)
    }

    /// The scopes the device now has, while connected: drops at once what none of them
    /// holds (a scope newly granted is fetched on the next connection, whose `Welcome`
    /// lists it).
    fn apply_scopes(
        &mut self,
        change: ScopeChange,
        out: &mut DeviceOutput,
    ) -> Result<(), DeviceError> {
        let lost: Vec<String> = self
            .store
            .cursors()?
            .into_keys()
            .filter(|held| !change.scopes.iter().any(|s| s.as_str() == held))
            .collect();
        self.shed_lost_scopes(&change.scopes, &lost, out)?;
        if change.account_disabled {
            self.conn = None;
            out.events.push(DeviceEvent::AccountDisabled);
        } else if let Some(conn) = self.conn.as_mut() {
            // Authoritative: what the `Welcome` had not granted is shed or granted now.
            conn.lost.clear();
            conn.granted = change.scopes;
        }
        Ok(())
    }

    fn apply_batch(&mut self, b: Batch, out: &mut DeviceOutput) -> Result<(), DeviceError> {
        let mut batch = WriteBatch::default();
        let mut gone: Vec<DocId> = Vec::new();
        for u in b.updates {
            match u {
                DocUpdate::Snapshot { doc, bytes, index } => {
                    let local = self.store.get(&doc)?;
                    if let (None, Some(mut entry)) = (&local, index) {
                        // New to this device and the server gave its row: store as is.
                        entry.id = doc.clone();
                        batch.put_docs.push((doc.clone(), bytes, entry));
                        out.events.push(DeviceEvent::Changed(doc));
                        continue;
                    }
                    let merged = match local {
                        // Local pending edits live in the local document: merge, never replace.
                        Some(local) => {
                            let mut d = TaskDoc::load(&local)?;
                            untrusted::load_incremental(d.automerge(), &bytes).map_err(|e| {
                                DeviceError::Protocol(format!(
                                    "server sent a corrupt task {doc}: {e}"
                                ))
                            })?;
                            (d.save(), d.view()?)
                        }
                        None => {
                            let d = TaskDoc::load(&bytes)?;
                            let view = d.view()?;
                            (bytes, view)
                        }
                    };
                    let entry = index_entry(&merged.1, last_event_at(&merged.1));
                    batch.put_docs.push((doc.clone(), merged.0, entry));
                    // Back in scope: a drop deferred for pending changes no longer applies.
                    self.cancel_drop(&doc, &mut batch)?;
                    out.events.push(DeviceEvent::Changed(doc));
                }
                DocUpdate::Changes { doc, changes } => {
                    let Some(local) = self.store.get(&doc)? else {
                        // The cursor says the device holds this task, the store disagrees:
                        // start the scope over rather than hold half a document.
                        self.restart_scope(&b.scope)?;
                        return Err(DeviceError::Protocol(format!(
                            "changes for task {doc} which this device does not hold; scope {} will be synced again",
                            b.scope
                        )));
                    };
                    let mut d = TaskDoc::load(&local)?;
                    let mut parsed = Vec::with_capacity(changes.len());
                    for c in changes {
                        parsed.push(untrusted::decode_change(c).map_err(|e| {
                            DeviceError::Protocol(format!("server sent a corrupt change: {e}"))
                        })?);
                    }
                    untrusted::apply_changes(d.automerge(), parsed).map_err(|e| {
                        DeviceError::Protocol(format!(
                            "server sent changes for {doc} that do not apply: {e}"
                        ))
                    })?;
                    if !d.automerge().get_missing_deps(&[]).is_empty() {
                        // The changes build on ones this copy lacks: never save a document
                        // with a hole in it; fetch the scope again instead.
                        self.restart_scope(&b.scope)?;
                        return Err(DeviceError::Protocol(format!(
                            "changes for task {doc} build on changes this device lacks; scope {} will be synced again",
                            b.scope
                        )));
                    }
                    let view = d.view()?;
                    let entry = index_entry(&view, last_event_at(&view));
                    batch.put_docs.push((doc.clone(), d.save(), entry));
                    self.cancel_drop(&doc, &mut batch)?;
                    out.events.push(DeviceEvent::Changed(doc));
                }
                DocUpdate::Drop { doc } => {
                    if self.store.pending(&doc)?.is_empty() {
                        gone.push(doc);
                    } else {
                        batch.meta.push((format!("{DROP_KEY}{doc}"), vec![1]));
                    }
                }
            }
        }
        self.forget(&gone, &mut batch, out)?;
        let scope = b.scope.to_string();
        // What the server sent can be fetched again: only the batch that completes a
        // scope's catch-up waits for the disk (and with it every lazy one before it).
        batch.lazy = !b.complete;
        if b.complete && !self.store.has_pending()? {
            batch.cursors.push((scope.clone(), b.scanned));
        } else {
            // Also while any local edit is unacknowledged: a `Hello` whose cursor passes
            // this batch confirms holding it, and the server then judges a push against
            // it; an edit made before it whose push was lost would be refused as a
            // stale view (a forged fork looks the same). `scanned` still moves, so
            // nothing is sent again but what changed after it.
            // Keep the scope's `seq` as it is, and make sure the scope is listed.
            let seq = self.store.cursors()?.get(&scope).copied().unwrap_or(0);
            batch.cursors.push((scope.clone(), seq));
        }
        batch.meta.push((
            format!("{SCANNED_KEY}{scope}"),
            b.scanned.to_le_bytes().to_vec(),
        ));
        self.store.write(batch)?;
        Ok(())
    }

    fn scanned(&self, scope: &str) -> Result<Option<u64>, DeviceError> {
        Ok(self
            .store
            .meta(&format!("{SCANNED_KEY}{scope}"))?
            .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .map(u64::from_le_bytes))
    }

    /// Forgets how far a scope was synced, so that the next connection fetches it afresh.
    fn restart_scope(&self, scope: &ScopeId) -> Result<(), DeviceError> {
        let mut reset = WriteBatch::default();
        reset.cursors.push((scope.to_string(), 0));
        reset
            .meta
            .push((format!("{SCANNED_KEY}{scope}"), 0u64.to_le_bytes().to_vec()));
        self.store.write(reset)?;
        Ok(())
    }

    fn cancel_drop(&self, doc: &DocId, batch: &mut WriteBatch) -> Result<(), DeviceError> {
        let key = format!("{DROP_KEY}{doc}");
        if self.store.meta(&key)?.is_some_and(|v| !v.is_empty()) {
            batch.meta.push((key, Vec::new()));
        }
        Ok(())
    }

    /// Sheds the scopes a [`Welcome`] no longer granted, once the granted ones are caught
    /// up: their cursors, and every document the scope rule places in none of `granted`
    /// (one with pending changes is marked and dropped when they are acknowledged).
    fn shed_lost_scopes(
        &mut self,
        granted: &[ScopeId],
        lost: &[String],
        out: &mut DeviceOutput,
    ) -> Result<(), DeviceError> {
        let mut batch = WriteBatch::default();
        for scope in lost {
            batch.delete_cursors.push(scope.clone());
            batch
                .meta
                .push((format!("{SCANNED_KEY}{scope}"), Vec::new()));
        }
        let mut gone = Vec::new();
        for row in self.store.list()? {
            // Most documents stay: their index row says so without reading them.
            if row_scopes(&row).iter().any(|s| granted.contains(s)) {
                continue;
            }
            let Some(bytes) = self.store.get(&row.id)? else {
                continue;
            };
            // A copy this device cannot read is kept: dropping it could lose pending work,
            // and the server never sends it again anyway.
            let Ok(view) = TaskDoc::load(&bytes).and_then(|d| d.view()) else {
                continue;
            };
            if TaskScopes
                .scopes_of(&view)
                .iter()
                .any(|s| granted.contains(s))
            {
                continue;
            }
            if self.store.pending(&row.id)?.is_empty() {
                gone.push(row.id);
            } else {
                batch.meta.push((format!("{DROP_KEY}{}", row.id), vec![1]));
            }
        }
        self.forget(&gone, &mut batch, out)?;
        // Durable: a crash before it would shed the scopes again on the next catch-up
        // (the lost cursors are still there), but the app has been told.
        self.store.write(batch)?;
        Ok(())
    }

    /// Adds to `batch` the removal of documents that left this device (none has pending
    /// changes), with their drop marks and photos, and tells the app.
    fn forget(
        &self,
        docs: &[DocId],
        batch: &mut WriteBatch,
        out: &mut DeviceOutput,
    ) -> Result<(), DeviceError> {
        if docs.is_empty() {
            return Ok(());
        }
        for doc in docs {
            batch.delete_docs.push(doc.clone());
            let key = format!("{DROP_KEY}{doc}");
            if self.store.meta(&key)?.is_some_and(|v| !v.is_empty()) {
                batch.meta.push((key, Vec::new()));
            }
            out.events.push(DeviceEvent::Dropped(doc.clone()));
        }
        self.forget_photos(docs, batch)
    }

    /// Adds to `batch` the removal of the photos (bytes and outbox entry) of documents
    /// leaving the device that no other document here refers to. A photo whose upload is
    /// still due stays: the server needs its bytes; [`Device::upload_complete`] (or a
    /// refused upload) forgets it then.
    fn forget_photos(&self, docs: &[DocId], batch: &mut WriteBatch) -> Result<(), DeviceError> {
        let going: HashSet<&DocId> = docs.iter().collect();
        for e in self.store.outbox()? {
            if !e.tasks.iter().any(|t| going.contains(t)) || e.state == UploadState::Pending {
                continue;
            }
            if self.referenced(&e, &going)? {
                continue;
            }
            batch.delete_blobs.push(e.hash.clone());
            batch.delete_outbox.push(e.hash);
        }
        Ok(())
    }

    /// Whether a task this device still holds (other than those in `going`) names the
    /// photo.
    fn referenced(&self, e: &OutboxEntry, going: &HashSet<&DocId>) -> Result<bool, DeviceError> {
        for t in &e.tasks {
            if !going.contains(t) && self.store.get(t)?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn apply_ack(&mut self, a: Ack, out: &mut DeviceOutput) -> Result<(), DeviceError> {
        // Lazy: if a crash loses it, the changes are pushed again and acknowledged again.
        let mut batch = WriteBatch {
            lazy: true,
            ..WriteBatch::default()
        };
        let acked: HashSet<[u8; 32]> = a.hashes.iter().copied().collect();
        for h in &a.hashes {
            batch.remove_pending.push((a.doc.clone(), *h));
        }
        if let Some(conn) = self.conn.as_mut() {
            for h in &a.hashes {
                conn.inflight.remove(h);
            }
        }
        let left = self
            .store
            .pending(&a.doc)?
            .iter()
            .filter(|p| !acked.contains(&p.hash))
            .count();
        let drop_key = format!("{DROP_KEY}{}", a.doc);
        // The app hears of the acknowledgement before the drop it allows.
        let mut dropped = DeviceOutput::default();
        if left == 0 && self.store.meta(&drop_key)?.is_some_and(|v| !v.is_empty()) {
            self.forget(std::slice::from_ref(&a.doc), &mut batch, &mut dropped)?;
        }
        self.store.write(batch)?;
        out.events.push(DeviceEvent::Acknowledged(a.doc));
        out.events.extend(dropped.events);
        Ok(())
    }

    fn apply_refused(&mut self, r: Refused, out: &mut DeviceOutput) -> Result<(), DeviceError> {
        // Lazy: if a crash loses it, the refused changes are pushed and refused again.
        let mut batch = WriteBatch {
            lazy: true,
            ..WriteBatch::default()
        };
        batch.clear_pending.push(r.doc.clone());
        match r.reset {
            Some(bytes) => {
                let d = TaskDoc::load(&bytes)?;
                let view = d.view()?;
                let entry = index_entry(&view, last_event_at(&view));
                batch.put_docs.push((r.doc.clone(), bytes, entry));
                // The server sends its copy only of a task in this device's scope.
                self.cancel_drop(&r.doc, &mut batch)?;
            }
            None => {
                batch.delete_docs.push(r.doc.clone());
                batch
                    .meta
                    .push((format!("{DROP_KEY}{}", r.doc), Vec::new()));
                self.forget_photos(std::slice::from_ref(&r.doc), &mut batch)?;
            }
        }
        if let Some(conn) = self.conn.as_mut() {
            // Whatever of this task was in flight is void now.
            if let Ok(p) = self.store.pending(&r.doc) {
                for c in p {
                    conn.inflight.remove(&c.hash);
                }
            }
        }
        self.store.write(batch)?;
        out.events.push(DeviceEvent::Refused {
            doc: r.doc,
            code: r.code,
            message: r.message,
        });
        Ok(())
    }
}

/// Scopes a task's index row places it in by the rule of [`TaskScopes`], as far as the
/// row tells (not the filing crew of an unassigned task, which only the document says):
/// a subset of the document's scopes, so a granted one among them means the task stays.
fn row_scopes(row: &IndexEntry) -> Vec<ScopeId> {
    let Some(status) = Status::parse(&row.status) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(3);
    if let Some(crew) = &row.assignee
        && !matches!(
            status,
            Status::Verified | Status::Cancelled | Status::Duplicate
        )
    {
        out.extend(TaskScopes::crew(crew));
    }
    if let Some(code) = &row.district {
        out.extend(TaskScopes::district(code));
        if !status.is_closed() {
            out.extend(TaskScopes::open(code));
        }
    }
    out
}

/// The time of a task's latest event (its index row's `updated_at`).
pub fn last_event_at(view: &TaskView) -> Millis {
    view.timeline
        .iter()
        .map(|e| e.event.at)
        .max()
        .unwrap_or(view.created_at)
}

/// The index row of a task.
pub fn index_entry(view: &TaskView, updated_at: Millis) -> IndexEntry {
    IndexEntry {
        id: view.id.clone(),
        title: view.title.clone(),
        status: view.derived.status.as_str().into(),
        priority: view.derived.priority.as_str().into(),
        category: view.category.clone(),
        district: view.derived.district.clone(),
        assignee: view.derived.assignee.clone(),
        lat: view.point.lat,
        lon: view.point.lon,
        updated_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{DeviceId, Role};
    use crate::task::{DEFAULT_REOPEN_WINDOW_MS, Priority, Source};

    const T0: Millis = 1_760_000_000_000;

    fn phone() -> Device {
        let crew = Actor {
            user: "ali".into(),
            role: Role::Crew,
            crew: Some("C1".into()),
            device: DeviceId::new("phone-a").unwrap(),
        };
        Device::new(Store::open_in_memory().unwrap(), crew)
    }

    fn report() -> FieldReport {
        FieldReport {
            category: "pothole".into(),
            title: "Deep pothole".into(),
            description: "found on the way".into(),
            point: GeoPoint {
                lat: 35.7,
                lon: 51.4,
                accuracy_m: Some(8.0),
            },
            address: None,
            district: Some("D1".into()),
            priority: Priority::Urgent,
        }
    }

    /// The shortcut that keeps a task without reading it never keeps one the rule
    /// would drop: for tasks in every status, with and without a crew, the row's scopes
    /// are among the document's.
    #[test]
    fn a_rows_scopes_are_among_the_documents() {
        use crate::task::EventKind;
        let disp = Actor {
            user: "disp".into(),
            role: Role::Dispatcher,
            crew: None,
            device: DeviceId::new("console-1").unwrap(),
        };
        let mut d = phone();
        let filed = d.report_field_work(report(), T0).unwrap();
        let mut docs = vec![d.load(&filed).unwrap()];
        let steps: Vec<Vec<EventKind>> = vec![
            vec![],
            vec![EventKind::Assigned {
                crew: "C1".into(),
                reason: "r".into(),
            }],
            vec![EventKind::Cancelled { reason: "r".into() }],
        ];
        for (n, kinds) in steps.into_iter().enumerate() {
            let mut new = report().into_new_task(DocId::new(format!("T{n}")).unwrap());
            new.district = Some("D1".into());
            let mut doc = TaskDoc::create(new, &disp, T0).unwrap();
            for k in kinds {
                doc.append_event(&disp, T0 + 1, k).unwrap();
            }
            docs.push(doc);
        }
        let mut seen = 0;
        for doc in docs {
            let view = doc.view().unwrap();
            let row = index_entry(&view, T0);
            let all = TaskScopes.scopes_of(&view);
            let from_row = row_scopes(&row);
            seen += from_row.len();
            assert!(
                from_row.iter().all(|s| all.contains(s)),
                "{}: {from_row:?} not among {all:?}",
                view.id
            );
        }
        assert!(seen > 0);
    }

    #[test]
    fn field_reports_get_fresh_well_formed_ids() {
        let mut d = phone();
        let first = d.report_field_work(report(), T0).unwrap();
        let second = d.report_field_work(report(), T0).unwrap();
        assert_ne!(first, second);
        for id in [&first, &second] {
            assert!(id.as_str().starts_with("F-"), "{id}");
            let task = d.task(id).unwrap();
            assert_eq!(task.source, Source::Crew);
            assert_eq!(task.reopen_window_ms, DEFAULT_REOPEN_WINDOW_MS);
        }
        assert_eq!(d.list().unwrap().len(), 2);
    }

    #[test]
    fn completing_without_an_after_photo_is_refused_and_nothing_is_written() {
        let mut d = phone();
        let id = d.report_field_work(report(), T0).unwrap();
        let photo = NewPhoto {
            kind: PhotoKind::Before,
            mime: "image/jpeg".into(),
            taken_at: None,
            taken_point: None,
        };
        d.add_photo(&id, photo, b"\xFF\xD8\xFFbefore", T0 + 1)
            .unwrap();
        let (pending, task) = (d.pending_count().unwrap(), d.task(&id).unwrap());
        let err = d.complete(&id, Vec::new(), T0 + 2).unwrap_err();
        assert!(
            matches!(err, DeviceError::Task(TaskError::NoAfterPhoto)),
            "{err:?}"
        );
        assert_eq!(d.pending_count().unwrap(), pending);
        assert_eq!(d.task(&id).unwrap(), task);
    }
}

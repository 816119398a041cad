//! What the server half needs from storage, and the guarantees it relies on.

use crate::ids::{DeviceId, DocId, Millis, ScopeId};
use crate::store::IndexEntry;
use crate::task::TaskView;
use std::future::Future;

/// A stored document: its whole saved form and the sequence number of its last commit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredDoc {
    /// automerge saved form, including every committed change.
    pub bytes: Vec<u8>,
    /// Sequence number of the last commit to this document.
    pub seq: u64,
}

/// One durable commit to one document.
#[derive(Debug, Clone)]
pub struct DocCommit {
    /// The document.
    pub doc: DocId,
    /// The `seq` of the [`StoredDoc`] the changes were applied to, or `None` for a new
    /// document. The store refuses the commit with [`ServerStoreError::Conflict`] if the
    /// document has moved on (or exists, for `None`), and the session retries.
    pub base_seq: Option<u64>,
    /// The new raw automerge changes, dependencies first.
    pub changes: Vec<Vec<u8>>,
    /// The document's saved form after the changes.
    pub snapshot: Vec<u8>,
    /// The task as it reads after the changes, for the store's relational projection.
    pub view: TaskView,
    /// The scopes the document belongs to after the changes.
    pub scopes: Vec<ScopeId>,
    /// The device whose changes these are (the server's own device for its edits).
    pub origin: DeviceId,
}

/// What a commit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOutcome {
    /// The commit's sequence number.
    pub seq: u64,
    /// Scopes whose sequence this commit advanced: the document's scopes after the commit
    /// and the scopes it left. The host notifies their sessions.
    pub touched: Vec<ScopeId>,
}

/// A document's place in one scope's change sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeEntry {
    /// The document.
    pub doc: DocId,
    /// The sequence number of the document's last commit that touched this scope.
    pub seq: u64,
    /// The sequence number at which the document (last) entered this scope.
    pub entered_seq: u64,
    /// False once the document has left the scope.
    pub present: bool,
}

/// One stored change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChange {
    /// The commit it came in.
    pub seq: u64,
    /// The device it came from.
    pub origin: DeviceId,
    /// Raw automerge change.
    pub bytes: Vec<u8>,
}

/// A document's changes after a sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangesSince {
    /// The changes, in commit order (dependencies first).
    Changes(Vec<StoredChange>),
    /// The changes after that point were compacted away: send the snapshot instead.
    Compacted,
}

/// Storage failures the session can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerStoreError {
    /// The document moved on since it was loaded; reload and retry.
    #[error("the document changed concurrently")]
    Conflict,
    /// The store cannot serve now (connection lost, overloaded).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Stored data does not read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// The server's storage, as the sync session needs it.
///
/// Implementations must keep these invariants (the shared storage tests check them):
/// 1. **Durable**: `commit` returns only once the commit survives a crash.
/// 2. **Atomic**: a commit's document, changes, scope entries (and any projection) land
///    together or not at all.
/// 3. **Monotonic**: every commit gets a sequence number greater than any before it.
/// 4. **Cursor-safe**: once a reader can see an entry with sequence `s` in a scope, every
///    commit touching that scope with a smaller sequence number is visible too (so a cursor
///    never skips a commit that was still in flight; serialise commits per scope).
/// 5. **Compare-and-swap**: `commit` with a stale `base_seq` fails with
///    [`ServerStoreError::Conflict`] and changes nothing.
///
/// Every call costs work proportional to what it returns, never to the number of
/// documents or devices.
pub trait ServerStore: Send + Sync {
    /// Loads one document.
    fn load(
        &self,
        doc: &DocId,
    ) -> impl Future<Output = Result<Option<StoredDoc>, ServerStoreError>> + Send;

    /// Loads several documents (missing ones are left out).
    fn load_many(
        &self,
        docs: &[DocId],
    ) -> impl Future<Output = Result<Vec<(DocId, StoredDoc)>, ServerStoreError>> + Send;

    /// Loads several documents with their task-list rows, for snapshots sent to devices.
    /// A store that keeps no rows answers `None` for each (the device then reads the
    /// document itself).
    fn load_many_indexed(
        &self,
        docs: &[DocId],
    ) -> impl Future<Output = Result<Vec<(DocId, StoredDoc, Option<IndexEntry>)>, ServerStoreError>> + Send
    {
        async move {
            Ok(self
                .load_many(docs)
                .await?
                .into_iter()
                .map(|(id, d)| (id, d, None))
                .collect())
        }
    }

    /// Commits changes to one document durably; see the trait's invariants.
    fn commit(
        &self,
        commit: DocCommit,
    ) -> impl Future<Output = Result<CommitOutcome, ServerStoreError>> + Send;

    /// Entries of a scope with `seq > after`, in `seq` order, at most `limit`.
    fn scope_entries(
        &self,
        scope: &ScopeId,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ScopeEntry>, ServerStoreError>> + Send;

    /// A document's changes committed with `seq > after`.
    fn changes_since(
        &self,
        doc: &DocId,
        after: u64,
    ) -> impl Future<Output = Result<ChangesSince, ServerStoreError>> + Send;

    /// The scopes a document is currently in.
    fn doc_scopes(
        &self,
        doc: &DocId,
    ) -> impl Future<Output = Result<Vec<ScopeId>, ServerStoreError>> + Send;

    /// Records a device's `Hello`: that it was in contact at `now`, and what it
    /// acknowledged holding — for each `(scope, seq)` of its cursors, every entry of the
    /// scope up to `seq`. A recorded cursor is never lowered (a device cannot take back
    /// what it confirmed by sending an older one). Returns the device's previous contact,
    /// if any: work it made before then would have been pushed then, which bounds how far
    /// back its events' times are trusted ([`crate::task::Receipt`]).
    fn record_hello(
        &self,
        device: &DeviceId,
        cursors: &[(ScopeId, u64)],
        now: Millis,
    ) -> impl Future<Output = Result<Option<Millis>, ServerStoreError>> + Send;

    /// What `device` has acknowledged holding of `doc`: the sequence number up to which
    /// every change of the document was delivered to the device, which confirmed it, and
    /// whether the device confirmed that the document was dropped from it. Computed from
    /// [`ServerStore::record_hello`]'s records and the document's scope entries (see
    /// [`acknowledged_through`], combined over scopes with [`Acknowledged::or`]); `None`
    /// when nothing is known.
    fn acknowledged_seq(
        &self,
        device: &DeviceId,
        doc: &DocId,
    ) -> impl Future<Output = Result<Option<Acknowledged>, ServerStoreError>> + Send;
}

/// What a device confirmed (by the cursors of its `Hello`s) holding of one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acknowledged {
    /// Every change of the document committed at or before this sequence number was
    /// delivered to the device, which confirmed it.
    pub seq: u64,
    /// The device confirmed receiving the commit that took the document out of each
    /// scope it held it through (the commit after `seq`), which it was sent as a `Drop`,
    /// not as changes. The phone library lets go of a dropped document at once, or, if
    /// it has pending changes (made before it heard of the drop), once the server
    /// acknowledges them, taking no new edit to it meanwhile; and it moves no cursor
    /// past a batch while an edit of its own is unacknowledged, so no `Hello` confirms
    /// the drop before that work has arrived.
    pub dropped: bool,
}

impl Acknowledged {
    /// Combines what two scopes say: the device holds the document up to the later of
    /// the two, and let go of it only if both say so (a copy held through another scope
    /// is still held; this errs towards trusting the device).
    pub fn or(self, other: Acknowledged) -> Acknowledged {
        Acknowledged {
            seq: self.seq.max(other.seq),
            dropped: self.dropped && other.dropped,
        }
    }
}

/// What one scope's acknowledged cursor `acked` says the device holds of a document whose
/// entry in that scope is `entry`: nothing if the document entered the scope after the
/// cursor (an earlier stay is ignored, which only errs towards trusting the device); all
/// of it up to the cursor while it is in the scope; up to the commit before the one that
/// took it out (the device was sent a `Drop`, not that commit's changes) once it left,
/// and then, if the cursor has passed that commit, that the device confirmed the drop.
pub fn acknowledged_through(acked: u64, entry: &ScopeEntry) -> Option<Acknowledged> {
    if entry.entered_seq > acked {
        return None;
    }
    if entry.present || acked < entry.seq {
        Some(Acknowledged {
            seq: acked,
            dropped: false,
        })
    } else {
        Some(Acknowledged {
            seq: entry.seq.saturating_sub(1),
            dropped: true,
        })
    }
}

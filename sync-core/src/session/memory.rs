//! An in-memory [`ServerStore`]: the reference implementation of the trait's invariants,
//! used by the simulated network tests and the benchmarks. Not durable by nature; the
//! server's SQL stores are.

use super::device::{index_entry, last_event_at};
use super::store::*;
use crate::ids::{DeviceId, DocId, Millis, ScopeId};
use crate::store::IndexEntry;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Default)]
struct Doc {
    stored: StoredDoc,
    index: Option<IndexEntry>,
    changes: Vec<StoredChange>,
    compacted_before: u64,
    scopes: Vec<ScopeId>,
}

#[derive(Debug, Default)]
struct ScopeLog {
    /// seq → doc: one live entry per document (a document's older entries are removed
    /// when it is touched again), so a reader's work is what changed since its cursor.
    by_seq: BTreeMap<u64, DocId>,
    by_doc: HashMap<DocId, ScopeEntry>,
}

#[derive(Debug, Default)]
struct Inner {
    seq: u64,
    docs: HashMap<DocId, Doc>,
    scopes: HashMap<ScopeId, ScopeLog>,
    /// (device, scope) → the cursor the device acknowledged.
    acks: HashMap<(DeviceId, ScopeId), u64>,
    /// device → its last `Hello`.
    contacts: HashMap<DeviceId, Millis>,
}

/// The in-memory store. One mutex: commits are serialised, which makes every invariant of
/// [`ServerStore`] hold trivially.
#[derive(Debug, Default)]
pub struct MemServerStore {
    inner: Mutex<Inner>,
}

impl MemServerStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, ServerStoreError> {
        self.inner
            .lock()
            .map_err(|_| ServerStoreError::Unavailable("store mutex poisoned".into()))
    }

    /// How many documents.
    pub fn len(&self) -> usize {
        self.lock().map(|i| i.docs.len()).unwrap_or(0)
    }

    /// Whether there are no documents.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The last sequence number handed out.
    pub fn last_seq(&self) -> u64 {
        self.lock().map(|i| i.seq).unwrap_or(0)
    }

    /// Ids of every document.
    pub fn doc_ids(&self) -> Vec<DocId> {
        let mut ids: Vec<DocId> = self
            .lock()
            .map(|i| i.docs.keys().cloned().collect())
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// Drops the change history of a document up to its latest commit, so that devices
    /// behind it get the snapshot instead.
    pub fn compact(&self, doc: &DocId) {
        if let Ok(mut inner) = self.lock()
            && let Some(d) = inner.docs.get_mut(doc)
        {
            d.compacted_before = d.stored.seq;
            d.changes.clear();
        }
    }
}

fn touch(log: &mut ScopeLog, doc: &DocId, seq: u64, present: bool) {
    let entered = match log.by_doc.get(doc) {
        Some(old) => {
            log.by_seq.remove(&old.seq);
            if old.present && present {
                old.entered_seq
            } else {
                seq
            }
        }
        None => seq,
    };
    log.by_seq.insert(seq, doc.clone());
    log.by_doc.insert(
        doc.clone(),
        ScopeEntry {
            doc: doc.clone(),
            seq,
            entered_seq: entered,
            present,
        },
    );
}

impl ServerStore for MemServerStore {
    async fn load(&self, doc: &DocId) -> Result<Option<StoredDoc>, ServerStoreError> {
        Ok(self.lock()?.docs.get(doc).map(|d| d.stored.clone()))
    }

    async fn load_many(&self, docs: &[DocId]) -> Result<Vec<(DocId, StoredDoc)>, ServerStoreError> {
        let inner = self.lock()?;
        Ok(docs
            .iter()
            .filter_map(|id| inner.docs.get(id).map(|d| (id.clone(), d.stored.clone())))
            .collect())
    }

    async fn load_many_indexed(
        &self,
        docs: &[DocId],
    ) -> Result<Vec<(DocId, StoredDoc, Option<IndexEntry>)>, ServerStoreError> {
        let inner = self.lock()?;
        Ok(docs
            .iter()
            .filter_map(|id| {
                inner
                    .docs
                    .get(id)
                    .map(|d| (id.clone(), d.stored.clone(), d.index.clone()))
            })
            .collect())
    }

    async fn commit(&self, commit: DocCommit) -> Result<CommitOutcome, ServerStoreError> {
        let mut inner = self.lock()?;
        let current = inner.docs.get(&commit.doc).map(|d| d.stored.seq);
        if current != commit.base_seq {
            return Err(ServerStoreError::Conflict);
        }
        inner.seq += 1;
        let seq = inner.seq;
        let origin: DeviceId = commit.origin;
        let doc = inner.docs.entry(commit.doc.clone()).or_default();
        doc.index = Some(index_entry(&commit.view, last_event_at(&commit.view)));
        doc.stored = StoredDoc {
            bytes: commit.snapshot,
            seq,
        };
        doc.changes
            .extend(commit.changes.into_iter().map(|bytes| StoredChange {
                seq,
                origin: origin.clone(),
                bytes,
            }));
        let old_scopes = std::mem::replace(&mut doc.scopes, commit.scopes.clone());
        let mut touched = commit.scopes.clone();
        for s in &commit.scopes {
            touch(
                inner.scopes.entry(s.clone()).or_default(),
                &commit.doc,
                seq,
                true,
            );
        }
        for s in old_scopes.iter().filter(|s| !commit.scopes.contains(s)) {
            touch(
                inner.scopes.entry(s.clone()).or_default(),
                &commit.doc,
                seq,
                false,
            );
            touched.push(s.clone());
        }
        Ok(CommitOutcome { seq, touched })
    }

    async fn scope_entries(
        &self,
        scope: &ScopeId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ScopeEntry>, ServerStoreError> {
        let inner = self.lock()?;
        let Some(log) = inner.scopes.get(scope) else {
            return Ok(Vec::new());
        };
        Ok(log
            .by_seq
            .range(after.saturating_add(1)..)
            .take(limit)
            .filter_map(|(_, doc)| log.by_doc.get(doc).cloned())
            .collect())
    }

    async fn changes_since(
        &self,
        doc: &DocId,
        after: u64,
    ) -> Result<ChangesSince, ServerStoreError> {
        let inner = self.lock()?;
        let Some(d) = inner.docs.get(doc) else {
            return Ok(ChangesSince::Changes(Vec::new()));
        };
        if after < d.compacted_before {
            return Ok(ChangesSince::Compacted);
        }
        Ok(ChangesSince::Changes(
            d.changes
                .iter()
                .filter(|c| c.seq > after)
                .cloned()
                .collect(),
        ))
    }

    async fn doc_scopes(&self, doc: &DocId) -> Result<Vec<ScopeId>, ServerStoreError> {
        Ok(self
            .lock()?
            .docs
            .get(doc)
            .map(|d| d.scopes.clone())
            .unwrap_or_default())
    }

    async fn record_hello(
        &self,
        device: &DeviceId,
        cursors: &[(ScopeId, u64)],
        now: Millis,
    ) -> Result<Option<Millis>, ServerStoreError> {
        let mut inner = self.lock()?;
        let previous = inner.contacts.insert(device.clone(), now);
        for (scope, seq) in cursors {
            let at = inner
                .acks
                .entry((device.clone(), scope.clone()))
                .or_default();
            *at = (*at).max(*seq);
        }
        Ok(previous)
    }

    async fn acknowledged_seq(
        &self,
        device: &DeviceId,
        doc: &DocId,
    ) -> Result<Option<Acknowledged>, ServerStoreError> {
        let inner = self.lock()?;
        Ok(inner
            .acks
            .iter()
            .filter(|((d, _), _)| d == device)
            .filter_map(|((_, scope), acked)| {
                let entry = inner.scopes.get(scope)?.by_doc.get(doc)?;
                acknowledged_through(*acked, entry)
            })
            .reduce(Acknowledged::or))
    }
}

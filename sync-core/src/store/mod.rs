//! SKELETON — to be implemented. The phone's durable local store.
//! Signatures are the contract other modules code against.

use crate::ids::{DocId, Millis};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store's files are damaged beyond what recovery can mend.
    #[error("store is corrupt: {0}")]
    Corrupt(String),
    /// The store was written by a newer version of the app.
    #[error("store format {found} is newer than supported {supported}")]
    TooNew {
        /// Found.
        found: u32,
        /// Supported.
        supported: u32,
    },
    /// Another process holds the store open.
    #[error("store is locked by another process")]
    Locked,
    /// An I/O error.
    #[error("store I/O: {0}")]
    Io(String),
}

/// What the task list shows without loading documents: one row per document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// Task id.
    pub id: DocId,
    /// Title.
    pub title: String,
    /// Status wire name (`assigned`, `in_progress`, ...).
    pub status: String,
    /// Priority wire name.
    pub priority: String,
    /// Category (service code).
    pub category: String,
    /// District code.
    pub district: Option<String>,
    /// Assigned crew.
    pub assignee: Option<String>,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Last local write time.
    pub updated_at: Millis,
}

/// A local change not yet acknowledged by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingChange {
    /// automerge change hash (32 bytes).
    pub hash: [u8; 32],
    /// The raw change bytes.
    pub bytes: Vec<u8>,
}

/// One atomic, durable write. Everything in it lands, or nothing does.
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    /// Documents to write (whole saved form) with their index rows.
    pub put_docs: Vec<(DocId, Vec<u8>, IndexEntry)>,
    /// Documents to remove (with their index rows and pending changes).
    pub delete_docs: Vec<DocId>,
    /// Local changes to remember until the server acknowledges them (appended in order).
    pub add_pending: Vec<(DocId, PendingChange)>,
    /// Acknowledged changes to forget.
    pub remove_pending: Vec<(DocId, [u8; 32])>,
    /// Forget all pending changes of these documents (after a reset from the server).
    pub clear_pending: Vec<DocId>,
    /// Sync cursors to set, per scope.
    pub cursors: Vec<(String, u64)>,
    /// Small key-value settings to set.
    pub meta: Vec<(String, Vec<u8>)>,
}

/// The store.
#[derive(Debug)]
pub struct Store {}

impl Store {
    /// Opens (creating if needed) the store in `dir`. Does not load documents.
    pub fn open(_dir: &Path) -> Result<Store, StoreError> {
        todo!()
    }
    /// All index rows, in id order.
    pub fn list(&self) -> Result<Vec<IndexEntry>, StoreError> {
        todo!()
    }
    /// How many documents.
    pub fn len(&self) -> Result<u64, StoreError> {
        todo!()
    }
    /// Whether the store has no documents.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }
    /// One document's saved bytes.
    pub fn get(&self, _id: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
        todo!()
    }
    /// One document's pending changes, in the order they were added.
    pub fn pending(&self, _id: &DocId) -> Result<Vec<PendingChange>, StoreError> {
        todo!()
    }
    /// Every document with pending changes, with those changes in order.
    pub fn all_pending(&self) -> Result<Vec<(DocId, Vec<PendingChange>)>, StoreError> {
        todo!()
    }
    /// Sync cursors per scope.
    pub fn cursors(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        todo!()
    }
    /// A setting.
    pub fn meta(&self, _key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        todo!()
    }
    /// Applies a batch atomically; returns only once it is durable.
    pub fn write(&self, _batch: WriteBatch) -> Result<(), StoreError> {
        todo!()
    }
}

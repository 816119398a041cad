//! The phone's durable local store: every task document in the device's scope (its whole
//! saved automerge form), the one-row-per-task index the task list shows, the local changes the
//! server has not acknowledged yet, the per-scope sync cursors, a few settings, and the photo
//! outbox (blobs in chunks with their [`OutboxEntry`]; see [`crate::outbox`]).
//!
//! # Guarantee
//!
//! Phones kill apps at any moment, and a field crew's edit must survive that (design §3: no
//! torn writes, no lost acknowledged edit). So:
//!
//! - [`Store::write`] applies a whole [`WriteBatch`] in one transaction: after a crash either all
//!   of it is there or none of it is, never a half-written document or a document without its
//!   index row or pending changes.
//! - [`Store::write`] returns `Ok` only once the batch is on stable storage (fsync). A caller may
//!   tell the user (or the server) an edit is saved as soon as it returns.
//! - Opening after a crash recovers to the last acknowledged batch; nothing needs replaying.
//!
//! # Why redb
//!
//! [redb](https://www.redb.org) is a pure-Rust embedded copy-on-write B-tree store: every commit
//! writes new pages and then flips a checksummed commit slot, so a crash leaves the previous
//! commit intact. It builds for Android and iOS without a C toolchain (unlike SQLite or RocksDB
//! bindings) and has no background threads. Commits here use quick-repair (the allocator state
//! is saved with each commit), because on a phone being killed is the normal way an app ends:
//! without it every open after a kill would walk and checksum the whole file, which grows with
//! the number of documents (design §10: 10,000 tasks open in under 1 s).
//!
//! # Layout
//!
//! One file, `tarmim.redb`, in the directory given to [`Store::open`]; its tables are described
//! in `tables.rs`. [`Store::list`] reads only the small index table, and [`Store::open`] reads no
//! documents, so both stay fast however large the documents are.
//!
//! # Damaged files
//!
//! A file that is not a redb database (wrong magic number) or is shorter than its own recorded
//! layout (truncated) fails to open with [`StoreError::Corrupt`]. A new store is built under a
//! temporary name and linked into place once laid out, so an app killed while creating its
//! store leaves no half-made `tarmim.redb` (an empty one, from older versions, is initialised). redb does not checksum pages on the
//! fast path, so damage *inside* a cleanly closed file (bit rot, another program writing into
//! it) may go unnoticed or make redb panic; [`Store::open_verified`] checks every page for when
//! that is suspected. The remedy for a corrupt store is to discard it and fetch the scope again
//! from the server; only unsent pending changes are lost.

mod tables;

use crate::ids::{DocId, Millis};
use crate::outbox::{CHUNK_BYTES, OutboxEntry};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tables::{
    BLOBS, CREATING_NAME, CURSORS, DOCS, FILE_NAME, FORMAT, FORMAT_KEY, FORMAT_WITHOUT_PHOTOS,
    INDEX, META, OUTBOX, PENDING, STORE_INFO, map_err,
};

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

/// One atomic write, durable unless `lazy`. Everything in it lands, or nothing does.
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    /// Documents to write (whole saved form) with their index rows. The document id is
    /// authoritative: the stored row's `id` is set to it.
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
    /// Scopes whose cursors to forget (the device lost them).
    pub delete_cursors: Vec<String>,
    /// Small key-value settings to set.
    pub meta: Vec<(String, Vec<u8>)>,
    /// Photo blobs to store, by hash (written in chunks; a blob already stored is left as
    /// it is, since the same hash is the same bytes).
    pub put_blobs: Vec<(String, Vec<u8>)>,
    /// Outbox entries to insert or replace (by hash).
    pub put_outbox: Vec<OutboxEntry>,
    /// Blobs whose bytes to drop (their outbox entries stay).
    pub delete_blobs: Vec<String>,
    /// Outbox entries to forget (by hash; after `put_outbox`, so a batch may not put and
    /// delete the same entry meaningfully).
    pub delete_outbox: Vec<String>,
    /// Commit without waiting for the disk: the batch is atomic as always, but a crash may
    /// lose it (and any lazy batch after it) until the next durable write. Only for state
    /// that can be fetched again, such as what the server sent; never for a local edit.
    pub lazy: bool,
}

/// How much of the file redb may keep cached in memory. redb's default (1 GiB) is a desktop
/// figure; on a phone the OS page cache already holds recently read pages, and the index of
/// 10,000 tasks is a couple of MiB.
const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// Save redb's allocator state with every commit, so that opening after the app was killed does
/// not walk and checksum the whole file (see the module docs). Costs a little per commit.
const QUICK_REPAIR: bool = true;

/// The store: one redb database. Cheap to share (`&Store` is `Sync`); redb serialises writers
/// and gives readers a consistent snapshot.
#[derive(Debug)]
pub struct Store {
    db: Database,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store in `dir`. Does not load documents.
    ///
    /// Creates `dir` if it is missing. After a crash this recovers to the last committed
    /// [`Store::write`]. Fails with [`StoreError::Locked`] if the store is already open (in this
    /// or another process), [`StoreError::Corrupt`] if `tarmim.redb` is not a readable store,
    /// and [`StoreError::TooNew`] if a newer app wrote it.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Self::open_with(dir, false)
    }

    /// Like [`Store::open`], but first verifies the checksum of every page, reading the whole
    /// file: slow, proportional to the store's size.
    ///
    /// redb trusts a file it closed cleanly, so damage done to it afterwards (flash bit rot,
    /// another program writing into it) can go unnoticed by [`Store::open`] and surface later
    /// as wrong bytes or a panic inside redb. This reports it as [`StoreError::Corrupt`]
    /// instead (or repairs it, when the damage is only in redb's allocator state). Use it when
    /// a previous run failed with [`StoreError::Corrupt`] or panicked in the store, before
    /// deciding to discard the store and fetch everything again from the server.
    pub fn open_verified(dir: &Path) -> Result<Store, StoreError> {
        Self::open_with(dir, true)
    }

    /// A store that lives in memory only: for tests and simulations that kill and restart
    /// an app many times over (the store object survives, as the file would). Nothing is
    /// written to disk, so it is not durable across the process.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(map_err)?;
        let store = Store {
            db,
            path: PathBuf::from(":memory:"),
        };
        store.check_format()?;
        Ok(store)
    }

    fn open_with(dir: &Path, verify: bool) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Io(format!("creating {}: {e}", dir.display())))?;
        let path = dir.join(FILE_NAME);
        if !path.exists() {
            Self::create_file(dir, &path)?;
        }
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .set_check_integrity_on_open(verify)
            .create(&path)
            .map_err(map_err)?;
        let store = Store { db, path };
        store.check_format()?;
        Ok(store)
    }

    /// Makes a new, laid-out store file at `path`, all at once: it is built under
    /// [`CREATING_NAME`] and linked into place only after its layout is committed.
    ///
    /// redb writes a new file's header in several steps, so an app killed while its store is
    /// first created (on the first launch, or the first after a reset) could leave a file
    /// without redb's magic number, which no later open would accept: the phone would be stuck
    /// until its data were wiped. Built aside, a kill leaves at most the temporary file, which
    /// the next creation discards.
    fn create_file(dir: &Path, path: &Path) -> Result<(), StoreError> {
        let io = |what: &str, e: std::io::Error| StoreError::Io(format!("{what}: {e}"));
        let tmp = dir.join(CREATING_NAME);
        let build = || {
            Database::builder()
                .set_cache_size(CACHE_BYTES)
                .create(&tmp)
                .map_err(map_err)
        };
        let db = match build() {
            Ok(db) => db,
            // A creation killed part-way: nothing was ever stored in it. (A creation still
            // running in another process holds the file's lock and answers `Locked`.)
            Err(StoreError::Corrupt(_)) => {
                std::fs::remove_file(&tmp).map_err(|e| io("removing a half-made store", e))?;
                build()?
            }
            Err(e) => return Err(e),
        };
        let creating = Store {
            db,
            path: tmp.clone(),
        };
        creating.check_format()?;
        drop(creating);
        // A hard link never replaces a file: if another process finished first, its store
        // (identical and empty) is kept.
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(_) if path.exists() => {}
            // File systems without hard links (FAT on an SD card): the rename is still atomic.
            Err(_) => std::fs::rename(&tmp, path).map_err(|e| io("placing the new store", e))?,
        }
        match std::fs::remove_file(&tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io("removing the new store's temporary name", e));
            }
            _ => {}
        }
        // The new name must survive a power cut too, not only the file's contents.
        #[cfg(unix)]
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("syncing the store's directory", e))?;
        Ok(())
    }

    /// Checks the format version of an existing store, or lays out a new one.
    fn check_format(&self) -> Result<(), StoreError> {
        let found = {
            let txn = self.db.begin_read().map_err(map_err)?;
            match txn.open_table(STORE_INFO) {
                Ok(info) => match info.get(FORMAT_KEY).map_err(map_err)? {
                    Some(v) => Some(v.value()),
                    None => {
                        return Err(StoreError::Corrupt(format!(
                            "{} has no format version",
                            self.path.display()
                        )));
                    }
                },
                // A new (or never committed) file.
                Err(redb::TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(map_err(e)),
            }
        };
        match found {
            Some(FORMAT) => Ok(()),
            Some(FORMAT_WITHOUT_PHOTOS) => self.create_layout(),
            Some(found) if found > FORMAT => Err(StoreError::TooNew {
                found,
                supported: FORMAT,
            }),
            Some(found) => Err(StoreError::Corrupt(format!(
                "unknown store format {found} in {}",
                self.path.display()
            ))),
            None => self.create_layout(),
        }
    }

    /// Creates every table (those missing: this also upgrades a format-1 store, which had
    /// no photo tables) and records the format version, in one durable commit, so a store
    /// with a format version always has all its tables.
    fn create_layout(&self) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        {
            txn.open_table(DOCS).map_err(map_err)?;
            txn.open_table(INDEX).map_err(map_err)?;
            txn.open_table(PENDING).map_err(map_err)?;
            txn.open_table(CURSORS).map_err(map_err)?;
            txn.open_table(META).map_err(map_err)?;
            txn.open_table(BLOBS).map_err(map_err)?;
            txn.open_table(OUTBOX).map_err(map_err)?;
            let mut info = txn.open_table(STORE_INFO).map_err(map_err)?;
            info.insert(FORMAT_KEY, FORMAT).map_err(map_err)?;
        }
        txn.commit().map_err(map_err)
    }

    fn begin_write(&self) -> Result<redb::WriteTransaction, StoreError> {
        let mut txn = self.db.begin_write().map_err(map_err)?;
        // Immediate is redb's default; set explicitly because the store's promise rests on it.
        txn.set_durability(Durability::Immediate).map_err(map_err)?;
        txn.set_quick_repair(QUICK_REPAIR);
        Ok(txn)
    }

    fn begin_read(&self) -> Result<redb::ReadTransaction, StoreError> {
        self.db.begin_read().map_err(map_err)
    }

    /// All index rows, in id order.
    pub fn list(&self) -> Result<Vec<IndexEntry>, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(INDEX).map_err(map_err)?;
        let mut rows =
            Vec::with_capacity(usize::try_from(table.len().map_err(map_err)?).unwrap_or(0));
        for item in table.iter().map_err(map_err)? {
            let (key, value) = item.map_err(map_err)?;
            rows.push(tables::decode_index(key.value(), value.value())?);
        }
        Ok(rows)
    }

    /// How many documents.
    pub fn len(&self) -> Result<u64, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(DOCS).map_err(map_err)?;
        table.len().map_err(map_err)
    }

    /// Whether the store has no documents.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// One document's saved bytes.
    pub fn get(&self, id: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(DOCS).map_err(map_err)?;
        let found = table.get(id.as_str()).map_err(map_err)?;
        Ok(found.map(|v| v.value().to_vec()))
    }

    /// One document's pending changes, in the order they were added.
    pub fn pending(&self, id: &DocId) -> Result<Vec<PendingChange>, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(PENDING).map_err(map_err)?;
        let mut out = Vec::new();
        for item in table.range(doc_range(id)).map_err(map_err)? {
            let (_, value) = item.map_err(map_err)?;
            out.push(tables::decode_pending(id.as_str(), value.value())?);
        }
        Ok(out)
    }

    /// Whether any local change is pending, read without decoding one.
    pub fn has_pending(&self) -> Result<bool, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(PENDING).map_err(map_err)?;
        Ok(table.first().map_err(map_err)?.is_some())
    }

    /// Every document with pending changes, with those changes in order.
    pub fn all_pending(&self) -> Result<Vec<(DocId, Vec<PendingChange>)>, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(PENDING).map_err(map_err)?;
        let mut out: Vec<(DocId, Vec<PendingChange>)> = Vec::new();
        // The table is ordered by (doc, sequence): each document's changes are contiguous.
        for item in table.iter().map_err(map_err)? {
            let (key, value) = item.map_err(map_err)?;
            let (doc, _seq) = key.value();
            let change = tables::decode_pending(doc, value.value())?;
            match out.last_mut() {
                Some((last, changes)) if last.as_str() == doc => changes.push(change),
                _ => {
                    let id = DocId::new(doc).map_err(|e| {
                        StoreError::Corrupt(format!("pending change under a bad id: {e}"))
                    })?;
                    out.push((id, vec![change]));
                }
            }
        }
        Ok(out)
    }

    /// Sync cursors per scope.
    pub fn cursors(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(CURSORS).map_err(map_err)?;
        let mut out = BTreeMap::new();
        for item in table.iter().map_err(map_err)? {
            let (key, value) = item.map_err(map_err)?;
            out.insert(key.value().to_owned(), value.value());
        }
        Ok(out)
    }

    /// A setting.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(META).map_err(map_err)?;
        let found = table.get(key).map_err(map_err)?;
        Ok(found.map(|v| v.value().to_vec()))
    }

    /// Every outbox entry, by hash.
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(OUTBOX).map_err(map_err)?;
        let mut out = Vec::new();
        for item in table.iter().map_err(map_err)? {
            let (key, value) = item.map_err(map_err)?;
            out.push(tables::decode_outbox(key.value(), value.value())?);
        }
        Ok(out)
    }

    /// One outbox entry.
    pub fn outbox_entry(&self, hash: &str) -> Result<Option<OutboxEntry>, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(OUTBOX).map_err(map_err)?;
        let found = table.get(hash).map_err(map_err)?;
        found
            .map(|v| tables::decode_outbox(hash, v.value()))
            .transpose()
    }

    /// Whether the bytes of blob `hash` are stored.
    pub fn has_blob(&self, hash: &str) -> Result<bool, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(BLOBS).map_err(map_err)?;
        Ok(table.get((hash, 0)).map_err(map_err)?.is_some())
    }

    /// Up to `len` bytes of blob `hash` from `offset` (fewer at its end; empty at or past
    /// it); `None` if the blob's bytes are not stored. Reads only the chunks in the range.
    pub fn blob_range(
        &self,
        hash: &str,
        offset: u64,
        len: usize,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(BLOBS).map_err(map_err)?;
        if table.get((hash, 0)).map_err(map_err)?.is_none() {
            return Ok(None);
        }
        let chunk = CHUNK_BYTES as u64;
        let first = offset / chunk;
        let mut out = Vec::with_capacity(len.min(64 * CHUNK_BYTES));
        let mut skip = usize::try_from(offset % chunk).unwrap_or(0);
        for item in table
            .range((hash, first)..=(hash, u64::MAX))
            .map_err(map_err)?
        {
            if out.len() >= len {
                break;
            }
            let (_, value) = item.map_err(map_err)?;
            let bytes = value.value();
            let from = skip.min(bytes.len());
            skip = 0;
            let take = (len - out.len()).min(bytes.len() - from);
            out.extend_from_slice(&bytes[from..from + take]);
        }
        Ok(Some(out))
    }

    /// Applies a batch atomically; returns only once it is durable (unless it is `lazy`).
    ///
    /// Inside the batch, in this order: `delete_docs` and `clear_pending`, then `put_docs`,
    /// `add_pending`, `remove_pending`, `cursors`, `delete_cursors`, `meta`, `delete_blobs`,
    /// `put_blobs`, `put_outbox`, `delete_outbox`. So a batch may reset a document
    /// (clear its pending changes) and write its new form, or add a change and see it
    /// acknowledged, in one step. On error nothing of the batch is applied.
    pub fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut txn = self.begin_write()?;
        if batch.lazy {
            txn.set_durability(Durability::None).map_err(map_err)?;
        }
        // On an error the transaction is dropped, which aborts it: nothing of the batch lands.
        apply(&txn, batch)?;
        txn.commit().map_err(map_err)
    }
}

/// All pending-change keys of one document.
fn doc_range(id: &DocId) -> std::ops::RangeInclusive<(&str, u64)> {
    (id.as_str(), 0)..=(id.as_str(), u64::MAX)
}

fn apply(txn: &redb::WriteTransaction, batch: WriteBatch) -> Result<(), StoreError> {
    let WriteBatch {
        put_docs,
        delete_docs,
        add_pending,
        remove_pending,
        clear_pending,
        cursors,
        delete_cursors,
        meta,
        put_blobs,
        put_outbox,
        delete_blobs,
        delete_outbox,
        lazy: _,
    } = batch;
    let mut docs = txn.open_table(DOCS).map_err(map_err)?;
    let mut index = txn.open_table(INDEX).map_err(map_err)?;
    let mut pending = txn.open_table(PENDING).map_err(map_err)?;

    for id in &delete_docs {
        docs.remove(id.as_str()).map_err(map_err)?;
        index.remove(id.as_str()).map_err(map_err)?;
        pending
            .retain_in(doc_range(id), |_, _| false)
            .map_err(map_err)?;
    }
    for id in &clear_pending {
        pending
            .retain_in(doc_range(id), |_, _| false)
            .map_err(map_err)?;
    }
    for (id, bytes, mut row) in put_docs {
        row.id = id.clone();
        let row = tables::encode("index row", &row)?;
        docs.insert(id.as_str(), bytes.as_slice())
            .map_err(map_err)?;
        index.insert(id.as_str(), row.as_slice()).map_err(map_err)?;
    }
    for (id, change) in &add_pending {
        // Next after the document's last change; removals never reorder what remains.
        let next = match pending.range(doc_range(id)).map_err(map_err)?.next_back() {
            Some(item) => {
                let (key, _) = item.map_err(map_err)?;
                key.value().1.checked_add(1).ok_or_else(|| {
                    StoreError::Corrupt(format!("pending sequence of {id} exhausted"))
                })?
            }
            None => 0,
        };
        let value = tables::encode("pending change", change)?;
        pending
            .insert((id.as_str(), next), value.as_slice())
            .map_err(map_err)?;
    }
    for (id, hash) in &remove_pending {
        // A document has few pending changes; find the acknowledged one by its hash.
        let mut acked = Vec::new();
        for item in pending.range(doc_range(id)).map_err(map_err)? {
            let (key, value) = item.map_err(map_err)?;
            if tables::decode_pending(id.as_str(), value.value())?.hash == *hash {
                acked.push(key.value().1);
            }
        }
        for seq in acked {
            pending.remove((id.as_str(), seq)).map_err(map_err)?;
        }
    }
    if !(cursors.is_empty() && delete_cursors.is_empty()) {
        let mut table = txn.open_table(CURSORS).map_err(map_err)?;
        for (scope, cursor) in &cursors {
            table.insert(scope.as_str(), *cursor).map_err(map_err)?;
        }
        for scope in &delete_cursors {
            table.remove(scope.as_str()).map_err(map_err)?;
        }
    }
    if !meta.is_empty() {
        let mut table = txn.open_table(META).map_err(map_err)?;
        for (key, value) in &meta {
            table
                .insert(key.as_str(), value.as_slice())
                .map_err(map_err)?;
        }
    }
    if !(put_blobs.is_empty()
        && delete_blobs.is_empty()
        && put_outbox.is_empty()
        && delete_outbox.is_empty())
    {
        let mut blobs = txn.open_table(BLOBS).map_err(map_err)?;
        for hash in &delete_blobs {
            blobs
                .retain_in((hash.as_str(), 0)..=(hash.as_str(), u64::MAX), |_, _| false)
                .map_err(map_err)?;
        }
        for (hash, bytes) in &put_blobs {
            if blobs.get((hash.as_str(), 0)).map_err(map_err)?.is_some() {
                continue;
            }
            for (n, chunk) in bytes.chunks(CHUNK_BYTES).enumerate() {
                blobs
                    .insert((hash.as_str(), n as u64), chunk)
                    .map_err(map_err)?;
            }
        }
        let mut outbox = txn.open_table(OUTBOX).map_err(map_err)?;
        for entry in &put_outbox {
            let value = tables::encode("outbox entry", entry)?;
            outbox
                .insert(entry.hash.as_str(), value.as_slice())
                .map_err(map_err)?;
        }
        for hash in &delete_outbox {
            outbox.remove(hash.as_str()).map_err(map_err)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

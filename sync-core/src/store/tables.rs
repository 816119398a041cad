//! The store's on-disk layout: redb table definitions, the value encodings, and the mapping
//! from redb's errors to [`StoreError`]. Kept apart from `mod.rs` so the layout (which is part
//! of the store format, versioned by [`FORMAT`]) is all in one place.

use super::{IndexEntry, PendingChange, StoreError};
use redb::TableDefinition;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The store format this code writes and understands. Bump it when the layout below changes
/// incompatibly; an older app then refuses the file with [`StoreError::TooNew`] instead of
/// misreading it.
pub(super) const FORMAT: u32 = 2;

/// Format 1 had no photo tables; opening it adds them (`Store::check_format`).
pub(super) const FORMAT_WITHOUT_PHOTOS: u32 = 1;

/// The one file of the store, inside the directory given to `Store::open`.
pub(super) const FILE_NAME: &str = "tarmim.redb";

/// A new store while it is being laid out, before it is linked to [`FILE_NAME`].
pub(super) const CREATING_NAME: &str = "tarmim.redb.creating";

/// Document id → the document's whole saved (automerge) form.
pub(super) const DOCS: TableDefinition<&str, &[u8]> = TableDefinition::new("docs");

/// Document id → its [`IndexEntry`], postcard-encoded. Kept apart from the documents so the
/// task list reads a few small pages instead of every document.
pub(super) const INDEX: TableDefinition<&str, &[u8]> = TableDefinition::new("index");

/// (document id, sequence) → [`PendingChange`], postcard-encoded. redb compares tuple keys
/// element by element (the `u64` numerically), so a range over one document yields its
/// changes in the order they were added.
pub(super) const PENDING: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("pending");

/// Scope → sync cursor.
pub(super) const CURSORS: TableDefinition<&str, u64> = TableDefinition::new("cursors");

/// The caller's settings (`WriteBatch::meta`, `Store::meta`).
pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// (blob hash, chunk number) → that chunk of the photo's bytes (at most
/// [`crate::outbox::CHUNK_BYTES`] each; the numbers count from 0 with no gap).
pub(super) const BLOBS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("blobs");

/// Blob hash → its [`crate::outbox::OutboxEntry`], postcard-encoded.
pub(super) const OUTBOX: TableDefinition<&str, &[u8]> = TableDefinition::new("outbox");

/// The store's own metadata. Separate from [`META`] so that no caller key (say, `"format"`)
/// can overwrite the format version.
pub(super) const STORE_INFO: TableDefinition<&str, u32> = TableDefinition::new("store_info");

/// Key of the format version in [`STORE_INFO`].
pub(super) const FORMAT_KEY: &str = "format";

pub(super) fn encode<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    // postcard only fails on types it cannot represent (unknown-length sequences), which these
    // plain structs are not; reported rather than unwrapped all the same.
    postcard::to_allocvec(value).map_err(|e| StoreError::Io(format!("encoding {what}: {e}")))
}

fn decode<T: DeserializeOwned>(what: &str, key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(bytes)
        .map_err(|e| StoreError::Corrupt(format!("{what} of {key:?} does not decode: {e}")))
}

pub(super) fn decode_index(key: &str, bytes: &[u8]) -> Result<IndexEntry, StoreError> {
    decode("index row", key, bytes)
}

pub(super) fn decode_outbox(
    key: &str,
    bytes: &[u8],
) -> Result<crate::outbox::OutboxEntry, StoreError> {
    decode("outbox entry", key, bytes)
}

pub(super) fn decode_pending(key: &str, bytes: &[u8]) -> Result<PendingChange, StoreError> {
    decode("pending change", key, bytes)
}

/// Maps any redb error to the store's error vocabulary. Never panics: unknown variants (redb's
/// error enums are `#[non_exhaustive]`) become [`StoreError::Io`] with redb's own message.
pub(super) fn map_err(err: impl Into<redb::Error>) -> StoreError {
    use redb::Error as E;
    let err: redb::Error = err.into();
    match err {
        // Another `Database` (this process or another) holds the file lock.
        E::DatabaseAlreadyOpen | E::LockProtocolMismatch => StoreError::Locked,
        E::Corrupted(msg) => StoreError::Corrupt(msg),
        E::UpgradeRequired(v) => StoreError::Corrupt(format!(
            "file uses redb file format {v}, which this version of redb cannot open"
        )),
        // Our tables exist but with other key/value types: not a Tarmim store (or one from a
        // format this code does not know).
        E::TableTypeMismatch { .. }
        | E::TypeDefinitionChanged { .. }
        | E::TableIsMultimap(_)
        | E::TableIsNotMultimap(_)
        | E::TableDoesNotExist(_) => StoreError::Corrupt(format!(
            "unexpected table layout, not a Tarmim store: {err}"
        )),
        // redb reports a file that does not start with its magic number as an InvalidData I/O
        // error, and a file shorter than its header as UnexpectedEof from a short read: both
        // are damaged store files, not I/O failures a retry could fix.
        E::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            StoreError::Corrupt(format!("{FILE_NAME} is not a Tarmim store: {io}"))
        }
        E::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            StoreError::Corrupt(format!("{FILE_NAME} is truncated: {io}"))
        }
        E::Io(io) => StoreError::Io(io.to_string()),
        other => StoreError::Io(other.to_string()),
    }
}

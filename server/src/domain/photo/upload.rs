//! Partial uploads, kept in the shared database so that every replica sees them: the
//! bytes of each unfinished upload in `photo_upload_chunks` (`storage::photos`), its
//! offset the sum of their lengths. A `PATCH` appends its body in chunks of [`CHUNK`]
//! bytes, each written in one transaction that locks the upload's row and checks the
//! offset first; whatever arrived before a connection broke is written and kept, so
//! the next `PATCH`, on this replica or another, continues from there. A replica that
//! dies mid-`PATCH` loses only the bytes it had not yet written, which it never
//! acknowledged: the phone asks `HEAD` for the offset and resumes on any replica.
//!
//! Two requests for one upload are kept apart twice: on one replica by a lock per hash
//! (the second waits instead of failing), and across replicas by that row lock and offset
//! check (a writer whose offset moved under it stops, and its client gets 409 and asks
//! `HEAD` again). Why the database and not a shared folder or pinning by the load
//! balancer: `docs/scaling.md`.

use crate::base::time::now_millis;
use crate::storage::photos as records;
use crate::storage::{Db, DbError};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use sync_core::Millis;
use tokio::sync::OwnedMutexGuard;

/// Bytes written per chunk row: a phone's own outbox chunk size, so a 4 MB photo is 16
/// rows and a broken connection loses at most this much of what reached the server.
pub const CHUNK: usize = 256 * 1024;

/// This replica's locks over the partial uploads in the database. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct UploadArea {
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The offset after it.
    pub offset: u64,
    /// The body went past the upload's length (the excess was not written).
    pub overflow: bool,
    /// The body broke off (the client disconnected); what arrived is kept.
    pub interrupted: bool,
    /// The upload's offset moved under this request (another replica appended, or the
    /// upload was finished or expired): nothing more was written.
    pub moved: bool,
}

/// Whether `s` is a content address: 64 lower-case hex digits.
pub fn is_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl UploadArea {
    /// An area with no locks held.
    pub fn new() -> UploadArea {
        UploadArea::default()
    }

    /// Takes this replica's lock of one upload, waiting at most `wait`; `None` if it
    /// stayed busy.
    pub async fn lock(&self, hash: &str, wait: Duration) -> Option<OwnedMutexGuard<()>> {
        let m = {
            let mut map = match self.locks.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            Arc::clone(map.entry(hash.to_owned()).or_default())
        };
        tokio::time::timeout(wait, m.lock_owned()).await.ok()
    }

    /// Bytes held for `hash` (0 if none).
    pub async fn offset(&self, db: &Db, hash: &str) -> Result<u64, DbError> {
        Ok(records::upload_received(db, hash)
            .await?
            .map_or(0, |(n, _)| u64::try_from(n).unwrap_or(0)))
    }

    /// Appends `body` at `at` (which the caller checked is the current offset), up to
    /// `length` bytes in all. Call with the upload's lock held.
    pub async fn append<E>(
        &self,
        db: &Db,
        hash: &str,
        at: u64,
        length: u64,
        body: impl Stream<Item = Result<Bytes, E>>,
    ) -> Result<Appended, DbError> {
        let mut out = Appended {
            offset: at,
            overflow: false,
            interrupted: false,
            moved: false,
        };
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
        let mut received = at;
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else {
                out.interrupted = true;
                break;
            };
            let room = usize::try_from(length.saturating_sub(received)).unwrap_or(usize::MAX);
            let take = chunk.len().min(room);
            buf.extend_from_slice(&chunk[..take]);
            received += take as u64;
            if buf.len() >= CHUNK && !self.write(db, hash, &mut out, &mut buf).await? {
                return Ok(out);
            }
            if take < chunk.len() {
                out.overflow = true;
                break;
            }
        }
        // What the answer reports as received is committed before the answer is sent.
        self.write(db, hash, &mut out, &mut buf).await?;
        Ok(out)
    }

    /// Writes `buf` at `out.offset` and empties it; false when the offset moved.
    async fn write(
        &self,
        db: &Db,
        hash: &str,
        out: &mut Appended,
        buf: &mut Vec<u8>,
    ) -> Result<bool, DbError> {
        if buf.is_empty() || out.moved {
            return Ok(!out.moved);
        }
        let at = i64::try_from(out.offset).unwrap_or(i64::MAX);
        if !records::append_upload_chunk(db, hash, at, buf, now_millis()).await? {
            out.moved = true;
            return Ok(false);
        }
        out.offset += buf.len() as u64;
        buf.clear();
        Ok(true)
    }

    /// The whole partial upload.
    pub async fn read(&self, db: &Db, hash: &str) -> Result<Vec<u8>, DbError> {
        records::upload_bytes(db, hash).await
    }

    /// When a chunk of the upload was last written, on any replica (`None` if never).
    pub async fn last_written(&self, db: &Db, hash: &str) -> Result<Option<Millis>, DbError> {
        Ok(records::upload_received(db, hash)
            .await?
            .and_then(|(_, at)| at))
    }

    /// Forgets the lock of a finished upload (call with it held).
    pub fn forget_lock(&self, hash: &str) {
        if let Ok(mut map) = self.locks.lock() {
            map.remove(hash);
        }
    }
}

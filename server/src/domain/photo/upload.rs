//! Partial uploads: the bytes of each unfinished upload in one file, `<sha256>.part`, in
//! the upload folder on local disk. A `PATCH` appends to it; whatever arrived before a
//! connection broke is synced and kept, so the next `PATCH` continues from there. One
//! upload is written by one request at a time (a lock per hash).
//!
//! With several replicas behind a load balancer the folder must be shared (or uploads
//! routed to one replica by hash): the finished photos themselves go to the shared
//! [`super::storage`].

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::io::AsyncWriteExt;
use tokio::sync::OwnedMutexGuard;

/// The folder of partial uploads.
#[derive(Debug, Clone)]
pub struct UploadArea {
    dir: PathBuf,
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
}

/// Whether `s` is a content address: 64 lower-case hex digits.
pub fn is_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl UploadArea {
    /// An area in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> UploadArea {
        UploadArea {
            dir: dir.into(),
            locks: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn path(&self, hash: &str) -> std::io::Result<PathBuf> {
        if !is_hash(hash) {
            return Err(std::io::Error::other("not a content address"));
        }
        Ok(self.dir.join(format!("{hash}.part")))
    }

    /// Takes the lock of one upload, waiting at most `wait`; `None` if it stayed busy.
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
    pub async fn offset(&self, hash: &str) -> std::io::Result<u64> {
        match tokio::fs::metadata(self.path(hash)?).await {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Appends `body` at `at` (which the caller checked is the current offset), up to
    /// `length` bytes in all. Call with the upload's lock held.
    pub async fn append<E>(
        &self,
        hash: &str,
        at: u64,
        length: u64,
        body: impl Stream<Item = Result<Bytes, E>>,
    ) -> std::io::Result<Appended> {
        tokio::fs::create_dir_all(&self.dir).await?;
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(hash)?)
            .await?;
        let mut offset = at;
        let mut overflow = false;
        let mut interrupted = false;
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else {
                interrupted = true;
                break;
            };
            let room = usize::try_from(length.saturating_sub(offset)).unwrap_or(usize::MAX);
            let take = chunk.len().min(room);
            file.write_all(&chunk[..take]).await?;
            offset += take as u64;
            if take < chunk.len() {
                overflow = true;
                break;
            }
        }
        file.flush().await?;
        // What the answer reports as received must survive a crash of the server.
        file.sync_data().await?;
        Ok(Appended {
            offset,
            overflow,
            interrupted,
        })
    }

    /// The whole partial upload.
    pub fn read_blocking(&self, hash: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.path(hash)?)
    }

    /// When the partial upload was last written (`None` if this replica holds none).
    pub async fn last_written(&self, hash: &str) -> std::io::Result<Option<SystemTime>> {
        match tokio::fs::metadata(self.path(hash)?).await {
            Ok(m) => Ok(Some(m.modified()?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Discards a partial upload.
    pub async fn remove(&self, hash: &str) -> std::io::Result<()> {
        match tokio::fs::remove_file(self.path(hash)?).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Forgets the lock of a finished upload (call with it held).
    pub fn forget_lock(&self, hash: &str) {
        if let Ok(mut map) = self.locks.lock() {
            map.remove(hash);
        }
    }
}

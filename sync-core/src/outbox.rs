//! The photo outbox: blobs waiting on the phone to be uploaded, and the sans-I/O state
//! machine a transport drives to upload them.
//!
//! A photo is content-addressed: its address is the lower-case hex SHA-256 of its bytes.
//! [`crate::session::device::Device::add_photo`] writes the blob (in chunks), its
//! [`OutboxEntry`] and the photo's reference in the task document in **one durable store
//! transaction**: after a crash either all three are there or none is. The reference then
//! travels with sync like any other edit; the blob travels separately, before or after it
//! (the server accepts either order).
//!
//! The transport (the mobile bindings; a test driver on the server side) does the I/O:
//!
//! 1. asks [`Device::due_uploads`](crate::session::device::Device::due_uploads) which
//!    blobs are due now;
//! 2. for each, asks the server how much it already holds (tus `HEAD`, or the `POST` that
//!    creates the upload) and reports it with `upload_progress`;
//! 3. reads the next byte range with `blob_range` and sends it (tus `PATCH`), reporting the
//!    server's new offset with `upload_progress` after each accepted chunk;
//! 4. reports `upload_complete` once the server says it has the whole blob, or
//!    `upload_failed` with an [`UploadFailure`]: a transient one schedules a retry with
//!    exponential back-off ([`Backoff`]), a refusal stops retrying.
//!
//! An entry whose upload completed stays in the outbox as [`UploadState::Uploaded`]: adding
//! the same bytes again (to this or another task) then never uploads them twice.
//! Sync-core never opens files: the app passes the photo's bytes.

use crate::ids::{DocId, Millis};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Blobs are stored (and best read) in chunks of this many bytes, so reading a byte range
/// touches only the chunks it needs and a phone never holds two copies of a large photo.
pub const CHUNK_BYTES: usize = 256 * 1024;

/// Largest photo the phone accepts into its outbox (the server's default limit too).
pub const MAX_PHOTO_BYTES: u64 = 32 * 1024 * 1024;

/// Where an upload stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum UploadState {
    /// Waiting to be (fully) uploaded; retried from `next_attempt_at`.
    Pending,
    /// The server holds the whole blob: never uploaded again.
    Uploaded,
    /// The server refused the blob for good (not an image, too large, out of scope); not
    /// retried unless [`requeued`](crate::session::device::Device::requeue_upload).
    Refused {
        /// The server's words.
        reason: String,
    },
}

/// One blob in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The blob's address: lower-case hex SHA-256 of its bytes.
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
    /// Content type, e.g. `image/jpeg`.
    pub mime: String,
    /// The tasks that reference this blob, first one first. An upload names the first (the
    /// server allows a device to upload a blob for a task in its scope).
    pub tasks: Vec<DocId>,
    /// When it entered the outbox.
    pub added_at: Millis,
    /// How many bytes the server has confirmed holding (its upload offset).
    pub confirmed: u64,
    /// Failed attempts since the last progress.
    pub attempts: u32,
    /// Not to be tried before this time.
    pub next_attempt_at: Millis,
    /// Where the upload stands.
    pub state: UploadState,
    /// The last failure, for the app to show.
    pub last_error: Option<String>,
}

impl OutboxEntry {
    /// The task the upload names (the first that referenced the blob).
    pub fn task(&self) -> Option<&DocId> {
        self.tasks.first()
    }

    /// Whether a transport should try this entry at `now`.
    pub fn is_due(&self, now: Millis) -> bool {
        self.state == UploadState::Pending && self.next_attempt_at <= now
    }

    /// Records the server's offset. Progress resets the back-off: the link works.
    pub fn record_progress(&mut self, confirmed: u64) {
        let confirmed = confirmed.min(self.size);
        if confirmed > self.confirmed {
            self.attempts = 0;
            self.last_error = None;
        }
        // The server is the authority on what it holds: it may also have lost a partial
        // upload (expired), in which case the offset goes back.
        self.confirmed = confirmed;
    }

    /// Records that the server holds the whole blob.
    pub fn record_complete(&mut self) {
        self.confirmed = self.size;
        self.state = UploadState::Uploaded;
        self.last_error = None;
    }

    /// Records a failed attempt at `now`.
    pub fn record_failure(&mut self, now: Millis, failure: UploadFailure, backoff: &Backoff) {
        match failure {
            UploadFailure::Retry(why) => {
                self.attempts = self.attempts.saturating_add(1);
                self.next_attempt_at = now.saturating_add(backoff.delay(self.attempts, &self.hash));
                self.last_error = Some(why);
            }
            UploadFailure::Refused(why) => {
                self.state = UploadState::Refused {
                    reason: why.clone(),
                };
                self.last_error = Some(why);
            }
        }
    }
}

/// How an upload attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadFailure {
    /// Worth retrying later: no network, a timeout, a 5xx, a 409 offset mismatch, a task
    /// the server does not know yet (its creation has not synced).
    Retry(String),
    /// The server refused the blob itself (4xx other than those): retrying cannot help.
    Refused(String),
}

/// Exponential back-off between failed attempts: `base * 2^(attempts-1)`, capped at `max`,
/// plus up to a quarter more of jitter derived from the blob's hash, so that a crew's
/// phones coming back online together do not retry in lockstep (deterministic: sync-core
/// has no clock or randomness of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure, ms.
    pub base_ms: Millis,
    /// Longest delay, ms.
    pub max_ms: Millis,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base_ms: 5_000,
            max_ms: 60 * 60 * 1000,
        }
    }
}

impl Backoff {
    /// The delay after the `attempts`-th consecutive failure of the blob `hash`.
    pub fn delay(&self, attempts: u32, hash: &str) -> Millis {
        let shift = attempts.saturating_sub(1).min(32);
        let raw = self
            .base_ms
            .max(1)
            .saturating_mul(1_i64 << shift)
            .min(self.max_ms.max(1));
        let seed = hash
            .bytes()
            .take(8)
            .fold(0_i64, |a, b| a.wrapping_mul(31).wrapping_add(i64::from(b)));
        let jitter = if raw >= 4 {
            seed.rem_euclid(raw / 4)
        } else {
            0
        };
        raw.saturating_add(jitter)
    }
}

/// What can be wrong with a photo handed to the outbox.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OutboxError {
    /// A 0-byte photo.
    #[error("a photo cannot be empty")]
    Empty,
    /// Larger than [`MAX_PHOTO_BYTES`].
    #[error("a photo of {size} bytes is larger than the limit of {max} bytes")]
    TooLarge {
        /// Size.
        size: u64,
        /// Limit.
        max: u64,
    },
    /// No such blob in the outbox.
    #[error("no blob {0} in the outbox")]
    UnknownBlob(String),
    /// A byte range past the blob's end.
    #[error("range {offset}+{len} is outside the blob's {size} bytes")]
    BadRange {
        /// Start.
        offset: u64,
        /// Length asked for.
        len: u64,
        /// Blob size.
        size: u64,
    },
}

/// The content address of `bytes`: lower-case hex SHA-256.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Checks a photo's bytes before they enter the outbox.
pub fn check_photo_bytes(bytes: &[u8]) -> Result<(), OutboxError> {
    if bytes.is_empty() {
        return Err(OutboxError::Empty);
    }
    let size = bytes.len() as u64;
    if size > MAX_PHOTO_BYTES {
        return Err(OutboxError::TooLarge {
            size,
            max: MAX_PHOTO_BYTES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> OutboxEntry {
        OutboxEntry {
            hash: content_hash(b"x"),
            size: 1000,
            mime: "image/jpeg".into(),
            tasks: vec![DocId::new("t1").unwrap()],
            added_at: 0,
            confirmed: 0,
            attempts: 0,
            next_attempt_at: 0,
            state: UploadState::Pending,
            last_error: None,
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Backoff {
            base_ms: 1000,
            max_ms: 10_000,
        };
        let h = content_hash(b"a");
        let d: Vec<Millis> = (1..=6).map(|n| b.delay(n, &h)).collect();
        for (n, d) in d.iter().enumerate() {
            let raw = (1000_i64 << n).min(10_000);
            assert!(*d >= raw && *d < raw + raw / 4 + 1, "{n}: {d}");
        }
        assert!(b.delay(u32::MAX, &h) <= 12_500);
    }

    #[test]
    fn failures_schedule_and_progress_resets() {
        let b = Backoff::default();
        let mut e = entry();
        e.record_failure(100, UploadFailure::Retry("offline".into()), &b);
        assert_eq!(e.attempts, 1);
        assert!(!e.is_due(100) && e.is_due(100 + 2 * b.base_ms));
        e.record_failure(100, UploadFailure::Retry("offline".into()), &b);
        assert_eq!(e.attempts, 2);
        e.record_progress(400);
        assert_eq!((e.attempts, e.confirmed), (0, 400));
        e.record_progress(5000);
        assert_eq!(e.confirmed, 1000, "never past the size");
        e.record_failure(0, UploadFailure::Refused("not an image".into()), &b);
        assert!(matches!(e.state, UploadState::Refused { .. }));
        assert!(!e.is_due(i64::MAX));
    }

    #[test]
    fn bad_bytes() {
        assert_eq!(check_photo_bytes(b""), Err(OutboxError::Empty));
        assert!(check_photo_bytes(b"x").is_ok());
        assert_eq!(
            content_hash(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}

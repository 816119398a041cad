//! The tus 1.0 upload flow (core protocol + `creation`) as the photo rules see it, with no
//! HTTP in it: `http::photos` reads the tus headers, calls one function here and writes
//! the answer's headers.
//!
//! - [`create`]: an upload names a task in one of the device's sync scopes; the same
//!   bytes are one upload (their SHA-256 is its address), so creating again finds the
//!   device's own upload, or the photo already stored for that task, instead of starting
//!   over; a device's unfinished uploads stay within its quota. An upload belongs to the
//!   device that created it: another device sending the same bytes waits until it is
//!   finished (409), then sends them for its own task, which gets its own attachment (a
//!   device proves it holds a photo by sending it once; knowing a hash is not enough).
//! - [`append`]: bytes are taken only from the upload's own device, at the server's
//!   offset, by one request at a time per upload; the request that brings the last byte
//!   finishes the upload ([`ingest::finish`]).
//! - [`progress`]: how much the server holds. Reading it also finishes an upload whose
//!   bytes are all there, which mends a crash between the last byte and the stored photo.

use super::ingest::{self, IngestError};
use super::upload::{Appended, is_hash};
use super::{PhotoError, PhotoFormat, Photos};
use crate::base::time::now_millis;
use crate::storage::photos::{self as records, UploadRow};
use crate::storage::{Db, DbError, DocStore};
use bytes::Bytes;
use futures_util::Stream;
use std::time::Duration;
use sync_core::session::ServerStore;
use sync_core::{DocId, ScopeId};

/// How long a request waits for another request on the same upload to finish.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// The photo kinds an upload may name.
pub const KINDS: [&str; 3] = ["before", "after", "evidence"];

/// Who uploads: the device, its user and the scopes the device syncs.
#[derive(Debug, Clone)]
pub struct Uploader {
    /// The device.
    pub device: String,
    /// Its user.
    pub user_id: String,
    /// The device's sync scopes: the tasks it may attach photos to.
    pub scopes: Vec<ScopeId>,
}

/// An upload as the device declares it.
#[derive(Debug, Clone)]
pub struct NewUpload {
    /// The blob's SHA-256 (64 lower-case hex digits): the upload's address.
    pub hash: String,
    /// The task the photo belongs to.
    pub task: String,
    /// The declared content type.
    pub mime: String,
    /// `before`, `after` or `evidence`, if given.
    pub kind: Option<String>,
    /// The photo's size in bytes.
    pub length: u64,
}

/// How far an upload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes the server holds.
    pub offset: u64,
    /// Bytes in all.
    pub length: u64,
}

/// Why an upload request was refused.
#[derive(Debug, thiserror::Error)]
pub enum TusError {
    /// A declared length of 0.
    #[error("a photo cannot be empty (Upload-Length: 0)")]
    Empty,
    /// A declared length over the per-blob limit.
    #[error("a photo of {length} bytes is over the limit of {max} bytes")]
    TooLarge {
        /// Declared.
        length: u64,
        /// The limit.
        max: u64,
    },
    /// A kind that is not one of [`KINDS`].
    #[error("photo kind {0:?} is not before, after or evidence")]
    Kind(String),
    /// A content type that is not accepted.
    #[error(transparent)]
    Unsupported(PhotoError),
    /// Not a task id.
    #[error("task id: {0}")]
    TaskId(String),
    /// The device syncs no scope (admins, the call centre).
    #[error("only a device that syncs tasks may upload photos")]
    NotSyncing,
    /// The task has not reached the server yet.
    #[error("task {0} is not known to the server yet: sync it, then retry")]
    UnknownTask(DocId),
    /// The task is in none of the device's scopes.
    #[error("task {0} is not in this device's scope")]
    OutOfScope(DocId),
    /// Created again with another length than the stored photo's.
    #[error("blob {hash} is stored with {stored} bytes, not {length}")]
    StoredLength {
        /// The address.
        hash: String,
        /// The stored photo's size.
        stored: i64,
        /// Declared now.
        length: u64,
    },
    /// Created again with another length than the upload's.
    #[error("upload {hash} was created with {created} bytes, not {length}")]
    CreatedLength {
        /// The address.
        hash: String,
        /// Declared first.
        created: i64,
        /// Declared now.
        length: u64,
    },
    /// The device's unfinished uploads would exceed its quota.
    #[error("this device's unfinished uploads would exceed {quota} bytes: finish them first")]
    Quota {
        /// The quota, bytes.
        quota: u64,
    },
    /// The user's unfinished uploads, all its devices together, would exceed the same
    /// quota (a fresh device id per login must not buy a fresh quota).
    #[error("this account's unfinished uploads would exceed {quota} bytes: finish them first")]
    UserQuota {
        /// The quota, bytes.
        quota: u64,
    },
    /// No such upload (nor photo).
    #[error("no such upload")]
    NoUpload,
    /// Another device's unfinished upload of the same bytes.
    #[error("another device is uploading these bytes; retry once it has finished")]
    OthersUpload,
    /// Bytes for another device's upload.
    #[error("this upload belongs to another device")]
    NotYours,
    /// Bytes for an upload that was never created.
    #[error("no such upload: create it with POST")]
    NotCreated,
    /// Another request held the upload for the whole wait while it was being finished.
    #[error("the upload is busy; retry")]
    Busy,
    /// Another request held the upload for the whole wait while it was writing, or
    /// appended (on another replica) while this one was.
    #[error("another request is writing this upload; ask HEAD for the offset and retry")]
    Writing,
    /// Bytes offered at another offset than the server's.
    #[error("Upload-Offset {at} is not the upload's offset {offset}: resume from {offset}")]
    WrongOffset {
        /// Where the request said its bytes start.
        at: u64,
        /// The server's offset.
        offset: u64,
    },
    /// The body went past the declared length (the bytes up to it were kept).
    #[error("the body goes past Upload-Length {length}; bytes up to it were kept")]
    Overflow {
        /// The declared length.
        length: u64,
    },
    /// Finishing the upload failed or refused the photo.
    #[error(transparent)]
    Ingest(IngestError),
    /// The task's scopes could not be read (logged).
    #[error("service unavailable")]
    Unavailable,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Creates an upload, or finds it (or the stored photo) again; answers its progress.
pub async fn create(
    db: &Db,
    photos: &Photos,
    who: &Uploader,
    new: NewUpload,
) -> Result<Progress, TusError> {
    let length = new.length;
    if length == 0 {
        return Err(TusError::Empty);
    }
    let max = photos.settings.max_bytes;
    if length > max {
        return Err(TusError::TooLarge { length, max });
    }
    if let Some(k) = &new.kind
        && !KINDS.contains(&k.as_str())
    {
        return Err(TusError::Kind(k.clone()));
    }
    PhotoFormat::from_mime(&new.mime).map_err(TusError::Unsupported)?;
    authorize(db, &who.scopes, &new.task).await?;
    let up = match records::upload(db, &new.hash).await? {
        Some(up) if up.device != who.device => return Err(TusError::OthersUpload),
        Some(up) => {
            if up.length as u64 != length {
                return Err(TusError::CreatedLength {
                    hash: up.hash,
                    created: up.length,
                    length,
                });
            }
            Some(up)
        }
        None => None,
    };
    if up.is_none()
        && let Some(p) = records::photo(db, &new.hash).await?
    {
        if p.bytes as u64 != length {
            return Err(TusError::StoredLength {
                hash: p.hash,
                stored: p.bytes,
                length,
            });
        }
        // Stored already: complete for a task it was sent for, or for any task of a
        // device that sent it once; anyone else sends the bytes (a new upload below).
        let attached = records::attachments_of(db, &new.hash).await?;
        if attached
            .iter()
            .any(|a| a.task == new.task || a.device == who.device)
        {
            if !attached.iter().any(|a| a.task == new.task) {
                ingest::attach(db, photos, p, &new.task, new.kind.as_deref(), &who.device)
                    .await
                    .map_err(TusError::Ingest)?;
            }
            return Ok(Progress {
                offset: length,
                length,
            });
        }
    }
    let up = match up {
        Some(up) => up,
        None => {
            let pending = records::device_pending_bytes(db, &who.device).await?;
            let quota = photos.settings.device_quota_bytes;
            if (pending as u64).saturating_add(length) > quota {
                return Err(TusError::Quota { quota });
            }
            let pending = records::user_pending_bytes(db, &who.user_id).await?;
            if (pending as u64).saturating_add(length) > quota {
                return Err(TusError::UserQuota { quota });
            }
            let up = UploadRow {
                hash: new.hash.clone(),
                task: new.task,
                kind: new.kind,
                mime: new.mime,
                length: i64::try_from(length).unwrap_or(i64::MAX),
                device: who.device.clone(),
                user_id: who.user_id.clone(),
                created_at: now_millis(),
            };
            records::insert_upload(db, &up).await?;
            // A concurrent create may have won; its row is the upload.
            let up = records::upload(db, &new.hash).await?.unwrap_or(up);
            if up.device != who.device {
                return Err(TusError::OthersUpload);
            }
            up
        }
    };
    Ok(Progress {
        offset: current_offset(db, photos, &up).await?,
        length,
    })
}

/// How much the server holds of the upload (or stored photo) at `hash`.
pub async fn progress(db: &Db, photos: &Photos, hash: &str) -> Result<Progress, TusError> {
    if !is_hash(hash) {
        return Err(TusError::NoUpload);
    }
    match find(db, hash).await? {
        Found::Photo(p) => Ok(p),
        Found::Upload(up) => Ok(Progress {
            offset: current_offset(db, photos, &up).await?,
            length: up.length as u64,
        }),
        Found::Nothing => Err(TusError::NoUpload),
    }
}

/// Appends `body` to the upload at `hash` if `at` is the server's offset; finishes the
/// upload when its last byte has arrived. A photo already stored takes nothing more.
pub async fn append<E>(
    db: &Db,
    photos: &Photos,
    who: &Uploader,
    hash: &str,
    at: u64,
    body: impl Stream<Item = Result<Bytes, E>>,
) -> Result<Progress, TusError> {
    if !is_hash(hash) {
        return Err(TusError::NoUpload);
    }
    let up = match find(db, hash).await? {
        Found::Photo(p) => return Ok(p),
        Found::Upload(up) => up,
        Found::Nothing => return Err(TusError::NotCreated),
    };
    if up.device != who.device {
        return Err(TusError::NotYours);
    }
    authorize(db, &who.scopes, &up.task).await?;
    let length = up.length as u64;
    let area = &photos.uploads;
    let guard = area.lock(hash, LOCK_WAIT).await.ok_or(TusError::Writing)?;
    let offset = area.offset(db, hash).await?;
    if at != offset {
        return Err(TusError::WrongOffset { at, offset });
    }
    let done = if offset < length {
        area.append(db, hash, offset, length, body).await?
    } else {
        Appended {
            offset,
            overflow: false,
            interrupted: false,
            moved: false,
        }
    };
    if done.interrupted {
        tracing::info!(hash = %hash, offset = done.offset, "upload interrupted; bytes kept");
    }
    if done.moved {
        // Another replica appended (or finished) meanwhile: the client asks HEAD again.
        return Err(TusError::Writing);
    }
    if done.overflow {
        return Err(TusError::Overflow { length });
    }
    if done.offset == length {
        finish(db, photos, &up).await?;
    }
    drop(guard);
    Ok(Progress {
        offset: done.offset,
        length,
    })
}

/// What a content address holds.
enum Found {
    /// A stored photo: complete.
    Photo(Progress),
    /// An unfinished upload.
    Upload(UploadRow),
    /// Nothing.
    Nothing,
}

/// An unfinished upload comes first: the photo may be stored already (for another task,
/// from another device) while this upload still proves its device holds the bytes.
async fn find(db: &Db, hash: &str) -> Result<Found, TusError> {
    if let Some(up) = records::upload(db, hash).await? {
        return Ok(Found::Upload(up));
    }
    Ok(match records::photo(db, hash).await? {
        Some(p) => {
            let n = p.bytes as u64;
            Found::Photo(Progress {
                offset: n,
                length: n,
            })
        }
        None => Found::Nothing,
    })
}

/// The task named by an upload must be in one of the device's sync scopes.
async fn authorize(db: &Db, scopes: &[ScopeId], task: &str) -> Result<DocId, TusError> {
    let id = DocId::new(task).map_err(|e| TusError::TaskId(e.to_string()))?;
    if scopes.is_empty() {
        return Err(TusError::NotSyncing);
    }
    if db.task_row(&id).await?.is_none() {
        return Err(TusError::UnknownTask(id));
    }
    let task_scopes = db.doc_scopes(&id).await.map_err(|e| {
        tracing::error!(error = %e, "reading a task's scopes");
        TusError::Unavailable
    })?;
    if task_scopes.iter().any(|s| scopes.contains(s)) {
        Ok(id)
    } else {
        Err(TusError::OutOfScope(id))
    }
}

/// Finishes an upload whose bytes are all there (idempotent; call with its lock held).
async fn finish(db: &Db, photos: &Photos, up: &UploadRow) -> Result<(), TusError> {
    ingest::finish(db, photos, up)
        .await
        .map_err(TusError::Ingest)?;
    photos.uploads.forget_lock(&up.hash);
    Ok(())
}

/// The offset of an upload; an upload whose bytes are all there is finished first (a
/// crash between receiving the last byte and storing the photo is mended here).
async fn current_offset(db: &Db, photos: &Photos, up: &UploadRow) -> Result<u64, TusError> {
    let length = up.length as u64;
    let offset = photos.uploads.offset(db, &up.hash).await?;
    if offset < length {
        return Ok(offset);
    }
    let _guard = photos
        .uploads
        .lock(&up.hash, LOCK_WAIT)
        .await
        .ok_or(TusError::Busy)?;
    if records::upload(db, &up.hash).await?.is_some() {
        finish(db, photos, up).await?;
    }
    Ok(length)
}

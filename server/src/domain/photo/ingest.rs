//! A finished upload becomes a stored photo: its bytes are hashed and must equal their
//! address; they are verified and processed on a worker slot; the original and the
//! derivatives are written to storage, then the `photos` row, and only then is the
//! partial upload discarded. Every step is idempotent, so a crash at any point is mended
//! by finishing again (the next `HEAD`, `POST` or empty `PATCH` does).
//!
//! A blob that fails the hash check or verification is discarded, with its upload row:
//! nothing is kept of bad input, and the phone gets a clear error.
//!
//! The blob is stored once per hash; each task it is uploaded for gets an attachment
//! (`photo_attachments`) with the uploading device and the flags against that task, so
//! the same bytes sent by a second device for its own task are that task's photo too.

use super::exif::ExifFacts;
use super::storage::{self, BlobStore};
use super::{PhotoError, PhotoFormat, Photos, Variant, flag, process};
use crate::base::geodesy;
use crate::base::time::now_millis;
use crate::storage::photos::{self as records, AttachmentRow, PhotoRow, UploadRow};
use crate::storage::{Db, DbError, DocStore};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use sync_core::DocId;

/// Why a finished upload was not stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The bytes' SHA-256 is not the upload's address (discarded).
    #[error("the uploaded bytes hash to {actual}, not to their address {expected}")]
    HashMismatch {
        /// The address.
        expected: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// Verification refused the blob (discarded).
    #[error(transparent)]
    Refused(PhotoError),
    /// No worker slot in time: retry.
    #[error("photo processing is busy; retry later")]
    Busy,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Anything else of ours.
    #[error("{0}")]
    Internal(String),
}

enum Checked {
    Mismatch(String),
    /// The bytes are a photo already stored: the upload proved the device holds them.
    Known,
    Good(Vec<u8>, super::Processed),
}

/// Discards a refused upload: its row and, with it, its bytes.
async fn discard(db: &Db, hash: &str) -> Result<(), IngestError> {
    records::delete_upload(db, hash).await?;
    Ok(())
}

fn etag(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..16])
}

/// Finishes a complete upload (call with its lock held and all its bytes received).
pub async fn finish(db: &Db, photos: &Photos, up: &UploadRow) -> Result<PhotoRow, IngestError> {
    let declared = match PhotoFormat::from_mime(&up.mime) {
        Ok(f) => f,
        Err(e) => {
            discard(db, &up.hash).await?;
            return Err(IngestError::Refused(e));
        }
    };
    let bytes = photos.uploads.read(db, &up.hash).await?;
    let settings = std::sync::Arc::clone(&photos.settings);
    let hash = up.hash.clone();
    let known = records::photo(db, &up.hash).await?;
    let is_known = known.is_some();
    let checked = photos
        .run_blocking(move || {
            let actual = hex::encode(Sha256::digest(&bytes));
            if actual != hash {
                return Ok(Checked::Mismatch(actual));
            }
            if is_known {
                return Ok(Checked::Known);
            }
            let p = process(&bytes, declared, &settings)?;
            Ok(Checked::Good(bytes, p))
        })
        .await;
    let (bytes, processed) = match (checked, known) {
        (Ok(Checked::Known), Some(stored)) => {
            let row = attach(db, photos, stored, &up.task, up.kind.as_deref(), &up.device).await?;
            records::delete_upload(db, &up.hash).await?;
            return Ok(row);
        }
        (Ok(Checked::Known), None) => {
            return Err(IngestError::Internal("a stored photo vanished".into()));
        }
        (Ok(Checked::Good(b, p)), _) => (b, p),
        (Ok(Checked::Mismatch(actual)), _) => {
            discard(db, &up.hash).await?;
            return Err(IngestError::HashMismatch {
                expected: up.hash.clone(),
                actual,
            });
        }
        (Err(PhotoError::Busy), _) => return Err(IngestError::Busy),
        (Err(PhotoError::Internal(m)), _) => return Err(IngestError::Internal(m)),
        (Err(e), _) => {
            discard(db, &up.hash).await?;
            return Err(IngestError::Refused(e));
        }
    };

    let row = store(
        db,
        photos,
        Stored {
            hash: &up.hash,
            task: &up.task,
            kind: up.kind.as_deref(),
            uploaded_by: &up.device,
        },
        bytes,
        processed,
    )
    .await?;
    records::delete_upload(db, &up.hash).await?;
    Ok(row)
}

/// What a processed photo is stored as.
struct Stored<'a> {
    hash: &'a str,
    task: &'a str,
    kind: Option<&'a str>,
    uploaded_by: &'a str,
}

/// Stores a verified, processed photo: the place-and-time flags against its task,
/// derivatives, original, then the `photos` row (in that order: a row means the public
/// derivatives exist). Returns the stored row (the first one if two stores raced).
async fn store(
    db: &Db,
    photos: &Photos,
    what: Stored<'_>,
    bytes: Vec<u8>,
    processed: super::Processed,
) -> Result<PhotoRow, IngestError> {
    let facts = processed.facts;
    let (flags, distance_m) = flags_for(db, photos, &facts, what.task).await?;

    let mut etags = (String::new(), String::new());
    for (variant, jpeg) in processed.derivatives {
        let tag = etag(&jpeg);
        match variant {
            Variant::Thumb => etags.0 = tag,
            Variant::Display => etags.1 = tag,
        }
        photos
            .storage
            .put(&storage::derived_key(what.hash, variant), Bytes::from(jpeg))
            .await?;
    }
    let size = bytes.len() as i64;
    photos
        .storage
        .put(&storage::original_key(what.hash), Bytes::from(bytes))
        .await?;
    let row = PhotoRow {
        hash: what.hash.to_owned(),
        task: what.task.to_owned(),
        kind: what.kind.map(str::to_owned),
        mime: processed.format.mime().to_owned(),
        bytes: size,
        width: i64::from(processed.width),
        height: i64::from(processed.height),
        uploaded_by: what.uploaded_by.to_owned(),
        uploaded_at: now_millis(),
        exif_taken_at: facts.taken_at,
        exif_lat: facts.point.map(|p| p.0),
        exif_lon: facts.point.map(|p| p.1),
        distance_m,
        far_from_task: flags.far_from_task,
        before_task: flags.before_task,
        thumb_etag: etags.0,
        display_etag: etags.1,
    };
    records::insert_photo(db, &row).await?;
    let attachment = AttachmentRow {
        hash: row.hash.clone(),
        task: row.task.clone(),
        kind: row.kind.clone(),
        device: row.uploaded_by.clone(),
        attached_at: row.uploaded_at,
        distance_m,
        far_from_task: flags.far_from_task,
        before_task: flags.before_task,
    };
    records::insert_attachment(db, &attachment).await?;
    if flags.any() {
        tracing::info!(hash = %row.hash, task = %row.task, far = flags.far_from_task,
            early = flags.before_task, "photo flagged by its EXIF place or time");
    }
    Ok(records::photo_for_task(db, what.hash, what.task)
        .await?
        .unwrap_or(row))
}

/// The place-and-time flags of a photo's EXIF facts against `task` as the server holds
/// it now, and the distance from its point.
async fn flags_for(
    db: &Db,
    photos: &Photos,
    facts: &ExifFacts,
    task: &str,
) -> Result<(flag::Flags, Option<f64>), IngestError> {
    let task = match DocId::new(task) {
        Ok(id) => db.task_row(&id).await?,
        Err(_) => None,
    };
    Ok(match &task {
        Some(t) => (
            flag::check(facts, (t.lat, t.lon), t.created_at, &photos.settings.flag),
            facts.point.map(|p| geodesy::distance_m(p, (t.lat, t.lon))),
        ),
        None => (flag::Flags::default(), None),
    })
}

/// Attaches a stored photo to one more task it was sent for, with its flags against
/// that task (idempotent).
pub(super) async fn attach(
    db: &Db,
    photos: &Photos,
    stored: PhotoRow,
    task: &str,
    kind: Option<&str>,
    device: &str,
) -> Result<PhotoRow, IngestError> {
    let facts = ExifFacts {
        taken_at: stored.exif_taken_at,
        point: stored.exif_lat.zip(stored.exif_lon),
    };
    let (flags, distance_m) = flags_for(db, photos, &facts, task).await?;
    let a = AttachmentRow {
        hash: stored.hash.clone(),
        task: task.to_owned(),
        kind: kind.map(str::to_owned),
        device: device.to_owned(),
        attached_at: now_millis(),
        distance_m,
        far_from_task: flags.far_from_task,
        before_task: flags.before_task,
    };
    records::insert_attachment(db, &a).await?;
    Ok(records::photo_for_task(db, &stored.hash, task)
        .await?
        .unwrap_or_else(|| a.over(stored)))
}

/// A photo that arrives whole in one request (a citizen's "not fixed" photo) or is made
/// on the server (the demo city): its type is sniffed from its bytes, then it is verified,
/// stripped and derived on a worker slot and stored like a finished upload. Nothing is
/// stored when it is refused.
pub async fn ingest_bytes(
    db: &Db,
    photos: &Photos,
    bytes: Vec<u8>,
    task: &str,
    kind: Option<&str>,
    uploaded_by: &str,
) -> Result<PhotoRow, IngestError> {
    if bytes.is_empty() {
        return Err(IngestError::Refused(PhotoError::Invalid(
            "the photo is empty".into(),
        )));
    }
    let settings = std::sync::Arc::clone(&photos.settings);
    let checked = photos
        .run_blocking(move || {
            let format = super::verify::sniff(&bytes)?;
            let p = process(&bytes, format, &settings)?;
            let hash = hex::encode(Sha256::digest(&bytes));
            Ok((hash, bytes, p))
        })
        .await;
    let (hash, bytes, processed) = match checked {
        Ok(x) => x,
        Err(PhotoError::Busy) => return Err(IngestError::Busy),
        Err(PhotoError::Internal(m)) => return Err(IngestError::Internal(m)),
        Err(e) => return Err(IngestError::Refused(e)),
    };
    if let Some(row) = records::photo(db, &hash).await? {
        return attach(db, photos, row, task, kind, uploaded_by).await;
    }
    store(
        db,
        photos,
        Stored {
            hash: &hash,
            task,
            kind,
            uploaded_by,
        },
        bytes,
        processed,
    )
    .await
}

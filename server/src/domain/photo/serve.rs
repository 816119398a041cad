//! Stored photos handed out: the public derivatives (no metadata) to anyone; the original
//! and the photo's facts (EXIF time and point, flags) only to dispatchers and managers
//! whose districts include a task the photo was uploaded for **and** whose document
//! references it (a photo attaches to a task only then). `http::photos` writes the
//! answers.

use super::storage::{self, BlobStore, StorageError};
use super::upload::is_hash;
use super::{Photos, Variant};
use crate::domain::identity::UserRole;
use crate::storage::photos::{self as records, PhotoRow};
use crate::storage::{Db, DbError, DocStore};
use bytes::Bytes;
use sync_core::DocId;

/// Who asks for a private photo: their role and districts.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Role.
    pub role: UserRole,
    /// Districts, for dispatchers and managers.
    pub districts: Vec<String>,
}

/// Why a photo is not handed out.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Not a size offered.
    #[error("no photo size {0:?}")]
    NoSize(String),
    /// No such photo.
    #[error("no such photo")]
    NoPhoto,
    /// Originals are not for this role.
    #[error("originals are for dispatchers and managers")]
    NotStaff,
    /// The photo's task is outside the viewer's districts.
    #[error("the photo's task is not in your districts")]
    OutOfDistrict,
    /// A stored photo's file is missing: ours to mend (logged, never shown).
    #[error("{what} of {hash} missing from storage")]
    Missing {
        /// `original` or `derivative`.
        what: &'static str,
        /// The photo.
        hash: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The task's document could not be read.
    #[error(transparent)]
    Store(sync_core::session::ServerStoreError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A public derivative.
#[derive(Debug, Clone)]
pub enum Derivative {
    /// The asker holds it already (its entity tag matched).
    Unchanged {
        /// The entity tag.
        etag: String,
    },
    /// The JPEG.
    Bytes {
        /// The entity tag.
        etag: String,
        /// The JPEG, with no metadata.
        bytes: Bytes,
    },
}

/// The `size` (`thumb`, `display`) of photo `hash`; `held(etag)` says whether the asker
/// holds the version with that entity tag already (then storage is not read).
pub async fn derivative(
    db: &Db,
    photos: &Photos,
    hash: &str,
    size: &str,
    held: impl FnOnce(&str) -> bool,
) -> Result<Derivative, ServeError> {
    let variant = Variant::parse(size).ok_or_else(|| ServeError::NoSize(size.to_owned()))?;
    let p = stored(db, hash).await?;
    let etag = match variant {
        Variant::Thumb => p.thumb_etag,
        Variant::Display => p.display_etag,
    };
    if held(&etag) {
        return Ok(Derivative::Unchanged { etag });
    }
    let bytes = photos
        .storage
        .get(&storage::derived_key(hash, variant))
        .await?
        .ok_or_else(|| ServeError::Missing {
            what: "derivative",
            hash: hash.to_owned(),
        })?;
    Ok(Derivative::Bytes { etag, bytes })
}

/// The original bytes of photo `hash`, with its row (which says their content type).
pub async fn original(
    db: &Db,
    photos: &Photos,
    viewer: &Viewer,
    hash: &str,
) -> Result<(PhotoRow, Bytes), ServeError> {
    let p = facts(db, viewer, hash).await?;
    let bytes = photos
        .storage
        .get(&storage::original_key(hash))
        .await?
        .ok_or_else(|| ServeError::Missing {
            what: "original",
            hash: hash.to_owned(),
        })?;
    Ok((p, bytes))
}

/// Photo `hash`'s facts (the same access as its original), as seen from the first task
/// of the viewer's districts it is attached to: uploaded for it and referenced by its
/// document.
pub async fn facts(db: &Db, viewer: &Viewer, hash: &str) -> Result<PhotoRow, ServeError> {
    if !matches!(viewer.role, UserRole::Dispatcher | UserRole::Manager) {
        return Err(ServeError::NotStaff);
    }
    let p = stored(db, hash).await?;
    for a in records::attachments_of(db, hash).await? {
        let Ok(id) = DocId::new(a.task.as_str()) else {
            continue;
        };
        let in_district = db
            .task_row(&id)
            .await?
            .and_then(|t| t.district)
            .is_some_and(|d| viewer.districts.contains(&d));
        if in_district && references(db, &id, hash).await? {
            return Ok(a.over(p));
        }
    }
    Err(ServeError::OutOfDistrict)
}

/// Whether task `id`'s document references photo `hash`.
async fn references(db: &Db, id: &DocId, hash: &str) -> Result<bool, ServeError> {
    let Some(stored) = sync_core::session::ServerStore::load(db, id)
        .await
        .map_err(ServeError::Store)?
    else {
        return Ok(false);
    };
    Ok(sync_core::task::TaskDoc::load(&stored.bytes)
        .ok()
        .and_then(|t| t.view().ok())
        .is_some_and(|v| v.photos.iter().any(|r| r.hash == hash)))
}

/// The stored photo a task document's reference (photo `hash`, added from `device`)
/// shows: the photo as uploaded for this task, or else as uploaded by that same device
/// for another of its tasks (a phone uploads a blob once, naming the first task that
/// referenced it; its flags are then against that task). `None`: nobody who referenced it
/// here has sent its bytes, so the task does not show it.
pub async fn for_reference(
    db: &Db,
    task: &str,
    hash: &str,
    device: &str,
) -> Result<Option<PhotoRow>, DbError> {
    if let Some(p) = records::photo_for_task(db, hash, task).await? {
        return Ok(Some(p));
    }
    let Some(sent) = records::attachments_of(db, hash)
        .await?
        .into_iter()
        .find(|a| a.device == device)
    else {
        return Ok(None);
    };
    Ok(records::photo(db, hash).await?.map(|p| PhotoRow {
        task: task.to_owned(),
        ..sent.over(p)
    }))
}

async fn stored(db: &Db, hash: &str) -> Result<PhotoRow, ServeError> {
    if !is_hash(hash) {
        return Err(ServeError::NoPhoto);
    }
    records::photo(db, hash).await?.ok_or(ServeError::NoPhoto)
}

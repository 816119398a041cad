//! Stored photos handed out: the public derivatives (no metadata) to anyone; the original
//! and the photo's facts (EXIF time and point, flags) only to dispatchers and managers
//! whose districts include the photo's task. `http::photos` writes the answers.

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

/// Photo `hash`'s facts (the same access as its original).
pub async fn facts(db: &Db, viewer: &Viewer, hash: &str) -> Result<PhotoRow, ServeError> {
    if !matches!(viewer.role, UserRole::Dispatcher | UserRole::Manager) {
        return Err(ServeError::NotStaff);
    }
    let p = stored(db, hash).await?;
    let district = match DocId::new(p.task.as_str()) {
        Ok(id) => db.task_row(&id).await?.and_then(|t| t.district),
        Err(_) => None,
    };
    match district {
        Some(d) if viewer.districts.contains(&d) => Ok(p),
        _ => Err(ServeError::OutOfDistrict),
    }
}

async fn stored(db: &Db, hash: &str) -> Result<PhotoRow, ServeError> {
    if !is_hash(hash) {
        return Err(ServeError::NoPhoto);
    }
    records::photo(db, hash).await?.ok_or(ServeError::NoPhoto)
}

//! Reading a photo file the app hands over and describing it for the task document.

use crate::error::TarmimError;
use sha2::{Digest, Sha256};
use std::path::Path;
use sync_core::task::{GeoPoint, PhotoKind, PhotoRef, TaskError};
use sync_core::{Actor, Millis};

/// The largest photo file accepted (a 12-megapixel JPEG is 3–8 MiB).
pub(crate) const MAX_PHOTO_BYTES: u64 = 32 * 1024 * 1024;

/// Reads the file at `path`: it must exist, be a non-empty image no larger than
/// [`MAX_PHOTO_BYTES`].
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, TarmimError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| TarmimError::invalid(format!("photo file {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(TarmimError::invalid(format!(
            "photo path {} is not a file",
            path.display()
        )));
    }
    if meta.len() > MAX_PHOTO_BYTES {
        return Err(TarmimError::invalid(format!(
            "photo file {} has {} bytes, more than the limit of {MAX_PHOTO_BYTES}",
            path.display(),
            meta.len()
        )));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| TarmimError::invalid(format!("photo file {}: {e}", path.display())))?;
    mime_of(&bytes).ok_or_else(|| {
        TarmimError::invalid(format!(
            "photo file {} is not a JPEG, PNG or WebP image",
            path.display()
        ))
    })?;
    Ok(bytes)
}

/// The image type, from the file's first bytes.
pub(crate) fn mime_of(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Where a photo was taken: both coordinates or neither.
pub(crate) fn point(lat: Option<f64>, lon: Option<f64>) -> Result<Option<GeoPoint>, TarmimError> {
    match (lat, lon) {
        (None, None) => Ok(None),
        (Some(lat), Some(lon)) => Ok(Some(GeoPoint {
            lat,
            lon,
            accuracy_m: None,
        })),
        _ => Err(TarmimError::invalid(
            "give both lat and lon of where the photo was taken, or neither",
        )),
    }
}

/// The photo's reference in the task: content hash, kind, size, type, author.
pub(crate) fn reference(
    bytes: &[u8],
    kind: PhotoKind,
    taken_at: Option<Millis>,
    taken_point: Option<GeoPoint>,
    actor: &Actor,
    at: Millis,
) -> Result<PhotoRef, TaskError> {
    let mime = mime_of(bytes).ok_or_else(|| TaskError::Invalid("not an image".into()))?;
    Ok(PhotoRef {
        hash: hex::encode(Sha256::digest(bytes)),
        kind,
        taken_at,
        taken_point,
        author: actor.user.clone(),
        device: actor.device.to_string(),
        bytes: bytes.len() as u64,
        mime: mime.into(),
        added_at: at,
    })
}

//! Reading a photo file the app hands over (sync-core never opens files).

use crate::error::TarmimError;
use std::path::Path;
use sync_core::outbox::MAX_PHOTO_BYTES;
use sync_core::task::GeoPoint;

/// Reads the file at `path` and tells its type: it must exist and be a JPEG, PNG or WebP
/// image no larger than [`MAX_PHOTO_BYTES`] (sync-core refuses an empty one).
pub(crate) fn read(path: &Path) -> Result<(Vec<u8>, &'static str), TarmimError> {
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
    let mime = mime_of(&bytes).ok_or_else(|| {
        TarmimError::invalid(format!(
            "photo file {} is not a JPEG, PNG or WebP image",
            path.display()
        ))
    })?;
    Ok((bytes, mime))
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

//! Photos uploaded with an Open311 POST (`media[]`, GeoReport v2.1 draft), through the
//! server's photo pipeline ([`crate::domain::photo`]): the type sniffed from the bytes, decoded
//! under the limits on a worker slot (a decompression bomb or a corrupt file is refused
//! before the report is filed), EXIF read, derivatives made without metadata; then, once
//! the task exists, the original and derivatives are stored, the `photos` row written
//! and the photo referenced in the task as `evidence`.
//!
//! A `media_url` is different: it is stored as given and never fetched (fetching URLs a
//! client names would let it make the server request internal addresses).

use super::Open311Error;
use crate::base::geodesy;
use crate::base::time::now_millis;
use crate::domain::citizen::Citizens;
use crate::domain::dispatch::edit;
use crate::domain::photo::storage::{self, BlobStore};
use crate::domain::photo::{PhotoError, Processed, Variant, flag, process, verify};
use crate::storage::photos::{self as records, AttachmentRow, PhotoRow};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use sync_core::task::{GeoPoint, PhotoKind, PhotoRef};
use sync_core::{Actor, DocId};

/// A verified photo waiting for its task.
pub struct Checked {
    hash: String,
    bytes: Vec<u8>,
    processed: Processed,
}

/// Verifies and processes one uploaded file (before the report is filed).
pub async fn check(c: &Citizens<'_>, bytes: Vec<u8>) -> Result<Checked, Open311Error> {
    let settings = std::sync::Arc::clone(&c.photos.settings);
    let max = c.open311.max_media_bytes;
    if bytes.len() as u64 > max {
        return Err(Open311Error::TooLarge(format!(
            "a media file is at most {max} bytes"
        )));
    }
    let done = c
        .photos
        .run_blocking(move || {
            let format = verify::sniff(&bytes)?;
            let processed = process(&bytes, format, &settings)?;
            Ok((bytes, processed))
        })
        .await;
    let (bytes, processed) = match done {
        Ok(v) => v,
        Err(PhotoError::TooLarge(m)) => return Err(Open311Error::TooLarge(m)),
        Err(PhotoError::Invalid(m) | PhotoError::Unsupported(m)) => {
            return Err(Open311Error::BadRequest(format!("media: {m}")));
        }
        Err(PhotoError::Busy) => {
            return Err(Open311Error::Busy(
                "photo processing is busy; retry later".into(),
            ));
        }
        Err(PhotoError::Internal(m)) => return Err(Open311Error::Internal(m)),
    };
    let hash = hex::encode(Sha256::digest(&bytes));
    Ok(Checked {
        hash,
        bytes,
        processed,
    })
}

/// Stores checked photos for `task` and references them in its document as evidence.
/// The task is already durable: a failure here is logged, and the report stands.
pub async fn attach(
    c: &Citizens<'_>,
    task: &DocId,
    point: (f64, f64),
    actor: &Actor,
    photos: Vec<Checked>,
) {
    if photos.is_empty() {
        return;
    }
    let mut refs = Vec::new();
    for p in photos {
        match store(c, task, point, actor, p).await {
            Ok(r) => refs.push(r),
            Err(e) => {
                tracing::error!(task = %task, error = %e, "storing an Open311 photo failed");
            }
        }
    }
    if refs.is_empty() {
        return;
    }
    let done = edit::edit(c.dispatch, task, |doc, _| {
        for r in &refs {
            doc.add_photo(actor, r.clone())?;
        }
        Ok(Some(()))
    })
    .await;
    if let Err(e) = done {
        tracing::error!(task = %task, error = %e, "referencing Open311 photos in the task failed");
    }
}

async fn store(
    c: &Citizens<'_>,
    task: &DocId,
    point: (f64, f64),
    actor: &Actor,
    p: Checked,
) -> Result<PhotoRef, String> {
    let Checked {
        hash,
        bytes,
        processed,
    } = p;
    let now = now_millis();
    let facts = processed.facts;
    let flags = flag::check(&facts, point, now, &c.photos.settings.flag);
    let mut etags = (String::new(), String::new());
    for (variant, jpeg) in processed.derivatives {
        let tag = hex::encode(&Sha256::digest(&jpeg)[..16]);
        match variant {
            Variant::Thumb => etags.0 = tag,
            Variant::Display => etags.1 = tag,
        }
        c.photos
            .storage
            .put(&storage::derived_key(&hash, variant), Bytes::from(jpeg))
            .await
            .map_err(|e| e.to_string())?;
    }
    let size = bytes.len();
    c.photos
        .storage
        .put(&storage::original_key(&hash), Bytes::from(bytes))
        .await
        .map_err(|e| e.to_string())?;
    let mime = processed.format.mime().to_owned();
    records::insert_photo(
        &c.dispatch.store,
        &PhotoRow {
            hash: hash.clone(),
            task: task.to_string(),
            kind: Some("evidence".into()),
            mime: mime.clone(),
            bytes: size as i64,
            width: i64::from(processed.width),
            height: i64::from(processed.height),
            uploaded_by: actor.device.to_string(),
            uploaded_at: now,
            exif_taken_at: facts.taken_at,
            exif_lat: facts.point.map(|p| p.0),
            exif_lon: facts.point.map(|p| p.1),
            distance_m: facts.point.map(|p| geodesy::distance_m(p, point)),
            far_from_task: flags.far_from_task,
            before_task: flags.before_task,
            thumb_etag: etags.0,
            display_etag: etags.1,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    // Attached to this task, as an upload is: what makes it the task's photo to serve
    // (the tracking page's, staff's originals), also when the same bytes were stored
    // before for another report.
    records::insert_attachment(
        &c.dispatch.store,
        &AttachmentRow {
            hash: hash.clone(),
            task: task.to_string(),
            kind: Some("evidence".into()),
            device: actor.device.to_string(),
            attached_at: now,
            distance_m: facts.point.map(|p| geodesy::distance_m(p, point)),
            far_from_task: flags.far_from_task,
            before_task: flags.before_task,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(PhotoRef {
        hash,
        kind: PhotoKind::Evidence,
        taken_at: facts.taken_at,
        taken_point: facts.point.map(|(lat, lon)| GeoPoint {
            lat,
            lon,
            accuracy_m: None,
        }),
        author: actor.user.clone(),
        device: actor.device.to_string(),
        bytes: size as u64,
        mime,
        added_at: now,
    })
}

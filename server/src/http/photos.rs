//! Photo endpoints: tus 1.0 resumable uploads (core protocol + `creation`) addressed by
//! the blob's SHA-256, public derivatives, and originals for dispatchers and managers in
//! scope. The protocol, statuses and limits are documented in `server/README.md`
//! ("Photos"); the work is in [`crate::domain::photo`].

use crate::base::time::now_millis;
use crate::domain::identity::{Identity, UserRole};
use crate::domain::photo::ingest::{self, IngestError};
use crate::domain::photo::storage::{self, BlobStore};
use crate::domain::photo::upload::is_hash;
use crate::domain::photo::{PhotoError, PhotoFormat, Variant};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi::ErrorBody;
use crate::storage::DocStore;
use crate::storage::photos::{self as records, PhotoRow, UploadRow};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Serialize;
use std::time::Duration;
use sync_core::DocId;
use sync_core::session::ServerStore;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The tus version spoken.
const TUS_VERSION: &str = "1.0.0";
/// Where uploads live.
const UPLOADS: &str = "/api/v1/photos/uploads";
/// How long a `PATCH` waits for another request on the same upload to finish.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// The photo routes.
pub fn router(_state: &AppState) -> OpenApiRouter<AppState> {
    let uploads = OpenApiRouter::new()
        .routes(routes!(discover, create))
        .routes(routes!(status, append))
        .layer(axum::middleware::map_response(tus_headers));
    OpenApiRouter::new()
        .merge(uploads)
        .routes(routes!(meta))
        .routes(routes!(original))
        .routes(routes!(derivative))
}

async fn tus_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn check_tus(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get("tus-resumable").map(|v| v.as_bytes()) {
        Some(b"1.0.0") => Ok(()),
        _ => Err(ApiError::PreconditionFailed(
            "this server speaks tus 1.0.0: send `Tus-Resumable: 1.0.0`".into(),
        )),
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Result<u64, ApiError> {
    let v = headers
        .get(name)
        .ok_or_else(|| ApiError::BadRequest(format!("missing `{name}` header")))?;
    v.to_str()
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::BadRequest(format!("`{name}` must be a non-negative integer")))
}

fn offset_response(status: StatusCode, offset: u64, length: Option<u64>) -> Response {
    let mut resp = status.into_response();
    let h = resp.headers_mut();
    h.insert("upload-offset", HeaderValue::from(offset));
    if let Some(l) = length {
        h.insert("upload-length", HeaderValue::from(l));
    }
    resp
}

/// tus discovery.
#[utoipa::path(options, path = "/api/v1/photos/uploads", tag = "photos",
    responses((status = 204, description = "`Tus-Version: 1.0.0`, `Tus-Extension: creation`, `Tus-Max-Size`")))]
async fn discover(State(state): State<AppState>) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    h.insert("tus-extension", HeaderValue::from_static("creation"));
    h.insert(
        "tus-max-size",
        HeaderValue::from(state.photos.settings.max_bytes),
    );
    resp
}

/// `Upload-Metadata` of a photo upload.
struct Metadata {
    hash: String,
    task: String,
    mime: String,
    kind: Option<String>,
}

fn parse_metadata(headers: &HeaderMap) -> Result<Metadata, ApiError> {
    let raw = headers
        .get("upload-metadata")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::BadRequest("missing `Upload-Metadata` header".into()))?;
    let (mut hash, mut task, mut mime, mut kind) = (None, None, None, None);
    for pair in raw.split(',') {
        let mut it = pair.trim().splitn(2, ' ');
        let key = it.next().unwrap_or_default();
        let value = it.next().unwrap_or_default().trim();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "`Upload-Metadata` value of {key:?} is not base64 UTF-8"
                ))
            })?;
        match key {
            "sha256" => hash = Some(decoded),
            "task" => task = Some(decoded),
            "filetype" => mime = Some(decoded),
            "kind" => kind = Some(decoded),
            _ => {}
        }
    }
    let hash = hash.filter(|h| is_hash(h)).ok_or_else(|| {
        ApiError::BadRequest("`Upload-Metadata` needs `sha256`: 64 lower-case hex digits".into())
    })?;
    let task = task.ok_or_else(|| ApiError::BadRequest("`Upload-Metadata` needs `task`".into()))?;
    let mime =
        mime.ok_or_else(|| ApiError::BadRequest("`Upload-Metadata` needs `filetype`".into()))?;
    if let Some(k) = &kind
        && !["before", "after", "evidence"].contains(&k.as_str())
    {
        return Err(ApiError::BadRequest(format!(
            "photo kind {k:?} is not before, after or evidence"
        )));
    }
    Ok(Metadata {
        hash,
        task,
        mime,
        kind,
    })
}

/// The task named by an upload must be in one of the caller's sync scopes.
async fn authorize(state: &AppState, who: &Identity, task: &str) -> Result<DocId, ApiError> {
    let id = DocId::new(task).map_err(|e| ApiError::BadRequest(format!("task id: {e}")))?;
    let scopes = who.scopes(state.config.crew_sees_district_open);
    if scopes.is_empty() {
        return Err(ApiError::Forbidden(
            "only a device that syncs tasks may upload photos".into(),
        ));
    }
    if state.db.task_row(&id).await?.is_none() {
        return Err(ApiError::Conflict(format!(
            "task {id} is not known to the server yet: sync it, then retry"
        )));
    }
    let task_scopes = state.db.doc_scopes(&id).await.map_err(|e| {
        tracing::error!(error = %e, "reading a task's scopes");
        ApiError::Unavailable
    })?;
    if task_scopes.iter().any(|s| scopes.contains(s)) {
        Ok(id)
    } else {
        Err(ApiError::Forbidden(format!(
            "task {id} is not in this device's scope"
        )))
    }
}

fn ingest_error(e: IngestError) -> ApiError {
    match e {
        IngestError::HashMismatch { .. } => ApiError::ChecksumMismatch(format!(
            "{e}; the upload was discarded: start again from offset 0"
        )),
        IngestError::Refused(PhotoError::Busy) | IngestError::Busy => {
            ApiError::Busy("photo processing is busy; retry later".into())
        }
        IngestError::Refused(
            p @ (PhotoError::Invalid(_) | PhotoError::Unsupported(_) | PhotoError::TooLarge(_)),
        ) => ApiError::Unprocessable(format!("{p}; the upload was discarded")),
        IngestError::Refused(PhotoError::Internal(m)) | IngestError::Internal(m) => {
            ApiError::Internal(m)
        }
        IngestError::Storage(s) => ApiError::Internal(s.to_string()),
        IngestError::Db(d) => ApiError::Db(d),
    }
}

/// Finishes an upload whose bytes are all there (idempotent).
async fn finish(state: &AppState, up: &UploadRow) -> Result<PhotoRow, ApiError> {
    let row = ingest::finish(&state.db, &state.photos, up)
        .await
        .map_err(ingest_error)?;
    state.photos.uploads.forget_lock(&up.hash);
    Ok(row)
}

/// tus creation: `POST /api/v1/photos/uploads`.
#[utoipa::path(post, path = "/api/v1/photos/uploads", tag = "photos", operation_id = "create_upload", security(("bearer" = [])),
    params(
        ("Tus-Resumable" = Option<String>, Header, description = "Must be `1.0.0`"),
        ("Upload-Length" = Option<String>, Header, description = "The photo's size in bytes"),
        ("Upload-Metadata" = Option<String>, Header, description = "`sha256 <b64>,task <b64>,filetype <b64>[,kind <b64>]`"),
    ),
    responses(
        (status = 201, description = "Created (or already there): `Location`, `Upload-Offset`"),
        (status = 400, description = "Missing or malformed headers", body = ErrorBody),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
        (status = 403, description = "The task is not in the device's scope", body = ErrorBody),
        (status = 409, description = "The task is not known to the server yet", body = ErrorBody),
        (status = 412, description = "No `Tus-Resumable: 1.0.0`", body = ErrorBody),
        (status = 413, description = "Over the per-blob limit", body = ErrorBody),
        (status = 415, description = "Not a JPEG, PNG or WebP", body = ErrorBody),
        (status = 429, description = "Over the device's upload quota", body = ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    who: Identity,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_tus(&headers)?;
    let length = header_u64(&headers, "upload-length")?;
    if length == 0 {
        return Err(ApiError::BadRequest(
            "a photo cannot be empty (Upload-Length: 0)".into(),
        ));
    }
    let max = state.photos.settings.max_bytes;
    if length > max {
        return Err(ApiError::PayloadTooLarge(format!(
            "a photo of {length} bytes is over the limit of {max} bytes"
        )));
    }
    let meta = parse_metadata(&headers)?;
    PhotoFormat::from_mime(&meta.mime)
        .map_err(|e| ApiError::UnsupportedMediaType(e.to_string()))?;
    authorize(&state, &who, &meta.task).await?;
    let location = format!("{UPLOADS}/{}", meta.hash);
    let created = |offset: u64| -> Result<Response, ApiError> {
        let mut resp = offset_response(StatusCode::CREATED, offset, Some(length));
        resp.headers_mut().insert(
            header::LOCATION,
            HeaderValue::from_str(&location).map_err(|e| ApiError::Internal(e.to_string()))?,
        );
        Ok(resp)
    };
    if let Some(p) = records::photo(&state.db, &meta.hash).await? {
        if p.bytes as u64 != length {
            return Err(ApiError::BadRequest(format!(
                "blob {} is stored with {} bytes, not {length}",
                p.hash, p.bytes
            )));
        }
        return created(length);
    }
    let existing = records::upload(&state.db, &meta.hash).await?;
    let up = match existing {
        Some(up) => {
            if up.length as u64 != length {
                return Err(ApiError::BadRequest(format!(
                    "upload {} was created with {} bytes, not {length}",
                    up.hash, up.length
                )));
            }
            up
        }
        None => {
            let pending = records::device_pending_bytes(&state.db, who.device.as_str()).await?;
            let quota = state.photos.settings.device_quota_bytes;
            if (pending as u64).saturating_add(length) > quota {
                return Err(ApiError::TooManyRequests(format!(
                    "this device's unfinished uploads would exceed {quota} bytes: finish them first"
                )));
            }
            let up = UploadRow {
                hash: meta.hash.clone(),
                task: meta.task.clone(),
                kind: meta.kind.clone(),
                mime: meta.mime.clone(),
                length: i64::try_from(length).unwrap_or(i64::MAX),
                device: who.device.as_str().to_owned(),
                user_id: who.user_id.clone(),
                created_at: now_millis(),
            };
            records::insert_upload(&state.db, &up).await?;
            // A concurrent create may have won; its row is the upload.
            records::upload(&state.db, &meta.hash).await?.unwrap_or(up)
        }
    };
    let offset = current_offset(&state, &up).await?;
    created(offset)
}

/// The offset of an upload; an upload whose bytes are all there is finished first (a
/// crash between receiving the last byte and storing the photo is mended here).
async fn current_offset(state: &AppState, up: &UploadRow) -> Result<u64, ApiError> {
    let length = up.length as u64;
    let offset = state
        .photos
        .uploads
        .offset(&up.hash)
        .await
        .map_err(|e| ApiError::Internal(format!("upload area: {e}")))?;
    if offset < length {
        return Ok(offset);
    }
    let _guard = state
        .photos
        .uploads
        .lock(&up.hash, LOCK_WAIT)
        .await
        .ok_or_else(|| ApiError::Conflict("the upload is busy; retry".into()))?;
    if records::photo(&state.db, &up.hash).await?.is_none() {
        finish(state, up).await?;
    }
    Ok(length)
}

/// tus `HEAD`: how much the server holds.
#[utoipa::path(head, path = "/api/v1/photos/uploads/{hash}", tag = "photos", security(("bearer" = [])),
    params(("hash" = String, Path, description = "The blob's SHA-256, 64 lower-case hex digits"), ("Tus-Resumable" = Option<String>, Header, description = "Must be `1.0.0`")),
    responses(
        (status = 200, description = "`Upload-Offset` and `Upload-Length`"),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
        (status = 404, description = "No such upload or blob"),
        (status = 412, description = "No `Tus-Resumable: 1.0.0`"),
    ))]
async fn status(
    State(state): State<AppState>,
    _who: Identity,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_tus(&headers)?;
    if !is_hash(&hash) {
        return Err(ApiError::NotFound("no such upload".into()));
    }
    if let Some(p) = records::photo(&state.db, &hash).await? {
        let n = p.bytes as u64;
        return Ok(offset_response(StatusCode::OK, n, Some(n)));
    }
    let up = records::upload(&state.db, &hash)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such upload".into()))?;
    let offset = current_offset(&state, &up).await?;
    Ok(offset_response(
        StatusCode::OK,
        offset,
        Some(up.length as u64),
    ))
}

/// tus `PATCH`: bytes from `Upload-Offset` on.
#[utoipa::path(patch, path = "/api/v1/photos/uploads/{hash}", tag = "photos", security(("bearer" = [])),
    params(("hash" = String, Path, description = "The blob's SHA-256, 64 lower-case hex digits"), ("Tus-Resumable" = Option<String>, Header, description = "Must be `1.0.0`"),
        ("Upload-Offset" = Option<String>, Header, description = "Where these bytes start"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses(
        (status = 204, description = "Stored up to the new `Upload-Offset` (the photo is verified and stored when complete)"),
        (status = 400, description = "Missing or malformed `Upload-Offset`", body = ErrorBody),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
        (status = 403, description = "The task is not in the device's scope", body = ErrorBody),
        (status = 404, description = "No such upload", body = ErrorBody),
        (status = 409, description = "`Upload-Offset` is not the server's offset", body = ErrorBody),
        (status = 412, description = "No `Tus-Resumable: 1.0.0`", body = ErrorBody),
        (status = 413, description = "Past `Upload-Length`", body = ErrorBody),
        (status = 415, description = "Not `application/offset+octet-stream`", body = ErrorBody),
        (status = 422, description = "Not a valid image of the declared type", body = ErrorBody),
        (status = 460, description = "The bytes do not hash to the address", body = ErrorBody),
        (status = 503, description = "Photo processing is busy", body = ErrorBody),
    ))]
async fn append(
    State(state): State<AppState>,
    who: Identity,
    Path(hash): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    check_tus(&headers)?;
    if headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes())
        != Some(b"application/offset+octet-stream")
    {
        return Err(ApiError::UnsupportedMediaType(
            "a PATCH body must be `Content-Type: application/offset+octet-stream`".into(),
        ));
    }
    let at = header_u64(&headers, "upload-offset")?;
    if !is_hash(&hash) {
        return Err(ApiError::NotFound("no such upload".into()));
    }
    if let Some(p) = records::photo(&state.db, &hash).await? {
        // Already stored: nothing to append.
        return Ok(offset_response(
            StatusCode::NO_CONTENT,
            p.bytes as u64,
            None,
        ));
    }
    let up = records::upload(&state.db, &hash)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such upload: create it with POST".into()))?;
    authorize(&state, &who, &up.task).await?;
    let length = up.length as u64;
    let area = &state.photos.uploads;
    let guard = area
        .lock(&hash, LOCK_WAIT)
        .await
        .ok_or_else(|| ApiError::Conflict("another request is writing this upload".into()))?;
    let offset = area
        .offset(&hash)
        .await
        .map_err(|e| ApiError::Internal(format!("upload area: {e}")))?;
    if at != offset {
        let mut resp = ApiError::Conflict(format!(
            "Upload-Offset {at} is not the upload's offset {offset}: resume from {offset}"
        ))
        .into_response();
        resp.headers_mut()
            .insert("upload-offset", HeaderValue::from(offset));
        return Ok(resp);
    }
    let done = if offset < length {
        area.append(&hash, offset, length, body.into_data_stream())
            .await
            .map_err(|e| ApiError::Internal(format!("upload area: {e}")))?
    } else {
        crate::domain::photo::upload::Appended {
            offset,
            overflow: false,
            interrupted: false,
        }
    };
    if done.interrupted {
        tracing::info!(hash = %hash, offset = done.offset, "upload interrupted; bytes kept");
    }
    if done.overflow {
        return Err(ApiError::PayloadTooLarge(format!(
            "the body goes past Upload-Length {length}; bytes up to it were kept"
        )));
    }
    if done.offset == length {
        finish(&state, &up).await?;
    }
    drop(guard);
    Ok(offset_response(StatusCode::NO_CONTENT, done.offset, None))
}

/// A public derivative: anyone may fetch it; it carries no metadata.
#[utoipa::path(get, path = "/api/v1/photos/{hash}/{variant}", tag = "photos",
    params(("hash" = String, Path, description = "The blob's SHA-256, 64 lower-case hex digits"),
        ("variant" = String, Path, description = "`thumb` (320 px) or `display` (1280 px)"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer"),
    ),
    responses(
        (status = 200, description = "JPEG with no metadata", content_type = "image/jpeg", body = Vec<u8>),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No such photo or size", body = ErrorBody),
    ))]
async fn derivative(
    State(state): State<AppState>,
    Path((hash, variant)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let variant = Variant::parse(&variant)
        .ok_or_else(|| ApiError::NotFound(format!("no photo size {variant:?}")))?;
    if !is_hash(&hash) {
        return Err(ApiError::NotFound("no such photo".into()));
    }
    let p = records::photo(&state.db, &hash)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such photo".into()))?;
    let etag = format!(
        "\"{}\"",
        match variant {
            Variant::Thumb => &p.thumb_etag,
            Variant::Display => &p.display_etag,
        }
    );
    let cache = HeaderValue::from_static("public, max-age=31536000, immutable");
    let etag_value = HeaderValue::from_str(&etag).map_err(|e| ApiError::Internal(e.to_string()))?;
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        resp.headers_mut().insert(header::ETAG, etag_value);
        resp.headers_mut().insert(header::CACHE_CONTROL, cache);
        return Ok(resp);
    }
    let bytes = state
        .photos
        .storage
        .get(&storage::derived_key(&hash, variant))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .ok_or_else(|| ApiError::Internal(format!("derivative of {hash} missing from storage")))?;
    let mut resp = Body::from(bytes).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    h.insert(header::ETAG, etag_value);
    h.insert(header::CACHE_CONTROL, cache);
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}

/// Originals and metadata: dispatchers and managers whose districts include the task.
async fn private_photo(state: &AppState, who: &Identity, hash: &str) -> Result<PhotoRow, ApiError> {
    if !matches!(who.role, UserRole::Dispatcher | UserRole::Manager) {
        return Err(ApiError::Forbidden(
            "originals are for dispatchers and managers".into(),
        ));
    }
    if !is_hash(hash) {
        return Err(ApiError::NotFound("no such photo".into()));
    }
    let p = records::photo(&state.db, hash)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such photo".into()))?;
    let district = match DocId::new(p.task.as_str()) {
        Ok(id) => state.db.task_row(&id).await?.and_then(|t| t.district),
        Err(_) => None,
    };
    match district {
        Some(d) if who.districts.contains(&d) => Ok(p),
        _ => Err(ApiError::Forbidden(
            "the photo's task is not in your districts".into(),
        )),
    }
}

/// The original bytes, private.
#[utoipa::path(get, path = "/api/v1/photos/{hash}/original", tag = "photos", security(("bearer" = [])),
    params(("hash" = String, Path, description = "The blob's SHA-256, 64 lower-case hex digits")),
    responses(
        (status = 200, description = "The uploaded bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
        (status = 403, description = "Not a dispatcher or manager of the task's district", body = ErrorBody),
        (status = 404, description = "No such photo", body = ErrorBody),
    ))]
async fn original(
    State(state): State<AppState>,
    who: Identity,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let p = private_photo(&state, &who, &hash).await?;
    let bytes = state
        .photos
        .storage
        .get(&storage::original_key(&hash))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .ok_or_else(|| ApiError::Internal(format!("original of {hash} missing from storage")))?;
    let mut resp = Body::from(bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&p.mime).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}

/// A photo's facts as JSON.
#[derive(Serialize, ToSchema)]
struct PhotoMeta {
    hash: String,
    task: String,
    kind: Option<String>,
    mime: String,
    bytes: i64,
    width: i64,
    height: i64,
    uploaded_at: i64,
    exif_taken_at: Option<i64>,
    exif_lat: Option<f64>,
    exif_lon: Option<f64>,
    distance_m: Option<f64>,
    far_from_task: bool,
    before_task: bool,
}

/// A photo's facts (same access as the original).
#[utoipa::path(get, path = "/api/v1/photos/{hash}", tag = "photos", security(("bearer" = [])),
    params(("hash" = String, Path, description = "The blob's SHA-256, 64 lower-case hex digits")),
    responses(
        (status = 200, description = "Size, type, dimensions, EXIF time and point, flags", body = PhotoMeta),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
        (status = 403, description = "Not a dispatcher or manager of the task's district", body = ErrorBody),
        (status = 404, description = "No such photo", body = ErrorBody),
    ))]
async fn meta(
    State(state): State<AppState>,
    who: Identity,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let p = private_photo(&state, &who, &hash).await?;
    let mut resp = axum::Json(PhotoMeta {
        hash: p.hash,
        task: p.task,
        kind: p.kind,
        mime: p.mime,
        bytes: p.bytes,
        width: p.width,
        height: p.height,
        uploaded_at: p.uploaded_at,
        exif_taken_at: p.exif_taken_at,
        exif_lat: p.exif_lat,
        exif_lon: p.exif_lon,
        distance_m: p.distance_m,
        far_from_task: p.far_from_task,
        before_task: p.before_task,
    })
    .into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(resp)
}

//! Photo endpoints: tus 1.0 resumable uploads (core protocol + `creation`) addressed by
//! the blob's SHA-256, public derivatives, and originals for dispatchers and managers in
//! scope. The protocol, statuses and limits are documented in `server/README.md`
//! ("Photos"). The rules are [`crate::domain::photo::tus`]'s (uploads) and
//! [`crate::domain::photo::serve`]'s (who sees what); this module reads the tus and
//! caching headers and writes the answers'.

use crate::domain::identity::Identity;
use crate::domain::photo::serve::{self, Derivative, Viewer};
use crate::domain::photo::tus::{self, NewUpload, Progress, TusError, Uploader};
use crate::domain::photo::upload::is_hash;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi::{ErrorBody, Unauthorized};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The tus version spoken.
const TUS_VERSION: &str = "1.0.0";
/// Where uploads live.
const UPLOADS: &str = "/api/v1/photos/uploads";

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

/// The upload a `POST` declares: `Upload-Length` and `Upload-Metadata` (`sha256`, `task`,
/// `filetype` and optionally `kind`, each base64). The photo rules check the values.
fn parse_upload(headers: &HeaderMap) -> Result<NewUpload, ApiError> {
    let length = header_u64(headers, "upload-length")?;
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
    Ok(NewUpload {
        hash,
        task,
        mime,
        kind,
        length,
    })
}

/// The caller as the upload rules see it: its device and the scopes it syncs.
fn uploader(state: &AppState, who: &Identity) -> Uploader {
    Uploader {
        device: who.device.as_str().to_owned(),
        user_id: who.user_id.clone(),
        scopes: who.scopes(state.config.crew_sees_district_open),
    }
}

/// The caller as the private photo rules see it: its role and districts.
fn viewer(who: Identity) -> Viewer {
    Viewer {
        role: who.role,
        districts: who.districts,
    }
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
        Unauthorized,
        (status = 403, description = "The task is not in the device's scope", body = ErrorBody),
        (status = 409, description = "The task is not known to the server yet, or another device is uploading the same bytes (retry once it has finished)", body = ErrorBody),
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
    let upload = parse_upload(&headers)?;
    let location = format!("{UPLOADS}/{}", upload.hash);
    let Progress { offset, length } =
        tus::create(&state.db, &state.photos, &uploader(&state, &who), upload).await?;
    let mut resp = offset_response(StatusCode::CREATED, offset, Some(length));
    resp.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&location).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(resp)
}

/// tus `HEAD`: how much the server holds.
#[utoipa::path(head, path = "/api/v1/photos/uploads/{hash}", tag = "photos", security(("bearer" = [])),
    params(("hash" = String, Path, description = "The blob's SHA-256, 64 lower-case hex digits"), ("Tus-Resumable" = Option<String>, Header, description = "Must be `1.0.0`")),
    responses(
        (status = 200, description = "`Upload-Offset` and `Upload-Length`"),
        Unauthorized,
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
    let Progress { offset, length } = tus::progress(&state.db, &state.photos, &hash).await?;
    Ok(offset_response(StatusCode::OK, offset, Some(length)))
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
        Unauthorized,
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
    let appended = tus::append(
        &state.db,
        &state.photos,
        &uploader(&state, &who),
        &hash,
        at,
        body.into_data_stream(),
    )
    .await;
    match appended {
        Ok(p) => Ok(offset_response(StatusCode::NO_CONTENT, p.offset, None)),
        // The answer tells the client where to resume.
        Err(e @ TusError::WrongOffset { offset, .. }) => {
            let mut resp = ApiError::from(e).into_response();
            resp.headers_mut()
                .insert("upload-offset", HeaderValue::from(offset));
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
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
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    let held = |etag: &str| {
        if_none_match.is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == quoted(etag) || t.trim() == "*")
        })
    };
    let found = serve::derivative(&state.db, &state.photos, &hash, &variant, held).await?;
    let cache = HeaderValue::from_static("public, max-age=31536000, immutable");
    let (mut resp, etag) = match found {
        Derivative::Unchanged { etag } => (StatusCode::NOT_MODIFIED.into_response(), etag),
        Derivative::Bytes { etag, bytes } => {
            let mut resp = Body::from(bytes).into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            (resp, etag)
        }
    };
    let etag =
        HeaderValue::from_str(&quoted(&etag)).map_err(|e| ApiError::Internal(e.to_string()))?;
    let h = resp.headers_mut();
    h.insert(header::ETAG, etag);
    h.insert(header::CACHE_CONTROL, cache);
    Ok(resp)
}

/// An entity tag as HTTP writes it.
fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

/// The original bytes, private.
#[utoipa::path(get, path = "/api/v1/photos/{hash}/original", tag = "photos", security(("bearer" = [])),
    params(("hash" = String, Path, description = "The blob's SHA-256, 64 lower-case hex digits")),
    responses(
        (status = 200, description = "The uploaded bytes", content_type = "application/octet-stream", body = Vec<u8>),
        Unauthorized,
        (status = 403, description = "Not a dispatcher or manager of the task's district", body = ErrorBody),
        (status = 404, description = "No such photo", body = ErrorBody),
    ))]
async fn original(
    State(state): State<AppState>,
    who: Identity,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let audit_who = crate::domain::audit::Who::of(&who);
    let (p, bytes) = serve::original(&state.db, &state.photos, &viewer(who), &hash).await?;
    crate::domain::audit::record(
        &state.db,
        &audit_who,
        "photo_original",
        Some(&hash),
        serde_json::json!({"task": p.task}),
    )
    .await;
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
        Unauthorized,
        (status = 403, description = "Not a dispatcher or manager of the task's district", body = ErrorBody),
        (status = 404, description = "No such photo", body = ErrorBody),
    ))]
async fn meta(
    State(state): State<AppState>,
    who: Identity,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let p = serve::facts(&state.db, &viewer(who), &hash).await?;
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

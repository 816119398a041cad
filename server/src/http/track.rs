//! The citizens' tracking page and its API (design §6), no login and no cookie:
//! `GET /track/{code}` (the page), `GET /api/v1/track/{code}` (what the page shows),
//! `POST /api/v1/track/{code}/rating` and `POST /api/v1/track/{code}/not-fixed`. The
//! work is in [`crate::domain::citizen::public_view`] and [`crate::domain::citizen::feedback`].
//!
//! Every answer carries `Cache-Control: no-store` and `Referrer-Policy: no-referrer`
//! (the code is in the URL). An unknown code and text that cannot be a code get the same
//! 404. Requests naming a code are limited per client address
//! (`TARMIM_TRACK_LOOKUPS_PER_MINUTE`; 429 with `Retry-After` beyond).

use crate::domain::citizen::feedback::{self, Recorded};
use crate::domain::citizen::lookups::Lookups;
use crate::domain::citizen::public_view::{self, TrackError, TrackView};
use crate::domain::photo::PhotoError;
use crate::http::AppState;
use crate::http::client::ClientAddr;
use crate::http::error::ApiError;
use axum::extract::multipart::{Field, Multipart, MultipartRejection};
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The tracking routes (page and API) with their OpenAPI entries.
pub fn router() -> OpenApiRouter<AppState> {
    let lookups = Arc::new(Lookups::new());
    // The multipart route reads its photo under the photo size limit itself, chunk by
    // chunk, so axum's default 2 MB body limit is lifted there only.
    let uploads = OpenApiRouter::new()
        .routes(routes!(not_fixed))
        .layer(DefaultBodyLimit::disable());
    OpenApiRouter::new()
        .routes(routes!(page))
        .routes(routes!(page_without_code))
        .routes(routes!(view))
        .routes(routes!(rate))
        .merge(uploads)
        .layer(Extension(lookups))
}

/// A refusal as the tracking API answers it: the usual JSON error body, never cached.
#[derive(Debug)]
pub struct Refusal(TrackError);

impl From<TrackError> for Refusal {
    fn from(e: TrackError) -> Self {
        Refusal(e)
    }
}

/// The error body (as everywhere: `{"error": <code>, "message": <plain words>}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code (`not_found`, `bad_request`, `conflict`, …).
    pub error: String,
    /// Plain words.
    pub message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let retry = match &self.0 {
            TrackError::TooMany(s) => Some(*s),
            _ => None,
        };
        let api = match self.0 {
            e @ TrackError::UnknownCode => ApiError::NotFound(e.to_string()),
            TrackError::Invalid(m) => ApiError::BadRequest(m),
            TrackError::NotOpen(m) => ApiError::Unprocessable(m),
            TrackError::Already(m) => ApiError::Conflict(m),
            TrackError::Photo(p) => match p {
                PhotoError::Invalid(m) => ApiError::Unprocessable(format!("the photo: {m}")),
                PhotoError::Unsupported(m) => ApiError::UnsupportedMediaType(m),
                PhotoError::TooLarge(m) => ApiError::PayloadTooLarge(format!("the photo: {m}")),
                PhotoError::Busy => ApiError::Busy("photo processing is busy; retry".into()),
                PhotoError::Internal(m) => ApiError::Internal(m),
            },
            e @ TrackError::TooMany(_) => ApiError::TooManyRequests(e.to_string()),
            TrackError::Db(e) => ApiError::Db(e),
            TrackError::Dispatch(e) => e.into(),
        };
        let mut resp = api.into_response();
        private(resp.headers_mut());
        if let Some(s) = retry {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

fn private(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

fn limit(state: &AppState, lookups: &Lookups, client: ClientAddr) -> Result<(), Refusal> {
    Ok(lookups.admit(client.0, state.config.track_lookups_per_minute)?)
}

fn json_private<T: Serialize>(status: StatusCode, body: T) -> Response {
    let mut resp = (status, Json(body)).into_response();
    private(resp.headers_mut());
    resp
}

/// The tracking page for one code.
#[utoipa::path(
    get,
    path = "/track/{code}",
    params(("code" = String, Path, description = "The tracking code (`XXXX-XXXX-XXXX`; case, dashes and spaces do not matter)")),
    responses((status = 200, description = "The page (HTML; its script reads the code from the URL)", content_type = "text/html")),
    tag = "tracking"
)]
pub async fn page(Path(_code): Path<String>) -> Response {
    crate::http::pages::track::page()
}

/// The tracking page without a code: a form to type one.
#[utoipa::path(
    get,
    path = "/track",
    responses((status = 200, description = "The page (HTML) with a form for the code", content_type = "text/html")),
    tag = "tracking"
)]
pub async fn page_without_code() -> Response {
    crate::http::pages::track::page()
}

/// What the tracking page shows for a code.
#[utoipa::path(
    get,
    path = "/api/v1/track/{code}",
    params(("code" = String, Path, description = "The tracking code")),
    responses(
        (status = 200, description = "The report's public view", body = TrackView),
        (status = 404, description = "No report has this code (also for text that cannot be a code)", body = ErrorBody),
        (status = 429, description = "Too many tracking-code requests from this address (`Retry-After`)", body = ErrorBody),
    ),
    tag = "tracking"
)]
pub async fn view(
    State(state): State<AppState>,
    Extension(lookups): Extension<Arc<Lookups>>,
    client: ClientAddr,
    Path(code): Path<String>,
) -> Result<Response, Refusal> {
    limit(&state, &lookups, client)?;
    let v = public_view::view(&state.citizens(), &code).await?;
    Ok(json_private(StatusCode::OK, v))
}

/// A rating.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingRequest {
    /// 1 to 5.
    pub stars: i64,
    /// Optional words (at most 1000 characters).
    #[serde(default)]
    pub comment: String,
}

/// Rates the completed work (once per code, within the feedback window).
#[utoipa::path(
    post,
    path = "/api/v1/track/{code}/rating",
    params(("code" = String, Path, description = "The tracking code")),
    request_body(content = RatingRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Recorded", body = Recorded),
        (status = 400, description = "Stars not 1 to 5, a comment too long, a malformed body", body = ErrorBody),
        (status = 404, description = "No report has this code", body = ErrorBody),
        (status = 409, description = "This code already rated the report", body = ErrorBody),
        (status = 422, description = "Not completed yet, or the feedback window has closed", body = ErrorBody),
        (status = 429, description = "Too many tracking-code requests from this address", body = ErrorBody),
    ),
    tag = "tracking"
)]
pub async fn rate(
    State(state): State<AppState>,
    Extension(lookups): Extension<Arc<Lookups>>,
    client: ClientAddr,
    Path(code): Path<String>,
    body: Result<Json<RatingRequest>, JsonRejection>,
) -> Result<Response, Refusal> {
    limit(&state, &lookups, client)?;
    let Json(req) = body.map_err(|e| TrackError::Invalid(e.body_text()))?;
    let done = feedback::rate(&state.citizens(), &code, req.stars, &req.comment).await?;
    Ok(json_private(StatusCode::CREATED, done))
}

/// The "not fixed" form: a photo and optional words.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct NotFixedForm {
    /// A photo of the problem as it is now (JPEG, PNG or WebP).
    #[schema(value_type = String, format = Binary)]
    pub photo: Vec<u8>,
    /// Optional words (at most 1000 characters).
    pub comment: Option<String>,
}

/// Says the work did not fix the problem: reopens the task (once per code, within the
/// feedback window).
#[utoipa::path(
    post,
    path = "/api/v1/track/{code}/not-fixed",
    params(("code" = String, Path, description = "The tracking code")),
    request_body(content = NotFixedForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Reopened", body = Recorded),
        (status = 400, description = "No photo, a malformed form, a comment too long", body = ErrorBody),
        (status = 404, description = "No report has this code", body = ErrorBody),
        (status = 409, description = "This code already said the report is not fixed", body = ErrorBody),
        (status = 413, description = "The photo is over the size or pixel limit", body = ErrorBody),
        (status = 415, description = "The photo is not JPEG, PNG or WebP", body = ErrorBody),
        (status = 422, description = "Not completed yet, the window has closed, or the photo is corrupt", body = ErrorBody),
        (status = 429, description = "Too many tracking-code requests from this address", body = ErrorBody),
    ),
    tag = "tracking"
)]
pub async fn not_fixed(
    State(state): State<AppState>,
    Extension(lookups): Extension<Arc<Lookups>>,
    client: ClientAddr,
    Path(code): Path<String>,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, Refusal> {
    limit(&state, &lookups, client)?;
    let mut form = form.map_err(|e| TrackError::Invalid(e.body_text()))?;
    let max_photo = state.photos.settings.max_bytes;
    let mut photo: Option<Vec<u8>> = None;
    let mut comment = String::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(TrackError::Invalid(format!("malformed form: {e}")).into()),
        };
        match field.name() {
            Some("photo") if photo.is_none() => {
                photo = Some(read_field(field, max_photo, "the photo").await?);
            }
            Some("comment") => {
                let bytes = read_field(field, 8 * feedback::MAX_COMMENT as u64, "the comment")
                    .await
                    .map_err(|_| {
                        TrackError::Invalid(format!(
                            "a comment is at most {} characters",
                            feedback::MAX_COMMENT
                        ))
                    })?;
                comment = String::from_utf8(bytes)
                    .map_err(|_| TrackError::Invalid("the comment is not UTF-8 text".into()))?;
            }
            Some(other) => {
                return Err(TrackError::Invalid(format!(
                    "unexpected form field {:?}: send `photo` and optionally `comment`",
                    other.chars().take(40).collect::<String>()
                ))
                .into());
            }
            None => return Err(TrackError::Invalid("a form field has no name".into()).into()),
        }
    }
    let photo = photo.ok_or_else(|| {
        TrackError::Invalid("a photo of the problem (form field `photo`) is needed".into())
    })?;
    let done = feedback::not_fixed(&state.citizens(), &code, photo, &comment).await?;
    Ok(json_private(StatusCode::CREATED, done))
}

/// Reads one form field, refusing it as soon as it passes `max` bytes.
async fn read_field(mut field: Field<'_>, max: u64, what: &str) -> Result<Vec<u8>, TrackError> {
    let mut out = Vec::new();
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                if out.len() as u64 + chunk.len() as u64 > max {
                    return Err(TrackError::Photo(PhotoError::TooLarge(format!(
                        "{what} is over the limit of {max} bytes"
                    ))));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(TrackError::Invalid(format!("malformed form: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    /// The routes and their OpenAPI entries come from one place: every tracking path is
    /// documented with its methods.
    #[test]
    fn every_route_is_in_the_openapi_document() {
        let doc = super::router().into_openapi();
        let paths = &doc.paths.paths;
        for (path, method) in [
            ("/track/{code}", "get"),
            ("/track", "get"),
            ("/api/v1/track/{code}", "get"),
            ("/api/v1/track/{code}/rating", "post"),
            ("/api/v1/track/{code}/not-fixed", "post"),
        ] {
            let item = paths.get(path);
            assert!(item.is_some(), "{path} missing from the OpenAPI document");
            let ok = item.is_some_and(|i| match method {
                "get" => i.get.is_some(),
                _ => i.post.is_some(),
            });
            assert!(ok, "{method} {path} missing");
        }
    }
}

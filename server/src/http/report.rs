//! The citizens' report page and its JSON API, no login: `GET /report` (the page),
//! `GET /api/v1/report/district` (which district a point falls in, shown before
//! sending), `GET /api/v1/report/nearby` (open reports of the same service: "+1
//! instead?"), `POST /api/v1/report` (file any kind of message, with up to three photos)
//! and `POST /api/v1/report/support/{id}` (the "+1"). The work is in
//! [`crate::domain::citizen::report`].
//!
//! Abuse: each POST needs the integrity channel's proof of work (header `Tarmim-Pow`, a
//! stamp with `TARMIM_REPORT_POW_BITS` zero bits, which the page computes) and counts
//! against a per-address limit (`TARMIM_REPORT_PER_MINUTE`, 429 with `Retry-After`
//! beyond); the lookups count against the tracking page's limit. No third-party CAPTCHA.

use crate::base::time::now_millis;
use crate::domain::citizen::lookups::Lookups;
use crate::domain::citizen::public_view::Named;
use crate::domain::citizen::report::{
    self, MAX_PHOTOS, Nearby, Receipt, ReportError, Submission, Support,
};
use crate::domain::integrity::pow::{Pow, PowError};
use crate::http::AppState;
use crate::http::client::ClientAddr;
use crate::http::error::ApiError;
use crate::http::openapi::ErrorBody;
use axum::extract::multipart::{Field, Multipart, MultipartRejection};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The header carrying the proof of work.
pub const POW_HEADER: &str = "tarmim-pow";

/// What the report routes share: the two limiters and the used stamps.
#[derive(Debug)]
pub struct Guard {
    filings: Lookups,
    lookups: Lookups,
    pow: Pow,
}

/// The report routes (page and API) with their OpenAPI entries.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let guard = Arc::new(Guard {
        filings: Lookups::new(),
        lookups: Lookups::new(),
        pow: Pow::new(state.config.report.pow_bits),
    });
    // The form reads each photo under the photo limit itself, chunk by chunk.
    let uploads = OpenApiRouter::new()
        .routes(routes!(file))
        .layer(DefaultBodyLimit::disable());
    OpenApiRouter::new()
        .routes(routes!(page))
        .routes(routes!(settings))
        .routes(routes!(district))
        .routes(routes!(nearby))
        .routes(routes!(support))
        .merge(uploads)
        .layer(Extension(guard))
}

/// A refusal: the usual JSON error body, never cached, `Retry-After` on 429.
#[derive(Debug)]
pub struct Refusal(ReportError);

impl From<ReportError> for Refusal {
    fn from(e: ReportError) -> Self {
        Refusal(e)
    }
}

impl From<PowError> for Refusal {
    fn from(e: PowError) -> Self {
        Refusal(match e {
            PowError::Busy => ReportError::Busy(e.to_string()),
            other => ReportError::Invalid(other.to_string()),
        })
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let retry = match &self.0 {
            ReportError::TooMany(s) => Some(*s),
            _ => None,
        };
        let mut resp = ApiError::from(self.0).into_response();
        no_store(resp.headers_mut());
        if let Some(s) = retry {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

fn no_store(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

fn json<T: Serialize>(status: StatusCode, body: T) -> Response {
    let mut resp = (status, Json(body)).into_response();
    no_store(resp.headers_mut());
    resp
}

/// Admits a filing: the per-address limit first (cheap), then the proof of work.
fn admit(
    state: &AppState,
    guard: &Guard,
    client: ClientAddr,
    headers: &HeaderMap,
) -> Result<(), Refusal> {
    guard
        .filings
        .check(client.0, state.config.report.per_minute)
        .map_err(ReportError::TooMany)?;
    let stamp = headers.get(POW_HEADER).and_then(|v| v.to_str().ok());
    guard.pow.check(stamp, now_millis() / 60_000)?;
    Ok(())
}

fn look(state: &AppState, guard: &Guard, client: ClientAddr) -> Result<(), Refusal> {
    guard
        .lookups
        .check(client.0, state.config.track_lookups_per_minute)
        .map_err(ReportError::TooMany)?;
    Ok(())
}

/// The report page.
#[utoipa::path(
    get,
    path = "/report",
    operation_id = "report_page",
    responses((status = 200, description = "The page (HTML)", content_type = "text/html")),
    tag = "report"
)]
pub async fn page() -> Response {
    crate::http::pages::report::page()
}

/// What the page needs to know before filing.
#[derive(Debug, Serialize, ToSchema)]
pub struct Settings {
    /// Zero bits the proof of work needs (0: none).
    pub pow_bits: u8,
    /// Most photos with one report.
    pub max_photos: usize,
    /// Largest photo, bytes (the page resizes before sending).
    pub max_photo_bytes: u64,
    /// Every kind of message, field kinds first.
    pub kinds: Vec<KindInfo>,
    /// The map's tile URL template, if configured (else a plain background).
    pub tile_url: Option<String>,
}

/// A kind of message.
#[derive(Debug, Serialize, ToSchema)]
pub struct KindInfo {
    /// Wire name.
    pub kind: crate::domain::intake::Kind,
    /// Needs a point and a service; goes to a crew.
    pub field: bool,
}

/// The page's settings: proof-of-work bits, photo limits, kinds.
#[utoipa::path(
    get,
    path = "/api/v1/report/settings",
    operation_id = "report_settings",
    responses((status = 200, description = "Settings", body = Settings)),
    tag = "report"
)]
pub async fn settings(State(state): State<AppState>) -> Response {
    json(
        StatusCode::OK,
        Settings {
            pow_bits: state.config.report.pow_bits,
            max_photos: MAX_PHOTOS,
            max_photo_bytes: state.config.open311.max_media_bytes,
            kinds: crate::domain::intake::Kind::ALL
                .into_iter()
                .map(|kind| KindInfo {
                    kind,
                    field: kind.is_field(),
                })
                .collect(),
            tile_url: state.config.tile_url.clone(),
        },
    )
}

/// A point.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PointQuery {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
}

/// The district a point falls in.
#[utoipa::path(
    get,
    path = "/api/v1/report/district",
    operation_id = "report_district",
    params(PointQuery),
    responses(
        (status = 200, description = "The district", body = Named),
        (status = 400, description = "Not a WGS84 point", body = ErrorBody),
        (status = 422, description = "Outside every district (the message says so in plain words)", body = ErrorBody),
        (status = 429, description = "Too many lookups from this address", body = ErrorBody),
    ),
    tag = "report"
)]
pub async fn district(
    State(state): State<AppState>,
    Extension(guard): Extension<Arc<Guard>>,
    client: ClientAddr,
    q: Result<Query<PointQuery>, QueryRejection>,
) -> Result<Response, Refusal> {
    look(&state, &guard, client)?;
    let Query(q) = q.map_err(|e| ReportError::Invalid(e.body_text()))?;
    let d = report::district_at(&state.citizens(), q.lat, q.lon).await?;
    Ok(json(StatusCode::OK, d))
}

/// A service and a point.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NearbyQuery {
    /// The service code.
    pub service: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
}

/// Open reports of the same service nearby, nearest first.
#[utoipa::path(
    get,
    path = "/api/v1/report/nearby",
    operation_id = "report_nearby",
    params(NearbyQuery),
    responses(
        (status = 200, description = "Open reports nearby", body = Vec<Nearby>),
        (status = 400, description = "Not a WGS84 point", body = ErrorBody),
        (status = 429, description = "Too many lookups from this address", body = ErrorBody),
    ),
    tag = "report"
)]
pub async fn nearby(
    State(state): State<AppState>,
    Extension(guard): Extension<Arc<Guard>>,
    client: ClientAddr,
    q: Result<Query<NearbyQuery>, QueryRejection>,
) -> Result<Response, Refusal> {
    look(&state, &guard, client)?;
    let Query(q) = q.map_err(|e| ReportError::Invalid(e.body_text()))?;
    let near = report::nearby(&state.citizens(), &q.service, q.lat, q.lon).await?;
    Ok(json(StatusCode::OK, near))
}

/// The form: a `report` part (JSON, [`Submission`]) and up to three `photo` parts.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ReportForm {
    /// The report (JSON).
    pub report: Submission,
    /// Photos (JPEG, PNG or WebP), at most three, field kinds only.
    #[schema(value_type = Vec<String>, format = Binary)]
    pub photo: Vec<Vec<u8>>,
}

/// Files a report or message of any kind.
#[utoipa::path(
    post,
    path = "/api/v1/report",
    operation_id = "report_file",
    params(("Tarmim-Pow" = String, Header, description = "Proof of work: `1:<unix minute>:<salt>:<nonce>` whose SHA-256 after `tarmim-integrity-pow:` starts with `pow_bits` zero bits")),
    request_body(content = ReportForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Filed: the tracking code", body = Receipt),
        (status = 400, description = "Bad input (plain words): a missing point or service, text too long or with HTML, a bad e-mail or phone, no consent, a bad proof of work, too many photos, a photo that is not an image", body = ErrorBody),
        (status = 413, description = "A photo over the size limit", body = ErrorBody),
        (status = 422, description = "The point is outside every district", body = ErrorBody),
        (status = 429, description = "Too many reports from this address (`Retry-After`)", body = ErrorBody),
        (status = 503, description = "Busy; retry", body = ErrorBody),
    ),
    tag = "report"
)]
pub async fn file(
    State(state): State<AppState>,
    Extension(guard): Extension<Arc<Guard>>,
    client: ClientAddr,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, Refusal> {
    admit(&state, &guard, client, &headers)?;
    let mut form = form.map_err(|e| ReportError::Invalid(e.body_text()))?;
    let max_photo = state.config.open311.max_media_bytes;
    let mut submission: Option<Submission> = None;
    let mut photos = Vec::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(ReportError::Invalid(format!("malformed form: {e}")).into()),
        };
        match field.name() {
            Some("report") if submission.is_none() => {
                let bytes = read_field(field, 256 * 1024, "the report").await?;
                submission =
                    Some(serde_json::from_slice(&bytes).map_err(|e| {
                        ReportError::Invalid(format!("the report is not valid: {e}"))
                    })?);
            }
            Some("photo") => {
                if photos.len() >= MAX_PHOTOS {
                    return Err(ReportError::Invalid(format!(
                        "at most {MAX_PHOTOS} photos with one report"
                    ))
                    .into());
                }
                photos.push(read_field(field, max_photo, "a photo").await?);
            }
            Some(other) => {
                return Err(ReportError::Invalid(format!(
                    "unexpected form field {:?}: send `report` and up to {MAX_PHOTOS} `photo`s",
                    other.chars().take(40).collect::<String>()
                ))
                .into());
            }
            None => return Err(ReportError::Invalid("a form field has no name".into()).into()),
        }
    }
    let submission = submission
        .ok_or_else(|| ReportError::Invalid("the form needs a `report` part (JSON)".into()))?;
    let receipt = report::file(&state.citizens(), submission, photos).await?;
    Ok(json(StatusCode::CREATED, receipt))
}

/// Adds support ("+1") to an open report instead of filing a duplicate.
#[utoipa::path(
    post,
    path = "/api/v1/report/support/{id}",
    operation_id = "report_support",
    params(
        ("id" = String, Path, description = "The open report's id (from `nearby`)"),
        ("Tarmim-Pow" = String, Header, description = "Proof of work, as for filing"),
    ),
    request_body(content = Support, content_type = "application/json"),
    responses(
        (status = 201, description = "A supporter tracking code", body = Receipt),
        (status = 400, description = "Bad input, a bad proof of work, or the report is closed", body = ErrorBody),
        (status = 404, description = "No such report", body = ErrorBody),
        (status = 429, description = "Too many reports from this address (`Retry-After`)", body = ErrorBody),
    ),
    tag = "report"
)]
pub async fn support(
    State(state): State<AppState>,
    Extension(guard): Extension<Arc<Guard>>,
    client: ClientAddr,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<Support>, JsonRejection>,
) -> Result<Response, Refusal> {
    admit(&state, &guard, client, &headers)?;
    let Json(s) = body.map_err(|e| ReportError::Invalid(e.body_text()))?;
    let receipt = report::support(&state.citizens(), &id, s).await?;
    Ok(json(StatusCode::CREATED, receipt))
}

/// Reads one form field, refusing it as soon as it passes `max` bytes.
async fn read_field(mut field: Field<'_>, max: u64, what: &str) -> Result<Vec<u8>, ReportError> {
    let mut out = Vec::new();
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                if out.len() as u64 + chunk.len() as u64 > max {
                    return Err(ReportError::TooLarge(format!(
                        "{what} is over the limit of {max} bytes"
                    )));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(ReportError::Invalid(format!("malformed form: {e}"))),
        }
    }
}

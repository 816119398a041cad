//! Crews' own endpoints (duty, position) and the console's crew list.
//!
//! - `PUT /api/v1/me/duty` `{"on_duty": bool}` → 204; 403 for non-crew roles.
//! - `POST /api/v1/me/position` `{"lat", "lon", "at": RFC 3339, "accuracy_m"?}` → 202
//!   `{"flags": [...]}`; 400 for an impossible coordinate; 429 with `Retry-After` when the
//!   device reports faster than the configured interval.
//! - `GET /api/v1/crews` → the crews of the caller's districts (dispatchers, managers)
//!   with on-duty state, load and latest position (flags included).

use crate::domain::dispatch::crews::{self, CrewMember};
use crate::domain::dispatch::position::{self, ReportError};
use crate::domain::identity::Identity;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi::{ErrorBody, Unauthorized};
use crate::storage::dispatch::CrewStatus;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The crews' routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_duty))
        .routes(routes!(post_position))
        .routes(routes!(list))
}

/// `PUT /api/v1/me/duty` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DutyRequest {
    /// On duty (true) or off (false).
    pub on_duty: bool,
}

/// The caller admitted as a crew member ([`CrewMember::admit`]) before the body is read.
impl FromRequestParts<AppState> for CrewMember {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(CrewMember::admit(
            &Identity::from_request_parts(parts, state).await?,
        )?)
    }
}

/// `PUT /api/v1/me/duty`.
#[utoipa::path(put, path = "/api/v1/me/duty", tag = "crews", security(("bearer" = [])),
    request_body = DutyRequest,
    responses(
        (status = 204, description = "Duty changed"),
        (status = 400, description = "Not a duty request", body = ErrorBody),
        Unauthorized,
        (status = 403, description = "Not a crew member", body = ErrorBody),
        (status = 404, description = "The caller's crew no longer exists", body = ErrorBody),
    ))]
pub async fn put_duty(
    State(state): State<AppState>,
    member: CrewMember,
    body: Result<Json<DutyRequest>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(req) = body?;
    crews::set_duty(&state.db, &member, req.on_duty).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/me/position` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PositionRequest {
    /// Latitude (WGS84).
    pub lat: f64,
    /// Longitude (WGS84).
    pub lon: f64,
    /// When the phone was there (RFC 3339).
    pub at: String,
    /// Horizontal accuracy in metres.
    #[serde(default)]
    pub accuracy_m: Option<f64>,
}

/// `POST /api/v1/me/position` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PositionAccepted {
    /// Plausibility flags; empty when plausible.
    #[schema(value_type = Vec<String>)]
    pub flags: Vec<&'static str>,
}

/// `POST /api/v1/me/position`.
#[utoipa::path(post, path = "/api/v1/me/position", tag = "crews", security(("bearer" = [])),
    request_body = PositionRequest,
    responses(
        (status = 202, description = "Stored (flagged if implausible)", body = PositionAccepted),
        (status = 400, description = "Not a place on Earth, or `at` not RFC 3339", body = ErrorBody),
        Unauthorized,
        (status = 403, description = "Not a crew member", body = ErrorBody),
        (status = 429, description = "Faster than one report per interval per device (`Retry-After`)", body = ErrorBody),
    ))]
pub async fn post_position(
    State(state): State<AppState>,
    member: CrewMember,
    body: Result<Json<PositionRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body?;
    let at = crate::base::time::parse_rfc3339(&req.at).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "at must be an RFC 3339 time such as 2026-05-01T08:30:00Z, not {:?}",
            req.at
        ))
    })?;
    let report = position::Report {
        lat: req.lat,
        lon: req.lon,
        at,
        accuracy_m: req.accuracy_m,
    };
    match position::record(&state.dispatch, &member, report).await {
        Ok(flags) => Ok((StatusCode::ACCEPTED, Json(PositionAccepted { flags })).into_response()),
        Err(
            e @ ReportError::TooFast {
                retry_after_secs, ..
            },
        ) => {
            let mut resp = ApiError::from(e).into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /api/v1/crews`: crews of the caller's districts.
#[utoipa::path(get, path = "/api/v1/crews", tag = "crews", security(("bearer" = [])),
    responses(
        (status = 200, description = "Crews of the caller's districts", body = Vec<CrewStatus>),
        Unauthorized,
        (status = 403, description = "Not a dispatcher or manager", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    who: Identity,
) -> Result<Json<Vec<CrewStatus>>, ApiError> {
    Ok(Json(crews::of_districts(&state.db, &who).await?))
}

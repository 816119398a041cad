//! Crews' own endpoints (duty, position) and the console's crew list.
//!
//! - `PUT /api/v1/me/duty` `{"on_duty": bool}` → 204; 403 for non-crew roles.
//! - `POST /api/v1/me/position` `{"lat", "lon", "at": RFC 3339, "accuracy_m"?}` → 202
//!   `{"flags": [...]}`; 400 for an impossible coordinate; 429 with `Retry-After` when the
//!   device reports faster than the configured interval.
//! - `GET /api/v1/crews` → the crews of the caller's districts (dispatchers, managers)
//!   with on-duty state, load and latest position (flags included).

use crate::base::time::now_millis;
use crate::domain::dispatch::position;
use crate::domain::identity::{Identity, UserRole};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi::ErrorBody;
use crate::storage::dispatch::{self as store, CrewStatus, PositionRow};
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
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

fn crew_of(who: &Identity) -> Result<&str, ApiError> {
    match (who.role, who.crew.as_deref()) {
        (UserRole::Crew, Some(c)) => Ok(c),
        _ => Err(ApiError::Forbidden(
            "only crew members report duty and position".into(),
        )),
    }
}

/// `PUT /api/v1/me/duty`.
#[utoipa::path(put, path = "/api/v1/me/duty", tag = "crews", security(("bearer" = [])),
    request_body = DutyRequest,
    responses(
        (status = 204, description = "Duty changed"),
        (status = 400, description = "Not a duty request", body = ErrorBody),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
        (status = 403, description = "Not a crew member", body = ErrorBody),
        (status = 404, description = "The caller's crew no longer exists", body = ErrorBody),
    ))]
pub async fn put_duty(
    State(state): State<AppState>,
    who: Identity,
    body: Result<Json<DutyRequest>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let crew = crew_of(&who)?;
    let Json(req) = body?;
    if !store::set_on_duty(&state.db, crew, req.on_duty).await? {
        return Err(ApiError::NotFound(format!("no crew {crew}")));
    }
    tracing::info!(crew, on_duty = req.on_duty, device = %who.device, "duty changed");
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

/// Parses an RFC 3339 time into milliseconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// `POST /api/v1/me/position`.
#[utoipa::path(post, path = "/api/v1/me/position", tag = "crews", security(("bearer" = [])),
    request_body = PositionRequest,
    responses(
        (status = 202, description = "Stored (flagged if implausible)", body = PositionAccepted),
        (status = 400, description = "Not a place on Earth, or `at` not RFC 3339", body = ErrorBody),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
        (status = 403, description = "Not a crew member", body = ErrorBody),
        (status = 429, description = "Faster than one report per interval per device (`Retry-After`)", body = ErrorBody),
    ))]
pub async fn post_position(
    State(state): State<AppState>,
    who: Identity,
    body: Result<Json<PositionRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let crew = crew_of(&who)?.to_owned();
    let Json(req) = body?;
    let at = parse_rfc3339(&req.at).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "at must be an RFC 3339 time such as 2026-05-01T08:30:00Z, not {:?}",
            req.at
        ))
    })?;
    let now = now_millis();
    let last = store::last_plausible_position(&state.db, &crew).await?;
    let flags = position::check(
        req.lat,
        req.lon,
        at,
        req.accuracy_m,
        last.map(|p| (p.lat, p.lon, p.at)),
        now,
    )
    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if let Err(wait) = state.dispatch.positions.take(who.device.as_str()) {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut resp = ApiError::TooManyRequests(format!(
            "position reports are limited to one per {} ms per device",
            state.config.position_min_interval_ms
        ))
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(resp);
    }
    store::insert_position(
        &state.db,
        &PositionRow {
            crew,
            device: who.device.to_string(),
            lat: req.lat,
            lon: req.lon,
            accuracy_m: req.accuracy_m,
            at,
            received_at: now,
            flags: flags.iter().map(|f| (*f).to_owned()).collect(),
        },
    )
    .await?;
    if !flags.is_empty() {
        metrics::counter!("tarmim_positions_flagged_total").increment(1);
    }
    Ok((StatusCode::ACCEPTED, Json(PositionAccepted { flags })).into_response())
}

/// `GET /api/v1/crews`: crews of the caller's districts.
#[utoipa::path(get, path = "/api/v1/crews", tag = "crews", security(("bearer" = [])),
    responses(
        (status = 200, description = "Crews of the caller's districts", body = Vec<CrewStatus>),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
        (status = 403, description = "Not a dispatcher or manager", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    who: Identity,
) -> Result<Json<Vec<CrewStatus>>, ApiError> {
    if !matches!(who.role, UserRole::Dispatcher | UserRole::Manager) {
        return Err(ApiError::Forbidden(
            "only dispatchers and managers list crews".into(),
        ));
    }
    Ok(Json(store::crews_of(&state.db, &who.districts).await?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::parse_rfc3339;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(
            parse_rfc3339("2026-11-29T18:00:00+03:30"),
            parse_rfc3339("2026-11-29T14:30:00Z")
        );
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00Z"), Some(951_868_800_000));
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-01-01T00:00:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}

//! Roster routes (thin over `domain::roster`).
//!
//! | | |
//! | --- | --- |
//! | `GET /api/v1/roster` | dispatchers, managers: their districts' crews, duty now and shifts over the next 7 days |
//! | `GET /api/v1/roster/coverage` | dispatchers, managers: the coverage gaps of their districts (urgent-capable skills, 168 hours) |
//! | `POST /api/v1/roster/shifts` | a dispatcher adds a shift `{crew, start, end}` (the city's wall-clock times) |
//! | `DELETE /api/v1/roster/shifts/{id}` | a dispatcher removes one |
//! | `POST /api/v1/roster/import` | a dispatcher imports a roster CSV (`text/csv`: `crew,start,end`) of their districts' crews |

use crate::base::time::now_millis;
use crate::domain::identity::Identity;
use crate::domain::roster::{self, Coverage, Imported, Week};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi::{BadRequest, ErrorBody, Forbidden, Unauthorized};
use crate::storage::roster::Shift;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoResponses, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The roster routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(week))
        .routes(routes!(coverage))
        .routes(routes!(add_shift))
        .routes(routes!(remove_shift))
        .routes(routes!(import))
}

/// 422: the roster or shift is refused (every problem, with its line).
#[derive(IntoResponses)]
#[response(
    status = 422,
    description = "Refused: a time that does not exist or occurs twice, a shift ending before it starts, an unknown crew, an overlap"
)]
pub struct RosterRefused(pub ErrorBody);

/// `GET /api/v1/roster`.
#[utoipa::path(get, path = "/api/v1/roster", tag = "roster", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's districts' crews with their shifts over the next 7 days", body = Week),
        Unauthorized,
        Forbidden,
    ))]
pub async fn week(State(state): State<AppState>, who: Identity) -> Result<Json<Week>, ApiError> {
    Ok(Json(
        roster::week(&state.db, &state.zone, &who, now_millis()).await?,
    ))
}

/// `GET /api/v1/roster/coverage`.
#[utoipa::path(get, path = "/api/v1/roster/coverage", tag = "roster", security(("bearer" = [])),
    responses(
        (status = 200, description = "Coverage gaps of the caller's districts over the next 168 hours", body = Coverage),
        Unauthorized,
        Forbidden,
    ))]
pub async fn coverage(
    State(state): State<AppState>,
    who: Identity,
) -> Result<Json<Coverage>, ApiError> {
    Ok(Json(
        roster::coverage_view(&state.db, &state.zone, &who, now_millis()).await?,
    ))
}

/// `POST /api/v1/roster/shifts` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShiftRequest {
    /// Crew id.
    pub crew: String,
    /// Start, the city's wall-clock time (`2026-12-07 22:00`).
    pub start: String,
    /// End, the city's wall-clock time (`2026-12-08 06:00`).
    pub end: String,
}

/// `POST /api/v1/roster/shifts`.
#[utoipa::path(post, path = "/api/v1/roster/shifts", tag = "roster", security(("bearer" = [])),
    request_body = NewShiftRequest,
    responses(
        (status = 201, description = "Stored", body = Shift),
        BadRequest,
        Unauthorized,
        Forbidden,
        (status = 404, description = "No such crew", body = ErrorBody),
        (status = 409, description = "Overlaps a stored shift of the crew", body = ErrorBody),
        RosterRefused,
    ))]
pub async fn add_shift(
    State(state): State<AppState>,
    who: Identity,
    body: Result<Json<NewShiftRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Shift>), ApiError> {
    let Json(req) = body?;
    let s = roster::add(
        &state.db,
        &state.zone,
        &who,
        &req.crew,
        &req.start,
        &req.end,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(s)))
}

/// `DELETE /api/v1/roster/shifts/{id}`.
#[utoipa::path(delete, path = "/api/v1/roster/shifts/{id}", tag = "roster", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Shift id")),
    responses(
        (status = 204, description = "Removed"),
        BadRequest,
        Unauthorized,
        Forbidden,
        (status = 404, description = "No such shift", body = ErrorBody),
    ))]
pub async fn remove_shift(
    State(state): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = id
        .parse::<i64>()
        .map_err(|_| ApiError::BadRequest(format!("a shift id is a number, not {id:?}")))?;
    roster::remove(&state.db, &who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/roster/import`.
#[utoipa::path(post, path = "/api/v1/roster/import", tag = "roster", security(("bearer" = [])),
    request_body(content = String, content_type = "text/csv", description = "crew,start,end — one shift a row, the city's wall-clock times"),
    responses(
        (status = 200, description = "Stored: for each crew named, its shifts starting within the file's span replaced", body = Imported),
        BadRequest,
        Unauthorized,
        (status = 403, description = "Not a dispatcher, or a crew of another district", body = ErrorBody),
        RosterRefused,
    ))]
pub async fn import(
    State(state): State<AppState>,
    who: Identity,
    body: String,
) -> Result<Json<Imported>, ApiError> {
    Ok(Json(
        roster::import_csv(&state.db, &state.zone, Some(&who), &body).await?,
    ))
}

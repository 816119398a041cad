//! Address search for the staff (the call centre's desk): thin over
//! [`crate::domain::places`].
//!
//! | | |
//! | --- | --- |
//! | `GET /api/v1/places/search?q=<text>&limit=<n>` | places whose Persian or English name matches `q`, best first: `[{id, name_fa, name_en, kind, lat, lon, district}]` |

use crate::domain::identity::Identity;
use crate::domain::places::{self, PlaceHit};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi::{BadRequest, Forbidden, Unauthorized};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The search's route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search))
}

/// What the caller asks for (query string).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words of a street's or place's name, in Persian or English (Arabic letter forms,
    /// Persian digits and missing or extra zero-width non-joiners are all the same).
    #[param(min_length = 1, max_length = 200)]
    pub q: String,
    /// How many places, 1 to 50 (default 10).
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<i64>,
}

/// `GET /api/v1/places/search`.
#[utoipa::path(get, path = "/api/v1/places/search", operation_id = "places_search", tag = "console", security(("bearer" = [])),
    params(SearchParams),
    responses(
        (status = 200, description = "The places found, best first: exact name, then names starting with the query, then containing it, then resembling it", body = Vec<PlaceHit>),
        BadRequest,
        Unauthorized,
        Forbidden,
    ))]
pub async fn search(
    State(state): State<AppState>,
    who: Identity,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<Vec<PlaceHit>>, ApiError> {
    // The role first: a crew member learns nothing from a bad query's message.
    places::check_staff(&who)?;
    let Query(p) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    Ok(Json(places::find(&state.db, &who, &p.q, p.limit).await?))
}

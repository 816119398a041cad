//! The outbox's dead-letter list: notifications and routing jobs given up after their
//! retries (`domain::outbox`).

use crate::domain::identity::Identity;
use crate::domain::outbox;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi::{Forbidden, Unauthorized};
use crate::storage::outbox::DeadRow;
use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The outbox routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(dead))
}

/// `?limit=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadQuery {
    /// At most this many rows (1–1000, default 100).
    pub limit: Option<u32>,
}

/// `GET /api/v1/outbox/dead`: rows given up on, newest first.
#[utoipa::path(get, path = "/api/v1/outbox/dead", tag = "outbox", security(("bearer" = [])),
    params(DeadQuery),
    responses(
        (status = 200, description = "Rows given up on (task, kind, attempts, last error; never a contact)", body = Vec<DeadRow>),
        Unauthorized,
        Forbidden,
    ))]
pub async fn dead(
    State(state): State<AppState>,
    who: Identity,
    Query(q): Query<DeadQuery>,
) -> Result<Json<Vec<DeadRow>>, ApiError> {
    Ok(Json(
        outbox::dead_letters(&state.dispatch, &who, q.limit.unwrap_or(100)).await?,
    ))
}

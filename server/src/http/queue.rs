//! The console's complete queue (thin over `domain::dispatch::queue`).
//!
//! | | |
//! | --- | --- |
//! | `GET /api/v1/console/queue` | one page of my districts' tasks: `state`, `service`, `priority`, `crew`, `district`, `late`, `q`, `limit`, `offset`; `{rows, total, counts}` and `X-Total-Count` |

use crate::domain::dispatch::desk::ConsoleUser;
use crate::domain::dispatch::queue::{self, QueueParams};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi::{BadRequest, Forbidden, Unauthorized};
use crate::storage::queue::QueuePage;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The queue's route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(queue_page))
}

/// `GET /api/v1/console/queue`.
#[utoipa::path(get, path = "/api/v1/console/queue", tag = "console", security(("bearer" = [])),
    params(QueueParams),
    responses(
        (status = 200, description = "One page of my districts' tasks (most urgent priority first, then the oldest), the total and the counts per state",
            body = QueuePage,
            headers(("X-Total-Count" = i64, description = "How many tasks match, every page together"))),
        BadRequest,
        Unauthorized,
        Forbidden,
    ))]
pub async fn queue_page(
    State(state): State<AppState>,
    user: ConsoleUser,
    params: Result<Query<QueueParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let page = queue::page(&state.db, &user, &p).await?;
    let total = page.total;
    let mut resp = Json(page).into_response();
    resp.headers_mut()
        .insert("x-total-count", HeaderValue::from(total));
    Ok(resp)
}

//! The staff's inbox of citizens' messages (complaints, criticism, suggestions, ideas,
//! thanks): `GET /api/v1/desk/messages` and `POST /api/v1/desk/messages/{id}/answer`,
//! for the console page `/console/messages.html`. Who reads which inbox is
//! [`crate::domain::citizen::messages`]'s rule.

use crate::domain::citizen::messages::{self, Answer, InboxMessage};
use crate::domain::identity::Identity;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi::{BadRequest, Conflict, Forbidden, Unauthorized};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The inbox routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(inbox))
        .routes(routes!(answer))
}

/// The messages of my inboxes, unanswered first.
#[utoipa::path(get, path = "/api/v1/desk/messages", operation_id = "desk_messages", tag = "console", security(("bearer" = [])),
    responses(
        (status = 200, description = "My inboxes' messages, unanswered first, newest first (at most 200)", body = Vec<InboxMessage>),
        Unauthorized,
        Forbidden,
    ))]
pub async fn inbox(
    State(state): State<AppState>,
    who: Identity,
) -> Result<Json<Vec<InboxMessage>>, ApiError> {
    Ok(Json(messages::inbox(&state.db, &who, 200).await?))
}

/// Answers a message (once); the citizen sees the answer on the tracking page.
#[utoipa::path(post, path = "/api/v1/desk/messages/{id}/answer", operation_id = "desk_answer", tag = "console", security(("bearer" = [])),
    params(("id" = String, Path, description = "The message id (`M-…`)")),
    request_body = Answer,
    responses(
        (status = 201, description = "Answered", body = InboxMessage),
        BadRequest,
        Unauthorized,
        Forbidden,
        (status = 404, description = "No such message", body = crate::http::openapi::ErrorBody),
        Conflict,
    ))]
pub async fn answer(
    State(state): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
    body: Result<Json<Answer>, JsonRejection>,
) -> Result<(StatusCode, Json<InboxMessage>), ApiError> {
    let Json(a) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let done = messages::answer(&state.db, &who, &id, &a).await?;
    Ok((StatusCode::CREATED, Json(done)))
}

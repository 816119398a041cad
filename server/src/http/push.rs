//! A device's push registration (issue 20 §1; `domain::push`).
//!
//! - `PUT /api/v1/me/push` `{"kind": "fcm"|"apns"|"webpush", "token": "…"}` → 204: the
//!   caller's device is woken through this token (a Web Push subscription is its JSON, as
//!   `PushSubscription.toJSON()` gives it); replaces the device's earlier token. 400 for an
//!   unknown kind or a token that is not one (too long, not hex for APNs, a subscription
//!   with a bad key, an `http` endpoint or expired).
//! - `DELETE /api/v1/me/push` → 204: no more wake-ups for this device.
//! - `GET /api/v1/push/vapid` → `{"public_key"}`: the VAPID key Web Push subscribes with
//!   (`applicationServerKey`); 404 when Web Push is not configured.

use crate::domain::identity::Identity;
use crate::domain::push::jws::Key;
use crate::domain::push::{self, RegistrationError};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi::{ErrorBody, Unauthorized};
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The push routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_push, delete_push))
        .routes(routes!(vapid))
}

/// `PUT /api/v1/me/push` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushRegistration {
    /// `fcm`, `apns` or `webpush`.
    pub kind: String,
    /// The FCM registration token, the APNs device token (hex), or the Web Push
    /// subscription's JSON.
    pub token: String,
}

/// `GET /api/v1/push/vapid` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct VapidKey {
    /// The VAPID public key, an uncompressed P-256 point, base64url.
    pub public_key: String,
}

impl From<RegistrationError> for ApiError {
    fn from(e: RegistrationError) -> ApiError {
        match e {
            RegistrationError::Invalid(why) => ApiError::BadRequest(why),
            RegistrationError::Db(e) => ApiError::Db(e),
        }
    }
}

/// `PUT /api/v1/me/push`.
#[utoipa::path(put, path = "/api/v1/me/push", tag = "push", security(("bearer" = [])),
    request_body = PushRegistration,
    responses(
        (status = 204, description = "Registered; replaces the device's earlier token"),
        (status = 400, description = "Unknown kind, or not a token of that kind", body = ErrorBody),
        Unauthorized,
    ))]
pub async fn put_push(
    State(state): State<AppState>,
    who: Identity,
    body: Result<Json<PushRegistration>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(req) = body?;
    push::registration::register(&state.db, &who, &req.kind, &req.token, &state.config.push)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/me/push`.
#[utoipa::path(delete, path = "/api/v1/me/push", tag = "push", security(("bearer" = [])),
    responses(
        (status = 204, description = "No more wake-ups for this device"),
        Unauthorized,
    ))]
pub async fn delete_push(
    State(state): State<AppState>,
    who: Identity,
) -> Result<StatusCode, ApiError> {
    push::registration::unregister(&state.db, &who).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/push/vapid`. Without a VAPID key, `204 No Content`: the tracking page asks
/// on every load whether to offer "notify me", and a 404 there is a console error on every
/// citizen's page of a city that has not configured Web Push.
#[utoipa::path(get, path = "/api/v1/push/vapid", tag = "push",
    responses(
        (status = 200, description = "The VAPID public key", body = VapidKey),
        (status = 204, description = "Web Push is not configured"),
    ))]
pub async fn vapid(State(state): State<AppState>) -> Result<Response, ApiError> {
    let public = state
        .config
        .push
        .vapid_private_key
        .as_deref()
        .and_then(|k| Key::es256_raw_b64(k).ok())
        .and_then(|k| k.es256_public());
    Ok(match public {
        Some(public) => Json(VapidKey {
            public_key: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public),
        })
        .into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

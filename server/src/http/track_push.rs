//! "Notify me" on the tracking page (`domain::notify::webpush`): no login, the tracking
//! code is the authority, requests limited per client address like every tracking-code
//! request, answers never cached.
//!
//! - `POST /api/v1/track/{code}/push` `{"subscription": <PushSubscription.toJSON()>,
//!   "lang": "fa"|"en"}` → 204: each public status change of the report is pushed to that
//!   browser. 400 for a subscription that is not one (a key that is not a P-256 point,
//!   a secret that is not 16 bytes, an endpoint that is not `https` on a known push
//!   service, expired); 404 for an unknown code; 422 when Web Push is not configured.
//! - `DELETE /api/v1/track/{code}/push` → 200 `{"done"}`: no more pushes to it.

use crate::domain::citizen::lookups::Lookups;
use crate::domain::citizen::public_view::TrackError;
use crate::domain::notify::webpush;
use crate::http::AppState;
use crate::http::client::ClientAddr;
use crate::http::contacts::{ContactDone, limit};
use crate::http::track::{ErrorBody, Refusal};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The "notify me" routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(subscribe, unsubscribe))
        .layer(Extension(Arc::new(Lookups::new())))
}

/// `POST /api/v1/track/{code}/push` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushSubscribe {
    /// The browser's subscription as `PushSubscription.toJSON()` gives it:
    /// `{"endpoint", "expirationTime", "keys": {"p256dh", "auth"}}`.
    #[schema(value_type = Object)]
    pub subscription: serde_json::Value,
    /// The page's language (`fa` or `en`): notifications are written in it unless the
    /// report's contact already has one.
    #[serde(default)]
    pub lang: Option<String>,
}

fn private(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// Pushes this report's public status changes to a browser.
#[utoipa::path(
    post,
    path = "/api/v1/track/{code}/push",
    operation_id = "track_push_subscribe",
    params(("code" = String, Path, description = "The tracking code")),
    request_body(content = PushSubscribe, content_type = "application/json"),
    responses(
        (status = 204, description = "Subscribed; replaces an earlier subscription of this code"),
        (status = 400, description = "Not a Web Push subscription: a bad key, an endpoint that is not https on a known push service, expired, a malformed body", body = ErrorBody),
        (status = 404, description = "No report has this code", body = ErrorBody),
        (status = 422, description = "Web Push is not configured on this server", body = ErrorBody),
        (status = 429, description = "Too many tracking-code requests from this address", body = ErrorBody),
    ),
    tag = "tracking"
)]
pub async fn subscribe(
    State(state): State<AppState>,
    Extension(lookups): Extension<Arc<Lookups>>,
    client: ClientAddr,
    Path(code): Path<String>,
    body: Result<Json<PushSubscribe>, JsonRejection>,
) -> Result<Response, Refusal> {
    limit(&state, &lookups, client)?;
    let Json(req) = body.map_err(|e| TrackError::Invalid(e.body_text()))?;
    if !req.subscription.is_object() {
        return Err(TrackError::Invalid(
            "subscription must be the object PushSubscription.toJSON() gives".into(),
        )
        .into());
    }
    let json = req.subscription.to_string();
    let lang = req.lang.as_deref().unwrap_or("fa");
    webpush::subscribe(&state.citizens(), &state.config.push, &code, &json, lang).await?;
    Ok(private(StatusCode::NO_CONTENT.into_response()))
}

/// Stops pushes to the browser this code subscribed.
#[utoipa::path(
    delete,
    path = "/api/v1/track/{code}/push",
    operation_id = "track_push_unsubscribe",
    params(("code" = String, Path, description = "The tracking code")),
    responses(
        (status = 200, description = "Done (`done`: whether a subscription was stored)", body = ContactDone),
        (status = 404, description = "No report has this code", body = ErrorBody),
        (status = 429, description = "Too many tracking-code requests from this address", body = ErrorBody),
    ),
    tag = "tracking"
)]
pub async fn unsubscribe(
    State(state): State<AppState>,
    Extension(lookups): Extension<Arc<Lookups>>,
    client: ClientAddr,
    Path(code): Path<String>,
) -> Result<Response, Refusal> {
    limit(&state, &lookups, client)?;
    let done = webpush::unsubscribe(&state.citizens(), &code).await?;
    Ok(private(Json(ContactDone { done }).into_response()))
}

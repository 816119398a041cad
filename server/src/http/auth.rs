//! `POST /api/v1/login`, `POST /api/v1/logout`, `GET /api/v1/me`, `PUT /api/v1/me/lang`:
//! each over [`crate::domain::identity`] (login and `me` also say the user's language).

use crate::domain::identity::{self, Identity, LoginResponse, LoginSettings, Me};
use crate::http::AppState;
use crate::http::client::ClientAddr;
use crate::http::error::ApiError;
use crate::http::openapi::{ErrorBody, Unauthorized};
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The login routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(set_lang))
}

/// `PUT /api/v1/me/lang` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LangRequest {
    /// `fa` or `en`.
    pub lang: String,
}

/// Login request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login name.
    pub login: String,
    /// Password.
    pub password: String,
    /// The calling device's id (registered on first login).
    pub device_id: String,
}

/// `POST /api/v1/login`.
#[utoipa::path(post, path = "/api/v1/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 400, description = "Not a login request", body = ErrorBody),
        (status = 401, description = "Wrong login or password", body = ErrorBody),
        (status = 403, description = "`account_disabled`: the password is right but the user \
            is disabled (told only after the password was checked)", body = ErrorBody),
        (status = 409, description = "`device_taken`: the device id was registered by another \
            user; choose a device id of your own", body = ErrorBody),
        (status = 429, description = "Too many attempts on this account or from this address, \
            or too many logins at once (`Retry-After` says when to retry)", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Json<LoginResponse>, ApiError> {
    let Json(req) = body?;
    let settings = LoginSettings::from_config(&state.config);
    let mut done = crate::domain::audit::sign_in(
        &state.db,
        &state.login,
        address,
        &req.login,
        &req.password,
        &req.device_id,
        &settings,
    )
    .await?;
    done.me.lang = identity::lang(&state.db, &done.me.user_id).await?;
    Ok(Json(done))
}

/// `POST /api/v1/logout`: revokes the token used for this request.
#[utoipa::path(post, path = "/api/v1/logout", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "The token is revoked; the sync sockets (close code 4401) \
            and console event streams it opened close on every replica"),
        Unauthorized,
    ))]
pub async fn logout(State(state): State<AppState>, id: Identity) -> Result<StatusCode, ApiError> {
    identity::sign_out(&state.db, state.hub().sessions(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/me`.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        Unauthorized,
    ))]
pub async fn me(State(state): State<AppState>, id: Identity) -> Result<Json<Me>, ApiError> {
    let mut me = identity::me(&id, state.config.crew_sees_district_open);
    me.lang = identity::lang(&state.db, &id.user_id).await?;
    Ok(Json(me))
}

/// `PUT /api/v1/me/lang`: remembers the caller's language for the pages (the language
/// switch), answered at the next login and by `GET /api/v1/me`.
#[utoipa::path(put, path = "/api/v1/me/lang", tag = "auth", security(("bearer" = [])),
    request_body = LangRequest,
    responses(
        (status = 204, description = "Remembered"),
        (status = 400, description = "Not `fa` or `en`", body = ErrorBody),
        Unauthorized,
    ))]
pub async fn set_lang(
    State(state): State<AppState>,
    id: Identity,
    body: Result<Json<LangRequest>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(req) = body?;
    identity::set_lang(&state.db, &id, &req.lang).await?;
    Ok(StatusCode::NO_CONTENT)
}

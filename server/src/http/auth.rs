//! `POST /api/v1/login`, `POST /api/v1/logout`, `GET /api/v1/me`.

use crate::base::time::now_millis;
use crate::domain::identity::{self as auth, Identity};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::openapi::ErrorBody;
use crate::storage::IdentityStore;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sync_core::Millis;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The login routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
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

/// Who the caller is, and what its device syncs.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// User id.
    pub user_id: String,
    /// Login.
    pub login: String,
    /// Role.
    pub role: auth::UserRole,
    /// Crew, for crew members.
    pub crew: Option<String>,
    /// Districts, for dispatchers and managers.
    pub districts: Vec<String>,
    /// Device id.
    pub device_id: String,
    /// Sync scopes of this device.
    pub scopes: Vec<String>,
    /// Token expiry (ms since the epoch).
    #[schema(value_type = i64)]
    pub expires_at: Millis,
}

impl Me {
    fn of(id: &Identity, crew_sees_open: bool) -> Me {
        Me {
            user_id: id.user_id.clone(),
            login: id.login.clone(),
            role: id.role,
            crew: id.crew.clone(),
            districts: id.districts.clone(),
            device_id: id.device.to_string(),
            scopes: id
                .scopes(crew_sees_open)
                .into_iter()
                .map(String::from)
                .collect(),
            expires_at: id.expires_at,
        }
    }
}

/// Login response body.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token (shown once).
    pub token: String,
    /// `Bearer`.
    #[schema(value_type = String)]
    pub token_type: &'static str,
    /// Expiry (ms since the epoch).
    #[schema(value_type = i64)]
    pub expires_at: Millis,
    /// The caller.
    pub me: Me,
}

/// `POST /api/v1/login`.
#[utoipa::path(post, path = "/api/v1/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 400, description = "Not a login request", body = ErrorBody),
        (status = 401, description = "Wrong login or password", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Json<LoginResponse>, ApiError> {
    let Json(req) = body?;
    let res = auth::login(
        &state.db,
        &req.login,
        &req.password,
        &req.device_id,
        now_millis(),
        state.config.token_ttl_ms(),
    )
    .await;
    let outcome = if res.is_ok() { "ok" } else { "refused" };
    metrics::counter!("tarmim_logins_total", "outcome" => outcome).increment(1);
    let out = res?;
    Ok(Json(LoginResponse {
        me: Me::of(&out.identity, state.config.crew_sees_district_open),
        token: out.token,
        token_type: "Bearer",
        expires_at: out.expires_at,
    }))
}

/// `POST /api/v1/logout`: revokes the token used for this request.
#[utoipa::path(post, path = "/api/v1/logout", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "The token is revoked"),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
    ))]
pub async fn logout(State(state): State<AppState>, id: Identity) -> Result<StatusCode, ApiError> {
    state.db.revoke_token(&id.token_hash, now_millis()).await?;
    tracing::info!(user = %id.user_id, device = %id.device, "logout");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/me`.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "No, bad or expired token", body = ErrorBody),
    ))]
pub async fn me(State(state): State<AppState>, id: Identity) -> Json<Me> {
    Json(Me::of(&id, state.config.crew_sees_district_open))
}

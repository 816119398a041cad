//! Extractors: the authenticated [`Identity`] from a request's bearer token.

use crate::base::time::now_millis;
use crate::domain::identity::{Identity, authenticate, bearer_token};
use crate::http::AppState;
use crate::http::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

impl FromRequestParts<AppState> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        let token = bearer_token(header)?;
        Ok(authenticate(&state.db, token, now_millis()).await?)
    }
}

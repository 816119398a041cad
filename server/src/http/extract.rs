//! Extractors: the authenticated [`Identity`] from a request's bearer token, and the
//! server's [`PublicBase`] URL as the request addressed it.

use crate::base::public_url::{self, Addressed};
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

/// The server's public base URL for absolute links in this answer
/// ([`crate::base::public_url`]: the setting, else the addressed host).
pub struct PublicBase(pub String);

impl FromRequestParts<AppState> for PublicBase {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let addressed = Addressed {
            // HTTP/2 carries the host in the request's authority instead.
            host: header(header::HOST).or_else(|| parts.uri.authority().map(|a| a.as_str())),
            forwarded_proto: header(header::HeaderName::from_static("x-forwarded-proto")),
        };
        Ok(PublicBase(public_url::base_url(&state.config, addressed)))
    }
}

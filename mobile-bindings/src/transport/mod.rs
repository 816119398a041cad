//! The phone's side of the network: everything that talks to the server lives here, so
//! that sync-core stays free of sockets.
//!
//! - [`endpoint`]: the server's base URL and the URLs derived from it, and the one TLS
//!   configuration (rustls + ring, Mozilla's roots compiled in: no OpenSSL, nothing that
//!   needs the platform's verifier).
//! - [`http`]: the JSON endpoints (login, duty, position) and the sync fallback
//!   `POST /api/v1/sync/exchange`.
//! - [`ws`]: the sync WebSocket `GET /api/v1/sync`.
//! - [`upload`]: resumable photo uploads (tus 1.0).
//! - [`backoff`]: how long to wait before reconnecting.
//!
//! Errors are [`TransportError`], which `crate::error` maps to what the app sees.

pub mod backoff;
pub mod endpoint;
pub mod http;
pub mod upload;
pub mod ws;

pub use endpoint::Endpoint;

/// What went wrong talking to the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No connection could be made (no network, DNS, refused, TLS, timeout).
    #[error("server unreachable: {0}")]
    Unreachable(String),
    /// A connection broke or the server broke the protocol; reconnecting is the remedy.
    #[error("connection lost: {0}")]
    Broken(String),
    /// The server (or a proxy) does not upgrade to a WebSocket: use the HTTP fallback.
    #[error("no WebSocket: {0}")]
    NoWebSocket(String),
    /// 401: the token or the password is not accepted.
    #[error("not authenticated: {0}")]
    Unauthorized(String),
    /// 403: this user may not do that.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The account is disabled (`account_disabled`: a login with the right password, or
    /// a token of the disabled user). No login will succeed.
    #[error("account disabled: {0}")]
    AccountDisabled(String),
    /// 400, 413, 422: the request is malformed or out of range.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 429: too many requests.
    #[error("rate limited, retry after {retry_after_secs:?} s")]
    RateLimited {
        /// The server's `Retry-After`, in seconds.
        retry_after_secs: Option<u64>,
    },
    /// 5xx: the server cannot serve now.
    #[error("server unavailable: {0}")]
    Unavailable(String),
    /// Any other answer.
    #[error("unexpected answer {status}: {message}")]
    Unexpected {
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
}

impl TransportError {
    /// The error for an HTTP answer that is not a success. `body` is the server's JSON
    /// error (`{"error", "message"}`) or anything else; its message is kept, and its code
    /// read only for `account_disabled` (a `401` or `403` the phone acts on).
    pub fn from_status(status: u16, retry_after: Option<u64>, body: &str) -> TransportError {
        let json = serde_json::from_str::<serde_json::Value>(body).ok();
        let field = |name: &str| {
            json.as_ref()
                .and_then(|v| v.get(name).and_then(|m| m.as_str()).map(str::to_owned))
        };
        let message = field("message").unwrap_or_else(|| body.chars().take(200).collect());
        if matches!(status, 401 | 403) && field("error").as_deref() == Some("account_disabled") {
            return TransportError::AccountDisabled(message);
        }
        match status {
            401 => TransportError::Unauthorized(message),
            403 => TransportError::Forbidden(message),
            400 | 413 | 422 => TransportError::BadRequest(message),
            429 => TransportError::RateLimited {
                retry_after_secs: retry_after,
            },
            500..=599 => TransportError::Unavailable(message),
            _ => TransportError::Unexpected { status, message },
        }
    }
}

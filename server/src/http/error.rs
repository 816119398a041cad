//! [`ApiError`]: the one place where failures become HTTP statuses and JSON bodies.
//!
//! Every handler returns `Result<_, ApiError>`. Bodies are `{"error": <code>, "message":
//! <plain words>}`. Database and internal errors are logged with their detail and answered
//! with a generic 500 body: their text never reaches a client.

use crate::domain::analytics::AnalyticsError;
use crate::domain::citizen::messages::MessageError;
use crate::domain::citizen::report::ReportError;
use crate::domain::dispatch::DispatchError;
use crate::domain::districts::GeoError;
use crate::domain::identity::AuthError;
use crate::domain::open311::Open311Error;
use crate::storage::DbError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sync_core::session::ServerStoreError;
use sync_core::task::TaskError;

/// An API failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Not authenticated: missing, malformed, unknown, expired or revoked credentials.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The request is well-formed but cannot be carried out (e.g. a point outside every
    /// district).
    #[error("{0}")]
    Unprocessable(String),
    /// No such thing.
    #[error("{0}")]
    NotFound(String),
    /// Clashes with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The right password of a disabled user (`403 account_disabled`).
    #[error("{0}")]
    AccountDisabled(String),
    /// A token of a disabled user (`401 account_disabled`).
    #[error("{0}")]
    DisabledToken(String),
    /// A login with a device id another user registered (`409 device_taken`).
    #[error("{0}")]
    DeviceTaken(String),
    /// Too many requests from this caller (a `Retry-After` header says when to retry).
    #[error("{0}")]
    TooManyRequests(String),
    /// Over a rate limit, with the seconds to wait (sent as `Retry-After`).
    #[error("{message}")]
    RetryAfter {
        /// Plain words.
        message: String,
        /// Seconds until a retry may be admitted.
        secs: u64,
    },
    /// A precondition header is missing or wrong (tus: no `Tus-Resumable: 1.0.0`).
    #[error("{0}")]
    PreconditionFailed(String),
    /// The body (or a declared length) is over a limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A content type that is not accepted.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Uploaded bytes do not hash to their address (tus checksum extension's 460).
    #[error("{0}")]
    ChecksumMismatch(String),
    /// Busy now; retry later.
    #[error("{0}")]
    Busy(String),
    /// Busy now; retry after the given seconds (sent as `Retry-After`).
    #[error("{message}")]
    BusyFor {
        /// Plain words.
        message: String,
        /// Seconds to wait before retrying.
        secs: u64,
    },
    /// A dependency (the database) is not available now.
    #[error("service unavailable")]
    Unavailable,
    /// A feature this server has not been configured for (the integrity channel with no
    /// category): not a transient failure, so a client should not retry.
    #[error("{0}")]
    NotConfigured(String),
    /// A storage failure (logged, never shown).
    #[error(transparent)]
    Db(DbError),
    /// Any other internal failure (logged, never shown).
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

impl ApiError {
    /// The status and machine-readable code.
    fn status_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::DeviceTaken(_) => (StatusCode::CONFLICT, "device_taken"),
            ApiError::AccountDisabled(_) => (StatusCode::FORBIDDEN, "account_disabled"),
            ApiError::DisabledToken(_) => (StatusCode::UNAUTHORIZED, "account_disabled"),
            ApiError::TooManyRequests(_) | ApiError::RetryAfter { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too_many_requests")
            }
            ApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::NotConfigured(_) => (StatusCode::SERVICE_UNAVAILABLE, "not_configured"),
            ApiError::PreconditionFailed(_) => {
                (StatusCode::PRECONDITION_FAILED, "precondition_failed")
            }
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::ChecksumMismatch(_) => (
                StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST),
                "checksum_mismatch",
            ),
            ApiError::Busy(_) | ApiError::BusyFor { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "busy")
            }
            ApiError::Db(DbError::Conflict) | ApiError::Db(DbError::Duplicate(_)) => {
                (StatusCode::CONFLICT, "conflict")
            }
            ApiError::Db(DbError::NotFound(_)) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Db(DbError::Invalid(_)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable")
            }
            ApiError::Db(_) | ApiError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_code();
        let message = match &self {
            ApiError::Db(
                e @ (DbError::Conflict
                | DbError::Duplicate(_)
                | DbError::NotFound(_)
                | DbError::Invalid(_)),
            ) => e.to_string(),
            ApiError::Db(e) => {
                tracing::error!(error = %e, "database error");
                "internal server error".to_owned()
            }
            ApiError::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                "internal server error".to_owned()
            }
            other => other.to_string(),
        };
        let mut resp = (
            status,
            Json(ErrorBody {
                error: code,
                message: &message,
            }),
        )
            .into_response();
        if let ApiError::RetryAfter { secs, .. } | ApiError::BusyFor { secs, .. } = &self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        ApiError::Db(e)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidCredentials => ApiError::Unauthorized("invalid login or password"),
            AuthError::MissingToken => {
                ApiError::Unauthorized("missing bearer token (Authorization: Bearer <token>)")
            }
            AuthError::MalformedHeader => {
                ApiError::Unauthorized("malformed Authorization header: expected `Bearer <token>`")
            }
            AuthError::InvalidToken => ApiError::Unauthorized("invalid, expired or revoked token"),
            AuthError::InvalidInput(m) => ApiError::BadRequest(m),
            AuthError::Db(e) => ApiError::Db(e),
            AuthError::Hash(m) => ApiError::Internal(m),
            e @ AuthError::DeviceTaken(_) => ApiError::DeviceTaken(e.to_string()),
            e @ AuthError::AccountDisabled => ApiError::AccountDisabled(e.to_string()),
            e @ AuthError::DisabledToken => ApiError::DisabledToken(e.to_string()),
            AuthError::Throttled(t) => ApiError::RetryAfter {
                secs: t.retry_after_secs(),
                message: t.to_string(),
            },
        }
    }
}

impl From<GeoError> for ApiError {
    fn from(e: GeoError) -> Self {
        match e {
            GeoError::Db(e) => ApiError::Db(e),
            GeoError::InvalidPoint { .. }
            | GeoError::InvalidGeoJson(_)
            | GeoError::InvalidFeature { .. } => ApiError::BadRequest(e.to_string()),
            GeoError::OutsideDistricts { .. } => ApiError::Unprocessable(e.to_string()),
        }
    }
}

impl From<crate::domain::places::PlacesError> for ApiError {
    fn from(e: crate::domain::places::PlacesError) -> Self {
        use crate::domain::places::PlacesError as E;
        match e {
            E::BadQuery(m) => ApiError::BadRequest(m),
            E::Forbidden(m) => ApiError::Forbidden(m),
            E::Db(e) => ApiError::Db(e),
        }
    }
}

impl From<crate::domain::integrity::IntegrityError> for ApiError {
    fn from(e: crate::domain::integrity::IntegrityError) -> Self {
        use crate::domain::integrity::IntegrityError as E;
        use crate::domain::integrity::attachment::AttachmentError as A;
        use crate::domain::integrity::pow::PowError as P;
        match e {
            e @ E::Disabled => ApiError::NotConfigured(e.to_string()),
            E::Invalid(m) => ApiError::BadRequest(m),
            E::MalformedCode(m) => ApiError::BadRequest(m.to_string()),
            E::TooLarge(m) => ApiError::PayloadTooLarge(m),
            E::Attachment(a @ A::TooLarge { .. }) => ApiError::PayloadTooLarge(a.to_string()),
            E::Attachment(a) => ApiError::Unprocessable(a.to_string()),
            e @ E::NoMatch => ApiError::NotFound(e.to_string()),
            E::Limited(l) => ApiError::RetryAfter {
                message: l.to_string(),
                secs: l.retry_after_secs(),
            },
            e @ E::Busy => ApiError::Busy(e.to_string()),
            E::Pow(p @ P::Busy) => ApiError::TooManyRequests(p.to_string()),
            E::Pow(p @ (P::Missing | P::Malformed)) => ApiError::BadRequest(p.to_string()),
            E::Pow(p) => ApiError::Forbidden(p.to_string()),
            e @ E::Tampered(_) => ApiError::Internal(e.to_string()),
            E::Db(e) => ApiError::Db(e),
            E::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        ApiError::BadRequest(e.body_text())
    }
}

impl From<crate::domain::gis::GisError> for ApiError {
    fn from(e: crate::domain::gis::GisError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

impl From<crate::domain::audit::AuditError> for ApiError {
    fn from(e: crate::domain::audit::AuditError) -> Self {
        match e {
            crate::domain::audit::AuditError::Forbidden => ApiError::Forbidden(e.to_string()),
            crate::domain::audit::AuditError::Invalid(m) => ApiError::BadRequest(m),
            crate::domain::audit::AuditError::Db(d) => ApiError::Db(d),
        }
    }
}

impl From<DispatchError> for ApiError {
    fn from(e: DispatchError) -> Self {
        match e {
            DispatchError::Db(e) => ApiError::Db(e),
            DispatchError::Store(ServerStoreError::Conflict) | DispatchError::Busy => {
                ApiError::Conflict("the task changed concurrently; try again".into())
            }
            DispatchError::Store(e) => ApiError::Internal(e.to_string()),
            DispatchError::Task(TaskError::Transition { event, why }) => {
                ApiError::Conflict(format!("cannot record {event} now: {why}"))
            }
            DispatchError::Task(TaskError::Invalid(m)) => ApiError::BadRequest(m),
            DispatchError::Task(e) => ApiError::Internal(e.to_string()),
            DispatchError::Geo(e) => e.into(),
            DispatchError::NotFound(m) => ApiError::NotFound(m),
            DispatchError::Forbidden(m) => ApiError::Forbidden(m),
            DispatchError::Invalid(m) => ApiError::BadRequest(m),
            DispatchError::Refused(m) => ApiError::Unprocessable(m),
        }
    }
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Invalid(m) => ApiError::BadRequest(m),
            ReportError::Outside(m) => ApiError::Unprocessable(m),
            ReportError::TooLarge(m) => ApiError::PayloadTooLarge(m),
            ReportError::NotFound(m) => ApiError::NotFound(m),
            ReportError::Busy(m) => ApiError::Busy(m),
            e @ ReportError::TooMany(_) => ApiError::TooManyRequests(e.to_string()),
            ReportError::Db(d) => ApiError::Db(d),
            ReportError::Dispatch(d) => d.into(),
            ReportError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<crate::domain::callcentre::DeskError> for ApiError {
    fn from(e: crate::domain::callcentre::DeskError) -> Self {
        use crate::domain::callcentre::DeskError;
        match e {
            DeskError::Invalid(m) => ApiError::BadRequest(m),
            DeskError::Forbidden(m) => ApiError::Forbidden(m),
            DeskError::NotFound(m) => ApiError::NotFound(m),
            DeskError::Conflict(m) => ApiError::Conflict(m),
            DeskError::Report(r) => r.into(),
            DeskError::Db(d) => ApiError::Db(d),
        }
    }
}

impl From<MessageError> for ApiError {
    fn from(e: MessageError) -> Self {
        match e {
            MessageError::Invalid(m) => ApiError::BadRequest(m),
            MessageError::Outside(m) => ApiError::Unprocessable(m),
            e @ MessageError::NotFound(_) => ApiError::NotFound(e.to_string()),
            MessageError::Forbidden(m) => ApiError::Forbidden(m),
            e @ MessageError::Answered(_) => ApiError::Conflict(e.to_string()),
            MessageError::Db(d) => ApiError::Db(d),
        }
    }
}

impl From<AnalyticsError> for ApiError {
    fn from(e: AnalyticsError) -> Self {
        match e {
            AnalyticsError::BadRequest(m) => ApiError::BadRequest(m),
            AnalyticsError::Forbidden(m) => ApiError::Forbidden(m),
            AnalyticsError::Db(d) => ApiError::Db(d),
            AnalyticsError::Internal(m) => ApiError::Internal(m),
        }
    }
}

/// The HTTP status of an Open311 failure (its body is the spec's, written by
/// `http::open311`).
pub fn open311_status(e: &Open311Error) -> StatusCode {
    match e {
        Open311Error::BadRequest(_) => StatusCode::BAD_REQUEST,
        Open311Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Open311Error::NotFound(_) => StatusCode::NOT_FOUND,
        Open311Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        Open311Error::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
        Open311Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<crate::domain::photo::tus::TusError> for ApiError {
    fn from(e: crate::domain::photo::tus::TusError) -> Self {
        use crate::domain::photo::PhotoError as P;
        use crate::domain::photo::ingest::IngestError as I;
        use crate::domain::photo::tus::TusError as T;
        match e {
            e @ (T::Empty
            | T::Kind(_)
            | T::TaskId(_)
            | T::StoredLength { .. }
            | T::CreatedLength { .. }) => ApiError::BadRequest(e.to_string()),
            e @ (T::TooLarge { .. } | T::Overflow { .. }) => {
                ApiError::PayloadTooLarge(e.to_string())
            }
            T::Unsupported(p) => ApiError::UnsupportedMediaType(p.to_string()),
            e @ (T::NotSyncing | T::OutOfScope(_) | T::NotYours) => {
                ApiError::Forbidden(e.to_string())
            }
            e @ (T::UnknownTask(_)
            | T::Busy
            | T::Writing
            | T::WrongOffset { .. }
            | T::OthersUpload) => ApiError::Conflict(e.to_string()),
            e @ (T::Quota { .. } | T::UserQuota { .. }) => ApiError::TooManyRequests(e.to_string()),
            e @ (T::NoUpload | T::NotCreated) => ApiError::NotFound(e.to_string()),
            T::Unavailable => ApiError::Unavailable,
            T::Db(d) => ApiError::Db(d),
            T::Ingest(e @ I::HashMismatch { .. }) => ApiError::ChecksumMismatch(format!(
                "{e}; the upload was discarded: start again from offset 0"
            )),
            T::Ingest(I::Refused(P::Busy) | I::Busy) => {
                ApiError::Busy("photo processing is busy; retry later".into())
            }
            T::Ingest(I::Refused(p @ (P::Invalid(_) | P::Unsupported(_) | P::TooLarge(_)))) => {
                ApiError::Unprocessable(format!("{p}; the upload was discarded"))
            }
            T::Ingest(I::Refused(P::Internal(m)) | I::Internal(m)) => ApiError::Internal(m),
            T::Ingest(I::Storage(s)) => ApiError::Internal(s.to_string()),
            T::Ingest(I::Db(d)) => ApiError::Db(d),
        }
    }
}

impl From<crate::domain::photo::serve::ServeError> for ApiError {
    fn from(e: crate::domain::photo::serve::ServeError) -> Self {
        use crate::domain::photo::serve::ServeError as S;
        match e {
            e @ (S::NoSize(_) | S::NoPhoto) => ApiError::NotFound(e.to_string()),
            e @ (S::NotStaff | S::OutOfDistrict) => ApiError::Forbidden(e.to_string()),
            e @ S::Missing { .. } => ApiError::Internal(e.to_string()),
            S::Storage(s) => ApiError::Internal(s.to_string()),
            S::Store(s) => ApiError::Internal(s.to_string()),
            S::Db(d) => ApiError::Db(d),
        }
    }
}

impl From<crate::domain::gis::ogc::OgcError> for ApiError {
    fn from(e: crate::domain::gis::ogc::OgcError) -> Self {
        use crate::domain::gis::ogc::OgcError as O;
        match e {
            O::Bad(g) => g.into(),
            O::NotFound(m) => ApiError::NotFound(m),
            O::Db(d) => ApiError::Db(d),
        }
    }
}

impl From<crate::domain::dispatch::position::ReportError> for ApiError {
    fn from(e: crate::domain::dispatch::position::ReportError) -> Self {
        use crate::domain::dispatch::position::ReportError as E;
        match e {
            e @ E::Impossible(_) => ApiError::BadRequest(e.to_string()),
            e @ E::TooFast { .. } => ApiError::TooManyRequests(e.to_string()),
            E::Db(e) => ApiError::Db(e),
        }
    }
}

impl From<crate::domain::sync::NotSynced> for ApiError {
    fn from(e: crate::domain::sync::NotSynced) -> Self {
        ApiError::Forbidden(e.to_string())
    }
}

impl From<crate::domain::admin::AdminError> for ApiError {
    fn from(e: crate::domain::admin::AdminError) -> Self {
        use crate::domain::admin::AdminError as E;
        match e {
            e @ E::Forbidden => ApiError::Forbidden(e.to_string()),
            E::Invalid(m) => ApiError::BadRequest(m),
            E::NotFound(m) => ApiError::NotFound(m),
            E::Unknown(m) => ApiError::Unprocessable(m),
            E::Conflict(m) => ApiError::Conflict(m),
            E::Db(d) => ApiError::Db(d),
        }
    }
}

impl From<crate::domain::penalties::PenaltyError> for ApiError {
    fn from(e: crate::domain::penalties::PenaltyError) -> Self {
        use crate::domain::penalties::PenaltyError as E;
        match e {
            E::Forbidden(m) => ApiError::Forbidden(m),
            E::NotFound => ApiError::NotFound("no such penalty".into()),
            E::Invalid(m) => ApiError::BadRequest(m),
            E::Conflict(m) => ApiError::Conflict(m),
            E::Db(d) => ApiError::Db(d),
        }
    }
}

impl From<crate::domain::roster::RosterError> for ApiError {
    fn from(e: crate::domain::roster::RosterError) -> Self {
        use crate::domain::roster::RosterError as E;
        match e {
            E::Forbidden(m) => ApiError::Forbidden(m),
            E::NotFound(m) => ApiError::NotFound(m),
            E::Invalid(p) => ApiError::Unprocessable(p.join("; ")),
            E::Conflict(m) => ApiError::Conflict(m),
            E::Db(d) => ApiError::Db(d),
        }
    }
}

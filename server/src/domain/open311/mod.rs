//! Open311 GeoReport v2 (design §6): citizens and Open311 apps file and follow reports,
//! and a FixMyStreet installation can use Tarmim as its back office (FixMyStreet's
//! `servicerequestupdates` and extended statuses). Served under `/open311/v2/` by
//! [`crate::http::open311`], in XML and JSON by the path's suffix.
//!
//! - [`format`]: one answer tree written as XML or JSON (the spec's error body too); ISO
//!   8601 datetimes with offset;
//! - [`discovery`]: the service discovery answer;
//! - [`status`]: the documented mapping of internal statuses to `open`/`closed` and to
//!   FixMyStreet's extended statuses;
//! - [`keys`]: API keys (SHA-256 of 128-bit secrets, revocable);
//! - [`services`]: services and their definitions (attributes of every datatype);
//! - [`requests`]: POST requests — checks, `media[]` photos, filing through
//!   [`crate::domain::intake::create_task`], nearby duplicates, support for an existing report;
//! - [`query`]: GET requests with the standard filters, paging and extensions;
//! - [`updates`]: FixMyStreet's `servicerequestupdates` (GET and POST);
//! - [`media`]: uploaded photos through [`crate::domain::photo`].
//!
//! Their rows are in [`crate::storage::open311`]; [`crate::http::open311`] only reads
//! requests (query strings, form and multipart bodies) and writes these answers.
//!
//! A report filed here is a task like any other (source `citizen`, created by the server
//! on the citizen's behalf). What only Open311 knows — the token, the attribute answers,
//! the media URL, and the citizen's contact details — lives in the `open311_*` tables of
//! migration 0007, never in the task document that syncs to crews' phones.

pub mod discovery;
pub mod format;
pub mod keys;
pub mod media;
pub mod query;
pub mod requests;
pub mod services;
pub mod status;
pub mod updates;

pub use crate::base::config::open311::Open311Config;

use crate::domain::dispatch::DispatchError;
use crate::domain::districts::GeoError;
use crate::storage::DbError;

/// Seeds the demo city's Open311 parts: the demo services' definitions and the demo API
/// key ([`keys::DEMO_KEY`], public like the demo passwords, printed once).
pub async fn seed_demo(db: &crate::storage::Db) -> Result<(), DbError> {
    for (service, attrs) in services::demo_attributes() {
        crate::storage::open311::set_attributes(db, service, &attrs).await?;
    }
    match keys::insert(db, keys::DEMO_KEY_NAME, keys::DEMO_KEY).await {
        Ok(()) | Err(DbError::Duplicate(_)) => {}
        Err(e) => return Err(e),
    }
    tracing::info!(
        "demo Open311 api_key: {} (name {:?})",
        keys::DEMO_KEY,
        keys::DEMO_KEY_NAME
    );
    Ok(())
}

/// The largest `page_size` of `GET requests` (a larger one is refused with 400).
pub const MAX_PAGE_SIZE: u32 = 200;
/// The `page_size` when none is given.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The longest `start_date`…`end_date` span, days (a longer one is refused with 400).
pub const MAX_SPAN_DAYS: i64 = 90;
/// The longest description, characters.
pub const MAX_DESCRIPTION: usize = 4000;

/// An Open311 failure, answered with the spec's error body (a list of `code` and
/// `description`) in the requested format.
#[derive(Debug, thiserror::Error)]
pub enum Open311Error {
    /// 400: bad input.
    #[error("{0}")]
    BadRequest(String),
    /// 403: missing, wrong or revoked `api_key`.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such service, request or token.
    #[error("{0}")]
    NotFound(String),
    /// 413: a body or media file over its limit.
    #[error("{0}")]
    TooLarge(String),
    /// 503: busy (photo workers, a task changing under us); retry.
    #[error("{0}")]
    Busy(String),
    /// 500: our failure (logged, never shown).
    #[error("{0}")]
    Internal(String),
}

impl From<DbError> for Open311Error {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound(m) => Open311Error::NotFound(m),
            DbError::Invalid(m) => Open311Error::BadRequest(m),
            DbError::Duplicate(m) => Open311Error::BadRequest(format!("already exists: {m}")),
            other => Open311Error::Internal(other.to_string()),
        }
    }
}

impl From<DispatchError> for Open311Error {
    fn from(e: DispatchError) -> Self {
        match e {
            DispatchError::Db(e) => e.into(),
            DispatchError::Geo(GeoError::Db(e)) => e.into(),
            DispatchError::Geo(g) => Open311Error::BadRequest(g.to_string()),
            DispatchError::Invalid(m) | DispatchError::Refused(m) => Open311Error::BadRequest(m),
            DispatchError::Task(sync_core::task::TaskError::Invalid(m)) => {
                Open311Error::BadRequest(m)
            }
            DispatchError::NotFound(m) => Open311Error::NotFound(m),
            DispatchError::Forbidden(m) => Open311Error::Forbidden(m),
            DispatchError::Busy => {
                Open311Error::Busy("the report changed concurrently; try again".into())
            }
            other => Open311Error::Internal(other.to_string()),
        }
    }
}

/// Whether text contains an HTML (or XML) tag: `<` followed by a letter, `/`, `!` or
/// `?`. Plain comparisons such as `a < b` pass.
pub fn looks_like_html(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(2)
        .any(|w| w[0] == b'<' && (w[1].is_ascii_alphabetic() || matches!(w[1], b'/' | b'!' | b'?')))
}

/// Form or query parameters in order, keys and values decoded.
pub type Params = Vec<(String, String)>;

/// The first value of `key`.
pub fn param<'a>(p: &'a Params, key: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The first non-blank value of `key`, trimmed.
pub fn param_nonblank<'a>(p: &'a Params, key: &str) -> Option<&'a str> {
    param(p, key).map(str::trim).filter(|s| !s.is_empty())
}

/// Parses `application/x-www-form-urlencoded` text (a query string or a form body).
pub fn parse_params(text: &str) -> Result<Params, Open311Error> {
    serde_urlencoded::from_str::<Params>(text)
        .map_err(|e| Open311Error::BadRequest(format!("malformed parameters: {e}")))
}

/// The `api_key` parameter's key name, or 403 with the spec's body.
pub async fn require_key(db: &crate::storage::Db, p: &Params) -> Result<String, Open311Error> {
    let key = key_param(p)?;
    keys::check(db, key)
        .await?
        .ok_or_else(|| Open311Error::Forbidden("invalid api_key".into()))
}

/// [`require_key`] from the catalogue cache: only where the commit checks the key again
/// (filing a request).
pub async fn require_key_cached(
    db: &crate::storage::Db,
    p: &Params,
) -> Result<String, Open311Error> {
    let key = key_param(p)?;
    keys::check_cached(db, key)
        .await?
        .ok_or_else(|| Open311Error::Forbidden("invalid api_key".into()))
}

fn key_param(p: &Params) -> Result<&str, Open311Error> {
    param_nonblank(p, "api_key")
        .ok_or_else(|| Open311Error::Forbidden("an api_key is required to POST".into()))
}

/// Checks free text a citizen sent: at most `max` characters, no HTML.
pub fn check_text(field: &str, s: &str, max: usize) -> Result<(), Open311Error> {
    if s.chars().count() > max {
        return Err(Open311Error::BadRequest(format!(
            "{field} is at most {max} characters"
        )));
    }
    if looks_like_html(s) {
        return Err(Open311Error::BadRequest(format!(
            "{field} must be plain text: HTML tags are not accepted"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_told_from_comparisons() {
        assert!(looks_like_html("<b>hi</b>"));
        assert!(looks_like_html("x <script>"));
        assert!(looks_like_html("</p>"));
        assert!(looks_like_html("<!-- c -->"));
        assert!(!looks_like_html("a < b and c > d"));
        assert!(!looks_like_html("<3 this city"));
        assert!(!looks_like_html("چاله <۵۰ سانتی"));
    }
}

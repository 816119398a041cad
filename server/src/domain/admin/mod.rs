//! Administration without SQL (issue 18 point 5): services (names in Persian and
//! English, category, default priority, SLA terms, Open311 attributes, retirement),
//! districts (GeoJSON import, region, neighbours, auto-assignment), crews, users,
//! contractors' penalty schedules and Open311 keys. The command line (`cli`) and the
//! admin routes (`http::admin`) call the same functions here; each change is checked
//! here, stored through `storage`, and written to the staff audit log
//! ([`crate::domain::audit`]) with who made it.
//!
//! - [`services`], [`districts`], [`crews`], [`users`], [`contracts`] (schedules and
//!   Open311 keys): one idea each.
//! - [`Admin`]: who is acting — a signed-in admin (checked) or the command line.

pub mod contracts;
pub mod crews;
pub mod districts;
pub mod services;
pub mod users;

use crate::domain::audit::{self, Who};
use crate::domain::identity::{Identity, UserRole};
use crate::storage::{Db, DbError};
use serde_json::Value;

/// Why an admin change was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Only admins administer.
    #[error("administration is for admins")]
    Forbidden,
    /// Bad input (a negative SLA, two attributes with one code, an invalid polygon, …).
    #[error("{0}")]
    Invalid(String),
    /// The thing changed does not exist (the path's service, district, crew or user).
    #[error("{0}")]
    NotFound(String),
    /// The input names something that does not exist (a crew's district, a user's crew).
    #[error("{0}")]
    Unknown(String),
    /// Clashes with the current state (a taken code, a service with open tasks, the last
    /// admin).
    #[error("{0}")]
    Conflict(String),
    /// Storage failed.
    #[error(transparent)]
    Db(DbError),
}

impl From<DbError> for AdminError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Invalid(m) => AdminError::Invalid(m),
            DbError::Duplicate(m) => AdminError::Conflict(format!("already exists: {m}")),
            DbError::NotFound(m) => AdminError::Unknown(format!("unknown {m}")),
            other => AdminError::Db(other),
        }
    }
}

impl From<crate::domain::penalties::PenaltyError> for AdminError {
    fn from(e: crate::domain::penalties::PenaltyError) -> Self {
        use crate::domain::penalties::PenaltyError as P;
        match e {
            P::Invalid(m) => AdminError::Invalid(m),
            P::Forbidden(_) => AdminError::Forbidden,
            P::NotFound => AdminError::NotFound("not found".into()),
            P::Conflict(m) => AdminError::Conflict(m),
            P::Db(d) => d.into(),
        }
    }
}

/// Who is administering: a signed-in admin, or an operator on the server's machine.
#[derive(Debug, Clone)]
pub struct Admin {
    who: Who,
}

impl Admin {
    /// A signed-in user, who must be an admin.
    pub fn of(id: &Identity) -> Result<Admin, AdminError> {
        if id.role != UserRole::Admin {
            return Err(AdminError::Forbidden);
        }
        Ok(Admin { who: Who::of(id) })
    }

    /// The command line.
    pub fn cli() -> Admin {
        Admin { who: Who::cli() }
    }

    /// Records a change in the staff audit log (`admin.<what>`).
    async fn record(&self, db: &Db, what: &str, target: &str, detail: Value) {
        audit::record(
            db,
            &self.who,
            &format!("admin.{what}"),
            Some(target),
            detail,
        )
        .await;
    }
}

/// Checks a free-text field: trimmed, `min`..=`max` characters.
fn text(what: &str, s: &str, min: usize, max: usize) -> Result<String, AdminError> {
    let s = s.trim();
    let n = s.chars().count();
    if n < min || n > max || s.chars().any(char::is_control) {
        return Err(AdminError::Invalid(format!(
            "{what} must be {min} to {max} characters without control characters"
        )));
    }
    Ok(s.to_owned())
}

/// An optional free-text field: blank is none.
fn opt_text(what: &str, s: Option<&str>, max: usize) -> Result<Option<String>, AdminError> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => text(what, s, 1, max).map(Some),
    }
}

/// Known district codes.
async fn known_districts(db: &Db) -> Result<Vec<String>, AdminError> {
    use crate::storage::DistrictStore;
    Ok(db.districts().await?.into_iter().map(|d| d.code).collect())
}

/// Refuses district codes that are not imported.
async fn check_districts(db: &Db, codes: &[String]) -> Result<(), AdminError> {
    if codes.is_empty() {
        return Ok(());
    }
    let known = known_districts(db).await?;
    if let Some(bad) = codes.iter().find(|c| !known.contains(c)) {
        return Err(AdminError::Unknown(format!("unknown district {bad:?}")));
    }
    Ok(())
}

//! Penalties and their evidence (issue 18 point 3): the SLA terms of each service
//! (`sla`), each contractor's penalty schedule (`schedule`), the proposals the system
//! makes from the facts (`propose`), the manager's decisions and the contractor's
//! appeal (`decide`), and the period statement (`statement`). Stored in
//! `storage::penalties`.
//!
//! Who sees what: a manager the penalties of tasks in their districts, an admin every
//! one, a contractor's representative (role `contractor`) only its own contractor's;
//! every other role gets 403. A penalty outside the caller's view is "not found" (404),
//! so a representative cannot learn that another contractor's penalty exists.

pub mod decide;
pub mod propose;
pub mod schedule;
pub mod sla;
pub mod statement;

use crate::domain::identity::{Identity, UserRole};
use crate::storage::penalties::{self as store, Filter, Penalty};
use crate::storage::{Db, DbError};

/// Why a penalty request failed.
#[derive(Debug, thiserror::Error)]
pub enum PenaltyError {
    /// The caller's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such penalty in the caller's view.
    #[error("no such penalty")]
    NotFound,
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// The penalty is not in a state that allows this (waived, already decided, …).
    #[error("{0}")]
    Conflict(String),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What a caller may see of penalties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// Every penalty (admins).
    All,
    /// Penalties of tasks in these districts (managers).
    Districts(Vec<String>),
    /// One contractor's (its representatives).
    Contractor(String),
}

impl View {
    /// The caller's view; 403 for roles that see no penalties.
    pub fn of(who: &Identity) -> Result<View, PenaltyError> {
        match (who.role, &who.contractor) {
            (UserRole::Admin, _) => Ok(View::All),
            (UserRole::Manager, _) => Ok(View::Districts(who.districts.clone())),
            (UserRole::Contractor, Some(c)) => Ok(View::Contractor(c.clone())),
            _ => Err(PenaltyError::Forbidden(
                "penalties are for managers, admins and contractors' representatives".into(),
            )),
        }
    }

    /// Whether a penalty is in this view.
    pub fn sees(&self, p: &Penalty) -> bool {
        match self {
            View::All => true,
            View::Districts(d) => p.district.as_ref().is_some_and(|x| d.contains(x)),
            View::Contractor(c) => &p.contractor == c,
        }
    }

    /// This view as a storage filter.
    pub fn filter(&self) -> Filter {
        match self {
            View::All => Filter::default(),
            View::Districts(d) => Filter {
                districts: Some(d.clone()),
                ..Filter::default()
            },
            View::Contractor(c) => Filter {
                contractor: Some(c.clone()),
                ..Filter::default()
            },
        }
    }
}

/// Statuses a penalty can have.
pub const STATUSES: [&str; 4] = ["proposed", "confirmed", "waived", "appealed"];

/// The most rows one list returns.
pub const LIST_LIMIT: i64 = 1000;

/// Penalties in the caller's view, newest fact first; `status` and `contractor` narrow.
pub async fn list(
    db: &Db,
    who: &Identity,
    status: Option<&str>,
    contractor: Option<&str>,
) -> Result<Vec<Penalty>, PenaltyError> {
    let view = View::of(who)?;
    let mut f = view.filter();
    if let Some(s) = status.filter(|s| !s.is_empty()) {
        if !STATUSES.contains(&s) {
            return Err(PenaltyError::Invalid(format!(
                "unknown status {s:?}: expected one of {}",
                STATUSES.join(", ")
            )));
        }
        f.status = Some(s.to_owned());
    }
    if let Some(c) = contractor.filter(|c| !c.is_empty()) {
        match &f.contractor {
            // A representative asking for another contractor sees nothing of it.
            Some(own) if own != c => return Ok(Vec::new()),
            _ => f.contractor = Some(c.to_owned()),
        }
    }
    Ok(store::list(db, &f, LIST_LIMIT).await?)
}

/// One penalty with its steps, if the caller's view holds it.
pub async fn get(db: &Db, who: &Identity, id: i64) -> Result<Penalty, PenaltyError> {
    let view = View::of(who)?;
    match store::get(db, id).await? {
        Some(p) if view.sees(&p) => Ok(p),
        _ => Err(PenaltyError::NotFound),
    }
}

/// A contractor representative's own contractor's tasks (the facts analytics keeps:
/// status, times, due times, photos), newest first.
pub async fn contractor_tasks(
    db: &Db,
    who: &Identity,
) -> Result<Vec<crate::storage::penalties::ContractorTask>, PenaltyError> {
    match (who.role, &who.contractor) {
        (UserRole::Contractor, Some(c)) => Ok(store::contractor_tasks(db, c, LIST_LIMIT).await?),
        _ => Err(PenaltyError::Forbidden(
            "this list is for contractors' representatives".into(),
        )),
    }
}

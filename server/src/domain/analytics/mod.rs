//! Managers' analytics (design §8, issue 9): volumes, response times, SLA compliance,
//! reopen rates, satisfaction and photo evidence per district, region, category, crew
//! and contractor over any local date range; trends, scorecards, the tasks behind a
//! number, a before/after gallery, CSV export.
//!
//! - `facts`: the per-task facts row written in every commit's transaction;
//! - `period`: local dates in the city's zone, ranges and buckets;
//! - `measures`: the measures' definitions and what both engines share (the SQL engine's
//!   grouped queries are in [`crate::storage::analytics`]);
//! - `mirror`: the in-memory copy of `task_facts`, refreshed incrementally;
//! - `scan`: the in-memory engine, one pass over the mirror (the default);
//! - `scorecard`: the documented, configurable score and ranking;
//! - `evidence`: the tasks behind a number, and the gallery;
//! - `export`: CSV from the same rows the JSON answers carry;
//! - `answers`: each endpoint's parameters checked and its answer (JSON or CSV);
//! - `generate`: past-dated demo history, so the demo city's charts have something to show.
//!
//! Invariant: every query reads `task_facts` (directly or through the mirror) and
//! `photos` for flags only, filtered by the caller's districts; no query decodes a
//! document. Citizens' thanks and complaints (the scorecard's counts) and the figure of
//! reports and messages by kind and channel also read `citizen_messages` and
//! `citizen_reports`, through the same filter. Both engines give the same numbers (the analytics tests run on both).

pub mod answers;
pub mod evidence;
pub mod export;
pub mod facts;
pub mod measures;
pub mod mirror;
pub mod period;
pub mod scan;
pub mod scorecard;

pub use crate::base::config::analytics::{AnalyticsConfig, Weights};

use crate::domain::identity::{Identity, UserRole};
use crate::storage::DbError;
use crate::storage::analytics::FactsFilter;

pub use crate::storage::analytics::{By, PRIORITIES};

/// An analytics failure.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// A bad parameter (→ 400).
    #[error("{0}")]
    BadRequest(String),
    /// Not allowed (→ 403).
    #[error("{0}")]
    Forbidden(String),
    /// Storage.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A computation that could not finish (→ 500).
    #[error("{0}")]
    Internal(String),
}

/// Which districts a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every district (admins).
    All,
    /// These districts (dispatchers and managers: their own).
    Districts(Vec<String>),
}

impl Scope {
    /// The caller's scope; crews and call-centre operators get 403.
    pub fn of(who: &Identity) -> Result<Scope, AnalyticsError> {
        match who.role {
            UserRole::Admin => Ok(Scope::All),
            UserRole::Manager | UserRole::Dispatcher => Ok(Scope::Districts(who.districts.clone())),
            _ => Err(AnalyticsError::Forbidden(
                "analytics are for managers, dispatchers and admins".into(),
            )),
        }
    }

    /// Whether a district is visible.
    pub fn sees(&self, district: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Districts(d) => d.iter().any(|x| x == district),
        }
    }
}

impl By {
    /// Parses a `by`/`level` value.
    pub fn parse(what: &str, s: &str) -> Result<By, AnalyticsError> {
        match s {
            "district" => Ok(By::District),
            "region" => Ok(By::Region),
            "category" => Ok(By::Category),
            "crew" => Ok(By::Crew),
            "contractor" => Ok(By::Contractor),
            _ => Err(AnalyticsError::BadRequest(format!(
                "unknown {what} {s:?}: expected district, region, category, crew or contractor"
            ))),
        }
    }
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            By::District => "district",
            By::Region => "region",
            By::Category => "category",
            By::Crew => "crew",
            By::Contractor => "contractor",
        }
    }
}

/// The filters every endpoint takes, checked.
#[derive(Debug, Clone)]
pub struct Filter {
    /// The local date range.
    pub range: period::Range,
    /// One district.
    pub district: Option<String>,
    /// One region.
    pub region: Option<String>,
    /// One category.
    pub category: Option<String>,
    /// One priority.
    pub priority: Option<String>,
    /// The caller's districts.
    pub scope: Scope,
}

impl Filter {
    /// The rows the filter reads (the range is given to each query apart).
    pub fn facts(&self) -> FactsFilter {
        FactsFilter {
            district: self.district.clone(),
            region: self.region.clone(),
            category: self.category.clone(),
            priority: self.priority.clone(),
            districts: match &self.scope {
                Scope::All => None,
                Scope::Districts(ds) => Some(ds.clone()),
            },
        }
    }
}

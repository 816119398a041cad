//! Contractors' contracts and outside parties' keys: a contractor's penalty schedule
//! (`penalties::schedule`; its SLA is the services' terms, `services::set_sla`) and the
//! Open311 API keys apps and FixMyStreet installations post with (`open311::keys`).

use super::{Admin, AdminError};
use crate::domain::open311::keys;
use crate::domain::penalties::schedule;
use crate::storage::penalties::{Terms, all_terms};
use crate::storage::{Db, DbError, IdentityStore};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A contractor with its schedule, if it has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Contractor {
    /// Its name (as its crews and representatives name it).
    pub name: String,
    /// Its crews.
    pub crews: Vec<String>,
    /// Its penalty schedule.
    pub terms: Option<Terms>,
}

/// A penalty schedule as typed (the contractor is the path's).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TermsInput {
    /// `rial` or `points`.
    pub unit: String,
    /// Per started hour late.
    pub per_late_hour: i64,
    /// Per rejected completion.
    pub per_rejection: i64,
    /// Per citizen "not fixed" that reopened a task.
    pub per_not_fixed: i64,
    /// Per citizen complaint answered by staff.
    pub per_complaint: i64,
    /// The most a calendar month's statement charges (none: no cap).
    #[serde(default)]
    pub cap_per_month: Option<i64>,
}

/// An Open311 key as listed (never the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct KeyInfo {
    /// Its holder's name.
    pub name: String,
    /// Issued (ms since the epoch).
    pub created_at: i64,
    /// Revoked (ms since the epoch).
    pub revoked_at: Option<i64>,
}

/// A key to issue.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// A name for the key's holder (no spaces).
    pub name: String,
}

/// A key just issued: shown once.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IssuedKey {
    /// Its holder's name.
    pub name: String,
    /// The key (only its hash is kept).
    pub key: String,
}

/// Every contractor named by a crew or a schedule.
pub async fn contractors(db: &Db) -> Result<Vec<Contractor>, AdminError> {
    let crews = db.crews().await?;
    let terms = all_terms(db).await?;
    let mut names: Vec<String> = crews
        .iter()
        .filter_map(|c| c.contractor.clone())
        .chain(terms.iter().map(|t| t.contractor.clone()))
        .collect();
    names.sort();
    names.dedup();
    Ok(names
        .into_iter()
        .map(|name| Contractor {
            crews: crews
                .iter()
                .filter(|c| c.contractor.as_deref() == Some(&name))
                .map(|c| c.id.clone())
                .collect(),
            terms: terms.iter().find(|t| t.contractor == name).cloned(),
            name,
        })
        .collect())
}

/// Sets a contractor's penalty schedule (replacing the previous one).
pub async fn set_terms(db: &Db, by: &Admin, t: &Terms) -> Result<Terms, AdminError> {
    schedule::set(db, t).await?;
    by.record(
        db,
        "contractor_terms",
        &t.contractor,
        serde_json::to_value(t).unwrap_or_default(),
    )
    .await;
    Ok(t.clone())
}

/// The schedule of a request for `contractor`.
pub fn terms_of(contractor: &str, t: &TermsInput) -> Terms {
    Terms {
        contractor: contractor.trim().to_owned(),
        unit: t.unit.trim().to_owned(),
        per_late_hour: t.per_late_hour,
        per_rejection: t.per_rejection,
        per_not_fixed: t.per_not_fixed,
        per_complaint: t.per_complaint,
        cap_per_month: t.cap_per_month,
    }
}

/// Every Open311 key.
pub async fn keys(db: &Db) -> Result<Vec<KeyInfo>, AdminError> {
    Ok(keys::list(db)
        .await?
        .into_iter()
        .map(|(name, created_at, revoked_at)| KeyInfo {
            name,
            created_at,
            revoked_at,
        })
        .collect())
}

/// Issues a key (printed or answered once).
pub async fn issue_key(db: &Db, by: &Admin, name: &str) -> Result<IssuedKey, AdminError> {
    let name = name.trim();
    let key = keys::create(db, name).await.map_err(|e| match e {
        DbError::Duplicate(_) => AdminError::Conflict(format!("a key {name:?} exists already")),
        other => other.into(),
    })?;
    by.record(db, "open311_key_issue", name, json!({})).await;
    Ok(IssuedKey {
        name: name.to_owned(),
        key,
    })
}

/// Revokes a live key.
pub async fn revoke_key(db: &Db, by: &Admin, name: &str) -> Result<(), AdminError> {
    if !keys::revoke(db, name).await? {
        return Err(AdminError::NotFound(format!(
            "no live Open311 key {name:?}"
        )));
    }
    by.record(db, "open311_key_revoke", name, json!({})).await;
    Ok(())
}

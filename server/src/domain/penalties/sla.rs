//! SLA terms per service and priority: minutes to acknowledge and to complete. A
//! priority's own terms override the service's; with neither, the dispatch settings'
//! acknowledgement windows (`TARMIM_DISPATCH_ACK_SECS_*`) apply and a task has no
//! completion due time. New tasks take their due times from here (`intake`); lateness
//! against them is what `propose` turns into penalties.

use super::PenaltyError;
use crate::storage::Db;
use crate::storage::penalties as store;
use sync_core::task::Priority;

/// The longest term accepted: a year, in minutes. Anything longer is a typo.
pub const MAX_MINUTES: i64 = 365 * 24 * 60;

/// Checks one term: 1 minute to a year.
pub fn check_minutes(what: &str, m: Option<i64>) -> Result<(), PenaltyError> {
    match m {
        Some(m) if !(1..=MAX_MINUTES).contains(&m) => Err(PenaltyError::Invalid(format!(
            "{what} must be 1 to {MAX_MINUTES} minutes (a year), not {m}"
        ))),
        _ => Ok(()),
    }
}

/// Sets a service's terms for every priority (`priority` none) or one priority.
pub async fn set(
    db: &Db,
    service: &str,
    priority: Option<Priority>,
    ack_minutes: Option<i64>,
    complete_minutes: Option<i64>,
) -> Result<(), PenaltyError> {
    check_minutes("acknowledge within", ack_minutes)?;
    check_minutes("complete within", complete_minutes)?;
    if let (Some(a), Some(c)) = (ack_minutes, complete_minutes)
        && a > c
    {
        return Err(PenaltyError::Invalid(format!(
            "acknowledge within ({a} min) cannot be longer than complete within ({c} min)"
        )));
    }
    store::set_sla(
        db,
        service,
        priority.map(Priority::as_str),
        ack_minutes,
        complete_minutes,
    )
    .await
    .map_err(|e| match e {
        crate::storage::DbError::NotFound(m) => PenaltyError::Invalid(format!("unknown {m}")),
        other => other.into(),
    })
}

/// The terms in force for a service at a priority, in milliseconds.
pub async fn terms_ms(
    db: &Db,
    service: &str,
    priority: Priority,
) -> Result<(Option<i64>, Option<i64>), crate::storage::DbError> {
    let (a, c) = store::sla_terms(db, service, priority.as_str()).await?;
    let ms = |m: i64| m.saturating_mul(60_000);
    Ok((a.map(ms), c.map(ms)))
}

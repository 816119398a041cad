//! A contractor's penalty schedule: what each late hour, rejected completion, citizen
//! "not fixed" and complaint costs, in rials or points, and the most a calendar month's
//! statement charges.

use super::PenaltyError;
use crate::storage::Db;
use crate::storage::penalties::{self as store, Terms};

/// The largest amount per fact accepted (a typo guard: 10^12 rials).
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// Checks a schedule before it is stored.
pub fn check(t: &Terms) -> Result<(), PenaltyError> {
    crate::storage::identity::check_contractor(&t.contractor)
        .map_err(|e| PenaltyError::Invalid(e.to_string()))?;
    if t.unit != "rial" && t.unit != "points" {
        return Err(PenaltyError::Invalid(format!(
            "unit must be rial or points, not {:?}",
            t.unit
        )));
    }
    for (what, v) in [
        ("per late hour", t.per_late_hour),
        ("per rejection", t.per_rejection),
        ("per not fixed", t.per_not_fixed),
        ("per complaint", t.per_complaint),
    ] {
        if !(0..=MAX_AMOUNT).contains(&v) {
            return Err(PenaltyError::Invalid(format!(
                "{what} must be 0 to {MAX_AMOUNT}, not {v}"
            )));
        }
    }
    if let Some(c) = t.cap_per_month
        && !(1..=MAX_AMOUNT).contains(&c)
    {
        return Err(PenaltyError::Invalid(format!(
            "the monthly cap must be 1 to {MAX_AMOUNT}, not {c}"
        )));
    }
    Ok(())
}

/// Stores a schedule.
pub async fn set(db: &Db, t: &Terms) -> Result<(), PenaltyError> {
    check(t)?;
    store::set_terms(db, t, crate::base::time::now_millis()).await?;
    Ok(())
}

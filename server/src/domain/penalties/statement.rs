//! A contractor's statement for a period: every penalty whose fact falls in it, the
//! confirmed total, and what is charged after the schedule's monthly cap (applied to
//! each calendar month of the city's zone separately). Penalties under appeal count as
//! confirmed until the manager decides; proposed ones are listed but not charged.

use super::{PenaltyError, View};
use crate::domain::analytics::period::Range;
use crate::domain::identity::Identity;
use crate::storage::Db;
use crate::storage::penalties::{self as store, Filter, Penalty};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;
use std::collections::BTreeMap;

/// One calendar month's charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Month {
    /// `YYYY-MM` (Gregorian, the city's zone).
    pub month: String,
    /// Sum of confirmed amounts.
    pub confirmed: i64,
    /// What is charged (the sum, or the cap when lower).
    pub charged: i64,
}

/// A contractor's statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Statement {
    /// The contractor.
    pub contractor: String,
    /// First day (local date).
    pub from: String,
    /// Last day, included.
    pub to: String,
    /// `rial` or `points` (the schedule's; `rial` with no schedule).
    pub unit: String,
    /// The schedule's monthly cap.
    pub cap_per_month: Option<i64>,
    /// Penalties by month.
    pub months: Vec<Month>,
    /// Sum of confirmed amounts (before caps).
    pub confirmed_total: i64,
    /// What is charged (after caps).
    pub charged_total: i64,
    /// Penalties still proposed (not charged).
    pub proposed: i64,
    /// Every penalty of the period, oldest fact first.
    pub penalties: Vec<Penalty>,
}

fn charged(p: &Penalty) -> Option<i64> {
    match p.status.as_str() {
        "confirmed" | "appealed" => Some(p.amount.unwrap_or(p.proposed_amount)),
        _ => None,
    }
}

/// The statement of `contractor` over `range`, for a manager, an admin or the
/// contractor's own representative (another's: 404, as if there were none).
pub async fn statement(
    db: &Db,
    who: &Identity,
    contractor: &str,
    range: &Range,
    tz: &TimeZone,
) -> Result<Statement, PenaltyError> {
    let view = View::of(who)?;
    if let View::Contractor(own) = &view
        && own != contractor
    {
        return Err(PenaltyError::NotFound);
    }
    let mut f: Filter = view.filter();
    f.contractor = Some(contractor.to_owned());
    f.from = Some(range.start_ms);
    f.to = Some(range.end_ms);
    let mut penalties = store::list(db, &f, i64::MAX).await?;
    penalties.reverse();
    let terms = store::all_terms(db)
        .await?
        .into_iter()
        .find(|t| t.contractor == contractor);
    let cap = terms.as_ref().and_then(|t| t.cap_per_month);
    let mut by_month: BTreeMap<String, i64> = BTreeMap::new();
    let mut proposed = 0;
    for p in &penalties {
        if p.status == "proposed" {
            proposed += 1;
        }
        if let Some(a) = charged(p) {
            let month = Timestamp::from_millisecond(p.fact_at)
                .map(|t| t.to_zoned(tz.clone()).strftime("%Y-%m").to_string())
                .unwrap_or_default();
            let e = by_month.entry(month).or_default();
            *e = e.saturating_add(a);
        }
    }
    let months: Vec<Month> = by_month
        .into_iter()
        .map(|(month, confirmed)| Month {
            charged: cap.map_or(confirmed, |c| confirmed.min(c)),
            month,
            confirmed,
        })
        .collect();
    Ok(Statement {
        contractor: contractor.to_owned(),
        from: range.from.to_string(),
        to: range.to.to_string(),
        unit: terms.as_ref().map_or("rial".into(), |t| t.unit.clone()),
        cap_per_month: cap,
        confirmed_total: months.iter().map(|m| m.confirmed).sum(),
        charged_total: months.iter().map(|m| m.charged).sum(),
        months,
        proposed,
        penalties,
    })
}

/// One CSV line of a statement.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CsvLine {
    /// Penalty number.
    pub id: i64,
    /// Task.
    pub task_id: String,
    /// Cause.
    pub cause: String,
    /// Crew.
    pub crew: String,
    /// District.
    pub district: String,
    /// When the fact happened (RFC 3339, city zone).
    pub fact_at: String,
    /// Due (RFC 3339).
    pub due_at: String,
    /// Minutes late.
    pub late_minutes: String,
    /// Status.
    pub status: String,
    /// Proposed amount.
    pub proposed_amount: i64,
    /// Decided amount.
    pub amount: String,
    /// Unit.
    pub unit: String,
    /// Appeal.
    pub appeal_note: String,
}

/// The statement as CSV: one line per penalty, then the totals as lines with an empty
/// task.
pub fn csv(s: &Statement, tz: &TimeZone) -> String {
    let time = |ms: i64| crate::domain::analytics::period::rfc3339(ms, tz);
    let mut lines: Vec<CsvLine> = s
        .penalties
        .iter()
        .map(|p| CsvLine {
            id: p.id,
            task_id: p.task_id.clone(),
            cause: p.cause.clone(),
            crew: p.crew.clone().unwrap_or_default(),
            district: p.district.clone().unwrap_or_default(),
            fact_at: time(p.fact_at),
            due_at: p.due_at.map(time).unwrap_or_default(),
            late_minutes: p.late_minutes.map(|m| m.to_string()).unwrap_or_default(),
            status: p.status.clone(),
            proposed_amount: p.proposed_amount,
            amount: p.amount.map(|a| a.to_string()).unwrap_or_default(),
            unit: p.unit.clone(),
            appeal_note: p.appeal_note.clone().unwrap_or_default(),
        })
        .collect();
    for m in &s.months {
        lines.push(CsvLine {
            cause: format!("month {} charged", m.month),
            amount: m.charged.to_string(),
            proposed_amount: m.confirmed,
            unit: s.unit.clone(),
            ..CsvLine::default()
        });
    }
    lines.push(CsvLine {
        cause: "total charged".into(),
        amount: s.charged_total.to_string(),
        proposed_amount: s.confirmed_total,
        unit: s.unit.clone(),
        ..CsvLine::default()
    });
    crate::domain::analytics::export::csv(&lines, &CsvLine::default())
}

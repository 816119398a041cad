//! A manager's decision on a penalty and a contractor's appeal.
//!
//! - A manager of the task's district **confirms** (the amount stands), **reduces** (a new
//!   amount, at least 0 and below the amount in force) or **waives** (0) a `proposed`
//!   penalty, always with a reason. A confirmed penalty can be appealed once by a
//!   representative of its contractor, with a note (→ `appealed`); the manager then
//!   decides again the same three ways. A waived penalty is final; a confirmed one not
//!   under appeal is decided (409 for another decision).
//! - Every decision and appeal is a step of the penalty and a row of the staff audit log.
//! - The status change is a compare-and-swap: of two managers deciding at once, one wins
//!   and the other gets 409.

use super::{PenaltyError, View, get};
use crate::base::time::now_millis;
use crate::domain::audit::{self, Who};
use crate::domain::identity::{Identity, UserRole};
use crate::storage::penalties::{self as store, Penalty, Step, Transition};
use crate::storage::{Db, DbError};
use serde::Deserialize;
use serde_json::json;

/// The longest reason or note accepted, in characters.
pub const MAX_TEXT: usize = 2000;

/// What a manager decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The amount in force stands.
    Confirm,
    /// A lower amount.
    Reduce,
    /// Nothing is charged.
    Waive,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Confirm => "confirm",
            Action::Reduce => "reduce",
            Action::Waive => "waive",
        }
    }
}

/// A manager's decision.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct Decision {
    /// `confirm`, `reduce` or `waive`.
    pub action: Action,
    /// The new amount, for `reduce` (0 up to, not including, the amount in force).
    pub amount: Option<i64>,
    /// Why (required).
    pub reason: String,
}

fn text(what: &str, s: &str) -> Result<String, PenaltyError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(PenaltyError::Invalid(format!("{what} is required")));
    }
    if t.chars().count() > MAX_TEXT {
        return Err(PenaltyError::Invalid(format!(
            "{what} is at most {MAX_TEXT} characters"
        )));
    }
    Ok(t.to_owned())
}

fn conflict(e: DbError) -> PenaltyError {
    match e {
        DbError::Conflict => {
            PenaltyError::Conflict("the penalty changed concurrently; reload it".into())
        }
        other => other.into(),
    }
}

/// Decides a proposed or appealed penalty; returns it as it now stands.
pub async fn decide(
    db: &Db,
    who: &Identity,
    id: i64,
    d: &Decision,
) -> Result<Penalty, PenaltyError> {
    if who.role != UserRole::Manager {
        return Err(PenaltyError::Forbidden(
            "only a manager decides penalties".into(),
        ));
    }
    let p = get(db, who, id).await?;
    let reason = text("a reason", &d.reason)?;
    match p.status.as_str() {
        "proposed" | "appealed" => {}
        "waived" => {
            return Err(PenaltyError::Conflict(
                "the penalty was waived; a waiver is final".into(),
            ));
        }
        _ => {
            return Err(PenaltyError::Conflict(
                "the penalty is already decided; only an appeal reopens it".into(),
            ));
        }
    }
    let in_force = p.amount.unwrap_or(p.proposed_amount);
    let (status, amount) = match d.action {
        Action::Confirm => ("confirmed", in_force),
        Action::Waive => ("waived", 0),
        Action::Reduce => {
            let a = d
                .amount
                .ok_or_else(|| PenaltyError::Invalid("a reduction needs the new amount".into()))?;
            if a < 0 || a >= in_force {
                return Err(PenaltyError::Invalid(format!(
                    "a reduced amount is 0 or more and below {in_force}, not {a}"
                )));
            }
            ("confirmed", a)
        }
    };
    let step = Step {
        at: now_millis(),
        actor: who.user_id.clone(),
        role: who.role.as_str().to_owned(),
        action: d.action.as_str().to_owned(),
        amount: Some(amount),
        note: reason.clone(),
    };
    store::transition(
        db,
        &Transition {
            id,
            expect: &p.status,
            status,
            amount: Some(amount),
            appeal_note: None,
            step,
        },
    )
    .await
    .map_err(conflict)?;
    audit::record(
        db,
        &Who::of(who),
        &format!("penalty.{}", d.action.as_str()),
        Some(&id.to_string()),
        json!({"task": p.task_id, "contractor": p.contractor, "cause": p.cause,
               "from": p.status, "amount": amount, "reason": reason}),
    )
    .await;
    get(db, who, id).await
}

/// A contractor's representative appeals a confirmed penalty of its own contractor.
pub async fn appeal(db: &Db, who: &Identity, id: i64, note: &str) -> Result<Penalty, PenaltyError> {
    let View::Contractor(_) = View::of(who)? else {
        return Err(PenaltyError::Forbidden(
            "only the contractor's representative appeals".into(),
        ));
    };
    // Another contractor's penalty is not found (`get` applies the view).
    let p = get(db, who, id).await?;
    let note = text("an appeal's note", note)?;
    if p.appeal_note.is_some() {
        return Err(PenaltyError::Conflict(
            "the penalty was already appealed once".into(),
        ));
    }
    if p.status != "confirmed" {
        return Err(PenaltyError::Conflict(format!(
            "only a confirmed penalty can be appealed; this one is {}",
            p.status
        )));
    }
    let step = Step {
        at: now_millis(),
        actor: who.user_id.clone(),
        role: who.role.as_str().to_owned(),
        action: "appeal".into(),
        amount: None,
        note: note.clone(),
    };
    store::transition(
        db,
        &Transition {
            id,
            expect: "confirmed",
            status: "appealed",
            amount: None,
            appeal_note: Some(&note),
            step,
        },
    )
    .await
    .map_err(conflict)?;
    audit::record(
        db,
        &Who::of(who),
        "penalty.appeal",
        Some(&id.to_string()),
        json!({"task": p.task_id, "contractor": p.contractor, "note": note}),
    )
    .await;
    get(db, who, id).await
}

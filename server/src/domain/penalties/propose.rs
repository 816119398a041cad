//! Proposals: the facts of a task judged against its SLA and its contractor's schedule.
//!
//! | cause | when | contractor | amount |
//! | --- | --- | --- | --- |
//! | `late_ack` | first acknowledgement after `ack_due` | the acknowledging crew's | started hours late × per late hour |
//! | `late_completion` | completion after `complete_due` | the completing crew's | started hours late × per late hour |
//! | `rejected` | the nth rejected completion | the task's crew's | per rejection |
//! | `reopened` | the nth citizen "not fixed" the task's fold applied (inside the window) | the task's crew's | per not fixed |
//! | `complaint` | a citizen's complaint about the task, once staff answered it | the task's crew's | per complaint |
//!
//! Each (task, cause, occurrence) is proposed at most once (a unique key), so the sweep
//! can run any number of times, on any replica, and again over old facts. A contractor
//! with no schedule gets no proposals; city crews (no contractor) neither. The evidence
//! (due and actual times, minutes late, the before and after photos) is copied into the
//! proposal when it is made. A rejection's or reopening's time is the commit that
//! recorded it, as the facts row saw it (`task_facts.updated_at`), so up to one sweep
//! interval later than the event itself.

use super::PenaltyError;
use crate::base::time::now_millis;
use crate::storage::Db;
use crate::storage::penalties::{self as store, Candidate, Complaint, NewPenalty, Terms};
use std::collections::BTreeMap;
use sync_core::Millis;

/// How often every replica sweeps.
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Rows read per query of the sweep.
const BATCH: i64 = 2000;

/// How far behind "now" the sweep's next cursor stays, so a commit still in flight when
/// a sweep runs is seen by the next one (re-reading a row proposes nothing twice).
pub const OVERLAP_MS: Millis = 120_000;

/// Started hours in `late_ms` (1 ms late is one hour).
fn started_hours(late_ms: i64) -> i64 {
    (late_ms.max(0) + 3_599_999) / 3_600_000
}

/// The proposals one task's facts call for (pure).
pub fn judge(c: &Candidate, terms: &BTreeMap<String, Terms>) -> Vec<NewPenalty> {
    let mut out = Vec::new();
    let base =
        |cause: &'static str, occurrence: String, t: &Terms, crew: &Option<String>| NewPenalty {
            task_id: c.id.clone(),
            cause,
            occurrence,
            contractor: t.contractor.clone(),
            crew: crew.clone(),
            district: c.district.clone(),
            category: c.category.clone(),
            fact_at: c.updated_at,
            due_at: None,
            late_minutes: None,
            before_photo: c.before_photo.clone(),
            after_photo: c.after_photo.clone(),
            unit: t.unit.clone(),
            amount: 0,
        };
    let of = |contractor: &Option<String>| contractor.as_ref().and_then(|k| terms.get(k));
    if let (Some(at), Some(due), Some(t)) = (c.acknowledged_at, c.ack_due, of(&c.ack_contractor))
        && at > due
    {
        let hours = started_hours(at - due);
        out.push(NewPenalty {
            fact_at: at,
            due_at: Some(due),
            late_minutes: Some((at - due) / 60_000),
            amount: hours.saturating_mul(t.per_late_hour),
            ..base("late_ack", "1".into(), t, &c.ack_crew)
        });
    }
    let Some(t) = of(&c.contractor) else {
        return out;
    };
    if let (Some(at), Some(due)) = (c.completed_at, c.complete_due)
        && at > due
    {
        let hours = started_hours(at - due);
        out.push(NewPenalty {
            fact_at: at,
            due_at: Some(due),
            late_minutes: Some((at - due) / 60_000),
            amount: hours.saturating_mul(t.per_late_hour),
            ..base("late_completion", "1".into(), t, &c.crew)
        });
    }
    for n in 1..=c.reject_count.max(0) {
        out.push(NewPenalty {
            amount: t.per_rejection,
            ..base("rejected", n.to_string(), t, &c.crew)
        });
    }
    for n in 1..=c.reopen_count.max(0) {
        out.push(NewPenalty {
            amount: t.per_not_fixed,
            ..base("reopened", n.to_string(), t, &c.crew)
        });
    }
    out
}

/// The proposal an answered complaint calls for, if its task's contractor has a schedule.
pub fn judge_complaint(m: &Complaint, terms: &BTreeMap<String, Terms>) -> Option<NewPenalty> {
    let t = m.contractor.as_ref().and_then(|k| terms.get(k))?;
    Some(NewPenalty {
        task_id: m.task.clone(),
        cause: "complaint",
        occurrence: m.id.clone(),
        contractor: t.contractor.clone(),
        crew: m.crew.clone(),
        district: m.district.clone(),
        category: m.category.clone(),
        fact_at: m.answered_at,
        due_at: None,
        late_minutes: None,
        before_photo: m.before_photo.clone(),
        after_photo: m.after_photo.clone(),
        unit: t.unit.clone(),
        amount: t.per_complaint,
    })
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Facts rows and complaints read.
    pub read: usize,
    /// New proposals.
    pub proposed: usize,
    /// The `since` to give the next sweep.
    pub next: Millis,
}

/// Proposes penalties for facts committed (and complaints answered) after `since`.
pub async fn sweep(db: &Db, since: Millis) -> Result<Swept, PenaltyError> {
    let started = now_millis();
    let terms: BTreeMap<String, Terms> = store::all_terms(db)
        .await?
        .into_iter()
        .map(|t| (t.contractor.clone(), t))
        .collect();
    let mut done = Swept {
        next: started.saturating_sub(OVERLAP_MS).max(since.min(started)),
        ..Swept::default()
    };
    if terms.is_empty() {
        return Ok(done);
    }
    let mut cursor = since;
    loop {
        let rows = store::candidates(db, cursor, BATCH).await?;
        let Some(last) = rows.last() else { break };
        let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) >= BATCH;
        // Rows sharing the last `updated_at` may continue past the batch: re-read from
        // just before it next time (proposals are idempotent).
        let next = if full {
            last.updated_at - 1
        } else {
            last.updated_at
        };
        for c in &rows {
            done.read += 1;
            for p in judge(c, &terms) {
                if store::propose(db, &p, now_millis()).await? {
                    done.proposed += 1;
                }
            }
        }
        if !full || next <= cursor {
            break;
        }
        cursor = next;
    }
    let mut cursor = since;
    loop {
        let rows = store::complaints(db, cursor, BATCH).await?;
        let Some(last) = rows.last() else { break };
        let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) >= BATCH;
        let next = if full {
            last.answered_at - 1
        } else {
            last.answered_at
        };
        for m in &rows {
            done.read += 1;
            if let Some(p) = judge_complaint(m, &terms)
                && store::propose(db, &p, now_millis()).await?
            {
                done.proposed += 1;
            }
        }
        if !full || next <= cursor {
            break;
        }
        cursor = next;
    }
    if done.proposed > 0 {
        tracing::info!(proposed = done.proposed, "penalties proposed");
    }
    Ok(done)
}

/// Every replica's loop: a full sweep at start (facts from before a schedule existed),
/// then every `every` over what changed since.
pub async fn run(db: Db, every: std::time::Duration) {
    let mut since = 0;
    loop {
        match sweep(&db, since).await {
            Ok(s) => since = s.next,
            Err(e) => tracing::warn!(error = %e, "penalty sweep failed"),
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms() -> BTreeMap<String, Terms> {
        let t = Terms {
            contractor: "K".into(),
            unit: "rial".into(),
            per_late_hour: 100,
            per_rejection: 1000,
            per_not_fixed: 2000,
            per_complaint: 500,
            cap_per_month: None,
        };
        BTreeMap::from([("K".to_owned(), t)])
    }

    fn candidate() -> Candidate {
        Candidate {
            id: "T-1".into(),
            district: Some("D01".into()),
            category: "pothole".into(),
            crew: Some("C".into()),
            contractor: Some("K".into()),
            ack_crew: Some("C".into()),
            ack_contractor: Some("K".into()),
            acknowledged_at: Some(1_000),
            ack_due: Some(2_000),
            completed_at: Some(10_000),
            complete_due: Some(20_000),
            reopen_count: 0,
            reject_count: 0,
            before_photo: None,
            after_photo: None,
            updated_at: 30_000,
        }
    }

    #[test]
    fn on_time_work_costs_nothing() {
        assert!(judge(&candidate(), &terms()).is_empty());
    }

    #[test]
    fn late_hours_are_started_hours() {
        let mut c = candidate();
        c.completed_at = Some(20_001);
        c.acknowledged_at = Some(2_000 + 3_600_000 + 1);
        let p = judge(&c, &terms());
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].cause, p[0].amount), ("late_ack", 200));
        assert_eq!((p[1].cause, p[1].amount), ("late_completion", 100));
        assert_eq!(p[1].late_minutes, Some(0));
    }

    #[test]
    fn each_rejection_and_reopening_is_its_own_occurrence() {
        let mut c = candidate();
        c.reject_count = 2;
        c.reopen_count = 1;
        let p = judge(&c, &terms());
        let keys: Vec<_> = p
            .iter()
            .map(|p| (p.cause, p.occurrence.as_str(), p.amount))
            .collect();
        assert_eq!(
            keys,
            [
                ("rejected", "1", 1000),
                ("rejected", "2", 1000),
                ("reopened", "1", 2000)
            ]
        );
    }

    #[test]
    fn no_schedule_no_proposal() {
        let mut c = candidate();
        c.reject_count = 1;
        c.contractor = Some("other".into());
        c.ack_contractor = None;
        assert!(judge(&c, &terms()).is_empty());
    }
}

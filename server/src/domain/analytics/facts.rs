//! One row of facts per task (`task_facts`, migration 0009), derived from the task's view
//! and written in the same transaction as its projection on every commit, so the
//! dashboard never decodes automerge documents.
//!
//! Attribution (documented in `server/README.md`, "Analytics"): a task counts for the
//! crew that made its completion (the completion event's actor's crew), so a task
//! reassigned from one contractor's crew to another's counts for the one that did the
//! work; a task not completed counts for the crew holding it now. Acknowledgement
//! measures count for the crew that first acknowledged (else the same crew). The
//! contractor is that crew's `crews.contractor` at the time of the commit, and the region
//! the district's `districts.region`, both looked up inside the commit's transaction.

pub use crate::storage::facts::Fact;
use sync_core::task::{EventKind, Outcome, PhotoKind, Status, TaskView};

/// Derives a task's facts from its view: the commit hook the store is opened with
/// ([`crate::storage::facts::DeriveFacts`]).
pub fn derive(view: &TaskView) -> Fact {
    Fact::of(view)
}

impl Fact {
    /// Derives the facts of a task from its view (pure).
    pub fn of(view: &TaskView) -> Fact {
        let d = &view.derived;
        let applied = || {
            view.timeline
                .iter()
                .filter(|t| t.outcome == Outcome::Applied)
        };
        let first_ack = applied().find(|t| t.event.kind == EventKind::Acknowledged);
        let completion = d
            .completion
            .as_ref()
            .and_then(|id| view.timeline.iter().find(|t| &t.event.id == id));
        let crew = completion
            .and_then(|t| t.event.actor.crew.clone())
            .or_else(|| d.assignee.clone());
        let ack_crew = first_ack
            .and_then(|t| t.event.actor.crew.clone())
            .or_else(|| crew.clone());
        let closed_at = match d.status {
            Status::Completed | Status::Verified => d.completed_at,
            Status::Cancelled | Status::Duplicate => applied()
                .filter(|t| {
                    matches!(
                        t.event.kind,
                        EventKind::Cancelled { .. } | EventKind::MarkedDuplicate { .. }
                    )
                })
                .map(|t| t.event.at)
                .next_back(),
            _ => None,
        };
        let mut befores: Vec<_> = view
            .photos
            .iter()
            .filter(|p| p.kind == PhotoKind::Before)
            .collect();
        befores.sort_by(|a, b| a.added_at.cmp(&b.added_at).then(a.hash.cmp(&b.hash)));
        let is_after = |h: &String| {
            view.photos
                .iter()
                .any(|p| &p.hash == h && p.kind == PhotoKind::After)
        };
        let after_photo = completion.and_then(|t| match &t.event.kind {
            EventKind::Completed { photos } => photos.iter().find(|h| is_after(h)).cloned(),
            _ => None,
        });
        Fact {
            id: view.id.to_string(),
            district: d.district.clone(),
            category: view.category.clone(),
            source: view.source.as_str(),
            priority: d.priority.as_str(),
            status: d.status.as_str(),
            crew,
            ack_crew,
            created_at: view.created_at,
            acknowledged_at: d.acknowledged_at,
            completed_at: d.completed_at,
            closed_at,
            ack_due: view.sla.ack_due,
            complete_due: view.sla.complete_due,
            reopen_count: d.reopen_count,
            reject_count: d.rejections,
            rating: d.rating,
            before_photo: befores.first().map(|p| p.hash.clone()),
            after_photo,
        }
    }
}

/// Writes facts for tasks committed before migration 0009 (none on a new database).
/// Runs at start; each document is decoded once.
pub async fn backfill(db: &crate::storage::Db) -> Result<usize, crate::storage::DbError> {
    let mut n = 0;
    for id in crate::storage::facts::missing(db).await? {
        let Some(bytes) = crate::storage::facts::snapshot(db, &id).await? else {
            continue;
        };
        let view = match sync_core::task::TaskDoc::load(&bytes).and_then(|d| d.view()) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(task = %id, error = %e, "no analytics facts for an unreadable task");
                continue;
            }
        };
        crate::storage::facts::write(db, &derive(&view), crate::base::time::now_millis()).await?;
        n += 1;
    }
    if n > 0 {
        tracing::info!(tasks = n, "analytics facts backfilled");
    }
    Ok(n)
}

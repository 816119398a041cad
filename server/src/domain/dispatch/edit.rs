//! Server-side edits of task documents: the same durable, compare-and-swap commit the
//! sync session makes for a phone, then the hub's publish so that the phones and consoles
//! of the touched scopes pull the change at once.
//!
//! An edit is a closure over the current document and view. It checks its own
//! preconditions against that view (e.g. "still assigned to crew A") and changes the
//! document, or says there is nothing to do. If another writer — a phone, a dispatcher,
//! another replica — committed in between, the commit fails its compare-and-swap, and
//! the closure runs again on the fresh document: which is what makes a decision such as
//! an assignment happen once even when two replicas take it at the same moment.

use super::Dispatch;
use super::DispatchError;
use crate::domain::compaction;
use crate::storage::DbError;
use crate::storage::outbox::CommitExtra;
use sync_core::DocId;
use sync_core::session::server::Committed;
use sync_core::session::{
    CommitOutcome, DocCommit, ScopePolicy, ServerStore, ServerStoreError, TaskScopes,
};
use sync_core::task::{TaskDoc, TaskView};

/// How many times an edit is retried after losing a compare-and-swap race.
const MAX_ATTEMPTS: usize = 8;

/// A committed edit.
#[derive(Debug, Clone)]
pub struct Edited<R> {
    /// The task after the edit.
    pub view: TaskView,
    /// The commit.
    pub outcome: CommitOutcome,
    /// What the closure returned.
    pub value: R,
}

/// Loads a task's document and its view.
pub async fn load(d: &Dispatch, task: &DocId) -> Result<(TaskDoc, u64), DispatchError> {
    let stored = d
        .store
        .load(task)
        .await?
        .ok_or_else(|| DispatchError::NotFound(format!("no task {task}")))?;
    let doc = TaskDoc::load(&stored.bytes)?;
    Ok((doc, stored.seq))
}

/// Runs `change` on the task and commits what it did. `change` returns `Ok(None)` when
/// there is nothing to do (then nothing is committed and this returns `Ok(None)`).
pub async fn edit<R, F>(
    d: &Dispatch,
    task: &DocId,
    mut change: F,
) -> Result<Option<Edited<R>>, DispatchError>
where
    F: FnMut(&mut TaskDoc, &TaskView) -> Result<Option<R>, DispatchError>,
{
    for _ in 0..MAX_ATTEMPTS {
        let (mut doc, seq) = load(d, task).await?;
        let before = doc.view()?;
        let heads = doc.heads();
        let Some(value) = change(&mut doc, &before)? else {
            return Ok(None);
        };
        let changes: Vec<Vec<u8>> = doc
            .automerge()
            .get_changes(&heads)
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        if changes.is_empty() {
            return Ok(None);
        }
        let view = doc.view()?;
        let commit = DocCommit {
            doc: task.clone(),
            base_seq: Some(seq),
            changes,
            snapshot: doc.save(),
            scopes: TaskScopes.scopes_of(&view),
            view: view.clone(),
            origin: d.replica.clone(),
        };
        match d.store.commit(commit).await {
            Ok(outcome) => {
                after_commit(d, task, &outcome).await;
                return Ok(Some(Edited {
                    view,
                    outcome,
                    value,
                }));
            }
            Err(ServerStoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(DispatchError::Busy)
}

/// Commits a new task document and publishes it.
pub async fn create(
    d: &Dispatch,
    doc: TaskDoc,
) -> Result<(TaskView, CommitOutcome), DispatchError> {
    create_with(d, doc, &CommitExtra::none()).await
}

/// [`create`], storing `extra`'s rows in the same transaction: the task and they are
/// durable together, or nothing is stored.
pub async fn create_with(
    d: &Dispatch,
    doc: TaskDoc,
    extra: &CommitExtra,
) -> Result<(TaskView, CommitOutcome), DispatchError> {
    let view = doc.view()?;
    create_viewed(d, doc, view, extra).await
}

/// [`create_with`] for a document whose view the caller already has: the one
/// [`TaskDoc::create_with_events`] returned with it (not parsed back).
pub async fn create_viewed(
    d: &Dispatch,
    mut doc: TaskDoc,
    view: TaskView,
    extra: &CommitExtra,
) -> Result<(TaskView, CommitOutcome), DispatchError> {
    let changes = doc
        .automerge()
        .get_changes(&[])
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    let commit = DocCommit {
        doc: view.id.clone(),
        base_seq: None,
        changes,
        snapshot: doc.save(),
        scopes: TaskScopes.scopes_of(&view),
        view: view.clone(),
        origin: d.replica.clone(),
    };
    let outcome = match d.store.commit_with(&commit, extra).await {
        Ok(o) => o,
        Err(DbError::Conflict) => {
            return Err(DispatchError::Invalid(format!(
                "a task with id {} already exists",
                view.id
            )));
        }
        Err(e) => return Err(e.into()),
    };
    // The commit announced itself to the other replicas (`Db::commit_with`).
    d.hub.publish_local(&outcome.touched);
    after_commit_announced(d, &view.id, &outcome);
    Ok((view, outcome))
}

async fn after_commit(d: &Dispatch, task: &DocId, outcome: &CommitOutcome) {
    d.hub.publish(&outcome.touched).await;
    after_commit_announced(d, task, outcome);
}

/// What follows a commit whose subscribers were woken.
fn after_commit_announced(d: &Dispatch, task: &DocId, outcome: &CommitOutcome) {
    metrics::counter!("tarmim_dispatch_commits_total").increment(1);
    compaction::after_commits(
        &d.store,
        &[Committed {
            doc: task.clone(),
            seq: outcome.seq,
            touched: outcome.touched.clone(),
            created: false,
        }],
    );
}

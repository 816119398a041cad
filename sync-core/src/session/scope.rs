//! Which scopes a task belongs to: the rule the server applies after every commit.

use crate::ids::{Actor, Role, ScopeId};
use crate::task::{Status, TaskView};

/// Decides the scopes of a task. The server may configure its own; [`TaskScopes`] is the
/// default.
pub trait ScopePolicy: Send + Sync {
    /// The scopes the task is in now.
    fn scopes_of(&self, task: &TaskView) -> Vec<ScopeId>;

    /// Whether `sender`, whose session holds `session_scopes`, may push changes to a task
    /// that is in `task_scopes` (or in none yet, for a new task). The default: the task
    /// must share a scope with the session, or be a task of a district whose open tasks the
    /// session sees, or be a task the sender's crew held at some point (so work done
    /// offline reaches the server after a reassignment or closure, design §2 rule 1).
    fn may_push(
        &self,
        sender: &Actor,
        session_scopes: &[ScopeId],
        task_scopes: &[ScopeId],
        task: &TaskView,
    ) -> bool {
        if task_scopes.iter().any(|s| session_scopes.contains(s)) {
            return true;
        }
        // A device that sees a district's open tasks wrote to this one while it was open;
        // its notes and photos are field work even if the task closed meanwhile.
        if let Some(district) = &task.derived.district
            && TaskScopes::open(district).is_some_and(|s| session_scopes.contains(&s))
        {
            return true;
        }
        match &sender.crew {
            Some(crew) => task.timeline.iter().any(|e| {
                matches!(&e.event.kind, crate::task::EventKind::Assigned { crew: c, .. } if c == crew)
            }),
            None => false,
        }
    }
}

/// The default scopes:
/// - `crew:<id>` — the crew the task is assigned to, until it is verified, cancelled or a
///   duplicate; and, while nobody is assigned and it is not closed, the crew whose member
///   filed it from the field (so the reporting crew can push it and keep seeing it);
/// - `district:<code>` — every task of the district (dispatchers, managers);
/// - `open:<code>` — the district's tasks not yet closed (crews, if configured).
#[derive(Debug, Clone, Copy, Default)]
pub struct TaskScopes;

impl TaskScopes {
    /// `crew:<id>`.
    pub fn crew(crew: &str) -> Option<ScopeId> {
        ScopeId::new(format!("crew:{crew}")).ok()
    }
    /// `district:<code>`.
    pub fn district(code: &str) -> Option<ScopeId> {
        ScopeId::new(format!("district:{code}")).ok()
    }
    /// `open:<code>`.
    pub fn open(code: &str) -> Option<ScopeId> {
        ScopeId::new(format!("open:{code}")).ok()
    }
}

impl ScopePolicy for TaskScopes {
    fn scopes_of(&self, task: &TaskView) -> Vec<ScopeId> {
        let d = &task.derived;
        let mut out = Vec::with_capacity(3);
        if let Some(crew) = &d.assignee
            && !matches!(
                d.status,
                Status::Verified | Status::Cancelled | Status::Duplicate
            )
        {
            out.extend(Self::crew(crew));
        }
        if d.assignee.is_none()
            && !d.status.is_closed()
            && let Some(crew) = filed_by_crew(task)
        {
            out.extend(Self::crew(crew));
        }
        if let Some(code) = &d.district {
            out.extend(Self::district(code));
            if !d.status.is_closed() {
                out.extend(Self::open(code));
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// The crew whose member created the task, if a crew member did.
fn filed_by_crew(task: &TaskView) -> Option<&str> {
    task.timeline
        .iter()
        .find_map(|e| match (&e.event.kind, &e.event.actor) {
            (crate::task::EventKind::Created, a) if a.role == Role::Crew => a.crew.as_deref(),
            _ => None,
        })
}

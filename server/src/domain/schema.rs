//! OpenAPI shapes of `sync-core` types, which know nothing of OpenAPI: domain types that
//! embed them (a filed report, a task view) name these in `#[schema(value_type = …)]`.

use utoipa::ToSchema;

/// A task's priority (`sync_core::task::Priority`, which knows nothing of OpenAPI).
#[derive(Debug, ToSchema)]
#[schema(as = Priority)]
#[allow(dead_code)] // A schema only.
#[allow(non_camel_case_types)]
pub enum PriorityName {
    /// Dispatched at once.
    urgent,
    /// High.
    high,
    /// Normal.
    normal,
    /// Low.
    low,
}

/// A task document as JSON (`sync_core::task::TaskView`): id, category, title,
/// description, point, SLA, the derived state (status, assignee, district, priority, …),
/// the timeline with each event's outcome, notes and photos. Described loosely here:
/// its shape belongs to sync-core and is pinned by sync-core's tests.
#[derive(Debug, ToSchema)]
#[schema(as = TaskView)]
#[allow(dead_code)] // A schema only.
pub struct TaskViewSchema {
    /// Task id (`T-…`).
    pub id: String,
    /// Open311 service code.
    pub category: String,
    /// Title.
    pub title: String,
    /// Derived state: status, assignee, district, priority, …
    #[schema(value_type = Object)]
    pub derived: (),
    /// Events with their outcomes; an event the server received long after its phone
    /// time also carries `receipt` (`received_at`, `vouched_at`: the time SLA measures and
    /// citizens' windows count from).
    #[schema(value_type = Vec<Object>)]
    pub timeline: (),
}

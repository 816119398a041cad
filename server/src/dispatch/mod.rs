//! Dispatch: who is on duty and where, who gets a job, and what happens when nobody acts.
//!
//! - [`position`]: position reports — impossible ones refused, implausible ones kept and
//!   flagged — and the per-device rate limit.
//! - [`assign`]: the documented scoring that picks a crew (distance and load), the
//!   neighbour fallback, and the assignment itself as an `Assigned` event with its reason,
//!   committed to the task document and pushed to the crew's phones.
//! - [`escalate`]: escalation timers (acknowledgement and completion), claimed so that two
//!   replicas never run one twice, and the loop each replica runs.
//! - [`edit`]: a server-side edit of a task document (load, change, compare-and-swap
//!   commit with retry, publish to the hub).
//! - [`steer`]: a dispatcher's other decisions (priority, cancel, duplicate, notes).
//! - [`store`]: dispatch's tables on either backend.
//!
//! Every decision is an event in the task's document (`Assigned`, `Escalated`, …) with
//! its reason; alerts for dispatchers are rows in `dispatch_alerts`.

pub mod assign;
pub mod edit;
pub mod escalate;
pub mod position;
pub mod steer;
pub mod store;

use crate::db::DbError;
use crate::error::ApiError;
use crate::geo::GeoError;
use std::time::Duration;
use sync_core::DeviceId;
use sync_core::session::ServerStoreError;
use sync_core::task::TaskError;

/// Per-process dispatch state: this replica's name and the position rate limiter.
#[derive(Debug)]
pub struct Dispatch {
    /// This replica's name (timer claims) and the device its own edits carry.
    pub replica: DeviceId,
    /// One accepted position report per device per interval.
    pub positions: position::RateLimiter,
}

impl Dispatch {
    /// Fresh state for one server process.
    pub fn new(config: &crate::config::Config) -> Dispatch {
        let name = format!("server-{:08x}", rand::random::<u32>());
        // `server-` and hex digits always make a valid device id.
        let replica = DeviceId::new(name).expect("a valid device id");
        Dispatch {
            replica,
            positions: position::RateLimiter::new(Duration::from_millis(
                config.position_min_interval_ms,
            )),
        }
    }
}

/// Dispatch failures.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The sync store failed.
    #[error("storage: {0}")]
    Store(#[from] ServerStoreError),
    /// The task document refused the change (not valid now), or is unreadable.
    #[error("{0}")]
    Task(#[from] TaskError),
    /// Routing failed (a point outside every district, a bad point).
    #[error(transparent)]
    Geo(#[from] GeoError),
    /// No such task or crew.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// Refused by a dispatch rule (off-duty or out-of-district crew without override).
    #[error("{0}")]
    Refused(String),
    /// The document kept moving under us.
    #[error("the task changed concurrently too many times; try again")]
    Busy,
}

impl From<DispatchError> for ApiError {
    fn from(e: DispatchError) -> Self {
        match e {
            DispatchError::Db(e) => ApiError::Db(e),
            DispatchError::Store(ServerStoreError::Conflict) | DispatchError::Busy => {
                ApiError::Conflict("the task changed concurrently; try again".into())
            }
            DispatchError::Store(e) => ApiError::Internal(e.to_string()),
            DispatchError::Task(TaskError::Transition { event, why }) => {
                ApiError::Conflict(format!("cannot record {event} now: {why}"))
            }
            DispatchError::Task(TaskError::Invalid(m)) => ApiError::BadRequest(m),
            DispatchError::Task(e) => ApiError::Internal(e.to_string()),
            DispatchError::Geo(e) => e.into(),
            DispatchError::NotFound(m) => ApiError::NotFound(m),
            DispatchError::Forbidden(m) => ApiError::Forbidden(m),
            DispatchError::Invalid(m) => ApiError::BadRequest(m),
            DispatchError::Refused(m) => ApiError::Unprocessable(m),
        }
    }
}

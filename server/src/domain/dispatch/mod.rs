//! Dispatch: who is on duty and where, who gets a job, and what happens when nobody acts.
//!
//! - [`position`]: position reports — impossible ones refused, implausible ones kept and
//!   flagged — and the per-user rate limit.
//! - [`crews`]: a crew member's duty switch, and the crews a dispatcher or manager lists.
//! - [`assign`]: the documented scoring that picks a crew (distance and load), the
//!   neighbour fallback, and the assignment itself as an `Assigned` event with its reason,
//!   committed to the task document and pushed to the crew's phones.
//! - [`reason`]: the reasons the server writes into events, as a code with parameters.
//! - [`escalate`]: escalation timers (acknowledgement and completion), claimed so that two
//!   replicas never run one twice, and the loop each replica runs.
//! - [`edit`]: a server-side edit of a task document (load, change, compare-and-swap
//!   commit with retry, publish to the hub).
//! - [`steer`]: a dispatcher's other decisions (priority, cancel, duplicate, notes).
//! - [`queue`]: the console's complete queue, paged, with counts, filters and search.
//! - [`verify`]: a dispatcher verifies or rejects a completion, from the photos' evidence.
//! - [`desk`]: who may use the console and what it shows of their districts (the queue,
//!   a task with its timers, alerts, tracking codes and possible duplicates, alerts), and
//!   the district check every dispatcher's decision passes.
//!
//! Dispatch's tables are [`crate::storage::dispatch`].
//!
//! Every decision is an event in the task's document (`Assigned`, `Escalated`, …) with
//! its reason; alerts for dispatchers are rows in `dispatch_alerts`.

pub mod assign;
pub mod crews;
pub mod desk;
pub mod edit;
pub mod escalate;
pub mod position;
pub mod queue;
pub mod reason;
pub mod steer;
pub mod verify;

use crate::base::config::Config;
use crate::domain::districts::GeoError;
use crate::domain::hub::Hub;
use crate::storage::{Db, DbError};
use std::time::Duration;
use sync_core::DeviceId;
use sync_core::session::ServerStoreError;
use sync_core::task::TaskError;

/// Dispatch's settings (from [`Config`]).
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// Seconds an urgent job may wait for its acknowledgement.
    pub ack_secs_urgent: u64,
    /// Seconds any other job may wait for its acknowledgement.
    pub ack_secs_other: u64,
    /// Seconds from creation to the completion deadline (none: no deadline).
    pub complete_secs: Option<u64>,
    /// How often the escalation loop looks for due timers.
    pub tick_ms: u64,
    /// Where a point outside every district goes (none: refused).
    pub default_district: Option<String>,
    /// How long after completion a citizen may rate or reopen.
    pub feedback_window_ms: i64,
    /// The outbox loop's settings (phone tasks' routing runs through it).
    pub outbox: crate::domain::outbox::OutboxSettings,
    /// Sync sessions' limits (documents' caps from `[limits]`).
    pub sync: sync_core::session::server::ServerConfig,
}

impl DispatchSettings {
    /// The dispatch section of the configuration.
    pub fn from_config(config: &Config) -> DispatchSettings {
        DispatchSettings {
            ack_secs_urgent: config.dispatch_ack_secs_urgent,
            ack_secs_other: config.dispatch_ack_secs_other,
            complete_secs: config.dispatch_complete_secs,
            tick_ms: config.dispatch_tick_ms,
            default_district: config.default_district.clone(),
            feedback_window_ms: config.feedback_window_ms(),
            outbox: crate::domain::outbox::OutboxSettings::from_config(&config.outbox),
            sync: sync_core::session::server::ServerConfig {
                max_doc_bytes: config.limits.sync_max_doc_bytes,
                max_doc_entries: config.limits.sync_max_doc_entries,
                clock_skew_ms: i64::try_from(config.limits.sync_clock_skew_secs)
                    .unwrap_or(i64::MAX / 1000)
                    .saturating_mul(1000),
                ..Default::default()
            },
        }
    }
}

/// The task lifecycle's engine on one replica: the store and hub it commits and
/// publishes through, this replica's name, the position rate limiter and the settings.
/// Every server-side edit of a task document goes through it.
#[derive(Debug)]
pub struct Dispatch {
    /// Storage.
    pub store: Db,
    /// Live connections by scope; commits are announced here.
    pub hub: Hub,
    /// This replica's name (timer claims) and the device its own edits carry.
    pub replica: DeviceId,
    /// One accepted position report per user (whichever device) per interval.
    pub positions: position::RateLimiter,
    /// Settings.
    pub settings: DispatchSettings,
    /// The bounded pool pushed sync changes are handled on.
    pub sync_work: crate::domain::sync_work::SyncWork,
    /// Turns for building catch-up pages (live pulls take none, and go first).
    pub catch_up_turns: crate::domain::sync_work::CatchUpTurns,
    /// Catch-up pages shared by the sessions of a scope asking from the same cursor.
    pub catch_up_pages: std::sync::Arc<sync_core::session::pages::PageCache>,
}

impl Dispatch {
    /// Fresh state for one server process.
    pub fn new(store: Db, hub: Hub, config: &Config) -> Dispatch {
        let name = format!("server-{:08x}", rand::random::<u32>());
        // `server-` and hex digits always make a valid device id.
        let replica = DeviceId::new(name).expect("a valid device id");
        Dispatch {
            store,
            hub,
            replica,
            positions: position::RateLimiter::new(Duration::from_millis(
                config.position_min_interval_ms,
            )),
            settings: DispatchSettings::from_config(config),
            sync_work: crate::domain::sync_work::SyncWork::new(config.limits.sync_work_threads),
            catch_up_turns: crate::domain::sync_work::CatchUpTurns::new(
                config.limits.sync_catch_up_pages,
            ),
            catch_up_pages: std::sync::Arc::new(crate::domain::sync::catch_up_pages()),
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

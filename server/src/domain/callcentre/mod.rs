//! The call centre's desk (issue 19 §1): what an operator does during a call.
//!
//! - [`callers`]: the keyed hash callers are found by, and finding a caller — by phone
//!   number (any common way of typing it), by tracking code, or by task id — with their
//!   earlier reports in plain words;
//! - [`filing`]: a report filed for the caller through the citizens' intake (every kind
//!   of message, routing, duplicates, the tracking code, an SMS of it through the
//!   notifier), or the caller added as a supporter of an open report instead;
//! - [`calls`]: the call log (start, end, outcome) and its timeout, and the managers'
//!   call figures.
//!
//! Operators see every district's tasks but change none: the read-only view is the
//! public one ([`crate::domain::citizen::public_view::staff_view`]), and every console
//! edit refuses them ([`crate::domain::dispatch::desk::check_district`]).
//!
//! Phone numbers: the desk stores a caller only as a keyed hash (HMAC-SHA256 under the
//! server's caller key) of their number in E.164, in `caller_reports` and the call log,
//! so a stolen database cannot be searched for a number without the key and cannot be
//! read in bulk. Reports citizens file themselves with a phone number (the report page,
//! Open311) are linked the same way, in the commit that stores them, so a caller is
//! found by every report they gave their number on. The number itself is stored only
//! when the caller agrees to be contacted, as a citizen's contact (`open311_contacts`),
//! under that table's rules: it is erased when the citizen asks (which also drops the
//! desk's link to the code) and after the retention period, which the links of
//! long-closed reports and the hashes in the call log follow
//! ([`crate::domain::citizen::contacts::sweep`]).

pub mod callers;
pub mod calls;
pub mod filing;

use crate::domain::citizen::Citizens;
use crate::domain::citizen::public_view::TrackError;
use crate::domain::citizen::report::ReportError;
use crate::domain::identity::{Identity, UserRole};
use crate::storage::DbError;
use sync_core::Actor;

/// Why a desk request was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// Bad input, in plain words.
    #[error("{0}")]
    Invalid(String),
    /// Not for this caller's role, or not their call.
    #[error("{0}")]
    Forbidden(String),
    /// No such caller, report or call.
    #[error("{0}")]
    NotFound(String),
    /// Clashes with the current state (a call already ended).
    #[error("{0}")]
    Conflict(String),
    /// Filing the report failed.
    #[error(transparent)]
    Report(ReportError),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<ReportError> for DeskError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Db(d) => DeskError::Db(d),
            other => DeskError::Report(other),
        }
    }
}

impl From<TrackError> for DeskError {
    fn from(e: TrackError) -> Self {
        match e {
            TrackError::UnknownCode => DeskError::NotFound("no such report".into()),
            TrackError::Db(d) => DeskError::Db(d),
            TrackError::Dispatch(crate::domain::dispatch::DispatchError::NotFound(m)) => {
                DeskError::NotFound(m)
            }
            TrackError::Dispatch(crate::domain::dispatch::DispatchError::Db(d)) => DeskError::Db(d),
            other => DeskError::Invalid(other.to_string()),
        }
    }
}

/// What the desk works with: the citizens' flows (with the caller key), and whether an
/// SMS gateway is configured.
#[derive(Clone, Copy)]
pub struct Desk<'a> {
    /// Intake, tracking codes, public views, the key of callers' hashes.
    pub citizens: Citizens<'a>,
    /// Whether SMS can be sent at all (`[outbox] sms_url`).
    pub sms_configured: bool,
    /// A call not ended this long after its start is abandoned (ms).
    pub call_timeout_ms: i64,
}

/// A call-centre operator, admitted before anything is read.
#[derive(Debug, Clone)]
pub struct Operator {
    /// The operator's user id.
    pub user_id: String,
    /// The operator as the author of task events.
    pub actor: Actor,
}

impl Operator {
    /// Admits `who`, or refuses every role but the call centre's.
    pub fn admit(who: &Identity) -> Result<Operator, DeskError> {
        if who.role != UserRole::CallCentre {
            return Err(DeskError::Forbidden(
                "the desk is for call-centre operators".into(),
            ));
        }
        let actor = who
            .actor()
            .ok_or_else(|| DeskError::Forbidden("no role to file as".into()))?;
        Ok(Operator {
            user_id: who.user_id.clone(),
            actor,
        })
    }
}

//! The one mapping from a task's derived status (`sync_core::task::Status`, folded from
//! its event log) to FixMyStreet's extended statuses, beside Open311's `open`/`closed`
//! (the task's public status, [`crate::domain::citizen::status`]). `server/README.md`
//! ("Open311") shows the same table.
//!
//! | internal status | Open311 `status` | FixMyStreet extended status |
//! | --- | --- | --- |
//! | `new`, `queued` | `open` | `open` |
//! | `assigned`, `acknowledged` | `open` | `action_scheduled` |
//! | `in_progress`, `paused` | `open` | `in_progress` |
//! | `reopened` | `open` | `open` |
//! | `completed`, `verified` | `closed` | `fixed` |
//! | `cancelled` | `closed` | `no_further_action` |
//! | `duplicate` | `closed` | `duplicate` |
//!
//! FixMyStreet's `investigating`, `not_councils_responsibility`, `internal_referral` and
//! plain `closed` have no internal status that produces them; a FixMyStreet update that
//! names them (POST `servicerequestupdates`) is recorded with the citizen's update and
//! does not change the task: only dispatchers and crews change a task's status.

use sync_core::task::Status;

/// FixMyStreet's extended statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FmsStatus {
    /// Open.
    Open,
    /// Being looked into.
    Investigating,
    /// Work started.
    InProgress,
    /// Work scheduled.
    ActionScheduled,
    /// Fixed.
    Fixed,
    /// Closed.
    Closed,
    /// A duplicate of another report.
    Duplicate,
    /// Not the council's responsibility.
    NotCouncilsResponsibility,
    /// Nothing more will be done.
    NoFurtherAction,
    /// Passed to another department.
    InternalReferral,
}

impl FmsStatus {
    /// Every extended status, in FixMyStreet's order.
    pub const ALL: [FmsStatus; 10] = [
        FmsStatus::Open,
        FmsStatus::Investigating,
        FmsStatus::InProgress,
        FmsStatus::ActionScheduled,
        FmsStatus::Fixed,
        FmsStatus::Closed,
        FmsStatus::Duplicate,
        FmsStatus::NotCouncilsResponsibility,
        FmsStatus::NoFurtherAction,
        FmsStatus::InternalReferral,
    ];

    /// The lower-case name (`in_progress`).
    pub fn as_str(self) -> &'static str {
        match self {
            FmsStatus::Open => "open",
            FmsStatus::Investigating => "investigating",
            FmsStatus::InProgress => "in_progress",
            FmsStatus::ActionScheduled => "action_scheduled",
            FmsStatus::Fixed => "fixed",
            FmsStatus::Closed => "closed",
            FmsStatus::Duplicate => "duplicate",
            FmsStatus::NotCouncilsResponsibility => "not_councils_responsibility",
            FmsStatus::NoFurtherAction => "no_further_action",
            FmsStatus::InternalReferral => "internal_referral",
        }
    }

    /// The upper-case form FixMyStreet's `servicerequestupdates` carries (`IN_PROGRESS`).
    pub fn upper(self) -> String {
        self.as_str().to_ascii_uppercase()
    }

    /// Parses either case (`FIXED`, `fixed`, `in progress`).
    pub fn parse(s: &str) -> Option<FmsStatus> {
        let s = s.trim().to_ascii_lowercase().replace(' ', "_");
        FmsStatus::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// FixMyStreet's extended status of an internal status (the table above).
pub fn fms(status: Status) -> FmsStatus {
    match status {
        Status::New | Status::Queued | Status::Reopened => FmsStatus::Open,
        Status::Assigned | Status::Acknowledged => FmsStatus::ActionScheduled,
        Status::InProgress | Status::Paused => FmsStatus::InProgress,
        Status::Completed | Status::Verified => FmsStatus::Fixed,
        Status::Cancelled => FmsStatus::NoFurtherAction,
        Status::Duplicate => FmsStatus::Duplicate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::citizen::status::{ALL_STATUSES, open_or_closed};

    #[test]
    fn every_status_maps_and_closed_ones_agree() {
        for s in ALL_STATUSES {
            let f = fms(s);
            let closed_fms = matches!(
                f,
                FmsStatus::Fixed | FmsStatus::NoFurtherAction | FmsStatus::Duplicate
            );
            assert_eq!(open_or_closed(s) == "closed", closed_fms, "{s:?}");
        }
        assert_eq!(FmsStatus::parse("IN_PROGRESS"), Some(FmsStatus::InProgress));
        assert_eq!(
            FmsStatus::parse("action scheduled"),
            Some(FmsStatus::ActionScheduled)
        );
        assert_eq!(FmsStatus::parse("whatever"), None);
        assert_eq!(
            FmsStatus::NotCouncilsResponsibility.upper(),
            "NOT_COUNCILS_RESPONSIBILITY"
        );
    }
}

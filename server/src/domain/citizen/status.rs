//! A task's status as the public sees it: open or closed. Open311's `status` is this
//! (`open311::status` adds FixMyStreet's finer names on top), and the nearby reports a
//! citizen is offered instead of a duplicate are the open ones.
//!
//! A status is closed when no crew works on the task any more (`Status::is_closed`):
//! `completed`, `verified`, `cancelled` and `duplicate`; every other one is open,
//! `reopened` included.

use sync_core::task::Status;

/// Every internal status.
pub const ALL_STATUSES: [Status; 11] = [
    Status::New,
    Status::Queued,
    Status::Assigned,
    Status::Acknowledged,
    Status::InProgress,
    Status::Paused,
    Status::Completed,
    Status::Verified,
    Status::Reopened,
    Status::Cancelled,
    Status::Duplicate,
];

/// `open` or `closed`.
pub fn open_or_closed(status: Status) -> &'static str {
    if status.is_closed() { "closed" } else { "open" }
}

/// The internal statuses `open` (false) or `closed` (true) stands for, by wire name, for
/// filtering the task projection.
pub fn names(closed: bool) -> Vec<&'static str> {
    ALL_STATUSES
        .iter()
        .filter(|s| s.is_closed() == closed)
        .map(|s| s.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_is_open_or_closed_once() {
        assert_eq!(names(true).len() + names(false).len(), ALL_STATUSES.len());
        assert!(names(false).contains(&"reopened"));
        assert_eq!(open_or_closed(Status::Verified), "closed");
        assert_eq!(open_or_closed(Status::Paused), "open");
    }
}

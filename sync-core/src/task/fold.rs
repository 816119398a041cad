//! SKELETON — to be implemented.
use super::model::*;

/// Folds the event log into the derived state and the timeline.
pub fn fold(
    _events: &[Event],
    _photos: &[PhotoRef],
    _default_priority: Priority,
    _default_district: Option<&str>,
    _reopen_window_ms: crate::Millis,
) -> (Derived, Vec<TimelineEntry>) {
    todo!()
}

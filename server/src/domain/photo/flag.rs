//! The place-and-time check: a photo whose EXIF position is far from its task's point, or
//! whose EXIF time is before the task existed, is flagged (design §4). Flags inform
//! dispatchers and the analytics; they never refuse a photo, since EXIF is the camera's
//! claim and a crew may photograph from across the street.

use super::exif::ExifFacts;
use crate::base::geodesy::distance_m;
use sync_core::Millis;

/// Settings of the check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlagRules {
    /// A photo taken farther than this from the task's point is flagged.
    pub max_distance_m: f64,
    /// Clock skew allowed before the task's creation time, ms.
    pub clock_skew_ms: Millis,
}

/// The flags of one photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    /// EXIF GPS farther than the allowed distance from the task's point.
    pub far_from_task: bool,
    /// EXIF time before the task was created.
    pub before_task: bool,
}

impl Flags {
    /// Whether any flag is raised.
    pub fn any(self) -> bool {
        self.far_from_task || self.before_task
    }
}

/// Checks a photo's EXIF facts against its task's point and creation time.
pub fn check(
    facts: &ExifFacts,
    task_point: (f64, f64),
    task_created_at: Millis,
    rules: &FlagRules,
) -> Flags {
    Flags {
        far_from_task: facts
            .point
            .is_some_and(|p| distance_m(p, task_point) > rules.max_distance_m),
        before_task: facts
            .taken_at
            .is_some_and(|t| t < task_created_at.saturating_sub(rules.clock_skew_ms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: FlagRules = FlagRules {
        max_distance_m: 200.0,
        clock_skew_ms: 600_000,
    };

    #[test]
    fn flags() {
        let task = (35.7, 51.4);
        let near = ExifFacts {
            taken_at: Some(1_000_000_000),
            point: Some((35.7005, 51.4)),
        };
        assert_eq!(check(&near, task, 1_000_000_000, &RULES), Flags::default());
        let far = ExifFacts {
            point: Some((35.71, 51.4)),
            ..near
        };
        assert!(check(&far, task, 0, &RULES).far_from_task);
        let early = ExifFacts {
            taken_at: Some(1_000_000_000 - 600_001),
            ..near
        };
        assert!(check(&early, task, 1_000_000_000, &RULES).before_task);
        assert!(!check(&ExifFacts::default(), task, 0, &RULES).any());
    }
}

//! Whether a crew is on duty at an instant: by its roster, unless it toggled manually.
//!
//! - A crew with no shift at all goes by its switch (what it or an administrator last
//!   set), as before rosters existed.
//! - A crew with a roster is on duty while a shift covers the instant — unless its
//!   latest manual toggle came after the roster's latest shift start or end at or before
//!   the instant: then the toggle holds. So a crew that goes off sick mid-shift stays off
//!   until its next shift starts, and one that comes in early is on until its shift's
//!   start or end takes over again.

use crate::storage::roster::DutyFacts;

/// The rule above.
pub fn on_duty(f: &DutyFacts) -> bool {
    if !f.has_roster {
        return f.switch;
    }
    match (f.toggled_at, f.last_boundary) {
        (Some(t), Some(b)) if t >= b => f.switch,
        (Some(_), None) => f.switch,
        _ => f.rostered,
    }
}

/// Where a crew's duty comes from at an instant, for the console.
pub fn source(f: &DutyFacts) -> &'static str {
    if !f.has_roster {
        return "switch";
    }
    match (f.toggled_at, f.last_boundary) {
        (Some(t), Some(b)) if t >= b => "toggle",
        (Some(_), None) => "toggle",
        _ => "roster",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(
        switch: bool,
        toggled_at: Option<i64>,
        rostered: bool,
        last: Option<i64>,
    ) -> DutyFacts {
        DutyFacts {
            switch,
            toggled_at,
            has_roster: true,
            rostered,
            last_boundary: last,
        }
    }

    #[test]
    fn the_roster_decides_until_a_toggle_after_its_last_boundary() {
        // No roster: the switch.
        let none = DutyFacts {
            switch: true,
            ..DutyFacts::default()
        };
        assert!(on_duty(&none));
        // Rostered, no toggle.
        assert!(on_duty(&facts(false, None, true, Some(100))));
        assert!(!on_duty(&facts(true, None, false, Some(100))));
        // Toggled off mid-shift: off until the next boundary.
        assert!(!on_duty(&facts(false, Some(150), true, Some(100))));
        // A toggle before the shift started no longer counts.
        assert!(on_duty(&facts(false, Some(50), true, Some(100))));
        // Toggled on before any shift began.
        assert!(on_duty(&facts(true, Some(50), false, None)));
        assert_eq!(source(&facts(true, Some(50), false, None)), "toggle");
        assert_eq!(source(&facts(true, Some(50), false, Some(60))), "roster");
    }
}

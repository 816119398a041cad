//! The reasons the server writes into task events (an automatic assignment, an
//! escalation, a dispatcher's assignment) as a code with parameters, so that every page
//! renders them in its own language from the shared catalogue (`reason.<code>` in
//! `server/web/i18n/{fa,en}.json`; the console and the verification page).
//!
//! A reason is stored where it always was, in the event's `reason` text: a JSON object
//! whose `code` names the rule, e.g.
//! `{"code":"auto.district","district":"D01","skill":"pothole","km":1.2,"load":0,"score":1.2}`.
//! Older events carry English sentences and people's reasons are their own words: text
//! that does not parse as a [`Reason`] is shown as written ([`Reason::parse`]).

use serde::{Deserialize, Serialize};

/// A server-written reason: a code and its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "code")]
pub enum Reason {
    /// The best-scored on-duty crew of the task's district with the skill.
    #[serde(rename = "auto.district")]
    AutoDistrict {
        /// The task's district.
        district: String,
        /// The skill (the task's service code).
        skill: String,
        /// Distance in km (none: the crew's position is unknown).
        km: Option<f64>,
        /// The crew's open jobs.
        load: u32,
        /// The score (`km` or the unknown-position distance + 3 km × load).
        score: f64,
    },
    /// Nobody on duty with the skill in the district: the best-scored crew of a
    /// neighbouring one.
    #[serde(rename = "auto.neighbour")]
    AutoNeighbour {
        /// The task's district.
        district: String,
        /// The skill.
        skill: String,
        /// The crew's district.
        from: String,
        /// Distance in km (none: unknown).
        km: Option<f64>,
        /// Open jobs.
        load: u32,
        /// The score.
        score: f64,
    },
    /// A dispatcher's assignment, with their note if any.
    #[serde(rename = "dispatcher")]
    Dispatcher {
        /// The dispatcher's login.
        by: String,
        /// Their note (people's own words).
        note: Option<String>,
    },
    /// A dispatcher's assignment past the rules (off duty, another district), with the
    /// reason they gave.
    #[serde(rename = "dispatcher.override")]
    Override {
        /// The dispatcher's login.
        by: String,
        /// The crew was off duty.
        off_duty: bool,
        /// The crew's district, when it is not the task's.
        crew_district: Option<String>,
        /// The task's district then.
        task_district: Option<String>,
        /// The reason given (people's own words).
        note: String,
    },
    /// The assigned crew did not acknowledge within the window.
    #[serde(rename = "escalation.unacknowledged")]
    Unacknowledged {
        /// The crew.
        crew: String,
        /// The window in seconds.
        secs: i64,
    },
    /// Reassigned by an escalation: why, and the new choice's own reason.
    #[serde(rename = "escalation.reassigned")]
    Reassigned {
        /// The crew that did not acknowledge.
        crew: String,
        /// The window in seconds.
        secs: i64,
        /// The new choice's reason.
        then: Box<Reason>,
    },
    /// Not completed by its completion deadline.
    #[serde(rename = "escalation.late")]
    Late,
}

impl Reason {
    /// The text stored in the event.
    pub fn text(&self) -> String {
        // A map of strings and numbers always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A stored reason read back; `None` for older free text and people's words.
    pub fn parse(text: &str) -> Option<Reason> {
        if !text.starts_with('{') {
            return None;
        }
        serde_json::from_str(text).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_free_text() {
        let r = Reason::Reassigned {
            crew: "C-A".into(),
            secs: 60,
            then: Box::new(Reason::AutoNeighbour {
                district: "D06".into(),
                skill: "pothole".into(),
                from: "D05".into(),
                km: None,
                load: 1,
                score: 28.0,
            }),
        };
        let text = r.text();
        assert!(
            text.starts_with(r#"{"code":"escalation.reassigned""#),
            "{text}"
        );
        assert_eq!(Reason::parse(&text), Some(r));
        assert_eq!(Reason::Late.text(), r#"{"code":"escalation.late"}"#);
        assert_eq!(
            Reason::parse("demo: nearest on-duty crew with the skill"),
            None
        );
        assert_eq!(Reason::parse("{not json"), None);
    }
}

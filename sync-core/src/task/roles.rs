//! Who may write what into a task document: one table, [`WRITERS`], of the roles
//! allowed for each kind of entry (each event kind, notes, photos, the task's own
//! fields, creating the task). The server's validation of a device's changes
//! ([`crate::task::validate_update`]) and the fold (an event whose author's role may not
//! make it is superseded) both read it; nothing else decides.
//!
//! Managers and admins read; they write nothing. Citizens act through their tracking
//! code (rate, reopen, evidence photos), never through sync.

use super::model::EventKind;
use crate::ids::Role;

/// A kind of entry in a task document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    /// Creating the task (its first changes, with the `created` event).
    Create,
    /// An event of this kind (its wire name, [`EventKind::name`]).
    Event(&'static str),
    /// A note.
    Note,
    /// A photo reference.
    Photo,
    /// A change of the task's own fields (category, point, priority, SLA, …).
    Fields,
}

use Role::{CallCentre, Citizen, Crew, Dispatcher, Server};

/// The roles allowed to write each kind of entry. A role not listed may not.
pub const WRITERS: &[(What, &[Role])] = &[
    (What::Create, &[Crew, Dispatcher, CallCentre, Server]),
    (
        What::Event("created"),
        &[Crew, Dispatcher, CallCentre, Server],
    ),
    (What::Event("routed"), &[Dispatcher, Server]),
    (What::Event("assigned"), &[Dispatcher, Server]),
    (What::Event("acknowledged"), &[Crew]),
    (What::Event("started"), &[Crew]),
    (What::Event("paused"), &[Crew]),
    (What::Event("completed"), &[Crew]),
    // Judging work from its photos is a dispatcher's call; the server only verifies on a
    // dispatcher's behalf (auto-verify), never rejects on its own.
    (What::Event("verified"), &[Dispatcher, Server]),
    (What::Event("rejected"), &[Dispatcher]),
    (What::Event("reopened"), &[Citizen]),
    (What::Event("cancelled"), &[Dispatcher, Server]),
    (What::Event("marked_duplicate"), &[Dispatcher, Server]),
    (What::Event("rated"), &[Citizen]),
    (What::Event("reprioritized"), &[Dispatcher, Server]),
    (What::Event("escalated"), &[Dispatcher, Server]),
    // The call centre notes what a caller said; the server notes Open311 updates.
    (What::Note, &[Crew, Dispatcher, CallCentre, Server]),
    // Crews' before/after photos, a citizen's evidence, Open311 media (the server).
    (What::Photo, &[Crew, Dispatcher, Citizen, Server]),
    (What::Fields, &[Dispatcher, Server]),
];

/// The roles allowed to write `what` (none for a kind the table does not name).
pub fn writers(what: What) -> &'static [Role] {
    WRITERS
        .iter()
        .find(|(w, _)| *w == what)
        .map_or(&[], |(_, roles)| roles)
}

/// Whether `role` may write `what`; if not, why, in plain words.
pub fn may_write(what: What, role: Role) -> Result<(), String> {
    let allowed = writers(what);
    if allowed.contains(&role) {
        return Ok(());
    }
    let names: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
    let who = if names.is_empty() {
        "nobody".to_owned()
    } else {
        names.join(", ")
    };
    Err(format!(
        "a {} may not {}: only {who} may",
        role.as_str(),
        describe(what)
    ))
}

/// Whether `role` may append an event of `kind`.
pub fn may_append(kind: &EventKind, role: Role) -> Result<(), String> {
    may_write(What::Event(kind.name()), role)
}

fn describe(what: What) -> String {
    match what {
        What::Create => "create a task".into(),
        What::Event(name) => format!("add a {name} event"),
        What::Note => "add notes".into(),
        What::Photo => "add photos".into(),
        What::Fields => "change the task's fields".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLES: [Role; 6] = [Citizen, CallCentre, Crew, Dispatcher, Role::Manager, Server];

    /// The whole matrix, role by role: a change to who may write what is a visible
    /// decision. Columns: citizen, call centre, crew, dispatcher, manager, server.
    #[test]
    fn every_role_against_every_kind_of_entry() {
        let expected: &[(What, [bool; 6])] = &[
            (What::Create, [false, true, true, true, false, true]),
            (
                What::Event("created"),
                [false, true, true, true, false, true],
            ),
            (
                What::Event("routed"),
                [false, false, false, true, false, true],
            ),
            (
                What::Event("assigned"),
                [false, false, false, true, false, true],
            ),
            (
                What::Event("acknowledged"),
                [false, false, true, false, false, false],
            ),
            (
                What::Event("started"),
                [false, false, true, false, false, false],
            ),
            (
                What::Event("paused"),
                [false, false, true, false, false, false],
            ),
            (
                What::Event("completed"),
                [false, false, true, false, false, false],
            ),
            (
                What::Event("verified"),
                [false, false, false, true, false, true],
            ),
            (
                What::Event("rejected"),
                [false, false, false, true, false, false],
            ),
            (
                What::Event("reopened"),
                [true, false, false, false, false, false],
            ),
            (
                What::Event("cancelled"),
                [false, false, false, true, false, true],
            ),
            (
                What::Event("marked_duplicate"),
                [false, false, false, true, false, true],
            ),
            (
                What::Event("rated"),
                [true, false, false, false, false, false],
            ),
            (
                What::Event("reprioritized"),
                [false, false, false, true, false, true],
            ),
            (
                What::Event("escalated"),
                [false, false, false, true, false, true],
            ),
            (What::Note, [false, true, true, true, false, true]),
            (What::Photo, [true, false, true, true, false, true]),
            (What::Fields, [false, false, false, true, false, true]),
        ];
        assert_eq!(
            expected.len(),
            WRITERS.len(),
            "every row of the table is tested"
        );
        for (what, allowed) in expected {
            for (role, ok) in ROLES.iter().zip(allowed) {
                assert_eq!(
                    may_write(*what, *role).is_ok(),
                    *ok,
                    "{what:?} by {}",
                    role.as_str()
                );
            }
        }
        // A manager writes nothing at all.
        for (what, _) in WRITERS {
            let why = may_write(*what, Role::Manager).unwrap_err();
            assert!(why.starts_with("a manager may not"), "{why}");
        }
    }

    /// Every event kind has its row (a new kind without one would be writable by nobody).
    #[test]
    fn every_event_kind_has_a_row() {
        let kinds = [
            EventKind::Created,
            EventKind::Routed {
                district: "D".into(),
            },
            EventKind::Assigned {
                crew: "C".into(),
                reason: String::new(),
            },
            EventKind::Acknowledged,
            EventKind::Started,
            EventKind::Paused {
                reason: String::new(),
            },
            EventKind::Completed { photos: vec![] },
            EventKind::Verified,
            EventKind::Rejected {
                reason: String::new(),
            },
            EventKind::Reopened {
                reason: String::new(),
            },
            EventKind::Cancelled {
                reason: String::new(),
            },
            EventKind::MarkedDuplicate {
                of: crate::DocId::new("T1").unwrap(),
            },
            EventKind::Rated {
                stars: 5,
                comment: String::new(),
            },
            EventKind::Reprioritized {
                priority: super::super::model::Priority::Low,
                reason: String::new(),
            },
            EventKind::Escalated {
                reason: String::new(),
            },
        ];
        for k in kinds {
            assert!(!writers(What::Event(k.name())).is_empty(), "{}", k.name());
        }
    }
}

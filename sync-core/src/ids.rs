//! Identifiers and the actor who makes an edit: the vocabulary every other module shares.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Milliseconds since the Unix epoch (UTC). Times are data, passed in by callers, so that
/// everything in this crate is deterministic and testable.
pub type Millis = i64;

/// A malformed identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {why}")]
pub struct IdError {
    /// Which kind of identifier.
    pub kind: &'static str,
    /// The offending value (truncated).
    pub value: String,
    /// Why it is refused.
    pub why: &'static str,
}

fn check_id(kind: &'static str, s: &str) -> Result<(), IdError> {
    let err = |why| IdError {
        kind,
        value: s.chars().take(80).collect(),
        why,
    };
    if s.is_empty() {
        return Err(err("empty"));
    }
    if s.len() > 128 {
        return Err(err("longer than 128 bytes"));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.'))
    {
        return Err(err("only ASCII letters, digits and - _ : . are allowed"));
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$m:meta])* $name:ident, $kind:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks and wraps an identifier.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check_id($kind, &s)?;
                Ok(Self(s))
            }
            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }
    };
}

string_id!(
    /// A task document's identifier (stable, chosen at creation, never reused).
    DocId,
    "document id"
);
impl DocId {
    /// A fresh id for a task a crew files on its phone (a field report): `F-` and 16
    /// lower-case hex digits, 64 random bits, so phones mint ids offline without
    /// coordinating (an even chance of one collision needs some 4 billion reports). The
    /// one id in this crate drawn at random rather than passed in.
    pub fn field_report() -> DocId {
        DocId(format!("F-{}", hex::encode(rand::random::<[u8; 8]>())))
    }
}

string_id!(
    /// A device (one phone installation, one server replica, one console session).
    DeviceId,
    "device id"
);
string_id!(
    /// A sync scope: a set of documents a device may hold, e.g. `crew:C12` or `district:D7`.
    /// Scopes are computed by the server; each has its own change sequence.
    ScopeId,
    "scope id"
);

/// What a user is allowed to do. Roles are claimed in documents but checked by the server
/// against the authenticated sender before anything is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A member of the public, acting through a tracking code.
    Citizen,
    /// A call-centre operator filing on a citizen's behalf.
    CallCentre,
    /// A member of a district field crew.
    Crew,
    /// A dispatcher of one or more districts.
    Dispatcher,
    /// A manager (read-mostly).
    Manager,
    /// The server itself (routing, auto-assignment, escalation).
    Server,
}

impl Role {
    /// The role's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Citizen => "citizen",
            Role::CallCentre => "call_centre",
            Role::Crew => "crew",
            Role::Dispatcher => "dispatcher",
            Role::Manager => "manager",
            Role::Server => "server",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "citizen" => Role::Citizen,
            "call_centre" => Role::CallCentre,
            "crew" => Role::Crew,
            "dispatcher" => Role::Dispatcher,
            "manager" => Role::Manager,
            "server" => Role::Server,
            _ => return None,
        })
    }
}

/// Who makes an edit: a user in a role, on a device, and (for crew members) in a crew.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    /// The user's id (for a citizen: the tracking code's task-scoped pseudonym).
    pub user: String,
    /// The role the edit is made in.
    pub role: Role,
    /// The crew, for crew members.
    pub crew: Option<String>,
    /// The device the edit was made on.
    pub device: DeviceId,
}

impl Actor {
    /// The server acting on its own (routing, auto-assignment, escalation).
    pub fn server(device: DeviceId) -> Actor {
        Actor {
            user: "server".into(),
            role: Role::Server,
            crew: None,
            device,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_refuse_bad_text() {
        assert!(DocId::new("T-1").is_ok());
        assert!(DocId::new("").is_err());
        assert!(DocId::new("a b").is_err());
        assert!(DocId::new("x".repeat(129)).is_err());
        assert!(DocId::new("../etc").is_err());
        let e = ScopeId::new("crew:7;DROP").unwrap_err();
        assert_eq!(e.kind, "scope id");
    }

    #[test]
    fn field_report_ids_are_well_formed_and_unique() {
        let ids: std::collections::HashSet<DocId> =
            (0..10_000).map(|_| DocId::field_report()).collect();
        assert_eq!(ids.len(), 10_000, "a field-report id was minted twice");
        for id in &ids {
            let hex = id.as_str().strip_prefix("F-").unwrap();
            assert_eq!(hex.len(), 16, "{id}");
            assert!(
                hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
                "{id}"
            );
            // It passes the checks any id from outside must pass.
            assert_eq!(&DocId::new(id.as_str()).unwrap(), id);
        }
    }

    #[test]
    fn ids_refuse_bad_text_when_deserialized() {
        let bad: Result<DocId, _> = serde_json::from_str("\"a/b\"");
        assert!(bad.is_err());
    }
}

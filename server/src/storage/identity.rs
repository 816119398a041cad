//! Identity as stored: users and their roles, crews, devices, tokens.

use serde::{Deserialize, Serialize};
use sync_core::Role;

/// A user's role on the server. `Admin` exists only here: admins manage users, crews and
/// districts and do not edit task documents.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum UserRole {
    /// Administrator.
    Admin,
    /// Dispatcher of some districts.
    Dispatcher,
    /// Field crew member.
    Crew,
    /// Manager (reads).
    Manager,
    /// Call-centre operator.
    CallCentre,
}

impl UserRole {
    /// Every role.
    pub const ALL: [UserRole; 5] = [
        UserRole::Admin,
        UserRole::Dispatcher,
        UserRole::Crew,
        UserRole::Manager,
        UserRole::CallCentre,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            UserRole::Admin => "admin",
            UserRole::Dispatcher => "dispatcher",
            UserRole::Crew => "crew",
            UserRole::Manager => "manager",
            UserRole::CallCentre => "call_centre",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<UserRole> {
        UserRole::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The role the user's edits carry in task documents (none for admins).
    pub fn sync_role(self) -> Option<Role> {
        match self {
            UserRole::Admin => None,
            UserRole::Dispatcher => Some(Role::Dispatcher),
            UserRole::Crew => Some(Role::Crew),
            UserRole::Manager => Some(Role::Manager),
            UserRole::CallCentre => Some(Role::CallCentre),
        }
    }
}

impl std::fmt::Display for UserRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for UserRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        UserRole::parse(s).ok_or_else(|| {
            format!(
                "unknown role {s:?}; expected one of {}",
                UserRole::ALL.map(|r| r.as_str()).join(", ")
            )
        })
    }
}

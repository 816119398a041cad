//! Tracking codes: short, unguessable handles a citizen gets for a report, never the
//! internal task id (migration `0006_tracking.sql`).
//!
//! A code is 12 characters of Crockford's base 32 (60 random bits), shown in three
//! groups of four (`K7QM-4XPD-2RJW`); reading one forgives what people do when they type
//! it ([`crate::base::crockford`]). The row is written before the task's first commit (see
//! [`crate::domain::intake::create_task`]), so a code handed out always resolves.

use crate::base::crockford;
use crate::base::time::now_millis;
use crate::storage::citizens::{self as records, TrackingRow};
use crate::storage::{Db, DbError};
use serde::Serialize;
use sync_core::DocId;

/// Characters in a code, without its dashes.
pub const CODE_LEN: usize = 12;

/// Who a code was given to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The citizen who filed the report.
    Reporter,
    /// A citizen who supported an existing report instead of filing a duplicate.
    Supporter,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reporter => "reporter",
            Role::Supporter => "supporter",
        }
    }

    fn parse(s: &str) -> Result<Role, DbError> {
        match s {
            "reporter" => Ok(Role::Reporter),
            "supporter" => Ok(Role::Supporter),
            other => Err(DbError::Corrupt(format!("tracking code role {other:?}"))),
        }
    }
}

/// A tracking code as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tracking {
    /// The code, normalised (no dashes).
    pub code: String,
    /// The task it was issued on (follow `MarkedDuplicate` for a merged one).
    pub task: DocId,
    /// Who holds it.
    pub role: Role,
    /// When it was issued.
    pub created_at: i64,
}

/// A fresh random code, normalised.
pub fn new_code() -> String {
    crockford::random(CODE_LEN)
}

/// A normalised code as people read it: `XXXX-XXXX-XXXX`.
pub fn display(code: &str) -> String {
    crockford::grouped(code)
}

/// Reads a code as typed; `None` when it cannot be one (so no lookup is made).
pub fn normalise(input: &str) -> Option<String> {
    crockford::read(input).filter(|code| code.len() == CODE_LEN)
}

/// A new reporter's or supporter's code for `task`, to store with the task's first
/// commit (`CommitExtra::codes`).
pub fn fresh(task: &DocId, role: Role) -> (Tracking, TrackingRow) {
    let t = Tracking {
        code: new_code(),
        task: task.clone(),
        role,
        created_at: now_millis(),
    };
    let row = TrackingRow {
        code: t.code.clone(),
        task: t.task.to_string(),
        role: role.as_str().to_owned(),
        created_at: t.created_at,
    };
    (t, row)
}

/// Issues a new code for `task`. Call it before the task's first commit when the task is
/// new: the code must resolve once the citizen has it.
pub async fn issue(db: &Db, task: &DocId, role: Role) -> Result<Tracking, DbError> {
    // 60 random bits: a collision is next to impossible, but a retry costs nothing.
    for _ in 0..4 {
        let t = Tracking {
            code: new_code(),
            task: task.clone(),
            role,
            created_at: now_millis(),
        };
        let row = TrackingRow {
            code: t.code.clone(),
            task: t.task.to_string(),
            role: role.as_str().to_owned(),
            created_at: t.created_at,
        };
        if records::insert_tracking_code(db, &row).await? {
            return Ok(t);
        }
    }
    Err(DbError::Corrupt(
        "four random tracking codes in a row were taken".into(),
    ))
}

impl TryFrom<TrackingRow> for Tracking {
    type Error = DbError;

    fn try_from(r: TrackingRow) -> Result<Tracking, DbError> {
        Ok(Tracking {
            task: DocId::new(r.task.clone())
                .map_err(|_| DbError::Corrupt(format!("tracking code task id {:?}", r.task)))?,
            role: Role::parse(&r.role)?,
            code: r.code,
            created_at: r.created_at,
        })
    }
}

/// The code as typed, if it exists. A task merged into another is not followed here:
/// callers read the document and follow its `MarkedDuplicate` event.
pub async fn resolve(db: &Db, input: &str) -> Result<Option<Tracking>, DbError> {
    let Some(code) = normalise(input) else {
        return Ok(None);
    };
    records::tracking_code(db, &code)
        .await?
        .map(Tracking::try_from)
        .transpose()
}

/// The codes issued on a task (the reporter's first).
pub async fn codes_of(db: &Db, task: &DocId) -> Result<Vec<Tracking>, DbError> {
    records::tracking_codes_of(db, task.as_str())
        .await?
        .into_iter()
        .map(Tracking::try_from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_what_people_type() {
        for _ in 0..200 {
            let code = new_code();
            assert_eq!(code.len(), CODE_LEN);
            let shown = display(&code);
            assert_eq!(shown.len(), CODE_LEN + 2);
            assert_eq!(normalise(&shown).as_deref(), Some(code.as_str()));
            assert_eq!(
                normalise(&shown.to_lowercase().replace('-', " ")).as_deref(),
                Some(code.as_str())
            );
        }
        assert_eq!(normalise("oooo-iiii-llll").as_deref(), Some("000011111111"));
        assert_eq!(normalise("ABCD-EFGH-JKM"), None);
        assert_eq!(normalise("ABCD-EFGH-JKMNP"), None);
        assert_eq!(normalise("ABCD-EFGH-JKMU"), None);
        // Arabic-Indic and Persian digits are digits (issue 19); other scripts' are not.
        assert_eq!(normalise("abcd-efgh-jkm٣").as_deref(), Some("ABCDEFGHJKM3"));
        assert_eq!(normalise("ABCD-EFGH-JKM۳").as_deref(), Some("ABCDEFGHJKM3"));
        assert_eq!(normalise("ABCD-EFGH-JKM\u{0969}"), None);
        assert_eq!(normalise("T-0123456789AB"), None);
    }
}

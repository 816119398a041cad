//! Finding a caller: the keyed hash of their number ([`CallerKey`]) and the lookup by
//! phone number, tracking code or task id ([`find`]) that gives their earlier reports
//! with their status in plain words.
//!
//! What the operator types is read forgivingly: a phone number with `+98`, `0098`, `0`
//! or nothing before it, with spaces or dashes, in Latin, Persian or Arabic-Indic digits
//! ([`crate::domain::phone`]); a tracking code in any case, with or without dashes, in
//! Persian digits too; a task id `T-…` or message id `M-…` in any case. Anything else is
//! refused with words the desk shows as they are.

use super::{Desk, DeskError};
use crate::base::config::Config;
use crate::domain::citizen::codes;
use crate::domain::citizen::messages;
use crate::domain::citizen::public_view::{Named, status_text};
use crate::domain::phone;
use crate::storage::callcentre as records;
use crate::storage::{Db, DbError, IdentityStore};
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::collections::HashMap;
use std::path::Path;
use sync_core::DocId;
use sync_core::task::Status;
use utoipa::ToSchema;

/// The most reports a lookup lists (newest first).
pub const MAX_REPORTS: i64 = 50;
/// The longest lookup text read.
const MAX_QUERY: usize = 64;

/// The server's secret for callers' hashes. Never printed.
#[derive(Clone)]
pub struct CallerKey([u8; 32]);

impl std::fmt::Debug for CallerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallerKey(<hidden>)")
    }
}

impl CallerKey {
    /// A key from its bytes.
    pub fn from_bytes(b: [u8; 32]) -> CallerKey {
        CallerKey(b)
    }

    /// A fresh random key (kept nowhere: hashes made with it are lost at restart).
    pub fn random() -> CallerKey {
        CallerKey(rand::random())
    }

    /// The configured key; else the one in `data_dir/caller.key`, made (random, readable
    /// by the owner only) if it is not there yet.
    pub fn load(config: &Config) -> Result<CallerKey, String> {
        if let Some(k) = &config.desk.caller_key {
            return crate::base::config::desk::parse_key(k)
                .map(CallerKey)
                .map_err(|why| format!("TARMIM_CALLER_KEY: {why}"));
        }
        Self::load_file(&config.data_dir.join("caller.key"))
    }

    fn load_file(path: &Path) -> Result<CallerKey, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => crate::base::config::desk::parse_key(&text)
                .map(CallerKey)
                .map_err(|why| format!("{}: {why}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = CallerKey::random();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                }
                write_private(path, &hex::encode(key.0))
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                tracing::info!(path = %path.display(), "caller key created");
                Ok(key)
            }
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// The caller's hash of a number in E.164: HMAC-SHA256, hex.
    pub fn hash(&self, e164: &str) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(e164.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The caller's hash of a number a citizen gave with a report, read as the desk reads
    /// a typed one ([`phone::normalise`]); none when there is no number or it is not a
    /// valid one (the report page accepts some the desk cannot look up).
    pub fn hash_given(&self, phone_number: Option<&str>) -> Option<String> {
        let e164 = phone::normalise(phone_number?).ok()?;
        Some(self.hash(&e164))
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // `create_new`: two processes starting at once keep the first key, not a mix.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// What the operator typed, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// A phone number, in E.164.
    Phone(String),
    /// A tracking code, normalised.
    Code(String),
    /// A task (`T-…`) or message (`M-…`) id.
    Task(DocId),
}

/// Reads a phone number for the desk: any valid number, in E.164; refused in plain
/// words.
pub fn read_phone(input: &str) -> Result<String, DeskError> {
    phone::normalise(input).map_err(|e| {
        DeskError::Invalid(format!(
            "{e}: type the caller's number as 0912 345 6789, +98 912 345 6789 or 0098 912 345 6789"
        ))
    })
}

/// Reads what the operator typed (see the module docs).
pub fn parse(input: &str) -> Result<Query, DeskError> {
    let text = phone::ascii_digits(input.trim());
    if text.is_empty() {
        return Err(DeskError::Invalid(
            "type the caller's phone number, a tracking code or a task id".into(),
        ));
    }
    if text.chars().count() > MAX_QUERY {
        return Err(DeskError::Invalid(format!(
            "that is too long for a phone number, a tracking code or a task id (at most {MAX_QUERY} characters)"
        )));
    }
    let upper = text.to_uppercase();
    if upper.starts_with("T-") || upper.starts_with("M-") {
        return DocId::new(upper.clone())
            .map(Query::Task)
            .map_err(|_| DeskError::Invalid(format!("{text:?} is not a task id")));
    }
    if text.chars().any(|c| c.is_ascii_alphabetic()) {
        return codes::normalise(&text).map(Query::Code).ok_or_else(|| {
            DeskError::Invalid(format!(
                "{text:?} is not a tracking code (12 letters and digits, like K7QM-4XPD-2RJW)"
            ))
        });
    }
    read_phone(&text).map(Query::Phone)
}

/// One of a caller's reports, as the desk reads it aloud.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallerReport {
    /// The task (`T-…`) or message (`M-…`) id.
    pub id: String,
    /// The caller's tracking code on it (`XXXX-XXXX-XXXX`), if the desk knows it.
    pub code: Option<String>,
    /// `request`, `violation`, `complaint`, …
    pub kind: String,
    /// The service, for field reports.
    pub category: Option<Named>,
    /// Its title (a message's first words).
    pub title: String,
    /// Status: a task's wire status, or a message's `answered` / `received`.
    pub status: String,
    /// The status in plain English (the desk shows the Persian from its catalogue).
    pub status_text: String,
    /// Whether nothing more will happen on it.
    pub closed: bool,
    /// Its district.
    pub district: Option<Named>,
    /// When it was filed (ms).
    pub created_at: i64,
}

/// What a lookup found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Found {
    /// How the caller was found: `phone`, `code` or `task`.
    pub by: String,
    /// Whether the desk knows the caller's number (by phone, or a code or task the desk
    /// linked to a caller): then `reports` are all of theirs, else just the one asked
    /// about.
    pub caller_known: bool,
    /// The reports, newest first (at most 50).
    pub reports: Vec<CallerReport>,
}

/// Finds the caller and their reports; the caller's hash, if known, comes back too (for
/// the call log).
pub async fn find(desk: &Desk<'_>, input: &str) -> Result<(Found, Option<String>), DeskError> {
    let db = &desk.citizens.dispatch.store;
    let query = parse(input)?;
    let (by, caller, ids): Lookup = match query {
        Query::Phone(e164) => {
            let caller = desk.citizens.caller_key.hash(&e164);
            let rows = records::codes_of_caller(db, &caller, MAX_REPORTS).await?;
            let ids = rows.into_iter().map(|r| (r.task, Some(r.code))).collect();
            ("phone", Some(caller), ids)
        }
        Query::Code(code) => {
            let Some(t) = crate::storage::citizens::tracking_code(db, &code).await? else {
                return Err(DeskError::NotFound(format!(
                    "no report has the tracking code {}",
                    codes::display(&code)
                )));
            };
            by_code(db, "code", t.code, t.task).await?
        }
        Query::Task(id) => {
            let rows = crate::storage::citizens::tracking_codes_of(db, id.as_str()).await?;
            match rows.into_iter().next() {
                Some(t) => by_code(db, "task", t.code, t.task).await?,
                None if exists(db, &id).await? => ("task", None, vec![(id.to_string(), None)]),
                None => return Err(DeskError::NotFound(format!("no task {id}"))),
            }
        }
    };
    let reports = describe(db, &ids).await?;
    Ok((
        Found {
            by: by.to_owned(),
            caller_known: caller.is_some(),
            reports,
        },
        caller,
    ))
}

/// How the caller was found, their hash if known, and the reports (id, their code).
type Lookup = (&'static str, Option<String>, Vec<(String, Option<String>)>);

/// A code's caller's reports, or the code's own report when no caller is linked.
async fn by_code(db: &Db, by: &'static str, code: String, task: String) -> Result<Lookup, DbError> {
    match records::caller_of_code(db, &code).await? {
        Some(caller) => {
            let rows = records::codes_of_caller(db, &caller, MAX_REPORTS).await?;
            let ids = rows.into_iter().map(|r| (r.task, Some(r.code))).collect();
            Ok((by, Some(caller), ids))
        }
        None => Ok((by, None, vec![(task, Some(code))])),
    }
}

async fn exists(db: &Db, id: &DocId) -> Result<bool, DbError> {
    if messages::is_message(id.as_str()) {
        return Ok(crate::storage::messages::get(db, id.as_str())
            .await?
            .is_some());
    }
    crate::storage::citizens::task_exists(db, id.as_str()).await
}

/// The reports `ids` (with the caller's code on each), in the order given, from the
/// task projection and the messages table: two queries however many there are.
async fn describe(db: &Db, ids: &[(String, Option<String>)]) -> Result<Vec<CallerReport>, DbError> {
    let (msg_ids, task_ids): (Vec<&str>, Vec<&str>) = ids
        .iter()
        .map(|(id, _)| id.as_str())
        .partition(|id| messages::is_message(id));
    let tasks: HashMap<String, records::TaskLine> = records::task_lines(db, &task_ids)
        .await?
        .into_iter()
        .map(|t| (t.id.clone(), t))
        .collect();
    let msgs: HashMap<String, records::MessageLine> = records::message_lines(db, &msg_ids)
        .await?
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect();
    let services: HashMap<String, String> = db
        .services()
        .await?
        .into_iter()
        .map(|s| (s.code, s.name))
        .collect();
    let districts: HashMap<String, String> = records::district_names(db).await?;
    let named = |code: &Option<String>, names: &HashMap<String, String>| {
        code.as_ref().map(|c| Named {
            code: c.clone(),
            name: names.get(c).cloned().unwrap_or_else(|| c.clone()),
            name_en: None,
        })
    };
    let mut out = Vec::new();
    for (id, code) in ids {
        let code = code.as_deref().map(codes::display);
        if let Some(t) = tasks.get(id) {
            let status = Status::parse(&t.status);
            out.push(CallerReport {
                id: id.clone(),
                code,
                kind: t.kind.clone().unwrap_or_else(|| "request".into()),
                category: named(&Some(t.category.clone()), &services),
                title: t.title.clone(),
                status: t.status.clone(),
                status_text: status.map(status_text).unwrap_or("Unknown").to_owned(),
                closed: status.is_some_and(Status::is_closed),
                district: named(&t.district, &districts),
                created_at: t.created_at,
            });
        } else if let Some(m) = msgs.get(id) {
            let answered = m.answered_at.is_some();
            out.push(CallerReport {
                id: id.clone(),
                code,
                kind: m.kind.clone(),
                category: None,
                title: m
                    .body
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(120)
                    .collect(),
                status: if answered { "answered" } else { "received" }.into(),
                status_text: if answered {
                    "Answered: the answer is on the tracking page"
                } else {
                    "Received: waiting for an answer"
                }
                .into(),
                closed: answered,
                district: named(&m.district, &districts),
                created_at: m.created_at,
            });
        }
        // A code whose task was never committed (a crash in between) lists nothing.
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_way_of_typing_a_number_is_one_caller() {
        let key = CallerKey::from_bytes([7; 32]);
        let want = key.hash("+989121234567");
        for s in [
            "09121234567",
            "+98 912 123 4567",
            "0098 912 123 4567",
            "۰۹۱۲۱۲۳۴۵۶۷",
            "۰۹۱۲ ۱۲۳ ۴۵۶۷",
            "9121234567",
        ] {
            match parse(s) {
                Ok(Query::Phone(p)) => assert_eq!(key.hash(&p), want, "{s}"),
                other => panic!("{s}: {other:?}"),
            }
        }
        assert_ne!(CallerKey::from_bytes([8; 32]).hash("+989121234567"), want);
    }

    #[test]
    fn codes_ids_and_junk() {
        assert_eq!(
            parse("k7qm-4xpd-2rjw").ok(),
            Some(Query::Code("K7QM4XPD2RJW".into()))
        );
        assert_eq!(
            parse("K7QM-۴XPD-۲RJW").ok(),
            Some(Query::Code("K7QM4XPD2RJW".into()))
        );
        assert!(matches!(parse("t-90001"), Ok(Query::Task(_))));
        for bad in ["", "   ", "0912", "hello!", "<script>", &"9".repeat(5000)] {
            assert!(matches!(parse(bad), Err(DeskError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn a_key_file_is_made_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("caller.key");
        let a = CallerKey::load_file(&path).unwrap();
        let b = CallerKey::load_file(&path).unwrap();
        assert_eq!(a.hash("+989121234567"), b.hash("+989121234567"));
        std::fs::write(&path, "not hex").unwrap();
        assert!(CallerKey::load_file(&path).is_err());
    }
}

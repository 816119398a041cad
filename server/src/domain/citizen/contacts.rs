//! A citizen's contact details are personal data (issue 17 §4). They are stored apart
//! from the task document (`open311_contacts`: the document reaches crews' phones), are
//! never written to a log (errors name the channel's failure, never an address), and
//! leave the server three ways:
//!
//! - [`forget`]: the holder of a tracking code erases the contact that code holds (the
//!   reporter's, or their own as a supporter), at once;
//! - [`unsubscribe`]: the link in every message stops further messages, keeping the
//!   contact until it is erased;
//! - [`sweep`]: every replica's outbox loop erases the contacts of reports closed, and
//!   of messages answered, more than `contact_retention_days` ago (default 90), and by
//!   the same rule the call
//!   centre's records of callers: the links from a caller's hashed number to those
//!   reports' codes, and the caller's hash in calls started that long ago.
//!
//! Erasing a contact ([`forget`]) also drops the desk's link from the caller's hashed
//! number to that code, whichever way the report came in (the desk, the report page,
//! Open311): an erased citizen is not found by their number any more.
//!
//! At intake, an e-mail address must parse as one and a phone number is read into
//! E.164 ([`crate::domain::phone`]), so a number is one string however it was typed.
//! Not done: encryption at rest (the database's own protection applies).

use super::Citizens;
use super::codes::{self, Role, Tracking};
use super::public_view::TrackError;
use crate::base::time::now_millis;
use crate::storage::open311 as records;
use crate::storage::{Db, DbError};

/// The contact row a code holds: the reporter's is keyed by the task, a supporter's by
/// their own code.
fn reference(t: &Tracking) -> String {
    match t.role {
        Role::Reporter => t.task.to_string(),
        Role::Supporter => t.code.clone(),
    }
}

async fn resolve(c: &Citizens<'_>, input: &str) -> Result<Tracking, TrackError> {
    codes::resolve(&c.dispatch.store, input)
        .await?
        .ok_or(TrackError::UnknownCode)
}

/// Erases the contact `code` holds; true if there was one.
pub async fn forget(c: &Citizens<'_>, code: &str) -> Result<bool, TrackError> {
    let t = resolve(c, code).await?;
    // The call centre's link from the caller's hashed number to this code goes too: an
    // erased citizen is not found by their number any more.
    crate::storage::callcentre::unlink(&c.dispatch.store, &t.code).await?;
    Ok(records::erase_contact(&c.dispatch.store, &reference(&t)).await? > 0)
}

/// Stops messages to the contact `code` holds; true if it was receiving them.
pub async fn unsubscribe(c: &Citizens<'_>, code: &str) -> Result<bool, TrackError> {
    let t = resolve(c, code).await?;
    Ok(records::unsubscribe_contact(&c.dispatch.store, &reference(&t), now_millis()).await?)
}

/// Erases the contacts of reports closed (and messages answered) more than
/// `retention_days` before `now`, the
/// callers' links to those reports, and the callers' hashes in calls started that long
/// ago; returns how many contacts were erased.
pub async fn sweep(db: &Db, retention_days: u64, now: i64) -> Result<u64, DbError> {
    let keep_ms = i64::try_from(retention_days)
        .unwrap_or(i64::MAX)
        .saturating_mul(24 * 60 * 60 * 1000);
    let cutoff = now.saturating_sub(keep_ms);
    let n = records::erase_contacts_closed_before(db, cutoff).await?;
    if n > 0 {
        tracing::info!(erased = n, "contacts of long-closed reports erased");
        metrics::counter!("tarmim_contacts_erased_total").increment(n);
    }
    let links = crate::storage::callcentre::sweep_links(db, cutoff).await?;
    let calls = crate::storage::callcentre::sweep_calls(db, cutoff).await?;
    if links + calls > 0 {
        tracing::info!(
            links,
            calls,
            "callers' hashes of long-closed reports and old calls forgotten"
        );
        metrics::counter!("tarmim_caller_hashes_forgotten_total").increment(links + calls);
    }
    Ok(n)
}

/// Checks and normalises an e-mail address given at intake.
pub fn check_email(v: &str) -> Result<String, String> {
    let v = v.trim();
    match v.parse::<lettre::Address>() {
        Ok(a) if v.len() <= 254 => Ok(a.to_string()),
        _ => Err(format!(
            "{:?} is not an e-mail address",
            v.chars().take(60).collect::<String>()
        )),
    }
}

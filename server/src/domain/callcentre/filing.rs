//! Filing for a caller: every kind of message through the citizens' own intake
//! ([`crate::domain::citizen::report::file_as`], channel `call_centre`, source
//! `call_centre`, filed by the operator), so routing, the service's attributes, nearby
//! duplicates and the tracking code behave exactly as on the report page and Open311.
//! Instead of a duplicate, the caller can be added as a supporter of an open report
//! ([`support`]).
//!
//! The caller's number, if given, is hashed and linked to the code they get (in the
//! report's own commit), so the next call finds it. It is stored as their contact only with their consent; then the
//! notifier sends the code by SMS with the "received" message (field reports), and the
//! answer says whether that will happen ([`Sms`]).

use super::callers::read_phone;
use super::{Desk, DeskError, Operator};
use crate::base::time::now_millis;
use crate::domain::citizen::codes;
use crate::domain::citizen::report::{self, Origin, Receipt, Submission, Support};
use crate::domain::intake::Kind;
use crate::domain::phone;
use crate::storage::callcentre as records;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use sync_core::task::Source;
use utoipa::ToSchema;

/// What the operator files for a caller.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeskReport {
    /// What it is.
    pub kind: Kind,
    /// The service (required for `request` and `violation`).
    #[serde(default)]
    pub service: Option<String>,
    /// Answers to the service's attributes (`code` → a value, or a list).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// Latitude (required for field kinds).
    #[serde(default)]
    pub lat: Option<f64>,
    /// Longitude.
    #[serde(default)]
    pub lon: Option<f64>,
    /// Street address or landmark, as the caller said it.
    #[serde(default)]
    pub address: Option<String>,
    /// The caller's words, as the operator wrote them down.
    #[serde(default)]
    pub description: String,
    /// A district a message names (code).
    #[serde(default)]
    pub district: Option<String>,
    /// A task's tracking code (or id) a message is about.
    #[serde(default)]
    pub about_task: Option<String>,
    /// A unit, crew or contractor a message names.
    #[serde(default)]
    pub about_unit: Option<String>,
    /// The caller's phone number (any common format): the next call finds this report.
    #[serde(default)]
    pub phone: Option<String>,
    /// The caller agreed to be told of progress by SMS (the code first): their number
    /// is then kept as their contact, under the contact rules.
    #[serde(default)]
    pub consent: bool,
    /// The caller's language for messages (`fa`, the default, or `en`).
    #[serde(default)]
    pub lang: Option<String>,
    /// The call it is filed in (`C-…`), which then knows its caller.
    #[serde(default)]
    pub call: Option<String>,
}

/// Whether the tracking code goes out by SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sms {
    /// Queued with the "received" message; the notifier sends it.
    Queued,
    /// The caller agreed, but no SMS gateway is configured: read the code aloud.
    NotConfigured,
    /// The caller did not agree (or gave no number).
    NotRequested,
    /// Messages (complaints, ideas, …) are answered on the tracking page, not by SMS.
    NotForMessages,
    /// A supporter's code is read aloud; the report's next steps go out by SMS.
    NewsOnly,
}

/// What the desk shows after filing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeskReceipt {
    /// The citizens' receipt: the tracking code, its page, the district.
    #[serde(flatten)]
    pub receipt: Receipt,
    /// The task (`T-…`) or message (`M-…`) id.
    pub id: String,
    /// Whether the code goes out by SMS.
    pub sms: Sms,
}

struct Caller {
    hash: Option<String>,
    /// The number to keep as the contact (with consent).
    contact: Option<String>,
}

/// Reads the caller's number and consent: consent needs a mobile number.
fn caller(desk: &Desk<'_>, phone_in: Option<&str>, consent: bool) -> Result<Caller, DeskError> {
    let Some(p) = phone_in.map(str::trim).filter(|p| !p.is_empty()) else {
        if consent {
            return Err(DeskError::Invalid(
                "to send the code by SMS, type the caller's mobile number".into(),
            ));
        }
        return Ok(Caller {
            hash: None,
            contact: None,
        });
    };
    let e164 = read_phone(p)?;
    let contact = if consent {
        Some(phone::normalise_mobile(&e164).map_err(|_| {
            DeskError::Invalid(format!(
                "{e164} is not a mobile number: no SMS can reach it (file without consent, and read the code aloud)"
            ))
        })?)
    } else {
        None
    };
    Ok(Caller {
        hash: Some(desk.citizens.caller_key.hash(&e164)),
        contact,
    })
}

async fn note_caller(desk: &Desk<'_>, call: Option<&str>, hash: Option<&str>) {
    let (Some(call), Some(hash)) = (call, hash) else {
        return;
    };
    if let Err(e) = records::set_caller(&desk.citizens.dispatch.store, call, hash).await {
        tracing::warn!(call, error = %e, "noting a call's caller failed");
    }
}

/// Files `r` for the caller, as `op`.
pub async fn file(desk: &Desk<'_>, op: &Operator, r: DeskReport) -> Result<DeskReceipt, DeskError> {
    let who = caller(desk, r.phone.as_deref(), r.consent)?;
    let submission = Submission {
        kind: r.kind,
        service: r.service,
        description: r.description,
        lat: r.lat,
        lon: r.lon,
        accuracy_m: None,
        address: r.address,
        attributes: r.attributes,
        district: r.district,
        about_task: r.about_task,
        about_unit: r.about_unit,
        email: None,
        phone: who.contact.clone(),
        consent: who.contact.is_some(),
        lang: r.lang,
    };
    // The caller's hash is linked to the code in the report's own commit.
    let origin = Origin {
        channel: "call_centre",
        source: Source::CallCentre,
        filer: Some(op.actor.clone()),
        caller: who.hash.clone(),
    };
    let (receipt, id) = report::file_as(&desk.citizens, submission, Vec::new(), &origin).await?;
    note_caller(desk, r.call.as_deref(), who.hash.as_deref()).await;
    let sms = if who.contact.is_none() {
        Sms::NotRequested
    } else if !r.kind.is_field() {
        Sms::NotForMessages
    } else if desk.sms_configured {
        Sms::Queued
    } else {
        Sms::NotConfigured
    };
    Ok(DeskReceipt { receipt, id, sms })
}

/// Links the caller's hash to the supporter's code they were given. The support is
/// stored already: a failure is logged, not answered (the operator would add it again).
async fn link(desk: &Desk<'_>, hash: Option<&str>, display_code: &str, id: &str) {
    let (Some(hash), Some(code)) = (hash, codes::normalise(display_code)) else {
        return;
    };
    let db = &desk.citizens.dispatch.store;
    if let Err(e) = records::link(db, hash, &code, id, now_millis()).await {
        tracing::error!(task = id, error = %e, "linking a supporter to its caller failed");
    }
}

/// The caller, added to an open report instead of filing a duplicate.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeskSupport {
    /// The caller's phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// The caller agreed to be told of progress by SMS.
    #[serde(default)]
    pub consent: bool,
    /// The caller's language (`fa` or `en`).
    #[serde(default)]
    pub lang: Option<String>,
    /// The call (`C-…`).
    #[serde(default)]
    pub call: Option<String>,
}

/// Adds the caller as a supporter of open report `id`: they get a supporter code.
pub async fn support(
    desk: &Desk<'_>,
    _op: &Operator,
    id: &str,
    s: DeskSupport,
) -> Result<DeskReceipt, DeskError> {
    let who = caller(desk, s.phone.as_deref(), s.consent)?;
    let receipt = report::support(
        &desk.citizens,
        id,
        Support {
            email: None,
            phone: who.contact.clone(),
            consent: who.contact.is_some(),
            lang: s.lang,
        },
    )
    .await?;
    link(desk, who.hash.as_deref(), &receipt.tracking_code, id).await;
    note_caller(desk, s.call.as_deref(), who.hash.as_deref()).await;
    // A supporter is told of the next public step; the code itself is read aloud.
    let sms = match (&who.contact, desk.sms_configured) {
        (None, _) => Sms::NotRequested,
        (Some(_), true) => Sms::NewsOnly,
        (Some(_), false) => Sms::NotConfigured,
    };
    Ok(DeskReceipt {
        receipt,
        id: id.to_owned(),
        sms,
    })
}

/// A caller's note on a task: what the caller said, for the dispatchers and the crew
/// (notes are not public). The one change an operator makes to a task.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallerNote {
    /// What the caller said (plain text, at most 1,000 characters).
    pub text: String,
}

/// Adds `op`'s caller note to task `id`.
pub async fn caller_note(
    desk: &Desk<'_>,
    op: &Operator,
    id: &str,
    note: CallerNote,
) -> Result<(), DeskError> {
    let unknown = || DeskError::NotFound(format!("no task {id:?}"));
    let task = sync_core::DocId::new(id.trim().to_uppercase()).map_err(|_| unknown())?;
    if crate::domain::citizen::messages::is_message(task.as_str()) {
        return Err(DeskError::Invalid(
            "a message takes no notes: its answer is given from the messages page".into(),
        ));
    }
    let text = crate::domain::citizen::messages::check_text("the note", &note.text, 1000, true)
        .map_err(|e| DeskError::Invalid(e.to_string()))?;
    let now = now_millis();
    let done = crate::domain::dispatch::edit::edit(desk.citizens.dispatch, &task, |doc, _| {
        Ok(Some(doc.add_note(&op.actor, now, &text)?))
    })
    .await;
    match done {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(DeskError::Conflict(
            "the task is busy; add the note again".into(),
        )),
        Err(crate::domain::dispatch::DispatchError::NotFound(_)) => Err(unknown()),
        Err(crate::domain::dispatch::DispatchError::Db(d)) => Err(DeskError::Db(d)),
        Err(e) => Err(DeskError::Invalid(e.to_string())),
    }
}

//! Citizens' messages that are not field work — complaints, criticism, suggestions, ideas
//! and thanks ([`Kind`] other than `request`/`violation`). They never become task
//! documents, so they never reach a crew's phone: each is a row with a tracking code,
//! routed to a department inbox (the district it names or is placed in, else the city's;
//! always the city's when `TARMIM_MESSAGE_INBOX=city`), read by staff at the console
//! and answered there once. The answer is public: the tracking page shows it as the
//! message's status change (`received` → `answered`).

use super::codes;
use super::public_view::{FeedbackState, Named, Photos, Point, Step, TrackView};
use crate::base::config::report::InboxMode;
use crate::base::time::now_millis;
use crate::domain::districts::{self, GeoError};
use crate::domain::identity::{Identity, UserRole};
use crate::domain::intake::Kind;
use crate::domain::open311::looks_like_html;
use crate::storage::citizens;
use crate::storage::messages::{self as records, MessageRow};
use crate::storage::outbox::NewContact;
use crate::storage::{Db, DbError};
use serde::{Deserialize, Serialize};
use sync_core::DocId;

/// The city-wide inbox's name (district inboxes are named by the district's code).
pub const CITY_INBOX: &str = "city";
/// Longest message or answer, characters.
pub const MAX_BODY: usize = 4000;

/// Why a message was not filed or answered.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// Bad input (plain words).
    #[error("{0}")]
    Invalid(String),
    /// The point is outside every district.
    #[error("{0}")]
    Outside(String),
    /// No such message.
    #[error("no message {0:?}")]
    NotFound(String),
    /// Not this caller's inbox, or not a role that answers messages.
    #[error("{0}")]
    Forbidden(String),
    /// Already answered.
    #[error("message {0} has already been answered")]
    Answered(String),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<GeoError> for MessageError {
    fn from(e: GeoError) -> Self {
        match e {
            GeoError::Db(d) => MessageError::Db(d),
            GeoError::OutsideDistricts { .. } => MessageError::Outside(
                "this place is outside every district of the city; move the point inside the \
                 city, or send the message without a place"
                    .into(),
            ),
            other => MessageError::Invalid(other.to_string()),
        }
    }
}

/// A message to file (already admitted: rate limit and proof of work are the caller's).
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Not a field kind.
    pub kind: Kind,
    /// The citizen's words.
    pub body: String,
    /// `web`, `open311` or `call_centre`.
    pub channel: &'static str,
    /// `fa` or `en`.
    pub lang: String,
    /// A place, if given.
    pub point: Option<(f64, f64)>,
    /// A district code the message names.
    pub district: Option<String>,
    /// A task id or tracking code the message is about.
    pub about_task: Option<String>,
    /// A unit, crew or contractor the message names.
    pub about_unit: Option<String>,
    /// How the citizen asked to be told (none: not told). Stored with the message and
    /// sent its code, in the language filed.
    pub contact: crate::storage::open311::Contact,
    /// The caller's hash of the citizen's phone number
    /// ([`crate::domain::callcentre::callers::CallerKey`]): linked to the code in the
    /// message's transaction, so the call centre finds the message by the number.
    pub caller: Option<String>,
}

/// A filed message.
#[derive(Debug, Clone)]
pub struct FiledMessage {
    /// Its id (`M-…`).
    pub id: String,
    /// The citizen's tracking code, normalised.
    pub code: String,
    /// The inbox it went to.
    pub inbox: String,
    /// The district it is about, if any.
    pub district: Option<String>,
}

/// Checks free text: trimmed, 1..=`max` characters when `required`, no HTML.
pub fn check_text(
    field: &str,
    s: &str,
    max: usize,
    required: bool,
) -> Result<String, MessageError> {
    let t = s.trim();
    if required && t.is_empty() {
        return Err(MessageError::Invalid(format!("{field} is required")));
    }
    if t.chars().count() > max {
        return Err(MessageError::Invalid(format!(
            "{field} is at most {max} characters"
        )));
    }
    if looks_like_html(t) {
        return Err(MessageError::Invalid(format!(
            "{field} must be plain text: HTML tags are not accepted"
        )));
    }
    if t.contains('\0') {
        return Err(MessageError::Invalid(format!(
            "{field} must be plain text: a NUL character is not accepted"
        )));
    }
    Ok(t.to_owned())
}

/// Files a non-field message: checks it, routes it to its inbox, issues its tracking
/// code (before the row, so a code handed out always resolves) and stores it.
pub async fn file(
    db: &Db,
    mode: InboxMode,
    default_district: Option<&str>,
    m: NewMessage,
) -> Result<FiledMessage, MessageError> {
    if m.kind.is_field() {
        return Err(MessageError::Invalid(format!(
            "a {} is field work, filed as a report with a point",
            m.kind.as_str()
        )));
    }
    let body = check_text("the message", &m.body, MAX_BODY, true)?;
    let about_unit = match &m.about_unit {
        Some(u) => Some(check_text("the unit named", u, 200, true)?),
        None => None,
    };
    let about_task = match m
        .about_task
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(t) => Some(about_task(db, t).await?),
    };
    let district = match m
        .district
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(d) => {
            if !is_code_like(d) || citizens::district_name(db, d).await?.is_none() {
                return Err(MessageError::Invalid(format!("no district {d:?}")));
            }
            Some(d.to_owned())
        }
        None => match m.point {
            Some((lat, lon)) => Some(districts::route_point(db, default_district, lat, lon).await?),
            None => None,
        },
    };
    let inbox = match (mode, &district) {
        (InboxMode::District, Some(d)) => d.clone(),
        _ => CITY_INBOX.to_owned(),
    };
    let id = format!("M-{:012X}", rand::random::<u64>() & 0xFFFF_FFFF_FFFF);
    let doc = DocId::new(id.clone())
        .map_err(|_| MessageError::Invalid("a message id could not be made".into()))?;
    let (tracking, code_row) = codes::fresh(&doc, codes::Role::Reporter);
    let row = MessageRow {
        id: id.clone(),
        kind: m.kind.as_str().to_owned(),
        body,
        channel: m.channel.to_owned(),
        lang: m.lang,
        inbox: inbox.clone(),
        district: district.clone(),
        lat: m.point.map(|p| p.0),
        lon: m.point.map(|p| p.1),
        about_task,
        about_unit,
        created_at: now_millis(),
        answer: None,
        answered_by: None,
        answered_at: None,
    };
    let contact = (m.contact != Default::default()).then(|| NewContact {
        reference: id.clone(),
        kind: "request".to_owned(),
        task: id.clone(),
        contact: crate::storage::open311::Contact {
            // Messages are written in the language filed, as a field report's are.
            lang: Some(row.lang.clone()),
            ..m.contact
        },
    });
    records::insert(db, &row, &code_row, contact.as_ref(), m.caller.as_deref()).await?;
    metrics::counter!("tarmim_citizen_messages_total", "kind" => m.kind.as_str(), "channel" => m.channel)
        .increment(1);
    Ok(FiledMessage {
        id,
        code: tracking.code,
        inbox,
        district,
    })
}

/// The task a message is about: a tracking code (resolved to its task) or a task id.
async fn about_task(db: &Db, t: &str) -> Result<String, MessageError> {
    // A code first, folded by `codes::normalise` (Persian digits, lower case); only its
    // canonical symbols reach a query.
    if t.chars().count() <= 64
        && let Some(found) = codes::resolve(db, t).await?
    {
        return Ok(found.task.to_string());
    }
    if !is_code_like(t) {
        return Err(MessageError::Invalid(format!(
            "no report has the code or id {t:?}"
        )));
    }
    if t.len() <= 64 && citizens::task_exists(db, t).await? {
        return Ok(t.to_owned());
    }
    Err(MessageError::Invalid(format!(
        "no report has the code or id {t:?}"
    )))
}

/// Short ASCII letters, digits, `-` and `_`: what codes and ids are made of (anything
/// else is no code, and never reaches a query).
fn is_code_like(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b' ')
}

/// Whether an id names a message (rather than a task).
pub fn is_message(id: &str) -> bool {
    id.starts_with("M-")
}

/// One message as staff see it in an inbox.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InboxMessage {
    /// Its id.
    pub id: String,
    /// Its kind.
    pub kind: Kind,
    /// The citizen's words.
    pub body: String,
    /// Where it came from.
    pub channel: String,
    /// The language it was filed in.
    pub lang: String,
    /// The inbox (district code or `city`).
    pub inbox: String,
    /// The district it is about.
    pub district: Option<String>,
    /// The place, if given.
    pub point: Option<Point>,
    /// The task it is about.
    pub about_task: Option<String>,
    /// The unit, crew or contractor it names.
    pub about_unit: Option<String>,
    /// Filed (ms).
    pub created_at: i64,
    /// The answer, once given.
    pub answer: Option<String>,
    /// Answered (ms).
    pub answered_at: Option<i64>,
}

fn inbox_message(r: MessageRow) -> Result<InboxMessage, DbError> {
    let kind = Kind::parse(&r.kind)
        .ok_or_else(|| DbError::Corrupt(format!("message kind {:?}", r.kind)))?;
    Ok(InboxMessage {
        point: match (r.lat, r.lon) {
            (Some(lat), Some(lon)) => Some(Point { lat, lon }),
            _ => None,
        },
        id: r.id,
        kind,
        body: r.body,
        channel: r.channel,
        lang: r.lang,
        inbox: r.inbox,
        district: r.district,
        about_task: r.about_task,
        about_unit: r.about_unit,
        created_at: r.created_at,
        answer: r.answer,
        answered_at: r.answered_at,
    })
}

/// The inboxes `who` reads: every inbox (`None`) for administrators, managers and
/// call-centre operators; a dispatcher's districts and the city's; nothing for crews and
/// contractors' representatives.
fn inboxes_of(who: &Identity) -> Result<Option<Vec<String>>, MessageError> {
    match who.role {
        UserRole::Admin | UserRole::Manager | UserRole::CallCentre => Ok(None),
        UserRole::Dispatcher => {
            let mut v = who.districts.clone();
            v.push(CITY_INBOX.to_owned());
            Ok(Some(v))
        }
        UserRole::Crew | UserRole::Contractor => Err(MessageError::Forbidden(
            "citizens' messages are answered by city staff at the console".into(),
        )),
    }
}

/// The messages of `who`'s inboxes, unanswered first, newest first.
pub async fn inbox(db: &Db, who: &Identity, limit: u32) -> Result<Vec<InboxMessage>, MessageError> {
    let inboxes = inboxes_of(who)?;
    let rows = records::inbox(db, inboxes.as_deref(), i64::from(limit.clamp(1, 500))).await?;
    Ok(rows
        .into_iter()
        .map(inbox_message)
        .collect::<Result<Vec<_>, _>>()?)
}

/// A staff member's answer.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// The answer the citizen will read (plain text, 1–4000 characters).
    pub text: String,
}

/// Answers message `id` as `who` (once; its inbox must be theirs). The answer is the
/// message's public status change: the tracking page shows it from then on.
pub async fn answer(
    db: &Db,
    who: &Identity,
    id: &str,
    a: &Answer,
) -> Result<InboxMessage, MessageError> {
    let inboxes = inboxes_of(who)?;
    let text = check_text("the answer", &a.text, MAX_BODY, true)?;
    let row = records::get(db, id)
        .await?
        .ok_or_else(|| MessageError::NotFound(id.to_owned()))?;
    if let Some(list) = &inboxes
        && !list.contains(&row.inbox)
    {
        return Err(MessageError::Forbidden(format!(
            "message {id} is in the {} inbox, not one of yours",
            row.inbox
        )));
    }
    if !records::answer(db, id, &text, &who.user_id, now_millis()).await? {
        return Err(MessageError::Answered(id.to_owned()));
    }
    metrics::counter!("tarmim_citizen_messages_answered_total").increment(1);
    let row = records::get(db, id)
        .await?
        .ok_or_else(|| MessageError::NotFound(id.to_owned()))?;
    Ok(inbox_message(row)?)
}

/// The tracking page's view of a message: its words, its place and district, and the
/// answer once given. `code` is the normalised tracking code.
pub async fn public_view(
    db: &Db,
    code: &str,
    id: &str,
    tile_url: &Option<String>,
) -> Result<Option<TrackView>, DbError> {
    let Some(r) = records::get(db, id).await? else {
        return Ok(None);
    };
    let kind = Kind::parse(&r.kind)
        .ok_or_else(|| DbError::Corrupt(format!("message kind {:?}", r.kind)))?;
    let district = match &r.district {
        Some(d) => Some(Named {
            code: d.clone(),
            name: citizens::district_name(db, d)
                .await?
                .unwrap_or_else(|| d.clone()),
            name_en: citizens::district_name_en(db, d).await?,
        }),
        None => None,
    };
    let mut timeline = vec![Step {
        at: r.created_at,
        kind: "received".into(),
        text: format!("{} received", kind.name()),
        stars: None,
        yours: true,
    }];
    let answered = r.answered_at.is_some();
    if let Some(at) = r.answered_at {
        timeline.push(Step {
            at,
            kind: "answered".into(),
            text: "Answered".into(),
            stars: None,
            yours: false,
        });
    }
    Ok(Some(TrackView {
        code: codes::display(code),
        kind: kind.as_str().to_owned(),
        merged: None,
        category: Named {
            code: format!("msg_{}", kind.as_str()),
            name: kind.name().to_owned(),
            name_en: None,
        },
        title: kind.name().to_owned(),
        description: r.body,
        address: None,
        district,
        point: match (r.lat, r.lon) {
            (Some(lat), Some(lon)) => Some(Point { lat, lon }),
            _ => None,
        },
        status: if answered { "answered" } else { "received" }.to_owned(),
        status_text: if answered {
            "Answered".to_owned()
        } else {
            "Received; a staff member will answer".to_owned()
        },
        created_at: r.created_at,
        expected_by: None,
        completed_at: r.answered_at,
        timeline,
        photos: Photos::default(),
        supporters: 0,
        feedback: FeedbackState {
            open: false,
            until: None,
            window_days: 0.0,
            closed_because: Some("a message is answered, not rated".into()),
            rated: None,
            said_not_fixed: false,
            can_rate: false,
            can_say_not_fixed: false,
        },
        answer: r.answer.map(|text| super::public_view::AnswerView {
            text,
            at: r.answered_at.unwrap_or(r.created_at),
        }),
        tile_url: tile_url.clone(),
    }))
}

//! The citizens' own report page (`/report`): what it files and looks up. Every kind of
//! message goes through here (see [`Kind`]): `request` and `violation` through the same
//! intake as Open311 and the console ([`crate::domain::intake::create_task`]: routing,
//! dispatch and duplicates behave identically), the others as messages for a department
//! inbox ([`super::messages`]). A contact the citizen gives (e-mail and/or mobile number,
//! with their consent) is stored where Open311 stores contacts (`open311_contacts`, kind
//! `request`, task = the task or message id), never in the task document.
//!
//! Abuse is the caller's to stop before this runs (a per-address limit and the integrity
//! channel's proof of work, in [`crate::http::report`]); here every field is checked as
//! if the page had not: lengths, no HTML, a point for field kinds, the service's
//! attribute answers, each photo verified and processed before anything is filed.

use super::Citizens;
use super::codes;
use super::duplicates::{self, NearbyReport};
use super::messages::{self, MessageError, NewMessage, check_text};
use super::public_view::Named;
use crate::base::time::now_millis;
use crate::domain::dispatch::{DispatchError, assign, edit};
use crate::domain::districts::{self, GeoError};
use crate::domain::intake::{self, Kind, Report};
use crate::domain::open311::media::{self, Checked};
use crate::domain::open311::requests::{Contact, attribute_params, store_contact};
use crate::domain::open311::{self, Open311Error, services};
use crate::storage::citizens;
use crate::storage::open311::{self as open311_records, RequestRow};
use crate::storage::outbox::{CommitExtra, NewContact, ReportOrigin};
use crate::storage::{DbError, IdentityStore};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use sync_core::DocId;
use sync_core::task::Source;

/// Most photos with one report.
pub const MAX_PHOTOS: usize = 3;

/// Why a report was not filed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Bad input, in plain words.
    #[error("{0}")]
    Invalid(String),
    /// The point is outside every district.
    #[error("{0}")]
    Outside(String),
    /// A photo over the size limit.
    #[error("{0}")]
    TooLarge(String),
    /// No such report (support).
    #[error("{0}")]
    NotFound(String),
    /// Busy (photo workers); retry.
    #[error("{0}")]
    Busy(String),
    /// Too many reports from this address; retry after the seconds given.
    #[error("too many reports from here; try again in {0} s")]
    TooMany(u64),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Filing the task failed.
    #[error(transparent)]
    Dispatch(DispatchError),
    /// Our own failure.
    #[error("{0}")]
    Internal(String),
}

const OUTSIDE: &str =
    "this place is outside every district of the city; move the point inside the city";

impl From<MessageError> for ReportError {
    fn from(e: MessageError) -> Self {
        match e {
            MessageError::Invalid(m) | MessageError::Forbidden(m) => ReportError::Invalid(m),
            MessageError::Outside(m) => ReportError::Outside(m),
            MessageError::NotFound(m) => ReportError::NotFound(m),
            e @ MessageError::Answered(_) => ReportError::Invalid(e.to_string()),
            MessageError::Db(d) => ReportError::Db(d),
        }
    }
}

impl From<GeoError> for ReportError {
    fn from(e: GeoError) -> Self {
        match e {
            GeoError::Db(d) => ReportError::Db(d),
            GeoError::OutsideDistricts { .. } => ReportError::Outside(OUTSIDE.into()),
            other => ReportError::Invalid(other.to_string()),
        }
    }
}

impl From<DispatchError> for ReportError {
    fn from(e: DispatchError) -> Self {
        match e {
            DispatchError::Geo(g) => g.into(),
            DispatchError::Db(d) => ReportError::Db(d),
            DispatchError::Invalid(m) => ReportError::Invalid(m),
            other => ReportError::Dispatch(other),
        }
    }
}

impl From<Open311Error> for ReportError {
    fn from(e: Open311Error) -> Self {
        match e {
            Open311Error::BadRequest(m) | Open311Error::Forbidden(m) => ReportError::Invalid(m),
            Open311Error::NotFound(m) => ReportError::NotFound(m),
            Open311Error::TooLarge(m) => ReportError::TooLarge(m),
            Open311Error::Busy(m) => ReportError::Busy(m),
            Open311Error::Internal(m) => ReportError::Internal(m),
        }
    }
}

/// What the page sends (the `report` part of the form; photos are separate parts).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// What it is.
    pub kind: Kind,
    /// The service (Open311 `service_code`); required for `request` and `violation`.
    #[serde(default)]
    pub service: Option<String>,
    /// The citizen's words (at most 4,000 characters, plain text).
    #[serde(default)]
    pub description: String,
    /// Latitude; required for field kinds, optional otherwise.
    #[serde(default)]
    pub lat: Option<f64>,
    /// Longitude.
    #[serde(default)]
    pub lon: Option<f64>,
    /// Horizontal accuracy of a phone's location, metres.
    #[serde(default)]
    pub accuracy_m: Option<f64>,
    /// Street address or landmark.
    #[serde(default)]
    pub address: Option<String>,
    /// Answers to the service's Open311 attributes (`code` → a value, or a list for a
    /// multi-value list).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// A district a message names (code).
    #[serde(default)]
    pub district: Option<String>,
    /// A task's tracking code (or id) a message is about.
    #[serde(default)]
    pub about_task: Option<String>,
    /// A unit, crew or contractor a message names.
    #[serde(default)]
    pub about_unit: Option<String>,
    /// E-mail address to be told of progress.
    #[serde(default)]
    pub email: Option<String>,
    /// Mobile number to be told of progress.
    #[serde(default)]
    pub phone: Option<String>,
    /// The citizen agreed to be contacted (required with a contact).
    #[serde(default)]
    pub consent: bool,
    /// The page's language (`fa` or `en`): the language of the citizen's notifications.
    #[serde(default)]
    pub lang: Option<String>,
}

/// What the citizen gets back.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Receipt {
    /// What was filed.
    pub kind: Kind,
    /// The tracking code (`XXXX-XXXX-XXXX`).
    pub tracking_code: String,
    /// The tracking page's path (`/track/XXXX-XXXX-XXXX`).
    pub track_path: String,
    /// The district it went to, if any.
    pub district: Option<Named>,
    /// Whether a contact was stored: the code and news will be sent there.
    pub contact_stored: bool,
    /// Open reports of the same service nearby (field kinds), which the page offered.
    pub nearby: usize,
}

fn lang_of(s: &Option<String>) -> String {
    match s.as_deref() {
        Some("en") => "en".into(),
        _ => "fa".into(),
    }
}

/// Checks the optional contact: a plausible e-mail address, a valid phone number (read
/// into E.164 as Open311 and the desk store it, so the desk finds this citizen by their
/// number however either typed it), and consent when either is given.
pub fn check_contact(s: &Submission) -> Result<Contact, ReportError> {
    let email = match s.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        None => None,
        Some(e) => {
            let ok = e.len() <= 200
                && !e
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "<>\"(),;:[]\\".contains(c))
                && matches!(e.split_once('@'), Some((local, domain))
                    if !local.is_empty() && domain.contains('.') && !domain.contains('@')
                    && !domain.starts_with('.') && !domain.ends_with('.'));
            if !ok {
                return Err(ReportError::Invalid(format!(
                    "{e:?} is not an e-mail address"
                )));
            }
            Some(e.to_owned())
        }
    };
    let phone = match s.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => Some(crate::domain::phone::normalise(p).map_err(|_| {
            let shown: String = p.chars().take(40).collect();
            ReportError::Invalid(format!(
                "{shown:?} is not a phone number: write it as 0912 123 4567 or +98 912 123 4567"
            ))
        })?),
    };
    if (email.is_some() || phone.is_some()) && !s.consent {
        return Err(ReportError::Invalid(
            "to be contacted, agree to the consent text (or leave the contact empty)".into(),
        ));
    }
    Ok(Contact {
        email,
        phone,
        ..Contact::default()
    })
}

fn point_of(s: &Submission) -> Result<Option<(f64, f64)>, ReportError> {
    match (s.lat, s.lon) {
        (None, None) => Ok(None),
        (Some(lat), Some(lon)) => {
            districts::check_point(lat, lon)?;
            Ok(Some((lat, lon)))
        }
        _ => Err(ReportError::Invalid(
            "a place is a latitude and a longitude: both or neither".into(),
        )),
    }
}

fn attribute_answers(s: &Submission) -> Result<BTreeMap<String, Vec<String>>, ReportError> {
    let mut params = Vec::new();
    for (k, v) in &s.attributes {
        match v {
            serde_json::Value::String(x) => params.push((format!("attribute[{k}]"), x.clone())),
            serde_json::Value::Number(n) => params.push((format!("attribute[{k}]"), n.to_string())),
            serde_json::Value::Array(items) => {
                for i in items {
                    let serde_json::Value::String(x) = i else {
                        return Err(ReportError::Invalid(format!(
                            "attribute {k}: a list holds text values"
                        )));
                    };
                    params.push((format!("attribute[{k}][]"), x.clone()));
                }
            }
            serde_json::Value::Null => {}
            _ => {
                return Err(ReportError::Invalid(format!(
                    "attribute {k}: a text, a number or a list of texts"
                )));
            }
        }
    }
    Ok(attribute_params(&params))
}

/// Where a report comes in: the citizens' page, or the call centre's desk on a
/// caller's behalf.
#[derive(Debug, Clone)]
pub struct Origin {
    /// `web` or `call_centre` (`citizen_reports.channel`, `citizen_messages.channel`).
    pub channel: &'static str,
    /// The task document's source.
    pub source: Source,
    /// Who files the task: the operator at the desk; none: the server on the citizen's
    /// behalf.
    pub filer: Option<sync_core::Actor>,
    /// The caller's hash the desk read from the number the caller gave (kept even
    /// without consent to contact); none: the hash of the contact's number, if any.
    pub caller: Option<String>,
}

impl Origin {
    /// The citizens' own page.
    pub fn web() -> Origin {
        Origin {
            channel: "web",
            source: Source::Citizen,
            filer: None,
            caller: None,
        }
    }

    /// The request row's key name (Open311 requests name their API key).
    fn key_name(&self) -> &'static str {
        match self.channel {
            "call_centre" => "call-centre",
            _ => "web-report",
        }
    }
}

/// Files what the page sent, with its photos' bytes (at most [`MAX_PHOTOS`]; field kinds
/// only). Everything is checked, and every photo verified, before anything is stored.
pub async fn file(
    c: &Citizens<'_>,
    s: Submission,
    photos: Vec<Vec<u8>>,
) -> Result<Receipt, ReportError> {
    Ok(file_as(c, s, photos, &Origin::web()).await?.0)
}

/// [`file`] from `origin`; also gives the id of the task or message filed.
pub async fn file_as(
    c: &Citizens<'_>,
    s: Submission,
    photos: Vec<Vec<u8>>,
    origin: &Origin,
) -> Result<(Receipt, String), ReportError> {
    let lang = lang_of(&s.lang);
    let contact = check_contact(&s)?;
    let point = point_of(&s)?;
    let db = &c.dispatch.store;
    // Linked in the report's own transaction: the desk finds it by the number at once.
    let caller = origin
        .caller
        .clone()
        .or_else(|| c.caller_key.hash_given(contact.phone.as_deref()));
    if !s.kind.is_field() {
        if !photos.is_empty() {
            return Err(ReportError::Invalid(
                "photos go with a request or a violation report, not with a message".into(),
            ));
        }
        let filed = messages::file(
            db,
            c.report.inbox,
            c.dispatch.settings.default_district.as_deref(),
            NewMessage {
                kind: s.kind,
                body: s.description,
                channel: origin.channel,
                lang: lang.clone(),
                point,
                district: s.district,
                about_task: s.about_task,
                about_unit: s.about_unit,
                contact: contact.clone(),
                caller,
            },
        )
        .await?;
        // Stored with the message, in its transaction, with its receipt.
        let contact_stored = contact != Contact::default();
        let receipt = Receipt {
            kind: s.kind,
            tracking_code: codes::display(&filed.code),
            track_path: format!("/track/{}", codes::display(&filed.code)),
            district: named_district(c, filed.district.as_deref()).await?,
            contact_stored,
            nearby: 0,
        };
        return Ok((receipt, filed.id));
    }
    let Some(code) = s
        .service
        .as_deref()
        .map(str::trim)
        .filter(|x| !x.is_empty())
    else {
        return Err(ReportError::Invalid(format!(
            "a {} names its service (what is wrong)",
            s.kind.as_str()
        )));
    };
    let services = db.services().await?;
    let Some(service) = services.iter().find(|x| x.code == code) else {
        return Err(ReportError::Invalid(format!("unknown service {code:?}")));
    };
    let Some((lat, lon)) = point else {
        return Err(ReportError::Invalid(format!(
            "a {} needs a place: put the point on the map or use the phone's location",
            s.kind.as_str()
        )));
    };
    let description = check_text(
        "the description",
        &s.description,
        open311::MAX_DESCRIPTION,
        false,
    )?;
    let address = match &s.address {
        Some(a) => Some(check_text("the address", a, 500, false)?).filter(|a| !a.is_empty()),
        None => None,
    };
    let attrs = open311_records::attributes(db, &service.code).await?;
    let answers = services::check_answers(&attrs, &attribute_answers(&s)?, c.zone)?;
    if photos.len() > MAX_PHOTOS {
        return Err(ReportError::Invalid(format!(
            "at most {MAX_PHOTOS} photos with one report"
        )));
    }
    // Refused before anything is filed: a point outside every district.
    districts::route_point(
        db,
        c.dispatch.settings.default_district.as_deref(),
        lat,
        lon,
    )
    .await?;
    let mut checked: Vec<Checked> = Vec::new();
    for p in photos {
        checked.push(media::check(c, p).await?);
    }
    let nearby = duplicates::nearby(
        db,
        &service.code,
        lat,
        lon,
        c.open311.duplicate_radius_m,
        None,
    )
    .await?
    .len();
    let actor = origin
        .filer
        .clone()
        .unwrap_or_else(|| assign::server_actor(c.dispatch));
    // The request row and the contact are stored in the task's own commit, so the
    // citizen's first notification (received) is written with it.
    let task = intake::new_task_id();
    let mut contact = contact;
    contact.lang = Some(lang.clone());
    let contact_stored = contact.email.is_some() || contact.phone.is_some();
    let mut extra = CommitExtra {
        request: Some(RequestRow {
            task: task.to_string(),
            token: hex::encode(rand::random::<[u8; 12]>()),
            key_name: origin.key_name().into(),
            live_key: false,
            attributes: serde_json::to_string(&answers_json(&answers)).unwrap_or_default(),
            media_url: None,
            created_at: now_millis(),
        }),
        // Where the report came from (analytics by channel), stored with it.
        origin: Some(ReportOrigin {
            kind: s.kind.as_str().into(),
            channel: origin.channel.into(),
            lang: lang.clone(),
        }),
        caller,
        ..CommitExtra::default()
    };
    if contact_stored {
        extra.contacts.push(NewContact {
            reference: task.to_string(),
            kind: "request".into(),
            task: task.to_string(),
            contact: contact.clone(),
        });
    }
    let filed = intake::create_task_with(
        c.dispatch,
        &actor,
        origin.source,
        Report {
            category: service.code.clone(),
            title: title_of(&service.name, &description),
            description,
            lat,
            lon,
            accuracy_m: s.accuracy_m,
            address,
            priority: None,
        },
        task.clone(),
        extra,
    )
    .await?;
    // The task is durable: a failure from here on is logged, not answered (the citizen
    // would file the report again).
    media::attach(c, &task, (lat, lon), &actor, checked).await;
    let receipt = Receipt {
        kind: s.kind,
        track_path: format!("/track/{}", filed.tracking_code),
        tracking_code: filed.tracking_code,
        district: named_district(c, Some(filed.district.as_str())).await?,
        contact_stored,
        nearby,
    };
    Ok((receipt, task.to_string()))
}

fn answers_json(a: &BTreeMap<String, services::Answer>) -> serde_json::Value {
    a.iter()
        .map(|(k, v)| {
            let v = match v {
                services::Answer::One(s) => serde_json::Value::String(s.clone()),
                services::Answer::Many(l) => serde_json::Value::from(l.clone()),
            };
            (k.clone(), v)
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn title_of(service_name: &str, description: &str) -> String {
    description
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.chars().take(120).collect::<String>())
        .unwrap_or_else(|| service_name.to_owned())
}

async fn named_district(c: &Citizens<'_>, code: Option<&str>) -> Result<Option<Named>, DbError> {
    let Some(code) = code else { return Ok(None) };
    Ok(Some(Named {
        code: code.to_owned(),
        name: citizens::district_name(&c.dispatch.store, code)
            .await?
            .unwrap_or_else(|| code.to_owned()),
        name_en: citizens::district_name_en(&c.dispatch.store, code).await?,
    }))
}

/// The district a point falls in, shown before sending; a point outside every district
/// is [`ReportError::Outside`] with words the page shows as they are.
pub async fn district_at(c: &Citizens<'_>, lat: f64, lon: f64) -> Result<Named, ReportError> {
    let code = districts::route_point(
        &c.dispatch.store,
        c.dispatch.settings.default_district.as_deref(),
        lat,
        lon,
    )
    .await?;
    named_district(c, Some(&code))
        .await?
        .ok_or_else(|| ReportError::Internal("a district without a name".into()))
}

/// An open report nearby, as the page offers it ("+1 instead?").
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Nearby {
    /// The task id (what a "+1" names).
    pub id: String,
    /// Its title.
    pub title: String,
    /// Metres away.
    pub distance_m: f64,
    /// Citizens who already support it.
    pub supporters: u64,
    /// When it was filed (ms).
    pub created_at: i64,
}

/// Open reports of `service` near a point.
pub async fn nearby(
    c: &Citizens<'_>,
    service: &str,
    lat: f64,
    lon: f64,
) -> Result<Vec<Nearby>, ReportError> {
    districts::check_point(lat, lon)?;
    let near: Vec<NearbyReport> = duplicates::nearby(
        &c.dispatch.store,
        service,
        lat,
        lon,
        c.open311.duplicate_radius_m,
        None,
    )
    .await?;
    Ok(near
        .into_iter()
        .map(|n| Nearby {
            id: n.task.to_string(),
            title: n.title,
            distance_m: (n.distance_m * 10.0).round() / 10.0,
            supporters: n.supporters,
            created_at: n.created_at,
        })
        .collect())
}

/// A "+1" instead of a new report.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Support {
    /// E-mail address to be told of progress.
    #[serde(default)]
    pub email: Option<String>,
    /// Mobile number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Consent to be contacted (required with a contact).
    #[serde(default)]
    pub consent: bool,
    /// The page's language.
    #[serde(default)]
    pub lang: Option<String>,
}

/// Adds a citizen's support to open report `id`: a supporter tracking code.
pub async fn support(c: &Citizens<'_>, id: &str, s: Support) -> Result<Receipt, ReportError> {
    let as_submission = Submission {
        kind: Kind::Request,
        service: None,
        description: String::new(),
        lat: None,
        lon: None,
        accuracy_m: None,
        address: None,
        attributes: BTreeMap::new(),
        district: None,
        about_task: None,
        about_unit: None,
        email: s.email,
        phone: s.phone,
        consent: s.consent,
        lang: s.lang,
    };
    let contact = check_contact(&as_submission)?;
    let unknown = || ReportError::NotFound(format!("no open report {id:?}"));
    let task = DocId::new(id).map_err(|_| unknown())?;
    let (doc, _) = edit::load(c.dispatch, &task).await.map_err(|_| unknown())?;
    let view = doc
        .view()
        .map_err(|e| ReportError::Internal(e.to_string()))?;
    if view.derived.status.is_closed() {
        return Err(ReportError::Invalid(format!(
            "report {id} is closed; file a new report instead"
        )));
    }
    let code = codes::issue(&c.dispatch.store, &task, codes::Role::Supporter).await?;
    let contact_stored = contact != Contact::default();
    store_contact(&c.dispatch.store, &code.code, "support", &task, &contact).await?;
    link_supporter(c, contact.phone.as_deref(), &code.code, &task).await?;
    Ok(Receipt {
        kind: Kind::Request,
        tracking_code: codes::display(&code.code),
        track_path: format!("/track/{}", codes::display(&code.code)),
        district: named_district(c, view.derived.district.as_deref()).await?,
        contact_stored,
        nearby: 0,
    })
}

/// Links a supporter's code to the caller's hash of the number they gave, if any, so the
/// call centre finds the report they support by that number (as it finds the ones they
/// filed).
pub async fn link_supporter(
    c: &Citizens<'_>,
    phone: Option<&str>,
    code: &str,
    task: &DocId,
) -> Result<(), DbError> {
    let Some(caller) = c.caller_key.hash_given(phone) else {
        return Ok(());
    };
    crate::storage::callcentre::link(
        &c.dispatch.store,
        &caller,
        code,
        task.as_str(),
        now_millis(),
    )
    .await
}

//! POST requests: a citizen's report through Open311, and support for an existing one.
//!
//! Filing: the `api_key` is checked (403), then the parameters (400 with a plain reason:
//! `service_code` missing or unknown, `lat`/`long` missing, not numbers or out of range,
//! description over 4,000 characters or with HTML, attribute answers against the service
//! definition, a `media_url` that is not http(s)), then each `media[]` photo is verified
//! (400, or 413 over the size limit). Then open reports of the same service nearby are
//! looked up ([`crate::domain::citizen::duplicates::nearby`]), and the report is filed through
//! [`crate::domain::intake::create_task`] (source `citizen`, created by the server on the
//! citizen's behalf): routed to its district (a point outside every district is a 400),
//! dispatched at once when urgent, durable before the answer. The answer carries the
//! `service_request_id` (the task id), a `token`, and as extensions the citizen's
//! `tracking_code` and the nearby `duplicates`. A phone number given with it is hashed
//! with the caller key and linked to the tracking code in the same commit, so the call
//! centre's desk finds the report by that number.
//!
//! Support: instead of filing a duplicate, a citizen adds support (+1) to an open report
//! and gets a supporter tracking code for it.

use super::format::Node;
use super::media::{self, Checked};
use super::services::{self, Answer};
use super::{Open311Error, Params, check_text, param, param_nonblank, status};
use crate::base::time::now_millis;
use crate::domain::citizen::Citizens;
use crate::domain::citizen::duplicates::{self, NearbyReport};
use crate::domain::citizen::{self, codes, contacts, messages};
use crate::domain::dispatch::{DispatchError, assign, edit};
use crate::domain::intake::{self, Report};
use crate::storage::open311::{self as records, RequestRow};
use crate::storage::outbox::{CommitExtra, NewContact, ReportOrigin};
use crate::storage::{Db, DbError, IdentityStore};
use std::collections::BTreeMap;
use sync_core::DocId;
use sync_core::task::{Source, TaskDoc};

pub use crate::storage::open311::Contact;

impl Contact {
    /// Reads and bounds the contact parameters.
    pub fn from_params(p: &Params) -> Result<Contact, Open311Error> {
        let get = |k: &str| -> Result<Option<String>, Open311Error> {
            match param_nonblank(p, k) {
                None => Ok(None),
                Some(v) => {
                    check_text(k, v, 200)?;
                    Ok(Some(v.to_owned()))
                }
            }
        };
        let email = match get("email")? {
            Some(e) => Some(contacts::check_email(&e).map_err(Open311Error::BadRequest)?),
            None => None,
        };
        let phone = match get("phone")? {
            Some(p) => Some(
                crate::domain::phone::normalise(&p)
                    .map_err(|e| Open311Error::BadRequest(format!("phone: {e}")))?,
            ),
            None => None,
        };
        Ok(Contact {
            email,
            first_name: get("first_name")?,
            last_name: get("last_name")?,
            phone,
            device_id: get("device_id")?,
            account_id: get("account_id")?,
            lang: match param_nonblank(p, "lang") {
                None => None,
                Some(l @ ("fa" | "en")) => Some(l.to_owned()),
                Some(other) => {
                    return Err(Open311Error::BadRequest(format!(
                        "lang must be fa or en, not {other:?}"
                    )));
                }
            },
        })
    }
}

/// Stores contact details for `reference` (a task, a supporter code or an update id).
pub async fn store_contact(
    db: &Db,
    reference: &str,
    kind: &str,
    task: &DocId,
    c: &Contact,
) -> Result<(), DbError> {
    if *c == Contact::default() {
        return Ok(());
    }
    records::insert_contact(db, reference, kind, task.as_str(), c, now_millis()).await
}

/// A coordinate parameter: required, a number, within `-limit..=limit`.
pub fn coordinate(p: &Params, key: &str, limit: f64) -> Result<f64, Open311Error> {
    let Some(v) = param_nonblank(p, key) else {
        return Err(Open311Error::BadRequest(format!(
            "{key} is required (a WGS84 decimal degree; an address alone cannot be located)"
        )));
    };
    let x: f64 = v
        .parse()
        .map_err(|_| Open311Error::BadRequest(format!("{key} must be a number, not {v:?}")))?;
    if !x.is_finite() || x.abs() > limit {
        return Err(Open311Error::BadRequest(format!(
            "{key} must be between -{limit} and {limit}"
        )));
    }
    Ok(x)
}

/// The `attribute[code]` and `attribute[code][]` answers.
pub fn attribute_params(p: &Params) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in p {
        let Some(rest) = k.strip_prefix("attribute[") else {
            continue;
        };
        let code = rest
            .strip_suffix("][]")
            .or_else(|| rest.strip_suffix(']'))
            .unwrap_or(rest);
        out.entry(code.to_owned()).or_default().push(v.clone());
    }
    out
}

fn check_media_url(p: &Params) -> Result<Option<String>, Open311Error> {
    let Some(u) = param_nonblank(p, "media_url") else {
        return Ok(None);
    };
    let lower = u.to_ascii_lowercase();
    if u.len() > 2000
        || !(lower.starts_with("http://") || lower.starts_with("https://"))
        || u.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>')
    {
        return Err(Open311Error::BadRequest(
            "media_url must be an http(s) URL of at most 2000 characters".into(),
        ));
    }
    Ok(Some(u.to_owned()))
}

fn answers_json(a: &BTreeMap<String, Answer>) -> String {
    let m: serde_json::Map<String, serde_json::Value> = a
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Answer::One(s) => serde_json::Value::String(s.clone()),
                Answer::Many(l) => serde_json::Value::from(l.clone()),
            };
            (k.clone(), v)
        })
        .collect();
    serde_json::Value::Object(m).to_string()
}

fn title_of(service_name: &str, description: &str) -> String {
    let first = description.lines().map(str::trim).find(|l| !l.is_empty());
    let t = match first {
        Some(l) => l.chars().take(120).collect::<String>(),
        None => service_name.to_owned(),
    };
    t.chars().take(200).collect()
}

/// Files a report. `media` are the uploaded files' bytes.
pub async fn file(c: &Citizens<'_>, p: &Params, media: Vec<Vec<u8>>) -> Result<Node, Open311Error> {
    let code = param_nonblank(p, "service_code");
    let message = code.and_then(services::message_kind);
    // A request's commit checks its key again: the cache may answer here. A message's
    // does not: its key is read from the database.
    let key_name = match message {
        Some(_) => super::require_key(&c.dispatch.store, p).await?,
        None => super::require_key_cached(&c.dispatch.store, p).await?,
    };
    let Some(code) = code else {
        return Err(Open311Error::BadRequest("service_code is required".into()));
    };
    if let Some(kind) = message {
        return file_message(c, p, kind, media.len()).await;
    }
    let services = c.dispatch.store.services().await?;
    let Some(service) = services.iter().find(|s| s.code == code) else {
        return Err(Open311Error::BadRequest(format!(
            "unknown service_code {code:?} (see services.xml)"
        )));
    };
    let lat = coordinate(p, "lat", 90.0)?;
    let lon = coordinate(p, "long", 180.0)?;
    let description = param(p, "description").unwrap_or("").trim().to_owned();
    check_text("description", &description, super::MAX_DESCRIPTION)?;
    let address = match param_nonblank(p, "address_string") {
        Some(a) => {
            check_text("address_string", a, 500)?;
            Some(a.to_owned())
        }
        None => None,
    };
    let attrs = records::attributes(&c.dispatch.store, &service.code).await?;
    let answers = services::check_answers(&attrs, &attribute_params(p), c.zone)?;
    let media_url = check_media_url(p)?;
    let contact = Contact::from_params(p)?;
    if media.len() > c.open311.max_media_files {
        return Err(Open311Error::BadRequest(format!(
            "at most {} media files per request",
            c.open311.max_media_files
        )));
    }
    let mut photos: Vec<Checked> = Vec::new();
    for m in media {
        photos.push(media::check(c, m).await?);
    }

    let duplicates = duplicates::nearby(
        &c.dispatch.store,
        &service.code,
        lat,
        lon,
        c.open311.duplicate_radius_m,
        None,
    )
    .await?;

    let actor = assign::server_actor(c.dispatch);
    let report = Report {
        category: service.code.clone(),
        title: title_of(&service.name, &description),
        description,
        lat,
        lon,
        accuracy_m: None,
        address,
        priority: None,
    };
    // The request row and the contact are stored in the task's own commit: a 201 means
    // all of it is durable, and a failure stores none of it (the citizen may file again).
    let task = intake::new_task_id();
    let token = hex::encode(rand::random::<[u8; 12]>());
    let lang = contact.lang.as_deref().unwrap_or("fa");
    let mut extra = CommitExtra {
        request: Some(RequestRow {
            task: task.to_string(),
            token: token.clone(),
            key_name,
            live_key: true,
            attributes: answers_json(&answers),
            media_url,
            created_at: now_millis(),
        }),
        // Where the report came from (analytics by channel).
        origin: Some(ReportOrigin {
            kind: "request".into(),
            channel: "open311".into(),
            lang: lang.to_owned(),
        }),
        // The citizen's number, hashed: the call centre finds the report by it.
        caller: c.caller_key.hash_given(contact.phone.as_deref()),
        ..CommitExtra::default()
    };
    if contact != Contact::default() {
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
        Source::Citizen,
        report,
        task.clone(),
        extra,
    )
    .await
    .map_err(|e| match e {
        // Revoked since the (cached) check above: as if it had been refused there.
        DispatchError::Db(DbError::NotFound(m)) if m == records::REVOKED_KEY => {
            Open311Error::Forbidden("invalid api_key".into())
        }
        e => e.into(),
    })?;
    media::attach(c, &task, (lat, lon), &actor, photos).await;

    let mut notice = format!("Filed for district {}.", filed.district);
    if let Some(assign::AutoOutcome::Assigned { .. }) = &filed.dispatch {
        notice.push_str(" A crew has been dispatched.");
    }
    let mut request = Node::obj([
        ("service_request_id", Node::text(task.as_str())),
        ("token", Node::text(&token)),
        ("service_notice", Node::Text(notice)),
        ("account_id", Node::opt_text(contact.account_id.clone())),
        ("tracking_code", Node::text(&filed.tracking_code)),
    ]);
    request.push("duplicates", duplicates_node(c, &duplicates).await?);
    Ok(Node::List {
        item: "request",
        items: vec![request],
    })
}

/// Files a message service (`msg_<kind>`): no location required (an optional
/// `lat`/`long` places it), a description required, no media; stored as a message for a
/// department inbox ([`crate::domain::citizen::messages`]), never as a task.
async fn file_message(
    c: &Citizens<'_>,
    p: &Params,
    kind: crate::domain::intake::Kind,
    media: usize,
) -> Result<Node, Open311Error> {
    if media > 0 || param_nonblank(p, "media_url").is_some() {
        return Err(Open311Error::BadRequest(
            "a message service takes no media".into(),
        ));
    }
    let point = match (param_nonblank(p, "lat"), param_nonblank(p, "long")) {
        (None, None) => None,
        _ => Some((coordinate(p, "lat", 90.0)?, coordinate(p, "long", 180.0)?)),
    };
    let description = param(p, "description").unwrap_or("").trim().to_owned();
    check_text("description", &description, super::MAX_DESCRIPTION)?;
    let contact = Contact::from_params(p)?;
    let lang = param_nonblank(p, "lang")
        .filter(|l| *l == "en")
        .unwrap_or("fa")
        .to_owned();
    let filed = messages::file(
        &c.dispatch.store,
        c.report.inbox,
        c.dispatch.settings.default_district.as_deref(),
        messages::NewMessage {
            kind,
            body: description,
            channel: "open311",
            lang: lang.clone(),
            point,
            district: None,
            about_task: None,
            about_unit: None,
            caller: c.caller_key.hash_given(contact.phone.as_deref()),
            contact: contact.clone(),
        },
    )
    .await
    .map_err(|e| match e {
        messages::MessageError::Db(d) => Open311Error::from(d),
        other => Open311Error::BadRequest(other.to_string()),
    })?;
    Ok(Node::List {
        item: "request",
        items: vec![Node::obj([
            ("service_request_id", Node::text(&filed.id)),
            (
                "service_notice",
                Node::Text(format!(
                    "Received by the {} inbox; a staff member will answer on the tracking page.",
                    filed.inbox
                )),
            ),
            ("account_id", Node::opt_text(contact.account_id.clone())),
            ("tracking_code", Node::Text(codes::display(&filed.code))),
        ])],
    })
}

/// The `duplicates` extension: nearby open reports with their description.
pub async fn duplicates_node(
    c: &Citizens<'_>,
    near: &[NearbyReport],
) -> Result<Node, Open311Error> {
    let ids: Vec<DocId> = near.iter().map(|n| n.task.clone()).collect();
    let docs = if ids.is_empty() {
        Vec::new()
    } else {
        sync_core::session::ServerStore::load_many(&c.dispatch.store, &ids)
            .await
            .map_err(|e| Open311Error::Internal(e.to_string()))?
    };
    let mut items = Vec::new();
    for n in near {
        let description = docs
            .iter()
            .find(|(id, _)| *id == n.task)
            .and_then(|(_, d)| TaskDoc::load(&d.bytes).ok())
            .and_then(|d| d.view().ok())
            .map(|v| {
                if v.description.is_empty() {
                    v.title
                } else {
                    v.description
                }
            })
            .unwrap_or_else(|| n.title.clone());
        let open = sync_core::task::Status::parse(&n.status)
            .map(citizen::status::open_or_closed)
            .unwrap_or("open");
        items.push(Node::obj([
            ("service_request_id", Node::text(n.task.as_str())),
            ("distance", Node::Num((n.distance_m * 10.0).round() / 10.0)),
            ("status", Node::text(open)),
            ("description", Node::Text(description)),
            ("supporters", Node::Int(n.supporters as i64)),
        ]));
    }
    Ok(Node::List {
        item: "duplicate",
        items,
    })
}

/// Adds a citizen's support to the open report `id`: a supporter tracking code.
pub async fn support(c: &Citizens<'_>, id: &str, p: &Params) -> Result<Node, Open311Error> {
    super::require_key(&c.dispatch.store, p).await?;
    let task = DocId::new(id).map_err(|_| Open311Error::NotFound(format!("no request {id:?}")))?;
    let (doc, _) = edit::load(c.dispatch, &task)
        .await
        .map_err(|_| Open311Error::NotFound(format!("no request {id:?}")))?;
    let view = doc
        .view()
        .map_err(|e| Open311Error::Internal(e.to_string()))?;
    if view.derived.status.is_closed() {
        return Err(Open311Error::BadRequest(format!(
            "request {id} is closed ({}); file a new report instead",
            status::fms(view.derived.status).as_str()
        )));
    }
    let contact = Contact::from_params(p)?;
    let code = codes::issue(&c.dispatch.store, &task, codes::Role::Supporter).await?;
    store_contact(&c.dispatch.store, &code.code, "support", &task, &contact).await?;
    citizen::report::link_supporter(c, contact.phone.as_deref(), &code.code, &task).await?;
    let supporters = duplicates::supporters(&c.dispatch.store, &task).await?;
    Ok(Node::List {
        item: "request",
        items: vec![Node::obj([
            ("service_request_id", Node::text(task.as_str())),
            ("tracking_code", Node::Text(codes::display(&code.code))),
            ("supporters", Node::Int(supporters as i64)),
        ])],
    })
}

/// `tokens/{token}`: the request a token stands for.
pub async fn token(db: &Db, token: &str) -> Result<Node, Open311Error> {
    let task = if token.len() <= 64 {
        records::task_of_token(db, token).await?
    } else {
        None
    };
    let Some(task) = task else {
        return Err(Open311Error::NotFound(format!("no token {token:?}")));
    };
    Ok(Node::List {
        item: "request",
        items: vec![Node::obj([
            ("service_request_id", Node::Text(task)),
            ("token", Node::text(token)),
        ])],
    })
}

//! FixMyStreet's `servicerequestupdates` (its extension of GeoReport v2), so that a
//! FixMyStreet installation can use Tarmim as its back office:
//!
//! - GET: the city's updates between `start_date` and `end_date` (default: the last
//!   day; at most 90 days): one `request_update` per applied status-changing event of a
//!   task (routed, assigned, acknowledged, started, paused, completed, verified,
//!   reopened, cancelled, marked duplicate), with `update_id` (`<task>.<event id>`),
//!   `service_request_id`, `status` (FixMyStreet's extended status after the event, upper
//!   case: `IN_PROGRESS`, `FIXED`, …), `updated_datetime`, `description` (plain public
//!   words) and, for a completion, `media_url` (the after photo). Citizens' own updates
//!   are not echoed back (FixMyStreet posted them).
//! - POST (`api_key`): a citizen's update (`service_request_id`, `description`, optional
//!   `status`, `media_url`, `update_id_ext`, contact fields): stored with its contact
//!   details apart, and added to the task as a note (text only) so the crew sees it. The
//!   status a FixMyStreet sends is recorded, never applied: only dispatchers and crews
//!   change a task's status. Answer: `<service_request_updates><request_update><update_id>`.

use super::format::{Node, datetime, parse_datetime};
use super::query::{event_words, status_after};
use super::requests::{Contact, store_contact};
use super::status::FmsStatus;
use super::{MAX_SPAN_DAYS, Open311Error, Params, check_text, param_nonblank, status};
use crate::base::time::now_millis;
use crate::domain::citizen::Citizens;
use crate::domain::dispatch::{assign, edit};
use crate::storage::open311::{self as records, NewUpdate};
use sync_core::session::ServerStore;
use sync_core::task::{EventKind, Outcome, PhotoKind, TaskDoc};
use sync_core::{DocId, Millis};

const DAY_MS: i64 = 86_400_000;
/// The most tasks scanned for one GET.
const MAX_TASKS: i64 = 2000;

/// GET servicerequestupdates; `base` is the server's public base URL, for media links
/// ([`crate::base::public_url`]).
pub async fn list(c: &Citizens<'_>, p: &Params, base: &str) -> Result<Node, Open311Error> {
    let city = &c.zone;
    let get = |k: &str| -> Result<Option<Millis>, Open311Error> {
        match param_nonblank(p, k) {
            None => Ok(None),
            Some(v) => parse_datetime(v, city).map(Some).ok_or_else(|| {
                Open311Error::BadRequest(format!("{k} must be an ISO 8601 datetime, not {v:?}"))
            }),
        }
    };
    let now = now_millis();
    let end = get("end_date")?.unwrap_or(now);
    let start = get("start_date")?.unwrap_or(end - DAY_MS);
    if end < start {
        return Err(Open311Error::BadRequest(
            "end_date is before start_date".into(),
        ));
    }
    if end - start > MAX_SPAN_DAYS * DAY_MS {
        return Err(Open311Error::BadRequest(format!(
            "start_date to end_date may span at most {MAX_SPAN_DAYS} days"
        )));
    }
    let ids: Vec<DocId> = records::tasks_updated_since(&c.dispatch.store, start, MAX_TASKS)
        .await?
        .into_iter()
        .filter_map(|i| DocId::new(i).ok())
        .collect();
    let docs = if ids.is_empty() {
        Vec::new()
    } else {
        c.dispatch
            .store
            .load_many(&ids)
            .await
            .map_err(|e| Open311Error::Internal(e.to_string()))?
    };
    let mut out: Vec<(Millis, String, Node)> = Vec::new();
    for (id, d) in docs {
        let Ok(view) = TaskDoc::load(&d.bytes).and_then(|d| d.view()) else {
            continue;
        };
        for e in &view.timeline {
            if e.outcome != Outcome::Applied || e.event.at < start || e.event.at > end {
                continue;
            }
            let Some(after) = status_after(&e.event.kind) else {
                continue;
            };
            let media = match &e.event.kind {
                EventKind::Completed { photos } => photos
                    .iter()
                    .find(|h| {
                        view.photos
                            .iter()
                            .any(|p| &p.hash == *h && p.kind == PhotoKind::After)
                    })
                    .map(|h| format!("{base}/api/v1/photos/{h}/display")),
                _ => None,
            };
            let update_id = format!("{id}.{}", e.event.id);
            let mut n = Node::obj([
                ("update_id", Node::text(&update_id)),
                ("service_request_id", Node::text(id.as_str())),
                ("status", Node::Text(status::fms(after).upper())),
                ("updated_datetime", Node::Text(datetime(e.event.at, city))),
                ("description", Node::Text(event_words(&e.event.kind))),
            ]);
            if let Some(m) = media {
                n.push("media_url", Node::Text(m));
            }
            out.push((e.event.at, update_id, n));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    Ok(Node::List {
        item: "request_update",
        items: out.into_iter().map(|(_, _, n)| n).collect(),
    })
}

/// POST servicerequestupdates: a citizen's update.
pub async fn post(c: &Citizens<'_>, p: &Params) -> Result<Node, Open311Error> {
    let key_name = super::require_key(&c.dispatch.store, p).await?;
    let Some(id) = param_nonblank(p, "service_request_id") else {
        return Err(Open311Error::BadRequest(
            "service_request_id is required".into(),
        ));
    };
    let Some(description) = param_nonblank(p, "description") else {
        return Err(Open311Error::BadRequest("description is required".into()));
    };
    check_text("description", description, super::MAX_DESCRIPTION)?;
    let fms_status = match param_nonblank(p, "status") {
        None => None,
        Some(s) => Some(FmsStatus::parse(s).ok_or_else(|| {
            Open311Error::BadRequest(format!(
                "status must be OPEN, CLOSED or a FixMyStreet extended status, not {s:?}"
            ))
        })?),
    };
    let media_url = match param_nonblank(p, "media_url") {
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
            check_text("media_url", u, 2000)?;
            Some(u.to_owned())
        }
        Some(_) => {
            return Err(Open311Error::BadRequest(
                "media_url must be an http(s) URL".into(),
            ));
        }
        None => None,
    };
    let external = param_nonblank(p, "update_id_ext")
        .or_else(|| param_nonblank(p, "update_id"))
        .map(|s| s.chars().take(200).collect::<String>());
    let contact = Contact::from_params(p)?;
    let not_found = || Open311Error::NotFound(format!("no request {id:?}"));
    let task = DocId::new(id).map_err(|_| not_found())?;
    if c.dispatch
        .store
        .load(&task)
        .await
        .map_err(|e| Open311Error::Internal(e.to_string()))?
        .is_none()
    {
        return Err(not_found());
    }
    let update_id = format!("U-{}", hex::encode(rand::random::<[u8; 8]>()));
    let update = NewUpdate {
        id: update_id.clone(),
        task: task.to_string(),
        status: fms_status.map(|s| s.as_str().to_owned()),
        description: description.to_owned(),
        media_url,
        external_id: external,
        key_name,
        created_at: now_millis(),
    };
    records::insert_update(&c.dispatch.store, &update).await?;
    store_contact(&c.dispatch.store, &update_id, "update", &task, &contact).await?;
    let actor = assign::server_actor(c.dispatch);
    let text = format!("Citizen update: {description}");
    let text: String = text.chars().take(super::MAX_DESCRIPTION).collect();
    let noted = edit::edit(c.dispatch, &task, |doc, _| {
        doc.add_note(&actor, now_millis(), &text)?;
        Ok(Some(()))
    })
    .await;
    if let Err(e) = noted {
        tracing::warn!(task = %task, error = %e, "a citizen update could not be noted in the task");
    }
    Ok(Node::List {
        item: "request_update",
        items: vec![Node::obj([("update_id", Node::Text(update_id))])],
    })
}

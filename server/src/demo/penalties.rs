//! Demo penalties: both demo contractors get a penalty schedule and SLA-bound services;
//! one contractor task is plainly late (`LATE_TASK`, with real before and after photos);
//! the sweep proposes penalties from it and from the past-dated history; the demo manager
//! has confirmed, reduced and waived some, and the contractor's representative
//! (`contractor-pars`) has appealed one. The late task's own penalties stay proposed,
//! for a newcomer (and the browser test) to decide.

use super::DemoError;
use super::showcase::road_photo;
use super::tasks::device;
use crate::base::config::Config;
use crate::base::time::now_millis;
use crate::domain::audit::{self, Who};
use crate::domain::penalties::propose;
use crate::domain::photo::{Photos, ingest};
use crate::storage::penalties::{self as store, Filter, Step, Terms, Transition};
use crate::storage::{Db, DistrictStore};
use geo::Centroid;
use serde_json::json;
use sync_core::outbox::content_hash;
use sync_core::session::{DocCommit, ScopePolicy, ServerStore, TaskScopes};
use sync_core::task::{
    EventKind, GeoPoint, NewTask, PhotoKind, PhotoRef, Priority, Sla, Source, TaskDoc,
};
use sync_core::{Actor, DocId, Millis, Role};

/// The demo's contractor whose representative can log in.
pub const DEMO_CONTRACTOR: &str = "Pars Asphalt Co.";
/// Its representative's login.
pub const DEMO_REP_LOGIN: &str = "contractor-pars";
/// The demo's late task (a contractor crew of D06 acknowledged and completed it late).
pub const LATE_TASK: &str = "T-90010";

const MIN: Millis = 60_000;

/// The demo contractors' schedules.
fn schedules() -> [Terms; 2] {
    [
        Terms {
            contractor: DEMO_CONTRACTOR.into(),
            unit: "rial".into(),
            per_late_hour: 500_000,
            per_rejection: 2_000_000,
            per_not_fixed: 3_000_000,
            per_complaint: 1_000_000,
            cap_per_month: Some(40_000_000),
        },
        Terms {
            contractor: "Green City Services".into(),
            unit: "points".into(),
            per_late_hour: 1,
            per_rejection: 5,
            per_not_fixed: 8,
            per_complaint: 3,
            cap_per_month: None,
        },
    ]
}

/// Commits the late task with its photos.
async fn late_task(
    db: &Db,
    photos: &Photos,
    config: &Config,
    now: Millis,
) -> Result<(), DemoError> {
    let fail = |e: &dyn std::fmt::Display| DemoError::Commit {
        doc: LATE_TASK.to_owned(),
        why: e.to_string(),
    };
    let centre = db
        .districts()
        .await?
        .into_iter()
        .find(|d| d.code == "D06")
        .and_then(|d| d.geometry.centroid())
        .ok_or_else(|| fail(&"district D06 is missing"))?;
    let point = GeoPoint {
        lat: centre.y(),
        lon: centre.x(),
        accuracy_m: Some(6.0),
    };
    let server = Actor::server(device("server-demo"));
    let dispatcher = Actor {
        user: "u-dispatcher-r2".into(),
        role: Role::Dispatcher,
        crew: None,
        device: device("console-dispatcher-r2"),
    };
    let crew = Actor {
        user: "u-crew-d06-c".into(),
        role: Role::Crew,
        crew: Some("C-D06-C".into()),
        device: device("phone-crew-d06-c"),
    };
    let task = DocId::new(LATE_TASK).map_err(|e| fail(&e))?;
    let created = now - 9 * 60 * MIN;
    let at = |m: Millis| created + m * MIN;
    let new = NewTask {
        id: task.clone(),
        source: Source::Citizen,
        category: "pothole".into(),
        title: "Deep pothole at the bus stop".into(),
        description: "Reported through the 137 line; cars swerve into the bus lane.".into(),
        point,
        address: Some("D06".into()),
        district: None,
        priority: Priority::High,
        sla: Sla {
            ack_due: Some(at(30)),
            complete_due: Some(at(4 * 60)),
        },
        reopen_window_ms: config.feedback_window_ms(),
    };
    let te = |e: sync_core::task::TaskError| fail(&e);
    let mut doc = TaskDoc::create(new, &server, created).map_err(te)?;
    doc.append_event(
        &server,
        at(1),
        EventKind::Routed {
            district: "D06".into(),
        },
    )
    .map_err(te)?;
    doc.append_event(
        &dispatcher,
        at(5),
        EventKind::Assigned {
            crew: "C-D06-C".into(),
            reason: super::choice(&dispatcher),
        },
    )
    .map_err(te)?;
    // Acknowledged 100 minutes after it was due, completed 3 h 20 min late.
    doc.append_event(&crew, at(130), EventKind::Acknowledged)
        .map_err(te)?;
    let mut hashes = Vec::new();
    for (kind, seed, when, damaged) in [
        (PhotoKind::Before, 301, at(300), true),
        (PhotoKind::After, 302, at(440), false),
    ] {
        let bytes = road_photo(seed, damaged, !damaged);
        let hash = content_hash(&bytes);
        let size = bytes.len() as u64;
        ingest::ingest_bytes(
            db,
            photos,
            bytes,
            LATE_TASK,
            Some(kind.as_str()),
            crew.device.as_str(),
        )
        .await
        .map_err(|e| fail(&e))?;
        doc.add_photo(
            &crew,
            PhotoRef {
                hash: hash.clone(),
                kind,
                taken_at: Some(when),
                taken_point: Some(point),
                author: crew.user.clone(),
                device: crew.device.to_string(),
                bytes: size,
                mime: "image/jpeg".into(),
                added_at: when,
            },
        )
        .map_err(te)?;
        hashes.push(hash);
    }
    doc.append_event(&crew, at(300), EventKind::Started)
        .map_err(te)?;
    doc.append_event(
        &crew,
        at(440),
        EventKind::Completed {
            photos: hashes.split_off(1),
        },
    )
    .map_err(te)?;
    let view = doc.view().map_err(|e| fail(&e))?;
    let changes = doc
        .automerge()
        .get_changes(&[])
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    db.commit(DocCommit {
        doc: task,
        base_seq: None,
        changes,
        snapshot: doc.save(),
        scopes: TaskScopes.scopes_of(&view),
        view,
        origin: server.device.clone(),
    })
    .await
    .map_err(|e| fail(&e))?;
    Ok(())
}

/// A demo decision, as the demo manager made it (and the audit log recorded it).
async fn decide(
    db: &Db,
    id: i64,
    expect: &str,
    (action, status, amount): (&str, &str, i64),
    note: &str,
    at: Millis,
) -> Result<(), DemoError> {
    let step = Step {
        at,
        actor: "u-manager".into(),
        role: "manager".into(),
        action: action.into(),
        amount: Some(amount),
        note: note.into(),
    };
    store::transition(
        db,
        &Transition {
            id,
            expect,
            status,
            amount: Some(amount),
            appeal_note: None,
            step,
        },
    )
    .await?;
    let who = Who::named("u-manager", "manager", "console-manager");
    let detail = json!({"amount": amount, "reason": note, "demo": true});
    audit::record(
        db,
        &who,
        &format!("penalty.{action}"),
        Some(&id.to_string()),
        detail,
    )
    .await;
    Ok(())
}

/// Seeds the schedules, the late task and the proposals and decisions. Returns how many
/// penalties were proposed.
pub async fn seed_penalty_showcase(
    db: &Db,
    photos: &Photos,
    config: &Config,
) -> Result<usize, DemoError> {
    let now = now_millis();
    for t in schedules() {
        store::set_terms(db, &t, now).await?;
    }
    late_task(db, photos, config, now).await?;
    let swept = propose::sweep(db, 0)
        .await
        .map_err(|e| DemoError::Auth(e.to_string()))?;
    // Decide some of the history's proposals (never the late task's: those are left for
    // a newcomer to decide), oldest first.
    let mut older: Vec<_> = store::list(db, &Filter::default(), 1000)
        .await?
        .into_iter()
        .filter(|p| p.task_id != LATE_TASK)
        .collect();
    older.reverse();
    // The representative's contractor first, so the demo has one of its penalties
    // confirmed and appealed.
    older.sort_by_key(|p| p.contractor != DEMO_CONTRACTOR);
    let plan: [(&str, &str, &str); 5] = [
        (
            "confirm",
            "confirmed",
            "Late by the crew's own log; no reason given.",
        ),
        (
            "confirm",
            "confirmed",
            "Confirmed: the citizen's photos show it unfixed.",
        ),
        (
            "reduce",
            "confirmed",
            "Reduced: the site was blocked by a utility dig for an hour.",
        ),
        (
            "waive",
            "waived",
            "Waived: the delay was the city's (no asphalt delivered).",
        ),
        (
            "confirm",
            "confirmed",
            "Confirmed after review of the timeline.",
        ),
    ];
    let mut appealed = false;
    for (p, (action, status, note)) in older.iter().zip(plan) {
        let amount = match action {
            "reduce" => p.proposed_amount / 2,
            "waive" => 0,
            _ => p.proposed_amount,
        };
        decide(
            db,
            p.id,
            "proposed",
            (action, status, amount),
            note,
            now - 3 * 60 * MIN,
        )
        .await?;
        if !appealed && status == "confirmed" && p.contractor == DEMO_CONTRACTOR {
            let note = "The crew was sent to two urgent jobs by the dispatcher that morning.";
            store::transition(
                db,
                &Transition {
                    id: p.id,
                    expect: "confirmed",
                    status: "appealed",
                    amount: None,
                    appeal_note: Some(note),
                    step: Step {
                        at: now - 60 * MIN,
                        actor: "u-contractor-pars".into(),
                        role: "contractor".into(),
                        action: "appeal".into(),
                        amount: None,
                        note: note.into(),
                    },
                },
            )
            .await?;
            let who = Who::named("u-contractor-pars", "contractor", "console-contractor");
            let detail = json!({"note": note, "demo": true});
            audit::record(db, &who, "penalty.appeal", Some(&p.id.to_string()), detail).await;
            appealed = true;
        }
    }
    Ok(swept.proposed)
}

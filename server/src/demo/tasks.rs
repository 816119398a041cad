//! The demo's few hundred tasks in every state (new, assigned, acknowledged, in progress,
//! paused, completed, verified, reopened, cancelled), built with sync-core's `TaskDoc`
//! API, so they are documents like any other.

use super::city::{COLS, NAMES, ROWS, cell};
use crate::storage::{Crew, Service};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use sync_core::session::{DocCommit, ScopePolicy, TaskScopes};
use sync_core::task::{
    EventKind, GeoPoint, NewTask, PhotoKind, PhotoRef, Priority, Receipt, Sla, Source, TaskDoc,
};
use sync_core::{Actor, DeviceId, DocId, Millis, Role};

/// How far along its life a demo task is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    New,
    Queued,
    Assigned,
    Acknowledged,
    InProgress,
    Paused,
    Completed,
    Verified,
    Reopened,
    Cancelled,
}

fn pick_target(rng: &mut StdRng) -> Target {
    const TABLE: [(Target, u32); 10] = [
        (Target::New, 4),
        (Target::Queued, 12),
        (Target::Assigned, 12),
        (Target::Acknowledged, 10),
        (Target::InProgress, 10),
        (Target::Paused, 4),
        (Target::Completed, 16),
        (Target::Verified, 18),
        (Target::Reopened, 6),
        (Target::Cancelled, 8),
    ];
    let total: u32 = TABLE.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for (t, w) in TABLE {
        if x < w {
            return t;
        }
        x -= w;
    }
    Target::Queued
}

/// A placeholder photo reference (no blob behind it): its hash is that of `key`, so each
/// (task, kind) of the demo has a distinct, stable photo.
pub(super) fn placeholder_photo(
    key: &str,
    kind: PhotoKind,
    actor: &Actor,
    at: Millis,
    point: GeoPoint,
) -> PhotoRef {
    PhotoRef {
        hash: hex::encode(Sha256::digest(key.as_bytes())),
        kind,
        taken_at: Some(at),
        taken_point: Some(point),
        author: actor.user.clone(),
        device: actor.device.to_string(),
        bytes: 180_000,
        mime: "image/jpeg".into(),
        added_at: at,
    }
}

fn photo(task: &DocId, kind: PhotoKind, actor: &Actor, at: Millis, point: GeoPoint) -> PhotoRef {
    placeholder_photo(
        &format!("demo-photo/{task}/{kind:?}"),
        kind,
        actor,
        at,
        point,
    )
}

pub(super) fn device(s: &str) -> DeviceId {
    DeviceId::new(s).unwrap_or_else(|_| DeviceId::new("demo").unwrap_or_else(|_| unreachable!()))
}

/// Builds the demo task documents and their commits. Runs on a blocking thread.
pub(super) fn build_tasks(
    n: usize,
    seed: u64,
    now: Millis,
    crews: &[Crew],
    services: &[Service],
) -> Vec<DocCommit> {
    const MIN: Millis = 60_000;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x7a5c);
    let server = Actor::server(device("server-demo"));
    let mut out = Vec::with_capacity(n);
    let mut offline_shown = false;
    for i in 0..n {
        let d = rng.random_range(1..=ROWS * COLS);
        let code = format!("D{d:02}");
        let (l, b, r, t) = cell((d - 1) / COLS, (d - 1) % COLS);
        let point = GeoPoint {
            lat: b + (t - b) * rng.random_range(0.05..0.95),
            lon: l + (r - l) * rng.random_range(0.05..0.95),
            accuracy_m: Some(rng.random_range(3.0..25.0)),
        };
        let Some(service) = services.get(rng.random_range(0..services.len())) else {
            continue;
        };
        let district_crews: Vec<&Crew> = crews.iter().filter(|c| c.district == code).collect();
        let Some(crew) = district_crews.get(rng.random_range(0..district_crews.len().max(1)))
        else {
            continue;
        };
        let region = (d - 1) / COLS + 1;
        let dispatcher = Actor {
            user: format!("u-dispatcher-r{region}"),
            role: Role::Dispatcher,
            crew: None,
            device: device(&format!("console-dispatcher-r{region}")),
        };
        let crew_login = format!("crew-{}", crew.id.to_lowercase().trim_start_matches("c-"));
        let crew_actor = Actor {
            user: format!("u-{crew_login}"),
            role: Role::Crew,
            crew: Some(crew.id.clone()),
            device: device(&format!("phone-{crew_login}")),
        };
        let by_phone = rng.random_bool(0.3);
        // A citizen's report is created by the server on the citizen's behalf (Open311);
        // the citizen acts on it later (reopen, rate) through the tracking code.
        let citizen = Actor {
            user: format!("citizen-{i}"),
            role: Role::Citizen,
            crew: None,
            device: device("web-tracking"),
        };
        let creator = if by_phone {
            Actor {
                user: "u-callcentre".into(),
                role: Role::CallCentre,
                crew: None,
                device: device("console-callcentre"),
            }
        } else {
            server.clone()
        };
        let created = now - rng.random_range(60 * MIN..14 * 24 * 60 * MIN);
        let priority = if rng.random_bool(0.08) {
            Priority::Urgent
        } else {
            service.default_priority
        };
        let Ok(id) = DocId::new(format!("T-{:05}", i + 1)) else {
            continue;
        };
        let new = NewTask {
            id: id.clone(),
            source: if by_phone {
                Source::CallCentre
            } else {
                Source::Citizen
            },
            category: service.code.clone(),
            title: format!("{} in {}", service.name, NAMES[d - 1]),
            description: format!("Demo report #{} ({}).", i + 1, service.name.to_lowercase()),
            point,
            address: Some(format!(
                "{} St. {}, {}",
                NAMES[d - 1],
                rng.random_range(1..200),
                code
            )),
            district: None,
            priority,
            sla: Sla {
                ack_due: service.ack_minutes.map(|m| created + m * MIN),
                complete_due: service.complete_minutes.map(|m| created + m * MIN),
            },
            reopen_window_ms: 7 * 24 * 60 * MIN,
        };
        let target = pick_target(&mut rng);
        let mut doc = match TaskDoc::create(new, &creator, created) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(task = %id, error = %e, "demo task not created");
                continue;
            }
        };
        let mut at = created;
        let mut step = |rng: &mut StdRng| {
            at += rng.random_range(2 * MIN..90 * MIN);
            at
        };
        // Each step stops the task's story at the first refusal: the task is still
        // committed as far as it got.
        let story = (|| -> Result<(), sync_core::task::TaskError> {
            if target == Target::New {
                return Ok(());
            }
            doc.append_event(
                &server,
                step(&mut rng),
                EventKind::Routed {
                    district: code.clone(),
                },
            )?;
            if target == Target::Queued {
                return Ok(());
            }
            if target == Target::Cancelled {
                if rng.random_bool(0.5) {
                    doc.append_event(
                        &dispatcher,
                        step(&mut rng),
                        EventKind::Assigned {
                            crew: crew.id.clone(),
                            reason: super::choice(&dispatcher),
                        },
                    )?;
                }
                doc.append_event(
                    &dispatcher,
                    step(&mut rng),
                    EventKind::Cancelled {
                        reason: "demo: not a city matter".into(),
                    },
                )?;
                return Ok(());
            }
            doc.append_event(
                &dispatcher,
                step(&mut rng),
                EventKind::Assigned {
                    crew: crew.id.clone(),
                    reason: super::choice(&dispatcher),
                },
            )?;
            if target == Target::Assigned {
                return Ok(());
            }
            doc.append_event(&crew_actor, step(&mut rng), EventKind::Acknowledged)?;
            if target == Target::Acknowledged {
                return Ok(());
            }
            let t = step(&mut rng);
            doc.add_photo(
                &crew_actor,
                photo(&id, PhotoKind::Before, &crew_actor, t, point),
            )?;
            doc.append_event(&crew_actor, t, EventKind::Started)?;
            if target == Target::InProgress {
                return Ok(());
            }
            if target == Target::Paused {
                doc.append_event(
                    &crew_actor,
                    step(&mut rng),
                    EventKind::Paused {
                        reason: "demo: waiting for material".into(),
                    },
                )?;
                return Ok(());
            }
            let t = step(&mut rng);
            let after = photo(&id, PhotoKind::After, &crew_actor, t, point);
            let hash = after.hash.clone();
            doc.add_photo(&crew_actor, after)?;
            doc.append_event(&crew_actor, t, EventKind::Completed { photos: vec![hash] })?;
            doc.add_note(&crew_actor, t, "Fixed. (demo)")?;
            // One completion made offline and received three hours later: the console
            // shows the server's receipt beside the phone's time (docs/security.md,
            // "Clocks a device claims"). The phone was offline since before it, so the
            // server vouches for the phone's time.
            if !offline_shown && target == Target::Completed && now - t > 4 * 60 * MIN {
                offline_shown = true;
                let receipt = Receipt {
                    received_at: t + 3 * 60 * MIN,
                    vouched_at: t,
                };
                if let Some(done) = doc.view()?.derived.completion {
                    doc.record_receipts(&[(done, receipt)])?;
                }
            }
            match target {
                Target::Verified => {
                    doc.append_event(&dispatcher, step(&mut rng), EventKind::Verified)?;
                }
                Target::Reopened => {
                    doc.append_event(
                        &citizen,
                        step(&mut rng),
                        EventKind::Reopened {
                            reason: "demo: still broken".into(),
                        },
                    )?;
                }
                _ => {}
            }
            Ok(())
        })();
        if let Err(e) = story {
            tracing::warn!(task = %id, ?target, error = %e, "demo task stopped early");
        }
        let view = match doc.view() {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(task = %id, error = %e, "demo task unreadable");
                continue;
            }
        };
        let scopes = TaskScopes.scopes_of(&view);
        let changes = doc
            .automerge()
            .get_changes(&[])
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        out.push(DocCommit {
            doc: id,
            base_seq: None,
            changes,
            snapshot: doc.save(),
            view,
            scopes,
            origin: server.device.clone(),
        });
    }
    out
}

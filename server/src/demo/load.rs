//! A load for benchmarks (`tarmim-server demo seed-load`, hidden): many open tasks in a
//! few districts of an already seeded city, so the console's queue can be measured the
//! way a busy city would fill it.
//!
//! The tasks are real documents built with sync-core's `TaskDoc` API (created, routed,
//! then as far as assigned, acknowledged, started or paused) and committed through the
//! store like any other document, so the `tasks` projection, the scopes and the facts
//! are what the server's own commit path writes. Building runs off the async runtime in
//! batches, so memory stays bounded whatever the count.

use super::DemoError;
use super::tasks::{device, placeholder_photo};
use crate::storage::{Db, DistrictStore, IdentityStore};
use geo::{BoundingRect, Contains, Point};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sync_core::session::{DocCommit, ScopePolicy, ServerStore, TaskScopes};
use sync_core::task::{EventKind, GeoPoint, NewTask, PhotoKind, Priority, Sla, Source, TaskDoc};
use sync_core::{Actor, DocId, Millis, Role};

const MIN: Millis = 60_000;
/// Documents built per blocking batch.
const BATCH: usize = 500;

/// One district the load goes to: its code, boundary and crews.
#[derive(Clone)]
struct Target {
    code: String,
    geometry: geo_types::MultiPolygon<f64>,
    crews: Vec<String>,
}

/// Seeds `n` open tasks (ids `L-00001`, …) spread over `districts`, created over the two
/// weeks before `now`. Returns how many were committed.
pub async fn seed_load(
    db: &Db,
    n: usize,
    districts: &[String],
    seed: u64,
    now: Millis,
) -> Result<usize, DemoError> {
    let all = db.districts().await?;
    let crews = db.crews().await?;
    let mut targets = Vec::new();
    for code in districts {
        let Some(d) = all.iter().find(|d| &d.code == code) else {
            return Err(DemoError::Load(format!(
                "no district {code:?}: seed the city first"
            )));
        };
        targets.push(Target {
            code: code.clone(),
            geometry: d.geometry.clone(),
            crews: crews
                .iter()
                .filter(|c| &c.district == code)
                .map(|c| c.id.clone())
                .collect(),
        });
    }
    if targets.is_empty() {
        return Err(DemoError::Load("no district to load".into()));
    }
    let services = db.services().await?;
    if services.is_empty() {
        return Err(DemoError::Load("no service: seed the city first".into()));
    }
    let mut committed = 0;
    let mut from = 0;
    while from < n {
        let count = BATCH.min(n - from);
        let (t, s) = (targets.clone(), services.clone());
        let built = tokio::task::spawn_blocking(move || build(from, count, seed, now, &t, &s))
            .await
            .map_err(|e| DemoError::Load(format!("building the load failed: {e}")))?;
        for c in built {
            let doc = c.doc.to_string();
            db.commit(c).await.map_err(|e| DemoError::Commit {
                doc,
                why: e.to_string(),
            })?;
            committed += 1;
        }
        from += count;
        tracing::info!(committed, of = n, "load seeded so far");
    }
    Ok(committed)
}

/// A point inside `g` (rejection sampling in its bounding box; its centre of the box if
/// the shape is too thin to hit).
fn point_in(g: &geo_types::MultiPolygon<f64>, rng: &mut StdRng) -> GeoPoint {
    let Some(b) = g.bounding_rect() else {
        return GeoPoint {
            lat: 35.69,
            lon: 51.39,
            accuracy_m: None,
        };
    };
    for _ in 0..100 {
        let lon = rng.random_range(b.min().x..=b.max().x);
        let lat = rng.random_range(b.min().y..=b.max().y);
        if g.contains(&Point::new(lon, lat)) {
            return GeoPoint {
                lat,
                lon,
                accuracy_m: Some(rng.random_range(3.0..25.0)),
            };
        }
    }
    GeoPoint {
        lat: b.center().y,
        lon: b.center().x,
        accuracy_m: None,
    }
}

/// Builds tasks `from .. from + count` (each from its own random stream, so a batch's
/// tasks do not depend on the batch size).
fn build(
    from: usize,
    count: usize,
    seed: u64,
    now: Millis,
    targets: &[Target],
    services: &[crate::storage::Service],
) -> Vec<DocCommit> {
    let server = Actor::server(device("server-load"));
    let mut out = Vec::with_capacity(count);
    for i in from..from + count {
        let mut rng = StdRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let t = &targets[i % targets.len()];
        let Some(service) = services.get(rng.random_range(0..services.len())) else {
            continue;
        };
        let point = point_in(&t.geometry, &mut rng);
        let Ok(id) = DocId::new(format!("L-{:05}", i + 1)) else {
            continue;
        };
        let created = now - rng.random_range(10 * MIN..14 * 24 * 60 * MIN);
        let new = NewTask {
            id: id.clone(),
            source: Source::Citizen,
            category: service.code.clone(),
            title: format!("{} #{}", service.name, i + 1),
            description: format!("Load report #{}.", i + 1),
            point,
            address: Some(format!("Load St. {}, {}", i + 1, t.code)),
            // Known at creation (as for a call-centre filing), so even the tasks left
            // `new`, not yet routed, are in their district's queue.
            district: Some(t.code.clone()),
            priority: if rng.random_bool(0.05) {
                Priority::Urgent
            } else if rng.random_bool(0.2) {
                Priority::High
            } else {
                service.default_priority
            },
            sla: Sla {
                ack_due: service.ack_minutes.map(|m| created + m * MIN),
                complete_due: service.complete_minutes.map(|m| created + m * MIN),
            },
            reopen_window_ms: 7 * 24 * 60 * MIN,
        };
        let mut doc = match TaskDoc::create(new, &server, created) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(task = %id, error = %e, "load task not created");
                continue;
            }
        };
        // How far along: 0 filed in its district, 1 routed too (both queued), 2 assigned,
        // 3 acknowledged, 4 started, 5 paused.
        let depth = rng.random_range(0..6u8);
        let crew = t
            .crews
            .get(rng.random_range(0..t.crews.len().max(1)))
            .cloned();
        let mut at = created;
        let story = (|| -> Result<(), sync_core::task::TaskError> {
            if depth == 0 {
                return Ok(());
            }
            at += MIN;
            doc.append_event(
                &server,
                at,
                EventKind::Routed {
                    district: t.code.clone(),
                },
            )?;
            let Some(crew) = crew.filter(|_| depth >= 2) else {
                return Ok(());
            };
            let dispatcher = Actor {
                user: "u-dispatcher-load".into(),
                role: Role::Dispatcher,
                crew: None,
                device: device("console-load"),
            };
            at += 5 * MIN;
            doc.append_event(
                &dispatcher,
                at,
                EventKind::Assigned {
                    crew: crew.clone(),
                    reason: super::choice(&dispatcher),
                },
            )?;
            if depth == 2 {
                return Ok(());
            }
            let login = format!("crew-{}", crew.to_lowercase().trim_start_matches("c-"));
            let crew_actor = Actor {
                user: format!("u-{login}"),
                role: Role::Crew,
                crew: Some(crew),
                device: device(&format!("phone-{login}")),
            };
            at += 10 * MIN;
            doc.append_event(&crew_actor, at, EventKind::Acknowledged)?;
            if depth == 3 {
                return Ok(());
            }
            at += 20 * MIN;
            doc.add_photo(
                &crew_actor,
                placeholder_photo(
                    &format!("load-photo/{id}/before"),
                    PhotoKind::Before,
                    &crew_actor,
                    at,
                    point,
                ),
            )?;
            doc.append_event(&crew_actor, at, EventKind::Started)?;
            if depth == 5 {
                at += 30 * MIN;
                doc.append_event(
                    &crew_actor,
                    at,
                    EventKind::Paused {
                        reason: "load: waiting for material".into(),
                    },
                )?;
            }
            Ok(())
        })();
        if let Err(e) = story {
            tracing::warn!(task = %id, error = %e, "load task stopped early");
        }
        let Ok(view) = doc.view() else {
            continue;
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

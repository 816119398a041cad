//! Past-dated demo history: real task documents with events spread over the last weeks
//! (created, routed, assigned, acknowledged, started with a before photo, completed with
//! an after photo, some rated, some reopened and redone, a few cancelled; all closed, so
//! the live queues and phones are not crowded by them), committed
//! through the store like any task so their facts come from the real commit path. The
//! demo city calls this so the managers' charts have a history to show.

use crate::storage::{Db, DbError, DistrictStore, IdentityStore};
use geo::Centroid;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sync_core::session::{DocCommit, ScopePolicy, ServerStore, TaskScopes};
use sync_core::task::{
    EventKind, GeoPoint, NewTask, PhotoKind, PhotoRef, Priority, Sla, Source, TaskDoc,
};
use sync_core::{Actor, DeviceId, DocId, Millis, Role};

const MIN: Millis = 60_000;
const DAY: Millis = 24 * 60 * MIN;

fn device(s: &str) -> Result<DeviceId, String> {
    DeviceId::new(s).map_err(|e| e.to_string())
}

fn photo(task: &str, kind: PhotoKind, actor: &Actor, at: Millis, point: GeoPoint) -> PhotoRef {
    super::tasks::placeholder_photo(&format!("history/{task}/{kind:?}"), kind, actor, at, point)
}

/// Seeds `n` past tasks created over the `days` before `now` (ids `H-00001`, …), using
/// the districts, services and crews already in the database. Returns how many were
/// committed.
pub async fn seed_history(
    db: &Db,
    n: usize,
    days: i64,
    seed: u64,
    now: Millis,
) -> Result<usize, DbError> {
    let districts: Vec<(String, GeoPoint)> = db
        .districts()
        .await?
        .into_iter()
        .filter_map(|d| {
            let c = d.geometry.centroid()?;
            Some((
                d.code,
                GeoPoint {
                    lat: c.y(),
                    lon: c.x(),
                    accuracy_m: Some(10.0),
                },
            ))
        })
        .collect();
    let services = db.services().await?;
    let crews = db.crews().await?;
    let built = tokio::task::spawn_blocking(move || {
        build(n, days, seed, now, &districts, &services, &crews)
    })
    .await
    .map_err(|e| DbError::Invalid(format!("history generation failed: {e}")))?;
    let mut committed = 0;
    for c in built {
        match db.commit(c).await {
            Ok(_) => committed += 1,
            Err(e) => tracing::warn!(error = %e, "history task not committed"),
        }
    }
    Ok(committed)
}

fn build(
    n: usize,
    days: i64,
    seed: u64,
    now: Millis,
    districts: &[(String, GeoPoint)],
    services: &[crate::storage::Service],
    crews: &[crate::storage::Crew],
) -> Vec<DocCommit> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x4a11);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        match one(&mut rng, i, days, now, districts, services, crews) {
            Ok(Some(c)) => out.push(c),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "history task skipped"),
        }
    }
    out
}

fn one(
    rng: &mut StdRng,
    i: usize,
    days: i64,
    now: Millis,
    districts: &[(String, GeoPoint)],
    services: &[crate::storage::Service],
    crews: &[crate::storage::Crew],
) -> Result<Option<DocCommit>, String> {
    if districts.is_empty() || services.is_empty() {
        return Ok(None);
    }
    let (code, point) = &districts[rng.random_range(0..districts.len())];
    let service = &services[rng.random_range(0..services.len())];
    let local: Vec<&crate::storage::Crew> = crews.iter().filter(|c| &c.district == code).collect();
    if local.is_empty() {
        return Ok(None);
    }
    let crew = local[rng.random_range(0..local.len())];
    let id = DocId::new(format!("H-{:05}", i + 1)).map_err(|e| e.to_string())?;
    let server = Actor::server(device("server-history")?);
    let dispatcher = Actor {
        user: "u-dispatcher-history".into(),
        role: Role::Dispatcher,
        crew: None,
        device: device("console-history")?,
    };
    let crew_actor = Actor {
        user: format!("u-crew-{}", crew.id.to_lowercase()),
        role: Role::Crew,
        crew: Some(crew.id.clone()),
        device: device(&format!("phone-{}", crew.id.to_lowercase()))?,
    };
    let citizen = Actor {
        user: format!("citizen-h{i}"),
        role: Role::Citizen,
        crew: None,
        device: device("web-tracking")?,
    };
    // More work in recent weeks, at any hour (more by day).
    let age = (days as f64 * rng.random::<f64>().powf(1.3) * DAY as f64) as Millis;
    let created = now - age.max(2 * 60 * MIN);
    let priority = if rng.random_bool(0.1) {
        Priority::Urgent
    } else {
        service.default_priority
    };
    let new = NewTask {
        id: id.clone(),
        source: Source::Citizen,
        category: service.code.clone(),
        title: format!("{} ({code})", service.name),
        description: "Demo history.".into(),
        point: *point,
        address: None,
        district: None,
        priority,
        sla: Sla {
            ack_due: service.ack_minutes.map(|m| created + m * MIN),
            complete_due: service.complete_minutes.map(|m| created + m * MIN),
        },
        reopen_window_ms: 7 * DAY,
    };
    let mut doc = TaskDoc::create(new, &server, created).map_err(|e| e.to_string())?;
    let mut at = created;
    let mut step = |rng: &mut StdRng, lo: i64, hi: i64| {
        at += rng.random_range(lo * MIN..hi * MIN);
        at.min(now - MIN)
    };
    // The story stops at the first refusal; the task is committed as far as it got.
    let _ = (|| -> Result<(), sync_core::task::TaskError> {
        doc.append_event(
            &server,
            step(rng, 1, 3),
            EventKind::Routed {
                district: code.clone(),
            },
        )?;
        doc.append_event(
            &dispatcher,
            step(rng, 2, 60),
            EventKind::Assigned {
                crew: crew.id.clone(),
                reason: super::choice(&dispatcher),
            },
        )?;
        if rng.random_bool(0.05) {
            doc.append_event(
                &dispatcher,
                step(rng, 10, 120),
                EventKind::Cancelled {
                    reason: "demo history: not a city matter".into(),
                },
            )?;
            return Ok(());
        }
        let slow = if rng.random_bool(0.15) { 8 } else { 1 };
        doc.append_event(
            &crew_actor,
            step(rng, 2, 40 * slow),
            EventKind::Acknowledged,
        )?;
        let t = step(rng, 10, 240);
        if rng.random_bool(0.85) {
            doc.add_photo(
                &crew_actor,
                photo(id.as_str(), PhotoKind::Before, &crew_actor, t, *point),
            )?;
        }
        doc.append_event(&crew_actor, t, EventKind::Started)?;
        let t = step(rng, 30, 600 * slow);
        let after = photo(id.as_str(), PhotoKind::After, &crew_actor, t, *point);
        let hash = after.hash.clone();
        doc.add_photo(&crew_actor, after)?;
        doc.append_event(
            &crew_actor,
            t,
            EventKind::Completed {
                photos: vec![hash.clone()],
            },
        )?;
        if rng.random_bool(0.08) {
            doc.append_event(
                &citizen,
                step(rng, 60, 2000),
                EventKind::Reopened {
                    reason: "demo history: still broken".into(),
                },
            )?;
            doc.append_event(&crew_actor, step(rng, 5, 120), EventKind::Acknowledged)?;
            doc.append_event(&crew_actor, step(rng, 10, 240), EventKind::Started)?;
            doc.append_event(
                &crew_actor,
                step(rng, 30, 600),
                EventKind::Completed { photos: vec![hash] },
            )?;
        }
        if rng.random_bool(0.6) {
            let stars = [1u8, 2, 3, 4, 4, 5, 5, 5][rng.random_range(0..8)];
            doc.append_event(
                &citizen,
                step(rng, 30, 3000),
                EventKind::Rated {
                    stars,
                    comment: String::new(),
                },
            )?;
        }
        Ok(())
    })();
    let view = doc.view().map_err(|e| e.to_string())?;
    let changes = doc
        .automerge()
        .get_changes(&[])
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    Ok(Some(DocCommit {
        doc: id,
        base_seq: None,
        changes,
        snapshot: doc.save(),
        scopes: TaskScopes.scopes_of(&view),
        view,
        origin: server.device.clone(),
    }))
}

//! The tracking page's showcase: three tasks with real before/after photos drawn at seed
//! time (no files needed) and stored through the photo pipeline, and their citizens'
//! tracking codes, printed at first start.

use super::tasks::device;
use super::*;
use crate::base::config::Config;
use crate::base::time::now_millis;
use crate::storage::Db;
use sync_core::session::{DocCommit, ScopePolicy, ServerStore, TaskScopes};
use sync_core::task::{
    EventKind, GeoPoint, NewTask, PhotoKind, PhotoRef, Priority, Sla, Source, TaskDoc,
};
use sync_core::{Actor, DocId, Millis, Role};

/// Ids of the tracking page's showcase tasks (all in `D01`, region R1): completed with
/// real before/after photos; reopened by its citizen ("not fixed", with a photo); merged
/// into the completed one.
pub const SHOWCASE_TASKS: [&str; 3] = ["T-90001", "T-90002", "T-90003"];

/// A demo road photo, 800 × 600 JPEG, drawn here so the demo needs no files: grey
/// asphalt with a kerb and a dashed lane line; `pothole` draws a dark hole, `patch` a
/// fresh rectangle of asphalt over it (a `pothole` too = the hole came back). `seed`
/// varies the texture and the hole's shape, so every photo is a distinct blob.
pub fn road_photo(seed: u32, pothole: bool, patch: bool) -> Vec<u8> {
    const W: u32 = 800;
    const H: u32 = 600;
    let noise = |x: u32, y: u32, k: u32| -> i32 {
        let mut h = x
            .wrapping_mul(374_761_393)
            .wrapping_add(y.wrapping_mul(668_265_263))
            .wrapping_add(k.wrapping_mul(2_246_822_519));
        h = (h ^ (h >> 13)).wrapping_mul(1_274_126_177);
        ((h ^ (h >> 16)) & 0xff) as i32
    };
    let (cx, cy) = (
        400.0 + (seed % 7) as f64 * 6.0,
        300.0 + (seed % 5) as f64 * 4.0,
    );
    let wobble = (seed % 3) as f64 * 0.4 + 1.0;
    let img = image::RgbImage::from_fn(W, H, |x, y| {
        let fine = noise(x, y, seed) / 12 - 10;
        let coarse = noise(x / 6, y / 6, seed + 1) / 10 - 12;
        let mut v = 104 + fine + coarse;
        let mut tint = (0i32, 0i32, 3i32);
        if y < 70 {
            // The kerb: pale concrete.
            v = 176 + fine / 2;
            tint = (4, 2, -4);
        } else if y < 80 {
            v = 60;
        }
        // A dashed lane line, slightly worn.
        if (470..484).contains(&y) && (x / 70) % 2 == 0 && noise(x, y, seed + 2) > 30 {
            v = 222 + fine / 3;
            tint = (6, 4, -18);
        }
        let dx = (f64::from(x) - cx) / 190.0;
        let dy = (f64::from(y) - cy) / 105.0;
        let angle = dy.atan2(dx);
        let r = (dx * dx + dy * dy).sqrt();
        let edge = 1.0 + 0.12 * (angle * 3.0 * wobble).sin() + 0.07 * (angle * 7.0).cos();
        if patch && (210..=590).contains(&x) && (190..=410).contains(&y) {
            // Fresh asphalt: darker, smoother, with a lighter sealed seam.
            let seam = !(216..=584).contains(&x) || !(196..=404).contains(&y);
            v = if seam { 128 } else { 62 + fine / 3 };
            tint = (0, 0, 2);
            if pothole && r < edge * 0.45 {
                // The hole came back in the middle of the patch.
                v = if r > edge * 0.38 { 84 } else { 30 + fine / 2 };
            }
        } else if pothole && r < edge {
            if r > edge * 0.86 {
                // A crumbly rim.
                v = 74 + fine;
            } else {
                v = 34 + fine / 2;
                if r < edge * 0.45 && dy > 0.0 {
                    // Standing water.
                    v = 58 + fine / 4;
                    tint = (-6, 0, 12);
                }
            }
        }
        let c = |d: i32| (v + d).clamp(0, 255) as u8;
        image::Rgb([c(tint.0), c(tint.1), c(tint.2)])
    });
    let mut out = Vec::new();
    let encoded =
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85).encode_image(&img);
    if let Err(e) = encoded {
        tracing::warn!(error = %e, "demo photo not encoded");
    }
    out
}

/// Seeds the tracking page's showcase ([`SHOWCASE_TASKS`]): the photos go through the
/// photo pipeline (so their public derivatives exist), each task gets a reporter's
/// tracking code, and the codes are printed (dispatchers also see them in the console's
/// task detail). Returns `(task, code as shown)`.
pub async fn seed_tracking_showcase(
    db: &Db,
    photos: &crate::domain::photo::Photos,
    config: &Config,
) -> Result<Vec<(String, String)>, DemoError> {
    use crate::domain::citizen::{codes, public_view};
    use crate::domain::photo::ingest;
    const HOUR: Millis = 60 * 60 * 1000;
    let now = now_millis();
    let server = Actor::server(device("server-demo"));
    let dispatcher = Actor {
        user: "u-dispatcher-r1".into(),
        role: Role::Dispatcher,
        crew: None,
        device: device("console-dispatcher-r1"),
    };
    let crew = Actor {
        user: "u-crew-d01-a".into(),
        role: Role::Crew,
        crew: Some("C-D01-A".into()),
        device: device("phone-crew-d01-a"),
    };
    let commit_err = |doc: &str, e: &dyn std::fmt::Display| DemoError::Commit {
        doc: doc.to_owned(),
        why: e.to_string(),
    };
    let mut out = Vec::new();
    let stories: [(&str, &str, &str, f64, f64); 3] = [
        (
            SHOWCASE_TASKS[0],
            "Deep pothole on Shariati Street",
            "A deep pothole in the right lane, in front of the bakery; cars swerve around it.",
            35.7212,
            51.3361,
        ),
        (
            SHOWCASE_TASKS[1],
            "Pothole at the Tajrish square bus stop",
            "The road is broken where the buses stop; water collects in it.",
            35.7238,
            51.3442,
        ),
        (
            SHOWCASE_TASKS[2],
            "Big hole in the road on Shariati",
            "Same street, near the bakery: a hole in the asphalt.",
            35.7213,
            51.3363,
        ),
    ];
    for (k, (id, title, description, lat, lon)) in stories.into_iter().enumerate() {
        let task = DocId::new(id).map_err(|e| commit_err(id, &e))?;
        let code = codes::issue(db, &task, codes::Role::Reporter).await?;
        let citizen = public_view::citizen_actor(&code.code);
        let point = GeoPoint {
            lat,
            lon,
            accuracy_m: Some(6.0),
        };
        let created = now - (72 + 24 * k as Millis) * HOUR;
        let new = NewTask {
            id: task.clone(),
            source: Source::Citizen,
            category: "pothole".into(),
            title: title.into(),
            description: description.into(),
            point,
            address: Some("Shariati St., Tajrish, D01".into()),
            district: None,
            priority: Priority::High,
            sla: Sla {
                ack_due: Some(created + 4 * HOUR),
                complete_due: Some(created + 96 * HOUR),
            },
            reopen_window_ms: config.feedback_window_ms(),
        };
        let mut doc = TaskDoc::create(new, &server, created).map_err(|e| commit_err(id, &e))?;
        let photo =
            async |seed: u32, hole: bool, patch: bool, kind: PhotoKind, who: &Actor, at: Millis| {
                let bytes = road_photo(seed, hole, patch);
                let row = ingest::ingest_bytes(
                    db,
                    photos,
                    bytes,
                    id,
                    Some(kind.as_str()),
                    who.device.as_str(),
                )
                .await
                .map_err(|e| commit_err(id, &e))?;
                Ok::<PhotoRef, DemoError>(PhotoRef {
                    hash: row.hash,
                    kind,
                    taken_at: Some(at),
                    taken_point: Some(point),
                    author: who.user.clone(),
                    device: who.device.to_string(),
                    bytes: u64::try_from(row.bytes).unwrap_or(0),
                    mime: row.mime,
                    added_at: at,
                })
            };
        let seed = 11 + k as u32 * 17;
        let story: Result<(), DemoError> = async {
            let step = |h: Millis| created + h * HOUR;
            let te = |e: sync_core::task::TaskError| commit_err(id, &e);
            doc.append_event(
                &server,
                step(0),
                EventKind::Routed {
                    district: "D01".into(),
                },
            )
            .map_err(te)?;
            if k == 2 {
                doc.append_event(
                    &dispatcher,
                    step(1),
                    EventKind::MarkedDuplicate {
                        of: DocId::new(SHOWCASE_TASKS[0]).map_err(|e| commit_err(id, &e))?,
                    },
                )
                .map_err(te)?;
                return Ok::<(), DemoError>(());
            }
            doc.append_event(
                &dispatcher,
                step(1),
                EventKind::Assigned {
                    crew: "C-D01-A".into(),
                    reason: super::choice(&dispatcher),
                },
            )
            .map_err(te)?;
            doc.append_event(&crew, step(2), EventKind::Acknowledged)
                .map_err(te)?;
            let before = photo(seed, true, false, PhotoKind::Before, &crew, step(20)).await?;
            doc.add_photo(&crew, before).map_err(te)?;
            doc.append_event(&crew, step(20), EventKind::Started)
                .map_err(te)?;
            let after = photo(seed + 1, false, true, PhotoKind::After, &crew, step(22)).await?;
            let hash = after.hash.clone();
            doc.add_photo(&crew, after).map_err(te)?;
            // The first one was completed three hours ago: its feedback window is open.
            let done_at = if k == 0 { now - 3 * HOUR } else { step(24) };
            doc.append_event(&crew, done_at, EventKind::Completed { photos: vec![hash] })
                .map_err(te)?;
            doc.add_note(&crew, done_at, "Patched and rolled. (demo)")
                .map_err(te)?;
            if k == 1 {
                let at = now - 20 * HOUR;
                let evidence =
                    photo(seed + 2, true, true, PhotoKind::Evidence, &citizen, at).await?;
                doc.add_photo(
                    &citizen,
                    PhotoRef {
                        taken_at: None,
                        taken_point: None,
                        ..evidence
                    },
                )
                .map_err(te)?;
                doc.append_event(
                    &citizen,
                    at,
                    EventKind::Reopened {
                        reason: "The patch already broke; the hole is back.".into(),
                    },
                )
                .map_err(te)?;
            }
            Ok::<(), DemoError>(())
        }
        .await;
        story?;
        let view = doc.view().map_err(|e| commit_err(id, &e))?;
        let scopes = TaskScopes.scopes_of(&view);
        let changes = doc
            .automerge()
            .get_changes(&[])
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        db.commit(DocCommit {
            doc: task.clone(),
            base_seq: None,
            changes,
            snapshot: doc.save(),
            view,
            scopes,
            origin: server.device.clone(),
        })
        .await
        .map_err(|e| commit_err(id, &e))?;
        let shown = codes::display(&code.code);
        let what = [
            "completed, with before/after photos",
            "reopened by its citizen",
            "merged into T-90001",
        ][k];
        tracing::info!("demo tracking code: {shown} → task {id} ({what}); page /track/{shown}");
        out.push((id.to_owned(), shown));
    }
    Ok(out)
}

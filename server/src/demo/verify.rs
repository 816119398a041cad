//! The verification showcase: two D01 tasks with real photos, so a newcomer logged in as
//! `dispatcher-r1` finds work to verify at `/console/verify.html` at first start.
//!
//! - `T-90004`: completed, waiting for verification; its after photo carries EXIF that
//!   puts it kilometres away and weeks before the report (the photo fixture `far.jpg`),
//!   so the page shows it flagged. The photo is stored after the task is committed, so
//!   the place-and-time check runs against the task as it does for a phone's upload.
//! - `T-90005`: rejected once ("the patch is not level"), completed again and verified.
//!
//! The rejection and the verification, and a login, are written to the staff audit log.

use super::DemoError;
use super::showcase::road_photo;
use super::tasks::device;
use crate::base::config::Config;
use crate::base::time::now_millis;
use crate::domain::citizen::codes;
use crate::domain::photo::{Photos, ingest};
use crate::storage::Db;
use sync_core::outbox::content_hash;
use sync_core::session::{DocCommit, ScopePolicy, ServerStore, TaskScopes};
use sync_core::task::{
    EventKind, GeoPoint, NewTask, PhotoKind, PhotoRef, Priority, Sla, Source, TaskDoc,
};
use sync_core::{Actor, DocId, Millis, Role};

/// Ids of the verification showcase's tasks.
pub const VERIFY_TASKS: [&str; 2] = ["T-90004", "T-90005"];

/// A photo with EXIF GPS far from every demo district's centre and an EXIF time in
/// November 2026 (see `server/tests/fixtures/photos/make.sh`).
const FLAGGED_PHOTO: &[u8] = include_bytes!("../../tests/fixtures/photos/far.jpg");

const HOUR: Millis = 60 * 60 * 1000;

/// Seeds [`VERIFY_TASKS`] with their photos and a reporter's tracking code each. Returns
/// `(task, code as shown)`.
pub async fn seed_verification_showcase(
    db: &Db,
    photos: &Photos,
    config: &Config,
) -> Result<Vec<(String, String)>, DemoError> {
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
    let stories = [
        (
            VERIFY_TASKS[0],
            "Pothole by the Tajrish metro exit",
            35.7226,
            51.3349,
        ),
        (
            VERIFY_TASKS[1],
            "Sunken asphalt on Fanaei St.",
            35.7195,
            51.3402,
        ),
    ];
    let mut out = Vec::new();
    for (k, (id, title, lat, lon)) in stories.into_iter().enumerate() {
        let fail = |e: &dyn std::fmt::Display| DemoError::Commit {
            doc: id.to_owned(),
            why: e.to_string(),
        };
        let task = DocId::new(id).map_err(|e| fail(&e))?;
        let code = codes::issue(db, &task, codes::Role::Reporter).await?;
        let point = GeoPoint {
            lat,
            lon,
            accuracy_m: Some(5.0),
        };
        let created = now - (30 + 20 * k as Millis) * HOUR;
        let new = NewTask {
            id: task.clone(),
            source: Source::Citizen,
            category: "pothole".into(),
            title: title.into(),
            description: "Reported by a citizen through the 137 line.".into(),
            point,
            address: Some("Tajrish, D01".into()),
            district: None,
            priority: Priority::Normal,
            sla: Sla {
                ack_due: Some(created + 4 * HOUR),
                complete_due: Some(created + 72 * HOUR),
            },
            reopen_window_ms: config.feedback_window_ms(),
        };
        let at = |h: Millis| created + h * HOUR;
        let mut doc = TaskDoc::create(new, &server, created).map_err(|e| fail(&e))?;
        // Photos stored now (no task row yet: no flags) except the flagged one, stored
        // after the commit below.
        let mut later: Option<Vec<u8>> = None;
        let mut add = async |doc: &mut TaskDoc,
                             bytes: Vec<u8>,
                             kind: PhotoKind,
                             when: Millis,
                             store_now: bool|
               -> Result<String, DemoError> {
            let hash = content_hash(&bytes);
            let size = bytes.len() as u64;
            if store_now {
                ingest::ingest_bytes(
                    db,
                    photos,
                    bytes,
                    id,
                    Some(kind.as_str()),
                    crew.device.as_str(),
                )
                .await
                .map_err(|e| fail(&e))?;
            } else {
                later = Some(bytes);
            }
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
            .map_err(|e| fail(&e))?;
            Ok(hash)
        };
        let seed = 101 + 13 * k as u32;
        let te = |e: sync_core::task::TaskError| fail(&e);
        doc.append_event(
            &server,
            at(0),
            EventKind::Routed {
                district: "D01".into(),
            },
        )
        .map_err(te)?;
        doc.append_event(
            &dispatcher,
            at(1),
            EventKind::Assigned {
                crew: "C-D01-A".into(),
                reason: super::choice(&dispatcher),
            },
        )
        .map_err(te)?;
        doc.append_event(&crew, at(2), EventKind::Acknowledged)
            .map_err(te)?;
        add(
            &mut doc,
            road_photo(seed, true, false),
            PhotoKind::Before,
            at(5),
            true,
        )
        .await?;
        doc.append_event(&crew, at(5), EventKind::Started)
            .map_err(te)?;
        if k == 0 {
            let h = add(
                &mut doc,
                FLAGGED_PHOTO.to_vec(),
                PhotoKind::After,
                at(7),
                false,
            )
            .await?;
            doc.append_event(&crew, at(7), EventKind::Completed { photos: vec![h] })
                .map_err(te)?;
            doc.add_note(&crew, at(7), "Filled and compacted. (demo)")
                .map_err(te)?;
        } else {
            let h = add(
                &mut doc,
                road_photo(seed + 1, true, true),
                PhotoKind::After,
                at(7),
                true,
            )
            .await?;
            doc.append_event(&crew, at(7), EventKind::Completed { photos: vec![h] })
                .map_err(te)?;
            doc.append_event(
                &dispatcher,
                at(8),
                EventKind::Rejected {
                    reason: "The patch is not level with the road; the edge is still broken."
                        .into(),
                },
            )
            .map_err(te)?;
            doc.append_event(&crew, at(10), EventKind::Started)
                .map_err(te)?;
            let h = add(
                &mut doc,
                road_photo(seed + 2, false, true),
                PhotoKind::After,
                at(12),
                true,
            )
            .await?;
            doc.append_event(&crew, at(12), EventKind::Completed { photos: vec![h] })
                .map_err(te)?;
            doc.append_event(&dispatcher, at(13), EventKind::Verified)
                .map_err(te)?;
        }
        let view = doc.view().map_err(|e| fail(&e))?;
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
        .map_err(|e| fail(&e))?;
        if let Some(bytes) = later {
            ingest::ingest_bytes(db, photos, bytes, id, Some("after"), crew.device.as_str())
                .await
                .map_err(|e| fail(&e))?;
        }
        // The staff audit log a newcomer finds: the dispatcher's login and decisions.
        let who = crate::domain::audit::Who::named(
            &dispatcher.user,
            "dispatcher",
            dispatcher.device.as_str(),
        );
        if k == 0 {
            let login = serde_json::json!({"login": "dispatcher-r1", "demo": true});
            crate::domain::audit::record(db, &who, "login", None, login).await;
        } else {
            let reason = serde_json::json!({"reason": "The patch is not level with the road; the edge is still broken.", "crew": "C-D01-A", "demo": true});
            crate::domain::audit::record(db, &who, "reject", Some(id), reason).await;
            let detail = serde_json::json!({"demo": true});
            crate::domain::audit::record(db, &who, "verify", Some(id), detail).await;
        }
        let shown = codes::display(&code.code);
        tracing::info!(
            "demo tracking code: {shown} → task {id} ({}); page /track/{shown}",
            if k == 0 {
                "completed, waiting for verification, flagged after photo"
            } else {
                "rejected once, then verified"
            }
        );
        out.push((id.to_owned(), shown));
    }
    Ok(out)
}

//! The photo outbox on a device: one transaction for blob, entry and reference; surviving a
//! restart and a SIGKILL; byte ranges across chunks; back-off; never uploading twice; bad
//! input leaving nothing behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use sync_core::outbox::{Backoff, CHUNK_BYTES, OutboxError, UploadFailure, UploadState};
use sync_core::session::device::{Device, DeviceError, NewPhoto};
use sync_core::store::Store;
use sync_core::task::*;
use sync_core::{Actor, DeviceId, DocId, Role};

const T0: i64 = 1_760_000_000_000;

fn ali() -> Actor {
    Actor {
        user: "ali".into(),
        role: Role::Crew,
        crew: Some("C1".into()),
        device: DeviceId::new("phone-a").unwrap(),
    }
}

fn id(s: &str) -> DocId {
    DocId::new(s).unwrap()
}

fn found_task(n: &str) -> NewTask {
    NewTask {
        id: id(n),
        source: Source::Crew,
        category: "pothole".into(),
        title: format!("Pothole {n}"),
        description: "deep".into(),
        point: GeoPoint {
            lat: 35.7,
            lon: 51.4,
            accuracy_m: None,
        },
        address: None,
        district: Some("D1".into()),
        priority: Priority::Normal,
        sla: Sla::default(),
        reopen_window_ms: 86_400_000,
    }
}

fn photo(kind: PhotoKind) -> NewPhoto {
    NewPhoto {
        kind,
        mime: "image/jpeg".into(),
        taken_at: Some(T0),
        taken_point: Some(GeoPoint {
            lat: 35.7001,
            lon: 51.4001,
            accuracy_m: Some(5.0),
        }),
    }
}

/// Deterministic bytes of a given length (not a real image: sync-core does not decode).
fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn device_with_task(store: Store) -> Device {
    let mut d = Device::new(store, ali());
    d.create(found_task("t1"), T0).unwrap();
    d
}

#[test]
fn add_photo_writes_blob_entry_and_reference_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let data = bytes(7, CHUNK_BYTES * 2 + 123);
    let hash = {
        let mut d = device_with_task(Store::open(dir.path()).unwrap());
        let pending_before = d.pending_count().unwrap();
        let hash = d
            .add_photo(&id("t1"), photo(PhotoKind::Before), &data, T0 + 1)
            .unwrap();
        assert_eq!(hash, sync_core::outbox::content_hash(&data));
        assert!(
            d.pending_count().unwrap() > pending_before,
            "reference pending for sync"
        );
        hash
    };
    // As if the app was closed and started again.
    let d = Device::new(Store::open(dir.path()).unwrap(), ali());
    let view = d.task(&id("t1")).unwrap();
    assert_eq!(view.photos.len(), 1);
    let p = &view.photos[0];
    assert_eq!(
        (
            p.hash.as_str(),
            p.kind,
            p.bytes,
            p.author.as_str(),
            p.device.as_str()
        ),
        (
            hash.as_str(),
            PhotoKind::Before,
            data.len() as u64,
            "ali",
            "phone-a"
        )
    );
    assert_eq!(p.taken_at, Some(T0));
    let outbox = d.outbox().unwrap();
    assert_eq!(outbox.len(), 1);
    let e = &outbox[0];
    assert_eq!((e.size, e.confirmed, e.attempts), (data.len() as u64, 0, 0));
    assert_eq!(e.state, UploadState::Pending);
    assert_eq!(e.task(), Some(&id("t1")));
    assert_eq!(d.due_uploads(T0 + 1).unwrap().len(), 1);
    assert_eq!(d.photo_bytes(&hash).unwrap().unwrap(), data);
    // Ranges across chunk boundaries, at the end, and past it.
    for (off, len) in [
        (0, 10),
        (CHUNK_BYTES as u64 - 5, 10),
        (CHUNK_BYTES as u64, CHUNK_BYTES),
        (1000, CHUNK_BYTES * 3),
        (data.len() as u64 - 1, 100),
        (data.len() as u64, 100),
    ] {
        let got = d.blob_range(&hash, off, len).unwrap();
        let start = off as usize;
        let end = (start + len).min(data.len());
        assert_eq!(got, data[start..end], "range {off}+{len}");
    }
    assert!(matches!(
        d.blob_range(&hash, data.len() as u64 + 1, 1),
        Err(DeviceError::Outbox(OutboxError::BadRange { .. }))
    ));
    assert!(matches!(
        d.blob_range(&"0".repeat(64), 0, 1),
        Err(DeviceError::Outbox(OutboxError::UnknownBlob(_)))
    ));
}

#[test]
fn upload_state_machine_backs_off_completes_and_never_uploads_twice() {
    let mut d = device_with_task(Store::open_in_memory().unwrap());
    d.create(found_task("t2"), T0).unwrap();
    d.set_upload_backoff(Backoff {
        base_ms: 1000,
        max_ms: 8000,
    });
    let data = bytes(1, 5000);
    let hash = d
        .add_photo(&id("t1"), photo(PhotoKind::After), &data, T0)
        .unwrap();
    // Offline: two failures, each pushing the next attempt further.
    let e = d
        .upload_failed(&hash, T0, UploadFailure::Retry("no network".into()))
        .unwrap();
    assert_eq!(e.attempts, 1);
    assert!(d.due_uploads(T0).unwrap().is_empty());
    let first = e.next_attempt_at;
    assert!((T0 + 1000..T0 + 1251).contains(&first), "{first}");
    assert_eq!(d.next_upload_at().unwrap(), Some(first));
    let e = d
        .upload_failed(&hash, first, UploadFailure::Retry("no network".into()))
        .unwrap();
    assert!(e.next_attempt_at >= first + 2000);
    assert_eq!(e.last_error.as_deref(), Some("no network"));
    // Online: the server confirms half, then all.
    let e = d.upload_progress(&hash, 2500).unwrap();
    assert_eq!((e.confirmed, e.attempts), (2500, 0));
    d.upload_complete(&hash).unwrap();
    assert!(d.due_uploads(i64::MAX).unwrap().is_empty());
    assert_eq!(d.next_upload_at().unwrap(), None);
    // The same bytes added to another task: one blob, still uploaded, named for both.
    let again = d
        .add_photo(&id("t2"), photo(PhotoKind::Before), &data, T0 + 5)
        .unwrap();
    assert_eq!(again, hash);
    let outbox = d.outbox().unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].state, UploadState::Uploaded);
    assert_eq!(outbox[0].tasks, vec![id("t1"), id("t2")]);
    assert_eq!(d.task(&id("t2")).unwrap().photos.len(), 1);
    // Adding it to the same task again changes nothing.
    let pending = d.pending_count().unwrap();
    d.add_photo(&id("t1"), photo(PhotoKind::After), &data, T0 + 6)
        .unwrap();
    assert_eq!(d.pending_count().unwrap(), pending);
    // Uploaded bytes can be pruned; the entry stays, so nothing is re-uploaded.
    assert_eq!(d.prune_uploaded(T0 + 1).unwrap(), 1);
    assert_eq!(d.photo_bytes(&hash).unwrap(), None);
    assert!(d.due_uploads(i64::MAX).unwrap().is_empty());
}

#[test]
fn a_refused_upload_stops_until_requeued() {
    let mut d = device_with_task(Store::open_in_memory().unwrap());
    let hash = d
        .add_photo(&id("t1"), photo(PhotoKind::Before), &bytes(3, 100), T0)
        .unwrap();
    let e = d
        .upload_failed(&hash, T0, UploadFailure::Refused("not an image".into()))
        .unwrap();
    assert_eq!(
        e.state,
        UploadState::Refused {
            reason: "not an image".into()
        }
    );
    assert!(d.due_uploads(i64::MAX).unwrap().is_empty());
    d.requeue_upload(&hash, T0 + 10).unwrap();
    assert_eq!(d.due_uploads(T0 + 10).unwrap().len(), 1);
}

#[test]
fn bad_photos_leave_nothing_written() {
    let mut d = device_with_task(Store::open_in_memory().unwrap());
    let pending = d.pending_count().unwrap();
    assert!(matches!(
        d.add_photo(&id("t1"), photo(PhotoKind::Before), &[], T0),
        Err(DeviceError::Outbox(OutboxError::Empty))
    ));
    let mut not_image = photo(PhotoKind::Before);
    not_image.mime = "application/pdf".into();
    assert!(matches!(
        d.add_photo(&id("t1"), not_image, b"%PDF-1.4", T0),
        Err(DeviceError::Task(_))
    ));
    let huge = vec![0_u8; (sync_core::outbox::MAX_PHOTO_BYTES + 1) as usize];
    assert!(matches!(
        d.add_photo(&id("t1"), photo(PhotoKind::Before), &huge, T0),
        Err(DeviceError::Outbox(OutboxError::TooLarge { .. }))
    ));
    assert!(matches!(
        d.add_photo(&id("nope"), photo(PhotoKind::Before), b"x", T0),
        Err(DeviceError::UnknownTask(_))
    ));
    assert!(d.outbox().unwrap().is_empty());
    assert!(d.task(&id("t1")).unwrap().photos.is_empty());
    assert_eq!(d.pending_count().unwrap(), pending);
}

// ---------------------------------------------------------------------------------------------
// SIGKILL while adding photos: after every kill, each photo reference in the document has
// its blob and outbox entry, and each outbox entry its blob and reference.

const CHILD_DIR_ENV: &str = "TARMIM_OUTBOX_CHILD_DIR";

#[test]
fn outbox_child() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return;
    };
    let mut d = Device::new(Store::open(std::path::Path::new(&dir)).unwrap(), ali());
    if d.task(&id("t1")).is_err() {
        d.create(found_task("t1"), T0).unwrap();
    }
    let start = d.outbox().unwrap().len();
    for n in start.. {
        // Photos of a few hundred KiB: several chunks each.
        let data = bytes(n as u8, 200_000 + (n % 7) * 40_000);
        let mut data = data;
        data.extend_from_slice(&(n as u64).to_le_bytes());
        d.add_photo(&id("t1"), photo(PhotoKind::Before), &data, T0 + n as i64)
            .unwrap();
        println!("@@ OK {n}");
    }
}

#[test]
fn photos_survive_being_killed_mid_add() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acknowledged = 0_usize;
    for round in 0..8_u64 {
        let mut child = Command::new(&exe)
            .args(["outbox_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let mut lines = BufReader::new(out).lines();
        // Let it add a few photos, then kill it mid-write (wherever it is).
        let wanted = 2 + round % 3;
        let mut seen = 0;
        while seen < wanted {
            match lines.next() {
                Some(Ok(l)) if l.starts_with("@@ OK ") => {
                    seen += 1;
                    acknowledged = acknowledged.max(l[6..].parse::<usize>().unwrap() + 1);
                }
                Some(_) => {}
                None => panic!("child ended early"),
            }
        }
        std::thread::sleep(Duration::from_millis(round * 3));
        child.kill().unwrap();
        child.wait().unwrap();

        let d = Device::new(Store::open(dir.path()).unwrap(), ali());
        let refs: std::collections::BTreeSet<String> = d
            .task(&id("t1"))
            .unwrap()
            .photos
            .into_iter()
            .map(|p| p.hash)
            .collect();
        let outbox = d.outbox().unwrap();
        assert!(
            outbox.len() >= acknowledged,
            "an acknowledged photo was lost"
        );
        let entries: std::collections::BTreeSet<String> =
            outbox.iter().map(|e| e.hash.clone()).collect();
        assert_eq!(refs, entries, "references and outbox disagree");
        for e in &outbox {
            let blob = d.photo_bytes(&e.hash).unwrap().expect("entry without blob");
            assert_eq!(blob.len() as u64, e.size);
            assert_eq!(sync_core::outbox::content_hash(&blob), e.hash);
        }
    }
    assert!(acknowledged >= 8);
}

//! Photos end to end: the real server on a loopback port (SQLite and PostgreSQL + PostGIS),
//! phones that are `sync_core` devices with their outbox, and a small tus upload driver
//! over reqwest (the phones' real transport lives in the mobile bindings). Fixtures with
//! real EXIF are in `tests/fixtures/photos/` (made by its `make.sh`). Every bad input of
//! issue 4 has its own test; the storage suite runs on the file system and on a real
//! S3-compatible server (moto, started here on a free port).

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::domain::identity::{UserRole, hash_password};
use server::domain::photo::storage::{BlobStore, FsStore, S3Settings, S3Store, Storage};
use server::domain::sync::{decode_frames, encode_frames};
use server::http::{AppState, RunningServer};
use server::storage::Db;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use sync_core::outbox::{UploadFailure, UploadState, content_hash};
use sync_core::session::device::{Device, NewPhoto};
use sync_core::store::Store;
use sync_core::task::*;
use sync_core::{Actor, DeviceId, DocId, Role};
use tarmim_testing::Fixture;
use tarmim_testing::on_both_backends;

const PASSWORD: &str = "pass-word-1";
/// 2026-11-20 06:00 UTC: when the test task was created (the fixtures' EXIF times are
/// 06:45 and 06:50 UTC that day, and 2020 for `early.jpg`).
const TASK_CREATED: i64 = 1_795_154_400_000;
/// The test task's point (Tehran).
const TASK_POINT: (f64, f64) = (35.6892, 51.3890);
const TUS: &str = "1.0.0";

pub(super) fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/photos")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn id(s: &str) -> DocId {
    DocId::new(s).unwrap()
}

// ------------------------------------------------------------------ seeding

/// Crews C1 (D1) and C2 (D2); dispatchers of D1 and of D2; a manager of D1.
pub(super) async fn seed_people(db: &Db) {
    for (c, d) in [("C1", "D1"), ("C2", "D2")] {
        tarmim_testing::add_crew(db, c, d, &["pothole"]).await;
    }
    let hash = hash_password(PASSWORD).unwrap();
    for (uid, login, role, crew, districts) in [
        ("u-crew1", "crew1", UserRole::Crew, Some("C1"), vec![]),
        ("u-crew2", "crew2", UserRole::Crew, Some("C2"), vec![]),
        (
            "u-disp1",
            "disp1",
            UserRole::Dispatcher,
            None,
            vec!["D1".to_owned()],
        ),
        (
            "u-disp2",
            "disp2",
            UserRole::Dispatcher,
            None,
            vec!["D2".to_owned()],
        ),
        (
            "u-man",
            "manager",
            UserRole::Manager,
            None,
            vec!["D1".to_owned()],
        ),
    ] {
        tarmim_testing::add_user(db, uid, login, &hash, role, crew, districts).await;
    }
}

/// Task `n` in district D1 at [`TASK_POINT`], created at [`TASK_CREATED`], assigned to C1.
async fn seed_task(db: &Db, n: &str) {
    seed_task_in(db, n, "D1", "C1").await;
}

/// Photo `hash` referenced in task `task`'s document by `who` (as its phone would sync
/// it): a task shows a photo only when its document references it.
pub(super) async fn reference(db: &Db, task: &str, who: &Actor, hash: &str, kind: PhotoKind) {
    use sync_core::session::{DocCommit, ScopePolicy, ServerStore, TaskScopes};
    let stored = db.load(&id(task)).await.unwrap().unwrap();
    let mut t = TaskDoc::load(&stored.bytes).unwrap();
    let heads = t.heads();
    t.add_photo(
        who,
        PhotoRef {
            hash: hash.to_owned(),
            kind,
            taken_at: None,
            taken_point: None,
            author: who.user.clone(),
            device: who.device.to_string(),
            bytes: 1,
            mime: "image/jpeg".into(),
            added_at: TASK_CREATED + 60_000,
        },
    )
    .unwrap();
    let view = t.view().unwrap();
    let changes = t
        .automerge()
        .get_changes(&heads)
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    db.commit(DocCommit {
        doc: view.id.clone(),
        base_seq: Some(stored.seq),
        changes,
        snapshot: t.save(),
        scopes: TaskScopes.scopes_of(&view),
        view,
        origin: who.device.clone(),
    })
    .await
    .unwrap();
}

/// Task `n` in `district`, assigned to `crew` (else as [`seed_task`]).
async fn seed_task_in(db: &Db, n: &str, district: &str, crew: &str) {
    let d = Actor {
        user: "u-disp1".into(),
        role: Role::Dispatcher,
        crew: None,
        device: DeviceId::new("console-seed").unwrap(),
    };
    let mut t = TaskDoc::create(
        NewTask {
            id: id(n),
            source: Source::Citizen,
            category: "pothole".into(),
            title: format!("Pothole {n}"),
            description: "deep".into(),
            point: GeoPoint {
                lat: TASK_POINT.0,
                lon: TASK_POINT.1,
                accuracy_m: None,
            },
            address: None,
            district: Some(district.into()),
            priority: Priority::Normal,
            sla: Sla::default(),
            reopen_window_ms: 86_400_000,
        },
        &d,
        TASK_CREATED,
    )
    .unwrap();
    t.append_event(
        &d,
        TASK_CREATED + 1,
        EventKind::Assigned {
            crew: crew.into(),
            reason: "seed".into(),
        },
    )
    .unwrap();
    tarmim_testing::commit_new(db, &mut t, "server").await;
}

async fn start(f: &Fixture) -> RunningServer {
    start_state(AppState::new(f.db.clone(), f.config.clone())).await
}

pub(super) async fn start_state(state: AppState) -> RunningServer {
    seed_people(&state.db).await;
    seed_task(&state.db, "T1").await;
    RunningServer::start(state, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

pub(super) async fn login(addr: SocketAddr, login: &str, device: &str) -> (String, Actor) {
    tarmim_testing::login_actor(addr, login, PASSWORD, device).await
}

// ------------------------------------------------------------------ the tus driver

/// A tiny tus client: what the mobile bindings' transport does, over reqwest.
pub(super) struct Tus {
    base: String,
    token: String,
    http: reqwest::Client,
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

impl Tus {
    pub(super) fn new(addr: SocketAddr, token: &str) -> Tus {
        Tus {
            base: format!("http://{addr}"),
            token: token.to_owned(),
            http: tarmim_testing::http(),
        }
    }

    async fn create_raw(&self, length: u64, metadata: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/api/v1/photos/uploads", self.base))
            .bearer_auth(&self.token)
            .header("Tus-Resumable", TUS)
            .header("Upload-Length", length.to_string())
            .header("Upload-Metadata", metadata)
            .send()
            .await
            .unwrap()
    }

    async fn create(&self, hash: &str, task: &str, mime: &str, length: u64) -> reqwest::Response {
        let meta = format!(
            "sha256 {},task {},filetype {}",
            b64(hash),
            b64(task),
            b64(mime)
        );
        self.create_raw(length, &meta).await
    }

    async fn head(&self, hash: &str) -> reqwest::Response {
        self.http
            .head(format!("{}/api/v1/photos/uploads/{hash}", self.base))
            .bearer_auth(&self.token)
            .header("Tus-Resumable", TUS)
            .send()
            .await
            .unwrap()
    }

    async fn patch(&self, hash: &str, offset: u64, body: Vec<u8>) -> reqwest::Response {
        self.http
            .patch(format!("{}/api/v1/photos/uploads/{hash}", self.base))
            .bearer_auth(&self.token)
            .header("Tus-Resumable", TUS)
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", offset.to_string())
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Sends a PATCH whose body stops after `send` of its announced `announce` bytes: the
    /// connection then closes, as when a phone loses its network mid-upload.
    fn patch_cut(&self, hash: &str, offset: u64, bytes: &[u8], send: usize) {
        let addr = self.base.trim_start_matches("http://").to_owned();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let head = format!(
            "PATCH /api/v1/photos/uploads/{hash} HTTP/1.1\r\nHost: x\r\n\
             Authorization: Bearer {}\r\nTus-Resumable: {TUS}\r\n\
             Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\n\
             Content-Length: {}\r\n\r\n",
            self.token,
            bytes.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&bytes[..send]).unwrap();
        s.flush().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        drop(s);
    }

    /// The server's offset, waiting until it is at least `min` (a cut connection is
    /// noticed by the server shortly after it closes).
    async fn offset_at_least(&self, hash: &str, min: u64) -> u64 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let r = self.head(hash).await;
            assert_eq!(r.status(), StatusCode::OK);
            let n = offset_of(&r);
            if n >= min {
                return n;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "offset stuck at {n}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Uploads everything the device's outbox has due, chunk by chunk, reporting progress;
    /// the first blob's first attempt is cut half way.
    async fn drain_outbox(&self, dev: &mut Device, now: i64, cut_first: bool) -> usize {
        let mut uploaded = 0;
        let mut cut = cut_first;
        for e in dev.due_uploads(now).unwrap() {
            let task = e.task().unwrap().to_string();
            let r = self.create(&e.hash, &task, &e.mime, e.size).await;
            assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
            let mut offset = offset_of(&r);
            dev.upload_progress(&e.hash, offset).unwrap();
            if cut && offset < e.size {
                cut = false;
                let rest = dev.blob_range(&e.hash, offset, usize::MAX).unwrap();
                let half = rest.len() / 2;
                self.patch_cut(&e.hash, offset, &rest, half);
                dev.upload_failed(&e.hash, now, UploadFailure::Retry("connection lost".into()))
                    .unwrap();
                // Resuming: ask the server where it stands.
                offset = self.offset_at_least(&e.hash, offset + half as u64).await;
                assert_eq!(offset, half as u64, "the bytes before the cut are kept");
                dev.upload_progress(&e.hash, offset).unwrap();
            }
            while offset < e.size {
                let chunk = dev.blob_range(&e.hash, offset, 2048).unwrap();
                let r = self.patch(&e.hash, offset, chunk).await;
                assert_eq!(r.status(), StatusCode::NO_CONTENT, "{:?}", r.text().await);
                offset = offset_of(&r);
                dev.upload_progress(&e.hash, offset).unwrap();
            }
            dev.upload_complete(&e.hash).unwrap();
            uploaded += 1;
        }
        uploaded
    }
}

fn offset_of(r: &reqwest::Response) -> u64 {
    r.headers()
        .get("upload-offset")
        .unwrap_or_else(|| panic!("no Upload-Offset in {r:?}"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// One sync round trip over the HTTP fallback.
async fn sync_once(addr: SocketAddr, token: &str, dev: &mut Device) {
    let frames = dev.connect().unwrap();
    let r = tarmim_testing::http()
        .post(format!("http://{addr}/api/v1/sync/exchange"))
        .bearer_auth(token)
        .body(encode_frames(&frames))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.bytes().await.unwrap();
    for f in decode_frames(&body).unwrap() {
        dev.on_frame(f).unwrap();
    }
    dev.disconnect();
}

/// Whether a JPEG carries metadata: any APPn segment but the JFIF APP0, a COM segment, or
/// the signatures of EXIF, XMP, IPTC or ICC anywhere in the bytes.
fn metadata_in_jpeg(b: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for sig in [
        &b"Exif\0"[..],
        b"http://ns.adobe.com/xap",
        b"Photoshop 3.0",
        b"ICC_PROFILE",
        b"fixture",
        b"FixtureCam",
    ] {
        if b.windows(sig.len()).any(|w| w == sig) {
            found.push(String::from_utf8_lossy(sig).into_owned());
        }
    }
    // Walk the segments up to the first scan.
    let mut i = 2;
    while i + 4 <= b.len() && b[i] == 0xFF {
        let m = b[i + 1];
        if m == 0xDA {
            break;
        }
        if (0xE1..=0xEF).contains(&m) || m == 0xFE {
            found.push(format!("segment FF{m:02X}"));
        }
        i += 2 + usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
    }
    found
}

async fn fetch_public(addr: SocketAddr, hash: &str, variant: &str) -> reqwest::Response {
    tarmim_testing::http()
        .get(format!("http://{addr}/api/v1/photos/{hash}/{variant}"))
        .send()
        .await
        .unwrap()
}

// ------------------------------------------------------------------ the whole path

/// A crew phone adds before and after photos offline, reconnects and syncs, uploads both
/// through an interrupted and resumed upload; an anonymous client then fetches the public
/// derivatives, which decode, are upright, and carry no EXIF, XMP or IPTC bytes.
async fn whole_path_offline_photos_to_public_derivatives(f: &Fixture) {
    let srv = start(f).await;
    let addr = srv.addr;
    let (token, actor) = login(addr, "crew1", "phone-1").await;
    let dir = tempfile::tempdir().unwrap();
    let mut dev = Device::new(Store::open(dir.path()).unwrap(), actor);
    sync_once(addr, &token, &mut dev).await;
    assert_eq!(dev.list().unwrap().len(), 1, "the crew's task arrived");

    // Offline: start with a before photo, finish with an after photo.
    let t = TASK_CREATED + 3_600_000;
    let before_bytes = fixture("near.jpg");
    let after_bytes = fixture("rotated.jpg");
    dev.edit(&id("T1"), t, |d, a| {
        d.append_event(a, t, EventKind::Started)
    })
    .unwrap();
    let before = dev
        .add_photo(
            &id("T1"),
            NewPhoto {
                kind: PhotoKind::Before,
                mime: "image/jpeg".into(),
                taken_at: Some(t),
                taken_point: None,
            },
            &before_bytes,
            t + 1,
        )
        .unwrap();
    let after = dev
        .add_photo(
            &id("T1"),
            NewPhoto {
                kind: PhotoKind::After,
                mime: "image/jpeg".into(),
                taken_at: Some(t + 60_000),
                taken_point: None,
            },
            &after_bytes,
            t + 60_001,
        )
        .unwrap();
    dev.edit(&id("T1"), t + 60_002, |d, a| {
        d.append_event(
            a,
            t + 60_002,
            EventKind::Completed {
                photos: vec![after.clone()],
            },
        )
    })
    .unwrap();
    // Still offline: nothing is public yet.
    assert_eq!(
        fetch_public(addr, &before, "thumb").await.status(),
        StatusCode::NOT_FOUND
    );

    // Back online: the references sync first, then the blobs upload.
    sync_once(addr, &token, &mut dev).await;
    assert_eq!(
        dev.pending_count().unwrap(),
        0,
        "the references were acknowledged"
    );
    let tus = Tus::new(addr, &token);
    assert_eq!(tus.drain_outbox(&mut dev, t + 70_000, true).await, 2);
    assert!(dev.due_uploads(i64::MAX).unwrap().is_empty());
    assert!(
        dev.outbox()
            .unwrap()
            .iter()
            .all(|e| e.state == UploadState::Uploaded)
    );

    // Anyone may now fetch the derivatives.
    for (hash, (w, h)) in [(&before, (64, 48)), (&after, (48, 64))] {
        for variant in ["thumb", "display"] {
            let r = fetch_public(addr, hash, variant).await;
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.headers()["content-type"], "image/jpeg");
            assert!(
                r.headers()["cache-control"]
                    .to_str()
                    .unwrap()
                    .contains("immutable")
            );
            let etag = r.headers()["etag"].to_str().unwrap().to_owned();
            let bytes = r.bytes().await.unwrap();
            let img = image::load_from_memory(&bytes).unwrap();
            assert_eq!((img.width(), img.height()), (w, h), "{variant} is upright");
            assert_eq!(metadata_in_jpeg(&bytes), Vec::<String>::new(), "{variant}");
            // Revalidation costs nothing.
            let again = tarmim_testing::http()
                .get(format!("http://{addr}/api/v1/photos/{hash}/{variant}"))
                .header("If-None-Match", &etag)
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        }
    }
    // The originals did carry metadata: the derivatives dropped it.
    assert!(!metadata_in_jpeg(&before_bytes).is_empty());

    // Uploading an existing blob again is a no-op.
    let r = tus
        .create(&before, "T1", "image/jpeg", before_bytes.len() as u64)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(offset_of(&r), before_bytes.len() as u64);
    srv.shutdown().await.unwrap();
}

// ------------------------------------------------------------------ the EXIF flag

pub(super) async fn upload_whole(tus: &Tus, bytes: &[u8], mime: &str) -> reqwest::Response {
    let hash = content_hash(bytes);
    let r = tus.create(&hash, "T1", mime, bytes.len() as u64).await;
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    tus.patch(&hash, 0, bytes.to_vec()).await
}

async fn meta_as(addr: SocketAddr, token: &str, hash: &str) -> reqwest::Response {
    tarmim_testing::http()
        .get(format!("http://{addr}/api/v1/photos/{hash}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Real EXIF GPS and time: near and after the task → no flag; 3 km away → far; taken in
/// 2020 → before the task.
async fn exif_place_and_time_flags(f: &Fixture) {
    let srv = start(f).await;
    let addr = srv.addr;
    let (crew, crew_actor) = login(addr, "crew1", "phone-1").await;
    let (disp, _) = login(addr, "disp1", "console-1").await;
    let tus = Tus::new(addr, &crew);
    for (name, far, early, max_d) in [
        ("near.jpg", false, false, 100.0),
        ("far.jpg", true, false, 10_000.0),
        ("early.jpg", false, true, 100.0),
    ] {
        let bytes = fixture(name);
        let r = upload_whole(&tus, &bytes, "image/jpeg").await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{name}");
        let h = content_hash(&bytes);
        reference(&f.db, "T1", &crew_actor, &h, PhotoKind::Before).await;
        let r = meta_as(addr, &disp, &h).await;
        assert_eq!(r.status(), StatusCode::OK);
        let m: Value = r.json().await.unwrap();
        assert_eq!(m["far_from_task"], far, "{name}: {m}");
        assert_eq!(m["before_task"], early, "{name}: {m}");
        assert!(m["exif_lat"].as_f64().unwrap() > 35.0, "{name}: {m}");
        assert!(m["distance_m"].as_f64().unwrap() < max_d, "{name}: {m}");
        assert!(m["exif_taken_at"].as_i64().is_some(), "{name}: {m}");
    }
    let near = content_hash(&fixture("near.jpg"));
    let m: Value = meta_as(addr, &disp, &near).await.json().await.unwrap();
    // 10:15 at +03:30 is 06:45 UTC.
    assert_eq!(m["exif_taken_at"], TASK_CREATED + 45 * 60_000);
    // A photo without EXIF is not flagged.
    let plain = fixture("plain.png");
    assert_eq!(
        upload_whole(&tus, &plain, "image/png").await.status(),
        StatusCode::NO_CONTENT
    );
    reference(
        &f.db,
        "T1",
        &crew_actor,
        &content_hash(&plain),
        PhotoKind::Before,
    )
    .await;
    let m: Value = meta_as(addr, &disp, &content_hash(&plain))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (m["far_from_task"].clone(), m["before_task"].clone()),
        (json!(false), json!(false))
    );
    assert_eq!(m["exif_lat"], Value::Null);
    srv.shutdown().await.unwrap();
}

/// Originals: dispatchers and managers of the task's district only.
async fn originals_are_private(f: &Fixture) {
    let srv = start(f).await;
    let addr = srv.addr;
    let (crew, crew_actor) = login(addr, "crew1", "phone-1").await;
    let bytes = fixture("near.jpg");
    let hash = content_hash(&bytes);
    let tus = Tus::new(addr, &crew);
    assert_eq!(
        upload_whole(&tus, &bytes, "image/jpeg").await.status(),
        StatusCode::NO_CONTENT
    );
    reference(&f.db, "T1", &crew_actor, &hash, PhotoKind::Before).await;
    let url = format!("http://{addr}/api/v1/photos/{hash}/original");
    let http = tarmim_testing::http();
    assert_eq!(
        http.get(&url).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    for (who, dev, want) in [
        ("crew1", "phone-1", StatusCode::FORBIDDEN),
        ("disp2", "console-2", StatusCode::FORBIDDEN),
        ("disp1", "console-1", StatusCode::OK),
        ("manager", "console-m", StatusCode::OK),
    ] {
        let (token, _) = login(addr, who, dev).await;
        let r = http.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), want, "{who}");
        if want == StatusCode::OK {
            assert_eq!(r.headers()["cache-control"], "private, no-store");
            assert_eq!(
                r.bytes().await.unwrap().to_vec(),
                bytes,
                "the original, intact"
            );
        }
    }
    srv.shutdown().await.unwrap();
}

// ------------------------------------------------------------------ bad input, one by one

pub(super) async fn crew_tus(f: &Fixture) -> (RunningServer, Tus) {
    let srv = start(f).await;
    let (token, _) = login(srv.addr, "crew1", "phone-1").await;
    let tus = Tus::new(srv.addr, &token);
    (srv, tus)
}

async fn error_of(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (
        status,
        body["message"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Nothing is kept of a refused upload: no photo, no partial upload.
async fn assert_nothing_kept(tus: &Tus, addr: SocketAddr, hash: &str) {
    assert_eq!(tus.head(hash).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        fetch_public(addr, hash, "thumb").await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn truncated_jpeg_is_refused(f: &Fixture) {
    let (srv, tus) = crew_tus(f).await;
    let whole = fixture("near.jpg");
    let cut = &whole[..whole.len() * 2 / 3];
    let (status, msg) = error_of(upload_whole(&tus, cut, "image/jpeg").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(msg.contains("truncated"), "{msg}");
    assert_nothing_kept(&tus, srv.addr, &content_hash(cut)).await;
    srv.shutdown().await.unwrap();
}

async fn png_decompression_bomb_is_refused(f: &Fixture) {
    let (srv, tus) = crew_tus(f).await;
    let bomb = fixture("bomb.png");
    let (status, msg) = error_of(upload_whole(&tus, &bomb, "image/png").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(msg.contains("20000 × 20000"), "{msg}");
    assert_nothing_kept(&tus, srv.addr, &content_hash(&bomb)).await;
    srv.shutdown().await.unwrap();
}

async fn file_lying_about_its_type_is_refused(f: &Fixture) {
    let (srv, tus) = crew_tus(f).await;
    // A JPEG declared as PNG.
    let jpeg = fixture("near.jpg");
    let (status, msg) = error_of(upload_whole(&tus, &jpeg, "image/png").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(msg.contains("declared image/png"), "{msg}");
    assert_nothing_kept(&tus, srv.addr, &content_hash(&jpeg)).await;
    // A script declared as a JPEG.
    let script = b"<script>alert(1)</script> not a photo at all".to_vec();
    let (status, msg) = error_of(upload_whole(&tus, &script, "image/jpeg").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(msg.contains("not an image"), "{msg}");
    srv.shutdown().await.unwrap();
}

async fn zero_byte_upload_is_refused(f: &Fixture) {
    let (srv, tus) = crew_tus(f).await;
    let hash = content_hash(b"");
    let (status, msg) = error_of(tus.create(&hash, "T1", "image/jpeg", 0).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(msg.contains("empty"), "{msg}");
    assert_eq!(tus.head(&hash).await.status(), StatusCode::NOT_FOUND);
    srv.shutdown().await.unwrap();
}

async fn hash_mismatch_is_refused(f: &Fixture) {
    let (srv, tus) = crew_tus(f).await;
    let bytes = fixture("near.jpg");
    // The address of other bytes of the same length.
    let mut other = bytes.clone();
    other[100] ^= 1;
    let claimed = content_hash(&other);
    let r = tus
        .create(&claimed, "T1", "image/jpeg", bytes.len() as u64)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = tus.patch(&claimed, 0, bytes.clone()).await;
    assert_eq!(r.status().as_u16(), 460);
    assert!(error_of(r).await.1.contains(&content_hash(&bytes)));
    assert_nothing_kept(&tus, srv.addr, &claimed).await;
    srv.shutdown().await.unwrap();
}

async fn upload_for_a_task_out_of_scope_is_refused(f: &Fixture) {
    let srv = start(f).await;
    let (token, _) = login(srv.addr, "crew2", "phone-2").await;
    let tus = Tus::new(srv.addr, &token);
    let bytes = fixture("near.jpg");
    let hash = content_hash(&bytes);
    let (status, msg) = error_of(
        tus.create(&hash, "T1", "image/jpeg", bytes.len() as u64)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(msg.contains("scope"), "{msg}");
    // A task the server does not know (yet): retry after sync.
    let (status, _) = error_of(
        tus.create(&hash, "T-404", "image/jpeg", bytes.len() as u64)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Nor can C2 continue an upload C1 began for C1's task.
    let (crew1, _) = login(srv.addr, "crew1", "phone-1").await;
    let c1 = Tus::new(srv.addr, &crew1);
    assert_eq!(
        c1.create(&hash, "T1", "image/jpeg", bytes.len() as u64)
            .await
            .status(),
        StatusCode::CREATED
    );
    let r = tus.patch(&hash, 0, bytes.clone()).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Without a token at all.
    let anon = Tus::new(srv.addr, "tmm_nope");
    assert_eq!(
        anon.create(&hash, "T1", "image/jpeg", 10).await.status(),
        StatusCode::UNAUTHORIZED
    );
    srv.shutdown().await.unwrap();
}

async fn upload_that_stops_halfway_resumes(f: &Fixture) {
    let (srv, tus) = crew_tus(f).await;
    let bytes = fixture("near.jpg");
    let hash = content_hash(&bytes);
    let r = tus
        .create(&hash, "T1", "image/jpeg", bytes.len() as u64)
        .await;
    assert_eq!(offset_of(&r), 0);
    let half = bytes.len() / 2;
    tus.patch_cut(&hash, 0, &bytes, half);
    let offset = tus.offset_at_least(&hash, half as u64).await;
    assert_eq!(offset, half as u64);
    // Creating again (an app restarted) answers the same offset.
    let r = tus
        .create(&hash, "T1", "image/jpeg", bytes.len() as u64)
        .await;
    assert_eq!(offset_of(&r), half as u64);
    let r = tus.patch(&hash, offset, bytes[half..].to_vec()).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(offset_of(&r), bytes.len() as u64);
    assert_eq!(
        fetch_public(srv.addr, &hash, "display").await.status(),
        StatusCode::OK
    );
    srv.shutdown().await.unwrap();
}

/// A PNG of noise, about 700 KB: three chunks of the upload area.
fn noisy_png() -> Vec<u8> {
    let mut x: u32 = 0x2545_F491;
    let img = image::RgbImage::from_fn(480, 480, |_, _| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let [a, b, c, _] = x.to_le_bytes();
        image::Rgb([a, b, c])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Issue 21 §6: partial uploads are in the shared database, so an upload begun on one
/// replica resumes on another (with a disk of its own) at the byte the first had reached.
/// (A replica killed mid-upload: `tests/suites/replicas.sh`.)
async fn upload_resumes_on_another_replica(f: &Fixture) {
    let (a, tus_a) = crew_tus(f).await;
    let mut config_b = f.config.clone();
    config_b.data_dir = f.config.data_dir.join("replica-b");
    let b = RunningServer::start(
        AppState::new(f.db.clone(), config_b),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let bytes = noisy_png();
    assert!(bytes.len() > 2 * server::domain::photo::upload::CHUNK);
    let hash = content_hash(&bytes);
    let r = tus_a
        .create(&hash, "T1", "image/png", bytes.len() as u64)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let sent = bytes.len() - 100_000;
    tus_a.patch_cut(&hash, 0, &bytes, sent);
    assert_eq!(tus_a.offset_at_least(&hash, sent as u64).await, sent as u64);

    // The same phone's token works on every replica (one database).
    let tus_b = Tus {
        base: format!("http://{}", b.addr),
        token: tus_a.token.clone(),
        http: tarmim_testing::http(),
    };
    let r = tus_b.head(&hash).await;
    assert_eq!(offset_of(&r), sent as u64, "replica b sees what a received");
    let r = tus_b
        .patch(&hash, sent as u64, bytes[sent..].to_vec())
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(offset_of(&r), bytes.len() as u64);
    let stored = server::storage::photos::photo(&f.db, &hash)
        .await
        .unwrap()
        .expect("the photo is stored");
    assert_eq!(stored.bytes, bytes.len() as i64);
    assert_eq!(
        fetch_public(b.addr, &hash, "display").await.status(),
        StatusCode::OK
    );
    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}

/// Two replicas appending to one upload at once (each with its own lock): the one that
/// writes second finds the offset moved under it, writes nothing and is told to ask
/// again (409); the bytes stay in order and the photo is stored whole.
async fn two_replicas_appending_at_once_keep_one(f: &Fixture) {
    use futures_util::StreamExt;
    use server::domain::photo::tus::{self, NewUpload, TusError, Uploader};
    use server::domain::photo::{PhotoSettings, Photos};
    use sync_core::session::ServerStore;
    seed_people(&f.db).await;
    seed_task(&f.db, "T1").await;
    let replica = || {
        Photos::new(
            Storage::Fs(FsStore::new(f.config.data_dir.join("photos"))),
            PhotoSettings::from_config(&f.config),
            server::domain::photo::upload::UploadArea::new(),
        )
    };
    let (a, b) = (replica(), replica());
    let who = Uploader {
        device: "phone-1".into(),
        user_id: "u-crew1".into(),
        scopes: f.db.doc_scopes(&id("T1")).await.unwrap(),
    };
    let bytes = fixture("near.jpg");
    let hash = content_hash(&bytes);
    let new = NewUpload {
        hash: hash.clone(),
        task: "T1".into(),
        mime: "image/jpeg".into(),
        kind: None,
        length: bytes.len() as u64,
    };
    tus::create(&f.db, &a, &who, new).await.unwrap();

    // a takes the first 500 bytes at offset 0 and holds them until told to go on.
    let (go, wait) = tokio::sync::oneshot::channel::<()>();
    let first = bytes::Bytes::copy_from_slice(&bytes[..500]);
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(first)]).chain(
        futures_util::stream::once(async move {
            let _ = wait.await;
            Ok(bytes::Bytes::new())
        }),
    );
    let slow = {
        let (db, a, who, hash) = (f.db.clone(), a.clone(), who.clone(), hash.clone());
        tokio::spawn(async move { tus::append(&db, &a, &who, &hash, 0, body).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Meanwhile b appends 1,000 bytes at offset 0.
    let head = futures_util::stream::iter([Ok::<_, std::io::Error>(
        bytes::Bytes::copy_from_slice(&bytes[..1000]),
    )]);
    let p = tus::append(&f.db, &b, &who, &hash, 0, head).await.unwrap();
    assert_eq!(p.offset, 1000);
    go.send(()).unwrap();
    let late = slow.await.unwrap();
    assert!(matches!(late, Err(TusError::Writing)), "{late:?}");
    assert_eq!(tus::progress(&f.db, &a, &hash).await.unwrap().offset, 1000);
    // Either replica finishes it from there.
    let rest = futures_util::stream::iter([Ok::<_, std::io::Error>(
        bytes::Bytes::copy_from_slice(&bytes[1000..]),
    )]);
    let p = tus::append(&f.db, &a, &who, &hash, 1000, rest)
        .await
        .unwrap();
    assert_eq!(p.offset, bytes.len() as u64);
    let stored = server::storage::photos::photo(&f.db, &hash)
        .await
        .unwrap()
        .expect("stored whole (the hash check passed)");
    assert_eq!(stored.bytes, bytes.len() as i64);
}

async fn upload_resuming_at_a_wrong_offset_is_refused(f: &Fixture) {
    let (srv, tus) = crew_tus(f).await;
    let bytes = fixture("near.jpg");
    let hash = content_hash(&bytes);
    tus.create(&hash, "T1", "image/jpeg", bytes.len() as u64)
        .await;
    let r = tus.patch(&hash, 0, bytes[..1000].to_vec()).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    for wrong in [0_u64, 999, 1001, 5000] {
        let r = tus
            .patch(&hash, wrong, bytes[wrong as usize..].to_vec())
            .await;
        assert_eq!(r.status(), StatusCode::CONFLICT, "offset {wrong}");
        assert_eq!(offset_of(&r), 1000, "the answer tells the right offset");
    }
    // Nothing was written by the refused requests.
    assert_eq!(tus.offset_at_least(&hash, 0).await, 1000);
    let r = tus.patch(&hash, 1000, bytes[1000..].to_vec()).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    srv.shutdown().await.unwrap();
}

async fn heic_is_unsupported(f: &Fixture) {
    let (srv, tus) = crew_tus(f).await;
    let mut heic = vec![0, 0, 0, 0x18];
    heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
    heic.extend_from_slice(&[0; 64]);
    let hash = content_hash(&heic);
    let (status, msg) = error_of(
        tus.create(&hash, "T1", "image/heic", heic.len() as u64)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(msg.contains("HEIC"), "{msg}");
    // HEIC bytes declared as JPEG.
    let (status, msg) = error_of(upload_whole(&tus, &heic, "image/jpeg").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(msg.contains("HEIC"), "{msg}");
    srv.shutdown().await.unwrap();
}

async fn protocol_violations_are_refused(f: &Fixture) {
    let (srv, tus) = crew_tus(f).await;
    let addr = srv.addr;
    let http = tarmim_testing::http();
    let bytes = fixture("near.jpg");
    let hash = content_hash(&bytes);
    // Discovery.
    let r = http
        .request(
            reqwest::Method::OPTIONS,
            format!("http://{addr}/api/v1/photos/uploads"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["tus-version"], TUS);
    assert_eq!(r.headers()["tus-extension"], "creation");
    // No Tus-Resumable.
    let r = http
        .post(format!("http://{addr}/api/v1/photos/uploads"))
        .bearer_auth(&tus.token)
        .header("Upload-Length", "10")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(r.headers()["tus-resumable"], TUS);
    // Over the per-blob limit.
    let (status, _) = error_of(tus.create(&hash, "T1", "image/jpeg", 1 << 40).await).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Malformed metadata and lengths.
    for (len, meta) in [
        ("10", "sha256 !!!,task VDE=,filetype aW1hZ2UvanBlZw=="),
        (
            "10",
            &format!("task VDE=,filetype aW1hZ2UvanBlZw==,sha256 {}", b64("abc")),
        ),
        (
            "-1",
            &format!("sha256 {},task VDE=,filetype aW1hZ2UvanBlZw==", b64(&hash)),
        ),
    ] {
        let r = http
            .post(format!("http://{addr}/api/v1/photos/uploads"))
            .bearer_auth(&tus.token)
            .header("Tus-Resumable", TUS)
            .header("Upload-Length", len)
            .header("Upload-Metadata", meta)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{meta}");
    }
    // A PATCH without the tus content type.
    tus.create(&hash, "T1", "image/jpeg", bytes.len() as u64)
        .await;
    let r = http
        .patch(format!("http://{addr}/api/v1/photos/uploads/{hash}"))
        .bearer_auth(&tus.token)
        .header("Tus-Resumable", TUS)
        .header("Upload-Offset", "0")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // A body past the declared length.
    let mut long = bytes.clone();
    long.extend_from_slice(b"extra");
    let r = tus.patch(&hash, 0, long).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // An upload that was never created.
    let r = tus.patch(&content_hash(b"never"), 0, b"x".to_vec()).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    srv.shutdown().await.unwrap();
}

async fn device_quota_is_enforced(f: &Fixture) {
    let mut config = f.config.clone();
    config.photo_device_quota_bytes = 10_000;
    let srv = start_state(AppState::new(f.db.clone(), config)).await;
    let (token, _) = login(srv.addr, "crew1", "phone-1").await;
    let tus = Tus::new(srv.addr, &token);
    let a = content_hash(b"a");
    let b = content_hash(b"b");
    assert_eq!(
        tus.create(&a, "T1", "image/jpeg", 6_000).await.status(),
        StatusCode::CREATED
    );
    let (status, _) = error_of(tus.create(&b, "T1", "image/jpeg", 6_000).await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    srv.shutdown().await.unwrap();
}

async fn abandoned_upload_expires_and_frees_the_quota(f: &Fixture) {
    let mut config = f.config.clone();
    config.photo_device_quota_bytes = 10_000;
    config.photo_upload_ttl_hours = 24;
    let state = AppState::new(f.db.clone(), config);
    let srv = start_state(state.clone()).await;
    let (token, _) = login(srv.addr, "crew1", "phone-1").await;
    let tus = Tus::new(srv.addr, &token);
    let a = content_hash(b"abandoned");
    let b = content_hash(b"b");
    assert_eq!(
        tus.create(&a, "T1", "image/jpeg", 6_000).await.status(),
        StatusCode::CREATED
    );
    let r = tus.patch(&a, 0, vec![0xFF; 1_000]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (status, _) = error_of(tus.create(&b, "T1", "image/jpeg", 6_000).await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // Young: kept.
    let now = server::base::time::now_millis();
    let swept = server::domain::photo::expire::sweep(&state.db, &state.photos, now)
        .await
        .unwrap();
    assert_eq!(swept.expired, 0);
    assert_eq!(offset_of(&tus.head(&a).await), 1_000);

    // A day and an hour later, untouched: gone, with its bytes and its quota.
    let later = now + 25 * 3_600_000;
    let swept = server::domain::photo::expire::sweep(&state.db, &state.photos, later)
        .await
        .unwrap();
    assert_eq!(swept.expired, 1, "{swept:?}");
    assert_eq!(tus.head(&a).await.status(), StatusCode::NOT_FOUND);
    let chunks: i64 = match &f.db {
        Db::Sqlite(s) => sqlx::query_scalar("SELECT COUNT(*) FROM photo_upload_chunks")
            .fetch_one(s.pool())
            .await
            .unwrap(),
        Db::Postgres(s) => sqlx::query_scalar("SELECT COUNT(*) FROM photo_upload_chunks")
            .fetch_one(s.pool())
            .await
            .unwrap(),
    };
    assert_eq!(chunks, 0, "the expired upload's bytes are gone");
    assert_eq!(
        tus.create(&b, "T1", "image/jpeg", 6_000).await.status(),
        StatusCode::CREATED
    );
    srv.shutdown().await.unwrap();
}

on_both_backends!(
    abandoned_upload_expires_and_frees_the_quota,
    whole_path_offline_photos_to_public_derivatives,
    exif_place_and_time_flags,
    originals_are_private,
    truncated_jpeg_is_refused,
    png_decompression_bomb_is_refused,
    file_lying_about_its_type_is_refused,
    zero_byte_upload_is_refused,
    hash_mismatch_is_refused,
    upload_for_a_task_out_of_scope_is_refused,
    upload_that_stops_halfway_resumes,
    upload_resumes_on_another_replica,
    two_replicas_appending_at_once_keep_one,
    upload_resuming_at_a_wrong_offset_is_refused,
    heic_is_unsupported,
    protocol_violations_are_refused,
    device_quota_is_enforced,
    uploads_are_bound_to_their_device_and_photos_to_referencing_tasks,
);

/// Issue 16, point 12: an upload belongs to the device that created it (another device
/// of the same user can neither take it over nor append to it); a photo attaches to a
/// task only once the task's document references it; and a second device sending the
/// same bytes for its own task (another district) gets its own attachment, with its
/// district's dispatcher able to see it.
async fn uploads_are_bound_to_their_device_and_photos_to_referencing_tasks(f: &Fixture) {
    let srv = start(f).await;
    let addr = srv.addr;
    seed_task_in(&f.db, "T2", "D2", "C2").await;
    let bytes = fixture("near.jpg");
    let hash = content_hash(&bytes);
    let len = bytes.len() as u64;
    let (token, crew1) = login(addr, "crew1", "phone-1").await;
    let first = Tus::new(addr, &token);
    let r = first.create(&hash, "T1", "image/jpeg", len).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let half = bytes.len() / 2;
    let r = first.patch(&hash, 0, bytes[..half].to_vec()).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // The same crew member on another phone: neither its upload nor its bytes.
    let (other, _) = login(addr, "crew1", "phone-1b").await;
    let other = Tus::new(addr, &other);
    let (status, msg) = error_of(other.create(&hash, "T1", "image/jpeg", len).await).await;
    assert_eq!(status, StatusCode::CONFLICT, "{msg}");
    assert!(msg.contains("another device"), "{msg}");
    let (status, msg) = error_of(
        other
            .patch(&hash, half as u64, bytes[half..].to_vec())
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{msg}");
    let r = first
        .patch(&hash, half as u64, bytes[half..].to_vec())
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // Stored, but T1's document does not reference it yet: not T1's photo.
    let http = tarmim_testing::http();
    let url = format!("http://{addr}/api/v1/photos/{hash}/original");
    let (disp1, _) = login(addr, "disp1", "console-1").await;
    let r = http.get(&url).bearer_auth(&disp1).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    reference(&f.db, "T1", &crew1, &hash, PhotoKind::Before).await;
    let r = http.get(&url).bearer_auth(&disp1).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Crew 2 has the same bytes for its own task in D2: it must send them (knowing the
    // hash is not enough), then T2 has the photo too.
    let (token2, crew2) = login(addr, "crew2", "phone-2").await;
    let second = Tus::new(addr, &token2);
    let r = second.create(&hash, "T2", "image/jpeg", len).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(offset_of(&r), 0, "the bytes must be sent");
    let r = second.patch(&hash, 0, bytes.clone()).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{:?}", r.text().await);
    // Created again afterwards: complete.
    let r = second.create(&hash, "T2", "image/jpeg", len).await;
    assert_eq!(offset_of(&r), len);
    let (disp2, _) = login(addr, "disp2", "console-2").await;
    let r = http.get(&url).bearer_auth(&disp2).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "T2 does not reference it yet"
    );
    reference(&f.db, "T2", &crew2, &hash, PhotoKind::Before).await;
    let r = http.get(&url).bearer_auth(&disp2).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let m: Value = meta_as(addr, &disp2, &hash).await.json().await.unwrap();
    assert_eq!(m["task"], "T2", "{m}");
    let m: Value = meta_as(addr, &disp1, &hash).await.json().await.unwrap();
    assert_eq!(m["task"], "T1", "{m}");
    srv.shutdown().await.unwrap();
}

// ------------------------------------------------------------------ memory of the bomb

const BOMB_CHILD_ENV: &str = "TARMIM_PHOTO_BOMB_CHILD";

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Runs only in the child: processes the bomb and prints its peak resident memory.
#[test]
fn bomb_child() {
    if std::env::var(BOMB_CHILD_ENV).is_err() {
        return;
    }
    let before = vm_hwm_kib();
    let settings =
        server::domain::photo::PhotoSettings::from_config(&server::base::config::Config::default());
    let r = server::domain::photo::process(
        &fixture("bomb.png"),
        server::domain::photo::PhotoFormat::Png,
        &settings,
    );
    assert!(
        matches!(r, Err(server::domain::photo::PhotoError::TooLarge(_))),
        "{r:?}"
    );
    println!("@@ HWM {before} {}", vm_hwm_kib());
}

/// The bomb (400 Mpx, 48 KiB on disk) is refused with the process's peak memory barely
/// moving: measured in a fresh child process (`VmHWM`), so nothing else in this test
/// binary inflates it. Decoding it would need 400 MB at one byte per pixel.
#[test]
fn decompression_bomb_peak_memory_stays_small() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "photos::bomb_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(BOMB_CHILD_ENV, "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    // libtest prints `test bomb_child ... ` before the child's own line.
    let line = text
        .lines()
        .find_map(|l| l.split("@@ HWM ").nth(1))
        .unwrap();
    let v: Vec<u64> = line
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    let (before, after) = (v[0], v[1]);
    println!("bomb: peak RSS {after} KiB (before processing {before} KiB)");
    assert!(
        after < before + 64 * 1024,
        "refusing the bomb raised peak memory from {before} KiB to {after} KiB"
    );
}

// ------------------------------------------------------------------ storage, fs and S3

/// One suite for every [`BlobStore`].
async fn storage_suite(s: &Storage) {
    let key = "originals/0123abcd";
    assert_eq!(s.get(key).await.unwrap(), None);
    assert!(!s.exists(key).await.unwrap());
    s.put(key, bytes::Bytes::from_static(b"first"))
        .await
        .unwrap();
    assert!(s.exists(key).await.unwrap());
    assert_eq!(s.get(key).await.unwrap().unwrap().as_ref(), b"first");
    // Content-addressed keys are rewritten with the same bytes: idempotent.
    s.put(key, bytes::Bytes::from_static(b"first"))
        .await
        .unwrap();
    assert_eq!(s.get(key).await.unwrap().unwrap().as_ref(), b"first");
    let big = bytes::Bytes::from(vec![7_u8; 3 << 20]);
    s.put("derived/0123abcd/display.jpg", big.clone())
        .await
        .unwrap();
    assert_eq!(
        s.get("derived/0123abcd/display.jpg")
            .await
            .unwrap()
            .unwrap(),
        big
    );
    s.delete(key).await.unwrap();
    s.delete(key).await.unwrap();
    assert!(!s.exists(key).await.unwrap());
    for bad in ["../etc/passwd", "a//b", "/abs", ""] {
        assert!(s.put(bad, bytes::Bytes::new()).await.is_err(), "{bad:?}");
    }
}

#[tokio::test]
async fn file_system_storage() {
    let dir = tempfile::tempdir().unwrap();
    storage_suite(&Storage::Fs(FsStore::new(dir.path()))).await;
}

/// A moto S3 server on a free port, killed on drop.
struct Moto {
    child: std::process::Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_command() -> String {
    std::env::var("TARMIM_MOTO_SERVER").unwrap_or_else(|_| {
        let venv = "/opt/tarmim-moto/bin/moto_server";
        if std::path::Path::new(venv).exists() {
            venv.to_owned()
        } else {
            "moto_server".to_owned()
        }
    })
}

async fn start_moto(bucket: &str) -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(moto_command())
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start moto_server (run tests/setup/s3.sh): {e}"));
    let moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let http = tarmim_testing::http();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.put(format!("{}/{bucket}", moto.endpoint)).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "moto_server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    moto
}

fn s3_storage(moto: &Moto, bucket: &str) -> Storage {
    Storage::S3(
        S3Store::new(&S3Settings {
            bucket: bucket.into(),
            endpoint: Some(moto.endpoint.clone()),
            region: "us-east-1".into(),
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
        })
        .unwrap(),
    )
}

#[tokio::test]
async fn s3_storage_on_a_real_s3_server() {
    let moto = start_moto("tarmim-photos").await;
    storage_suite(&s3_storage(&moto, "tarmim-photos")).await;
}

/// The server with its photos on S3: an upload lands there and is served from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_keeps_photos_on_s3() {
    let moto = start_moto("tarmim-s3-e2e").await;
    let f = Fixture::sqlite().await;
    let mut state = AppState::new(f.db.clone(), f.config.clone());
    let storage = s3_storage(&moto, "tarmim-s3-e2e");
    state.photos = server::domain::photo::Photos::new(
        storage.clone(),
        server::domain::photo::PhotoSettings::from_config(&f.config),
        server::domain::photo::upload::UploadArea::new(),
    );
    let srv = start_state(state).await;
    let (token, _) = login(srv.addr, "crew1", "phone-1").await;
    let tus = Tus::new(srv.addr, &token);
    let bytes = fixture("plain.webp");
    let hash = content_hash(&bytes);
    assert_eq!(
        upload_whole(&tus, &bytes, "image/webp").await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(
        storage
            .exists(&server::domain::photo::storage::original_key(&hash))
            .await
            .unwrap()
    );
    let r = fetch_public(srv.addr, &hash, "thumb").await;
    assert_eq!(r.status(), StatusCode::OK);
    let img = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    assert_eq!((img.width(), img.height()), (64, 48));
    srv.shutdown().await.unwrap();
    f.close().await;
}

//! The sync endpoint end to end: the real server on a loopback port (SQLite and
//! PostgreSQL + PostGIS), phones that are `sync_core` devices speaking over a real
//! WebSocket (or the HTTP fallback). Waits are bounded liveness waits, never assertions
//! about timing.

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::base::time::now_millis;
use server::domain::identity::{UserRole, hash_password};
use server::domain::sync::{decode_frames, encode_frames};
use server::http::RunningServer;
use server::storage::{Db, DocStore, IdentityStore};
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Duration;
use sync_core::protocol::{
    ClientFrame, ErrorCode, Hello, OLDEST_SUPPORTED_VERSION, PROTOCOL_VERSION, Push, ServerFrame,
    decode_server, encode_client,
};
use sync_core::session::device::{Device, DeviceEvent};
use sync_core::session::{ChangesSince, ServerStore};
use sync_core::store::Store;
use sync_core::task::*;
use sync_core::{Actor, DeviceId, DocId, Role, ScopeId};
use tarmim_testing::Fixture;
use tarmim_testing::on_both_backends;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const PASSWORD: &str = "pass-word-1";
/// Liveness bound for anything that should happen "soon".
const WAIT: Duration = Duration::from_secs(15);

fn id(s: &str) -> DocId {
    DocId::new(s).unwrap()
}

fn scope(s: &str) -> ScopeId {
    ScopeId::new(s).unwrap()
}

// ------------------------------------------------------------------ seeding

/// The people of the tests: crews C1 and C2 of district D1, a dispatcher of D1.
async fn seed_people(db: &Db) {
    for c in ["C1", "C2"] {
        tarmim_testing::add_crew(db, c, "D1", &["pothole"]).await;
    }
    let hash = hash_password(PASSWORD).unwrap();
    for (uid, login, role, crew, districts) in [
        ("u-crew1", "crew1", UserRole::Crew, Some("C1"), vec![]),
        ("u-crew1b", "crew1b", UserRole::Crew, Some("C1"), vec![]),
        ("u-crew2", "crew2", UserRole::Crew, Some("C2"), vec![]),
        (
            "u-disp",
            "disp",
            UserRole::Dispatcher,
            None,
            vec!["D1".to_owned()],
        ),
        ("u-admin", "admin", UserRole::Admin, None, vec![]),
    ] {
        tarmim_testing::add_user(db, uid, login, &hash, role, crew, districts).await;
    }
}

fn server_actor() -> Actor {
    Actor {
        user: "u-disp".into(),
        role: Role::Dispatcher,
        crew: None,
        device: DeviceId::new("console-seed").unwrap(),
    }
}

/// A task created (and optionally assigned) by the dispatcher, committed on the server.
async fn seed_task(db: &Db, n: &str, district: &str, crew: Option<&str>) {
    let d = server_actor();
    let now = now_millis();
    let mut t = TaskDoc::create(
        NewTask {
            id: id(n),
            source: Source::Citizen,
            category: "pothole".into(),
            title: format!("Pothole {n}"),
            description: "deep".into(),
            point: GeoPoint {
                lat: 35.7,
                lon: 51.4,
                accuracy_m: None,
            },
            address: None,
            district: Some(district.into()),
            priority: Priority::Normal,
            sla: Sla::default(),
            reopen_window_ms: 86_400_000,
        },
        &d,
        now,
    )
    .unwrap();
    if let Some(c) = crew {
        t.append_event(
            &d,
            now + 1,
            EventKind::Assigned {
                crew: c.into(),
                reason: "seed".into(),
            },
        )
        .unwrap();
    }
    tarmim_testing::commit_new(db, &mut t, "server").await;
}

async fn start(f: &Fixture) -> RunningServer {
    start_with(f.db.clone(), f.config.clone()).await
}

async fn start_with(db: Db, config: server::base::config::Config) -> RunningServer {
    tarmim_testing::start(db, config).await
}

/// Logs in over HTTP; returns the token and the actor the device edits as.
async fn login(addr: SocketAddr, login: &str, device: &str) -> (String, Actor) {
    tarmim_testing::login_actor(addr, login, PASSWORD, device).await
}

// ------------------------------------------------------------------ the phone

/// Opens a WebSocket to the sync endpoint; `Err(status)` when the upgrade is refused.
pub(super) async fn ws_connect(addr: SocketAddr, auth: Option<&str>) -> Result<Ws, (u16, String)> {
    let mut req = format!("ws://{addr}/api/v1/sync")
        .into_client_request()
        .unwrap();
    if let Some(a) = auth {
        req.headers_mut()
            .insert("authorization", a.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(WsError::Http(resp)) => {
            let status = resp.status().as_u16();
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            Err((status, body))
        }
        Err(e) => panic!("websocket connect failed: {e}"),
    }
}

/// A phone: a `sync_core` device and, while connected, its WebSocket.
struct Phone {
    dev: Device,
    addr: SocketAddr,
    token: String,
    ws: Option<Ws>,
    events: Vec<DeviceEvent>,
    errors: Vec<String>,
}

impl Phone {
    async fn login(addr: SocketAddr, user: &str, device: &str) -> Phone {
        let (token, actor) = login(addr, user, device).await;
        Phone {
            dev: Device::new(Store::open_in_memory().unwrap(), actor),
            addr,
            token,
            ws: None,
            events: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn actor(&self) -> Actor {
        self.dev.actor().clone()
    }

    /// Connects and waits until caught up.
    async fn sync(&mut self) {
        self.open().await;
        self.until("caught up", |p| p.dev.is_live()).await;
    }

    async fn open(&mut self) {
        let auth = format!("Bearer {}", self.token);
        let ws = ws_connect(self.addr, Some(&auth)).await.unwrap();
        self.ws = Some(ws);
        let frames = self.dev.connect().unwrap();
        self.send(frames).await;
    }

    async fn send(&mut self, frames: Vec<Vec<u8>>) {
        let Some(ws) = self.ws.as_mut() else { return };
        for f in frames {
            if ws.send(Message::Binary(f.into())).await.is_err() {
                self.gone();
                return;
            }
        }
    }

    /// Sends local edits made while connected.
    async fn push(&mut self) {
        if self.ws.is_some() {
            let frames = self.dev.outgoing().unwrap();
            self.send(frames).await;
        }
    }

    fn gone(&mut self) {
        self.ws = None;
        self.dev.disconnect();
    }

    async fn close(&mut self) {
        if let Some(mut ws) = self.ws.take() {
            let _ = ws.close(None).await;
        }
        self.dev.disconnect();
    }

    /// Handles one message, waiting at most `d`. False on timeout or when disconnected.
    async fn step(&mut self, d: Duration) -> bool {
        let Some(ws) = self.ws.as_mut() else {
            return false;
        };
        let msg = match tokio::time::timeout(d, ws.next()).await {
            Err(_) => return false,
            Ok(m) => m,
        };
        match msg {
            Some(Ok(Message::Binary(b))) => match self.dev.on_frame(&b) {
                Ok(out) => {
                    self.events.extend(out.events);
                    self.send(out.frames).await;
                }
                Err(e) => {
                    self.errors.push(e.to_string());
                }
            },
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => self.gone(),
            Some(Ok(_)) => {}
        }
        true
    }

    /// Handles messages until `done` holds; panics after [`WAIT`].
    async fn until(&mut self, what: &str, done: impl Fn(&Phone) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "{}: timed out waiting for {what}; events {:?}, errors {:?}",
                self.dev.actor().device,
                self.events,
                self.errors
            );
            if self.ws.is_none() {
                panic!(
                    "{}: disconnected while waiting for {what}; errors {:?}",
                    self.dev.actor().device,
                    self.errors
                );
            }
            self.step(Duration::from_millis(200)).await;
        }
    }

    fn held(&self) -> BTreeSet<String> {
        self.dev
            .list()
            .unwrap()
            .into_iter()
            .map(|e| e.id.to_string())
            .collect()
    }

    fn doc(&self, d: &str) -> Option<TaskDoc> {
        self.dev
            .store()
            .get(&id(d))
            .unwrap()
            .map(|b| TaskDoc::load(&b).unwrap())
    }

    fn heads(&self, d: &str) -> Option<Vec<automerge::ChangeHash>> {
        self.doc(d).map(|mut t| {
            let mut h = t.heads();
            h.sort();
            h
        })
    }

    fn refusals(&self) -> Vec<(DocId, RefusalCode)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                DeviceEvent::Refused { doc, code, .. } => Some((doc.clone(), *code)),
                _ => None,
            })
            .collect()
    }

    fn acks(&self, d: &str) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, DeviceEvent::Acknowledged(x) if x.as_str() == d))
            .count()
    }
}

async fn server_doc(db: &Db, d: &str) -> Option<TaskDoc> {
    db.load(&id(d))
        .await
        .unwrap()
        .map(|s| TaskDoc::load(&s.bytes).unwrap())
}

async fn server_heads(db: &Db, d: &str) -> Vec<automerge::ChangeHash> {
    let mut h = server_doc(db, d).await.unwrap().heads();
    h.sort();
    h
}

/// The documents the server holds in any of `scopes`.
async fn server_docs_in(db: &Db, docs: &[&str], scopes: &[ScopeId]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for d in docs {
        let s = db.doc_scopes(&id(d)).await.unwrap();
        if s.iter().any(|x| scopes.contains(x)) {
            out.insert((*d).to_owned());
        }
    }
    out
}

/// Pumps every phone until each holds exactly its scope's documents, with the server's
/// heads.
async fn converge(phones: &mut [&mut Phone], db: &Db, docs: &[&str], scopes: &[Vec<ScopeId>]) {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut ok = true;
        let mut why = String::new();
        for (p, sc) in phones.iter().zip(scopes) {
            let want = server_docs_in(db, docs, sc).await;
            // Equal heads can come before the ack of the phone's own change: the server
            // holds it, the phone has not yet read the ack that lets it forget it.
            if p.dev.pending_count().unwrap_or(1) > 0 {
                ok = false;
                why = format!("{} still has pending changes", p.actor().device);
                break;
            }
            if p.held() != want {
                ok = false;
                why = format!("{} holds {:?}, want {:?}", p.actor().device, p.held(), want);
                break;
            }
            for d in &want {
                if p.heads(d) != Some(server_heads(db, d).await) {
                    ok = false;
                    why = format!("{} has other heads for {d}", p.actor().device);
                    break;
                }
            }
            if !ok {
                break;
            }
        }
        if ok {
            return;
        }
        assert!(Instant::now() < deadline, "did not converge: {why}");
        for p in phones.iter_mut() {
            p.step(Duration::from_millis(30)).await;
        }
    }
}

// ------------------------------------------------------------------ tests

/// A crew phone logs in, syncs over WebSocket and receives exactly its crew's tasks.
async fn crew_phone_receives_its_crews_tasks(f: &Fixture) {
    seed_people(&f.db).await;
    seed_task(&f.db, "T1", "D1", Some("C1")).await;
    seed_task(&f.db, "T2", "D1", Some("C2")).await;
    seed_task(&f.db, "T3", "D1", Some("C1")).await;
    seed_task(&f.db, "T4", "D1", None).await;
    let server = start(f).await;
    let mut a = Phone::login(server.addr, "crew1", "phone-a").await;
    a.sync().await;
    let want: BTreeSet<String> = ["T1", "T3"].iter().map(|s| s.to_string()).collect();
    assert_eq!(a.held(), want);
    // Same as the projection says.
    for d in ["T1", "T2", "T3", "T4"] {
        let row = f.db.task_row(&id(d)).await.unwrap().unwrap();
        assert_eq!(
            row.assignee.as_deref() == Some("C1"),
            a.held().contains(d),
            "{d}"
        );
    }
    for d in ["T1", "T3"] {
        assert_eq!(a.heads(d).unwrap(), server_heads(&f.db, d).await);
    }
    // The dispatcher sees the whole district.
    let mut disp = Phone::login(server.addr, "disp", "console-1").await;
    disp.sync().await;
    assert_eq!(disp.held().len(), 4);
    a.close().await;
    disp.close().await;
    // Metrics were recorded.
    let text = tarmim_testing::metrics(server.addr).await;
    for m in [
        "tarmim_sync_connections_opened_total",
        "tarmim_sync_frames_in_total",
        "tarmim_sync_frames_out_total",
    ] {
        assert!(text.contains(m), "{m} missing from /metrics");
    }
    server.shutdown().await.unwrap();
}

/// Two crews and a dispatcher edit offline, reconnect, and converge on the server's copy.
async fn offline_edits_converge(f: &Fixture) {
    seed_people(&f.db).await;
    seed_task(&f.db, "T1", "D1", Some("C1")).await;
    seed_task(&f.db, "T2", "D1", Some("C2")).await;
    seed_task(&f.db, "T3", "D1", Some("C1")).await;
    let docs = ["T1", "T2", "T3"];
    let server = start(f).await;
    let mut a = Phone::login(server.addr, "crew1", "phone-a").await;
    let mut b = Phone::login(server.addr, "crew2", "phone-b").await;
    let mut d = Phone::login(server.addr, "disp", "console-1").await;
    for p in [&mut a, &mut b, &mut d] {
        p.sync().await;
        p.close().await;
    }
    let now = now_millis();
    // Offline: crew 1 acknowledges and notes T1; crew 2 notes T2; the dispatcher notes
    // both and moves T3 to crew 2.
    a.dev
        .edit(&id("T1"), now, |t, who| {
            t.append_event(who, now, EventKind::Acknowledged)?;
            t.add_note(who, now, "on our way")
        })
        .unwrap();
    b.dev
        .edit(&id("T2"), now, |t, who| t.add_note(who, now, "crew 2 here"))
        .unwrap();
    d.dev
        .edit(&id("T1"), now, |t, who| {
            t.add_note(who, now, "please hurry")
        })
        .unwrap();
    d.dev
        .edit(&id("T2"), now, |t, who| {
            t.add_note(who, now, "check the kerb")
        })
        .unwrap();
    d.dev
        .edit(&id("T3"), now, |t, who| {
            t.append_event(
                who,
                now,
                EventKind::Assigned {
                    crew: "C2".into(),
                    reason: "closer".into(),
                },
            )
        })
        .unwrap();
    for p in [&mut a, &mut b, &mut d] {
        p.open().await;
    }
    let scopes = vec![
        vec![scope("crew:C1")],
        vec![scope("crew:C2")],
        vec![scope("district:D1")],
    ];
    converge(&mut [&mut a, &mut b, &mut d], &f.db, &docs, &scopes).await;
    for p in [&a, &b, &d] {
        assert_eq!(p.dev.pending_count().unwrap(), 0);
        assert!(p.refusals().is_empty(), "{:?}", p.refusals());
    }
    let t1 = server_doc(&f.db, "T1").await.unwrap().view().unwrap();
    assert_eq!(t1.notes.len(), 2);
    assert_eq!(t1.derived.status, Status::Acknowledged);
    let t3 = server_doc(&f.db, "T3").await.unwrap().view().unwrap();
    assert_eq!(t3.derived.assignee.as_deref(), Some("C2"));
    assert!(!a.held().contains("T3"));
    assert!(b.held().contains("T3"));
    server.shutdown().await.unwrap();
}

/// A change committed through phone B's connection reaches connected phone A unasked.
async fn live_push_reaches_connected_phone(f: &Fixture) {
    seed_people(&f.db).await;
    seed_task(&f.db, "T1", "D1", Some("C1")).await;
    let server = start(f).await;
    let mut a = Phone::login(server.addr, "crew1", "phone-a").await;
    let mut b = Phone::login(server.addr, "crew1b", "phone-b").await;
    a.sync().await;
    b.sync().await;
    let now = now_millis();
    b.dev
        .edit(&id("T1"), now, |t, who| t.add_note(who, now, "from B"))
        .unwrap();
    b.push().await;
    b.until("ack", |p| p.acks("T1") == 1).await;
    // A sends nothing; the note arrives.
    a.until("the pushed note", |p| {
        p.doc("T1")
            .is_some_and(|t| t.view().unwrap().notes.iter().any(|n| n.text == "from B"))
    })
    .await;
    assert_eq!(a.heads("T1").unwrap(), server_heads(&f.db, "T1").await);
    a.close().await;
    b.close().await;
    server.shutdown().await.unwrap();
}

/// A document's old history is compacted as commits go by; a phone that was away for
/// longer than the kept history gets the snapshot instead, and converges.
async fn history_is_compacted_and_far_behind_phones_catch_up(f: &Fixture) {
    seed_people(&f.db).await;
    seed_task(&f.db, "T1", "D1", Some("C1")).await;
    let server = start(f).await;
    let mut a = Phone::login(server.addr, "crew1", "phone-a").await;
    let mut b = Phone::login(server.addr, "crew1b", "phone-b").await;
    a.sync().await;
    b.sync().await;
    b.close().await;
    let notes =
        3 * server::domain::compaction::EVERY as usize + server::domain::compaction::KEEP_COMMITS;
    for k in 0..notes {
        let now = now_millis();
        a.dev
            .edit(&id("T1"), now, |t, who| {
                t.add_note(who, now, &format!("note {k}"))
            })
            .unwrap();
        a.push().await;
        a.until("ack", |p| p.acks("T1") == k + 1).await;
    }
    // Compaction runs in the background: wait (bounded) until it has happened.
    let deadline = Instant::now() + Duration::from_secs(20);
    while f.db.changes_since(&id("T1"), 0).await.unwrap() != ChangesSince::Compacted {
        assert!(Instant::now() < deadline, "history never compacted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.sync().await;
    assert_eq!(b.heads("T1").unwrap(), server_heads(&f.db, "T1").await);
    assert_eq!(b.doc("T1").unwrap().view().unwrap().notes.len(), notes);
    a.close().await;
    b.close().await;
    server.shutdown().await.unwrap();
}

/// A dispatcher reassigns a task from C1 to C2: C1's phone drops it, C2's receives it.
async fn reassignment_moves_task_live(f: &Fixture) {
    seed_people(&f.db).await;
    seed_task(&f.db, "T1", "D1", Some("C1")).await;
    let server = start(f).await;
    let mut c1 = Phone::login(server.addr, "crew1", "phone-a").await;
    let mut c2 = Phone::login(server.addr, "crew2", "phone-b").await;
    let mut d = Phone::login(server.addr, "disp", "console-1").await;
    for p in [&mut c1, &mut c2, &mut d] {
        p.sync().await;
    }
    assert!(c1.held().contains("T1"));
    assert!(!c2.held().contains("T1"));
    let now = now_millis();
    d.dev
        .edit(&id("T1"), now, |t, who| {
            t.append_event(
                who,
                now,
                EventKind::Assigned {
                    crew: "C2".into(),
                    reason: "rebalance".into(),
                },
            )
        })
        .unwrap();
    d.push().await;
    d.until("ack", |p| p.acks("T1") == 1).await;
    c2.until("T1 arrives", |p| p.held().contains("T1")).await;
    c1.until("T1 is dropped", |p| !p.held().contains("T1"))
        .await;
    assert!(
        c1.events
            .iter()
            .any(|e| matches!(e, DeviceEvent::Dropped(x) if x.as_str() == "T1"))
    );
    assert_eq!(c2.heads("T1").unwrap(), server_heads(&f.db, "T1").await);
    server.shutdown().await.unwrap();
}

/// Writes an event straight into automerge, as a hostile device could.
fn forge_event(t: &mut TaskDoc, eid: &str, kind: &EventKind, by: &Actor, parents: &[String]) {
    let am = t.automerge();
    let (_, events) = am.get(ROOT, "events").unwrap().unwrap();
    let e = am.put_object(&events, eid, ObjType::Map).unwrap();
    am.put(&e, "id", eid).unwrap();
    am.put(&e, "kind", kind.name()).unwrap();
    let actor = am.put_object(&e, "actor", ObjType::Map).unwrap();
    am.put(&actor, "user", by.user.as_str()).unwrap();
    am.put(&actor, "role", by.role.as_str()).unwrap();
    match &by.crew {
        Some(c) => am.put(&actor, "crew", c.as_str()).unwrap(),
        None => am.put(&actor, "crew", ()).unwrap(),
    }
    am.put(&actor, "device", by.device.as_str()).unwrap();
    am.put(&e, "at", now_millis()).unwrap();
    let ps = am.put_object(&e, "parents", ObjType::List).unwrap();
    for (i, p) in parents.iter().enumerate() {
        am.insert(&ps, i, p.as_str()).unwrap();
    }
    if let EventKind::Assigned { crew, reason } = kind {
        am.put(&e, "crew", crew.as_str()).unwrap();
        am.put(&e, "reason", reason.as_str()).unwrap();
    }
    if let EventKind::Completed { photos } = kind {
        let list = am.put_object(&e, "photos", ObjType::List).unwrap();
        for (i, h) in photos.iter().enumerate() {
            am.insert(&list, i, h.as_str()).unwrap();
        }
    }
    am.commit();
}

fn event_heads(t: &TaskDoc) -> Vec<String> {
    let v = t.view().unwrap();
    let mut heads: Vec<String> = v
        .timeline
        .iter()
        .map(|e| e.event.id.clone())
        .filter(|eid| !v.timeline.iter().any(|e| e.event.parents.contains(eid)))
        .collect();
    heads.sort();
    heads
}

/// Forged changes are refused with the reason, the phone is reset, nothing is stored.
async fn forged_changes_are_refused(f: &Fixture) {
    seed_people(&f.db).await;
    seed_task(&f.db, "T1", "D1", Some("C1")).await;
    let server = start(f).await;
    let mut a = Phone::login(server.addr, "crew1", "phone-a").await;
    let mut watcher = Phone::login(server.addr, "crew1b", "phone-w").await;
    a.sync().await;
    watcher.sync().await;
    let stored = server_heads(&f.db, "T1").await;
    let now = now_millis();
    type Forge = Box<dyn Fn(&mut TaskDoc, &Actor) -> Result<(), TaskError>>;
    let cases: Vec<(&str, Forge, &[RefusalCode])> = vec![
        (
            "impersonation",
            Box::new(move |t, who| {
                let other = Actor {
                    user: "u-crew1b".into(),
                    ..who.clone()
                };
                t.append_event(&other, now, EventKind::Acknowledged)
                    .map(|_| ())
            }),
            &[RefusalCode::Impersonation],
        ),
        (
            "crew assigns itself",
            Box::new(|t, who| {
                let parents = event_heads(t);
                forge_event(
                    t,
                    "phone-a:forged",
                    &EventKind::Assigned {
                        crew: "C1".into(),
                        reason: "mine".into(),
                    },
                    who,
                    &parents,
                );
                Ok(())
            }),
            &[RefusalCode::Forbidden],
        ),
        (
            "priority change",
            Box::new(|t, _| {
                t.automerge().put(ROOT, "priority", "urgent").unwrap();
                t.automerge().commit();
                Ok(())
            }),
            &[RefusalCode::ReadOnlyField],
        ),
        (
            "district change",
            Box::new(|t, _| {
                t.automerge().put(ROOT, "district", "D2").unwrap();
                t.automerge().commit();
                Ok(())
            }),
            &[RefusalCode::ReadOnlyField],
        ),
        (
            "completion without an after photo",
            Box::new(|t, who| {
                let parents = event_heads(t);
                forge_event(
                    t,
                    "phone-a:forged-done",
                    &EventKind::Completed {
                        photos: vec![format!("{:064x}", 7)],
                    },
                    who,
                    &parents,
                );
                Ok(())
            }),
            &[RefusalCode::InvalidTransition],
        ),
    ];
    for (i, (what, forge, codes)) in cases.into_iter().enumerate() {
        a.dev.edit(&id("T1"), now, |t, who| forge(t, who)).unwrap();
        assert_ne!(
            a.heads("T1").unwrap(),
            stored,
            "{what}: the forgery changed nothing"
        );
        a.push().await;
        a.until(what, |p| p.refusals().len() > i).await;
        let (doc, code) = a.refusals()[i].clone();
        assert_eq!(doc.as_str(), "T1");
        assert!(codes.contains(&code), "{what}: refused as {code:?}");
        // Reset to the server's copy, nothing pending, the server's copy unchanged.
        assert_eq!(a.heads("T1").unwrap(), stored, "{what}: phone not reset");
        assert_eq!(a.dev.pending_count().unwrap(), 0);
        assert_eq!(server_heads(&f.db, "T1").await, stored, "{what}: stored");
    }
    // Another district's task, which this phone was never given (a tampered app wrote it
    // into its store): refused as out of scope, no copy of it in the answer, nothing stored.
    seed_task(&f.db, "T9", "D2", Some("C2")).await;
    let foreign = f.db.load(&id("T9")).await.unwrap().unwrap();
    let row = sync_core::session::device::index_entry(
        &TaskDoc::load(&foreign.bytes).unwrap().view().unwrap(),
        now,
    );
    a.dev
        .store()
        .write(sync_core::store::WriteBatch {
            put_docs: vec![(id("T9"), foreign.bytes.clone(), row)],
            ..Default::default()
        })
        .unwrap();
    a.dev
        .edit(&id("T9"), now, |t, who| t.add_note(who, now, "not ours"))
        .unwrap();
    let before = server_heads(&f.db, "T9").await;
    let refused = a.refusals().len();
    a.push().await;
    a.until("out of scope", |p| p.refusals().len() > refused)
        .await;
    assert_eq!(a.refusals()[refused], (id("T9"), RefusalCode::OutOfScope));
    assert!(
        a.doc("T9").is_none(),
        "the phone forgets a task it may not see"
    );
    assert_eq!(
        server_heads(&f.db, "T9").await,
        before,
        "out of scope: stored"
    );
    // Never forwarded: an honest edit afterwards reaches the watcher, which never saw
    // anything else.
    a.dev
        .edit(&id("T1"), now, |t, who| t.add_note(who, now, "honest"))
        .unwrap();
    a.push().await;
    a.until("ack", |p| p.acks("T1") == 1).await;
    let after = server_heads(&f.db, "T1").await;
    watcher
        .until("honest note", |p| p.heads("T1") == Some(after.clone()))
        .await;
    let v = watcher.doc("T1").unwrap().view().unwrap();
    assert_eq!(v.derived.priority, Priority::Normal);
    assert_eq!(v.derived.status, Status::Assigned);
    assert_eq!(v.notes.len(), 1);
    let text = tarmim_testing::metrics(server.addr).await;
    assert!(text.contains("tarmim_sync_refusals_total"), "{text}");
    server.shutdown().await.unwrap();
}

/// Issue 16 §11, roles in the document: a manager (read-only) logged in over HTTP syncs
/// its district's tasks like a dispatcher but may write nothing into them. A note, then
/// a photo reference pushed over sync are each refused `forbidden` naming the role, the
/// phone is reset to the server's copy, and nothing is stored.
async fn a_managers_notes_and_photos_are_refused(f: &Fixture) {
    seed_people(&f.db).await;
    let hash = hash_password(PASSWORD).unwrap();
    let districts = vec!["D1".to_owned()];
    tarmim_testing::add_user(
        &f.db,
        "u-mgr",
        "mgr",
        &hash,
        UserRole::Manager,
        None,
        districts,
    )
    .await;
    seed_task(&f.db, "T1", "D1", Some("C1")).await;
    let server = start(f).await;
    let mut m = Phone::login(server.addr, "mgr", "tablet-m").await;
    assert_eq!(m.actor().role, Role::Manager);
    m.sync().await;
    assert!(m.held().contains("T1"), "{:?}", m.held());
    let stored = server_heads(&f.db, "T1").await;
    let now = now_millis();
    type Write = Box<dyn Fn(&mut TaskDoc, &Actor) -> Result<(), TaskError>>;
    let cases: Vec<(&str, Write, &str)> = vec![
        (
            "note",
            Box::new(move |t, who| t.add_note(who, now, "seen on my rounds").map(|_| ())),
            "a manager may not add notes",
        ),
        (
            "photo",
            Box::new(|t, who| {
                let photo = PhotoRef {
                    kind: PhotoKind::Before,
                    ..after_photo(who, 9)
                };
                t.add_photo(who, photo)
            }),
            "a manager may not add photos",
        ),
    ];
    for (i, (what, write, why)) in cases.into_iter().enumerate() {
        m.dev.edit(&id("T1"), now, |t, who| write(t, who)).unwrap();
        assert_ne!(m.heads("T1").unwrap(), stored, "{what}: nothing written");
        m.push().await;
        m.until(what, |p| p.refusals().len() > i || p.acks("T1") > 0)
            .await;
        assert_eq!(m.acks("T1"), 0, "{what}: accepted from a manager");
        let refused = m
            .events
            .iter()
            .filter_map(|e| match e {
                DeviceEvent::Refused { doc, code, message } => Some((doc, *code, message)),
                _ => None,
            })
            .nth(i)
            .unwrap();
        assert_eq!(refused.0.as_str(), "T1");
        assert_eq!(refused.1, RefusalCode::Forbidden, "{what}: {}", refused.2);
        assert!(refused.2.contains(why), "{what}: {}", refused.2);
        assert_eq!(m.heads("T1").unwrap(), stored, "{what}: phone not reset");
        assert_eq!(m.dev.pending_count().unwrap(), 0);
        assert_eq!(server_heads(&f.db, "T1").await, stored, "{what}: stored");
    }
    let v = server_doc(&f.db, "T1").await.unwrap().view().unwrap();
    assert_eq!(
        (v.notes.len(), v.photos.len()),
        (0, 0),
        "notes, photos stored"
    );
    server.shutdown().await.unwrap();
}

/// An after photo by `who`, for completions.
fn after_photo(who: &Actor, h: u8) -> PhotoRef {
    PhotoRef {
        hash: format!("{:064x}", h),
        kind: PhotoKind::After,
        taken_at: Some(now_millis()),
        taken_point: None,
        author: who.user.clone(),
        device: who.device.to_string(),
        bytes: 10,
        mime: "image/jpeg".into(),
        added_at: now_millis(),
    }
}

/// Completes `t` with an after photo `h`, as a crew's app does.
fn complete(t: &mut TaskDoc, who: &Actor, h: u8) -> Result<(), TaskError> {
    complete_at(t, who, h, now_millis())
}

/// [`complete`] at a given time by the phone's clock.
fn complete_at(t: &mut TaskDoc, who: &Actor, h: u8, now: i64) -> Result<(), TaskError> {
    t.add_photo(who, after_photo(who, h))?;
    t.append_event(
        who,
        now,
        EventKind::Completed {
            photos: vec![format!("{:064x}", h)],
        },
    )
    .map(|_| ())
}

/// The dispatcher's phone reassigns `task` to `crew` and waits for the server's ack.
async fn reassign(d: &mut Phone, task: &str, crew: &str) {
    let acks = d.acks(task);
    let now = now_millis();
    d.dev
        .edit(&id(task), now, |t, who| {
            t.append_event(
                who,
                now,
                EventKind::Assigned {
                    crew: crew.into(),
                    reason: "rebalance".into(),
                },
            )
        })
        .unwrap();
    d.push().await;
    d.until("reassignment acknowledged", |p| p.acks(task) > acks)
        .await;
}

/// Issue 16 §9, hidden parents. Crews see their district's open tasks here, so a
/// reassignment away reaches the old crew's phone as changes. A completion made offline
/// before the phone heard of the reassignment is kept (rule 1: it stands, the conflict is
/// flagged); a completion built on the old heads after the phone's Hello confirmed holding
/// the reassignment is refused as `StaleView`, and the server's copy is unchanged.
async fn a_fork_hiding_an_acknowledged_reassignment_is_refused(f: &Fixture) {
    seed_people(&f.db).await;
    seed_task(&f.db, "T1", "D1", Some("C1")).await;
    seed_task(&f.db, "T2", "D1", Some("C1")).await;
    let mut config = f.config.clone();
    config.crew_sees_district_open = true;
    let server = start_with(f.db.clone(), config).await;
    let mut a = Phone::login(server.addr, "crew1", "phone-a").await;
    let mut g = Phone::login(server.addr, "crew1b", "phone-g").await;
    let mut d = Phone::login(server.addr, "disp", "console-1").await;
    for p in [&mut a, &mut g, &mut d] {
        p.sync().await;
    }

    // Genuine: g completes T2 offline, before the reassignment exists.
    g.close().await;
    g.dev
        .edit(&id("T2"), now_millis(), |t, who| complete(t, who, 2))
        .unwrap();
    reassign(&mut d, "T2", "C2").await;
    g.sync().await;
    g.until("offline completion acknowledged", |p| p.acks("T2") == 1)
        .await;
    assert!(g.refusals().is_empty(), "{:?}", g.refusals());
    let v = server_doc(&f.db, "T2").await.unwrap().view().unwrap();
    assert_eq!(v.derived.status, Status::Completed, "field work stands");
    assert!(
        v.derived
            .conflicts
            .iter()
            .any(|c| c.kind == "completed_while_reassigned"),
        "{:?}",
        v.derived.conflicts
    );

    // Forged: a keeps T1 as it was, hears of the reassignment, confirms it, then
    // completes on the old heads.
    let old = a.dev.store().get(&id("T1")).unwrap().unwrap();
    a.close().await;
    reassign(&mut d, "T1", "C2").await;
    let stored = server_heads(&f.db, "T1").await;
    a.sync().await;
    a.until("reassignment received", |p| {
        p.heads("T1") == Some(stored.clone())
    })
    .await;
    a.close().await;
    a.sync().await; // this Hello's cursor acknowledges the reassignment
    let row = sync_core::session::device::index_entry(
        &TaskDoc::load(&old).unwrap().view().unwrap(),
        now_millis(),
    );
    a.dev
        .store()
        .write(sync_core::store::WriteBatch {
            put_docs: vec![(id("T1"), old, row)],
            ..Default::default()
        })
        .unwrap();
    a.dev
        .edit(&id("T1"), now_millis(), |t, who| complete(t, who, 1))
        .unwrap();
    a.push().await;
    a.until("refusal", |p| !p.refusals().is_empty()).await;
    assert_eq!(a.refusals(), vec![(id("T1"), RefusalCode::StaleView)]);
    assert_eq!(server_heads(&f.db, "T1").await, stored, "nothing stored");
    let v = server_doc(&f.db, "T1").await.unwrap().view().unwrap();
    assert_eq!(v.derived.assignee.as_deref(), Some("C2"));
    assert_eq!(v.derived.status, Status::Assigned);
    assert_eq!(a.heads("T1").unwrap(), stored, "the phone is reset");
    server.shutdown().await.unwrap();
}

/// Issue 16 §9 under the default scopes: a crew reassigned away is sent a `Drop`, never
/// the reassignment's changes. A completion made offline before the phone heard of the
/// drop is kept (an extra visit, flagged); once a later `Hello` confirmed the drop, a
/// completion built on the heads the phone kept is refused as `StaleView`, the task stays
/// with the new crew and the server's copy is unchanged.
async fn a_completion_after_an_acknowledged_drop_is_refused(f: &Fixture) {
    seed_people(&f.db).await;
    seed_task(&f.db, "T1", "D1", Some("C1")).await;
    seed_task(&f.db, "T2", "D1", Some("C1")).await;
    let server = start(f).await;
    let mut a = Phone::login(server.addr, "crew1", "phone-a").await;
    let mut g = Phone::login(server.addr, "crew1b", "phone-g").await;
    let mut d = Phone::login(server.addr, "disp", "console-1").await;
    for p in [&mut a, &mut g, &mut d] {
        p.sync().await;
    }

    // Genuine: g completes T2 offline, before it hears of the reassignment; it pushes the
    // completion in the connection that brings the drop.
    g.close().await;
    g.dev
        .edit(&id("T2"), now_millis(), |t, who| complete(t, who, 2))
        .unwrap();
    reassign(&mut d, "T2", "C2").await;
    g.sync().await;
    g.until("offline completion acknowledged and T2 let go", |p| {
        p.acks("T2") == 1 && !p.held().contains("T2")
    })
    .await;
    assert!(g.refusals().is_empty(), "{:?}", g.refusals());
    let v = server_doc(&f.db, "T2").await.unwrap().view().unwrap();
    assert_eq!(v.derived.status, Status::Completed, "field work stands");
    assert_eq!(v.derived.assignee.as_deref(), Some("C2"));
    assert!(
        v.derived
            .conflicts
            .iter()
            .any(|c| c.kind == "completed_while_reassigned"),
        "{:?}",
        v.derived.conflicts
    );

    // Forged: a keeps T1 as it was, is sent the drop, confirms it, then completes on the
    // old heads.
    let old = a.dev.store().get(&id("T1")).unwrap().unwrap();
    a.close().await;
    reassign(&mut d, "T1", "C2").await;
    let stored = server_heads(&f.db, "T1").await;
    a.sync().await;
    assert!(!a.held().contains("T1"), "dropped: {:?}", a.held());
    a.close().await;
    a.sync().await; // this Hello's cursor acknowledges the drop
    let row = sync_core::session::device::index_entry(
        &TaskDoc::load(&old).unwrap().view().unwrap(),
        now_millis(),
    );
    a.dev
        .store()
        .write(sync_core::store::WriteBatch {
            put_docs: vec![(id("T1"), old, row)],
            ..Default::default()
        })
        .unwrap();
    a.dev
        .edit(&id("T1"), now_millis(), |t, who| complete(t, who, 1))
        .unwrap();
    a.push().await;
    a.until("an answer", |p| {
        !p.refusals().is_empty() || p.acks("T1") > 0
    })
    .await;
    assert_eq!(a.refusals(), vec![(id("T1"), RefusalCode::StaleView)]);
    assert_eq!(server_heads(&f.db, "T1").await, stored, "nothing stored");
    let v = server_doc(&f.db, "T1").await.unwrap().view().unwrap();
    assert_eq!(v.derived.assignee.as_deref(), Some("C2"));
    assert_eq!(v.derived.status, Status::Assigned);
    assert!(!a.held().contains("T1"), "the phone lets go of the task");
    server.shutdown().await.unwrap();
}

/// Issue 16 §10, clocks: an event dated beyond the allowed skew (five minutes by default)
/// after the server receives it is refused as `FutureTime`, nothing stored; one dated a
/// minute ahead (a phone clock slightly fast) is accepted.
async fn future_dated_events_are_refused(f: &Fixture) {
    seed_people(&f.db).await;
    seed_task(&f.db, "T1", "D1", Some("C1")).await;
    let server = start(f).await;
    let mut a = Phone::login(server.addr, "crew1", "phone-a").await;
    a.sync().await;
    let stored = server_heads(&f.db, "T1").await;
    let ahead = now_millis() + 60 * 60 * 1000;
    a.dev
        .edit(&id("T1"), ahead, |t, who| {
            t.append_event(who, ahead, EventKind::Acknowledged)
                .map(|_| ())
        })
        .unwrap();
    a.push().await;
    a.until("refusal", |p| !p.refusals().is_empty()).await;
    assert_eq!(a.refusals(), vec![(id("T1"), RefusalCode::FutureTime)]);
    assert_eq!(server_heads(&f.db, "T1").await, stored, "nothing stored");
    assert_eq!(a.heads("T1").unwrap(), stored, "the phone is reset");
    let slightly = now_millis() + 60 * 1000;
    a.dev
        .edit(&id("T1"), slightly, |t, who| {
            t.append_event(who, slightly, EventKind::Acknowledged)
                .map(|_| ())
        })
        .unwrap();
    a.push().await;
    a.until("ack", |p| p.acks("T1") == 1).await;
    let v = server_doc(&f.db, "T1").await.unwrap().view().unwrap();
    assert_eq!(v.derived.status, Status::Acknowledged);
    server.shutdown().await.unwrap();
}

/// A task assigned to C1 with its completion due at `complete_due` and a citizens'
/// feedback window of seven days.
async fn seed_due_task(db: &Db, n: &str, complete_due: i64) {
    let d = server_actor();
    let now = now_millis();
    let mut t = TaskDoc::create(
        NewTask {
            id: id(n),
            source: Source::Citizen,
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
            sla: Sla {
                ack_due: None,
                complete_due: Some(complete_due),
            },
            reopen_window_ms: 7 * DAY,
        },
        &d,
        now - 20 * DAY,
    )
    .unwrap();
    t.append_event(
        &d,
        now - 20 * DAY + 1,
        EventKind::Assigned {
            crew: "C1".into(),
            reason: "seed".into(),
        },
    )
    .unwrap();
    tarmim_testing::commit_new(db, &mut t, "server").await;
}

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;

/// Runs one statement with `(i64, &str)` parameters on either database.
async fn exec(db: &Db, sql: &str, at: i64, key: &str) {
    match db {
        Db::Sqlite(s) => drop(
            sqlx::query(sql)
                .bind(at)
                .bind(key)
                .execute(s.pool())
                .await
                .unwrap(),
        ),
        Db::Postgres(s) => drop(
            sqlx::query(sql)
                .bind(at)
                .bind(key)
                .execute(s.pool())
                .await
                .unwrap(),
        ),
    }
}

/// The completion time and due time in a task's facts (what SLA analytics and the
/// penalties' lateness read).
async fn completion_facts(db: &Db, task: &str) -> (Option<i64>, Option<i64>) {
    let sql = "SELECT completed_at, complete_due FROM task_facts WHERE id = $1";
    match db {
        Db::Sqlite(s) => sqlx::query_as(sql)
            .bind(task)
            .fetch_one(s.pool())
            .await
            .unwrap(),
        Db::Postgres(s) => sqlx::query_as(sql)
            .bind(task)
            .fetch_one(s.pool())
            .await
            .unwrap(),
    }
}

fn completion_entry(v: &TaskView) -> TimelineEntry {
    v.timeline
        .iter()
        .find(|t| matches!(t.event.kind, EventKind::Completed { .. }))
        .cloned()
        .unwrap()
}

/// Issue 16 §10, clocks. A phone that synced a moment ago backdates its completion by 15
/// days: the phone's time is kept in the event, but the server records its receipt and
/// vouches for no earlier than the phone's previous contact, so the citizen's seven-day
/// window is still open and the completion counts as late (due an hour ago) in the facts
/// SLA analytics and penalties read. A phone truly offline since four hours ago that
/// completed three hours ago keeps its time for display *and* measures: on time (due two
/// hours ago).
async fn backdated_times_are_measured_from_receipt(f: &Fixture) {
    seed_people(&f.db).await;
    let now = now_millis();
    seed_due_task(&f.db, "T1", now - HOUR).await;
    seed_due_task(&f.db, "T2", now - 2 * HOUR).await;
    let server = start(f).await;

    // Backdated: two contacts a moment apart, then a completion "15 days ago".
    let mut a = Phone::login(server.addr, "crew1", "phone-a").await;
    a.sync().await;
    a.close().await;
    a.sync().await;
    let backdated = now_millis() - 15 * DAY;
    a.dev
        .edit(&id("T1"), backdated, |t, who| {
            complete_at(t, who, 1, backdated)
        })
        .unwrap();
    a.push().await;
    a.until("ack", |p| p.acks("T1") == 1).await;
    let received = now_millis();
    let v = server_doc(&f.db, "T1").await.unwrap().view().unwrap();
    let done = completion_entry(&v);
    assert_eq!(done.event.at, backdated, "the phone's time is kept");
    let r = done.receipt.expect("a receipt beside the phone's time");
    assert!(r.received_at > now && r.received_at <= received, "{r:?}");
    assert!(
        r.vouched_at >= now - 60_000,
        "vouched from the previous contact: {r:?}"
    );
    assert_eq!(v.derived.completed_at, Some(r.vouched_at));
    assert_eq!(
        server::domain::citizen::public_view::closed_because(&v, now_millis()),
        None,
        "the citizen's window is open"
    );
    let citizen = server::domain::citizen::public_view::citizen_actor("ABCD");
    let mut t = server_doc(&f.db, "T1").await.unwrap();
    t.append_event(
        &citizen,
        now_millis(),
        EventKind::Reopened {
            reason: "not fixed".into(),
        },
    )
    .expect("a citizen's \"not fixed\" is still in its window");
    assert_eq!(t.view().unwrap().derived.status, Status::Reopened);
    let (completed, due) = completion_facts(&f.db, "T1").await;
    assert!(
        completed > due,
        "late in the facts: {completed:?} > {due:?}"
    );
    // The phone received the receipt too (its commit is sent back to it).
    a.until("receipt on the phone", |p| {
        p.doc("T1")
            .is_some_and(|d| completion_entry(&d.view().unwrap()).receipt.is_some())
    })
    .await;

    // Genuine offline work: the phone's last contact was four hours ago.
    let mut g = Phone::login(server.addr, "crew1b", "phone-g").await;
    g.sync().await;
    g.close().await;
    exec(
        &f.db,
        "UPDATE device_contacts SET at = $1 WHERE device = $2",
        now_millis() - 4 * HOUR,
        "phone-g",
    )
    .await;
    let offline = now_millis() - 3 * HOUR;
    g.dev
        .edit(&id("T2"), offline, |t, who| complete_at(t, who, 2, offline))
        .unwrap();
    g.sync().await;
    g.until("ack", |p| p.acks("T2") == 1).await;
    let v = server_doc(&f.db, "T2").await.unwrap().view().unwrap();
    let done = completion_entry(&v);
    assert_eq!(done.event.at, offline);
    let r = done.receipt.expect("received three hours after its time");
    assert_eq!(r.vouched_at, offline, "vouched: after the previous contact");
    assert_eq!(v.derived.completed_at, Some(offline));
    let (completed, due) = completion_facts(&f.db, "T2").await;
    assert!(completed < due, "on time: {completed:?} < {due:?}");
    server.shutdown().await.unwrap();
}

async fn post_exchange(addr: SocketAddr, auth: Option<&str>, body: Vec<u8>) -> reqwest::Response {
    let mut req = tarmim_testing::http()
        .post(format!("http://{addr}/api/v1/sync/exchange"))
        .header("content-type", "application/x-tarmim-frames")
        .body(body);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    req.send().await.unwrap()
}

/// Missing, malformed, expired and revoked tokens get a 401 before any upgrade, on both
/// the WebSocket and the HTTP fallback; an admin (no sync role) gets a 403.
async fn bad_tokens_are_refused(f: &Fixture) {
    seed_people(&f.db).await;
    let server = start(f).await;
    let addr = server.addr;
    let (good, actor) = login(addr, "crew1", "phone-a").await;
    // Expired: a token stored with an expiry in the past.
    let expired = server::domain::identity::new_token();
    let now = now_millis();
    f.db.insert_token(
        &expired.hash,
        "u-crew1",
        &actor.device,
        now - 10_000,
        now - 1,
    )
    .await
    .unwrap();
    // Revoked: logged out.
    let (revoked, _) = login(addr, "crew1", "phone-a").await;
    let r = tarmim_testing::http()
        .post(format!("http://{addr}/api/v1/logout"))
        .bearer_auth(&revoked)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("malformed", Some(format!("Basic {good}"))),
        ("unknown", Some(format!("Bearer tmt_{}", "0".repeat(64)))),
        ("expired", Some(format!("Bearer {}", expired.token))),
        ("revoked", Some(format!("Bearer {revoked}"))),
    ];
    for (what, auth) in &cases {
        let (status, body) = ws_connect(addr, auth.as_deref())
            .await
            .err()
            .unwrap_or_else(|| panic!("{what}: upgraded"));
        assert_eq!(status, 401, "{what}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "unauthorized", "{what}");
        let r = post_exchange(addr, auth.as_deref(), vec![0, 0, 0, 0]).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{what} (exchange)");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized", "{what}");
    }
    let (admin, _) = login_admin(addr).await;
    let (status, _) = ws_connect(addr, Some(&format!("Bearer {admin}")))
        .await
        .err()
        .unwrap_or_else(|| panic!("admin upgraded"));
    assert_eq!(status, 403);
    // The good token does upgrade.
    assert!(
        ws_connect(addr, Some(&format!("Bearer {good}")))
            .await
            .is_ok()
    );
    server.shutdown().await.unwrap();
}

async fn login_admin(addr: SocketAddr) -> (String, Value) {
    let r = tarmim_testing::http()
        .post(format!("http://{addr}/api/v1/login"))
        .json(&json!({"login": "admin", "password": PASSWORD, "device_id": "admin-pc"}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    (body["token"].as_str().unwrap().to_owned(), body)
}

/// Reads until the socket closes; returns the server frames and the close code.
async fn drain(ws: &mut Ws) -> (Vec<ServerFrame>, Option<CloseCode>) {
    let mut frames = Vec::new();
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Err(_) => panic!("socket not closed; frames so far {frames:?}"),
            Ok(Some(Ok(Message::Binary(b)))) => frames.push(decode_server(&b).unwrap().frame),
            Ok(Some(Ok(Message::Close(c)))) => return (frames, c.map(|c| c.code)),
            Ok(Some(Ok(_))) => {}
            Ok(None) | Ok(Some(Err(_))) => return (frames, None),
        }
    }
}

fn hello(device: &str, version: u16) -> Vec<u8> {
    encode_client(
        version.max(1),
        0,
        &ClientFrame::Hello(Hello {
            oldest_version: OLDEST_SUPPORTED_VERSION,
            newest_version: PROTOCOL_VERSION,
            device: DeviceId::new(device).unwrap(),
            cursors: vec![],
        }),
    )
}

/// Garbage, truncated frames, an unknown version, a Hello for another device: an error
/// frame, then the socket closes; nothing is stored. Text and oversized messages close
/// with a policy violation.
async fn malformed_frames_close_the_socket(f: &Fixture) {
    seed_people(&f.db).await;
    seed_task(&f.db, "T1", "D1", Some("C1")).await;
    let mut config = f.config.clone();
    config.sync_max_message_bytes = 64 * 1024;
    let server = start_with(f.db.clone(), config).await;
    let addr = server.addr;
    let (token, actor) = login(addr, "crew1", "phone-a").await;
    let auth = format!("Bearer {token}");
    // A new task a push would create, if anything got through.
    let mut t = TaskDoc::create(
        NewTask {
            id: id("EVIL"),
            source: Source::Crew,
            category: "pothole".into(),
            title: "evil".into(),
            description: String::new(),
            point: GeoPoint {
                lat: 35.7,
                lon: 51.4,
                accuracy_m: None,
            },
            address: None,
            district: Some("D1".into()),
            priority: Priority::Normal,
            sla: Sla::default(),
            reopen_window_ms: 1,
        },
        &actor,
        now_millis(),
    )
    .unwrap();
    let push = encode_client(
        PROTOCOL_VERSION,
        1,
        &ClientFrame::Push(Push {
            doc: id("EVIL"),
            changes: t
                .automerge()
                .get_changes(&[])
                .into_iter()
                .map(|c| c.raw_bytes().to_vec())
                .collect(),
        }),
    );
    let good_hello = hello("phone-a", PROTOCOL_VERSION);
    let mut bad_version = good_hello.clone();
    bad_version[2..4].copy_from_slice(&999u16.to_le_bytes());
    let cases: Vec<(&str, Vec<u8>, ErrorCode)> = vec![
        (
            "garbage",
            b"\xde\xad\xbe\xef garbage".to_vec(),
            ErrorCode::Malformed,
        ),
        (
            "truncated",
            good_hello[..good_hello.len() - 3].to_vec(),
            ErrorCode::Malformed,
        ),
        (
            "unknown version",
            bad_version,
            ErrorCode::UnsupportedVersion,
        ),
        (
            "another device",
            hello("phone-zz", PROTOCOL_VERSION),
            ErrorCode::Unauthorized,
        ),
    ];
    let docs_before = f.db.count_docs().await.unwrap();
    for (what, first, code) in cases {
        let mut ws = ws_connect(addr, Some(&auth)).await.unwrap();
        ws.send(Message::Binary(first.into())).await.unwrap();
        let _ = ws.send(Message::Binary(push.clone().into())).await;
        let (frames, _) = drain(&mut ws).await;
        assert_eq!(frames.len(), 1, "{what}: {frames:?}");
        match &frames[0] {
            ServerFrame::Error(e) => assert_eq!(e.code, code, "{what}: {e:?}"),
            other => panic!("{what}: expected an error frame, got {other:?}"),
        }
    }
    // Text message: policy violation.
    let mut ws = ws_connect(addr, Some(&auth)).await.unwrap();
    ws.send(Message::Text("hello".into())).await.unwrap();
    let (frames, close) = drain(&mut ws).await;
    assert!(frames.is_empty());
    assert_eq!(close, Some(CloseCode::Policy));
    // Oversized message: policy violation.
    let mut ws = ws_connect(addr, Some(&auth)).await.unwrap();
    ws.send(Message::Binary(good_hello.clone().into()))
        .await
        .unwrap();
    let _ = ws.send(Message::Binary(vec![0u8; 100 * 1024].into())).await;
    let (frames, close) = drain(&mut ws).await;
    assert!(matches!(frames.first(), Some(ServerFrame::Welcome(_))));
    assert_eq!(close, Some(CloseCode::Policy));
    assert_eq!(f.db.count_docs().await.unwrap(), docs_before);
    assert!(f.db.load(&id("EVIL")).await.unwrap().is_none());
    server.shutdown().await.unwrap();
}

/// The HTTP fallback returns what a WebSocket sync returns, and pushes through it are
/// acknowledged and stored; bad bodies are 400 / 413.
async fn http_fallback_matches_websocket(f: &Fixture) {
    seed_people(&f.db).await;
    seed_task(&f.db, "T1", "D1", Some("C1")).await;
    seed_task(&f.db, "T2", "D1", Some("C1")).await;
    seed_task(&f.db, "T3", "D1", Some("C2")).await;
    let mut config = f.config.clone();
    config.sync_max_message_bytes = 1024 * 1024;
    let server = start_with(f.db.clone(), config).await;
    let addr = server.addr;
    let mut ws_phone = Phone::login(addr, "crew1", "phone-a").await;
    ws_phone.sync().await;

    let (token, actor) = login(addr, "crew1", "phone-h").await;
    let auth = format!("Bearer {token}");
    let mut dev = Device::new(Store::open_in_memory().unwrap(), actor);
    let exchange = |frames: Vec<Vec<u8>>| {
        let auth = auth.clone();
        async move {
            let r = post_exchange(addr, Some(&auth), encode_frames(&frames)).await;
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(
                r.headers()["content-type"],
                server::domain::sync::FRAMES_MEDIA_TYPE
            );
            let body = r.bytes().await.unwrap();
            decode_frames(&body)
                .unwrap()
                .into_iter()
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>()
        }
    };
    let mut events = Vec::new();
    for f in exchange(dev.connect().unwrap()).await {
        events.extend(dev.on_frame(&f).unwrap().events);
    }
    assert!(events.contains(&DeviceEvent::CaughtUp), "{events:?}");
    let held: BTreeSet<String> = dev
        .list()
        .unwrap()
        .into_iter()
        .map(|e| e.id.to_string())
        .collect();
    assert_eq!(held, ws_phone.held());
    for d in &held {
        let mut t = TaskDoc::load(&dev.store().get(&id(d)).unwrap().unwrap()).unwrap();
        let mut h = t.heads();
        h.sort();
        assert_eq!(Some(h), ws_phone.heads(d));
    }
    // A push through the fallback: acknowledged, stored, and pushed live to the
    // WebSocket phone.
    dev.disconnect();
    let now = now_millis();
    dev.edit(&id("T1"), now, |t, who| t.add_note(who, now, "over http"))
        .unwrap();
    let mut events = Vec::new();
    for f in exchange(dev.connect().unwrap()).await {
        events.extend(dev.on_frame(&f).unwrap().events);
    }
    assert!(
        events.contains(&DeviceEvent::Acknowledged(id("T1"))),
        "{events:?}"
    );
    assert_eq!(dev.pending_count().unwrap(), 0);
    let stored = server_heads(&f.db, "T1").await;
    ws_phone
        .until("the note pushed over http", |p| {
            p.heads("T1") == Some(stored.clone())
        })
        .await;

    // Truncated body: 400, JSON.
    let mut body = encode_frames(&[hello("phone-h", PROTOCOL_VERSION)]);
    body.truncate(body.len() - 2);
    let r = post_exchange(addr, Some(&auth), body).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "bad_request");
    let r = post_exchange(addr, Some(&auth), vec![1, 0]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Too large: 413, JSON.
    let r = post_exchange(addr, Some(&auth), vec![0u8; 2 * 1024 * 1024]).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "payload_too_large"
    );
    // First frame not a Hello: an error frame.
    let r = post_exchange(addr, Some(&auth), encode_frames(&[b"junk".to_vec()])).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.bytes().await.unwrap();
    let frames = decode_frames(&body).unwrap();
    assert!(matches!(
        decode_server(frames[0]).unwrap().frame,
        ServerFrame::Error(_)
    ));
    server.shutdown().await.unwrap();
}

on_both_backends!(
    crew_phone_receives_its_crews_tasks,
    offline_edits_converge,
    live_push_reaches_connected_phone,
    reassignment_moves_task_live,
    forged_changes_are_refused,
    a_managers_notes_and_photos_are_refused,
    a_fork_hiding_an_acknowledged_reassignment_is_refused,
    a_completion_after_an_acknowledged_drop_is_refused,
    future_dated_events_are_refused,
    backdated_times_are_measured_from_receipt,
    bad_tokens_are_refused,
    malformed_frames_close_the_socket,
    http_fallback_matches_websocket,
    history_is_compacted_and_far_behind_phones_catch_up,
);

/// Two replicas (separate pools) on one PostgreSQL database: a change pushed through
/// replica 2 reaches a phone connected to replica 1 (LISTEN/NOTIFY).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_push_across_postgres() {
    let f = Fixture::postgres().await;
    seed_people(&f.db).await;
    seed_task(&f.db, "T1", "D1", Some("C1")).await;
    let url = f.config.database_url.clone().unwrap();
    let db2 = Db::Postgres(
        server::storage::postgres::PgStore::connect(&url, server::domain::commit_hooks())
            .await
            .unwrap(),
    );
    let r1 = start(&f).await;
    let r2 = start_with(db2.clone(), f.config.clone()).await;
    let mut a = Phone::login(r1.addr, "crew1", "phone-a").await;
    let mut b = Phone::login(r2.addr, "crew1b", "phone-b").await;
    a.sync().await;
    b.sync().await;
    let now = now_millis();
    for i in 0..3 {
        b.dev
            .edit(&id("T1"), now, |t, who| {
                t.add_note(who, now, &format!("from replica 2 #{i}"))
            })
            .unwrap();
        b.push().await;
        b.until("ack", |p| p.acks("T1") == i + 1).await;
        let stored = server_heads(&f.db, "T1").await;
        a.until("the change made on replica 2", |p| {
            p.heads("T1") == Some(stored.clone())
        })
        .await;
    }
    a.close().await;
    b.close().await;
    r1.shutdown().await.unwrap();
    r2.shutdown().await.unwrap();
    f.close().await;
}

// ------------------------------------------------------------------ SIGKILL

struct Child {
    proc: std::process::Child,
    addr: SocketAddr,
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

async fn spawn_server(config: &server::base::config::Config, addr: SocketAddr) -> Child {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tarmim-server"));
    cmd.env_clear()
        .env("TARMIM_DATA_DIR", &config.data_dir)
        .env("TARMIM_LISTEN", addr.to_string())
        .env("TARMIM_DEMO", "false")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(url) = &config.database_url {
        cmd.env("DATABASE_URL", url);
    }
    let proc = cmd.spawn().unwrap();
    let child = Child { proc, addr };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = tarmim_testing::http()
            .get(format!("http://{addr}/readyz"))
            .send()
            .await
            && r.status() == StatusCode::OK
        {
            return child;
        }
        assert!(Instant::now() < deadline, "the server binary did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// SIGKILL mid-sync loses no acknowledged change, and the phone's pending changes reach
/// the restarted server.
async fn sigkill_loses_no_acknowledged_change(f: &Fixture) {
    seed_people(&f.db).await;
    seed_task(&f.db, "T1", "D1", Some("C1")).await;
    let addr = free_addr();
    let child = spawn_server(&f.config, addr).await;
    let mut a = Phone::login(child.addr, "crew1", "phone-a").await;
    a.sync().await;
    // Notes by the hash of the change that carries each.
    let mut by_hash: HashMap<[u8; 32], String> = HashMap::new();
    let total = 120usize;
    let kill_after = 10 + (rand::random::<u64>() % 80) as usize;
    let mut child = Some(child);
    for i in 0..total {
        let before: BTreeSet<[u8; 32]> = a
            .dev
            .store()
            .pending(&id("T1"))
            .unwrap()
            .iter()
            .map(|p| p.hash)
            .collect();
        let now = now_millis();
        let text = format!("note {i}");
        a.dev
            .edit(&id("T1"), now, |t, who| t.add_note(who, now, &text))
            .unwrap();
        for p in a.dev.store().pending(&id("T1")).unwrap() {
            if !before.contains(&p.hash) {
                by_hash.insert(p.hash, text.clone());
            }
        }
        a.push().await;
        // Take whatever acks have arrived, without waiting.
        while a.step(Duration::from_millis(1)).await {}
        if i == kill_after
            && let Some(mut c) = child.take()
        {
            c.proc.kill().unwrap(); // SIGKILL
            c.proc.wait().unwrap();
        }
    }
    // Drain what the socket still held, then it is gone.
    while a.step(Duration::from_millis(100)).await {}
    a.close().await;
    let pending: BTreeSet<[u8; 32]> = a
        .dev
        .store()
        .pending(&id("T1"))
        .unwrap()
        .iter()
        .map(|p| p.hash)
        .collect();
    let acked: BTreeSet<String> = by_hash
        .iter()
        .filter(|(h, _)| !pending.contains(*h))
        .map(|(_, t)| t.clone())
        .collect();
    assert!(!pending.is_empty(), "the kill left nothing pending");
    // Restart on the same data: every acknowledged note is there.
    let child = spawn_server(&f.config, addr).await;
    let notes = |t: TaskDoc| -> BTreeSet<String> {
        t.view()
            .unwrap()
            .notes
            .into_iter()
            .map(|n| n.text)
            .collect()
    };
    let stored = notes(server_doc(&f.db, "T1").await.unwrap());
    let lost: Vec<&String> = acked.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    // Reconnect: the pending notes go through; all notes are stored.
    a.sync().await;
    a.until("all acknowledged", |p| p.dev.pending_count().unwrap() == 0)
        .await;
    let stored = notes(server_doc(&f.db, "T1").await.unwrap());
    let all: BTreeSet<String> = by_hash.values().cloned().collect();
    assert_eq!(all.len(), total);
    let missing: Vec<&String> = all.difference(&stored).collect();
    assert!(missing.is_empty(), "missing after reconnect: {missing:?}");
    assert_eq!(a.heads("T1").unwrap(), server_heads(&f.db, "T1").await);
    a.close().await;
    drop(child);
}

mod sigkill {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let f = tarmim_testing::Fixture::sqlite().await;
        super::sigkill_loses_no_acknowledged_change(&f).await;
        f.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let f = tarmim_testing::Fixture::postgres().await;
        super::sigkill_loses_no_acknowledged_change(&f).await;
        f.close().await;
    }
}

/// A silent connection is closed after the idle timeout; at shutdown a connected phone is
/// told the server is going away, and shutdown waits for its connection to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_close_and_shutdown_says_going_away() {
    let f = Fixture::sqlite().await;
    seed_people(&f.db).await;
    let mut config = f.config.clone();
    config.sync_idle_timeout_secs = 1;
    let server = start_with(f.db.clone(), config).await;
    let (token, _) = login(server.addr, "crew1", "phone-a").await;
    let auth = format!("Bearer {token}");
    let mut ws = ws_connect(server.addr, Some(&auth)).await.unwrap();
    ws.send(Message::Binary(hello("phone-a", PROTOCOL_VERSION).into()))
        .await
        .unwrap();
    let (frames, close) = drain(&mut ws).await;
    assert!(matches!(frames.first(), Some(ServerFrame::Welcome(_))));
    assert_eq!(close, Some(CloseCode::Normal));

    let mut ws = ws_connect(server.addr, Some(&auth)).await.unwrap();
    ws.send(Message::Binary(hello("phone-a", PROTOCOL_VERSION).into()))
        .await
        .unwrap();
    let reader = tokio::spawn(async move { drain(&mut ws).await });
    server.shutdown().await.unwrap();
    let (_, close) = reader.await.unwrap();
    assert_eq!(close, Some(CloseCode::Away));
    f.close().await;
}

/// Opens a sync WebSocket; `Err` with the refusal's status and `Retry-After` seconds.
async fn upgrade(addr: SocketAddr, auth: &str) -> Result<Ws, (u16, Option<u64>)> {
    let mut req = format!("ws://{addr}/api/v1/sync")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", auth.parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(WsError::Http(resp)) => Err((
            resp.status().as_u16(),
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
        )),
        Err(e) => panic!("websocket connect failed: {e}"),
    }
}

/// Reads until `CaughtUp`.
async fn until_caught_up(ws: &mut Ws) {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => {
                if decode_server(&b).unwrap().frame == ServerFrame::CaughtUp {
                    return;
                }
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no CaughtUp: {other:?}"),
        }
    }
}

/// Handshakes are admitted in turns (`sync_handshakes`, issue 21 §4). With one turn: a
/// socket upgraded but silent holds it, so another's upgrade waits and is refused with 503
/// and `Retry-After` when no turn comes within `sync_handshake_wait_secs`; once the first
/// has caught up, the next goes through. A turn lasts at most `sync_handshake_turn_secs`:
/// a socket that never says `Hello` holds it no longer, and the one waiting gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_are_admitted_in_turns() {
    let f = Fixture::sqlite().await;
    seed_people(&f.db).await;
    seed_task(&f.db, "T1", "D1", Some("C1")).await;
    let mut config = f.config.clone();
    config.limits.sync_handshakes = 1;
    config.limits.sync_handshake_wait_secs = 1;
    config.limits.sync_handshake_turn_secs = 3600;
    let server = start_with(f.db.clone(), config.clone()).await;
    let (tok_a, _) = login(server.addr, "crew1", "phone-a").await;
    let (tok_b, _) = login(server.addr, "crew1b", "phone-b").await;
    let (auth_a, auth_b) = (format!("Bearer {tok_a}"), format!("Bearer {tok_b}"));

    let mut a = upgrade(server.addr, &auth_a).await.unwrap();
    let refused = upgrade(server.addr, &auth_b).await.err();
    let Some((503, Some(secs))) = refused else {
        panic!("b was not refused with 503 and Retry-After: {refused:?}");
    };
    assert!(secs >= 1, "Retry-After {secs}");
    // a says Hello and catches up: its turn ends, and b gets one.
    a.send(Message::Binary(hello("phone-a", PROTOCOL_VERSION).into()))
        .await
        .unwrap();
    until_caught_up(&mut a).await;
    let mut b = upgrade(server.addr, &auth_b).await.unwrap();
    b.send(Message::Binary(hello("phone-b", PROTOCOL_VERSION).into()))
        .await
        .unwrap();
    until_caught_up(&mut b).await;
    drop((a, b));

    // A turn held by a socket that never says Hello ends after a second; b, willing to
    // wait a minute, gets in while a is still silent.
    config.limits.sync_handshake_wait_secs = 60;
    config.limits.sync_handshake_turn_secs = 1;
    let second = start_with(f.db.clone(), config).await;
    let a = upgrade(second.addr, &auth_a).await.unwrap();
    let mut b = tokio::time::timeout(WAIT, upgrade(second.addr, &auth_b))
        .await
        .expect("b admitted once a's turn ended")
        .unwrap();
    b.send(Message::Binary(hello("phone-b", PROTOCOL_VERSION).into()))
        .await
        .unwrap();
    until_caught_up(&mut b).await;
    drop((a, b));
    second.shutdown().await.unwrap();
    server.shutdown().await.unwrap();
    f.close().await;
}

/// What one raw catch-up brought: the documents sent (whole or as changes), those
/// dropped, and the cursors after it.
struct CaughtUp {
    docs: BTreeSet<String>,
    dropped: BTreeSet<String>,
    cursors: Vec<sync_core::protocol::Cursor>,
}

/// Connects as `device` with `cursors`, reads the catch-up until `CaughtUp` (applying each
/// batch to the cursors as a phone does: `scanned` always, `seq` once complete), closes.
async fn raw_catch_up(
    addr: SocketAddr,
    token: &str,
    device: &str,
    mut cursors: Vec<sync_core::protocol::Cursor>,
) -> CaughtUp {
    use sync_core::protocol::{Cursor, DocUpdate};
    let mut ws = upgrade(addr, &format!("Bearer {token}")).await.unwrap();
    let hello = ClientFrame::Hello(Hello {
        oldest_version: PROTOCOL_VERSION,
        newest_version: PROTOCOL_VERSION,
        device: DeviceId::new(device).unwrap(),
        cursors: cursors.clone(),
    });
    ws.send(Message::Binary(
        encode_client(PROTOCOL_VERSION, 0, &hello).into(),
    ))
    .await
    .unwrap();
    let (mut docs, mut dropped) = (BTreeSet::new(), BTreeSet::new());
    let mut expected = 0u32;
    loop {
        let b = match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => b,
            Ok(Some(Ok(_))) => continue,
            other => panic!("{device}: no CaughtUp: {other:?}"),
        };
        let d = decode_server(&b).unwrap();
        // Frames shared between connections are numbered for each.
        assert_eq!(d.number, expected, "{device}: frame numbers");
        expected += 1;
        match d.frame {
            ServerFrame::Batch(batch) => {
                for u in &batch.updates {
                    match u {
                        DocUpdate::Snapshot { doc, .. } | DocUpdate::Changes { doc, .. } => {
                            docs.insert(doc.to_string());
                        }
                        DocUpdate::Drop { doc } => {
                            dropped.insert(doc.to_string());
                        }
                    }
                }
                let c = match cursors.iter_mut().position(|c| c.scope == batch.scope) {
                    Some(i) => &mut cursors[i],
                    None => {
                        cursors.push(Cursor {
                            scope: batch.scope.clone(),
                            seq: 0,
                            scanned: 0,
                        });
                        cursors.last_mut().unwrap()
                    }
                };
                c.scanned = c.scanned.max(batch.scanned);
                if batch.complete {
                    c.seq = c.seq.max(batch.scanned);
                }
            }
            ServerFrame::CaughtUp => break,
            ServerFrame::Error(e) => panic!("{device}: {e:?}"),
            _ => {}
        }
    }
    let _ = ws.close(None).await;
    CaughtUp {
        docs,
        dropped,
        cursors,
    }
}

fn names(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The phones of a crew reconnecting from the same cursor share one catch-up page
/// (issue 21 §4, `sync_core::session::pages`): each still gets exactly its crew's
/// documents, a phone of another crew never gets them, and a commit made between two
/// catch-ups from the same cursor is sent to the later one — here a commit written
/// straight into the database, which announces nothing to the server, so only the
/// server's own reading of the scope can reveal it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crews_phones_share_catch_up_pages_and_miss_nothing() {
    let f = Fixture::sqlite().await;
    seed_people(&f.db).await;
    seed_task(&f.db, "T1", "D1", Some("C1")).await;
    seed_task(&f.db, "T2", "D1", Some("C2")).await;
    seed_task(&f.db, "T3", "D1", Some("C1")).await;
    seed_task(&f.db, "T4", "D1", None).await;
    let server = start(&f).await;
    let addr = server.addr;
    let (tok_a1, _) = login(addr, "crew1", "phone-a1").await;
    let (tok_a2, _) = login(addr, "crew1", "phone-a2").await;
    let (tok_b, _) = login(addr, "crew1b", "phone-b").await;
    let (tok_c, _) = login(addr, "crew2", "phone-c").await;

    // The first morning: three phones of crew C1 from nothing, at once, and one of C2.
    let (a1, a2, b, c) = tokio::join!(
        raw_catch_up(addr, &tok_a1, "phone-a1", vec![]),
        raw_catch_up(addr, &tok_a2, "phone-a2", vec![]),
        raw_catch_up(addr, &tok_b, "phone-b", vec![]),
        raw_catch_up(addr, &tok_c, "phone-c", vec![]),
    );
    for p in [&a1, &a2, &b] {
        assert_eq!(p.docs, names(&["T1", "T3"]));
        assert!(p.dropped.is_empty());
        assert_eq!(
            p.cursors, a1.cursors,
            "C1's phones stand at the same cursor"
        );
    }
    assert_eq!(c.docs, names(&["T2"]));

    // While they are away: a task for each crew. One phone of C1 catches up (the page
    // from its cursor is built and kept)...
    seed_task(&f.db, "T5", "D1", Some("C1")).await;
    seed_task(&f.db, "T6", "D1", Some("C2")).await;
    let first = raw_catch_up(addr, &tok_a1, "phone-a1", a1.cursors.clone()).await;
    assert_eq!(first.docs, names(&["T5"]));
    // ...then another task of C1 is committed, and two more phones come back from the
    // same cursor as the first, at once: the page kept no longer matches the scope.
    seed_task(&f.db, "T7", "D1", Some("C1")).await;
    let (second, third) = tokio::join!(
        raw_catch_up(addr, &tok_a2, "phone-a2", a1.cursors.clone()),
        raw_catch_up(addr, &tok_b, "phone-b", a1.cursors.clone()),
    );
    assert_eq!(
        second.docs,
        names(&["T5", "T7"]),
        "the later commit is sent"
    );
    assert_eq!(third.docs, names(&["T5", "T7"]));
    assert_eq!(second.cursors, third.cursors);
    // C2's phone, from its own cursor: its own task only.
    let c2 = raw_catch_up(addr, &tok_c, "phone-c", c.cursors.clone()).await;
    assert_eq!(c2.docs, names(&["T6"]));

    // The first phone, from where it stood after its catch-up: T7 only, once.
    let again = raw_catch_up(addr, &tok_a1, "phone-a1", first.cursors.clone()).await;
    assert_eq!(again.docs, names(&["T7"]));
    server.shutdown().await.unwrap();
    f.close().await;
}

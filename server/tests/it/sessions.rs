//! Revocation cuts live connections (issue 16, point 7): a phone's sync WebSocket and a
//! dispatcher's console event stream, open on replica A, close within seconds when the
//! user's authority ends or changes on replica B (logout, `user revoke-tokens`, disabling,
//! new districts, a crew move), and a task committed right after never reaches them.
//! Both backends; on PostgreSQL, two in-process replicas on one database (separate pools,
//! `LISTEN/NOTIFY`). Device ids (point 8): another user's id is refused at login, and a
//! fresh id per login buys neither a fresh upload quota nor a fresh position slot.
//! Waits are bounded liveness waits, never assertions about timing.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use server::base::config::Config;
use server::base::time::now_millis;
use server::domain::identity::{self, CutKind, UserRole, hash_password};
use server::http::{AppState, RunningServer};
use server::storage::{Db, IdentityStore, Store as _};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;
use sync_core::session::device::{Device, DeviceEvent};
use sync_core::session::{ScopePolicy, TaskScopes};
use sync_core::store::Store;
use sync_core::task::*;
use sync_core::{Actor, DeviceId, DocId, Role};
use tarmim_testing::{Fixture, on_both_backends};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const PASSWORD: &str = "pass-word-1";
/// Liveness bound for anything that should happen "within seconds".
const WAIT: Duration = Duration::from_secs(15);

// ------------------------------------------------------------------ replicas

/// One in-process server, with its state (its hub and live sessions).
struct Node {
    db: Db,
    state: AppState,
    server: RunningServer,
}

impl Node {
    async fn start(db: Db, config: Config) -> Node {
        let state = AppState::new(db.clone(), config);
        let server = RunningServer::start(state.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        Node { db, state, server }
    }

    fn addr(&self) -> SocketAddr {
        self.server.addr
    }
}

/// Replica A and replica B: two servers on one PostgreSQL database (separate pools), or,
/// on SQLite (one process by design), the same server twice.
async fn replicas(f: &Fixture) -> (Node, Option<Node>) {
    let a = Node::start(f.db.clone(), f.config.clone()).await;
    let b = match &f.config.database_url {
        Some(url) => {
            let db2 = Db::Postgres(
                server::storage::postgres::PgStore::connect(url, server::domain::commit_hooks())
                    .await
                    .unwrap(),
            );
            Some(Node::start(db2, f.config.clone()).await)
        }
        None => None,
    };
    (a, b)
}

// ------------------------------------------------------------------ seeding

/// Crews C1 (district D1) and C2 (D2); crew members of each; dispatchers of D1 and D2.
async fn seed(db: &Db) {
    tarmim_testing::add_crew(db, "C1", "D1", &["pothole"]).await;
    tarmim_testing::add_crew(db, "C2", "D2", &["pothole"]).await;
    let hash = hash_password(PASSWORD).unwrap();
    for (uid, login, role, crew, districts) in [
        ("u-crew1", "crew1", UserRole::Crew, Some("C1"), vec![]),
        ("u-crew2", "crew2", UserRole::Crew, Some("C2"), vec![]),
        (
            "u-disp",
            "disp",
            UserRole::Dispatcher,
            None,
            vec!["D1".to_owned()],
        ),
    ] {
        tarmim_testing::add_user(db, uid, login, &hash, role, crew, districts).await;
    }
    commit_task(db, None, "T1", "D1", "C1").await;
    commit_task(db, None, "T2", "D2", "C2").await;
}

/// Commits a new task of `district` assigned to `crew` on `node`'s store and announces it
/// through its hub, as the server's intake does (`None`: only stored).
async fn commit_task(db: &Db, node: Option<&Node>, n: &str, district: &str, crew: &str) {
    let by = Actor {
        user: "u-disp".into(),
        role: Role::Dispatcher,
        crew: None,
        device: DeviceId::new("console-seed").unwrap(),
    };
    let now = now_millis();
    let mut t = TaskDoc::create(
        NewTask {
            id: DocId::new(n).unwrap(),
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
        &by,
        now,
    )
    .unwrap();
    t.append_event(
        &by,
        now + 1,
        EventKind::Assigned {
            crew: crew.into(),
            reason: "seed".into(),
        },
    )
    .unwrap();
    tarmim_testing::commit_new(db, &mut t, "server").await;
    if let Some(node) = node {
        let scopes = TaskScopes.scopes_of(&t.view().unwrap());
        node.state.hub().publish(&scopes).await;
    }
}

// ------------------------------------------------------------------ a phone

/// A phone: a sync-core device over a real WebSocket.
struct Phone {
    dev: Device,
    addr: SocketAddr,
    token: String,
    ws: Option<Ws>,
    /// Every event the device reported.
    events: Vec<DeviceEvent>,
}

async fn ws_connect(addr: SocketAddr, token: &str) -> Result<Ws, u16> {
    let mut req = format!("ws://{addr}/api/v1/sync")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("websocket connect failed: {e}"),
    }
}

impl Phone {
    async fn login(addr: SocketAddr, login: &str, device: &str) -> Phone {
        let (token, actor) = tarmim_testing::login_actor(addr, login, PASSWORD, device).await;
        Phone {
            dev: Device::new(Store::open_in_memory().unwrap(), actor),
            addr,
            token,
            ws: None,
            events: Vec::new(),
        }
    }

    /// Connects (to `addr`) and waits until caught up.
    async fn sync(&mut self) {
        let ws = ws_connect(self.addr, &self.token).await.unwrap();
        self.ws = Some(ws);
        let frames = self.dev.connect().unwrap();
        self.send(frames).await;
        let deadline = Instant::now() + WAIT;
        while !self.dev.is_live() {
            assert!(Instant::now() < deadline, "not caught up");
            assert!(self.step().await.is_none(), "closed while catching up");
        }
    }

    async fn send(&mut self, frames: Vec<Vec<u8>>) {
        let ws = self.ws.as_mut().unwrap();
        for f in frames {
            if ws.send(Message::Binary(f.into())).await.is_err() {
                return;
            }
        }
    }

    /// Handles one message; `Some(code)` when the socket closed.
    async fn step(&mut self) -> Option<Option<CloseCode>> {
        let ws = self.ws.as_mut().unwrap();
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("the socket stayed silent");
        match msg {
            Some(Ok(Message::Binary(b))) => {
                let out = self.dev.on_frame(&b).unwrap();
                self.events.extend(out.events);
                self.send(out.frames).await;
                None
            }
            Some(Ok(Message::Close(c))) => {
                self.ws = None;
                self.dev.disconnect();
                Some(c.map(|c| c.code))
            }
            None | Some(Err(_)) => {
                self.ws = None;
                self.dev.disconnect();
                Some(None)
            }
            Some(Ok(_)) => None,
        }
    }

    /// Handles everything the server sends until it closes the socket; the close code.
    async fn until_closed(&mut self) -> Option<CloseCode> {
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "the socket was not closed");
            if let Some(code) = self.step().await {
                return code;
            }
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
}

// ------------------------------------------------------------------ a console stream

/// The console's event stream, read raw.
struct Stream {
    resp: reqwest::Response,
    buf: String,
}

impl Stream {
    async fn open(addr: SocketAddr, token: &str) -> Stream {
        let resp = tarmim_testing::http()
            .get(format!("http://{addr}/api/v1/console/events"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let mut s = Stream {
            resp,
            buf: String::new(),
        };
        assert_eq!(s.next().await.map(|e| e.0), Some("hello".to_owned()));
        s
    }

    /// The next event (name, data); `None` when the stream ended.
    async fn next(&mut self) -> Option<(String, String)> {
        loop {
            if let Some(i) = self.buf.find("\n\n") {
                let chunk: String = self.buf.drain(..i + 2).collect();
                let mut name = String::new();
                let mut data = String::new();
                for line in chunk.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if name.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some((name, data));
            }
            let chunk = tokio::time::timeout(WAIT, self.resp.chunk())
                .await
                .expect("the stream stayed silent");
            match chunk {
                Ok(Some(b)) => self.buf.push_str(&String::from_utf8_lossy(&b)),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Every event until the stream ends.
    async fn until_ended(&mut self) -> Vec<(String, String)> {
        let deadline = Instant::now() + WAIT;
        let mut out = Vec::new();
        while let Some(e) = self.next().await {
            assert!(Instant::now() < deadline, "the stream did not end: {out:?}");
            out.push(e);
        }
        out
    }
}

// ------------------------------------------------------------------ the triggers

#[derive(Debug, Clone, Copy)]
enum Trigger {
    Logout,
    RevokeTokens,
    Disable,
}

/// Runs `trigger` for the crew member's phone and the dispatcher's console on `b`.
async fn revoke(f: &Fixture, b: &Node, trigger: Trigger, phone: &Phone, console: &str) {
    match trigger {
        Trigger::Logout => {
            for token in [phone.token.as_str(), console] {
                let r = tarmim_testing::http()
                    .post(format!("http://{}/api/v1/logout", b.addr()))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 204);
            }
        }
        Trigger::RevokeTokens => {
            // The CLI: another process, writing to the same database.
            for login in ["crew1", "disp"] {
                let out = tarmim_testing::cli(
                    env!("CARGO_BIN_EXE_tarmim-server"),
                    f,
                    &["user", "revoke-tokens", "--login", login],
                    None,
                    &[],
                );
                assert_eq!(
                    tarmim_testing::ok(&out).trim(),
                    format!("revoked 1 token(s) of {login}")
                );
            }
        }
        Trigger::Disable => {
            let live = Some(b.state.hub().sessions());
            for user in ["u-crew1", "u-disp"] {
                assert!(identity::disable_user(&b.db, live, user).await.unwrap());
            }
        }
    }
}

/// A phone's socket and a console stream open on replica A; `trigger` on replica B; a task
/// of their scopes committed on B right after: the socket closes with 4401, the stream
/// with a `closed` event, and neither ever carries the task. The token no longer opens
/// either.
async fn cut_on_other_replica(f: &Fixture, trigger: Trigger) {
    seed(&f.db).await;
    let (a, b) = replicas(f).await;
    let b_ref = b.as_ref().unwrap_or(&a);
    let mut phone = Phone::login(a.addr(), "crew1", "phone-a").await;
    phone.sync().await;
    assert!(phone.held().contains("T1"));
    let console = tarmim_testing::login(a.addr(), "disp", PASSWORD, "console-a").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = Stream::open(a.addr(), &console).await;

    revoke(f, b_ref, trigger, &phone, &console).await;
    if matches!(trigger, Trigger::RevokeTokens) && b.is_none() {
        // SQLite: the CLI is another process and the server polls the log (every
        // second), so the cut is only as prompt as that: wait for it before committing.
        // (On PostgreSQL its NOTIFY is heard before the commit's.)
        let deadline = Instant::now() + WAIT;
        let live = a.state.hub().sessions();
        while live.count("u-crew1") + live.count("u-disp") > 0 {
            assert!(Instant::now() < deadline, "the CLI's cut never applied");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    commit_task(&b_ref.db, Some(b_ref), "T3", "D1", "C1").await;

    let code = phone.until_closed().await;
    assert_eq!(code, Some(CloseCode::from(4401)), "{trigger:?}");
    assert!(
        !phone.held().contains("T3"),
        "{trigger:?}: the task reached a revoked phone"
    );
    // Issue 20 §3: a disabled user's phone is told, before the close, that it has no
    // scope left, and drops the user's tasks; a revoked token alone drops nothing.
    let disabled = matches!(trigger, Trigger::Disable);
    assert_eq!(
        phone.events.contains(&DeviceEvent::AccountDisabled),
        disabled,
        "{trigger:?}: {:?}",
        phone.events
    );
    assert_eq!(phone.held().contains("T1"), !disabled, "{trigger:?}");
    if disabled {
        assert!(
            phone
                .events
                .contains(&DeviceEvent::Dropped(DocId::new("T1").unwrap()))
        );
        account_disabled_is_told_apart(a.addr(), &phone.token).await;
    }
    let events = stream.until_ended().await;
    let names: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names, ["closed"], "{trigger:?}: {events:?}");
    assert_eq!(
        serde_json::from_str::<Value>(&events[0].1).unwrap(),
        json!({"reason": "token_revoked"})
    );
    // Neither token opens anything again.
    assert_eq!(ws_connect(a.addr(), &phone.token).await.err(), Some(401));
    let r = tarmim_testing::http()
        .get(format!("http://{}/api/v1/console/events", a.addr()))
        .bearer_auth(&console)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // The task was committed all the same.
    assert!(
        sync_core::session::ServerStore::load(&f.db, &DocId::new("T3").unwrap())
            .await
            .unwrap()
            .is_some()
    );
    if let Some(b) = b {
        b.server.shutdown().await.unwrap();
        b.db.close().await;
    }
    a.server.shutdown().await.unwrap();
}

/// A disabled user's token is refused as `401 account_disabled` (the API, the sync
/// fallback); a login with the right password as `403 account_disabled`, with a wrong one
/// as any wrong password.
async fn account_disabled_is_told_apart(addr: SocketAddr, token: &str) {
    let http = tarmim_testing::http();
    let code = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        (
            status,
            body["error"].as_str().unwrap_or_default().to_owned(),
        )
    };
    let me = http
        .get(format!("http://{addr}/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(code(me).await, (401, "account_disabled".to_owned()));
    let exchange = http
        .post(format!("http://{addr}/api/v1/sync/exchange"))
        .bearer_auth(token)
        .body(vec![0u8; 4])
        .send()
        .await
        .unwrap();
    assert_eq!(code(exchange).await, (401, "account_disabled".to_owned()));
    for (password, want) in [
        (PASSWORD, (403, "account_disabled")),
        ("wrong-pass-1", (401, "unauthorized")),
    ] {
        let r = http
            .post(format!("http://{addr}/api/v1/login"))
            .json(&json!({"login": "crew1", "password": password, "device_id": "phone-a"}))
            .send()
            .await
            .unwrap();
        assert_eq!(code(r).await, (want.0, want.1.to_owned()), "{password}");
    }
}

async fn logout_cuts_live_connections(f: &Fixture) {
    cut_on_other_replica(f, Trigger::Logout).await;
}

async fn revoke_tokens_cuts_live_connections(f: &Fixture) {
    cut_on_other_replica(f, Trigger::RevokeTokens).await;
}

async fn disabling_cuts_live_connections(f: &Fixture) {
    cut_on_other_replica(f, Trigger::Disable).await;
}

/// Logging out on one device closes only that token's socket: the user's other device
/// stays connected and still receives tasks.
async fn logout_cuts_only_its_own_token(f: &Fixture) {
    seed(&f.db).await;
    let (a, b) = replicas(f).await;
    let b_ref = b.as_ref().unwrap_or(&a);
    let mut one = Phone::login(a.addr(), "crew1", "phone-1").await;
    let mut two = Phone::login(a.addr(), "crew1", "phone-2").await;
    one.sync().await;
    two.sync().await;
    let r = tarmim_testing::http()
        .post(format!("http://{}/api/v1/logout", b_ref.addr()))
        .bearer_auth(&one.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(one.until_closed().await, Some(CloseCode::from(4401)));
    commit_task(&b_ref.db, Some(b_ref), "T3", "D1", "C1").await;
    let deadline = Instant::now() + WAIT;
    while !two.held().contains("T3") {
        assert!(
            Instant::now() < deadline,
            "the other device lost its socket"
        );
        assert!(
            two.step().await.is_none(),
            "the other device's socket closed"
        );
    }
    if let Some(b) = b {
        b.server.shutdown().await.unwrap();
        b.db.close().await;
    }
    a.server.shutdown().await.unwrap();
}

/// A dispatcher's districts change from D1 to D2: the console stream ends with
/// `scopes_changed`, the dispatcher's phone closes with 4409; reconnecting with the same
/// token follows D2 (T2 arrives) and no longer D1 (a new D1 task never arrives, and the
/// phone drops the D1 task it held).
async fn district_change_rescopes(f: &Fixture) {
    seed(&f.db).await;
    let (a, b) = replicas(f).await;
    let b_ref = b.as_ref().unwrap_or(&a);
    let mut phone = Phone::login(a.addr(), "disp", "disp-phone").await;
    phone.sync().await;
    assert_eq!(
        phone.held(),
        BTreeSet::from(["T1".to_owned()]),
        "a D1 dispatcher"
    );
    let console = tarmim_testing::login(a.addr(), "disp", PASSWORD, "console-a").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = Stream::open(a.addr(), &console).await;

    let live = Some(b_ref.state.hub().sessions());
    assert!(
        identity::set_user_districts(&b_ref.db, live, "u-disp", &["D2".to_owned()])
            .await
            .unwrap()
    );
    commit_task(&b_ref.db, Some(b_ref), "T3", "D1", "C1").await;
    assert_eq!(phone.until_closed().await, Some(CloseCode::from(4409)));
    assert!(!phone.held().contains("T3"));
    let events = stream.until_ended().await;
    assert_eq!(
        events,
        [(
            "closed".to_owned(),
            json!({"reason": "scopes_changed"}).to_string()
        )]
    );

    // The same tokens reconnect and follow D2 now.
    phone.sync().await;
    assert_eq!(
        phone.held(),
        BTreeSet::from(["T2".to_owned()]),
        "D2's task arrived, D1's left the phone"
    );
    let mut stream = Stream::open(a.addr(), &console).await;
    commit_task(&b_ref.db, Some(b_ref), "T4", "D1", "C1").await;
    commit_task(&b_ref.db, Some(b_ref), "T5", "D2", "C2").await;
    let deadline = Instant::now() + WAIT;
    while !phone.held().contains("T5") {
        assert!(Instant::now() < deadline, "T5 never arrived");
        assert!(phone.step().await.is_none());
    }
    assert!(!phone.held().contains("T3") && !phone.held().contains("T4"));
    let (name, data) = stream.next().await.unwrap();
    assert_eq!(
        (name.as_str(), data.as_str()),
        ("change", r#"{"scopes":["district:D2"]}"#)
    );
    if let Some(b) = b {
        b.server.shutdown().await.unwrap();
        b.db.close().await;
    }
    a.server.shutdown().await.unwrap();
}

/// A crew member moves from C1 to C2 (and then C2 moves to district D3): the socket
/// closes with 4409 each time; the same token reconnects to the new crew's tasks, a task
/// of the old crew never arrives, and the old crew's task the phone held leaves it.
async fn crew_change_rescopes(f: &Fixture) {
    seed(&f.db).await;
    let (a, b) = replicas(f).await;
    let b_ref = b.as_ref().unwrap_or(&a);
    let mut phone = Phone::login(a.addr(), "crew1", "phone-a").await;
    phone.sync().await;
    assert!(phone.held().contains("T1") && !phone.held().contains("T2"));

    let live = Some(b_ref.state.hub().sessions());
    assert!(
        identity::set_user_crew(&b_ref.db, live, "u-crew1", "C2")
            .await
            .unwrap()
    );
    commit_task(&b_ref.db, Some(b_ref), "T3", "D1", "C1").await;
    assert_eq!(phone.until_closed().await, Some(CloseCode::from(4409)));
    assert!(!phone.held().contains("T3"));
    phone.sync().await;
    assert_eq!(
        phone.held(),
        BTreeSet::from(["T2".to_owned()]),
        "the new crew's task arrived, the old crew's left the phone"
    );

    // The crew's own district moving is a scope change of its members too (their
    // `open:<district>` scope); written by the plain crew upsert (the CLI's `crew add`).
    b_ref
        .db
        .upsert_crew(&server::storage::Crew {
            id: "C2".into(),
            name: "Crew C2".into(),
            district: "D3".into(),
            skills: vec!["pothole".into()],
            contractor: None,
            on_duty: true,
        })
        .await
        .unwrap();
    assert_eq!(phone.until_closed().await, Some(CloseCode::from(4409)));
    if let Some(b) = b {
        b.server.shutdown().await.unwrap();
        b.db.close().await;
    }
    a.server.shutdown().await.unwrap();
}

/// `revoke_user_sessions` for an admin's change it does not write itself (a role): the
/// user's sockets close with 4409 and its tokens stay valid; with `Revoked`, they close
/// with 4401 and its tokens are revoked.
async fn revoke_user_sessions_for_admins(f: &Fixture) {
    seed(&f.db).await;
    let a = Node::start(f.db.clone(), f.config.clone()).await;
    let mut phone = Phone::login(a.addr(), "crew1", "phone-a").await;
    phone.sync().await;
    let live = Some(a.state.hub().sessions());
    let n = identity::revoke_user_sessions(&a.db, live, "u-crew1", CutKind::Rescoped)
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(phone.until_closed().await, Some(CloseCode::from(4409)));
    phone.sync().await;
    let n = identity::revoke_user_sessions(&a.db, live, "u-crew1", CutKind::Revoked)
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(phone.until_closed().await, Some(CloseCode::from(4401)));
    assert_eq!(ws_connect(a.addr(), &phone.token).await.err(), Some(401));
    a.server.shutdown().await.unwrap();
}

// ------------------------------------------------------------------ device ids (point 8)

async fn login_status(addr: SocketAddr, login: &str, device: &str) -> (u16, Value) {
    let r = tarmim_testing::http()
        .post(format!("http://{addr}/api/v1/login"))
        .json(&json!({"login": login, "password": PASSWORD, "device_id": device}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A device id belongs to the user who registered it: another user's login with it is
/// refused with `409 device_taken`, and the device stays its owner's (its owner's next
/// login works; the refused user's tokens name no such device).
async fn device_ids_are_not_taken_over(f: &Fixture) {
    seed(&f.db).await;
    let a = Node::start(f.db.clone(), f.config.clone()).await;
    let (s, _) = login_status(a.addr(), "crew1", "phone-a").await;
    assert_eq!(s, 200);
    let (s, body) = login_status(a.addr(), "crew2", "phone-a").await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["error"], "device_taken", "{body}");
    assert!(body["message"].as_str().unwrap().contains("phone-a"));
    let owner: String = match &f.db {
        Db::Sqlite(s) => sqlx::query_scalar("SELECT user_id FROM devices WHERE id = 'phone-a'")
            .fetch_one(s.pool())
            .await
            .unwrap(),
        Db::Postgres(p) => sqlx::query_scalar("SELECT user_id FROM devices WHERE id = 'phone-a'")
            .fetch_one(p.pool())
            .await
            .unwrap(),
    };
    assert_eq!(owner, "u-crew1");
    let (s, body) = login_status(a.addr(), "crew1", "phone-a").await;
    assert_eq!(s, 200);
    assert_eq!(body["me"]["device_id"], "phone-a");
    // A wrong password with a taken id is the same 401 as ever (nothing told).
    let r = tarmim_testing::http()
        .post(format!("http://{}/api/v1/login", a.addr()))
        .json(&json!({"login": "crew2", "password": "wrong-password", "device_id": "phone-a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    a.server.shutdown().await.unwrap();
}

/// A fresh device id per login buys no fresh position slot: the limit counts the user.
async fn fresh_device_ids_share_the_position_limit(f: &Fixture) {
    seed(&f.db).await;
    let a = Node::start(f.db.clone(), f.config.clone()).await;
    let first = tarmim_testing::Api::login(a.addr(), "crew1", PASSWORD).await;
    let body = tarmim_testing::login(a.addr(), "crew1", PASSWORD, "phone-fresh").await;
    let second = tarmim_testing::Api {
        token: Some(body["token"].as_str().unwrap().to_owned()),
        ..tarmim_testing::Api::anonymous(a.addr())
    };
    let at = server::base::time::rfc3339_utc(now_millis());
    let report = json!({"lat": 35.7, "lon": 51.4, "at": at, "accuracy_m": 8.0});
    let (s, v) = first.post("/api/v1/me/position", report.clone()).await;
    assert!(s.is_success(), "{s} {v}");
    let (s, v) = second.post("/api/v1/me/position", report).await;
    assert_eq!(s.as_u16(), 429, "a fresh device id got a fresh slot: {v}");
    a.server.shutdown().await.unwrap();
}

/// A fresh device id per login buys no fresh upload quota: the user's unfinished uploads
/// from all its devices count against it.
async fn fresh_device_ids_share_the_upload_quota(f: &Fixture) {
    seed(&f.db).await;
    let config = Config {
        photo_device_quota_bytes: 1_000_000,
        ..f.config.clone()
    };
    let a = Node::start(f.db.clone(), config).await;
    let mut statuses = Vec::new();
    for (i, dev) in ["phone-q1", "phone-q2"].iter().enumerate() {
        let body = tarmim_testing::login(a.addr(), "crew1", PASSWORD, dev).await;
        let token = body["token"].as_str().unwrap().to_owned();
        let hash = format!("{:064x}", i + 1);
        let r = tarmim_testing::http()
            .post(format!("http://{}/api/v1/photos/uploads", a.addr()))
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", "600000")
            .header(
                "Upload-Metadata",
                tus_metadata(&[
                    ("sha256", &hash),
                    ("task", "T1"),
                    ("filetype", "image/jpeg"),
                ]),
            )
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        statuses.push((status, r.text().await.unwrap()));
    }
    assert_eq!(statuses[0].0, 201, "{statuses:?}");
    assert_eq!(statuses[1].0, 429, "{statuses:?}");
    assert!(statuses[1].1.contains("account"), "{statuses:?}");
    a.server.shutdown().await.unwrap();
}

fn tus_metadata(pairs: &[(&str, &str)]) -> String {
    use base64::Engine;
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k} {}",
                base64::engine::general_purpose::STANDARD.encode(v.as_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

on_both_backends!(
    logout_cuts_live_connections,
    revoke_tokens_cuts_live_connections,
    disabling_cuts_live_connections,
    logout_cuts_only_its_own_token,
    district_change_rescopes,
    crew_change_rescopes,
    revoke_user_sessions_for_admins,
    device_ids_are_not_taken_over,
    fresh_device_ids_share_the_position_limit,
    fresh_device_ids_share_the_upload_quota,
);

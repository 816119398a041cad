//! 50,000 idle phones on one server process, and the morning reconnect storm (issue 21,
//! points 3 and 4). Prints Markdown; BENCHMARKS.md records it.
//!
//! ```sh
//! cargo bench -p server --bench storm                 # SQLite, 50,000 devices (as many as the file limit allows)
//! cargo bench -p server --bench storm -- --quick      # 2,000 devices, a storm of 1,000
//! cargo bench -p server --bench storm -- --heaptrack  # the server under heaptrack (profile only)
//! ```
//! `--devices N` and `--storm N` override the counts; `--no-storm` stops after point 3.
//! `TARMIM_BENCH_SERVER=/path/to/tarmim-server` runs another build of the server (before
//! and after side by side); `TARMIM_SYNC_CATCH_UP_PAGES` and `TARMIM_SYNC_HANDSHAKES` are
//! passed on to it.
//!
//! The server is the real `tarmim-server` binary (release), a child process on
//! 127.0.0.1 over SQLite. The file limit (RLIMIT_NOFILE) is raised for this process and
//! the server it starts, with `prlimit(1)` — never by the product. Where the hard limit
//! cannot be raised (no CAP_SYS_RESOURCE, as in a container), the soft limit goes up to
//! it and the device count is cut to what fits, which the output says.
//!
//! The phones are light: raw tokio-tungstenite sockets speaking the sync protocol with
//! `sync_core`'s frames (Hello with the cursors they hold, Batches applied to the
//! cursors only, CaughtUp), spread over the loopback source addresses 127.0.0.2–9 so that
//! ephemeral ports do not run out. Ten phones per crew, three tasks per crew, crews
//! spread over a 10 × 10 grid of districts with a position each.
//!
//! - **3.** every device connected and caught up, idle: the server's VmRSS growth per
//!   device.
//! - **4.** the first `storm` devices (their crews in the first districts) close, then all
//!   reconnect within one second (evenly spread): once with nothing changed, once with
//!   50 new tasks in each of their crews. Measured: time from the first reconnect until
//!   the last device has `CaughtUp`, the server's CPU time (`/proc/<pid>/stat`) and
//!   VmRSS peak (sampled every 20 ms), refusals and retries; and, during the storm, a
//!   call-centre operator files an urgent report every 100 ms in the other districts
//!   (`POST /api/v1/console/tasks`): the time until the chosen crew's first phone has
//!   the Batch carrying it, p50/p99. The clients run on the same 2 cores as the server.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use futures_util::{SinkExt, StreamExt};
use server::base::config::Config;
use server::base::time::now_millis;
use server::domain::districts::{PropertyNames, parse_geojson};
use server::domain::identity::{UserRole, hash_password, new_token};
use server::storage::dispatch::{PositionRow, insert_position};
use server::storage::sqlite::SqliteStore;
use server::storage::{Crew, Db, DistrictStore, IdentityStore, NewUser, Store as _};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use sync_core::protocol::{
    self, ClientFrame, Cursor, DocUpdate, Hello, PROTOCOL_VERSION, ServerFrame,
};
use sync_core::session::{DocCommit, ScopePolicy, ServerStore, TaskScopes};
use sync_core::task::*;
use sync_core::{Actor, DeviceId, DocId, Role};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

type Ws = WebSocketStream<TcpStream>;

const WAIT: Duration = Duration::from_secs(120);
const T0: i64 = 1_760_000_000_000;
const PHONES_PER_CREW: usize = 10;
const CREW_TASKS: usize = 3;
const STORM_CHANGES: usize = 50;
const GRID: usize = 10;
const CELL: f64 = 0.01;
const LAT0: f64 = 35.60;
const LON0: f64 = 51.20;
/// Loopback source addresses 127.0.0.2 ..= 127.0.0.(1 + SOURCES).
const SOURCES: usize = 8;

struct Args {
    heaptrack: bool,
    storms: bool,
    devices: usize,
    storm: usize,
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let has = |f: &str| argv.iter().any(|a| a == f);
    let val = |f: &str| {
        argv.iter()
            .position(|a| a == f)
            .and_then(|i| argv.get(i + 1))
            .and_then(|v| v.parse::<usize>().ok())
    };
    let quick = has("--quick");
    let args = Args {
        heaptrack: has("--heaptrack"),
        storms: !has("--no-storm"),
        devices: val("--devices").unwrap_or(if quick { 2_000 } else { 50_000 }),
        storm: val("--storm").unwrap_or(if quick { 1_000 } else { 10_000 }),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(args));
}

// ------------------------------------------------------------------ the machine

/// (soft, hard) RLIMIT_NOFILE of a process.
fn nofile(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = s.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let n: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (n[0], n[1])
}

/// Raises this process's file limit to `want` (soft and hard) with prlimit(1); where the
/// hard limit cannot be raised, the soft one goes up to it. Returns the limit in force.
fn raise_nofile(want: u64) -> u64 {
    let me = std::process::id();
    let set = |n: u64| {
        Command::new("prlimit")
            .arg("--pid")
            .arg(me.to_string())
            .arg(format!("--nofile={n}:{n}"))
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !set(want) {
        let (_, hard) = nofile(me);
        set(hard);
    }
    nofile(me).0
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// utime + stime of a process, seconds.
fn cpu_secs(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command's closing parenthesis: state is field 3, utime 14, stime 15.
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The size of the future `f` returns: what a connection's task holds, whatever it does.
fn future_bytes<A, B, C, D, E, F>(_: impl FnOnce(A, B, C, D, E) -> F) -> usize {
    std::mem::size_of::<F>()
}

// ------------------------------------------------------------------ the city

fn district_code(i: usize) -> String {
    format!("G{i:03}")
}

fn corner(i: usize) -> (f64, f64) {
    let (row, col) = (i / GRID, i % GRID);
    (LAT0 + CELL * row as f64, LON0 + CELL * col as f64)
}

fn grid_geojson() -> String {
    let features: Vec<serde_json::Value> = (0..GRID * GRID)
        .map(|i| {
            let (b, l) = corner(i);
            let (t, r) = (b + CELL, l + CELL);
            serde_json::json!({
                "type": "Feature",
                "properties": {"code": district_code(i), "name": format!("Grid {i}")},
                "geometry": {"type": "Polygon", "coordinates": [[[l, b], [r, b], [r, t], [l, t], [l, b]]]},
            })
        })
        .collect();
    serde_json::json!({"type": "FeatureCollection", "features": features}).to_string()
}

fn crew_id(c: usize) -> String {
    format!("K{c:05}")
}

/// The district of crew `c` of `crews`: crews fill the districts in order.
fn district_of(c: usize, crews: usize) -> usize {
    c * GRID * GRID / crews
}

fn dispatcher() -> Actor {
    Actor {
        user: "u-disp".into(),
        role: Role::Dispatcher,
        crew: None,
        device: DeviceId::new("console-seed").unwrap(),
    }
}

/// An assigned task of `crew` in `district`.
fn task_commit(doc: &str, i: usize, district: usize, crew: &str) -> DocCommit {
    let d = dispatcher();
    let (b, l) = corner(district);
    let new = NewTask {
        id: DocId::new(doc).unwrap(),
        source: Source::Citizen,
        category: "pothole".into(),
        title: format!("Pothole on street {i}"),
        description: "A deep pothole in the right lane, about half a metre wide; cars swerve."
            .into(),
        point: GeoPoint {
            lat: b + CELL * 0.5,
            lon: l + CELL * 0.5,
            accuracy_m: Some(8.0),
        },
        address: Some(format!("{i} Enghelab St")),
        district: Some(district_code(district)),
        priority: Priority::Normal,
        sla: Sla {
            ack_due: Some(T0 + 3_600_000),
            complete_due: Some(T0 + 86_400_000),
        },
        reopen_window_ms: 7 * 86_400_000,
    };
    let mut t = TaskDoc::create(new, &d, T0).unwrap();
    t.append_event(
        &d,
        T0 + 1_000,
        EventKind::Assigned {
            crew: crew.into(),
            reason: "nearest on-duty crew".into(),
        },
    )
    .unwrap();
    let view = t.view().unwrap();
    DocCommit {
        doc: view.id.clone(),
        base_seq: None,
        changes: t
            .automerge()
            .get_changes(&[])
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect(),
        snapshot: t.save(),
        scopes: TaskScopes.scopes_of(&view),
        view,
        origin: DeviceId::new("server").unwrap(),
    }
}

/// Commits tasks `(doc, number, district, crew)`, built on two tasks.
async fn commit_tasks(db: &Db, tasks: Vec<(String, usize, usize, String)>) {
    let half = tasks.len().div_ceil(2).max(1);
    let (tx, mut rx) = mpsc::channel::<DocCommit>(256);
    let mut builders = tokio::task::JoinSet::new();
    for part in tasks.chunks(half) {
        let part = part.to_vec();
        let tx = tx.clone();
        builders.spawn_blocking(move || {
            for (doc, i, district, crew) in part {
                if tx
                    .blocking_send(task_commit(&doc, i, district, &crew))
                    .is_err()
                {
                    return;
                }
            }
        });
    }
    drop(tx);
    while let Some(c) = rx.recv().await {
        db.commit(c).await.unwrap();
    }
    while let Some(r) = builders.join_next().await {
        r.unwrap();
    }
}

/// Users, devices and tokens for `phones`, in one SQLite transaction (a call per row
/// would be three transactions per device).
async fn bulk_users(db: &Db, hash: &str, phones: &[Phone]) {
    let Db::Sqlite(s) = db else {
        panic!("the storm bench runs on SQLite")
    };
    let now = now_millis();
    let mut tx = s.pool().begin().await.unwrap();
    for p in phones {
        let uid = format!("u-{}", p.login);
        sqlx::query(
            "INSERT INTO users (id, login, password_hash, role, crew, created_at, contractor)
             VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        )
        .bind(&uid)
        .bind(&p.login)
        .bind(hash)
        .bind(UserRole::Crew.as_str())
        .bind(crew_id(p.crew))
        .bind(now)
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO devices (id, user_id, registered_at, last_login_at) VALUES ($1, $2, $3, $3)",
        )
        .bind(p.device.as_str())
        .bind(&uid)
        .bind(now)
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO auth_tokens (token_hash, user_id, device_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&p.token_hash[..])
        .bind(&uid)
        .bind(p.device.as_str())
        .bind(now)
        .bind(now + 86_400_000)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

// ------------------------------------------------------------------ the phones

/// A light phone: its credentials and the cursors it holds.
#[derive(Clone)]
struct Phone {
    index: usize,
    crew: usize,
    j: usize,
    login: String,
    token: String,
    token_hash: [u8; 32],
    device: DeviceId,
    cursors: Vec<Cursor>,
}

impl Phone {
    fn source(&self) -> Ipv4Addr {
        Ipv4Addr::new(127, 0, 0, 2 + (self.index % SOURCES) as u8)
    }

    /// A Batch as a device keeps it: `scanned` always, `seq` once the scope is complete.
    fn apply(&mut self, b: &protocol::Batch) {
        let c = match self.cursors.iter_mut().find(|c| c.scope == b.scope) {
            Some(c) => c,
            None => {
                self.cursors.push(Cursor {
                    scope: b.scope.clone(),
                    seq: 0,
                    scanned: 0,
                });
                self.cursors.last_mut().unwrap()
            }
        };
        c.scanned = c.scanned.max(b.scanned);
        if b.complete {
            c.seq = c.seq.max(b.scanned);
        }
    }
}

/// Why a connection attempt failed.
#[derive(Debug)]
enum Refused {
    /// The server asked to come back later (429, `Retry-After` seconds).
    Later(u64),
    /// Anything else (reset, refused, closed during the handshake).
    Broken(String),
}

fn ws_config() -> WebSocketConfig {
    // Small buffers: 50,000 sockets at tungstenite's 128 KiB defaults would not fit.
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
}

/// Connects, sends Hello with the phone's cursors and reads until CaughtUp. Returns
/// the socket and the bytes received.
async fn handshake(addr: SocketAddr, p: &mut Phone) -> Result<(Ws, usize), Refused> {
    let sock = TcpSocket::new_v4().map_err(|e| Refused::Broken(e.to_string()))?;
    sock.bind(SocketAddr::new(p.source().into(), 0))
        .map_err(|e| Refused::Broken(format!("bind: {e}")))?;
    let stream = sock
        .connect(addr)
        .await
        .map_err(|e| Refused::Broken(format!("connect: {e}")))?;
    let _ = stream.set_nodelay(true);
    let mut req = format!("ws://{addr}/api/v1/sync")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", p.token).parse().unwrap(),
    );
    let mut ws =
        match tokio_tungstenite::client_async_with_config(req, stream, Some(ws_config())).await {
            Ok((ws, _)) => ws,
            Err(WsError::Http(r)) if r.status().as_u16() == 429 || r.status().as_u16() == 503 => {
                let secs = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                return Err(Refused::Later(secs));
            }
            Err(e) => return Err(Refused::Broken(format!("upgrade: {e}"))),
        };
    let hello = ClientFrame::Hello(Hello {
        oldest_version: PROTOCOL_VERSION,
        newest_version: PROTOCOL_VERSION,
        device: p.device.clone(),
        cursors: p.cursors.clone(),
    });
    ws.send(Message::Binary(
        protocol::encode_client(PROTOCOL_VERSION, 0, &hello).into(),
    ))
    .await
    .map_err(|e| Refused::Broken(format!("hello: {e}")))?;
    let mut bytes = 0;
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .map_err(|_| Refused::Broken("no CaughtUp in time".into()))?;
        let msg = match msg {
            Some(Ok(m)) => m,
            Some(Err(e)) => return Err(Refused::Broken(format!("read: {e}"))),
            None => return Err(Refused::Broken("closed before CaughtUp".into())),
        };
        let b = match msg {
            Message::Binary(b) => b,
            Message::Close(f) => return Err(Refused::Broken(format!("closed: {f:?}"))),
            _ => continue,
        };
        bytes += b.len();
        match protocol::decode_server(&b).map(|d| d.frame) {
            Ok(ServerFrame::Batch(batch)) => p.apply(&batch),
            Ok(ServerFrame::CaughtUp) => return Ok((ws, bytes)),
            Ok(ServerFrame::Error(e)) => return Err(Refused::Broken(format!("{e:?}"))),
            Ok(_) => {}
            Err(e) => return Err(Refused::Broken(e.to_string())),
        }
    }
}

/// A connected phone's reader: applies Batches to the cursors, reports the documents
/// the crew's first phone receives, and hands the phone back when told to close (or
/// when the server closes).
struct Live {
    crew: usize,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<(Phone, bool)>,
}

fn live(mut ws: Ws, mut p: Phone, report: mpsc::UnboundedSender<(DocId, Instant)>) -> Live {
    let (stop, mut stopped) = oneshot::channel::<()>();
    let crew = p.crew;
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut stopped => {
                    let _ = ws.close(None).await;
                    let _ = tokio::time::timeout(Duration::from_secs(5), async {
                        while let Some(Ok(_)) = ws.next().await {}
                    })
                    .await;
                    return (p, true);
                }
                msg = ws.next() => {
                    let Some(Ok(Message::Binary(b))) = msg else {
                        match msg {
                            Some(Ok(_)) => continue,
                            _ => return (p, false),
                        }
                    };
                    let at = Instant::now();
                    if let Ok(ServerFrame::Batch(batch)) = protocol::decode_server(&b).map(|d| d.frame) {
                        p.apply(&batch);
                        if p.j == 0 {
                            for u in &batch.updates {
                                if let DocUpdate::Snapshot { doc, .. } | DocUpdate::Changes { doc, .. } = u {
                                    let _ = report.send((doc.clone(), at));
                                }
                            }
                        }
                    }
                }
            }
        }
    });
    Live { crew, stop, task }
}

/// Closes the phones' sockets and returns them (with the cursors they reached).
async fn close_all(lives: Vec<Live>) -> (Vec<Phone>, usize) {
    let mut tasks = Vec::with_capacity(lives.len());
    for l in lives {
        let _ = l.stop.send(());
        tasks.push(l.task);
    }
    let mut phones = Vec::with_capacity(tasks.len());
    let mut dropped = 0;
    for t in tasks {
        let (p, ok) = t.await.unwrap();
        if !ok {
            dropped += 1;
        }
        phones.push(p);
    }
    (phones, dropped)
}

// ------------------------------------------------------------------ the server

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn spawn_server(
    config: &Config,
    devices: usize,
    nofile: u64,
    heaptrack: Option<&std::path::Path>,
) -> (Child, SocketAddr) {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // Another build of the server (an older one, for before/after side by side).
    let bin = std::env::var("TARMIM_BENCH_SERVER")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_tarmim-server").to_owned());
    // The server's file limit is set by whoever starts it (here prlimit, as systemd's
    // LimitNOFILE would): the product never raises its own.
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--nofile={nofile}:{nofile}")).arg("--");
    if let Some(out) = heaptrack {
        cmd.arg("heaptrack").arg("-o").arg(out);
    }
    cmd.arg(bin);
    let cap = (devices + 2_000).to_string();
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TARMIM_DATA_DIR", &config.data_dir)
        .env("TARMIM_LISTEN", addr.to_string())
        .env("TARMIM_DEMO", "false")
        .env("TARMIM_SYNC_IDLE_TIMEOUT_SECS", "3600")
        .env("TARMIM_MAX_CONNECTIONS", &cap)
        .env("TARMIM_SYNC_MAX_SOCKETS", &cap)
        .env("RUST_LOG", "warn")
        .envs(
            std::env::vars().filter(|(k, _)| {
                k == "TARMIM_SYNC_CATCH_UP_PAGES" || k == "TARMIM_SYNC_HANDSHAKES"
            }),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let child = Child(cmd.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = tarmim_testing::http()
            .get(format!("http://{addr}/readyz"))
            .send()
            .await
            && r.status().is_success()
        {
            return (child, addr);
        }
        assert!(Instant::now() < deadline, "the server binary did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The server process's pid: prlimit execs it; heaptrack (a script) runs it as a child.
fn server_pid(child: &Child) -> u32 {
    let mut todo = vec![child.0.id()];
    while let Some(pid) = todo.pop() {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "tarmim-server" {
            return pid;
        }
        let kids =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        todo.extend(
            kids.split_whitespace()
                .filter_map(|k| k.parse::<u32>().ok()),
        );
    }
    panic!("no tarmim-server process under {}", child.0.id())
}

/// Stops the server gracefully (SIGTERM) and waits for whatever started it: heaptrack
/// writes its profile only when the program exits.
fn stop_server(mut child: Child, pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.0.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

// ------------------------------------------------------------------ the storm

struct StormFigures {
    all_caught_up: Duration,
    caught_p50: Duration,
    caught_p99: Duration,
    cpu_secs: f64,
    rss_before: u64,
    rss_peak: u64,
    retries: usize,
    broken: usize,
    bytes_down: usize,
    urgent: Vec<Duration>,
    urgent_missing: usize,
    load_before: String,
    load_after: String,
}

/// The storm: every phone reconnects, evenly spread over one second, retrying (after
/// `Retry-After`, or 200 ms for a broken attempt) until caught up; meanwhile urgent
/// reports are filed in `urgent_districts` every 100 ms.
#[allow(clippy::too_many_arguments)]
async fn storm(
    addr: SocketAddr,
    pid: u32,
    phones: Vec<Phone>,
    cc_token: &str,
    urgent_districts: &[usize],
    reports: &Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(DocId, Instant)>>>,
    report_tx: &mpsc::UnboundedSender<(DocId, Instant)>,
) -> (StormFigures, Vec<Live>) {
    let load_before = loadavg();
    let n = phones.len();
    let rss_before = rss_kib(pid);
    let cpu0 = cpu_secs(pid);
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicUsize::new(rss_before as usize));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid) as usize, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    // Urgent reports, filed every 100 ms until every phone is caught up (at least 20).
    let filer = {
        let done = done.clone();
        let token = cc_token.to_owned();
        let districts = urgent_districts.to_vec();
        tokio::spawn(async move {
            let http = tarmim_testing::http();
            let mut filed = tokio::task::JoinSet::new();
            let mut k = 0usize;
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while k < 20 || !done.load(Ordering::Relaxed) {
                tick.tick().await;
                let d = districts[(k * 7) % districts.len()];
                let (b, l) = corner(d);
                let body = serde_json::json!({
                    "category": "water_leak",
                    "title": format!("Storm leak {k}"),
                    "lat": b + CELL * (0.1 + 0.8 * ((k * 3) % 10) as f64 / 10.0),
                    "lon": l + CELL * 0.4,
                    "priority": "urgent",
                });
                let (http, token) = (http.clone(), token.clone());
                filed.spawn(async move {
                    let t0 = Instant::now();
                    let r = http
                        .post(format!("http://{addr}/api/v1/console/tasks"))
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status().as_u16(), 201);
                    let v: serde_json::Value = r.json().await.unwrap();
                    if v["dispatch"]["outcome"] != "assigned" {
                        eprintln!("urgent report not assigned: {}", v["dispatch"]);
                        return None;
                    }
                    Some((DocId::new(v["task"]["id"].as_str().unwrap()).unwrap(), t0))
                });
                k += 1;
            }
            let mut out = Vec::new();
            while let Some(r) = filed.join_next().await {
                out.extend(r.unwrap());
            }
            out
        })
    };
    let retries = Arc::new(AtomicUsize::new(0));
    let broken = Arc::new(AtomicUsize::new(0));
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let mut set = tokio::task::JoinSet::new();
    for (i, mut p) in phones.into_iter().enumerate() {
        let at = start + Duration::from_secs(1).mul_f64(i as f64 / n as f64);
        let (retries, broken) = (retries.clone(), broken.clone());
        set.spawn(async move {
            tokio::time::sleep_until(at).await;
            loop {
                match handshake(addr, &mut p).await {
                    Ok((ws, bytes)) => return (p, ws, bytes, start.elapsed()),
                    Err(Refused::Later(secs)) => {
                        retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_secs(secs.max(1))).await;
                    }
                    Err(Refused::Broken(e)) => {
                        if broken.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("storm: {} broken: {e}", p.login);
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
    }
    let mut lives = Vec::with_capacity(n);
    let mut caught = Vec::with_capacity(n);
    let mut bytes_down = 0;
    while let Some(r) = set.join_next().await {
        let (p, ws, bytes, at) = r.unwrap();
        caught.push(at);
        bytes_down += bytes;
        lives.push(live(ws, p, report_tx.clone()));
    }
    let all = caught.iter().max().copied().unwrap_or_default();
    let cpu = cpu_secs(pid) - cpu0;
    done.store(true, Ordering::Relaxed);
    let filed = filer.await.unwrap();
    sampler.await.unwrap();
    let load_after = loadavg();
    // The urgent reports' arrival at their crew's first phone.
    let mut seen: HashMap<DocId, Instant> = HashMap::new();
    let mut rx = reports.lock().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut urgent = Vec::new();
    let mut missing = 0;
    for (doc, t0) in filed {
        loop {
            if let Some(at) = seen.get(&doc) {
                urgent.push(at.duration_since(t0));
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, rx.recv()).await {
                Ok(Some((d, at))) => {
                    seen.entry(d).or_insert(at);
                }
                _ => {
                    missing += 1;
                    break;
                }
            }
        }
    }
    caught.sort();
    urgent.sort();
    let figures = StormFigures {
        all_caught_up: all,
        caught_p50: percentile(&caught, 0.5),
        caught_p99: percentile(&caught, 0.99),
        cpu_secs: cpu,
        rss_before,
        rss_peak: peak.load(Ordering::Relaxed) as u64,
        retries: retries.load(Ordering::Relaxed),
        broken: broken.load(Ordering::Relaxed),
        bytes_down,
        urgent,
        urgent_missing: missing,
        load_before,
        load_after,
    };
    (figures, lives)
}

fn print_storm(label: &str, n: usize, f: &StormFigures) {
    println!(
        "| {label}: {n} devices reconnect within 1 s → all caught up | **{}** (p50 {}, p99 {}) | < 10 s |",
        ms(f.all_caught_up),
        ms(f.caught_p50),
        ms(f.caught_p99)
    );
    println!(
        "| {label}: server CPU until all caught up | {:.2} s CPU ({:.0}% of one core over the storm) | |",
        f.cpu_secs,
        100.0 * f.cpu_secs / f.all_caught_up.as_secs_f64().max(0.001)
    );
    println!(
        "| {label}: server VmRSS before / peak | {} / {} | |",
        mib(f.rss_before),
        mib(f.rss_peak)
    );
    println!(
        "| {label}: bytes down to the storm's devices; retries after 429; broken attempts | {:.1} MiB; {}; {} | |",
        f.bytes_down as f64 / 1048576.0,
        f.retries,
        f.broken
    );
    if f.urgent.is_empty() {
        println!(
            "| {label}: urgent reports | none arrived ({} missing) | |",
            f.urgent_missing
        );
    } else {
        println!(
            "| {label}: urgent report filed during the storm → the crew's phone has it ({} reports{}) | p50 {}, **p99 {}**, max {} | p99 < 200 ms |",
            f.urgent.len(),
            if f.urgent_missing > 0 {
                format!(", {} never arrived", f.urgent_missing)
            } else {
                String::new()
            },
            ms(percentile(&f.urgent, 0.5)),
            ms(percentile(&f.urgent, 0.99)),
            ms(*f.urgent.last().unwrap())
        );
    }
    println!(
        "| {label}: load average before → after | {} → {} | |",
        f.load_before, f.load_after
    );
}

// ------------------------------------------------------------------ the run

async fn run(args: Args) {
    let want = args.devices;
    let limit = raise_nofile((2 * want + 4_000) as u64);
    let fit = (limit as usize).saturating_sub(500) / PHONES_PER_CREW * PHONES_PER_CREW;
    let devices = want.min(fit);
    let storm_n = args.storm.min(devices / 2) / PHONES_PER_CREW * PHONES_PER_CREW;
    let crews = devices / PHONES_PER_CREW;
    let storm_crews = storm_n / PHONES_PER_CREW;
    println!("# 50,000 idle phones and the morning reconnect storm (SQLite, release build)\n");
    if let Ok(bin) = std::env::var("TARMIM_BENCH_SERVER") {
        println!("Server binary: `{bin}` (`TARMIM_BENCH_SERVER`).\n");
    }
    println!(
        "Machine: {} cores, shared with other work; server and clients on the same machine, over loopback. Load average at start: {}.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    if devices < want {
        println!(
            "**File limit:** RLIMIT_NOFILE is {limit} here and its hard limit cannot be raised (no CAP_SYS_RESOURCE); \
             one process holds at most {fit} sockets, so {devices} devices instead of {want}.\n"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_owned(),
        demo: false,
        ..Config::default()
    };
    let db = Db::Sqlite(
        SqliteStore::open(&config.sqlite_path(), server::domain::commit_hooks())
            .await
            .unwrap(),
    );

    // The city: districts, services, crews with positions, phones, tasks.
    let t = Instant::now();
    let props = PropertyNames {
        code: "code".into(),
        name: "name".into(),
        name_en: None,
        region: None,
    };
    db.import_districts(&parse_geojson(&grid_geojson(), &props).unwrap())
        .await
        .unwrap();
    for s in server::demo::demo_services() {
        db.upsert_service(&s).await.unwrap();
    }
    let now = now_millis();
    let mut per_district: HashMap<usize, usize> = HashMap::new();
    for c in 0..crews {
        let d = district_of(c, crews);
        let k = {
            let n = per_district.entry(d).or_default();
            *n += 1;
            *n - 1
        };
        db.upsert_crew(&Crew {
            id: crew_id(c),
            name: format!("Crew {c}"),
            district: district_code(d),
            skills: vec!["water_leak".into(), "pothole".into()],
            contractor: None,
            on_duty: true,
        })
        .await
        .unwrap();
        let (b, l) = corner(d);
        insert_position(
            &db,
            &PositionRow {
                crew: crew_id(c),
                device: "seed".into(),
                lat: b + CELL * (0.05 + 0.9 * ((k * 7) % 19) as f64 / 19.0),
                lon: l + CELL * (0.05 + 0.9 * ((k * 11) % 23) as f64 / 23.0),
                accuracy_m: Some(10.0),
                at: now - 60_000,
                received_at: now - 60_000,
                flags: vec![],
            },
        )
        .await
        .unwrap();
    }
    let hash = hash_password("bench-password").unwrap();
    let phones: Vec<Phone> = (0..devices)
        .map(|i| {
            let (crew, j) = (i / PHONES_PER_CREW, i % PHONES_PER_CREW);
            let login = format!("k{crew:05}-{j}");
            let tok = new_token();
            Phone {
                index: i,
                crew,
                j,
                device: DeviceId::new(format!("dev-{login}")).unwrap(),
                login,
                token: tok.token,
                token_hash: tok.hash,
                cursors: Vec::new(),
            }
        })
        .collect();
    bulk_users(&db, &hash, &phones).await;
    db.create_user(&NewUser {
        id: "u-callcentre".into(),
        login: "callcentre".into(),
        password_hash: hash.clone(),
        role: UserRole::CallCentre,
        crew: None,
        districts: vec![],
        contractor: None,
    })
    .await
    .unwrap();
    let cc = new_token();
    let cc_dev = DeviceId::new("dev-callcentre").unwrap();
    db.register_device(&cc_dev, "u-callcentre", now)
        .await
        .unwrap();
    db.insert_token(&cc.hash, "u-callcentre", &cc_dev, now, now + 86_400_000)
        .await
        .unwrap();
    let seeded_users = t.elapsed();
    commit_tasks(
        &db,
        (0..crews * CREW_TASKS)
            .map(|i| {
                let c = i / CREW_TASKS;
                (format!("L{i:07}"), i, district_of(c, crews), crew_id(c))
            })
            .collect(),
    )
    .await;
    println!(
        "Seeded {} districts, {crews} on-duty crews with positions, {devices} crew users with a device and token each (bulk, {:.1?}), {} tasks ({:.1?} in all).\n",
        GRID * GRID,
        seeded_users,
        crews * CREW_TASKS,
        t.elapsed()
    );

    let heap_out = dir.path().join("heaptrack.server");
    let (child, addr) = spawn_server(
        &config,
        devices,
        limit,
        args.heaptrack.then_some(heap_out.as_path()),
    )
    .await;
    let pid = server_pid(&child);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss0 = rss_kib(pid);

    // 3. Everyone connects (200 at a time) and idles.
    let (report_tx, report_rx) = mpsc::unbounded_channel::<(DocId, Instant)>();
    let reports = Arc::new(tokio::sync::Mutex::new(report_rx));
    let load0 = loadavg();
    let t = Instant::now();
    let mut lives: Vec<Live> = Vec::with_capacity(devices);
    let mut it = phones.into_iter();
    loop {
        let mut set = tokio::task::JoinSet::new();
        for mut p in it.by_ref().take(200) {
            set.spawn(async move {
                for attempt in 1.. {
                    match handshake(addr, &mut p).await {
                        Ok((ws, _)) => return (p, ws),
                        Err(e) if attempt < 20 => {
                            eprintln!("connect {}: {e:?}; retrying", p.login);
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                        Err(e) => panic!("connect {}: {e:?}", p.login),
                    }
                }
                unreachable!()
            });
        }
        if set.is_empty() {
            break;
        }
        while let Some(r) = set.join_next().await {
            let (p, ws) = r.unwrap();
            lives.push(live(ws, p, report_tx.clone()));
        }
    }
    let connect_time = t.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss1 = rss_kib(pid);
    let load1 = loadavg();
    // Drain what the phones reported while catching up.
    while reports.lock().await.try_recv().is_ok() {}
    println!("| measure | value | target |");
    println!("|---|---|---|");
    println!(
        "| 3. server VmRSS: started / {devices} idle devices connected and caught up | {} / {} ({devices} connected in {:.1?}, 200 at a time; load average {load0} → {load1}) | |",
        mib(rss0),
        mib(rss1),
        connect_time
    );
    println!(
        "| 3. server memory per idle connected device | **{:.1} KiB** | < 16 KiB |",
        (rss1 as f64 - rss0 as f64) / devices as f64
    );
    println!(
        "| 3. the task future of one connection (`http::sync::run_websocket`, this build) | {} B | |",
        future_bytes(server::http::sync::run_websocket)
    );
    if args.heaptrack {
        println!(
            "\nheaptrack: the server's profile is written to {}.*.zst when it exits (kept).",
            heap_out.display()
        );
    }

    if !args.storms {
        for l in lives {
            l.task.abort();
        }
        if args.heaptrack {
            stop_server(child, pid);
            println!("(kept {})", dir.keep().display());
        }
        return;
    }

    // 4. The storm: the first storm_n phones (their crews fill the first districts); the
    // urgent reports go to the districts without any of their crews.
    let (stormers, background): (Vec<Live>, Vec<Live>) =
        lives.into_iter().partition(|l| l.crew < storm_crews);
    let first_calm = district_of(storm_crews.saturating_sub(1), crews) + 1;
    let urgent_districts: Vec<usize> = (first_calm..GRID * GRID)
        .filter(|d| (0..crews).any(|c| district_of(c, crews) == *d))
        .collect();
    assert!(
        !urgent_districts.is_empty(),
        "no district without storming crews"
    );
    println!(
        "\nThe storm: {storm_n} devices ({storm_crews} crews, districts {} to {}) close, then reconnect evenly spread over one second; {} other devices stay connected, and urgent reports are filed in their {} districts every 100 ms.\n",
        district_code(0),
        district_code(first_calm - 1),
        background.len(),
        urgent_districts.len()
    );
    let (phones, dropped) = close_all(stormers).await;
    assert_eq!(dropped, 0, "the server closed idle phones");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (quiet, lives) = storm(
        addr,
        pid,
        phones,
        &cc.token,
        &urgent_districts,
        &reports,
        &report_tx,
    )
    .await;
    println!("| measure | value | target |");
    println!("|---|---|---|");
    print_storm("4a. nothing changed", storm_n, &quiet);

    // Again, with 50 new tasks in each storming crew while its phones were away.
    let (phones, _) = close_all(lives).await;
    let t = Instant::now();
    commit_tasks(
        &db,
        (0..storm_crews * STORM_CHANGES)
            .map(|i| {
                let c = i / STORM_CHANGES;
                (format!("M{i:07}"), i, district_of(c, crews), crew_id(c))
            })
            .collect(),
    )
    .await;
    let changes_time = t.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // For a profiler attached to the server for 4b alone.
    eprintln!("storm: 4b starts (server pid {pid})");
    let (busy, lives) = storm(
        addr,
        pid,
        phones,
        &cc.token,
        &urgent_districts,
        &reports,
        &report_tx,
    )
    .await;
    print_storm(
        &format!("4b. {STORM_CHANGES} new tasks per crew waiting"),
        storm_n,
        &busy,
    );
    println!(
        "\n({} tasks committed for 4b in {:.1?} while the phones were away, not timed above.)",
        storm_crews * STORM_CHANGES,
        changes_time
    );
    for l in lives.into_iter().chain(background) {
        l.task.abort();
    }
    if args.heaptrack {
        stop_server(child, pid);
    } else {
        drop(child);
    }
    db.close().await;
    if args.heaptrack {
        let kept = dir.keep();
        println!("(kept {})", kept.display());
    }
}

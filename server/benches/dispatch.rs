//! Urgent task over HTTP → assigned → pushed to the chosen crew's open connection, with
//! 2,000 connected devices, 200 on-duty crews and 100 districts (design §10). Prints
//! Markdown; BENCHMARKS.md records it.
//!
//! ```sh
//! cargo bench -p server --bench dispatch              # SQLite
//! cargo bench -p server --bench dispatch -- --pg      # PostgreSQL (tests/setup/postgres.sh first)
//! cargo bench -p server --bench dispatch -- --quick   # 500 devices, 50 tasks
//! cargo bench -p server --bench dispatch -- --both    # SQLite, then PostgreSQL, in one run
//! cargo bench -p server --bench dispatch -- --pg --before PATH   # PATH's server binary, then this one
//! ```
//!
//! `--before PATH` runs the same measurement first against another build of
//! `tarmim-server` (an older commit's release binary), each on a fresh database, so a
//! change is compared with what it replaces in one run on one machine state.
//!
//! The load average (`/proc/loadavg`) is printed before the timed part, its highest
//! 1-minute value while it runs, and after: a figure means little on a busy machine.
//!
//! The server is the real `tarmim-server` binary (a child process). The city: 100 square
//! districts in a 10 × 10 grid, two on-duty crews per district with a plausible position
//! each, ten phones per crew (2,000 `sync_core` devices, each over its own WebSocket,
//! caught up before measuring). Then, one at a time, a call-centre operator POSTs an
//! urgent report at a point of a district (`/api/v1/console/tasks`): the server routes
//! it, scores the crews, commits the task and its `Assigned` event, publishes, and
//! answers 201. Measured from just before the POST to (a) the 201 and (b) the moment the
//! chosen crew's first phone has applied the Batch carrying the task. The clients run on
//! the same machine and compete with the server for its cores.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use futures_util::{SinkExt, StreamExt};
use server::base::config::Config;
use server::base::time::now_millis;
use server::domain::districts::{PropertyNames, parse_geojson};
use server::domain::identity::{UserRole, hash_password, new_token};
use server::storage::dispatch::{PositionRow, insert_position};
use server::storage::postgres::PgStore;
use server::storage::sqlite::SqliteStore;
use server::storage::{Crew, Db, DistrictStore, IdentityStore, NewUser, Store as _};
use sqlx::Connection;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use sync_core::session::device::{Device, DeviceEvent};
use sync_core::store::Store;
use sync_core::{Actor, DeviceId, DocId};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(120);
const GRID: usize = 10;
const CELL: f64 = 0.01;
const LAT0: f64 = 35.60;
const LON0: f64 = 51.20;
const CREWS_PER_DISTRICT: usize = 2;

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let has = |f: &str| argv.iter().any(|a| a == f);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let this = std::path::PathBuf::from(env!("CARGO_BIN_EXE_tarmim-server"));
    let mut servers = Vec::new();
    if let Some(i) = argv.iter().position(|a| a == "--before") {
        let before = std::path::PathBuf::from(argv.get(i + 1).expect("--before PATH"));
        assert!(
            before.is_file(),
            "--before {}: no such binary",
            before.display()
        );
        servers.push(("before", before));
        servers.push(("after", this));
    } else {
        servers.push(("", this));
    }
    let backends = if has("--both") {
        vec![false, true]
    } else {
        vec![has("--pg")]
    };
    for pg in backends {
        for (label, bin) in &servers {
            rt.block_on(run(pg, has("--quick"), label, bin));
        }
    }
}

/// The 1, 5 and 15-minute load averages.
fn loadavg() -> [f64; 3] {
    let s = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = s.split_whitespace().map(|v| v.parse().unwrap_or(f64::NAN));
    [(); 3].map(|_| it.next().unwrap_or(f64::NAN))
}

/// Samples the 1-minute load average every second until dropped; the highest seen.
struct LoadWatch {
    peak: std::sync::Arc<std::sync::Mutex<f64>>,
    task: tokio::task::JoinHandle<()>,
}

impl LoadWatch {
    fn start() -> LoadWatch {
        let peak = std::sync::Arc::new(std::sync::Mutex::new(loadavg()[0]));
        let p = peak.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = loadavg()[0];
                let mut m = p.lock().unwrap();
                if now > *m {
                    *m = now;
                }
            }
        });
        LoadWatch { peak, task }
    }

    fn stop(self) -> f64 {
        self.task.abort();
        *self.peak.lock().unwrap()
    }
}

/// A throw-away PostgreSQL database, dropped with the value.
struct PgDb {
    name: String,
    url: String,
    admin: String,
}

impl PgDb {
    async fn create() -> PgDb {
        let admin = std::env::var("TARMIM_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        let name = format!("tarmim_bench_dispatch_{}", std::process::id());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.ok();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        let url = format!("{base}/{name}");
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query("CREATE EXTENSION IF NOT EXISTS postgis")
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.ok();
        PgDb { name, url, admin }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (name, admin) = (self.name.clone(), self.admin.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut c)
                        .await;
                }
            });
        })
        .join();
    }
}

fn district_code(i: usize) -> String {
    format!("G{i:03}")
}

/// The south-west corner of district `i`.
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

/// A user with a device and a token, written directly (no argon2 per login).
async fn add_user(
    db: &Db,
    hash: &str,
    login: &str,
    role: UserRole,
    crew: Option<&str>,
) -> (String, Actor) {
    let uid = format!("u-{login}");
    db.create_user(&NewUser {
        id: uid.clone(),
        login: login.into(),
        password_hash: hash.into(),
        role,
        crew: crew.map(str::to_owned),
        districts: vec![],
        contractor: None,
    })
    .await
    .unwrap();
    let device = DeviceId::new(format!("dev-{login}")).unwrap();
    let now = now_millis();
    db.register_device(&device, &uid, now).await.unwrap();
    let token = new_token();
    db.insert_token(&token.hash, &uid, &device, now, now + 86_400_000)
        .await
        .unwrap();
    let actor = Actor {
        user: uid,
        role: role.sync_role().unwrap(),
        crew: crew.map(str::to_owned),
        device,
    };
    (token.token, actor)
}

/// Connects a device and applies frames until it is caught up.
async fn connect(addr: SocketAddr, token: &str, dev: &mut Device) -> Ws {
    let mut req = format!("ws://{addr}/api/v1/sync")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    for f in dev.connect().unwrap() {
        ws.send(Message::Binary(f.into())).await.unwrap();
    }
    while !dev.is_live() {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("caught up in time")
            .expect("open")
            .unwrap();
        if let Message::Binary(b) = msg {
            for f in dev.on_frame(&b).unwrap().frames {
                ws.send(Message::Binary(f.into())).await.unwrap();
            }
        }
    }
    ws
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn spawn_server(config: &Config, bin: &std::path::Path) -> (Child, SocketAddr) {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("TARMIM_DATA_DIR", &config.data_dir)
        .env("TARMIM_LISTEN", addr.to_string())
        .env("TARMIM_DEMO", "false")
        .env("TARMIM_SYNC_IDLE_TIMEOUT_SECS", "3600")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(url) = &config.database_url {
        cmd.env("DATABASE_URL", url);
    }
    let child = Child(cmd.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
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

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

async fn run(pg: bool, quick: bool, label: &str, bin: &std::path::Path) {
    let phones_per_crew = if quick { 3 } else { 10 };
    let tasks = if quick { 50 } else { 300 };
    let districts = GRID * GRID;
    let crews = districts * CREWS_PER_DISTRICT;
    let devices = crews * phones_per_crew;
    let dir = tempfile::tempdir().unwrap();
    let pgdb = if pg { Some(PgDb::create().await) } else { None };
    let config = Config {
        data_dir: dir.path().to_owned(),
        database_url: pgdb.as_ref().map(|p| p.url.clone()),
        demo: false,
        ..Config::default()
    };
    let db = match &config.database_url {
        Some(url) => Db::Postgres(
            PgStore::connect(url, server::domain::commit_hooks())
                .await
                .unwrap(),
        ),
        None => Db::Sqlite(
            SqliteStore::open(&config.sqlite_path(), server::domain::commit_hooks())
                .await
                .unwrap(),
        ),
    };
    println!(
        "## Dispatch: urgent task → assigned → pushed ({}, {} cores){}\n",
        if pg { "PostgreSQL + PostGIS" } else { "SQLite" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if label.is_empty() {
            String::new()
        } else {
            format!(" — {label}: {}", bin.display())
        }
    );
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
    let hash = hash_password("bench-password").unwrap();
    let now = now_millis();
    let mut users = Vec::with_capacity(devices);
    for d in 0..districts {
        let (b, l) = corner(d);
        for k in 0..CREWS_PER_DISTRICT {
            let crew = format!("K{d:03}-{k}");
            db.upsert_crew(&Crew {
                id: crew.clone(),
                name: format!("Crew {crew}"),
                district: district_code(d),
                skills: vec!["water_leak".into(), "pothole".into()],
                contractor: None,
                on_duty: true,
            })
            .await
            .unwrap();
            insert_position(
                &db,
                &PositionRow {
                    crew: crew.clone(),
                    device: "seed".into(),
                    lat: b + CELL * (0.25 + 0.5 * k as f64),
                    lon: l + CELL * 0.5,
                    accuracy_m: Some(10.0),
                    at: now - 60_000,
                    received_at: now - 60_000,
                    flags: vec![],
                },
            )
            .await
            .unwrap();
            for j in 0..phones_per_crew {
                let login = format!("k{d:03}-{k}-{j}");
                users.push((
                    crew.clone(),
                    j,
                    add_user(&db, &hash, &login, UserRole::Crew, Some(&crew)).await,
                ));
            }
        }
    }
    let (cc_token, _) = add_user(&db, &hash, "callcentre", UserRole::CallCentre, None).await;
    db.close().await;
    println!(
        "Seeded {districts} districts, {crews} on-duty crews with positions, {devices} crew devices in {:.1?}.\n",
        t.elapsed()
    );

    let (child, addr) = spawn_server(&config, bin).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, DocId, Instant)>();
    let t = Instant::now();
    let mut readers = Vec::with_capacity(devices);
    let mut it = users.into_iter();
    loop {
        let mut set = tokio::task::JoinSet::new();
        for (crew, j, (token, actor)) in it.by_ref().take(50) {
            set.spawn(async move {
                let mut dev = Device::new(Store::open_in_memory().unwrap(), actor);
                let ws = connect(addr, &token, &mut dev).await;
                (crew, j, dev, ws)
            });
        }
        if set.is_empty() {
            break;
        }
        while let Some(r) = set.join_next().await {
            let (crew, j, mut dev, mut ws) = r.unwrap();
            let tx = tx.clone();
            // Every phone applies what it gets; the first phone of each crew reports.
            readers.push(tokio::spawn(async move {
                while let Some(Ok(msg)) = ws.next().await {
                    if let Message::Binary(b) = msg {
                        let Ok(out) = dev.on_frame(&b) else { break };
                        let at = Instant::now();
                        for f in out.frames {
                            let _ = ws.send(Message::Binary(f.into())).await;
                        }
                        if j == 0 {
                            for e in out.events {
                                if let DeviceEvent::Changed(d) = e {
                                    let _ = tx.send((crew.clone(), d, at));
                                }
                            }
                        }
                    }
                }
            }));
        }
    }
    println!(
        "{devices} devices connected and caught up in {:.1?}.\n",
        t.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;

    let http = tarmim_testing::http();
    let before = loadavg();
    let watch = LoadWatch::start();
    let mut to_201 = Vec::with_capacity(tasks);
    let mut to_phone = Vec::with_capacity(tasks);
    let mut by_crew: HashMap<String, usize> = HashMap::new();
    for k in 0..tasks {
        let d = (k * 37) % districts;
        let (b, l) = corner(d);
        let body = serde_json::json!({
            "category": "water_leak",
            "title": format!("Bench leak {k}"),
            "lat": b + CELL * (0.1 + 0.8 * ((k * 7) % 10) as f64 / 10.0),
            "lon": l + CELL * 0.4,
            "priority": "urgent",
        });
        let t0 = Instant::now();
        let r = http
            .post(format!("http://{addr}/api/v1/console/tasks"))
            .bearer_auth(&cc_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let filed: serde_json::Value = r.json().await.unwrap();
        let t_201 = t0.elapsed();
        assert_eq!(filed["dispatch"]["outcome"], "assigned", "{filed}");
        let crew = filed["dispatch"]["crew"].as_str().unwrap().to_owned();
        let id = DocId::new(filed["task"]["id"].as_str().unwrap()).unwrap();
        let at = loop {
            let (c, doc, at) = tokio::time::timeout(WAIT, rx.recv())
                .await
                .expect("the push in time")
                .unwrap();
            if c == crew && doc == id {
                break at;
            }
        };
        to_201.push(t_201);
        to_phone.push(at.duration_since(t0));
        *by_crew.entry(crew).or_default() += 1;
    }
    let peak = watch.stop();
    let after = loadavg();
    to_201.sort();
    to_phone.sort();
    println!(
        "Load average (1/5/15 min): before {:.2} {:.2} {:.2}; highest 1-min while timed {peak:.2}; after {:.2} {:.2} {:.2}.\n",
        before[0], before[1], before[2], after[0], after[1], after[2]
    );
    println!(
        "| measure ({devices} devices, {crews} crews, {districts} districts, {tasks} urgent tasks one at a time) | p50 | p99 | max | target |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| POST /api/v1/console/tasks → 201 (routed, scored, committed, assigned) | {} | {} | {} | |",
        ms(percentile(&to_201, 0.5)),
        ms(percentile(&to_201, 0.99)),
        ms(*to_201.last().unwrap())
    );
    println!(
        "| POST → the chosen crew's phone has applied the Batch with the task | {} | {} | {} | p99 < 50 ms |",
        ms(percentile(&to_phone, 0.5)),
        ms(percentile(&to_phone, 0.99)),
        ms(*to_phone.last().unwrap())
    );
    println!("\n{} distinct crews received tasks.", by_crew.len());
    for r in readers {
        r.abort();
    }
    drop(child);
    drop(pgdb);
}

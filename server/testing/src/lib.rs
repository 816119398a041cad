//! Test support for the server's tests (`server/tests/it`) and benchmarks: a fresh SQLite
//! file or a fresh PostgreSQL + PostGIS database per test ([`Fixture`], and
//! [`on_both_backends!`] to run a test on each), a server on a loopback port ([`start`]),
//! an HTTP client ([`http`]), builders for task views and commits. Never a dependency of
//! the product.
//!
//! PostgreSQL is expected at `postgres://postgres@127.0.0.1:5432/postgres` (trust auth;
//! override with `TARMIM_TEST_PG_URL`); `tests/setup/postgres.sh` makes sure it is up.
//! When it is unreachable the PostgreSQL tests FAIL, they do not skip.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod bombs;
pub mod phone;
pub mod smtp;

use serde_json::Value;
use server::base::config::Config;
use server::http::{AppState, RunningServer};
use server::storage::{Db, Store};
use server::storage::{postgres::PgStore, sqlite::SqliteStore};
use sqlx::Connection;
use std::sync::atomic::{AtomicU64, Ordering};
use sync_core::session::DocCommit;
use sync_core::task::{Derived, GeoPoint, Priority, Sla, Source, Status, TaskView};
use sync_core::{DeviceId, DocId, ScopeId};

pub fn pg_admin_url() -> String {
    std::env::var("TARMIM_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A throw-away PostgreSQL database, dropped (with FORCE) when this value is dropped,
/// even if the test panicked.
pub struct PgTestDb {
    pub name: String,
    pub url: String,
}

impl PgTestDb {
    pub async fn create() -> PgTestDb {
        static N: AtomicU64 = AtomicU64::new(0);
        let admin = pg_admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {admin}: {e}. Run tests/setup/postgres.sh first."
            )
        });
        let name = format!(
            "tarmim_test_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
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
            .expect("PostGIS must be installed (tests/setup/postgres.sh)");
        c.close().await.ok();
        PgTestDb { name, url }
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = pg_admin_url();
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
                    let _ = c.close().await;
                }
            });
        })
        .join();
    }
}

/// A store under test, with whatever keeps its database alive.
pub struct Fixture {
    pub db: Db,
    pub config: Config,
    _dir: tempfile::TempDir,
    _pg: Option<PgTestDb>,
}

impl Fixture {
    pub async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_owned(),
            demo: false,
            // Tests log in hundreds of times from one address; `hostile` tests the
            // default limits on a config of their own.
            limits: server::base::config::limits::LimitsConfig::relaxed(),
            metrics_token: Some(METRICS_TOKEN.into()),
            ..Config::default()
        };
        let db = Db::Sqlite(
            SqliteStore::open(&config.sqlite_path(), server::domain::commit_hooks())
                .await
                .unwrap(),
        );
        Fixture {
            db,
            config,
            _dir: dir,
            _pg: None,
        }
    }

    pub async fn postgres() -> Fixture {
        let pg = PgTestDb::create().await;
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_owned(),
            database_url: Some(pg.url.clone()),
            demo: false,
            // Tests log in hundreds of times from one address; `hostile` tests the
            // default limits on a config of their own.
            limits: server::base::config::limits::LimitsConfig::relaxed(),
            metrics_token: Some(METRICS_TOKEN.into()),
            ..Config::default()
        };
        let db = Db::Postgres(
            PgStore::connect(&pg.url, server::domain::commit_hooks())
                .await
                .unwrap(),
        );
        Fixture {
            db,
            config,
            _dir: dir,
            _pg: Some(pg),
        }
    }

    /// Closes the pool before the database is dropped.
    pub async fn close(self) {
        self.db.close().await;
    }
}

pub fn doc(id: &str) -> DocId {
    DocId::new(id).unwrap()
}

pub fn scope(s: &str) -> ScopeId {
    ScopeId::new(s).unwrap()
}

pub fn dev(s: &str) -> DeviceId {
    DeviceId::new(s).unwrap()
}

/// A task view as the projection sees it.
pub fn view(id: &str, district: Option<&str>, status: Status, assignee: Option<&str>) -> TaskView {
    TaskView {
        id: doc(id),
        schema: 1,
        source: Source::Citizen,
        category: "pothole".into(),
        title: format!("Pothole {id}"),
        description: "deep".into(),
        point: GeoPoint {
            lat: 35.7,
            lon: 51.4,
            accuracy_m: Some(5.0),
        },
        address: None,
        sla: Sla {
            ack_due: Some(1_000),
            complete_due: Some(2_000),
        },
        reopen_window_ms: 1,
        created_at: 500,
        derived: Derived {
            status,
            assignee: assignee.map(str::to_owned),
            district: district.map(str::to_owned),
            priority: Priority::High,
            completion: None,
            extra_visits: vec![],
            conflicts: vec![],
            acknowledged_at: None,
            started_at: None,
            completed_at: None,
            rating: None,
            reopen_count: 0,
            rejections: 0,
            escalated: false,
        },
        timeline: vec![],
        notes: vec![],
        photos: vec![],
    }
}

/// A commit of `changes` to `id` in `scopes`.
pub fn commit(
    id: &str,
    base: Option<u64>,
    scopes: &[&str],
    changes: &[&str],
    origin: &str,
) -> DocCommit {
    DocCommit {
        doc: doc(id),
        base_seq: base,
        changes: changes.iter().map(|c| c.as_bytes().to_vec()).collect(),
        snapshot: format!("snapshot of {id} after {changes:?}").into_bytes(),
        view: view(id, Some("D1"), Status::Queued, None),
        scopes: scopes.iter().map(|s| scope(s)).collect(),
        origin: dev(origin),
    }
}

/// Runs each listed async test fn against SQLite and PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let f = $crate::Fixture::sqlite().await;
                    super::$name(&f).await;
                    f.close().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let f = $crate::Fixture::postgres().await;
                    super::$name(&f).await;
                    f.close().await;
                }
            )*
        }
    };
}

/// The metrics token of the fixtures' configuration (`GET /metrics` is not public).
pub const METRICS_TOKEN: &str = "test-metrics-token";

/// `GET /metrics` of the server at `addr`, with the fixtures' token.
pub async fn metrics(addr: std::net::SocketAddr) -> String {
    let r = http()
        .get(format!("http://{addr}/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    r.text().await.unwrap()
}

/// An HTTP client for tests. reqwest is built without a bundled TLS provider in this
/// workspace (rustls takes the process default), so the default is installed first.
pub fn http() -> reqwest::Client {
    http_builder().build().unwrap()
}

/// A client builder, for tests that need a timeout or no redirects.
pub fn http_builder() -> reqwest::ClientBuilder {
    server::base::tls::install_crypto_provider();
    reqwest::Client::builder()
}

/// A server for `db` and `config` on a free loopback port, serving until dropped or shut
/// down.
pub async fn start(db: Db, config: Config) -> RunningServer {
    RunningServer::start(AppState::new(db, config), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// Commits a new task document (its whole history as changes) straight to the store, as
/// the server would, in the scopes the task belongs to.
pub async fn commit_new(db: &Db, doc: &mut sync_core::task::TaskDoc, origin: &str) {
    use sync_core::session::{ScopePolicy, ServerStore, TaskScopes};
    let view = doc.view().unwrap();
    db.commit(DocCommit {
        doc: view.id.clone(),
        base_seq: None,
        changes: doc
            .automerge()
            .get_changes(&[])
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect(),
        snapshot: doc.save(),
        scopes: TaskScopes.scopes_of(&view),
        view,
        origin: dev(origin),
    })
    .await
    .unwrap();
}

/// Imports the demo city's 12 districts and its services (no crews, users or tasks).
pub async fn demo_map(db: &Db) {
    use server::domain::districts::{PropertyNames, parse_geojson};
    use server::storage::{DistrictStore, IdentityStore};
    let props = PropertyNames {
        code: "code".into(),
        name: "name".into(),
        name_en: Some("name_en".into()),
        region: Some("region".into()),
    };
    let districts = parse_geojson(&server::demo::demo_districts_geojson(), &props).unwrap();
    db.import_districts(&districts).await.unwrap();
    for s in server::demo::demo_services() {
        db.upsert_service(&s).await.unwrap();
    }
}

/// Logs in over HTTP (`device` is the device id); the answer's body.
pub async fn login(addr: std::net::SocketAddr, login: &str, password: &str, device: &str) -> Value {
    let r = http()
        .post(format!("http://{addr}/api/v1/login"))
        .json(&serde_json::json!({"login": login, "password": password, "device_id": device}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status.as_u16(), 200, "login {login}: {body}");
    body
}

/// Logs in over HTTP; the token and the actor the device edits task documents as.
pub async fn login_actor(
    addr: std::net::SocketAddr,
    login: &str,
    password: &str,
    device: &str,
) -> (String, sync_core::Actor) {
    use sync_core::Role;
    let body = self::login(addr, login, password, device).await;
    let me = &body["me"];
    let role = match me["role"].as_str().unwrap() {
        "crew" => Role::Crew,
        "dispatcher" => Role::Dispatcher,
        "manager" => Role::Manager,
        other => panic!("no sync role for {other}"),
    };
    let actor = sync_core::Actor {
        user: me["user_id"].as_str().unwrap().to_owned(),
        role,
        crew: me["crew"].as_str().map(str::to_owned),
        device: dev(device),
    };
    (body["token"].as_str().unwrap().to_owned(), actor)
}

/// A client of the JSON API, logged in or anonymous.
pub struct Api {
    /// `http://<addr>`.
    pub base: String,
    /// The bearer token, when logged in.
    pub token: Option<String>,
    /// The HTTP client.
    pub http: reqwest::Client,
}

impl Api {
    /// Logs in as `login` from the device `dev-<login>`.
    pub async fn login(addr: std::net::SocketAddr, login: &str, password: &str) -> Api {
        let body = self::login(addr, login, password, &format!("dev-{login}")).await;
        Api {
            token: Some(body["token"].as_str().unwrap().to_owned()),
            ..Api::anonymous(addr)
        }
    }

    /// No token.
    pub fn anonymous(addr: std::net::SocketAddr) -> Api {
        Api {
            base: format!("http://{addr}"),
            token: None,
            http: http(),
        }
    }

    /// A request to `path` with the token, if any.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// Sends a JSON body (or none); the status and the body as JSON (`Null` if not JSON).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (reqwest::StatusCode, Value) {
        let mut req = self.request(method, path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The raw answer to a GET.
    pub async fn raw(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap()
    }

    /// GET.
    pub async fn get(&self, path: &str) -> (reqwest::StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    /// GET that must answer 200; its body.
    pub async fn ok(&self, path: &str) -> Value {
        let (s, v) = self.get(path).await;
        assert_eq!(s.as_u16(), 200, "{path}: {v}");
        v
    }

    /// POST a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> (reqwest::StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// PUT a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> (reqwest::StatusCode, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }
}

/// Runs the server's command line (`bin`: the test's `env!("CARGO_BIN_EXE_tarmim-server")`)
/// against the fixture's store, with `stdin` piped in and `env` set on top; its output.
pub fn cli(
    bin: &str,
    f: &Fixture,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env("TARMIM_DATA_DIR", &f.config.data_dir)
        .env("TARMIM_DEMO", "false")
        .env("RUST_LOG", "warn")
        .env_remove("TARMIM_CONFIG")
        .env_remove("TARMIM_INTEGRITY_IDENTITY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match &f.config.database_url {
        Some(url) => cmd.env("DATABASE_URL", url),
        None => cmd.env_remove("DATABASE_URL"),
    };
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        // The command may exit before reading (clap refuses bad arguments first).
        let _ = input.write_all(text.as_bytes());
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// The standard output of a command that must have succeeded.
pub fn ok(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Stores an on-duty crew with its skills.
pub async fn add_crew(db: &Db, id: &str, district: &str, skills: &[&str]) {
    use server::storage::IdentityStore;
    db.upsert_crew(&server::storage::Crew {
        id: id.into(),
        name: format!("Crew {id}"),
        district: district.into(),
        skills: skills.iter().map(|s| (*s).to_owned()).collect(),
        contractor: None,
        on_duty: true,
    })
    .await
    .unwrap();
}

/// Stores a user (`password_hash`: an argon2 PHC string, hashed once per test).
pub async fn add_user(
    db: &Db,
    id: &str,
    login: &str,
    password_hash: &str,
    role: server::storage::identity::UserRole,
    crew: Option<&str>,
    districts: Vec<String>,
) {
    use server::storage::IdentityStore;
    db.create_user(&server::storage::NewUser {
        id: id.into(),
        login: login.into(),
        password_hash: password_hash.into(),
        role,
        crew: crew.map(str::to_owned),
        districts,
        contractor: None,
    })
    .await
    .unwrap();
}

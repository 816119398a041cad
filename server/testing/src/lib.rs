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
            ..Config::default()
        };
        let db = Db::Sqlite(
            SqliteStore::open(
                &config.sqlite_path(),
                server::domain::analytics::facts::derive,
            )
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
            ..Config::default()
        };
        let db = Db::Postgres(
            PgStore::connect(&pg.url, server::domain::analytics::facts::derive)
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

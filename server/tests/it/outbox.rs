//! The durable outbox on both backends: a phone-filed task whose routing row was
//! committed but never run (the server stopped between the ack and the routing) is
//! routed and dispatched by the real server binary at its next start (issue 16 §13); a
//! point outside every district ends in the dead-letter list staff see; an Open311 POST
//! whose request row cannot be stored answers 5xx and stores nothing (issue 16 §14).

use reqwest::StatusCode;
use serde_json::{Value, json};
use server::domain::identity::{UserRole, hash_password};
use server::storage::outbox::{self, Counts};
use server::storage::{Db, DocStore, IdentityStore, NewUser};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use sync_core::task::{
    DEFAULT_REOPEN_WINDOW_MS, GeoPoint, NewTask, Priority, Sla, Source, TaskDoc,
};
use sync_core::{Actor, DeviceId, DocId, Role};
use tarmim_testing::{Fixture, on_both_backends};

const PASSWORD: &str = "outbox-test-password";

/// Centre of demo district `d` (D01..D11).
fn centre(d: usize) -> (f64, f64) {
    let row = (d - 1) / 4;
    let col = (d - 1) % 4;
    (
        35.735 - 0.03 * row as f64 - 0.015,
        51.32 + 0.035 * col as f64 + 0.0175,
    )
}

pub struct Child(pub std::process::Child, pub SocketAddr);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Starts the real `tarmim-server` binary on the fixture's database with a fast outbox.
pub async fn spawn_server(f: &Fixture, env: &[(&str, String)]) -> Child {
    let addr = free_addr();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tarmim-server"));
    cmd.env_clear()
        .env("TARMIM_DATA_DIR", &f.config.data_dir)
        .env("TARMIM_LISTEN", addr.to_string())
        .env("TARMIM_DEMO", "false")
        .env("TARMIM_OUTBOX_TICK_MS", "50")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(url) = &f.config.database_url {
        cmd.env("DATABASE_URL", url);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = Child(cmd.spawn().unwrap(), addr);
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

pub async fn wait_for<F: AsyncFnMut() -> bool>(what: &str, mut ok: F) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn seed(db: &Db) {
    tarmim_testing::demo_map(db).await;
    tarmim_testing::add_crew(db, "C-A", "D01", &["pothole"]).await;
    for (id, role, districts) in [
        ("admin", UserRole::Admin, vec![]),
        ("disp", UserRole::Dispatcher, vec!["D01".to_owned()]),
    ] {
        db.create_user(&NewUser {
            contractor: None,
            id: format!("u-{id}"),
            login: id.into(),
            password_hash: hash_password(PASSWORD).unwrap(),
            role,
            crew: None,
            districts,
        })
        .await
        .unwrap();
    }
    db.create_user(&NewUser {
        contractor: None,
        id: "u-crew".into(),
        login: "crew".into(),
        password_hash: hash_password(PASSWORD).unwrap(),
        role: UserRole::Crew,
        crew: Some("C-A".into()),
        districts: vec![],
    })
    .await
    .unwrap();
}

/// Commits a crew's field report straight to the store, as the sync session does when
/// a phone pushes it: the document and its `adopt` row in one transaction. Nothing runs
/// the row: this is the state a server killed right after the ack leaves behind.
async fn commit_field_report(db: &Db, id: &str, point: (f64, f64)) -> DocId {
    let actor = Actor {
        user: "u-crew".into(),
        role: Role::Crew,
        crew: Some("C-A".into()),
        device: DeviceId::new("phone-crew").unwrap(),
    };
    let id = DocId::new(id).unwrap();
    let mut doc = TaskDoc::create(
        NewTask {
            id: id.clone(),
            source: Source::Crew,
            category: "pothole".into(),
            title: "Deep pothole by the bus stop".into(),
            description: String::new(),
            point: GeoPoint {
                lat: point.0,
                lon: point.1,
                accuracy_m: Some(5.0),
            },
            address: None,
            district: None,
            priority: Priority::Urgent,
            sla: Sla::default(),
            reopen_window_ms: DEFAULT_REOPEN_WINDOW_MS,
        },
        &actor,
        now_ms(),
    )
    .unwrap();
    tarmim_testing::commit_new(db, &mut doc, "phone-crew").await;
    id
}

fn now_ms() -> i64 {
    server::base::time::now_millis()
}

async fn login(addr: SocketAddr, who: &str) -> String {
    let v = tarmim_testing::login(addr, who, PASSWORD, &format!("dev-{who}")).await;
    v["token"].as_str().unwrap().to_owned()
}

async fn get(addr: SocketAddr, token: &str, path: &str) -> (StatusCode, Value) {
    let r = tarmim_testing::http()
        .get(format!("http://{addr}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// Issue 16 §13: the routing of a phone-filed task is a row written in the sync commit's
/// transaction; a server that stopped before running it routes and dispatches the task
/// at its next start.
async fn phone_task_is_routed_after_a_restart(f: &Fixture) {
    seed(&f.db).await;
    let task = commit_field_report(&f.db, "F-00000000000000A1", centre(1)).await;
    assert_eq!(
        outbox::counts(&f.db).await.unwrap(),
        Counts {
            pending: 1,
            ..Counts::default()
        },
        "the commit wrote its adopt row"
    );
    assert_eq!(f.db.task_row(&task).await.unwrap().unwrap().district, None);
    let server = spawn_server(f, &[]).await;
    wait_for("the task to be routed and assigned", async || {
        let row = f.db.task_row(&task).await.unwrap().unwrap();
        row.district.as_deref() == Some("D01") && row.assignee.as_deref() == Some("C-A")
    })
    .await;
    wait_for("the adopt row to be marked sent", async || {
        outbox::counts(&f.db).await.unwrap().sent == 1
    })
    .await;
    drop(server);
}

/// A field report outside every district cannot be routed: its row goes to the
/// dead-letter list at once, which administrators and dispatchers read and crews may not.
async fn unroutable_phone_task_is_dead_lettered(f: &Fixture) {
    seed(&f.db).await;
    let task = commit_field_report(&f.db, "F-00000000000000B2", (10.0, 10.0)).await;
    let server = spawn_server(f, &[]).await;
    wait_for("the adopt row to be dead", async || {
        outbox::counts(&f.db).await.unwrap().dead == 1
    })
    .await;
    let admin = login(server.1, "admin").await;
    let (status, dead) = get(server.1, &admin, "/api/v1/outbox/dead").await;
    assert_eq!(status, StatusCode::OK, "{dead}");
    assert_eq!(dead.as_array().unwrap().len(), 1, "{dead}");
    assert_eq!(dead[0]["task"], task.as_str());
    assert_eq!(dead[0]["kind"], "adopt");
    assert_eq!(dead[0]["attempts"], 1, "{dead}");
    assert!(
        dead[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("outside every district"),
        "{dead}"
    );
    let disp = login(server.1, "disp").await;
    assert_eq!(
        get(server.1, &disp, "/api/v1/outbox/dead").await.0,
        StatusCode::OK
    );
    let crew = login(server.1, "crew").await;
    assert_eq!(
        get(server.1, &crew, "/api/v1/outbox/dead").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(server.1, "nonsense", "/api/v1/outbox/dead").await.0,
        StatusCode::UNAUTHORIZED
    );
    drop(server);
}

/// Counts the rows of `table`.
pub(crate) async fn rows(db: &Db, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    match db {
        Db::Sqlite(s) => sqlx::query_scalar(&sql).fetch_one(s.pool()).await.unwrap(),
        Db::Postgres(p) => sqlx::query_scalar(&sql).fetch_one(p.pool()).await.unwrap(),
    }
}

/// Makes every insert into `table` fail (a trigger), to inject a fault in one write.
pub(crate) async fn inject_fault(db: &Db, table: &str) {
    match db {
        Db::Sqlite(s) => {
            sqlx::query(&format!(
                "CREATE TRIGGER fault_{table} BEFORE INSERT ON {table}
                 BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
            ))
            .execute(s.pool())
            .await
            .unwrap();
        }
        Db::Postgres(p) => {
            sqlx::query(
                "CREATE OR REPLACE FUNCTION fault() RETURNS trigger AS $$
                 BEGIN RAISE EXCEPTION 'injected fault'; END $$ LANGUAGE plpgsql",
            )
            .execute(p.pool())
            .await
            .unwrap();
            sqlx::query(&format!(
                "CREATE TRIGGER fault_{table} BEFORE INSERT ON {table}
                 FOR EACH ROW EXECUTE FUNCTION fault()"
            ))
            .execute(p.pool())
            .await
            .unwrap();
        }
    }
}

/// Removes [`inject_fault`]'s trigger from `table`.
pub(crate) async fn clear_fault(db: &Db, table: &str) {
    let sql = match db {
        Db::Sqlite(_) => format!("DROP TRIGGER fault_{table}"),
        Db::Postgres(_) => format!("DROP TRIGGER fault_{table} ON {table}"),
    };
    match db {
        Db::Sqlite(s) => drop(sqlx::query(&sql).execute(s.pool()).await.unwrap()),
        Db::Postgres(p) => drop(sqlx::query(&sql).execute(p.pool()).await.unwrap()),
    }
}

/// Issue 16 §14: an Open311 request's row and contact are stored in the task's commit;
/// issue 21: so are the report's origin (`citizen_reports`) and its completion timer.
/// With a fault injected in any of those writes (a trigger that fails it), the POST
/// answers 5xx and nothing is stored: no task, no tracking code, no contact, no
/// notification, no timer. Without the fault the same POST stores all of it.
async fn open311_fault_stores_nothing(f: &Fixture) {
    seed(&f.db).await;
    server::domain::open311::seed_demo(&f.db).await.unwrap();
    let srv = tarmim_testing::start(f.db.clone(), f.config.clone()).await;
    let (lat, lon) = centre(1);
    let form = [
        (
            "api_key",
            server::domain::open311::keys::DEMO_KEY.to_owned(),
        ),
        ("service_code", "pothole".to_owned()),
        ("attribute[size]", "large".to_owned()),
        ("lat", lat.to_string()),
        ("long", lon.to_string()),
        ("description", "A pothole by the school".to_owned()),
        ("email", "citizen@example.org".to_owned()),
        ("phone", "09121234567".to_owned()),
    ];
    let post = async || {
        tarmim_testing::http()
            .post(format!("http://{}/open311/v2/requests.json", srv.addr))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&form).unwrap())
            .send()
            .await
            .unwrap()
    };
    for faulty in ["open311_requests", "citizen_reports", "dispatch_timers"] {
        inject_fault(&f.db, faulty).await;
        let r = post().await;
        assert!(
            r.status().is_server_error(),
            "a fault in {faulty}: {}",
            r.status()
        );
        for table in [
            "docs",
            "tasks",
            "tracking_codes",
            "open311_requests",
            "open311_contacts",
            "outbox",
            "citizen_reports",
            "dispatch_timers",
        ] {
            assert_eq!(
                rows(&f.db, table).await,
                0,
                "{table} after a fault in {faulty}"
            );
        }
        clear_fault(&f.db, faulty).await;
    }
    let r = post().await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    let id = body[0]["service_request_id"].as_str().unwrap().to_owned();
    for table in [
        "docs",
        "tracking_codes",
        "open311_requests",
        "open311_contacts",
        "citizen_reports",
        "dispatch_timers",
    ] {
        assert_eq!(rows(&f.db, table).await, 1, "{table}");
    }
    // The token answers.
    let token = body[0]["token"].as_str().unwrap();
    let t: Value = tarmim_testing::http()
        .get(format!(
            "http://{}/open311/v2/tokens/{token}.json",
            srv.addr
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(t[0]["service_request_id"], json!(id));
    srv.shutdown().await.unwrap();
}

on_both_backends!(
    phone_task_is_routed_after_a_restart,
    unroutable_phone_task_is_dead_lettered,
    open311_fault_stores_nothing,
);

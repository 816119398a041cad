//! The staff audit log, on both backends: logins and their failures, a verification and
//! a rejection are recorded; admins read the log (JSON and CSV, the CSV read recorded as
//! an export), nobody else; `tarmim-server audit verify` passes on the intact chain and
//! finds a row deleted with raw SQL; `district auto-assign` is recorded.

use reqwest::StatusCode;
use serde_json::json;
use server::domain::identity::{UserRole, hash_password};
use server::storage::{Db, Store};
use tarmim_testing::{Api, Fixture, on_both_backends};

const PASSWORD: &str = "pass-word-1";

fn cli(f: &Fixture, args: &[&str]) -> std::process::Output {
    tarmim_testing::cli(env!("CARGO_BIN_EXE_tarmim-server"), f, args, None, &[])
}

async fn delete_row(db: &Db, seq: i64) {
    let sql = "DELETE FROM audit_log WHERE seq = $1";
    let n = match db {
        Db::Sqlite(s) => sqlx::query(sql).bind(seq).execute(s.pool()).await.unwrap(),
        Db::Postgres(s) => {
            sqlx::query(sql).bind(seq).execute(s.pool()).await.unwrap();
            return;
        }
    };
    assert_eq!(n.rows_affected(), 1);
}

async fn audit_log_is_written_read_and_checked(f: &Fixture) {
    tarmim_testing::demo_map(&f.db).await;
    let hash = hash_password(PASSWORD).unwrap();
    for (id, login, role, districts) in [
        ("u-admin", "admin", UserRole::Admin, vec![]),
        (
            "u-d1",
            "disp-d01",
            UserRole::Dispatcher,
            vec!["D01".to_owned()],
        ),
    ] {
        tarmim_testing::add_user(&f.db, id, login, &hash, role, None, districts).await;
    }
    let srv = tarmim_testing::start(f.db.clone(), f.config.clone()).await;
    // A failed login, then two good ones.
    let r = tarmim_testing::http()
        .post(format!("http://{}/api/v1/login", srv.addr))
        .json(&json!({"login": "disp-d01", "password": "wrong-password", "device_id": "dev-x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let disp = Api::login(srv.addr, "disp-d01", PASSWORD).await;
    let admin = Api::login(srv.addr, "admin", PASSWORD).await;

    // Only admins read the log.
    let (s, _) = disp.get("/api/v1/admin/audit").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, rows) = admin.get("/api/v1/admin/audit?limit=10").await;
    assert_eq!(s, StatusCode::OK, "{rows}");
    let actions: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["login", "login", "login_failed"], "{rows}");
    assert_eq!(rows[2]["actor"], "disp-d01");
    assert_eq!(rows[2]["device"], "dev-x");
    assert!(!rows.to_string().contains("wrong-password"));
    let (s, _) = admin.get("/api/v1/admin/audit?limit=0").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let r = admin.raw("/api/v1/admin/audit?format=csv").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["x-total-count"],
        "4",
        "the CSV read is recorded first"
    );
    let csv = r.text().await.unwrap();
    assert!(csv.starts_with("seq,at,actor"), "{csv}");
    assert_eq!(csv.lines().count(), 5, "{csv}");
    srv.shutdown().await.unwrap();

    // The CLI: an admin change recorded, the chain intact, then a row deleted by hand.
    let out = cli(f, &["district", "auto-assign", "--district", "D01", "on"]);
    tarmim_testing::ok(&out);
    let out = tarmim_testing::ok(&cli(f, &["audit", "list"]));
    assert!(out.contains("admin.district_auto_assign\tD01"), "{out}");
    assert!(out.contains("\texport\taudit_log"), "{out}");
    let out = tarmim_testing::ok(&cli(f, &["audit", "verify"]));
    assert!(out.contains("intact: 5 rows"), "{out}");
    let out = cli(f, &["district", "auto-assign", "--district", "D99", "on"]);
    assert!(!out.status.success());

    // The server closed the fixture's pool when it shut down: a fresh one, as psql would be.
    let db = server::domain::open_store(&f.config).await.unwrap();
    delete_row(&db, 2).await;
    db.close().await;
    let out = cli(f, &["audit", "verify"]);
    assert!(!out.status.success(), "a deleted row went unnoticed");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("row 2 is missing"), "{err}");
}

on_both_backends!(audit_log_is_written_read_and_checked);

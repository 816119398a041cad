//! The staff audit log, on both backends: logins and their failures, a verification and
//! a rejection are recorded; admins read the log (JSON and CSV, the CSV read recorded as
//! an export), nobody else; `tarmim-server audit verify` passes on the intact chain and
//! finds a row deleted with raw SQL, the last one too (the head beside the chain), and a
//! chain cut back head and all only against an anchor noted outside the database;
//! `district auto-assign` is recorded.

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

async fn sql(db: &Db, statement: &str) {
    match db {
        Db::Sqlite(s) => {
            sqlx::query(statement).execute(s.pool()).await.unwrap();
        }
        Db::Postgres(s) => {
            sqlx::query(statement).execute(s.pool()).await.unwrap();
        }
    }
}

fn verify(f: &Fixture, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["audit", "verify"];
    args.extend_from_slice(extra);
    let out = cli(f, &args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The chain's last row deleted with raw SQL is found (the head kept beside the chain);
/// a forger who also sets the head back is found only by a head noted outside the
/// database (`--anchor`), which is what docs/audit.md tells operators to keep.
async fn a_deleted_last_row_is_found(f: &Fixture) {
    use server::storage::audit::{NewAuditEntry, append};
    let (ok, text) = verify(f, &[]);
    assert!(ok, "{text}");
    assert!(text.contains("intact: 0 rows"), "{text}");
    for k in 0..3 {
        append(
            &f.db,
            &NewAuditEntry {
                at: 1_000 + k,
                actor: "u-admin".into(),
                role: "admin".into(),
                device: "cli".into(),
                action: "admin.test".into(),
                target: Some(format!("thing-{k}")),
                detail: "{}".into(),
            },
        )
        .await
        .unwrap();
    }
    let (ok, text) = verify(f, &[]);
    assert!(ok && text.contains("intact: 3 rows"), "{text}");
    let anchor = text
        .lines()
        .find_map(|l| l.strip_prefix("head: "))
        .unwrap()
        .to_owned();
    assert!(anchor.starts_with("3:"), "{anchor}");
    let (ok, text) = verify(f, &["--anchor", &anchor]);
    assert!(ok, "{text}");

    // The last row deleted: the head still names it.
    sql(&f.db, "DELETE FROM audit_log WHERE seq = 3").await;
    let (ok, text) = verify(f, &[]);
    assert!(!ok, "a deleted last row went unnoticed: {text}");
    assert!(text.contains("row 3 is missing at the end"), "{text}");

    // The head set back too: the database alone agrees with itself; the anchor does not.
    sql(
        &f.db,
        "UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_log WHERE seq = 2)",
    )
    .await;
    let (ok, text) = verify(f, &[]);
    assert!(ok, "{text}");
    let (ok, text) = verify(f, &["--anchor", &anchor]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("row 3 noted outside the database is gone"),
        "{text}"
    );

    // The head row itself deleted.
    sql(&f.db, "DELETE FROM audit_head").await;
    let (ok, text) = verify(f, &[]);
    assert!(
        !ok && text.contains("head (audit_head) is missing"),
        "{text}"
    );

    // Anchors that are not SEQ:HASH.
    let zeros = "0".repeat(64);
    for bad in [
        "3",
        "x:abc",
        &format!("0:{zeros}"),
        "2:abc",
        &format!("2:{}g", &zeros[1..]),
    ] {
        let (ok, text) = verify(f, &["--anchor", bad]);
        assert!(!ok, "{bad}: {text}");
        assert!(text.contains("anchor"), "{bad}: {text}");
    }
}

on_both_backends!(
    audit_log_is_written_read_and_checked,
    a_deleted_last_row_is_found
);

//! Penalties end to end, on both backends: SLA terms (refused when negative or absurd,
//! used for new tasks' due times), contractors' schedules, proposals from real task
//! documents committed through the store (late acknowledgement and completion, a
//! rejection) made idempotently by the sweep, each with its evidence; a manager's
//! decisions; a contractor's representative who sees only its own contractor's tasks and
//! penalties and appeals; the statement (JSON and CSV, monthly cap); the scorecard's
//! penalty columns; the audit rows; the CLI.
//!
//! Bad input: an empty reason, a reduction above the amount in force, a decision on a
//! waived penalty, a second decision, an appeal by another contractor's representative,
//! a second appeal, an empty appeal note, roles that may not decide or appeal.

use reqwest::StatusCode;
use serde_json::{Value, json};
use server::domain::identity::{UserRole, hash_password};
use server::domain::penalties::{PenaltyError, propose, schedule, sla};
use server::storage::penalties::Terms;
use server::storage::{Crew, Db, IdentityStore, NewUser};
use sync_core::task::{
    EventKind, GeoPoint, NewTask, PhotoKind, PhotoRef, Priority, Sla, Source, TaskDoc,
};
use sync_core::{Actor, DeviceId, DocId, Millis, Role};
use tarmim_testing::{Api, Fixture, on_both_backends};

const PASSWORD: &str = "pass-word-1";
const K1: &str = "Pars Asphalt Co.";
const K2: &str = "Rival Roads";
const MIN: Millis = 60_000;
/// Inside D01 of the demo map.
const POINT: (f64, f64) = (35.72, 51.3375);

async fn seed(db: &Db) {
    tarmim_testing::demo_map(db).await;
    for (id, contractor) in [("C-K1", K1), ("C-K2", K2)] {
        db.upsert_crew(&Crew {
            id: id.into(),
            name: format!("Crew {id}"),
            district: "D01".into(),
            skills: vec!["pothole".into()],
            contractor: Some(contractor.into()),
            on_duty: true,
        })
        .await
        .unwrap();
    }
    let hash = hash_password(PASSWORD).unwrap();
    for (login, role, districts, contractor) in [
        ("mgr-d01", UserRole::Manager, vec!["D01"], None),
        ("mgr-d02", UserRole::Manager, vec!["D02"], None),
        ("disp-d01", UserRole::Dispatcher, vec!["D01"], None),
        ("rep-k1", UserRole::Contractor, vec![], Some(K1)),
        ("rep-k2", UserRole::Contractor, vec![], Some(K2)),
    ] {
        db.create_user(&NewUser {
            id: format!("u-{login}"),
            login: login.into(),
            password_hash: hash.clone(),
            role,
            crew: None,
            districts: districts.into_iter().map(str::to_owned).collect(),
            contractor: contractor.map(str::to_owned),
        })
        .await
        .unwrap();
    }
    for (contractor, cap) in [(K1, Some(1_500)), (K2, None)] {
        schedule::set(
            db,
            &Terms {
                contractor: contractor.into(),
                unit: "rial".into(),
                per_late_hour: 100,
                per_rejection: 1_000,
                per_not_fixed: 2_000,
                per_complaint: 500,
                cap_per_month: cap,
            },
        )
        .await
        .unwrap();
    }
}

fn dev(s: &str) -> DeviceId {
    DeviceId::new(s).unwrap()
}

fn photo(task: &str, kind: PhotoKind, crew: &Actor, at: Millis) -> PhotoRef {
    PhotoRef {
        hash: sync_core::outbox::content_hash(format!("{task}/{kind:?}").as_bytes()),
        kind,
        taken_at: Some(at),
        taken_point: None,
        author: crew.user.clone(),
        device: crew.device.to_string(),
        bytes: 1000,
        mime: "image/jpeg".into(),
        added_at: at,
    }
}

/// A task of `crew` created 8 h ago: ack due after 10 min, acknowledged after 110 (100
/// late: 2 started hours); complete due after 60 min, completed after 260 (200 late: 4
/// started hours); rejected once first when `rejected`.
async fn late_task(db: &Db, id: &str, crew_id: &str, rejected: bool) {
    let now = server::base::time::now_millis();
    let created = now - 8 * 60 * MIN;
    let at = |m: Millis| created + m * MIN;
    let server_actor = Actor::server(dev("server-test"));
    let dispatcher = Actor {
        user: "u-disp-d01".into(),
        role: Role::Dispatcher,
        crew: None,
        device: dev("dev-disp-d01"),
    };
    let crew = Actor {
        user: format!("u-{crew_id}"),
        role: Role::Crew,
        crew: Some(crew_id.into()),
        device: dev(&format!("phone-{crew_id}")),
    };
    let mut doc = TaskDoc::create(
        NewTask {
            id: DocId::new(id).unwrap(),
            source: Source::Citizen,
            category: "pothole".into(),
            title: "Late pothole".into(),
            description: String::new(),
            point: GeoPoint {
                lat: POINT.0,
                lon: POINT.1,
                accuracy_m: None,
            },
            address: None,
            district: None,
            priority: Priority::Normal,
            sla: Sla {
                ack_due: Some(at(10)),
                complete_due: Some(at(60)),
            },
            reopen_window_ms: 14 * 24 * 60 * MIN,
        },
        &server_actor,
        created,
    )
    .unwrap();
    doc.append_event(
        &server_actor,
        at(1),
        EventKind::Routed {
            district: "D01".into(),
        },
    )
    .unwrap();
    doc.append_event(
        &dispatcher,
        at(2),
        EventKind::Assigned {
            crew: crew_id.into(),
            reason: "test".into(),
        },
    )
    .unwrap();
    doc.append_event(&crew, at(110), EventKind::Acknowledged)
        .unwrap();
    doc.add_photo(&crew, photo(id, PhotoKind::Before, &crew, at(120)))
        .unwrap();
    doc.append_event(&crew, at(120), EventKind::Started)
        .unwrap();
    let after = photo(id, PhotoKind::After, &crew, at(200));
    let hash = after.hash.clone();
    doc.add_photo(&crew, after).unwrap();
    if rejected {
        doc.append_event(
            &crew,
            at(200),
            EventKind::Completed {
                photos: vec![hash.clone()],
            },
        )
        .unwrap();
        doc.append_event(
            &dispatcher,
            at(210),
            EventKind::Rejected {
                reason: "not level".into(),
            },
        )
        .unwrap();
        doc.append_event(&crew, at(220), EventKind::Started)
            .unwrap();
    }
    doc.append_event(&crew, at(260), EventKind::Completed { photos: vec![hash] })
        .unwrap();
    tarmim_testing::commit_new(db, &mut doc, "server-test").await;
}

fn rows(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

fn find<'a>(list: &'a [Value], task: &str, cause: &str) -> &'a Value {
    list.iter()
        .find(|p| p["task_id"] == task && p["cause"] == cause)
        .unwrap_or_else(|| panic!("no {cause} penalty of {task} in {list:?}"))
}

fn decision(id: &Value) -> String {
    format!("/api/v1/penalties/{id}/decision")
}

fn appeal(id: &Value) -> String {
    format!("/api/v1/penalties/{id}/appeal")
}

async fn proposals_decisions_and_appeals(f: &Fixture) {
    seed(&f.db).await;
    late_task(&f.db, "T-LATE-1", "C-K1", true).await;
    late_task(&f.db, "T-LATE-2", "C-K2", false).await;
    let first = propose::sweep(&f.db, 0).await.unwrap();
    // T-LATE-1: late ack, late completion, one rejection; T-LATE-2: late ack and completion.
    assert_eq!(first.proposed, 5, "{first:?}");
    let again = propose::sweep(&f.db, 0).await.unwrap();
    assert_eq!(again.proposed, 0, "a second sweep proposes nothing new");

    let srv = tarmim_testing::start(f.db.clone(), f.config.clone()).await;
    let mgr = Api::login(srv.addr, "mgr-d01", PASSWORD).await;
    let mgr2 = Api::login(srv.addr, "mgr-d02", PASSWORD).await;
    let disp = Api::login(srv.addr, "disp-d01", PASSWORD).await;
    let rep1 = Api::login(srv.addr, "rep-k1", PASSWORD).await;
    let rep2 = Api::login(srv.addr, "rep-k2", PASSWORD).await;

    // Who sees what.
    let all = rows(&mgr.ok("/api/v1/penalties").await);
    assert_eq!(all.len(), 5);
    assert!(rows(&mgr2.ok("/api/v1/penalties").await).is_empty());
    let (s, _) = disp.get("/api/v1/penalties").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let own = rows(&rep1.ok("/api/v1/penalties").await);
    assert_eq!(own.len(), 3);
    assert!(own.iter().all(|p| p["contractor"] == K1), "{own:?}");
    let other = rows(&rep2.ok("/api/v1/penalties").await);
    assert_eq!(other.len(), 2);
    assert!(other.iter().all(|p| p["contractor"] == K2));
    let asked = rows(&rep1.ok("/api/v1/penalties?contractor=Rival%20Roads").await);
    assert!(asked.is_empty(), "{asked:?}");
    let k2_penalty = &find(&all, "T-LATE-2", "late_completion")["id"];
    let (s, _) = rep1.get(&format!("/api/v1/penalties/{k2_penalty}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The representative's tasks: its own only; the console's task view is not for it.
    let tasks = rows(&rep1.ok("/api/v1/contractor/tasks").await);
    let ids: Vec<_> = tasks.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["T-LATE-1"]);
    for path in [
        "/api/v1/console/tasks/T-LATE-2",
        "/api/v1/console/tasks/T-LATE-1",
        "/api/v1/analytics/scorecard?level=contractor",
        "/api/v1/console/queue",
    ] {
        let (s, _) = rep1.get(path).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }
    let (s, _) = mgr.get("/api/v1/contractor/tasks").await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The evidence.
    let late = find(&all, "T-LATE-1", "late_completion");
    assert_eq!(late["late_minutes"], 200);
    assert_eq!(late["proposed_amount"], 400, "4 started hours × 100");
    assert_eq!(late["status"], "proposed");
    assert!(late["due_at"].as_i64().unwrap() < late["fact_at"].as_i64().unwrap());
    assert!(late["before_photo"].is_string() && late["after_photo"].is_string());
    let ack = find(&all, "T-LATE-1", "late_ack");
    assert_eq!(
        (
            ack["late_minutes"].as_i64(),
            ack["proposed_amount"].as_i64()
        ),
        (Some(100), Some(200))
    );
    let rejected = find(&all, "T-LATE-1", "rejected");
    assert_eq!(rejected["proposed_amount"], 1_000);
    let (late_id, ack_id, rej_id) = (&late["id"], &ack["id"], &rejected["id"]);

    // Bad decisions.
    let (s, b) = mgr
        .post(
            &decision(late_id),
            json!({"action": "confirm", "reason": "  "}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, b) = mgr
        .post(
            &decision(late_id),
            json!({"action": "reduce", "amount": 500, "reason": "r"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "above the proposed amount: {b}");
    let (s, _) = mgr
        .post(
            &decision(late_id),
            json!({"action": "reduce", "amount": -1, "reason": "r"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = mgr
        .post(
            &decision(late_id),
            json!({"action": "reduce", "reason": "r"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = mgr
        .post(
            &decision(late_id),
            json!({"action": "pardon", "reason": "r"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = rep1
        .post(
            &decision(late_id),
            json!({"action": "waive", "reason": "mine"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = disp
        .post(
            &decision(late_id),
            json!({"action": "waive", "reason": "r"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = mgr2
        .post(
            &decision(late_id),
            json!({"action": "waive", "reason": "r"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "another district's manager");
    let (s, _) = mgr
        .post(
            "/api/v1/penalties/abc/decision",
            json!({"action": "waive", "reason": "r"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Decisions.
    let (s, p) = mgr
        .post(
            &decision(rej_id),
            json!({"action": "waive", "reason": "the city's delay"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(
        (p["status"].as_str(), p["amount"].as_i64()),
        (Some("waived"), Some(0))
    );
    let (s, b) = mgr
        .post(
            &decision(rej_id),
            json!({"action": "confirm", "reason": "changed my mind"}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "a decision on a waived penalty: {b}"
    );
    let (s, p) = mgr
        .post(
            &decision(late_id),
            json!({"action": "confirm", "reason": "late by the log"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(
        (p["status"].as_str(), p["amount"].as_i64()),
        (Some("confirmed"), Some(400))
    );
    assert_eq!(p["steps"][0]["note"], "late by the log");
    let (s, _) = mgr
        .post(
            &decision(late_id),
            json!({"action": "waive", "reason": "again"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "already decided");
    let (s, p) = mgr
        .post(
            &decision(ack_id),
            json!({"action": "reduce", "amount": 50, "reason": "traffic"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(
        (p["status"].as_str(), p["amount"].as_i64()),
        (Some("confirmed"), Some(50))
    );

    // Appeals.
    let (s, _) = rep2
        .post(&appeal(late_id), json!({"note": "not ours either"}))
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "another contractor's representative"
    );
    let (s, _) = mgr.post(&appeal(late_id), json!({"note": "x"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = rep1.post(&appeal(late_id), json!({"note": ""})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = rep1.post(&appeal(rej_id), json!({"note": "waived"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = rep2
        .post(&appeal(k2_penalty), json!({"note": "not decided yet"}))
        .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "a proposed penalty cannot be appealed"
    );
    let (s, p) = rep1
        .post(
            &appeal(late_id),
            json!({"note": "The dispatcher sent us elsewhere."}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "appealed");
    assert_eq!(p["appeal_note"], "The dispatcher sent us elsewhere.");
    let (s, _) = rep1.post(&appeal(late_id), json!({"note": "again"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, p) = mgr
        .post(
            &decision(late_id),
            json!({"action": "reduce", "amount": 300, "reason": "appeal partly upheld"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(
        (p["status"].as_str(), p["amount"].as_i64()),
        (Some("confirmed"), Some(300))
    );
    let (s, _) = rep1
        .post(&appeal(late_id), json!({"note": "once more"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "one appeal per penalty");
    let steps: Vec<_> = p["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(steps, ["confirm", "appeal", "reduce"]);

    // The audit log has every decision and the appeal.
    for (action, n) in [
        ("penalty.waive", 1),
        ("penalty.confirm", 1),
        ("penalty.reduce", 2),
        ("penalty.appeal", 1),
    ] {
        let got = server::storage::audit::list(&f.db, 0, 100, Some(action))
            .await
            .unwrap();
        assert_eq!(got.len(), n, "{action}: {got:?}");
    }

    // The statement: K1's confirmed 300 + 50; the cap (1,500) is not reached.
    let st = rep1.ok("/api/v1/penalties/statement").await;
    assert_eq!(st["contractor"], K1);
    assert_eq!(
        (st["confirmed_total"].as_i64(), st["charged_total"].as_i64()),
        (Some(350), Some(350))
    );
    assert_eq!(st["penalties"].as_array().unwrap().len(), 3);
    let (s, _) = rep2
        .get("/api/v1/penalties/statement?contractor=Pars%20Asphalt%20Co.")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let st2 = mgr
        .ok("/api/v1/penalties/statement?contractor=Rival%20Roads")
        .await;
    assert_eq!(
        (st2["confirmed_total"].as_i64(), st2["proposed"].as_i64()),
        (Some(0), Some(2))
    );
    let r = mgr
        .raw("/api/v1/penalties/statement?contractor=Pars%20Asphalt%20Co.&format=csv")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = r.text().await.unwrap();
    assert!(csv.starts_with("id,task_id,cause,"), "{csv}");
    assert!(csv.contains("T-LATE-1,late_completion"), "{csv}");
    assert!(csv.contains("total charged"), "{csv}");
    let (s, _) = mgr
        .get("/api/v1/penalties/statement?contractor=Rival%20Roads&format=pdf")
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = mgr.get("/api/v1/penalties/statement").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a manager names the contractor");
    let (s, _) = mgr.get("/api/v1/penalties?status=forgiven").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // The scorecard shows confirmed penalties beside the measures.
    let sc = mgr.ok("/api/v1/analytics/scorecard?level=contractor").await;
    let k1 = sc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == K1)
        .cloned()
        .unwrap_or_else(|| panic!("{sc}"));
    assert_eq!(
        (k1["penalties"].as_i64(), k1["penalty_amount"].as_i64()),
        (Some(2), Some(350))
    );
    let sc2 = mgr2
        .ok("/api/v1/analytics/scorecard?level=contractor")
        .await;
    assert!(
        sc2["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["penalties"] == 0),
        "another district's manager sees none: {sc2}"
    );
    srv.shutdown().await.unwrap();
}

/// The monthly cap: charged = min(confirmed, cap).
async fn the_cap_limits_a_month(f: &Fixture) {
    seed(&f.db).await;
    for (i, rejected) in [(1, true), (2, true)] {
        late_task(&f.db, &format!("T-CAP-{i}"), "C-K1", rejected).await;
    }
    propose::sweep(&f.db, 0).await.unwrap();
    let srv = tarmim_testing::start(f.db.clone(), f.config.clone()).await;
    let mgr = Api::login(srv.addr, "mgr-d01", PASSWORD).await;
    for p in rows(&mgr.ok("/api/v1/penalties?status=proposed").await) {
        let (s, b) = mgr
            .post(
                &decision(&p["id"]),
                json!({"action": "confirm", "reason": "ok"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let st = mgr
        .ok("/api/v1/penalties/statement?contractor=Pars%20Asphalt%20Co.")
        .await;
    // Two tasks × (200 + 400 + 1,000) = 3,200, capped at 1,500.
    assert_eq!(
        (st["confirmed_total"].as_i64(), st["charged_total"].as_i64()),
        (Some(3_200), Some(1_500)),
        "{st}"
    );
    srv.shutdown().await.unwrap();
}

/// SLA terms: refused when absurd; a priority's override, else the service's, sets a
/// new task's due times.
async fn sla_terms(f: &Fixture) {
    seed(&f.db).await;
    tarmim_testing::add_crew(&f.db, "C-A", "D01", &["pothole"]).await;
    for (ack, done) in [
        (Some(-5), Some(60)),
        (Some(0), Some(60)),
        (Some(30), Some(600_000)),
        (Some(120), Some(60)),
    ] {
        let e = sla::set(&f.db, "pothole", None, ack, done)
            .await
            .unwrap_err();
        assert!(
            matches!(e, PenaltyError::Invalid(_)),
            "{ack:?} {done:?}: {e}"
        );
    }
    let e = sla::set(&f.db, "no-such-service", None, Some(5), None)
        .await
        .unwrap_err();
    assert!(matches!(e, PenaltyError::Invalid(_)), "{e}");
    sla::set(&f.db, "pothole", None, Some(45), Some(600))
        .await
        .unwrap();
    sla::set(&f.db, "pothole", Some(Priority::Urgent), Some(7), Some(90))
        .await
        .unwrap();
    let srv = tarmim_testing::start(f.db.clone(), f.config.clone()).await;
    let disp = Api::login(srv.addr, "disp-d01", PASSWORD).await;
    for (priority, ack, done) in [("urgent", 7, 90), ("normal", 45, 600)] {
        let (s, t) = disp
            .post(
                "/api/v1/console/tasks",
                json!({"category": "pothole", "title": "SLA", "lat": POINT.0, "lon": POINT.1, "priority": priority}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
        let task = &t["task"];
        let created = task["created_at"].as_i64().unwrap();
        assert_eq!(
            task["sla"]["ack_due"].as_i64().unwrap() - created,
            ack * MIN,
            "{priority}"
        );
        assert_eq!(
            task["sla"]["complete_due"].as_i64().unwrap() - created,
            done * MIN,
            "{priority}"
        );
    }
    srv.shutdown().await.unwrap();
}

/// A representative names a contractor, and only a representative does.
async fn representatives_are_checked(f: &Fixture) {
    tarmim_testing::demo_map(&f.db).await;
    let user = |role, contractor: Option<&str>| NewUser {
        id: "u-x".into(),
        login: "x".into(),
        password_hash: "h".into(),
        role,
        crew: None,
        districts: vec![],
        contractor: contractor.map(str::to_owned),
    };
    for u in [
        user(UserRole::Contractor, None),
        user(UserRole::Manager, Some(K1)),
        user(UserRole::Contractor, Some("  ")),
    ] {
        let e = f.db.create_user(&u).await.unwrap_err();
        assert!(
            matches!(e, server::storage::DbError::Invalid(_)),
            "{u:?}: {e}"
        );
    }
    let hash = hash_password(PASSWORD).unwrap();
    f.db.create_user(&NewUser {
        password_hash: hash,
        ..user(UserRole::Contractor, Some(K1))
    })
    .await
    .unwrap();
    let srv = tarmim_testing::start(f.db.clone(), f.config.clone()).await;
    let rep = Api::login(srv.addr, "x", PASSWORD).await;
    let me = rep.ok("/api/v1/me").await;
    assert_eq!(
        (me["role"].as_str(), me["contractor"].as_str()),
        (Some("contractor"), Some(K1))
    );
    assert_eq!(me["scopes"], json!([]), "a representative syncs nothing");
    srv.shutdown().await.unwrap();
}

/// The command line: SLA terms (an absurd one refused), a schedule, a representative,
/// the sweep; admin changes recorded in the audit log.
async fn the_command_line(f: &Fixture) {
    tarmim_testing::demo_map(&f.db).await;
    let bin = env!("CARGO_BIN_EXE_tarmim-server");
    let run = |args: &[&str], stdin: Option<&str>| tarmim_testing::cli(bin, f, args, stdin, &[]);
    let out = run(
        &[
            "service",
            "sla",
            "--service",
            "pothole",
            "--ack-minutes",
            "-5",
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 to 525600"),
        "{out:?}"
    );
    let out = run(
        &[
            "service",
            "sla",
            "--service",
            "pothole",
            "--priority",
            "urgent",
            "--ack-minutes",
            "15",
            "--complete-minutes",
            "240",
        ],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    let out = run(
        &[
            "contractor",
            "terms",
            "--contractor",
            K1,
            "--per-late-hour",
            "-1",
        ],
        None,
    );
    assert!(!out.status.success(), "{out:?}");
    let out = run(
        &[
            "contractor",
            "terms",
            "--contractor",
            K1,
            "--per-late-hour",
            "100",
            "--per-rejection",
            "1000",
            "--cap-per-month",
            "5000",
        ],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    let out = run(
        &[
            "user",
            "add",
            "--login",
            "rep",
            "--password-stdin",
            "--role",
            "contractor",
        ],
        Some("long-enough-pw\n"),
    );
    assert!(
        !out.status.success(),
        "a representative needs --contractor: {out:?}"
    );
    let out = run(
        &[
            "user",
            "add",
            "--login",
            "rep",
            "--password-stdin",
            "--role",
            "contractor",
            "--contractor",
            K1,
        ],
        Some("long-enough-pw\n"),
    );
    assert!(out.status.success(), "{out:?}");
    let out = run(&["penalties", "sweep"], None);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0 proposed"),
        "{out:?}"
    );
    let sla = server::storage::audit::list(&f.db, 0, 10, Some("admin.service_sla"))
        .await
        .unwrap();
    assert_eq!(sla.len(), 1, "only the accepted change: {sla:?}");
    let terms = server::storage::audit::list(&f.db, 0, 10, Some("admin.contractor_terms"))
        .await
        .unwrap();
    assert_eq!(terms.len(), 1);
    assert_eq!(
        server::storage::penalties::sla_terms(&f.db, "pothole", "urgent")
            .await
            .unwrap(),
        (Some(15), Some(240))
    );
}

on_both_backends!(
    proposals_decisions_and_appeals,
    the_cap_limits_a_month,
    sla_terms,
    representatives_are_checked,
    the_command_line,
);

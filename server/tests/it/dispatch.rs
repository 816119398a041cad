//! Dispatch end to end, on both backends: crews' duty and positions, the documented
//! scoring (own district, neighbour, nobody), dispatcher overrides, escalation timers
//! across a restart, and two replicas on one PostgreSQL assigning and escalating once.
//! The real server on a loopback port; waits are bounded liveness waits.

use reqwest::StatusCode;
use serde_json::{Value, json};
use server::base::config::Config;
use server::domain::identity::{UserRole, hash_password};
use server::http::RunningServer;
use server::storage::{Crew, Db, DistrictStore, IdentityStore, NewUser};
use std::net::SocketAddr;
use std::time::Duration;
use tarmim_testing::Fixture;
use tarmim_testing::on_both_backends;
use tokio::time::Instant;

const PASSWORD: &str = "pass-word-1";
const WAIT: Duration = Duration::from_secs(20);

// ------------------------------------------------------------------ the test city

/// Centre of a demo district cell (D01..D11; rows of 4 from the north-west).
fn centre(d: usize) -> (f64, f64) {
    let row = (d - 1) / 4;
    let col = (d - 1) % 4;
    let lat = 35.735 - 0.03 * row as f64 - 0.015;
    let lon = 51.32 + 0.035 * col as f64 + 0.0175;
    (lat, lon)
}

/// The demo districts and services, and these crews (id, district, skills, on duty).
async fn seed_city(db: &Db, crews: &[(&str, &str, &[&str], bool)]) {
    tarmim_testing::demo_map(db).await;
    for (id, district, skills, on_duty) in crews {
        db.upsert_crew(&Crew {
            id: (*id).into(),
            name: format!("Crew {id}"),
            district: (*district).into(),
            skills: skills.iter().map(|s| (*s).to_owned()).collect(),
            contractor: None,
            on_duty: *on_duty,
        })
        .await
        .unwrap();
        db.create_user(&NewUser {
            contractor: None,
            id: format!("u-{id}"),
            login: id.to_lowercase(),
            password_hash: hash_password(PASSWORD).unwrap(),
            role: UserRole::Crew,
            crew: Some((*id).into()),
            districts: vec![],
        })
        .await
        .unwrap();
    }
    db.create_user(&NewUser {
        contractor: None,
        id: "u-disp".into(),
        login: "disp".into(),
        password_hash: hash_password(PASSWORD).unwrap(),
        role: UserRole::Dispatcher,
        crew: None,
        districts: (1..=12).map(|d| format!("D{d:02}")).collect(),
    })
    .await
    .unwrap();
    db.create_user(&NewUser {
        contractor: None,
        id: "u-disp-d01".into(),
        login: "disp-d01".into(),
        password_hash: hash_password(PASSWORD).unwrap(),
        role: UserRole::Dispatcher,
        crew: None,
        districts: vec!["D01".into()],
    })
    .await
    .unwrap();
    db.create_user(&NewUser {
        contractor: None,
        id: "u-cc".into(),
        login: "cc".into(),
        password_hash: hash_password(PASSWORD).unwrap(),
        role: UserRole::CallCentre,
        crew: None,
        districts: vec![],
    })
    .await
    .unwrap();
}

/// Clears a service's acknowledgement term (keeping its completion term), so the
/// dispatch settings' window (`TARMIM_DISPATCH_ACK_SECS_*`, seconds) applies: the
/// service's SLA, in whole minutes, comes first (`assign::ack_window_ms`).
async fn without_ack_term(db: &Db, service: &str) {
    let complete = server::demo::demo_services()
        .into_iter()
        .find(|s| s.code == service)
        .and_then(|s| s.complete_minutes);
    server::storage::penalties::set_sla(db, service, None, None, complete)
        .await
        .unwrap();
}

fn test_config(f: &Fixture) -> Config {
    Config {
        position_min_interval_ms: 0,
        dispatch_tick_ms: 100,
        ..f.config.clone()
    }
}

async fn start(db: Db, config: Config) -> RunningServer {
    tarmim_testing::start(db, config).await
}

type Client = tarmim_testing::Api;

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

fn now_ms() -> i64 {
    server::base::time::now_millis()
}

/// Reports a crew's position; returns the status and flags.
async fn report(c: &Client, lat: f64, lon: f64, at: i64) -> (StatusCode, Vec<String>) {
    let (s, body) = c
        .post(
            "/api/v1/me/position",
            json!({"lat": lat, "lon": lon, "at": rfc3339(at), "accuracy_m": 8.0}),
        )
        .await;
    let flags = body["flags"]
        .as_array()
        .map(|a| a.iter().map(|f| f.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    (s, flags)
}

// ------------------------------------------------------------------ duty and positions

async fn duty_and_positions(f: &Fixture) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("error")
        .try_init();
    seed_city(&f.db, &[("C-A", "D01", &["pothole"], false)]).await;
    let mut config = test_config(f);
    config.position_min_interval_ms = 60_000;
    let srv = start(f.db.clone(), config).await;
    let crew = Client::login(srv.addr, "c-a", PASSWORD).await;
    let disp = Client::login(srv.addr, "disp", PASSWORD).await;

    // Duty: crew only.
    let (s, _) = crew.put("/api/v1/me/duty", json!({"on_duty": true})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(f.db.crew("C-A").await.unwrap().unwrap().on_duty);
    let (s, b) = disp.put("/api/v1/me/duty", json!({"on_duty": true})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let (s, _) = crew.put("/api/v1/me/duty", json!({"on_duty": "yes"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = crew.put("/api/v1/me/duty", json!({"on_duty": false})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(!f.db.crew("C-A").await.unwrap().unwrap().on_duty);

    // Impossible coordinates and bad times: 400, nothing stored, no rate-limit slot used.
    for (lat, lon) in [(91.0, 51.0), (35.7, 181.0), (-90.5, 0.0)] {
        let (s, _) = report(&crew, lat, lon, now_ms()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{lat},{lon}");
    }
    let (s, b) = crew
        .post(
            "/api/v1/me/position",
            json!({"lat": 35.7, "lon": 51.3, "at": "yesterday"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, _) = disp
        .post(
            "/api/v1/me/position",
            json!({"lat": 35.7, "lon": 51.3, "at": rfc3339(now_ms())}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // A plausible report, then the rate limit.
    let t0 = now_ms();
    let (lat, lon) = centre(1);
    let (s, flags) = report(&crew, lat, lon, t0).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert!(flags.is_empty(), "{flags:?}");
    let r = crew
        .http
        .post(format!("{}/api/v1/me/position", crew.base))
        .bearer_auth(crew.token.as_deref().unwrap_or_default())
        .json(&json!({"lat": lat, "lon": lon, "at": rfc3339(t0 + 1000)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    srv.shutdown().await.unwrap();

    // Without the limit: an impossible jump (30 km in 10 s) is kept but flagged, and the
    // crew's plausible position stays where it was.
    let db = server::domain::open_store(&f.config).await.unwrap();
    let srv = start(db.clone(), test_config(f)).await;
    let crew = Client::login(srv.addr, "c-a", PASSWORD).await;
    let disp = Client::login(srv.addr, "disp", PASSWORD).await;
    let (s, flags) = report(&crew, lat - 0.27, lon, t0 + 10_000).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(flags, ["impossible_jump"]);
    let (s, flags) = report(&crew, lat, lon, t0 + 3_600_000 * 2).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(flags, ["future_time"]);
    let plausible = server::storage::dispatch::last_plausible_position(&db, "C-A")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((plausible.lat, plausible.lon, plausible.at), (lat, lon, t0));
    // The console sees the latest report, flags and all.
    let (s, crews) = disp.get("/api/v1/crews").await;
    assert_eq!(s, StatusCode::OK);
    let a = crews
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "C-A")
        .unwrap();
    assert_eq!(a["position"]["flags"], json!(["future_time"]));
    let (s, _) = crew.get("/api/v1/crews").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    srv.shutdown().await.unwrap();
}

// ------------------------------------------------------------------ scoring

/// The documented score: great-circle km (or 25 for no position) + 3 km per open job.
fn expected_score(task: (f64, f64), pos: Option<(f64, f64)>, load: u32) -> f64 {
    let d = pos.map_or(25.0, |p| {
        let r = 6_371_008.8_f64;
        let (la1, lo1, la2, lo2) = (
            p.0.to_radians(),
            p.1.to_radians(),
            task.0.to_radians(),
            task.1.to_radians(),
        );
        let h = ((la2 - la1) / 2.0).sin().powi(2)
            + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
        2.0 * r * h.sqrt().asin() / 1000.0
    });
    d + 3.0 * f64::from(load)
}

/// The crew the documented rule picks among (id, position, load).
/// A candidate as the test sees it: crew id, position, open jobs.
type Cand<'a> = (&'a str, Option<(f64, f64)>, u32);

fn expected_crew(task: (f64, f64), cands: &[Cand<'_>]) -> String {
    cands
        .iter()
        .map(|(id, p, l)| (expected_score(task, *p, *l), *l, *id))
        .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(b.2)))
        .unwrap()
        .2
        .to_owned()
}

async fn file(c: &Client, category: &str, at: (f64, f64), priority: &str) -> (StatusCode, Value) {
    c.post(
        "/api/v1/console/tasks",
        json!({"category": category, "title": format!("{category} test"), "lat": at.0, "lon": at.1, "priority": priority}),
    )
    .await
}

fn assigned_events(task: &Value) -> Vec<(String, String)> {
    task["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["kind"]["kind"] == "assigned")
        .map(|e| {
            (
                e["event"]["kind"]["crew"].as_str().unwrap().to_owned(),
                e["event"]["kind"]["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn count_kind(task: &Value, kind: &str) -> usize {
    task["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["kind"]["kind"] == kind)
        .count()
}

async fn scoring_chooses_per_documented_rule(f: &Fixture) {
    seed_city(
        &f.db,
        &[
            ("C-A", "D01", &["water_leak", "pothole"], true),
            ("C-B", "D01", &["water_leak"], true),
            ("C-N", "D01", &["pothole"], true), // on duty, no skill
            ("C-OFF", "D06", &["water_leak"], false), // has the skill, off duty
            ("C-F", "D06", &["pothole"], true), // D06's only on-duty crew: no skill
            ("C-E", "D05", &["water_leak"], true), // neighbour of D06
            ("C-Q", "D09", &["tree"], true),
        ],
    )
    .await;
    let srv = start(f.db.clone(), test_config(f)).await;
    let cc = Client::login(srv.addr, "cc", PASSWORD).await;
    let disp = Client::login(srv.addr, "disp", PASSWORD).await;
    let t0 = now_ms() - 60_000;
    let (c1lat, c1lon) = centre(1);
    // C-A 1 km north of D01's centre, C-B 0.5 km south; C-B's later report is an
    // impossible jump (flagged, so it must not count).
    let a_pos = (c1lat + 0.009, c1lon);
    let b_pos = (c1lat - 0.0045, c1lon);
    let e_pos = centre(5);
    let off_pos = centre(6);
    for (login, pos) in [
        ("c-a", a_pos),
        ("c-b", b_pos),
        ("c-e", e_pos),
        ("c-off", off_pos),
    ] {
        let c = Client::login(srv.addr, login, PASSWORD).await;
        let (s, flags) = report(&c, pos.0, pos.1, t0).await;
        assert_eq!(s, StatusCode::ACCEPTED);
        assert!(flags.is_empty());
    }
    let b = Client::login(srv.addr, "c-b", PASSWORD).await;
    let (_, flags) = report(&b, c1lat + 0.5, c1lon, t0 + 1000).await;
    assert_eq!(flags, ["impossible_jump"]);

    // 1. At D01's centre: C-B (0.5 km) beats C-A (1 km); nobody has load yet.
    let p1 = (c1lat, c1lon);
    let (s, r) = file(&cc, "water_leak", p1, "urgent").await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let want = expected_crew(p1, &[("C-A", Some(a_pos), 0), ("C-B", Some(b_pos), 0)]);
    assert_eq!(want, "C-B");
    assert_eq!(r["district"], "D01");
    assert_eq!(r["dispatch"]["outcome"], "assigned");
    assert_eq!(r["dispatch"]["crew"], want.as_str());
    assert_eq!(r["task"]["derived"]["assignee"], want.as_str());
    let ev = assigned_events(&r["task"]);
    assert_eq!(ev.len(), 1);
    // The reason is structured (a code and its parameters), for the pages to word.
    let why: serde_json::Value = serde_json::from_str(&ev[0].1).unwrap();
    assert_eq!(why["code"], "auto.district", "{why}");
    assert_eq!(why["district"], "D01", "{why}");
    assert_eq!(why["skill"], "water_leak", "{why}");
    assert_eq!(why["load"], 0, "{why}");

    // 2. Slightly south of the centre, nearer C-B still, but C-B now has one open job
    //    (+3 km): C-A wins.
    let p2 = (c1lat - 0.001, c1lon);
    let (s, r) = file(&cc, "water_leak", p2, "urgent").await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let want = expected_crew(p2, &[("C-A", Some(a_pos), 0), ("C-B", Some(b_pos), 1)]);
    assert_eq!(want, "C-A");
    assert_eq!(r["dispatch"]["crew"], want.as_str());

    // 3. D06: its on-duty crew lacks the skill and the skilled one is off duty, so the
    //    neighbours' skilled on-duty crews are scored (D01's and D05's touch D06).
    let p3 = centre(6);
    let neighbours = f.db.neighbours("D06").await.unwrap();
    assert!(neighbours.contains(&"D05".to_owned()), "{neighbours:?}");
    let mut cands = vec![("C-E", Some(e_pos), 0)];
    if neighbours.contains(&"D01".to_owned()) {
        cands.push(("C-A", Some(a_pos), 1));
        cands.push(("C-B", Some(b_pos), 1));
    }
    let want = expected_crew(p3, &cands);
    let (s, r) = file(&cc, "water_leak", p3, "urgent").await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["district"], "D06");
    assert_eq!(r["dispatch"]["crew"], want.as_str());
    let ev = assigned_events(&r["task"]);
    let why: serde_json::Value = serde_json::from_str(&ev[0].1).unwrap();
    assert_eq!(why["code"], "auto.neighbour", "{why}");
    assert_eq!(why["district"], "D06", "{why}");
    assert_ne!(why["from"], "D06", "{why}");

    // 4. D04: nobody with the skill there or next door: queued, dispatchers alerted.
    let (s, r) = file(&cc, "water_leak", centre(4), "urgent").await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["district"], "D04");
    assert_eq!(r["dispatch"]["outcome"], "no_crew");
    assert_eq!(r["task"]["derived"]["status"], "queued");
    let d4 = r["task"]["id"].as_str().unwrap().to_owned();
    let (_, alerts) = disp.get("/api/v1/console/alerts").await;
    assert!(
        alerts
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "no_crew" && a["task"] == d4.as_str() && a["district"] == "D04"),
        "{alerts}"
    );

    // 5. A normal task is queued, not assigned (the district's setting is off)...
    let (s, r) = file(&cc, "pothole", centre(1), "normal").await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert!(r["dispatch"].is_null());
    assert_eq!(r["task"]["derived"]["status"], "queued");
    // ...unless the district auto-assigns normal work.
    server::storage::dispatch::set_auto_assign_normal(&f.db, "D01", true)
        .await
        .unwrap();
    let (_, r) = file(&cc, "pothole", centre(1), "normal").await;
    assert_eq!(r["dispatch"]["outcome"], "assigned");
    // Only C-A has pothole among D01's on-duty crews... and C-N: the scoring decides.
    let crew = r["dispatch"]["crew"].as_str().unwrap();
    let want = expected_crew(centre(1), &[("C-A", Some(a_pos), 1), ("C-N", None, 0)]);
    assert_eq!(crew, want);

    // 6. Outside every district: refused with a clear error, nothing stored.
    let before = server::storage::DocStore::count_docs(&f.db).await.unwrap();
    let (s, r) = file(&cc, "water_leak", (36.5, 52.5), "urgent").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    assert_eq!(r["error"], "unprocessable");
    assert!(r["message"].as_str().unwrap().contains("outside"), "{r}");
    // Bad input: unknown service, impossible point, empty title.
    let (s, _) = file(&cc, "no_such_service", centre(1), "urgent").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = file(&cc, "water_leak", (95.0, 51.0), "urgent").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = cc
        .post(
            "/api/v1/console/tasks",
            json!({"category": "water_leak", "title": " ", "lat": 35.7, "lon": 51.33}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        server::storage::DocStore::count_docs(&f.db).await.unwrap(),
        before
    );
    // A crew member cannot file through the console.
    let (s, _) = file(&b, "water_leak", centre(1), "urgent").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    srv.shutdown().await.unwrap();
}

// ------------------------------------------------------------------ overrides

async fn dispatcher_assignment_rules(f: &Fixture) {
    seed_city(
        &f.db,
        &[
            ("C-A", "D01", &["pothole"], true),
            ("C-B", "D01", &["pothole"], true),
            ("C-OFF", "D01", &["pothole"], false),
            ("C-E", "D05", &["pothole"], true),
        ],
    )
    .await;
    let srv = start(f.db.clone(), test_config(f)).await;
    let cc = Client::login(srv.addr, "cc", PASSWORD).await;
    let disp = Client::login(srv.addr, "disp", PASSWORD).await;
    let d01 = Client::login(srv.addr, "disp-d01", PASSWORD).await;
    let (_, r) = file(&cc, "pothole", centre(1), "normal").await;
    let t1 = r["task"]["id"].as_str().unwrap().to_owned();
    let (_, r) = file(&cc, "pothole", centre(5), "normal").await;
    let t5 = r["task"]["id"].as_str().unwrap().to_owned();
    let path = |t: &str, what: &str| format!("/api/v1/console/tasks/{t}/{what}");

    // Plain assignment within the district, on duty.
    let (s, r) = d01
        .post(
            &path(&t1, "assign"),
            json!({"crew": "C-A", "note": "closest"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["derived"]["assignee"], "C-A");
    // Off duty: refused, unchanged.
    let (s, r) = d01
        .post(&path(&t1, "assign"), json!({"crew": "C-OFF"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    assert!(r["message"].as_str().unwrap().contains("off duty"), "{r}");
    // Another district's crew: refused.
    let (s, r) = d01.post(&path(&t1, "assign"), json!({"crew": "C-E"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    assert!(
        r["message"].as_str().unwrap().contains("belongs to D05"),
        "{r}"
    );
    let (_, detail) = d01.get(&format!("/api/v1/console/tasks/{t1}")).await;
    assert_eq!(detail["task"]["derived"]["assignee"], "C-A");
    assert_eq!(assigned_events(&detail["task"]).len(), 1);
    // With an override: done, and the override is in the event.
    let (s, r) = d01
        .post(
            &path(&t1, "assign"),
            json!({"crew": "C-OFF", "override": "called in for this one"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let ev = assigned_events(&r);
    let (crew, why) = ev.last().unwrap();
    assert_eq!(crew, "C-OFF");
    let why: Value = serde_json::from_str(why).unwrap();
    assert_eq!(
        (&why["code"], &why["off_duty"], &why["note"]),
        (
            &json!("dispatcher.override"),
            &json!(true),
            &json!("called in for this one")
        ),
        "{why}"
    );
    // Unknown crew; a blank override is no override.
    let (s, _) = d01
        .post(&path(&t1, "assign"), json!({"crew": "C-ZZZ"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = d01
        .post(
            &path(&t1, "assign"),
            json!({"crew": "C-E", "override": "  "}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // A D05 task is invisible to D01's dispatcher.
    let (s, _) = d01.get(&format!("/api/v1/console/tasks/{t5}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = d01.post(&path(&t5, "assign"), json!({"crew": "C-E"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, list) = d01.get("/api/v1/console/queue").await;
    assert!(
        list["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["district"] == "D01"),
        "{list}"
    );
    // The unpaged list (capped at the 2,000 newest) is gone: the paged queue replaces it.
    let (s, _) = d01.get("/api/v1/console/tasks").await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    // The call centre cannot assign.
    let (s, _) = cc.post(&path(&t5, "assign"), json!({"crew": "C-E"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Priority, note, duplicate, cancel: events with reasons.
    let (s, r) = disp
        .post(
            &path(&t5, "priority"),
            json!({"priority": "urgent", "reason": "school nearby"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["derived"]["priority"], "urgent");
    let (s, _) = disp
        .post(
            &path(&t5, "priority"),
            json!({"priority": "asap", "reason": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, r) = disp
        .post(
            &path(&t5, "notes"),
            json!({"text": "called the citizen back"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["notes"].as_array().unwrap().len(), 1);
    let (s, _) = disp.post(&path(&t5, "duplicate"), json!({"of": t5})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, r) = disp.post(&path(&t5, "duplicate"), json!({"of": t1})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["derived"]["status"], "duplicate");
    let (s, r) = disp.post(&path(&t1, "cancel"), json!({"reason": ""})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{r}");
    let (s, r) = disp
        .post(&path(&t1, "cancel"), json!({"reason": "private property"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["derived"]["status"], "cancelled");
    // Closed: assigning again is a conflict, not a silent change.
    let (s, _) = disp
        .post(&path(&t1, "assign"), json!({"crew": "C-B"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    srv.shutdown().await.unwrap();
}

// ------------------------------------------------------------------ escalation

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn escalation_survives_a_restart(f: &Fixture) {
    seed_city(
        &f.db,
        &[
            ("C-A", "D01", &["water_leak"], true),
            ("C-B", "D01", &["water_leak"], true),
        ],
    )
    .await;
    without_ack_term(&f.db, "water_leak").await;
    // First life: timers are armed but this server never looks again (one tick at start).
    let mut config = test_config(f);
    config.dispatch_ack_secs_urgent = 1;
    config.dispatch_complete_secs = Some(3);
    config.dispatch_tick_ms = 3_600_000;
    let srv = start(f.db.clone(), config.clone()).await;
    let cc = Client::login(srv.addr, "cc", PASSWORD).await;
    let a = Client::login(srv.addr, "c-a", PASSWORD).await;
    let (c1lat, c1lon) = centre(1);
    report(&a, c1lat, c1lon, now_ms()).await;
    let (_, r) = file(&cc, "water_leak", (c1lat, c1lon), "urgent").await;
    assert_eq!(r["dispatch"]["crew"], "C-A", "{r}");
    let task = r["task"]["id"].as_str().unwrap().to_owned();
    srv.shutdown().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;

    // Second life: the overdue ack timer fires; C-A never acknowledged, so C-B gets it.
    let db = server::domain::open_store(&f.config).await.unwrap();
    config.dispatch_tick_ms = 100;
    let srv = start(db.clone(), config).await;
    let disp = Client::login(srv.addr, "disp", PASSWORD).await;
    let url = format!("/api/v1/console/tasks/{task}");
    wait_for("escalation to C-B", async || {
        disp.get(&url).await.1["task"]["derived"]["assignee"] == "C-B"
    })
    .await;
    // C-B does not acknowledge either: escalated again, nobody left, stays with C-B; the
    // job is also late (completion deadline 3 s).
    wait_for("second escalation and lateness", async || {
        let d = disp.get(&url).await.1;
        count_kind(&d["task"], "escalated") == 3
    })
    .await;
    let (_, d) = disp.get(&url).await;
    let t = &d["task"];
    assert_eq!(t["derived"]["assignee"], "C-B");
    assert_eq!(t["derived"]["escalated"], true);
    let ev = assigned_events(t);
    assert_eq!(ev.len(), 2, "{ev:?}");
    let why: serde_json::Value = serde_json::from_str(&ev[1].1).unwrap();
    assert_eq!(
        (&why["code"], &why["crew"], &why["secs"]),
        (&json!("escalation.reassigned"), &json!("C-A"), &json!(1)),
        "{why}"
    );
    assert_eq!(why["then"]["code"], "auto.district", "{why}");
    let kinds: Vec<&str> = d["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "escalated").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "late").count(),
        1,
        "{kinds:?}"
    );
    assert!(d["alerts"].as_array().unwrap().iter().any(|a| {
        a["message"]
            .as_str()
            .unwrap()
            .contains("no other crew available")
    }));
    // Nothing left to run.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, d) = disp.get(&url).await;
    assert_eq!(count_kind(&d["task"], "escalated"), 3);
    assert!(
        d["timers"].as_array().unwrap().is_empty(),
        "{}",
        d["timers"]
    );

    // An acknowledged job is not escalated.
    let (_, r) = file(
        &cc_again(srv.addr).await,
        "water_leak",
        (c1lat, c1lon),
        "urgent",
    )
    .await;
    let t2 = r["task"]["id"].as_str().unwrap().to_owned();
    let crew = r["dispatch"]["crew"].as_str().unwrap().to_owned();
    acknowledge(&db, &t2, &crew).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, d) = disp.get(&format!("/api/v1/console/tasks/{t2}")).await;
    assert_eq!(d["task"]["derived"]["assignee"], crew.as_str());
    assert_eq!(d["task"]["derived"]["status"], "acknowledged");
    assert_eq!(assigned_events(&d["task"]).len(), 1);
    srv.shutdown().await.unwrap();
}

async fn cc_again(addr: SocketAddr) -> Client {
    Client::login(addr, "cc", PASSWORD).await
}

/// The crew acknowledges, as its phone would (an event by a crew actor, committed).
async fn acknowledge(db: &Db, task: &str, crew: &str) {
    use sync_core::session::{DocCommit, ScopePolicy, ServerStore, TaskScopes};
    use sync_core::task::{EventKind, TaskDoc};
    let id = sync_core::DocId::new(task).unwrap();
    let stored = db.load(&id).await.unwrap().unwrap();
    let mut doc = TaskDoc::load(&stored.bytes).unwrap();
    let heads = doc.heads();
    let actor = sync_core::Actor {
        user: format!("u-{crew}"),
        role: sync_core::Role::Crew,
        crew: Some(crew.to_owned()),
        device: sync_core::DeviceId::new(format!("dev-{}", crew.to_lowercase())).unwrap(),
    };
    doc.append_event(&actor, now_ms(), EventKind::Acknowledged)
        .unwrap();
    let changes = doc
        .automerge()
        .get_changes(&heads)
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    let view = doc.view().unwrap();
    db.commit(DocCommit {
        doc: id,
        base_seq: Some(stored.seq),
        changes,
        snapshot: doc.save(),
        scopes: TaskScopes.scopes_of(&view),
        view,
        origin: actor.device.clone(),
    })
    .await
    .unwrap();
}

/// A crew's field report arrives through sync, not through the console: the server routes
/// it by its point (overriding the phone's guess of the district), dispatches it like any
/// urgent report, and the reporting crew's push is accepted under the default scopes.
async fn field_report_from_a_phone_is_routed_and_dispatched(f: &Fixture) {
    use server::domain::sync::{decode_frames, encode_frames};
    use sync_core::session::device::{Device, DeviceEvent};
    use sync_core::store::Store;
    use sync_core::task::{DEFAULT_REOPEN_WINDOW_MS, GeoPoint, NewTask, Priority, Sla, Source};
    seed_city(
        &f.db,
        &[
            ("C-A", "D01", &["pothole"], true),
            ("C-R", "D02", &["pothole"], true),
        ],
    )
    .await;
    let srv = start(f.db.clone(), test_config(f)).await;
    let addr = srv.addr;
    let http = tarmim_testing::http();
    let login: Value = http
        .post(format!("http://{addr}/api/v1/login"))
        .json(&json!({"login": "c-r", "password": PASSWORD, "device_id": "phone-c-r"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap().to_owned();
    let actor = sync_core::Actor {
        user: login["me"]["user_id"].as_str().unwrap().to_owned(),
        role: sync_core::Role::Crew,
        crew: Some("C-R".into()),
        device: sync_core::DeviceId::new("phone-c-r").unwrap(),
    };
    let mut phone = Device::new(Store::open_in_memory().unwrap(), actor);
    let (lat, lon) = centre(1);
    let task = phone
        .create(
            NewTask {
                id: sync_core::DocId::new("T-FIELD-1").unwrap(),
                source: Source::Crew,
                category: "pothole".into(),
                title: "Deep pothole by the bus stop".into(),
                description: String::new(),
                point: GeoPoint {
                    lat,
                    lon,
                    accuracy_m: Some(5.0),
                },
                address: None,
                // The phone guesses its own crew's district; the point is in D01.
                district: Some("D02".into()),
                priority: Priority::Urgent,
                sla: Sla::default(),
                reopen_window_ms: DEFAULT_REOPEN_WINDOW_MS,
            },
            now_ms(),
        )
        .unwrap();
    let r = http
        .post(format!("http://{addr}/api/v1/sync/exchange"))
        .bearer_auth(&token)
        .header("content-type", server::domain::sync::FRAMES_MEDIA_TYPE)
        .body(encode_frames(&phone.connect().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.bytes().await.unwrap();
    let mut events = Vec::new();
    for frame in decode_frames(&body).unwrap() {
        events.extend(phone.on_frame(frame).unwrap().events);
    }
    assert!(
        events.contains(&DeviceEvent::Acknowledged(task.clone())),
        "the field report was not accepted: {events:?}"
    );
    let disp = Client::login(addr, "disp", PASSWORD).await;
    let url = format!("/api/v1/console/tasks/{task}");
    wait_for("the field report to be routed and assigned", async || {
        let d = disp.get(&url).await.1;
        d["task"]["derived"]["district"] == "D01" && d["task"]["derived"]["assignee"] == "C-A"
    })
    .await;
    let (_, d) = disp.get(&url).await;
    assert_eq!(count_kind(&d["task"], "routed"), 1, "{d}");
    let ev = assigned_events(&d["task"]);
    assert_eq!(ev.len(), 1, "{d}");
    let why: serde_json::Value = serde_json::from_str(&ev[0].1).unwrap();
    assert_eq!(
        (&why["code"], &why["district"]),
        (&json!("auto.district"), &json!("D01")),
        "{why}"
    );
}

/// The acknowledgement deadline comes from the service's SLA at the task's priority, not
/// from the server-wide window: water_leak's urgent term of one minute escalates an
/// unacknowledged job after a minute although `TARMIM_DISPATCH_ACK_SECS_URGENT` says an
/// hour; the armed timer and the escalation's words both carry the service's term.
async fn escalation_follows_the_services_sla(f: &Fixture) {
    seed_city(
        &f.db,
        &[
            ("C-A", "D01", &["water_leak"], true),
            ("C-B", "D01", &["water_leak"], true),
        ],
    )
    .await;
    server::domain::penalties::sla::set(
        &f.db,
        "water_leak",
        Some(sync_core::task::Priority::Urgent),
        Some(1),
        None,
    )
    .await
    .unwrap();
    let mut config = test_config(f);
    config.dispatch_ack_secs_urgent = 3600;
    config.dispatch_ack_secs_other = 3600;
    let srv = start(f.db.clone(), config).await;
    let cc = Client::login(srv.addr, "cc", PASSWORD).await;
    let disp = Client::login(srv.addr, "disp", PASSWORD).await;
    let (lat, lon) = centre(1);
    let before = now_ms();
    let (s, r) = file(&cc, "water_leak", (lat, lon), "urgent").await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let first = r["dispatch"]["crew"].as_str().unwrap().to_owned();
    let task = r["task"]["id"].as_str().unwrap().to_owned();
    let url = format!("/api/v1/console/tasks/{task}");
    let (_, d) = disp.get(&url).await;
    let due = d["timers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t[0] == "ack")
        .and_then(|t| t[1].as_i64())
        .unwrap_or_else(|| panic!("no ack timer: {d}"));
    assert!(
        (60_000..=70_000).contains(&(due - before)),
        "ack timer due {due} for a task filed at {before}: {d}"
    );
    // A real minute: the escalation loop fires the service's term.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let d = disp.get(&url).await.1;
        if count_kind(&d["task"], "escalated") >= 1 {
            let ev = assigned_events(&d["task"]);
            assert!(ev.len() >= 2, "{ev:?}");
            let why: serde_json::Value = serde_json::from_str(&ev[1].1).unwrap();
            assert_eq!(
                (&why["code"], &why["crew"], &why["secs"]),
                (&json!("escalation.reassigned"), &json!(first), &json!(60)),
                "{why}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no escalation after 90 s: {d}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    srv.shutdown().await.unwrap();
}

on_both_backends!(
    escalation_follows_the_services_sla,
    duty_and_positions,
    field_report_from_a_phone_is_routed_and_dispatched,
    scoring_chooses_per_documented_rule,
    dispatcher_assignment_rules,
    escalation_survives_a_restart,
);

// ------------------------------------------------------------------ two replicas

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Starts the real `tarmim-server` binary on `url` with one-second acknowledgement
/// windows and a fast timer loop.
async fn spawn_replica(f: &Fixture, url: &str) -> (Child, SocketAddr) {
    let addr = free_addr();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tarmim-server"));
    cmd.env_clear()
        .env("TARMIM_DATA_DIR", &f.config.data_dir)
        .env("DATABASE_URL", url)
        .env("TARMIM_LISTEN", addr.to_string())
        .env("TARMIM_DEMO", "false")
        .env("TARMIM_DISPATCH_ACK_SECS_URGENT", "1")
        .env("TARMIM_DISPATCH_ACK_SECS_OTHER", "1")
        .env("TARMIM_DISPATCH_TICK_MS", "20")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let child = Child(cmd.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = tarmim_testing::http()
            .get(format!("http://{addr}/readyz"))
            .send()
            .await
            && r.status() == StatusCode::OK
        {
            return (child, addr);
        }
        assert!(Instant::now() < deadline, "the server binary did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two `tarmim-server` processes on one PostgreSQL database: the same tasks auto-assigned
/// through both at the same moment are assigned once; their escalation timers, raced by
/// both replicas' loops, each run once (one `Escalated` per crew that had the task, one
/// alert per escalation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_assign_and_escalate_once() {
    let f = Fixture::postgres().await;
    seed_city(
        &f.db,
        &[
            ("C-A", "D01", &["pothole"], true),
            ("C-B", "D01", &["pothole"], true),
            ("C-C", "D01", &["pothole"], true),
        ],
    )
    .await;
    without_ack_term(&f.db, "pothole").await;
    let url = f.config.database_url.clone().unwrap();
    let (_r1, a1) = spawn_replica(&f, &url).await;
    let (_r2, a2) = spawn_replica(&f, &url).await;
    let cc = Client::login(a1, "cc", PASSWORD).await;
    let d1 = Client::login(a1, "disp", PASSWORD).await;
    let d2 = Client::login(a2, "disp", PASSWORD).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (lat, lon) = centre(1);
        let (s, r) = file(&cc, "pothole", (lat + 0.001 * f64::from(i), lon), "normal").await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        assert_eq!(r["task"]["derived"]["status"], "queued");
        tasks.push(r["task"]["id"].as_str().unwrap().to_owned());
    }
    for t in &tasks {
        let path = format!("/api/v1/console/tasks/{t}/auto-assign");
        let ((s1, o1), (s2, o2)) =
            tokio::join!(d1.post(&path, json!({})), d2.post(&path, json!({})));
        assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK), "{o1} {o2}");
        let outcomes = [
            o1["outcome"].as_str().unwrap(),
            o2["outcome"].as_str().unwrap(),
        ];
        assert_eq!(
            outcomes.iter().filter(|o| **o == "assigned").count(),
            1,
            "{o1} {o2}"
        );
        assert!(outcomes.contains(&"already_assigned"), "{o1} {o2}");
    }
    // Each task goes A→B→C (in some order) and then has nobody left: three escalations.
    for t in &tasks {
        let url = format!("/api/v1/console/tasks/{t}");
        wait_for("the escalation chain to end", async || {
            let d = d2.get(&url).await.1;
            count_kind(&d["task"], "escalated") >= 3
        })
        .await;
    }
    // Let both loops run a while longer: nothing may run twice.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for t in &tasks {
        let (_, d) = d1.get(&format!("/api/v1/console/tasks/{t}")).await;
        let task = &d["task"];
        let assigned = assigned_events(task);
        let crews: std::collections::BTreeSet<&str> =
            assigned.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(assigned.len(), 3, "{t}: {assigned:?}");
        assert_eq!(
            crews.len(),
            3,
            "{t}: a crew was assigned twice: {assigned:?}"
        );
        let escalations: Vec<&str> = task["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event"]["kind"]["kind"] == "escalated")
            .map(|e| e["event"]["kind"]["reason"].as_str().unwrap())
            .collect();
        assert_eq!(escalations.len(), 3, "{t}: {escalations:?}");
        let distinct: std::collections::BTreeSet<&&str> = escalations.iter().collect();
        assert_eq!(
            distinct.len(),
            3,
            "{t}: an escalation ran twice: {escalations:?}"
        );
        let alerts = d["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["kind"] == "escalated")
            .count();
        assert_eq!(alerts, 3, "{t}: {}", d["alerts"]);
        // No superseded events: nothing was appended against a stale state.
        assert!(
            task["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["outcome"]["outcome"] == "applied"),
            "{t}: {}",
            task["timeline"]
        );
    }
    drop(_r1);
    drop(_r2);
    f.close().await;
}

//! Analytics end to end, on both backends: a small city whose task documents are built
//! with controlled event times and committed through the store's real commit path (which
//! writes the facts), then every measure read over HTTP and checked against numbers
//! computed by hand below. Edge cases: a reopened task, a task reassigned between
//! contractors, tasks without ratings or before photos, a cancelled task, local-day
//! boundaries in Asia/Tehran (23:50 vs 00:10), Europe/Berlin across the spring DST
//! switch; CSV = JSON; scoping; 400s for bad parameters.

use reqwest::StatusCode;
use serde_json::{Value, json};
use server::base::config::Config;
use server::domain::identity::{UserRole, hash_password};
use server::http::RunningServer;
use server::storage::{Crew, Db, IdentityStore, NewUser};
use sync_core::session::{DocCommit, ScopePolicy, ServerStore, TaskScopes};
use sync_core::task::{
    EventKind, GeoPoint, NewTask, PhotoKind, PhotoRef, Priority, Sla, Source, TaskDoc,
};
use sync_core::{Actor, DeviceId, DocId, Role};
use tarmim_testing::Fixture;
use tarmim_testing::on_both_backends;

const PASSWORD: &str = "pass-word-1";
const MIN: i64 = 60_000;

/// Milliseconds of a local wall-clock time (`2026-03-10T23:50`) in `zone`.
fn local(zone: &str, s: &str) -> i64 {
    let dt: jiff::civil::DateTime = s.parse().unwrap();
    dt.to_zoned(jiff::tz::TimeZone::get(zone).unwrap())
        .unwrap()
        .timestamp()
        .as_millisecond()
}

fn dev(s: &str) -> DeviceId {
    DeviceId::new(s).unwrap()
}

fn server_actor() -> Actor {
    Actor::server(dev("server-test"))
}

fn dispatcher() -> Actor {
    Actor {
        user: "u-disp".into(),
        role: Role::Dispatcher,
        crew: None,
        device: dev("console-disp"),
    }
}

fn crew(id: &str) -> Actor {
    Actor {
        user: format!("u-{id}"),
        role: Role::Crew,
        crew: Some(id.into()),
        device: dev(&format!("phone-{id}")),
    }
}

fn citizen() -> Actor {
    Actor {
        user: "citizen-1".into(),
        role: Role::Citizen,
        crew: None,
        device: dev("web-tracking"),
    }
}

fn hash(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

fn photo(task: &str, kind: PhotoKind, who: &Actor, at: i64, n: u8) -> PhotoRef {
    PhotoRef {
        hash: hash(&format!("{task}/{kind:?}/{n}")),
        kind,
        taken_at: Some(at),
        taken_point: None,
        author: who.user.clone(),
        device: who.device.to_string(),
        bytes: 1000,
        mime: "image/jpeg".into(),
        added_at: at,
    }
}

/// A task's story: the document, built event by event.
struct Story {
    doc: TaskDoc,
    id: String,
    t0: i64,
}

impl Story {
    /// Creates and routes a task `created` at that instant; SLA due after the minutes given.
    fn new(id: &str, district: &str, priority: Priority, created: i64, sla: (i64, i64)) -> Story {
        let new = NewTask {
            id: DocId::new(id).unwrap(),
            source: Source::Citizen,
            category: "pothole".into(),
            title: format!("Pothole {id}"),
            description: String::new(),
            point: GeoPoint {
                lat: 35.72,
                lon: 51.34,
                accuracy_m: None,
            },
            address: None,
            district: None,
            priority,
            sla: Sla {
                ack_due: Some(created + sla.0 * MIN),
                complete_due: Some(created + sla.1 * MIN),
            },
            reopen_window_ms: 7 * 24 * 60 * MIN,
        };
        let mut doc = TaskDoc::create(new, &server_actor(), created).unwrap();
        doc.append_event(
            &server_actor(),
            created,
            EventKind::Routed {
                district: district.into(),
            },
        )
        .unwrap();
        Story {
            doc,
            id: id.into(),
            t0: created,
        }
    }
    fn at(&self, minutes: i64) -> i64 {
        self.t0 + minutes * MIN
    }
    fn event(mut self, who: &Actor, minutes: i64, kind: EventKind) -> Story {
        let at = self.at(minutes);
        self.doc.append_event(who, at, kind).unwrap();
        self
    }
    fn assign(self, minutes: i64, c: &str) -> Story {
        self.event(
            &dispatcher(),
            minutes,
            EventKind::Assigned {
                crew: c.into(),
                reason: "test".into(),
            },
        )
    }
    fn ack(self, minutes: i64, c: &str) -> Story {
        self.event(&crew(c), minutes, EventKind::Acknowledged)
    }
    fn start(mut self, minutes: i64, c: &str, before_photo: bool) -> Story {
        let who = crew(c);
        let at = self.at(minutes);
        if before_photo {
            let p = photo(&self.id, PhotoKind::Before, &who, at, 0);
            self.doc.add_photo(&who, p).unwrap();
        }
        self.event(&who, minutes, EventKind::Started)
    }
    fn complete(mut self, minutes: i64, c: &str, n: u8) -> Story {
        let who = crew(c);
        let at = self.at(minutes);
        let p = photo(&self.id, PhotoKind::After, &who, at, n);
        let h = p.hash.clone();
        self.doc.add_photo(&who, p).unwrap();
        self.event(&who, minutes, EventKind::Completed { photos: vec![h] })
    }
    async fn commit(mut self, db: &Db) {
        let view = self.doc.view().unwrap();
        let changes = self
            .doc
            .automerge()
            .get_changes(&[])
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        db.commit(DocCommit {
            doc: view.id.clone(),
            base_seq: None,
            changes,
            snapshot: self.doc.save(),
            scopes: TaskScopes.scopes_of(&view),
            view,
            origin: dev("server-test"),
        })
        .await
        .unwrap();
    }
}

async fn user(db: &Db, login: &str, role: UserRole, crew: Option<&str>, districts: &[&str]) {
    db.create_user(&NewUser {
        contractor: None,
        id: format!("u-{login}"),
        login: login.into(),
        password_hash: hash_password(PASSWORD).unwrap(),
        role,
        crew: crew.map(str::to_owned),
        districts: districts.iter().map(|d| (*d).to_owned()).collect(),
    })
    .await
    .unwrap();
}

/// Districts, services, crews (C-A: Alpha, C-B: Beta, both D01; C-C: D02, no
/// contractor) and users.
async fn seed_city(db: &Db) {
    tarmim_testing::demo_map(db).await;
    for (id, district, contractor) in [
        ("C-A", "D01", Some("Alpha")),
        ("C-B", "D01", Some("Beta")),
        ("C-C", "D02", None),
        ("C-E", "D05", None),
    ] {
        db.upsert_crew(&Crew {
            id: id.into(),
            name: format!("Crew {id}"),
            district: district.into(),
            skills: vec!["pothole".into()],
            contractor: contractor.map(str::to_owned),
            on_duty: true,
        })
        .await
        .unwrap();
    }
    user(db, "mgr", UserRole::Manager, None, &["D01", "D02"]).await;
    user(db, "mgr-d05", UserRole::Manager, None, &["D05"]).await;
    user(db, "disp", UserRole::Dispatcher, None, &["D01"]).await;
    user(db, "admin", UserRole::Admin, None, &[]).await;
    user(db, "cc", UserRole::CallCentre, None, &[]).await;
    user(db, "crew-a", UserRole::Crew, Some("C-A"), &[]).await;
}

const TZ: &str = "Asia/Tehran";

/// The hand-computed data set (Tehran local times).
async fn seed_tasks(db: &Db) {
    // T1: D01 urgent, 23:50 on day 1. C-A acks at +10 (due 15), completes at +100 (due
    // 180) with before and after photos; rated 5.
    Story::new(
        "T1",
        "D01",
        Priority::Urgent,
        local(TZ, "2026-03-10T23:50"),
        (15, 180),
    )
    .assign(5, "C-A")
    .ack(10, "C-A")
    .start(20, "C-A", true)
    .complete(100, "C-A", 1)
    .event(
        &citizen(),
        200,
        EventKind::Rated {
            stars: 5,
            comment: String::new(),
        },
    )
    .commit(db)
    .await;
    // T2: D01 normal, 00:10 on day 2. C-A (Alpha) acks late at +90 (due 60); reassigned
    // to C-B (Beta), who acks, starts with a before photo and completes late at +700
    // (due 600). No rating.
    Story::new(
        "T2",
        "D01",
        Priority::Normal,
        local(TZ, "2026-03-11T00:10"),
        (60, 600),
    )
    .assign(5, "C-A")
    .ack(90, "C-A")
    .assign(120, "C-B")
    .ack(130, "C-B")
    .start(140, "C-B", true)
    .complete(700, "C-B", 1)
    .commit(db)
    .await;
    // T3: D01 normal, 10:00 day 2. C-B acks at +30, completes at +200 without a before
    // photo; the citizen reopens at +300; redone, completed at +400 (due 600); rated 2.
    Story::new(
        "T3",
        "D01",
        Priority::Normal,
        local(TZ, "2026-03-11T10:00"),
        (60, 600),
    )
    .assign(5, "C-B")
    .ack(30, "C-B")
    .start(40, "C-B", false)
    .complete(200, "C-B", 1)
    .event(
        &citizen(),
        300,
        EventKind::Reopened {
            reason: "still broken".into(),
        },
    )
    .ack(310, "C-B")
    .start(320, "C-B", false)
    .complete(400, "C-B", 2)
    .event(
        &citizen(),
        500,
        EventKind::Rated {
            stars: 2,
            comment: String::new(),
        },
    )
    .commit(db)
    .await;
    // T4: D02 high, 12:00 day 2. C-C acks at +20 (due 30); never completed (due 240).
    Story::new(
        "T4",
        "D02",
        Priority::High,
        local(TZ, "2026-03-11T12:00"),
        (30, 240),
    )
    .assign(5, "C-C")
    .ack(20, "C-C")
    .commit(db)
    .await;
    // T5: D02 normal, 13:00 day 2, cancelled at +30 unacknowledged.
    Story::new(
        "T5",
        "D02",
        Priority::Normal,
        local(TZ, "2026-03-11T13:00"),
        (60, 600),
    )
    .event(
        &dispatcher(),
        30,
        EventKind::Cancelled {
            reason: "not ours".into(),
        },
    )
    .commit(db)
    .await;
    // T6: D05 (another manager's), 09:00 day 2, queued.
    Story::new(
        "T6",
        "D05",
        Priority::Low,
        local(TZ, "2026-03-11T09:00"),
        (60, 600),
    )
    .commit(db)
    .await;
    // Photo rows (the server has processed these uploads): T1's after photo flagged (far
    // from the task), T2's not; both before photos. T4's photos never arrived.
    for (task, kind, n, flagged) in [
        ("T1", "After", 1u8, true),
        ("T2", "After", 1u8, false),
        ("T1", "Before", 0u8, false),
        ("T2", "Before", 0u8, false),
    ] {
        let h = hash(&format!("{task}/{kind}/{n}"));
        let sql = format!(
            "INSERT INTO photos (hash, task, kind, mime, bytes, width, height, uploaded_by,
                    uploaded_at, far_from_task, before_task, thumb_etag, display_etag)
                   VALUES ($1, $2, '{}', 'image/jpeg', 1000, 10, 10, 'u', 0, $3, $4, 'e', 'e')",
            kind.to_lowercase()
        );
        let sql = sql.as_str();
        match db {
            Db::Sqlite(s) => {
                sqlx::query(sql)
                    .bind(&h)
                    .bind(task)
                    .bind(flagged)
                    .bind(false)
                    .execute(s.pool())
                    .await
                    .unwrap();
            }
            Db::Postgres(s) => {
                sqlx::query(sql)
                    .bind(&h)
                    .bind(task)
                    .bind(flagged)
                    .bind(false)
                    .execute(s.pool())
                    .await
                    .unwrap();
            }
        }
    }
}

async fn start(db: Db, config: Config) -> RunningServer {
    tarmim_testing::start(db, config).await
}

fn config(f: &Fixture, zone: &str) -> Config {
    let mut c = Config {
        timezone: zone.into(),
        ..f.config.clone()
    };
    c.analytics.min_tasks = 1;
    c
}

type Client = tarmim_testing::Api;

const RANGE: &str = "from=2026-03-10&to=2026-03-11";

fn row<'a>(v: &'a Value, key: &str) -> &'a Value {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("no row {key:?} in {v}"))
}

fn keys(v: &Value) -> Vec<String> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect()
}

fn sla(due: i64, met: i64, pct: Option<f64>) -> Value {
    json!({"due": due, "met": met, "pct": pct})
}

async fn measures_by_district(f: &Fixture) {
    seed_city(&f.db).await;
    seed_tasks(&f.db).await;
    let s = start(f.db.clone(), config(f, TZ)).await;
    let mgr = Client::login(s.addr, "mgr", PASSWORD).await;
    let v = mgr
        .ok(&format!("/api/v1/analytics/measures?by=district&{RANGE}"))
        .await;
    assert_eq!(v["by"], "district");
    assert_eq!(v["from"], "2026-03-10");
    assert_eq!(v["timezone"], TZ);
    assert_eq!(keys(&v), ["D01", "D02"], "T6 (D05) is out of scope");
    let d1 = row(&v, "D01");
    assert_eq!(d1["received"], 3);
    assert_eq!(d1["closed"], 3);
    assert_eq!(d1["backlog"], 0);
    assert_eq!(d1["completed"], 3);
    // ack 10, 90, 30 → p50 30, p90 30 + 0.8 × 60; complete 100, 700, 400.
    assert_eq!(d1["ack_p50_min"], 30.0);
    assert_eq!(d1["ack_p90_min"], 78.0);
    assert_eq!(d1["complete_p50_min"], 400.0);
    assert_eq!(d1["complete_p90_min"], 640.0);
    assert_eq!(d1["sla_ack_pct"], 66.667);
    assert_eq!(d1["sla_complete_pct"], 66.667);
    assert_eq!(d1["sla"]["urgent"], sla(1, 1, Some(100.0)));
    assert_eq!(d1["sla"]["normal"], sla(2, 1, Some(50.0)));
    assert_eq!(d1["sla"]["high"], sla(0, 0, None));
    assert_eq!(d1["sla_ack_by_priority"]["normal"], sla(2, 1, Some(50.0)));
    assert_eq!(d1["reopen_rate"], 0.333333);
    assert_eq!(d1["rating_mean"], 3.5);
    assert_eq!(d1["rating_counts"], json!([0, 1, 0, 0, 1]));
    assert_eq!(d1["rating_response_rate"], 0.666667);
    assert_eq!(d1["photo_share"], 0.666667);
    assert_eq!(d1["flagged_photos"], 1);
    let d2 = row(&v, "D02");
    assert_eq!(
        (
            &d2["received"],
            &d2["closed"],
            &d2["backlog"],
            &d2["completed"]
        ),
        (&json!(2), &json!(1), &json!(1), &json!(0))
    );
    assert_eq!(d2["ack_p50_min"], 20.0);
    assert_eq!(d2["ack_p90_min"], 20.0);
    assert_eq!(d2["complete_p50_min"], Value::Null);
    // T4 acked in time; T5 cancelled unacknowledged is not due. T4's completion is overdue.
    assert_eq!(d2["sla_ack_pct"], 100.0);
    assert_eq!(d2["sla_complete_pct"], 0.0);
    assert_eq!(d2["sla"]["high"], sla(1, 0, Some(0.0)));
    assert_eq!(d2["reopen_rate"], Value::Null);
    assert_eq!(d2["rating_mean"], Value::Null);
    assert_eq!(d2["rating_response_rate"], Value::Null);
    assert_eq!(d2["photo_share"], Value::Null);
    assert_eq!(d2["label"], "نیاوران");

    // Regions and categories aggregate the same tasks.
    let v = mgr
        .ok(&format!("/api/v1/analytics/measures?by=region&{RANGE}"))
        .await;
    assert_eq!(keys(&v), ["R1"]);
    assert_eq!(row(&v, "R1")["received"], 5);
    assert_eq!(row(&v, "R1")["backlog"], 1);
    let v = mgr
        .ok(&format!(
            "/api/v1/analytics/measures?by=category&{RANGE}&priority=normal"
        ))
        .await;
    assert_eq!(row(&v, "pothole")["received"], 3);
    // Only day 1: T1 alone (23:50 local is still day 1, 20:20 UTC).
    let v = mgr
        .ok("/api/v1/analytics/measures?by=district&from=2026-03-10&to=2026-03-10")
        .await;
    assert_eq!(keys(&v), ["D01"]);
    assert_eq!(row(&v, "D01")["received"], 1);
    assert_eq!(row(&v, "D01")["closed"], 0, "T1 closed at 01:30 on day 2");
    assert_eq!(row(&v, "D01")["backlog"], 1);
    // Day 2 alone: backlog carried in from day 1.
    let v = mgr
        .ok("/api/v1/analytics/measures?by=district&from=2026-03-11&to=2026-03-11")
        .await;
    assert_eq!(row(&v, "D01")["received"], 2);
    assert_eq!(row(&v, "D01")["closed"], 3);
    assert_eq!(row(&v, "D01")["backlog"], 0);
    s.shutdown().await.unwrap();
}

async fn measures_by_crew_and_contractor(f: &Fixture) {
    seed_city(&f.db).await;
    seed_tasks(&f.db).await;
    let s = start(f.db.clone(), config(f, TZ)).await;
    let mgr = Client::login(s.addr, "mgr", PASSWORD).await;
    let v = mgr
        .ok(&format!("/api/v1/analytics/measures?by=crew&{RANGE}"))
        .await;
    assert_eq!(keys(&v), ["", "C-A", "C-B", "C-C"]);
    let a = row(&v, "C-A");
    assert_eq!(a["label"], "Crew C-A");
    // T2 counts for C-B (it completed it) but its acknowledgement for C-A.
    assert_eq!((&a["received"], &a["completed"]), (&json!(1), &json!(1)));
    assert_eq!(a["ack_p50_min"], 50.0);
    assert_eq!(a["ack_p90_min"], 82.0);
    assert_eq!(a["sla_ack_pct"], 50.0);
    assert_eq!(a["complete_p50_min"], 100.0);
    assert_eq!(a["sla_complete_pct"], 100.0);
    let b = row(&v, "C-B");
    assert_eq!((&b["received"], &b["completed"]), (&json!(2), &json!(2)));
    assert_eq!(b["ack_p50_min"], 30.0);
    assert_eq!(b["sla_ack_pct"], 100.0);
    assert_eq!(b["complete_p50_min"], 550.0);
    assert_eq!(b["complete_p90_min"], 670.0);
    assert_eq!(b["sla_complete_pct"], 50.0);
    assert_eq!(b["reopen_rate"], 0.5);
    assert_eq!(b["rating_mean"], 2.0);
    assert_eq!(b["rating_response_rate"], 0.5);
    assert_eq!(b["photo_share"], 0.5);
    let none = row(&v, "");
    assert_eq!(none["label"], "(no crew)");
    assert_eq!((&none["received"], &none["closed"]), (&json!(1), &json!(1)));

    let v = mgr
        .ok(&format!("/api/v1/analytics/measures?by=contractor&{RANGE}"))
        .await;
    assert_eq!(keys(&v), ["", "Alpha", "Beta"]);
    assert_eq!(row(&v, "Alpha")["completed"], 1);
    assert_eq!(row(&v, "Beta")["completed"], 2);
    assert_eq!(row(&v, "Alpha")["ack_p90_min"], 82.0);
    assert_eq!(row(&v, "")["received"], 2);
    assert_eq!(row(&v, "")["backlog"], 1);
    s.shutdown().await.unwrap();
}

async fn trends_buckets_and_tehran_days(f: &Fixture) {
    seed_city(&f.db).await;
    seed_tasks(&f.db).await;
    let s = start(f.db.clone(), config(f, TZ)).await;
    let mgr = Client::login(s.addr, "mgr", PASSWORD).await;
    let points = |v: &Value, i: usize| -> Vec<Value> {
        v["series"][i]["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| json!([p["period"], p["value"]]))
            .collect()
    };
    let v = mgr
        .ok("/api/v1/analytics/trend?measure=received&interval=day&from=2026-03-09&to=2026-03-12")
        .await;
    assert_eq!(v["series"].as_array().unwrap().len(), 1);
    assert_eq!(v["series"][0]["key"], "all");
    assert_eq!(
        points(&v, 0),
        [
            json!(["2026-03-09", 0.0]),
            json!(["2026-03-10", 1.0]),
            json!(["2026-03-11", 4.0]),
            json!(["2026-03-12", 0.0])
        ]
    );
    let v = mgr
        .ok("/api/v1/analytics/trend?measure=backlog&interval=day&from=2026-03-09&to=2026-03-12")
        .await;
    let vals: Vec<Value> = points(&v, 0).iter().map(|p| p[1].clone()).collect();
    assert_eq!(vals, [json!(0.0), json!(1.0), json!(1.0), json!(1.0)]);
    let v = mgr
        .ok("/api/v1/analytics/trend?measure=complete_p50_min&interval=day&from=2026-03-09&to=2026-03-12&by=district")
        .await;
    assert_eq!(v["series"][0]["key"], "D01");
    let vals: Vec<Value> = points(&v, 0).iter().map(|p| p[1].clone()).collect();
    assert_eq!(vals, [Value::Null, Value::Null, json!(400.0), Value::Null]);
    let v = mgr
        .ok("/api/v1/analytics/trend?measure=received&interval=week&from=2026-03-10&to=2026-03-20")
        .await;
    assert_eq!(
        points(&v, 0),
        [json!(["2026-03-09", 5.0]), json!(["2026-03-16", 0.0])]
    );
    let v = mgr
        .ok("/api/v1/analytics/trend?measure=closed&interval=month&from=2026-02-20&to=2026-03-31")
        .await;
    assert_eq!(
        points(&v, 0),
        [json!(["2026-02-01", 0.0]), json!(["2026-03-01", 4.0])]
    );
    s.shutdown().await.unwrap();
}

async fn berlin_days_across_daylight_saving(f: &Fixture) {
    seed_city(&f.db).await;
    const BERLIN: &str = "Europe/Berlin";
    // Spring forward on 2026-03-29 at 02:00. A fixed +01:00 would put the last one on
    // the 29th, UTC days the second one on the 28th.
    for (id, t) in [
        ("B1", "2026-03-28T23:30"),
        ("B2", "2026-03-29T00:30"),
        ("B3", "2026-03-29T23:30"),
        ("B4", "2026-03-30T00:30"),
    ] {
        Story::new(id, "D01", Priority::Normal, local(BERLIN, t), (60, 600))
            .commit(&f.db)
            .await;
    }
    let s = start(f.db.clone(), config(f, BERLIN)).await;
    let mgr = Client::login(s.addr, "mgr", PASSWORD).await;
    let v = mgr
        .ok("/api/v1/analytics/trend?measure=received&from=2026-03-28&to=2026-03-30")
        .await;
    let vals: Vec<Value> = v["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].clone())
        .collect();
    assert_eq!(vals, [json!(1.0), json!(2.0), json!(1.0)]);
    let v = mgr
        .ok("/api/v1/analytics/tasks?measure=received&from=2026-03-28&to=2026-03-30")
        .await;
    let times: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["created_at"].as_str().unwrap())
        .collect();
    assert_eq!(
        times,
        [
            "2026-03-28T23:30:00+01:00",
            "2026-03-29T00:30:00+01:00",
            "2026-03-29T23:30:00+02:00",
            "2026-03-30T00:30:00+02:00"
        ]
    );
    s.shutdown().await.unwrap();
}

async fn evidence_gallery_and_scorecard(f: &Fixture) {
    seed_city(&f.db).await;
    seed_tasks(&f.db).await;
    let s = start(f.db.clone(), config(f, TZ)).await;
    let mgr = Client::login(s.addr, "mgr", PASSWORD).await;
    let v = mgr
        .ok(&format!(
            "/api/v1/analytics/tasks?level=crew&key=C-B&measure=complete_p90_min&{RANGE}"
        ))
        .await;
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let t2 = &rows[0];
    assert_eq!(t2["id"], "T2");
    assert_eq!(t2["title"], "Pothole T2");
    assert_eq!(t2["crew"], "C-B");
    assert_eq!(t2["contractor"], "Beta");
    assert_eq!(t2["created_at"], "2026-03-11T00:10:00+03:30");
    assert_eq!(t2["acknowledged_at"], "2026-03-11T01:40:00+03:30");
    assert_eq!(t2["ack_min"], 90.0);
    assert_eq!(t2["complete_min"], 700.0);
    assert_eq!(t2["sla_ack_met"], false);
    assert_eq!(t2["sla_complete_met"], false);
    assert_eq!(t2["reopened"], false);
    assert_eq!(t2["rating"], Value::Null);
    assert_eq!(
        (&t2["before_photo"], &t2["after_photo"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(t2["flagged_photos"], 0);
    let t3 = &rows[1];
    assert_eq!(t3["id"], "T3");
    assert_eq!(t3["reopened"], true);
    assert_eq!(t3["rating"], 2);
    assert_eq!(t3["before_photo"], false);
    assert_eq!(t3["sla_complete_met"], true);
    // Acknowledgement evidence follows the acknowledging crew.
    let v = mgr
        .ok(&format!(
            "/api/v1/analytics/tasks?level=crew&key=C-A&measure=ack_p90_min&{RANGE}"
        ))
        .await;
    let ids: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["T1", "T2"]);
    let v = mgr
        .ok(&format!("/api/v1/analytics/tasks?measure=flagged_photos&level=district&key=D01&{RANGE}&limit=1&offset=0"))
        .await;
    assert_eq!(v["rows"][0]["id"], "T1");
    assert_eq!(v["rows"][0]["flagged_photos"], 1);
    assert_eq!(v["rows"].as_array().unwrap().len(), 1);
    let v = mgr
        .ok(&format!("/api/v1/analytics/tasks?measure=backlog&{RANGE}"))
        .await;
    let ids: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["T4"]);

    let v = mgr.ok(&format!("/api/v1/analytics/gallery?{RANGE}")).await;
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "T3 has no before photo: {v}");
    assert_eq!(rows[0]["task"], "T2");
    assert_eq!(rows[1]["task"], "T1");
    let before = hash("T1/Before/0");
    assert_eq!(
        rows[1]["before"],
        json!({"thumb": format!("/api/v1/photos/{before}/thumb"), "display": format!("/api/v1/photos/{before}/display")})
    );
    assert_eq!(rows[1]["completed_at"], "2026-03-11T01:30:00+03:30");

    let v = mgr
        .ok(&format!("/api/v1/analytics/scorecard?level=crew&{RANGE}"))
        .await;
    assert_eq!(v["formula"]["threshold"], 60.0);
    assert_eq!(v["formula"]["weights"]["sla"], 35.0);
    let a = row(&v, "C-A");
    // 35 + 20 + 20 + 15 + 10 × 30/82.
    assert_eq!(a["score"], 93.66);
    assert_eq!(a["rank"], 1);
    assert_eq!(a["below_threshold"], false);
    let b = row(&v, "C-B");
    assert_eq!(b["components"]["satisfaction"], 0.25);
    assert_eq!(b["score"], 50.0);
    assert_eq!(b["rank"], 2);
    assert_eq!(b["below_threshold"], true);
    let c = row(&v, "C-C");
    assert_eq!(c["tasks"], 0);
    assert_eq!(c["insufficient"], true);
    assert_eq!(c["rank"], Value::Null);
    assert_eq!(c["score"], 22.22);
    assert_eq!(
        keys(&v),
        ["C-A", "C-B", "C-C"],
        "no row for tasks without a crew"
    );

    let v = mgr.ok("/api/v1/analytics/districts").await;
    let codes: Vec<&str> = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["D01", "D02"]);
    assert_eq!(v["features"][0]["properties"]["region"], "R1");
    s.shutdown().await.unwrap();
}

/// A citizen's message filed at a chosen time, straight into the store (as
/// `domain::citizen::messages::file` writes it), with its tracking code.
#[allow(clippy::too_many_arguments)]
async fn message(
    db: &Db,
    id: &str,
    kind: &str,
    channel: &str,
    at: i64,
    district: Option<&str>,
    about_task: Option<&str>,
    about_unit: Option<&str>,
) {
    let doc = DocId::new(id).unwrap();
    let (_, code) =
        server::domain::citizen::codes::fresh(&doc, server::domain::citizen::codes::Role::Reporter);
    let row = server::storage::messages::MessageRow {
        id: id.into(),
        kind: kind.into(),
        body: format!("{kind} {id}"),
        channel: channel.into(),
        lang: "fa".into(),
        inbox: "city".into(),
        district: district.map(str::to_owned),
        lat: None,
        lon: None,
        about_task: about_task.map(str::to_owned),
        about_unit: about_unit.map(str::to_owned),
        created_at: at,
        answer: None,
        answered_by: None,
        answered_at: None,
    };
    server::storage::messages::insert(db, &row, &code, None, None)
        .await
        .unwrap();
}

/// Thanks and complaints count in the scorecard line of the unit they name: through the
/// task they are about (its district, crew, contractor), through the unit named in words
/// (key or name, case aside), or, for districts, their own district; only in the range
/// and the caller's districts. Every report and message is counted by kind and channel.
async fn thanks_complaints_and_kinds_by_channel(f: &Fixture) {
    seed_city(&f.db).await;
    seed_tasks(&f.db).await;
    let noon = local(TZ, "2026-03-11T12:00");
    let db = &f.db;
    // About T1 (D01, C-A, Alpha).
    message(
        db,
        "M-000000000001",
        "thanks",
        "web",
        noon,
        None,
        Some("T1"),
        None,
    )
    .await;
    // Naming crew C-B by its name, placed in D01.
    message(
        db,
        "M-000000000002",
        "complaint",
        "open311",
        noon,
        Some("D01"),
        None,
        Some(" crew c-b "),
    )
    .await;
    // Naming contractor Beta, placed in D02.
    message(
        db,
        "M-000000000003",
        "complaint",
        "call_centre",
        noon,
        Some("D02"),
        None,
        Some("Beta"),
    )
    .await;
    // In D05: not the manager's.
    message(
        db,
        "M-000000000004",
        "thanks",
        "web",
        noon,
        Some("D05"),
        None,
        Some("C-A"),
    )
    .await;
    // Not a thanks or a complaint.
    message(
        db,
        "M-000000000005",
        "suggestion",
        "web",
        noon,
        Some("D01"),
        None,
        Some("C-A"),
    )
    .await;
    // After the range.
    message(
        db,
        "M-000000000006",
        "thanks",
        "web",
        local(TZ, "2026-03-12T12:00"),
        None,
        Some("T1"),
        None,
    )
    .await;
    let s = start(f.db.clone(), config(f, TZ)).await;
    let mgr = Client::login(s.addr, "mgr", PASSWORD).await;
    let counts = |v: &Value, key: &str| {
        let r = row(v, key);
        (
            r["thanks"].as_i64().unwrap(),
            r["complaints"].as_i64().unwrap(),
        )
    };
    let v = mgr
        .ok(&format!("/api/v1/analytics/scorecard?level=crew&{RANGE}"))
        .await;
    assert_eq!(counts(&v, "C-A"), (1, 0), "{v}");
    assert_eq!(counts(&v, "C-B"), (0, 1), "{v}");
    assert_eq!(counts(&v, "C-C"), (0, 0), "{v}");
    // Beside the score, not in it.
    assert_eq!(row(&v, "C-A")["score"], 93.66);
    let v = mgr
        .ok(&format!(
            "/api/v1/analytics/scorecard?level=contractor&{RANGE}"
        ))
        .await;
    assert_eq!(counts(&v, "Alpha"), (1, 0), "{v}");
    assert_eq!(counts(&v, "Beta"), (0, 1), "{v}");
    let v = mgr
        .ok(&format!(
            "/api/v1/analytics/scorecard?level=district&{RANGE}"
        ))
        .await;
    assert_eq!(counts(&v, "D01"), (1, 1), "{v}");
    assert_eq!(counts(&v, "D02"), (0, 1), "{v}");
    // The CSV carries the same counts.
    let csv = mgr
        .raw(&format!(
            "/api/v1/analytics/scorecard?level=district&format=csv&{RANGE}"
        ))
        .await
        .text()
        .await
        .unwrap();
    let head: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert!(head.ends_with(&["thanks", "complaints"]), "{csv}");
    // An admin sees D05's thanks too.
    let admin = Client::login(s.addr, "admin", PASSWORD).await;
    let v = admin
        .ok(&format!("/api/v1/analytics/scorecard?level=crew&{RANGE}"))
        .await;
    assert_eq!(counts(&v, "C-A"), (2, 0), "{v}");

    let cells = |v: &Value| -> Vec<(String, String, i64)> {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["kind"].as_str().unwrap().to_owned(),
                    r["channel"].as_str().unwrap().to_owned(),
                    r["count"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let cell = |k: &str, c: &str, n: i64| (k.to_owned(), c.to_owned(), n);
    let v = mgr.ok(&format!("/api/v1/analytics/messages?{RANGE}")).await;
    assert_eq!(v["kinds"][6], "thanks");
    assert_eq!(v["channels"][3], "crew");
    // T1–T5 (citizens' through Open311, D01 and D02); T6 is in D05.
    assert_eq!(
        cells(&v),
        [
            cell("complaint", "call_centre", 1),
            cell("complaint", "open311", 1),
            cell("request", "open311", 5),
            cell("suggestion", "web", 1),
            cell("thanks", "web", 1),
        ],
        "{v}"
    );
    let v = admin
        .ok(&format!("/api/v1/analytics/messages?{RANGE}&district=D05"))
        .await;
    assert_eq!(
        cells(&v),
        [cell("request", "open311", 1), cell("thanks", "web", 1)],
        "{v}"
    );
    s.shutdown().await.unwrap();
}

/// Flattens a JSON row as the CSV export documents it.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    let name = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}_{k}")
        }
    };
    match v {
        Value::Object(m) => m.iter().for_each(|(k, v)| flatten(&name(k), v, out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| flatten(&name(&(i + 1).to_string()), v, out)),
        Value::Null => out.push((prefix.to_owned(), String::new())),
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        o => out.push((prefix.to_owned(), o.to_string())),
    }
}

async fn csv_matches_json(f: &Fixture) {
    seed_city(&f.db).await;
    seed_tasks(&f.db).await;
    let s = start(f.db.clone(), config(f, TZ)).await;
    let mgr = Client::login(s.addr, "mgr", PASSWORD).await;
    for path in [
        format!("/api/v1/analytics/measures?by=crew&{RANGE}"),
        format!("/api/v1/analytics/scorecard?level=district&{RANGE}"),
        format!("/api/v1/analytics/tasks?measure=received&{RANGE}"),
        format!("/api/v1/analytics/gallery?{RANGE}"),
    ] {
        let json = mgr.ok(&path).await;
        let r = mgr.raw(&format!("{path}&format=csv")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        assert!(
            r.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment")
        );
        let text = r.text().await.unwrap();
        let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        let rows = json["rows"].as_array().unwrap();
        assert_eq!(lines.len(), rows.len() + 1, "{path}: {text}");
        // No cell in this data set needs quoting, so a comma split is the CSV's cells.
        let header: Vec<&str> = lines[0].split(',').collect();
        assert_eq!(
            header[0],
            if path.contains("gallery") {
                "task"
            } else if path.contains("tasks?") {
                "id"
            } else {
                "key"
            }
        );
        for (line, row) in lines[1..].iter().zip(rows) {
            let mut flat = Vec::new();
            flatten("", row, &mut flat);
            let want: std::collections::BTreeMap<String, String> = flat.into_iter().collect();
            let got: std::collections::BTreeMap<String, String> = header
                .iter()
                .zip(line.split(','))
                .map(|(h, c)| ((*h).to_owned(), c.to_owned()))
                .collect();
            assert_eq!(header.len(), want.len(), "{path}: {line}");
            assert_eq!(got, want, "{path}");
        }
    }
    // Trend CSV: one line per (series, period).
    let r = mgr
        .raw("/api/v1/analytics/trend?measure=received&from=2026-03-10&to=2026-03-11&by=district&format=csv")
        .await;
    let text = r.text().await.unwrap();
    assert_eq!(
        text,
        "key,label,period,value\r\nD01,تجریش,2026-03-10,1.0\r\nD01,تجریش,2026-03-11,2.0\r\n\
         D02,نیاوران,2026-03-10,0.0\r\nD02,نیاوران,2026-03-11,2.0\r\n"
    );
    s.shutdown().await.unwrap();
}

async fn scoping_and_roles(f: &Fixture) {
    seed_city(&f.db).await;
    seed_tasks(&f.db).await;
    let s = start(f.db.clone(), config(f, TZ)).await;
    let other = Client::login(s.addr, "mgr-d05", PASSWORD).await;
    let v = other
        .ok(&format!("/api/v1/analytics/measures?by=district&{RANGE}"))
        .await;
    assert_eq!(keys(&v), ["D05"]);
    let v = other
        .ok(&format!(
            "/api/v1/analytics/measures?by=district&district=D01&{RANGE}"
        ))
        .await;
    assert_eq!(keys(&v), Vec::<String>::new());
    let v = other
        .ok(&format!(
            "/api/v1/analytics/tasks?measure=received&district=D01&{RANGE}"
        ))
        .await;
    assert_eq!(v["rows"], json!([]));
    let v = other
        .ok(&format!("/api/v1/analytics/gallery?{RANGE}"))
        .await;
    assert_eq!(v["rows"], json!([]));
    let v = other.ok("/api/v1/analytics/districts").await;
    assert_eq!(v["features"].as_array().unwrap().len(), 1);
    // A dispatcher of D01 sees D01 only; the admin sees all.
    let disp = Client::login(s.addr, "disp", PASSWORD).await;
    let v = disp
        .ok(&format!("/api/v1/analytics/measures?by=district&{RANGE}"))
        .await;
    assert_eq!(keys(&v), ["D01"]);
    let admin = Client::login(s.addr, "admin", PASSWORD).await;
    let v = admin
        .ok(&format!("/api/v1/analytics/measures?by=district&{RANGE}"))
        .await;
    assert_eq!(keys(&v), ["D01", "D02", "D05"]);
    for login in ["crew-a", "cc"] {
        let c = Client::login(s.addr, login, PASSWORD).await;
        for path in [
            "/api/v1/analytics/measures",
            "/api/v1/analytics/trend",
            "/api/v1/analytics/scorecard",
            "/api/v1/analytics/tasks",
            "/api/v1/analytics/gallery",
            "/api/v1/analytics/districts",
        ] {
            let (st, v) = c.get(path).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "{login} {path}: {v}");
            assert_eq!(v["error"], "forbidden");
        }
    }
    let (st, _) = Client::anonymous(s.addr)
        .get("/api/v1/analytics/measures")
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    s.shutdown().await.unwrap();
}

async fn bad_parameters(f: &Fixture) {
    seed_city(&f.db).await;
    let s = start(f.db.clone(), config(f, TZ)).await;
    let mgr = Client::login(s.addr, "mgr", PASSWORD).await;
    // Defaults: the last 30 days, by district.
    let v = mgr.ok("/api/v1/analytics/measures").await;
    assert_eq!(v["by"], "district");
    for path in [
        "/api/v1/analytics/measures?from=2026-13-01&to=2026-03-01",
        "/api/v1/analytics/measures?from=2026-02-30",
        "/api/v1/analytics/measures?from=yesterday",
        "/api/v1/analytics/measures?to=2026-3-1",
        "/api/v1/analytics/measures?from=2026-03-02&to=2026-03-01",
        "/api/v1/analytics/measures?from=2025-01-01&to=2026-03-01",
        "/api/v1/analytics/measures?by=planet",
        "/api/v1/analytics/measures?priority=extreme",
        "/api/v1/analytics/measures?format=xml",
        "/api/v1/analytics/trend?measure=bogus",
        "/api/v1/analytics/trend?interval=year",
        "/api/v1/analytics/trend?by=planet",
        "/api/v1/analytics/scorecard?level=region",
        "/api/v1/analytics/scorecard?level=planet",
        "/api/v1/analytics/tasks?measure=bogus",
        "/api/v1/analytics/tasks?level=crew",
        "/api/v1/analytics/tasks?limit=0",
        "/api/v1/analytics/tasks?limit=abc",
        "/api/v1/analytics/tasks?limit=100000",
        "/api/v1/analytics/tasks?offset=-1",
        "/api/v1/analytics/gallery?limit=-5",
    ] {
        let (st, v) = mgr.get(path).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{path}: {v}");
        assert_eq!(v["error"], "bad_request", "{path}");
        assert!(v["message"].as_str().unwrap().len() > 10, "{path}: {v}");
    }
    s.shutdown().await.unwrap();
}

/// The in-memory mirror loads on the first request and then follows later commits:
/// a task committed, and a flagged photo stored, after it was loaded count at the next
/// request, once.
async fn mirror_follows_later_commits(f: &Fixture) {
    seed_city(&f.db).await;
    seed_tasks(&f.db).await;
    let s = start(f.db.clone(), config(f, TZ)).await;
    let mgr = Client::login(s.addr, "mgr", PASSWORD).await;
    let path = format!("/api/v1/analytics/measures?by=district&{RANGE}");
    // T1's facts as a replica whose clock is an hour ahead would stamp them: the mirror
    // must not then skip what other replicas commit in the meantime.
    let sql = "UPDATE task_facts SET updated_at = $1 WHERE id = 'T1'";
    let ahead = server::base::time::now_millis() + 3_600_000;
    match &f.db {
        Db::Sqlite(s) => drop(
            sqlx::query(sql)
                .bind(ahead)
                .execute(s.pool())
                .await
                .unwrap(),
        ),
        Db::Postgres(s) => drop(
            sqlx::query(sql)
                .bind(ahead)
                .execute(s.pool())
                .await
                .unwrap(),
        ),
    }
    let before = mgr.ok(&path).await;
    assert_eq!(row(&before, "D01")["received"], 3);
    assert_eq!(row(&before, "D01")["ack_p50_min"], 30.0);
    // T9: D01 high, noon on day 2, acknowledged after 5 minutes: ack 5, 10, 30, 90.
    Story::new(
        "T9",
        "D01",
        Priority::High,
        local(TZ, "2026-03-11T12:00"),
        (60, 600),
    )
    .assign(1, "C-A")
    .ack(5, "C-A")
    .commit(&f.db)
    .await;
    // And a photo of it flagged by the EXIF check, uploaded now.
    let sql = "INSERT INTO photos (hash, task, kind, mime, bytes, width, height, uploaded_by,
            uploaded_at, far_from_task, before_task, thumb_etag, display_etag)
           VALUES ($1, 'T9', 'before', 'image/jpeg', 1000, 10, 10, 'u', $2, $3, $4, 'e', 'e')";
    let (h, now) = (hash("T9/Before/0"), server::base::time::now_millis());
    match &f.db {
        Db::Sqlite(s) => {
            let q = sqlx::query(sql).bind(&h).bind(now).bind(true).bind(false);
            q.execute(s.pool()).await.unwrap();
        }
        Db::Postgres(s) => {
            let q = sqlx::query(sql).bind(&h).bind(now).bind(true).bind(false);
            q.execute(s.pool()).await.unwrap();
        }
    }
    let after = mgr.ok(&path).await;
    let d1 = row(&after, "D01");
    assert_eq!(d1["received"], 4);
    assert_eq!(d1["backlog"], 1);
    assert_eq!(d1["ack_p50_min"], 20.0);
    assert_eq!(d1["sla_ack_by_priority"]["high"], sla(1, 1, Some(100.0)));
    assert_eq!(d1["flagged_photos"], 2, "T1's and T9's");
    // Asked again, nothing is counted twice.
    assert_eq!(mgr.ok(&path).await, after);
    s.shutdown().await.unwrap();
}

/// The tasks behind a number come in the order of the time that put them there: a
/// completion measure lists by completion, a received measure by creation.
async fn evidence_follows_the_cohorts_own_time(f: &Fixture) {
    seed_city(&f.db).await;
    // E1 is created first and completed last; E2 the other way round.
    for (id, created, completed) in [
        ("E1", "2026-03-10T08:00", 600),
        ("E2", "2026-03-10T09:00", 60),
    ] {
        Story::new(id, "D01", Priority::Normal, local(TZ, created), (60, 1440))
            .assign(5, "C-A")
            .ack(10, "C-A")
            .complete(completed, "C-A", 0)
            .commit(&f.db)
            .await;
    }
    let s = start(f.db.clone(), config(f, TZ)).await;
    let mgr = Client::login(s.addr, "mgr", PASSWORD).await;
    let ids = |v: Value| -> Vec<String> {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    for (measure, level, key, want) in [
        ("completed", "district", "D01", ["E2", "E1"]),
        ("closed", "crew", "C-A", ["E2", "E1"]),
        ("received", "district", "D01", ["E1", "E2"]),
        ("completed", "", "", ["E2", "E1"]),
    ] {
        let unit = if level.is_empty() {
            String::new()
        } else {
            format!("level={level}&key={key}&")
        };
        let v = mgr
            .ok(&format!(
                "/api/v1/analytics/tasks?{unit}measure={measure}&{RANGE}"
            ))
            .await;
        assert_eq!(ids(v), want, "{measure} {level}");
    }
    // A page of the next tasks continues in the same order.
    let v = mgr
        .ok(&format!(
            "/api/v1/analytics/tasks?level=district&key=D01&measure=completed&{RANGE}&limit=1&offset=1"
        ))
        .await;
    assert_eq!(ids(v), ["E1"]);
    s.shutdown().await.unwrap();
}

on_both_backends!(
    evidence_follows_the_cohorts_own_time,
    mirror_follows_later_commits,
    measures_by_district,
    measures_by_crew_and_contractor,
    trends_buckets_and_tehran_days,
    berlin_days_across_daylight_saving,
    evidence_gallery_and_scorecard,
    csv_matches_json,
    scoping_and_roles,
    bad_parameters,
    thanks_complaints_and_kinds_by_channel,
);

/// The measure checks again with `analytics.in_memory` off: the same hand-computed
/// numbers from the SQL engine, so the two engines cannot drift apart.
mod sql_engine {
    use std::future::Future;
    use std::pin::Pin;
    use tarmim_testing::Fixture;

    async fn run(
        mut f: Fixture,
        check: impl for<'a> FnOnce(&'a Fixture) -> Pin<Box<dyn Future<Output = ()> + 'a>>,
    ) {
        f.config.analytics.in_memory = false;
        check(&f).await;
        f.close().await;
    }

    macro_rules! with_sql_engine {
        ($($name:ident),* $(,)?) => {
            $(
                mod $name {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn sqlite() {
                        super::run(tarmim_testing::Fixture::sqlite().await, |f| {
                            Box::pin(crate::analytics::$name(f))
                        })
                        .await;
                    }
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn postgres() {
                        super::run(tarmim_testing::Fixture::postgres().await, |f| {
                            Box::pin(crate::analytics::$name(f))
                        })
                        .await;
                    }
                }
            )*
        };
    }
    with_sql_engine!(
        measures_by_district,
        measures_by_crew_and_contractor,
        trends_buckets_and_tehran_days,
        berlin_days_across_daylight_saving,
        evidence_gallery_and_scorecard,
        csv_matches_json,
    );
}

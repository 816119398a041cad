//! Dispatch end to end, on both backends: crews' duty and positions, the documented
//! scoring (own district, neighbour, nobody), dispatcher overrides, escalation timers
//! across a restart, and two replicas on one PostgreSQL assigning and escalating once.
//! The real server on a loopback port; waits are bounded liveness waits.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::Fixture;
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::app::{AppState, RunningServer};
use server::auth::{UserRole, hash_password};
use server::config::Config;
use server::db::{Crew, Db, DistrictStore, IdentityStore, NewUser};
use server::geo::{PropertyNames, parse_geojson};
use std::net::SocketAddr;
use std::time::Duration;

const PASSWORD: &str = "pass-word-1";

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
    let props = PropertyNames {
        code: "code".into(),
        name: "name".into(),
        region: Some("region".into()),
    };
    let districts = parse_geojson(&server::demo::demo_districts_geojson(), &props).unwrap();
    db.import_districts(&districts).await.unwrap();
    for s in server::demo::demo_services() {
        db.upsert_service(&s).await.unwrap();
    }
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

fn test_config(f: &Fixture) -> Config {
    Config {
        position_min_interval_ms: 0,
        dispatch_tick_ms: 100,
        ..f.config.clone()
    }
}

async fn start(db: Db, config: Config) -> RunningServer {
    RunningServer::start(AppState::new(db, config), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// A logged-in HTTP client.
#[derive(Clone)]
struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    async fn login(addr: SocketAddr, login: &str) -> Client {
        let http = reqwest::Client::new();
        let r = http
            .post(format!("http://{addr}/api/v1/login"))
            .json(
                &json!({"login": login, "password": PASSWORD, "device_id": format!("dev-{login}")}),
            )
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "login {login}: {body}");
        Client {
            base: format!("http://{addr}"),
            token: body["token"].as_str().unwrap().to_owned(),
            http,
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }
}

fn rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn now_ms() -> i64 {
    server::db::now_millis()
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
    let crew = Client::login(srv.addr, "c-a").await;
    let disp = Client::login(srv.addr, "disp").await;

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
        .bearer_auth(&crew.token)
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
    let db = Db::open(&f.config).await.unwrap();
    let srv = start(db.clone(), test_config(f)).await;
    let crew = Client::login(srv.addr, "c-a").await;
    let disp = Client::login(srv.addr, "disp").await;
    let (s, flags) = report(&crew, lat - 0.27, lon, t0 + 10_000).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(flags, ["impossible_jump"]);
    let (s, flags) = report(&crew, lat, lon, t0 + 3_600_000 * 2).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(flags, ["future_time"]);
    let plausible = server::dispatch::store::last_plausible_position(&db, "C-A")
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

on_both_backends!(duty_and_positions);

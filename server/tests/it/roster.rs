//! Rosters and coverage end to end, on both backends (issue 20 §2): a roster CSV imported
//! over HTTP and the command line; bad input refused with every problem listed (shifts
//! that overlap, in the file or with a stored one; a shift ending before it starts; an
//! unknown crew; a time that does not exist on a daylight-saving day, in a configured
//! zone with daylight saving); a dispatcher's edits limited to their districts; duty by
//! roster unless toggled (the toggle kept with who and when) and dispatch's choice going
//! by it; the coverage gaps and their alert raised once ahead of time; the shift-start
//! wake-up written to the outbox for the crew's registered phone.

use reqwest::StatusCode;
use serde_json::{Value, json};
use server::base::config::Config;
use server::domain::identity::{UserRole, hash_password};
use server::storage::Db;
use tarmim_testing::{Api, Fixture, on_both_backends};

const PASSWORD: &str = "pass-word-1";
/// Inside D01 of the demo map.
const D01: (f64, f64) = (35.72, 51.3375);
const HOUR: i64 = 3_600_000;

async fn seed(db: &Db) {
    tarmim_testing::demo_map(db).await;
    let hash = hash_password(PASSWORD).unwrap();
    for (id, district, skills) in [
        ("C-R1", "D01", &["water_leak", "pothole"][..]),
        ("C-R2", "D01", &["water_leak"][..]),
        ("C-R9", "D09", &["pothole"][..]),
    ] {
        tarmim_testing::add_crew(db, id, district, skills).await;
        tarmim_testing::add_user(
            db,
            &format!("u-{id}"),
            &id.to_lowercase(),
            &hash,
            UserRole::Crew,
            Some(id),
            vec![],
        )
        .await;
    }
    tarmim_testing::add_user(
        db,
        "u-disp",
        "disp",
        &hash,
        UserRole::Dispatcher,
        None,
        vec!["D01".into(), "D02".into()],
    )
    .await;
    tarmim_testing::add_user(
        db,
        "u-mgr",
        "mgr",
        &hash,
        UserRole::Manager,
        None,
        vec!["D01".into()],
    )
    .await;
}

fn config(f: &Fixture, zone: &str) -> Config {
    let mut c = f.config.clone();
    c.timezone = zone.into();
    c.roster.tick_ms = 100;
    c.outbox.tick_ms = 60_000;
    c
}

async fn import(api: &Api, csv: &str) -> (StatusCode, Value) {
    let r = api
        .request(reqwest::Method::POST, "/api/v1/roster/import")
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A local wall-clock time `hours` from now in `zone`, as the CSV writes it.
fn local_in(zone: &str, at_ms: i64) -> String {
    let tz = jiff::tz::TimeZone::get(zone).unwrap();
    jiff::Timestamp::from_millisecond(at_ms)
        .unwrap()
        .to_zoned(tz)
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Import, bad input and edits over HTTP, in a zone with daylight saving.
async fn import_and_bad_input(f: &Fixture) {
    seed(&f.db).await;
    let zone = "America/New_York";
    let srv = tarmim_testing::start(f.db.clone(), config(f, zone)).await;
    let disp = Api::login(srv.addr, "disp", PASSWORD).await;

    // Every problem of a bad file, with its line; nothing stored.
    let bad = "crew,start,end\n\
               C-R1,2027-03-14 02:30,2027-03-14 10:00\n\
               C-R1,2027-03-15 16:00,2027-03-15 08:00\n\
               C-NOPE,2027-03-15 08:00,2027-03-15 16:00\n\
               C-R2,2027-03-15 08:00,2027-03-15 16:00\n\
               C-R2,2027-03-15 12:00,2027-03-15 20:00\n";
    let (s, body) = import(&disp, bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let m = body["message"].as_str().unwrap();
    for want in [
        "line 2: start \"2027-03-14 02:30\" does not exist in America/New_York",
        "line 3: the shift ends before it starts",
        "line 4: unknown crew \"C-NOPE\"",
        "line 6: crew C-R2's shift overlaps its shift on line 5",
    ] {
        assert!(m.contains(want), "{want:?} not in {m}");
    }
    let week: Value = disp.ok("/api/v1/roster").await;
    assert!(
        week["crews"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["shifts"].as_array().unwrap().is_empty()),
        "nothing stored: {week}"
    );

    // A good week: a night shift across midnight, and one across the spring-forward night.
    let now = server::base::time::now_millis();
    let a = local_in(zone, now + 2 * HOUR);
    let b = local_in(zone, now + 10 * HOUR);
    let good = format!("crew,start,end\nC-R1,{a},{b}\nC-R2,2027-03-13 22:00,2027-03-14 06:00\n");
    let (s, body) = import(&disp, &good).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"shifts": 2, "crews": 2}));
    let shifts = server::storage::roster::shifts_between(&f.db, 0, i64::MAX, &[])
        .await
        .unwrap();
    let dst = shifts.iter().find(|s| s.crew == "C-R2").unwrap();
    assert_eq!(
        dst.ends_at - dst.starts_at,
        7 * HOUR,
        "the clocks skip an hour"
    );

    // A shift overlapping a stored one: refused by the file and by the edit.
    let c = local_in(zone, now + 9 * HOUR);
    let d = local_in(zone, now + 12 * HOUR);
    let (s, body) = disp
        .post(
            "/api/v1/roster/shifts",
            json!({"crew": "C-R1", "start": c, "end": d}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    let e = local_in(zone, now + 10 * HOUR);
    let (s, shift) = disp
        .post(
            "/api/v1/roster/shifts",
            json!({"crew": "C-R1", "start": e, "end": d}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "back to back is fine: {shift}");
    let (s, _) = disp
        .post(
            "/api/v1/roster/shifts",
            json!({"crew": "C-R1", "start": "2027-03-14 02:15", "end": "2027-03-14 05:00"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // Another district's crew: not this dispatcher's.
    let (s, _) = disp
        .post(
            "/api/v1/roster/shifts",
            json!({"crew": "C-R9", "start": e, "end": d}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = import(&disp, &format!("crew,start,end\nC-R9,{e},{d}\n")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A manager reads, does not edit.
    let mgr = Api::login(srv.addr, "mgr", PASSWORD).await;
    let week = mgr.ok("/api/v1/roster").await;
    assert_eq!(week["zone"], "America/New_York");
    let (s, _) = import(&mgr, &good).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let id = shift["id"].as_i64().unwrap();
    let (s, _) = mgr
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/roster/shifts/{id}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = disp
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/roster/shifts/{id}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    srv.shutdown().await.unwrap();
}

/// On duty by the roster unless toggled; dispatch's choice goes by it; the toggle is kept.
async fn duty_follows_the_roster(f: &Fixture) {
    seed(&f.db).await;
    let zone = "Asia/Tehran";
    let srv = tarmim_testing::start(f.db.clone(), config(f, zone)).await;
    let disp = Api::login(srv.addr, "disp", PASSWORD).await;
    let now = server::base::time::now_millis();
    // C-R1 (switch on, as seeded) is rostered only tomorrow; C-R2 now.
    let csv = format!(
        "crew,start,end\nC-R1,{},{}\nC-R2,{},{}\n",
        local_in(zone, now + 20 * HOUR),
        local_in(zone, now + 28 * HOUR),
        local_in(zone, now - HOUR),
        local_in(zone, now + 7 * HOUR),
    );
    let (s, body) = import(&disp, &csv).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let crews = disp.ok("/api/v1/crews").await;
    let duty = |id: &str| {
        crews
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()["on_duty"]
            .clone()
    };
    assert_eq!(
        (duty("C-R1"), duty("C-R2")),
        (json!(false), json!(true)),
        "{crews}"
    );
    let (s, t) = disp
        .post(
            "/api/v1/console/tasks",
            json!({"category": "water_leak", "title": "leak", "lat": D01.0, "lon": D01.1, "priority": "urgent"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(t["dispatch"]["crew"], "C-R2", "{t}");

    // C-R2 goes off sick: kept with who and when; the next urgent job finds nobody.
    let r2 = Api::login(srv.addr, "c-r2", PASSWORD).await;
    let (s, _) = r2.put("/api/v1/me/duty", json!({"on_duty": false})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let kept = server::storage::roster::toggles(&f.db, "C-R2", 10)
        .await
        .unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        (kept[0].on_duty, kept[0].by_user.as_str()),
        (false, "u-C-R2")
    );
    assert!(kept[0].device.is_some() && kept[0].at >= now);
    let (s, t) = disp
        .post(
            "/api/v1/console/tasks",
            json!({"category": "water_leak", "title": "leak 2", "lat": D01.0, "lon": D01.1, "priority": "urgent"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(t["dispatch"]["outcome"], "no_crew", "{t}");
    // C-R1 comes in early: on duty by its toggle.
    let r1 = Api::login(srv.addr, "c-r1", PASSWORD).await;
    let (s, _) = r1.put("/api/v1/me/duty", json!({"on_duty": true})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let week = disp.ok("/api/v1/roster").await;
    let r1w = week["crews"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "C-R1")
        .unwrap()
        .clone();
    assert_eq!(
        (r1w["on_duty"].clone(), r1w["duty_from"].clone()),
        (json!(true), json!("toggle"))
    );
    srv.shutdown().await.unwrap();
}

async fn gap_alerts(api: &Api) -> Vec<Value> {
    let a: Value = api.ok("/api/v1/console/alerts").await;
    a.as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "coverage_gap")
        .cloned()
        .collect()
}

/// Coverage gaps listed, alerted once ahead of time; a shift's start wakes the crew's phone.
async fn coverage_alerts_and_wake_ups(f: &Fixture) {
    seed(&f.db).await;
    let zone = "Asia/Tehran";
    let now = server::base::time::now_millis();
    // D01's water_leak crews: C-R1 from 2 h ago to 6 h on, C-R2 for the hour starting
    // now; the rest of the week is uncovered.
    let csv = format!(
        "crew,start,end\nC-R1,{},{}\n",
        local_in(zone, now - 2 * HOUR),
        local_in(zone, now + 6 * HOUR),
    );
    let tz = jiff::tz::TimeZone::get(zone).unwrap();
    server::domain::roster::import_csv(&f.db, &tz, None, &csv)
        .await
        .unwrap();
    let srv = tarmim_testing::start(f.db.clone(), config(f, zone)).await;
    let disp = Api::login(srv.addr, "disp", PASSWORD).await;
    // C-R2's phone (its device registered by a login) is registered for push; its
    // shift starts now.
    let _r2 = Api::login(srv.addr, "c-r2", PASSWORD).await;
    server::storage::push::register(
        &f.db,
        "dev-c-r2",
        "u-C-R2",
        "webpush",
        "https://push.invalid/x",
        now,
    )
    .await
    .unwrap();
    server::storage::roster::write_shifts(
        &f.db,
        &[],
        &[server::storage::roster::NewShift {
            crew: "C-R2".into(),
            starts_at: now - 1000,
            ends_at: now + HOUR,
        }],
        "test",
        now,
    )
    .await
    .unwrap()
    .unwrap();
    let cov = disp.ok("/api/v1/roster/coverage").await;
    assert_eq!(cov["hours"], 168);
    let gaps = cov["gaps"].as_array().unwrap();
    // water_leak and traffic_signal are the urgent skills; D02 has no crew with them but
    // its neighbour D01 does; nobody has traffic_signal.
    let of = |d: &str, s: &str| {
        gaps.iter()
            .filter(|g| g["district"] == d && g["skill"] == s)
            .collect::<Vec<_>>()
    };
    let d01 = of("D01", "water_leak");
    assert_eq!(d01.len(), 1, "{cov}");
    let start = server::domain::roster::hour_start(now, &tz);
    // Covered until C-R1's end (6 h on, minute-exact): the hour it ends in is the gap's first.
    assert_eq!(d01[0]["from"].as_i64().unwrap(), start + 6 * HOUR, "{cov}");
    assert_eq!(d01[0]["to"].as_i64().unwrap(), start + 168 * HOUR);
    assert_eq!(of("D02", "water_leak").len(), 1);
    assert_eq!(of("D01", "traffic_signal")[0]["hours"], 168);

    // Alerts: raised once, whatever the rounds.
    wait_for("coverage alerts", async || {
        gap_alerts(&disp).await.len() >= 4
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let raised = gap_alerts(&disp).await;
    // D01 and D02, each water_leak and traffic_signal: four gaps within a day.
    assert_eq!(raised.len(), 4, "{raised:?}");
    assert!(
        raised.iter().any(|a| a["district"] == "D01"
            && a["message"]
                .as_str()
                .unwrap()
                .contains("no crew with skill water_leak rostered in D01")),
        "{raised:?}"
    );
    // The shift that started woke C-R2's phone (an outbox wake row), once.
    wait_for("the shift-start wake-up", async || {
        !server::storage::outbox::wakes_of(&f.db, "dev-c-r2")
            .await
            .unwrap()
            .is_empty()
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let wakes = server::storage::outbox::wakes_of(&f.db, "dev-c-r2")
        .await
        .unwrap();
    assert_eq!(wakes.len(), 1, "{wakes:?}");
    assert!(wakes[0].task.starts_with("shift-"), "{wakes:?}");
    srv.shutdown().await.unwrap();
}

/// `tarmim-server roster import FILE.csv` and `roster coverage`.
async fn the_command_line(f: &Fixture) {
    seed(&f.db).await;
    let bin = env!("CARGO_BIN_EXE_tarmim-server");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "crew,start,end\nC-R1,2027-01-10 08:00,2027-01-10 16:00\nC-R1,2027-01-10 12:00,2027-01-10 18:00\nC-X,2027-01-10 08:00,2027-01-10 16:00\n",
    )
    .unwrap();
    let out = tarmim_testing::cli(
        bin,
        f,
        &["roster", "import", bad.to_str().unwrap()],
        None,
        &[],
    );
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 3: crew C-R1's shift overlaps its shift on line 2"),
        "{err}"
    );
    assert!(err.contains("line 4: unknown crew \"C-X\""), "{err}");
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        "crew,start,end\nC-R1,2027-01-10 22:00,2027-01-11 06:00\nC-R2,2027-01-10 08:00,2027-01-10 16:00\n",
    )
    .unwrap();
    let out = tarmim_testing::cli(
        bin,
        f,
        &["roster", "import", good.to_str().unwrap()],
        None,
        &[],
    );
    assert!(
        tarmim_testing::ok(&out).contains("2 shifts of 2 crews"),
        "{out:?}"
    );
    let out = tarmim_testing::cli(bin, f, &["roster", "coverage"], None, &[]);
    assert!(
        tarmim_testing::ok(&out).contains("districts × 2 skills × 168 hours"),
        "{out:?}"
    );
}

on_both_backends!(
    import_and_bad_input,
    duty_follows_the_roster,
    coverage_alerts_and_wake_ups,
    the_command_line,
);

//! Verification end to end, on both backends: a crew's phone (a real sync-core device over
//! the HTTP fallback) completes a job with a real photo; the dispatcher sees it in the
//! "to verify" list with its evidence, rejects it (the phone receives the reopened task),
//! the crew completes again, the dispatcher verifies. Bad input: verifying a task that is
//! not completed, outside the dispatcher's districts (404), by a manager (403), rejecting
//! without a reason, and two replicas verifying at once (one wins, the other 409).

use reqwest::StatusCode;
use serde_json::{Value, json};
use server::domain::identity::{UserRole, hash_password};
use server::storage::Db;
use sync_core::store::Store;
use sync_core::task::Status;
use tarmim_testing::phone::HttpPhone;
use tarmim_testing::{Api, Fixture, on_both_backends};

const PASSWORD: &str = "pass-word-1";
/// Inside D01 of the demo map.
const POINT: (f64, f64) = (35.72, 51.3375);

/// Crew C-A of D01; dispatchers of D01 (two logins, for the race) and of D02; a manager
/// of D01.
async fn seed(db: &Db) {
    tarmim_testing::demo_map(db).await;
    tarmim_testing::add_crew(db, "C-A", "D01", &["pothole"]).await;
    let hash = hash_password(PASSWORD).unwrap();
    for (id, login, role, crew, districts) in [
        ("u-crew-a", "crew-a", UserRole::Crew, Some("C-A"), vec![]),
        ("u-d1", "disp-d01", UserRole::Dispatcher, None, vec!["D01"]),
        (
            "u-d1b",
            "disp-d01b",
            UserRole::Dispatcher,
            None,
            vec!["D01"],
        ),
        ("u-d2", "disp-d02", UserRole::Dispatcher, None, vec!["D02"]),
        ("u-m1", "mgr-d01", UserRole::Manager, None, vec!["D01"]),
    ] {
        let districts = districts.into_iter().map(str::to_owned).collect();
        tarmim_testing::add_user(db, id, login, &hash, role, crew, districts).await;
    }
}

fn path(task: &str, what: &str) -> String {
    format!("/api/v1/console/tasks/{task}/{what}")
}

/// Files a pothole in D01 and assigns it to C-A. Returns its id.
async fn assigned_task(disp: &Api) -> String {
    let (s, t) = disp
        .post(
            "/api/v1/console/tasks",
            json!({"category": "pothole", "title": "Pothole to check", "lat": POINT.0, "lon": POINT.1, "priority": "normal"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let id = t["task"]["id"].as_str().unwrap().to_owned();
    let (s, r) = disp
        .post(&path(&id, "assign"), json!({"crew": "C-A"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    id
}

fn photo(seed: u32) -> Vec<u8> {
    server::demo::road_photo(seed, false, true)
}

fn status_of(v: &Value) -> &str {
    v["derived"]["status"].as_str().unwrap_or("")
}

async fn verify_and_reject(f: &Fixture) {
    seed(&f.db).await;
    let srv = tarmim_testing::start(f.db.clone(), f.config.clone()).await;
    let base = format!("http://{}", srv.addr);
    let disp = Api::login(srv.addr, "disp-d01", PASSWORD).await;
    let other = Api::login(srv.addr, "disp-d02", PASSWORD).await;
    let mgr = Api::login(srv.addr, "mgr-d01", PASSWORD).await;
    let task = assigned_task(&disp).await;

    // Not completed yet: a clear conflict, nothing recorded.
    let (s, r) = disp.post(&path(&task, "verify"), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{r}");
    assert!(r["message"].as_str().unwrap().contains("assigned"), "{r}");
    let (s, r) = disp
        .post(&path(&task, "reject"), json!({"reason": "not done"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{r}");

    // The crew's phone receives the job, does it and completes it with a real photo.
    let mut phone = HttpPhone::login(
        &base,
        "crew-a",
        PASSWORD,
        "phone-a",
        Store::open_in_memory().unwrap(),
    )
    .await
    .unwrap();
    phone.sync().await.unwrap();
    assert_eq!(phone.status(&task).unwrap(), Some(Status::Assigned));
    let first = phone.complete_with_photo(&task, &photo(7)).await.unwrap();

    // The "to verify" list has it; the open queue too until the queue work moves it.
    let (s, list) = disp.get("/api/v1/console/verify").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == task.as_str()),
        "{list}"
    );
    let (_, list) = other.get("/api/v1/console/verify").await;
    assert_eq!(
        list,
        json!([]),
        "another district's dispatcher sees nothing"
    );

    // The evidence: the after photo, stored, with its public sizes and the original.
    let (s, ev) = disp.get(&path(&task, "evidence")).await;
    assert_eq!(s, StatusCode::OK, "{ev}");
    assert_eq!(ev["decidable"], true, "{ev}");
    let p = &ev["photos"][0];
    assert_eq!(p["hash"], first.as_str(), "{ev}");
    assert_eq!(p["kind"], "after");
    assert_eq!(p["uploaded"], true, "{ev}");
    assert!(
        p["flags"]
            .as_array()
            .unwrap()
            .contains(&json!("no_exif_place")),
        "{ev}"
    );
    for url in ["thumb_url", "display_url"] {
        let r = tarmim_testing::http()
            .get(format!("{base}{}", p[url].as_str().unwrap()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{url}");
    }
    assert!(p["original_url"].as_str().is_some(), "{ev}");
    let (s, _) = other.get(&path(&task, "evidence")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Outside the caller's districts: not found. A manager: forbidden. No reason: 400.
    let (s, r) = other.post(&path(&task, "verify"), json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{r}");
    let (s, r) = other
        .post(&path(&task, "reject"), json!({"reason": "no"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{r}");
    let (s, r) = mgr.post(&path(&task, "verify"), json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{r}");
    for body in [json!({"reason": "  "}), json!({"reason": ""}), json!({})] {
        let (s, r) = disp.post(&path(&task, "reject"), body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {r}");
    }
    let (_, t) = disp.get(&format!("/api/v1/console/tasks/{task}")).await;
    assert_eq!(status_of(&t["task"]), "completed", "nothing recorded");

    // Rejected: back to the same crew, counted; the phone receives it.
    let (s, r) = disp
        .post(
            &path(&task, "reject"),
            json!({"reason": "The after photo shows the hole still open"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(status_of(&r), "reopened");
    assert_eq!(r["derived"]["assignee"], "C-A");
    assert_eq!(r["derived"]["rejections"], 1);
    phone.sync().await.unwrap();
    assert_eq!(phone.status(&task).unwrap(), Some(Status::Reopened));
    let (_, list) = disp.get("/api/v1/console/verify").await;
    assert!(
        !list
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == task.as_str()),
        "{list}"
    );

    // The crew does it again; the dispatcher verifies; verifying again is a conflict.
    phone.complete_with_photo(&task, &photo(8)).await.unwrap();
    let (s, r) = disp.post(&path(&task, "verify"), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(status_of(&r), "verified");
    let (s, r) = disp.post(&path(&task, "verify"), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{r}");
    assert!(r["message"].as_str().unwrap().contains("verified"), "{r}");
    let (_, ev) = disp.get(&path(&task, "evidence")).await;
    assert_eq!(ev["decidable"], false);
    assert_eq!(ev["photos"].as_array().unwrap().len(), 2, "{ev}");
    srv.shutdown().await.unwrap();
}

/// Two replicas on one database verify the same task at once: one commits, the other is
/// told the task is already verified.
async fn a_race_of_two_verifications(f: &Fixture) {
    seed(&f.db).await;
    let r1 = tarmim_testing::start(f.db.clone(), f.config.clone()).await;
    let r2 = tarmim_testing::start(f.db.clone(), f.config.clone()).await;
    let a = Api::login(r1.addr, "disp-d01", PASSWORD).await;
    let b = Api::login(r2.addr, "disp-d01b", PASSWORD).await;
    for round in 0..3 {
        let task = assigned_task(&a).await;
        let mut phone = HttpPhone::login(
            &format!("http://{}", r1.addr),
            "crew-a",
            PASSWORD,
            &format!("phone-a{round}"),
            Store::open_in_memory().unwrap(),
        )
        .await
        .unwrap();
        phone.sync().await.unwrap();
        phone
            .complete_with_photo(&task, &photo(20 + round))
            .await
            .unwrap();
        let url = path(&task, "verify");
        let (x, y) = tokio::join!(a.post(&url, json!({})), b.post(&url, json!({})));
        let mut codes = [x.0, y.0];
        codes.sort();
        assert_eq!(codes, [StatusCode::OK, StatusCode::CONFLICT], "{x:?} {y:?}");
        let loser = if x.0 == StatusCode::CONFLICT {
            x.1
        } else {
            y.1
        };
        assert!(
            loser["message"].as_str().unwrap().contains("verified"),
            "{loser}"
        );
        let (_, t) = a.get(&format!("/api/v1/console/tasks/{task}")).await;
        let verified = t["task"]["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event"]["kind"]["kind"] == "verified")
            .count();
        assert_eq!(verified, 1, "{t}");
    }
    r1.shutdown().await.unwrap();
    r2.shutdown().await.unwrap();
}

on_both_backends!(verify_and_reject, a_race_of_two_verifications);

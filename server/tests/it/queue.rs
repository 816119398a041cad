//! The console's complete queue on both backends: paging with a total (no silent cap),
//! counts per state, filters, search by task id, tracking code and title, and bad input;
//! the benchmarks' load (`demo seed-load`) paged through to its last task.

use reqwest::StatusCode;
use serde_json::{Value, json};
use server::domain::identity::{UserRole, hash_password};
use tarmim_testing::{Api, Fixture, on_both_backends};

const PASSWORD: &str = "pass-word-1";

fn ids(page: &Value) -> Vec<String> {
    page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn the_queue_pages_filters_and_searches(f: &Fixture) {
    tarmim_testing::demo_map(&f.db).await;
    let hash = hash_password(PASSWORD).unwrap();
    tarmim_testing::add_user(
        &f.db,
        "u-d1",
        "disp-d01",
        &hash,
        UserRole::Dispatcher,
        None,
        vec!["D01".into()],
    )
    .await;
    tarmim_testing::add_user(
        &f.db,
        "u-d2",
        "disp-d02",
        &hash,
        UserRole::Dispatcher,
        None,
        vec!["D02".into()],
    )
    .await;
    let srv = tarmim_testing::start(f.db.clone(), f.config.clone()).await;
    let disp = Api::login(srv.addr, "disp-d01", PASSWORD).await;
    let other = Api::login(srv.addr, "disp-d02", PASSWORD).await;
    let mut filed = Vec::new();
    for (k, priority) in ["low", "normal", "high", "normal", "low"]
        .iter()
        .enumerate()
    {
        let (s, t) = disp
            .post(
                "/api/v1/console/tasks",
                json!({"category": "pothole", "title": format!("Hole number {k}"), "lat": 35.72, "lon": 51.3375,
                       "priority": priority, "address": format!("{k} Shariati St")}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
        filed.push(t);
    }
    let r = disp.raw("/api/v1/console/queue?limit=2").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-total-count"], "5");
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["total"], 5);
    assert_eq!(page["counts"]["new"], 5, "{page}");
    assert_eq!(page["counts"]["to_verify"], 0);
    // The most urgent first.
    assert_eq!(page["rows"][0]["priority"], "high", "{page}");
    let mut all = Vec::new();
    for offset in [0, 2, 4] {
        let (_, p) = disp
            .get(&format!("/api/v1/console/queue?limit=2&offset={offset}"))
            .await;
        all.extend(ids(&p));
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 5, "every task on exactly one page");

    let (_, p) = disp.get("/api/v1/console/queue?priority=low").await;
    assert_eq!(p["total"], 2);
    let id = filed[3]["task"]["id"].as_str().unwrap();
    let (_, p) = disp.get(&format!("/api/v1/console/queue?q={id}")).await;
    assert_eq!(ids(&p), [id]);
    let code = filed[1]["tracking_code"].as_str().unwrap().to_lowercase();
    let (_, p) = disp.get(&format!("/api/v1/console/queue?q={code}")).await;
    assert_eq!(ids(&p), [filed[1]["task"]["id"].as_str().unwrap()], "{p}");
    let (_, p) = disp.get("/api/v1/console/queue?q=number%202").await;
    assert_eq!(p["total"], 1, "{p}");
    let (_, p) = disp.get("/api/v1/console/queue?q=4%20shariati").await;
    assert_eq!(p["total"], 1, "{p}");
    let (_, p) = disp.get("/api/v1/console/queue?state=to_verify").await;
    assert_eq!(p["total"], 0);
    let (_, p) = disp.get("/api/v1/console/queue?district=D02").await;
    assert_eq!(p["total"], 0);
    let (_, p) = other.get("/api/v1/console/queue").await;
    assert_eq!(p["total"], 0, "another district's dispatcher sees none");
    for bad in [
        "state=done",
        "limit=0",
        "limit=501",
        "offset=-1",
        "priority=soon",
        "colour=red",
    ] {
        let (s, b) = disp.get(&format!("/api/v1/console/queue?{bad}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {b}");
    }
    srv.shutdown().await.unwrap();
}

fn cli(f: &Fixture, args: &[&str]) -> std::process::Output {
    tarmim_testing::cli(env!("CARGO_BIN_EXE_tarmim-server"), f, args, None, &[])
}

/// The benchmarks' load (`demo seed-load`, hidden) commits open tasks in the districts
/// asked for, and every one of them is in the queue, page after page.
async fn a_seeded_load_is_in_the_queue_to_the_last_task(f: &Fixture) {
    tarmim_testing::demo_map(&f.db).await;
    tarmim_testing::add_crew(&f.db, "C-L1", "D01", &["pothole"]).await;
    let hash = hash_password(PASSWORD).unwrap();
    tarmim_testing::add_user(
        &f.db,
        "u-d12",
        "disp-d12",
        &hash,
        UserRole::Dispatcher,
        None,
        vec!["D01".into(), "D02".into()],
    )
    .await;
    let out = cli(
        f,
        &[
            "demo",
            "seed-load",
            "--tasks",
            "120",
            "--districts",
            "D01,D02",
        ],
    );
    let out = tarmim_testing::ok(&out);
    assert!(out.contains("load: 120 open tasks in D01, D02"), "{out}");
    for bad in [["--districts", "D99"], ["--tasks", "-1"]] {
        let out = cli(f, &["demo", "seed-load", bad[0], bad[1]]);
        assert!(!out.status.success(), "{bad:?} was accepted");
    }
    let out = cli(f, &["demo", "seed-load", "--districts", "D99"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no district \"D99\""),
        "{out:?}"
    );

    let srv = tarmim_testing::start(f.db.clone(), f.config.clone()).await;
    let disp = Api::login(srv.addr, "disp-d12", PASSWORD).await;
    let mut seen = Vec::new();
    for offset in (0..150).step_by(50) {
        let r = disp
            .raw(&format!("/api/v1/console/queue?limit=50&offset={offset}"))
            .await;
        assert_eq!(r.headers()["x-total-count"], "120");
        let page: Value = r.json().await.unwrap();
        let c = &page["counts"];
        let open = c["new"].as_i64().unwrap()
            + c["assigned"].as_i64().unwrap()
            + c["acknowledged"].as_i64().unwrap();
        assert_eq!(open, 120, "{c}");
        seen.extend(ids(&page));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 120, "every task on exactly one page");
    assert!(seen.iter().all(|id| id.starts_with("L-")));
    srv.shutdown().await.unwrap();
}

on_both_backends!(
    the_queue_pages_filters_and_searches,
    a_seeded_load_is_in_the_queue_to_the_last_task
);

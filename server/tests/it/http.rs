//! The real server on a loopback port, on both backends: health, readiness, metrics,
//! login/logout and the 401s.

use reqwest::StatusCode;
use serde_json::{Value, json};
use server::domain::identity::{UserRole, hash_password};
use server::http::{AppState, RunningServer};
use server::storage::{Crew, IdentityStore, NewUser};
use tarmim_testing::Fixture;
use tarmim_testing::on_both_backends;

async fn real_server(f: &Fixture) {
    f.db.upsert_crew(&Crew {
        id: "C-7".into(),
        name: "Seven".into(),
        district: "D7".into(),
        skills: vec!["pothole".into()],
        contractor: None,
        on_duty: true,
    })
    .await
    .unwrap();
    f.db.create_user(&NewUser {
        contractor: None,
        id: "u-reza".into(),
        login: "reza".into(),
        password_hash: hash_password("pass-word-1").unwrap(),
        role: UserRole::Crew,
        crew: Some("C-7".into()),
        districts: vec![],
    })
    .await
    .unwrap();
    let mut config = f.config.clone();
    config.crew_sees_district_open = true;
    let state = AppState::new(f.db.clone(), config);
    let server = RunningServer::start(state, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", server.addr);
    let http = tarmim_testing::http();

    let r = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ready");

    // Wrong password and unknown user: the same 401 body.
    let bad = |login: &str| {
        http.post(format!("{base}/api/v1/login"))
            .json(&json!({"login": login, "password": "nope", "device_id": "phone-1"}))
            .send()
    };
    let r1 = bad("reza").await.unwrap();
    assert_eq!(r1.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r1.headers()["www-authenticate"], "Bearer");
    let b1: Value = r1.json().await.unwrap();
    let b2: Value = bad("nobody").await.unwrap().json().await.unwrap();
    assert_eq!(b1, b2);
    assert_eq!(b1["error"], "unauthorized");
    assert_eq!(b1["message"], "invalid login or password");

    // A body that is not a login request.
    let r = http
        .post(format!("{base}/api/v1/login"))
        .header("content-type", "application/json")
        .body("{\"login\": 1}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "bad_request");

    let r = http
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"login": "reza", "password": "pass-word-1", "device_id": "phone-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let login: Value = r.json().await.unwrap();
    let token = login["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("tmt_"));
    assert_eq!(login["token_type"], "Bearer");
    assert_eq!(login["me"]["scopes"], json!(["crew:C-7", "open:D7"]));

    let me = |auth: Option<String>| {
        let mut req = http.get(format!("{base}/api/v1/me"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.send()
    };
    let r = me(Some(format!("Bearer {token}"))).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["login"], "reza");
    assert_eq!(body["role"], "crew");
    assert_eq!(body["device_id"], "phone-1");

    // Missing, malformed, unknown: 401 with a JSON body each.
    for (auth, message) in [
        (None, "missing bearer token (Authorization: Bearer <token>)"),
        (
            Some(format!("Basic {token}")),
            "malformed Authorization header: expected `Bearer <token>`",
        ),
        (
            Some("Bearer".to_owned()),
            "malformed Authorization header: expected `Bearer <token>`",
        ),
        (
            Some(format!("Bearer {}x", &token[..token.len() - 1])),
            "invalid, expired or revoked token",
        ),
    ] {
        let r = me(auth.clone()).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
        assert_eq!(body["message"], message);
    }

    // Logout revokes the token.
    let r = http
        .post(format!("{base}/api/v1/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = me(Some(format!("Bearer {token}"))).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<Value>().await.unwrap()["message"],
        "invalid, expired or revoked token"
    );

    let r = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "metrics are not public"
    );
    let r = http
        .get(format!("{base}/metrics"))
        .bearer_auth(tarmim_testing::METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains("path=\"/api/v1/login\""), "{text}");
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("tarmim_logins_total"), "{text}");

    let r = http
        .get(format!("{base}/no-such-route"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    server.shutdown().await.unwrap();
    assert!(http.get(format!("{base}/healthz")).send().await.is_err());
}

on_both_backends!(real_server);

/// Shutdown lets a request that is already being handled finish, and only then returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_requests() {
    use axum::routing::get;
    use std::time::{Duration, Instant};
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel::<()>();
    let entered_tx = std::sync::Arc::new(std::sync::Mutex::new(Some(entered_tx)));
    let app = axum::Router::new().route(
        "/slow",
        get(move || {
            let entered_tx = entered_tx.clone();
            async move {
                if let Some(tx) = entered_tx.lock().unwrap().take() {
                    let _ = tx.send(());
                }
                tokio::time::sleep(Duration::from_millis(400)).await;
                "done"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::http::serve_router(app, listener, async move {
        let _ = stop_rx.await;
    }));
    let request = tokio::spawn(async move {
        tarmim_testing::http()
            .get(format!("http://{addr}/slow"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    entered_rx.await.unwrap();
    let asked = Instant::now();
    stop_tx.send(()).unwrap();
    assert_eq!(request.await.unwrap(), "done");
    server.await.unwrap().unwrap();
    assert!(
        asked.elapsed() >= Duration::from_millis(300),
        "waited for the request"
    );
    // No longer accepting.
    assert!(
        tarmim_testing::http()
            .get(format!("http://{addr}/slow"))
            .send()
            .await
            .is_err()
    );
}

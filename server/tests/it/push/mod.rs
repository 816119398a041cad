//! Push wake-ups of crews' phones (issue 20 §1), against local receivers that check each
//! request as the provider would ([`receivers`]): Web Push (VAPID verified, the RFC 8291
//! payload decrypted with the subscription's key), FCM HTTP v1 (the service account's
//! RS256 assertion verified with its public key, the token exchanged, a data-only
//! message) and APNs (HTTP/2 only, the ES256 provider token, `apns-*` headers). Then the
//! providers' errors (401, 404/410, 429 with `Retry-After`, 500, a hang), and, through
//! the real server on both backends, a device's registration and the trigger: an urgent
//! job for a disconnected crew's phone wakes it at once with nothing of the task in it,
//! a reassignment away is coalesced, an escalation wakes the next crew's phone, an
//! "unregistered" answer removes the token, and a provider that keeps failing ends in the
//! dead-letter list. The same through the phone library, the real server binary and an
//! Open311 report, for each of the three services: `mobile-bindings/tests/python/
//! test_push_wake.py`.
//!
//! The FCM service account's key is a throwaway RSA key generated for these tests
//! (`server/tests/fixtures/push/fcm-test-key.pem`); the other keys are made per run.

pub(crate) mod receivers;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use receivers::{ApnsReceiver, FcmReceiver, Reply, WebPushReceiver};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::base::config::Config;
use server::domain::identity::{UserRole, hash_password};
use server::domain::push::apns::{Apns, Settings};
use server::domain::push::fcm::{Fcm, ServiceAccount};
use server::domain::push::jws::Key;
use server::domain::push::webpush::WebPush;
use server::domain::push::{PushError, Pusher, Wake};
use server::storage::outbox as rows;
use server::storage::push as registrations;
use server::storage::{Db, IdentityStore, NewUser};
use std::time::Duration;
use tarmim_testing::{Api, Fixture, on_both_backends};

const PASSWORD: &str = "push-test-password";
const FCM_KEY: &str = include_str!("../../fixtures/push/fcm-test-key.pem");

fn wake(urgent: bool) -> Wake {
    Wake {
        urgent,
        ttl: Duration::from_secs(600),
    }
}

fn vapid_key() -> (String, String) {
    let secret = loop {
        if let Ok(k) = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
            break k;
        }
    };
    (
        B64.encode(secret.to_bytes()),
        B64.encode(secret.public_key().to_sec1_bytes()),
    )
}

/// Only "sync now" reaches the device: no task id, title, place or anything else.
fn assert_contentless(payload: &Value) {
    let keys: Vec<&String> = payload.as_object().unwrap().keys().collect();
    for k in &keys {
        assert!(
            ["t", "urgent", "aps"].contains(&k.as_str()),
            "unexpected key {k} in {payload}"
        );
    }
    assert_eq!(payload["t"], "sync", "{payload}");
    let text = payload.to_string();
    assert!(!text.contains("T-"), "a task id in {text}");
}

// ------------------------------------------------------------------ wire formats

#[tokio::test]
async fn webpush_is_encrypted_and_vapid_signed() {
    server::base::tls::install_crypto_provider();
    let (private, public) = vapid_key();
    let rx = WebPushReceiver::start(&public).await;
    let p = WebPush::new(&private, "mailto:ops@137.example", Duration::from_secs(1)).unwrap();
    assert_eq!(p.public_key(), public);
    let sub = rx.subscription("dev-1");
    p.push(&sub, &wake(true)).await.unwrap();
    p.push(&sub, &wake(false)).await.unwrap();
    assert_eq!(rx.log.refused(), Vec::<String>::new());
    let got = rx.log.got();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].to, "/push/dev-1");
    assert!(got[0].urgent && !got[1].urgent);
    for g in &got {
        assert_contentless(&g.payload);
    }
    assert_eq!(got[0].payload["urgent"], true);

    // The provider's errors, each as the outbox must treat it.
    rx.log.script(Reply::Status(410, None, "gone"));
    assert!(matches!(
        p.push(&sub, &wake(false)).await,
        Err(PushError::Unregistered(_))
    ));
    rx.log
        .script(Reply::Status(404, None, "no such subscription"));
    assert!(matches!(
        p.push(&sub, &wake(false)).await,
        Err(PushError::Unregistered(_))
    ));
    rx.log.script(Reply::Status(401, None, "bad vapid"));
    assert!(matches!(
        p.push(&sub, &wake(false)).await,
        Err(PushError::Unauthorized(_))
    ));
    rx.log.script(Reply::Status(429, Some("17"), "slow down"));
    match p.push(&sub, &wake(false)).await {
        Err(PushError::RateLimited { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(17)));
        }
        other => panic!("{other:?}"),
    }
    rx.log.script(Reply::Status(500, None, "oops"));
    assert!(matches!(
        p.push(&sub, &wake(false)).await,
        Err(PushError::Unavailable(_))
    ));
    rx.log.script(Reply::Hang);
    match p.push(&sub, &wake(false)).await {
        Err(PushError::Unavailable(why)) => assert!(why.contains("timed out"), "{why}"),
        other => panic!("{other:?}"),
    }
    // A subscription whose key the receiver does not hold cannot be decrypted there.
    let other = WebPushReceiver::start(&public).await;
    let wrong_keys: Value = serde_json::from_str(&other.subscription("x")).unwrap();
    let mut mixed: Value = serde_json::from_str(&sub).unwrap();
    mixed["keys"] = wrong_keys["keys"].clone();
    assert!(p.push(&mixed.to_string(), &wake(false)).await.is_err());
    assert!(rx.log.refused().iter().any(|r| r.contains("decrypt")));
    // A malformed subscription is never sent anywhere.
    assert!(matches!(
        p.push("{\"endpoint\": 5}", &wake(false)).await,
        Err(PushError::Unregistered(_))
    ));
    // A different VAPID key is refused by the receiver (it checks k= against its own).
    let (private2, _) = vapid_key();
    let p2 = WebPush::new(&private2, "mailto:ops@137.example", Duration::from_secs(1)).unwrap();
    assert!(p2.push(&sub, &wake(false)).await.is_err());
    // Bad VAPID configuration.
    assert!(WebPush::new("AAAA", "mailto:x@y", Duration::from_secs(1)).is_err());
    assert!(WebPush::new(&private, "ops@137.example", Duration::from_secs(1)).is_err());
}

fn service_account(token_uri: &str) -> ServiceAccount {
    ServiceAccount {
        client_email: "tarmim@tarmim-test.iam.gserviceaccount.com".into(),
        private_key: FCM_KEY.into(),
        project_id: "tarmim-test".into(),
        token_uri: token_uri.into(),
    }
}

fn fcm_public() -> rsa::RsaPublicKey {
    use rsa::pkcs8::DecodePrivateKey;
    rsa::RsaPrivateKey::from_pkcs8_pem(FCM_KEY)
        .unwrap()
        .to_public_key()
}

#[tokio::test]
async fn fcm_exchanges_a_signed_assertion_and_sends_data_only() {
    server::base::tls::install_crypto_provider();
    let rx = FcmReceiver::start(
        fcm_public(),
        "tarmim@tarmim-test.iam.gserviceaccount.com",
        "tarmim-test",
    )
    .await;
    let base = format!("http://{}", rx.addr);
    // The file's token_uri is wrong; the configured override is used.
    let p = Fcm::new(
        service_account("https://oauth2.invalid/token"),
        Some(format!("{base}/token")),
        &base,
        Duration::from_secs(1),
    )
    .unwrap();
    p.push("fcm-token-1", &wake(true)).await.unwrap();
    p.push("fcm-token-1", &wake(false)).await.unwrap();
    assert_eq!(rx.log.refused(), Vec::<String>::new());
    assert_eq!(rx.log.exchanges(), 1, "the access token is reused");
    let got = rx.log.got();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].to, "fcm-token-1");
    assert!(got[0].urgent && !got[1].urgent);
    for g in &got {
        assert_contentless(&g.payload);
    }
    // 401: the access token is dropped, and the next push exchanges a new one.
    rx.log.script(Reply::Status(
        401,
        None,
        r#"{"error":{"status":"UNAUTHENTICATED"}}"#,
    ));
    assert!(matches!(
        p.push("fcm-token-1", &wake(false)).await,
        Err(PushError::Unauthorized(_))
    ));
    p.push("fcm-token-1", &wake(false)).await.unwrap();
    assert_eq!(rx.log.exchanges(), 2);
    rx.log.script(Reply::Status(
        404,
        None,
        r#"{"error":{"status":"NOT_FOUND","details":[{"errorCode":"UNREGISTERED"}]}}"#,
    ));
    assert!(matches!(
        p.push("fcm-token-1", &wake(false)).await,
        Err(PushError::Unregistered(_))
    ));
    rx.log.script(Reply::Status(400, None, r#"{"error":{"status":"INVALID_ARGUMENT","message":"The registration token is not a valid FCM registration token"}}"#));
    assert!(matches!(
        p.push("fcm-token-1", &wake(false)).await,
        Err(PushError::Unregistered(_))
    ));
    rx.log.script(Reply::Status(429, Some("30"), "quota"));
    assert!(matches!(
        p.push("fcm-token-1", &wake(false)).await,
        Err(PushError::RateLimited { retry_after: Some(d), .. }) if d == Duration::from_secs(30)
    ));
    rx.log.script(Reply::Hang);
    assert!(matches!(
        p.push("fcm-token-1", &wake(false)).await,
        Err(PushError::Unavailable(_))
    ));

    // A provider that knows another key for the account: the exchange is refused.
    let rx2 = FcmReceiver::start(
        {
            use rsa::pkcs8::DecodePublicKey;
            rsa::RsaPublicKey::from_public_key_pem(OTHER_PUBLIC).unwrap()
        },
        "tarmim@tarmim-test.iam.gserviceaccount.com",
        "tarmim-test",
    )
    .await;
    let base2 = format!("http://{}", rx2.addr);
    let p2 = Fcm::new(
        service_account(&format!("{base2}/token")),
        None,
        &base2,
        Duration::from_secs(1),
    )
    .unwrap();
    assert!(matches!(
        p2.push("t", &wake(false)).await,
        Err(PushError::Unauthorized(_))
    ));
    assert!(
        rx2.log.refused()[0].contains("signature"),
        "{:?}",
        rx2.log.refused()
    );
    assert!(
        Fcm::new(
            ServiceAccount {
                private_key: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----".into(),
                ..service_account("http://x")
            },
            None,
            "http://x",
            Duration::from_secs(1)
        )
        .is_err()
    );
}

/// A public key that is not the service account's (another throwaway RSA key).
const OTHER_PUBLIC: &str = include_str!("../../fixtures/push/other-public.pem");

#[tokio::test]
async fn apns_speaks_http2_with_a_provider_token() {
    use p256::pkcs8::EncodePrivateKey;
    server::base::tls::install_crypto_provider();
    let secret = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()).unwrap();
    let verifying = p256::ecdsa::SigningKey::from(secret.clone())
        .verifying_key()
        .to_owned();
    let rx = ApnsReceiver::start(verifying, "KEY123", "TEAM45", "org.tarmim.crew").await;
    let settings = |endpoint: String| Settings {
        key_id: "KEY123".into(),
        team_id: "TEAM45".into(),
        topic: "org.tarmim.crew".into(),
        endpoint,
        timeout: Duration::from_secs(1),
    };
    let pem = secret.to_pkcs8_pem(Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("AuthKey_KEY123.p8");
    std::fs::write(&path, pem.as_bytes()).unwrap();
    let p = Apns::from_file(&path, settings(format!("http://{}", rx.addr))).unwrap();
    let token = "ab".repeat(32);
    p.push(&token, &wake(true)).await.unwrap();
    p.push(&token, &wake(false)).await.unwrap();
    assert_eq!(rx.log.refused(), Vec::<String>::new());
    let got = rx.log.got();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].to, token);
    assert!(got[0].urgent && !got[1].urgent);
    for g in &got {
        assert_contentless(&g.payload);
    }
    assert_eq!(
        got[0].payload["aps"]["alert"]["loc-key"],
        "TARMIM_URGENT_JOB"
    );
    assert!(got[1].payload["aps"].get("alert").is_none());

    rx.log
        .script(Reply::Status(410, None, r#"{"reason":"Unregistered"}"#));
    assert!(matches!(
        p.push(&token, &wake(false)).await,
        Err(PushError::Unregistered(_))
    ));
    rx.log
        .script(Reply::Status(400, None, r#"{"reason":"BadDeviceToken"}"#));
    assert!(matches!(
        p.push(&token, &wake(false)).await,
        Err(PushError::Unregistered(_))
    ));
    rx.log.script(Reply::Status(
        403,
        None,
        r#"{"reason":"ExpiredProviderToken"}"#,
    ));
    assert!(matches!(
        p.push(&token, &wake(false)).await,
        Err(PushError::Unauthorized(_))
    ));
    rx.log.script(Reply::Status(
        429,
        Some("5"),
        r#"{"reason":"TooManyRequests"}"#,
    ));
    assert!(matches!(
        p.push(&token, &wake(false)).await,
        Err(PushError::RateLimited { retry_after: Some(d), .. }) if d == Duration::from_secs(5)
    ));
    rx.log.script(Reply::Hang);
    assert!(matches!(
        p.push(&token, &wake(false)).await,
        Err(PushError::Unavailable(_))
    ));
    // A token that is not hex never leaves.
    assert!(matches!(
        p.push("../../etc", &wake(false)).await,
        Err(PushError::Unregistered(_))
    ));

    // Signed with another key: the receiver answers as APNs does (403 InvalidProviderToken).
    let other = Key::es256_raw_b64(&B64.encode(rand::random::<[u8; 32]>())).unwrap();
    let p2 = Apns::new(other, settings(format!("http://{}", rx.addr))).unwrap();
    assert!(matches!(
        p2.push(&token, &wake(false)).await,
        Err(PushError::Unauthorized(_))
    ));
    // An HTTP/1.1 request is not served: the receiver is HTTP/2 only, like APNs.
    let h1 = tarmim_testing::http_builder()
        .http1_only()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap()
        .post(format!("http://{}/3/device/{token}", rx.addr))
        .send()
        .await;
    assert!(h1.is_err() || !h1.unwrap().status().is_success());
    // Missing settings are refused at start.
    assert!(
        Apns::from_file(
            &path,
            Settings {
                topic: String::new(),
                ..settings("http://x".into())
            }
        )
        .is_err()
    );
}

// ------------------------------------------------------------------ through the server

async fn seed(db: &Db) {
    tarmim_testing::demo_map(db).await;
    for (crew, skills) in [
        ("C-A", &["water_leak", "pothole"][..]),
        ("C-B", &["pothole"][..]),
    ] {
        tarmim_testing::add_crew(db, crew, "D01", skills).await;
        db.create_user(&NewUser {
            contractor: None,
            id: format!("u-{crew}"),
            login: crew.to_lowercase(),
            password_hash: hash_password(PASSWORD).unwrap(),
            role: UserRole::Crew,
            crew: Some(crew.into()),
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
        districts: vec!["D01".into()],
    })
    .await
    .unwrap();
}

fn config(f: &Fixture, vapid_private: &str) -> Config {
    let mut c = f.config.clone();
    c.outbox.tick_ms = 50;
    c.outbox.retry_secs = 0;
    c.outbox.max_attempts = 3;
    c.push.vapid_private_key = Some(vapid_private.into());
    c.push.allow_http_endpoints = true;
    c.push.timeout_secs = 1;
    // The coalescing interval is the store's commit hook's: the fixture's store is opened
    // with the default (60 s), as `open_store` does with `[push] coalesce_secs`.
    assert_eq!(c.push.coalesce_secs, 60);
    c
}

fn centre_d01() -> (f64, f64) {
    (35.735 - 0.015, 51.32 + 0.0175)
}

async fn file_urgent(disp: &Api, category: &str) -> Value {
    let (lat, lon) = centre_d01();
    let (s, r) = disp
        .post(
            "/api/v1/console/tasks",
            json!({"category": category, "title": "Burst main", "lat": lat, "lon": lon, "priority": "urgent"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    r
}

async fn wait_for<F: AsyncFnMut() -> bool>(what: &str, mut ok: F) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !ok().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A crew's phone syncing over HTTP (the device `dev-<login>`, a fresh store).
async fn phone(addr: std::net::SocketAddr, login: &str) -> tarmim_testing::phone::HttpPhone {
    let store = sync_core::store::Store::open_in_memory().unwrap();
    tarmim_testing::phone::HttpPhone::login(
        &format!("http://{addr}"),
        login,
        PASSWORD,
        &format!("dev-{login}"),
        store,
    )
    .await
    .unwrap()
}

async fn registration_is_checked_and_replaced(f: &Fixture) {
    seed(&f.db).await;
    let (private, public) = vapid_key();
    let srv = tarmim_testing::start(f.db.clone(), config(f, &private)).await;
    let crew = Api::login(srv.addr, "c-a", PASSWORD).await;
    let put = |kind: &str, token: String| json!({"kind": kind, "token": token});

    let (s, _) = crew
        .put("/api/v1/me/push", put("fcm", "tok-1:abc".into()))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let reg = registrations::of_device(&f.db, "dev-c-a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (reg.kind.as_str(), reg.token.as_str()),
        ("fcm", "tok-1:abc")
    );
    // A rotated token replaces the old one; so does a change of service.
    let (s, _) = crew
        .put("/api/v1/me/push", put("fcm", "tok-2:def".into()))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        registrations::of_device(&f.db, "dev-c-a")
            .await
            .unwrap()
            .unwrap()
            .token,
        "tok-2:def"
    );
    let rx = WebPushReceiver::start(&public).await;
    let (s, b) = crew
        .put("/api/v1/me/push", put("webpush", rx.subscription("a")))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    assert_eq!(
        registrations::of_device(&f.db, "dev-c-a")
            .await
            .unwrap()
            .unwrap()
            .kind,
        "webpush"
    );
    // The same token registered from another device (a reinstall) leaves the first.
    let body = tarmim_testing::login(srv.addr, "c-a", PASSWORD, "dev-c-a-2").await;
    let second = Api {
        token: Some(body["token"].as_str().unwrap().to_owned()),
        ..Api::anonymous(srv.addr)
    };
    let (s, _) = second
        .put("/api/v1/me/push", put("webpush", rx.subscription("a")))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(
        registrations::of_device(&f.db, "dev-c-a")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        registrations::of_device(&f.db, "dev-c-a-2")
            .await
            .unwrap()
            .is_some()
    );

    // Bad input: each a 400 with words, nothing stored.
    let sub: Value = serde_json::from_str(&rx.subscription("b")).unwrap();
    let with = |k: &str, v: Value| {
        let mut s = sub.clone();
        s[k] = v;
        s.to_string()
    };
    let mut bad_key = sub.clone();
    bad_key["keys"]["p256dh"] = json!(B64.encode([4u8; 65]));
    let bad = [
        put("carrier-pigeon", "x".into()),
        put("fcm", "x".repeat(10 * 1024)),
        put("fcm", String::new()),
        put("fcm", "two words".into()),
        put("apns", "not-hex".into()),
        put("webpush", "{}".into()),
        put("webpush", "not json".into()),
        put("webpush", bad_key.to_string()),
        put("webpush", with("endpoint", json!("ftp://push.example/x"))),
        put("webpush", with("expirationTime", json!(1000))),
    ];
    for b in bad {
        let (s, body) = crew.put("/api/v1/me/push", b.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    let (s, _) = crew.put("/api/v1/me/push", json!({"kind": "fcm"})).await;
    assert!(s.is_client_error());
    assert!(
        registrations::of_device(&f.db, "dev-c-a")
            .await
            .unwrap()
            .is_none()
    );
    // Without credentials.
    let (s, _) = Api::anonymous(srv.addr)
        .put("/api/v1/me/push", put("fcm", "t".into()))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Unregistering.
    let (s, _) = second
        .send(reqwest::Method::DELETE, "/api/v1/me/push", None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(
        registrations::of_device(&f.db, "dev-c-a-2")
            .await
            .unwrap()
            .is_none()
    );
    // The VAPID key pages and apps subscribe with.
    let v = Api::anonymous(srv.addr).ok("/api/v1/push/vapid").await;
    assert_eq!(v["public_key"], public.as_str());
    srv.shutdown().await.unwrap();
}

async fn a_disconnected_crew_phone_is_woken(f: &Fixture) {
    seed(&f.db).await;
    let (private, public) = vapid_key();
    let srv = tarmim_testing::start(f.db.clone(), config(f, &private)).await;
    let rx = WebPushReceiver::start(&public).await;
    let crew_a = Api::login(srv.addr, "c-a", PASSWORD).await;
    let crew_b = Api::login(srv.addr, "c-b", PASSWORD).await;
    let disp = Api::login(srv.addr, "disp", PASSWORD).await;
    for (c, id) in [(&crew_a, "a"), (&crew_b, "b")] {
        let (s, _) = c
            .put(
                "/api/v1/me/push",
                json!({"kind": "webpush", "token": rx.subscription(id)}),
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
    }

    // 1. An urgent water leak in D01: only C-A has the skill; its phone is woken at once,
    //    at high urgency, and the wake-up names nothing of the task.
    let t1 = file_urgent(&disp, "water_leak").await;
    assert_eq!(t1["dispatch"]["crew"], "C-A", "{t1}");
    let task1 = t1["task"]["id"].as_str().unwrap().to_owned();
    wait_for("C-A's wake-up", async || !rx.log.got().is_empty()).await;
    let got = rx.log.got();
    assert_eq!(got[0].to, "/push/a");
    assert!(got[0].urgent);
    assert_contentless(&got[0].payload);
    assert!(!got[0].payload.to_string().contains(&task1));
    assert_eq!(rx.log.refused(), Vec::<String>::new());
    // The receiver records the wake-up before it answers: the row is marked sent a
    // moment later.
    wait_for("the wake-up marked sent", async || {
        let w = rows::wakes_of(&f.db, "dev-c-a").await.unwrap();
        w.first().is_some_and(|w| w.state == "sent")
    })
    .await;
    let wakes = rows::wakes_of(&f.db, "dev-c-a").await.unwrap();
    assert_eq!(wakes.len(), 1);
    assert_eq!(
        (wakes[0].state.as_str(), wakes[0].event.as_deref()),
        ("sent", Some("urgent"))
    );
    // The woken phone syncs and has the task.
    let mut phone = phone(srv.addr, "c-a").await;
    phone.sync().await.unwrap();
    assert!(phone.tasks().unwrap().contains(&task1));

    // 2. Reassigned away to C-B: C-B is woken (not urgent: a pothole crew's normal
    //    wake-up) and C-A is told to sync — coalesced: C-A had a wake-up within the
    //    interval, so this one waits for the interval's end instead of going now.
    let (s, r) = disp
        .post(
            &format!("/api/v1/console/tasks/{task1}/assign"),
            json!({"crew": "C-B", "override": "the leak is by C-B's yard"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    wait_for("C-B's wake-up", async || {
        rx.log.got().iter().any(|g| g.to == "/push/b")
    })
    .await;
    let b = rx
        .log
        .got()
        .into_iter()
        .find(|g| g.to == "/push/b")
        .unwrap();
    assert!(
        b.urgent,
        "an urgent task's assignment is urgent for the new crew"
    );
    let wakes = rows::wakes_of(&f.db, "dev-c-a").await.unwrap();
    assert_eq!(wakes.len(), 2, "{wakes:?}");
    assert_eq!(
        (wakes[1].state.as_str(), wakes[1].event.as_deref()),
        ("pending", Some("sync"))
    );
    assert!(wakes[1].due_at >= wakes[0].due_at + 60_000, "{wakes:?}");
    // A third change while that one waits adds nothing: one pending wake-up covers it.
    let (s, _) = disp
        .post(
            &format!("/api/v1/console/tasks/{task1}/assign"),
            json!({"crew": "C-A"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = disp
        .post(
            &format!("/api/v1/console/tasks/{task1}/assign"),
            json!({"crew": "C-B", "override": "back again"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let wakes = rows::wakes_of(&f.db, "dev-c-a").await.unwrap();
    // The assignment back to C-A is urgent (its own row, sent at once); the second move
    // away is covered by the waiting one.
    assert_eq!(
        wakes
            .iter()
            .filter(|w| w.event.as_deref() == Some("sync"))
            .count(),
        1,
        "{wakes:?}"
    );

    // 3. The provider says the subscription is gone: the registration is removed. (First
    //    every wake-up due now is sent, so the scripted answer meets the next one.)
    wait_for("the due wake-ups to go", async || {
        let now = server::base::time::now_millis();
        let mut due = 0;
        for d in ["dev-c-a", "dev-c-b"] {
            due += rows::wakes_of(&f.db, d)
                .await
                .unwrap()
                .iter()
                .filter(|w| w.state == "pending" && w.due_at <= now)
                .count();
        }
        due == 0
    })
    .await;
    rx.log.script(Reply::Status(410, None, "expired"));
    let t2 = file_urgent(&disp, "pothole").await;
    let task2 = t2["task"]["id"].as_str().unwrap().to_owned();
    let crew2 = t2["dispatch"]["crew"].as_str().unwrap().to_owned();
    let device = format!("dev-{}", crew2.to_lowercase());
    let row_of = async |device: &str, task: &str| {
        rows::wakes_of(&f.db, device)
            .await
            .unwrap()
            .into_iter()
            .find(|w| w.task == task && w.event.as_deref() == Some("urgent"))
    };
    wait_for("the unregistered answer", async || {
        row_of(&device, &task2)
            .await
            .is_some_and(|w| w.state != "pending")
    })
    .await;
    let last = row_of(&device, &task2).await.unwrap();
    assert_eq!(last.state, "skipped");
    assert!(last.last_error.unwrap().contains("unregistered"));
    assert!(
        registrations::of_device(&f.db, &device)
            .await
            .unwrap()
            .is_none()
    );

    // 4. 429 with Retry-After: retried no sooner than the provider asked.
    let other = if crew2 == "C-A" { &crew_b } else { &crew_a };
    let other_device = if crew2 == "C-A" { "dev-c-b" } else { "dev-c-a" };
    let (s, _) = other
        .put(
            "/api/v1/me/push",
            json!({"kind": "webpush", "token": rx.subscription("again")}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    rx.log.script(Reply::Status(429, Some("120"), "slow down"));
    let before = server::base::time::now_millis();
    let other_crew = if crew2 == "C-A" { "C-B" } else { "C-A" };
    let (s, r) = disp
        .post(
            &format!("/api/v1/console/tasks/{task2}/assign"),
            json!({"crew": other_crew, "override": "closer"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    wait_for("the 429", async || {
        rows::wakes_of(&f.db, other_device)
            .await
            .unwrap()
            .iter()
            .any(|w| w.attempts == 1 && w.state == "pending")
    })
    .await;
    let w = rows::wakes_of(&f.db, other_device)
        .await
        .unwrap()
        .into_iter()
        .find(|w| w.attempts == 1)
        .unwrap();
    assert!(w.due_at >= before + 120_000, "{w:?}");
    assert!(w.last_error.unwrap().contains("rate limited"));
    srv.shutdown().await.unwrap();
}

async fn a_failing_provider_is_retried_then_dead_lettered(f: &Fixture) {
    seed(&f.db).await;
    let (private, public) = vapid_key();
    let srv = tarmim_testing::start(f.db.clone(), config(f, &private)).await;
    let rx = WebPushReceiver::start(&public).await;
    let crew_a = Api::login(srv.addr, "c-a", PASSWORD).await;
    let disp = Api::login(srv.addr, "disp", PASSWORD).await;
    let (s, _) = crew_a
        .put(
            "/api/v1/me/push",
            json!({"kind": "webpush", "token": rx.subscription("a")}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // 500, a hang (the 1 s timeout), 500: three attempts, then the dead-letter list.
    rx.log.script(Reply::Status(500, None, "down"));
    rx.log.script(Reply::Hang);
    rx.log.script(Reply::Status(500, None, "down"));
    let t = file_urgent(&disp, "water_leak").await;
    assert_eq!(t["dispatch"]["crew"], "C-A");
    wait_for("the dead letter", async || {
        rows::wakes_of(&f.db, "dev-c-a")
            .await
            .unwrap()
            .iter()
            .any(|w| w.state == "dead")
    })
    .await;
    let w = &rows::wakes_of(&f.db, "dev-c-a").await.unwrap()[0];
    assert_eq!(w.attempts, 3);
    let dead = disp.ok("/api/v1/outbox/dead").await;
    assert!(
        dead.as_array().unwrap().iter().any(|d| d["kind"] == "wake"),
        "{dead}"
    );
    // Sync is unaffected: the task is there for the phone.
    let mut phone = phone(srv.addr, "c-a").await;
    phone.sync().await.unwrap();
    assert!(
        phone
            .tasks()
            .unwrap()
            .contains(&t["task"]["id"].as_str().unwrap().to_owned())
    );
    assert!(rx.log.got().is_empty());
    srv.shutdown().await.unwrap();
}

/// An urgent job its crew does not acknowledge is escalated to the next crew: that crew's
/// disconnected phone is woken at once (urgent), with nothing of the task in the
/// wake-up, and the crew it was taken from is told to sync (its phone drops the job).
/// With an outbox tick of a minute: an urgent wake-up's commit nudges the loop, so it
/// goes within a second, not at the next tick.
async fn an_escalation_wakes_the_next_crews_phone(f: &Fixture) {
    seed(&f.db).await;
    // The dispatch settings' acknowledgement window applies (the service's SLA term, in
    // whole minutes, would come first).
    let complete = server::demo::demo_services()
        .into_iter()
        .find(|s| s.code == "pothole")
        .and_then(|s| s.complete_minutes);
    server::storage::penalties::set_sla(&f.db, "pothole", None, None, complete)
        .await
        .unwrap();
    let (private, public) = vapid_key();
    let mut c = config(f, &private);
    c.dispatch_ack_secs_urgent = 1;
    c.dispatch_tick_ms = 100;
    // The outbox loop's tick is a minute: only an urgent wake-up's nudge can send these.
    c.outbox.tick_ms = 60_000;
    let srv = tarmim_testing::start(f.db.clone(), c).await;
    let rx = WebPushReceiver::start(&public).await;
    for (login, id) in [("c-a", "a"), ("c-b", "b")] {
        let crew = Api::login(srv.addr, login, PASSWORD).await;
        let (s, _) = crew
            .put(
                "/api/v1/me/push",
                json!({"kind": "webpush", "token": rx.subscription(id)}),
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
    }
    let disp = Api::login(srv.addr, "disp", PASSWORD).await;
    // Both crews have the skill and no position: the tie goes to C-A.
    let t = file_urgent(&disp, "pothole").await;
    let filed = std::time::Instant::now();
    assert_eq!(t["dispatch"]["crew"], "C-A", "{t}");
    let task = t["task"]["id"].as_str().unwrap().to_owned();
    wait_for("C-A's wake-up", async || {
        rx.log.got().iter().any(|g| g.to == "/push/a")
    })
    .await;
    assert!(
        filed.elapsed() < Duration::from_secs(1),
        "woken {:?} after the task was filed: the urgent wake-up waited for a tick",
        filed.elapsed()
    );
    assert!(rx.log.got().iter().all(|g| g.to != "/push/b"));
    // Nobody acknowledges within the second: escalated to C-B, whose phone is woken.
    wait_for("C-B's wake-up", async || {
        rx.log.got().iter().any(|g| g.to == "/push/b")
    })
    .await;
    let (_, d) = disp.get(&format!("/api/v1/console/tasks/{task}")).await;
    assert_eq!(d["task"]["derived"]["assignee"], "C-B", "{d}");
    let b = rx
        .log
        .got()
        .into_iter()
        .find(|g| g.to == "/push/b")
        .unwrap();
    assert!(
        b.urgent,
        "the escalated urgent job wakes the next crew at high urgency"
    );
    assert_contentless(&b.payload);
    assert!(!b.payload.to_string().contains(&task));
    assert_eq!(rx.log.refused(), Vec::<String>::new());
    // C-A, whose job was taken away, is told to sync (coalesced behind its urgent
    // wake-up of a moment ago: due at the interval's end).
    let wakes = rows::wakes_of(&f.db, "dev-c-a").await.unwrap();
    assert!(
        wakes
            .iter()
            .any(|w| w.task == task && w.event.as_deref() == Some("sync")),
        "{wakes:?}"
    );
    srv.shutdown().await.unwrap();
}

on_both_backends!(
    registration_is_checked_and_replaced,
    a_disconnected_crew_phone_is_woken,
    an_escalation_wakes_the_next_crews_phone,
    a_failing_provider_is_retried_then_dead_lettered,
);

//! Web Push for citizens (issue 17 §3), through the real server on both backends,
//! against a local push service that checks each request as a browser's would
//! (`push::receivers::WebPushReceiver`: the VAPID JWT verified with the server's public
//! key, the RFC 8291 payload decrypted with the subscription's private key, no `Topic`).
//!
//! A subscription given for a tracking code (`POST /api/v1/track/{code}/push`) receives
//! the next public status change — the status text and the tracking link, nothing else;
//! a subscription with a bad key, a non-https or unknown endpoint is refused with a 400
//! that says why; a 410 from the push service removes the subscription; a 500 is retried
//! and then dead-lettered like the other channels; "stop" and "forget my contact" leave
//! no subscription behind (the retention sweep deletes the contact row that holds it:
//! `notify::contacts_are_checked_forgotten_unsubscribed_and_swept`).

use crate::notify::{BASE, PASSWORD, code_of, file, seed};
use crate::outbox::wait_for;
use crate::push::receivers::{Reply, WebPushReceiver};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::storage::Db;
use server::storage::citizen_push;
use tarmim_testing::{Api, Fixture, on_both_backends};

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

fn config(f: &Fixture, vapid_private: &str) -> server::base::config::Config {
    let mut c = f.config.clone();
    c.public_url = Some(BASE.into());
    c.outbox.tick_ms = 50;
    c.outbox.retry_secs = 0;
    c.outbox.max_attempts = 3;
    c.push.vapid_private_key = Some(vapid_private.into());
    // The local push service is plain HTTP on loopback: allowed for the test only.
    c.push.allow_http_endpoints = true;
    c.push.citizen_push_hosts = vec!["127.0.0.1".into()];
    c.push.timeout_secs = 2;
    c
}

/// `(state, attempts, last_error)` of the Web Push rows of `task`, oldest first.
async fn push_rows(db: &Db, task: &str) -> Vec<(String, i32, Option<String>)> {
    let sql = "SELECT state, attempts, last_error FROM outbox
               WHERE kind = 'webpush' AND task = $1 ORDER BY id";
    match db {
        Db::Sqlite(s) => sqlx::query_as(sql)
            .bind(task)
            .fetch_all(s.pool())
            .await
            .unwrap(),
        Db::Postgres(p) => sqlx::query_as(sql)
            .bind(task)
            .fetch_all(p.pool())
            .await
            .unwrap(),
    }
}

async fn post_subscription(addr: std::net::SocketAddr, code: &str, body: Value) -> (u16, Value) {
    let r = tarmim_testing::http()
        .post(format!("http://{addr}/api/v1/track/{code}/push"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn assign(disp: &Api, task: &str) {
    let (s, v) = disp
        .post(
            &format!("/api/v1/console/tasks/{task}/assign"),
            json!({"crew": "C-A"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

async fn citizens_are_pushed_through_their_subscription(f: &Fixture) {
    seed(&f.db).await;
    let (private, public) = vapid_key();
    let rx = WebPushReceiver::start_citizen(&public).await;
    let srv = tarmim_testing::start(f.db.clone(), config(f, &private)).await;
    let disp = Api::login(srv.addr, "disp", PASSWORD).await;
    // Three reports, filed while no crew can take them (each is assigned by hand below).
    let req = file(srv.addr, "a@example.org", Some("en")).await;
    let code = code_of(&req);
    let task = req["service_request_id"].as_str().unwrap().to_owned();
    let req2 = file(srv.addr, "b@example.org", Some("fa")).await;
    let (code2, task2) = (
        code_of(&req2),
        req2["service_request_id"].as_str().unwrap().to_owned(),
    );
    let req3 = file(srv.addr, "c@example.org", None).await;
    let (code3, task3) = (
        code_of(&req3),
        req3["service_request_id"].as_str().unwrap().to_owned(),
    );
    tarmim_testing::add_crew(&f.db, "C-A", "D01", &["pothole"]).await;

    // Refused, each with a 400 that says why, and nothing stored.
    let good: Value = serde_json::from_str(&rx.subscription("cit")).unwrap();
    let with = |path: &[&str], v: Value| {
        let mut s = good.clone();
        let mut at = &mut s;
        for p in &path[..path.len() - 1] {
            at = &mut at[*p];
        }
        at[path[path.len() - 1]] = v;
        json!({ "subscription": s, "lang": "en" })
    };
    let mut off_curve = vec![4u8];
    off_curve.extend([1u8; 64]);
    let refused = [
        (
            with(&["keys", "p256dh"], json!(B64.encode([4u8; 64]))),
            "65 bytes",
        ),
        (
            with(&["keys", "p256dh"], json!(B64.encode(&off_curve))),
            "not a point on P-256",
        ),
        (
            with(&["keys", "auth"], json!(B64.encode([1u8; 15]))),
            "16 bytes",
        ),
        (
            with(&["endpoint"], json!("ftp://127.0.0.1/push/x")),
            "must be https",
        ),
        (
            with(&["endpoint"], json!("https://10.1.2.3/push/x")),
            "not on a known push service",
        ),
        (
            with(&["endpoint"], json!("https://push.example.net/push/x")),
            "not on a known push service",
        ),
        (json!({ "subscription": "not an object" }), "subscription"),
        (json!({ "endpoint": "x" }), "unknown field"),
    ];
    for (body, why) in refused {
        let (s, v) = post_subscription(srv.addr, &code, body.clone()).await;
        assert_eq!(s, 400, "{body} → {v}");
        assert!(
            v["message"].as_str().unwrap_or("").contains(why),
            "{body} → {v}"
        );
    }
    assert_eq!(citizen_push::of(&f.db, &task).await.unwrap(), None);
    let (s, _) = post_subscription(
        srv.addr,
        "ZZZZZZZZZZZZ",
        json!({ "subscription": good.clone() }),
    )
    .await;
    assert_eq!(s, 404);

    // Subscribed; the next public status change reaches it, and only the status text and
    // the tracking link are in it.
    let (s, v) = post_subscription(
        srv.addr,
        &code,
        json!({ "subscription": good.clone(), "lang": "en" }),
    )
    .await;
    assert_eq!(s, 204, "{v}");
    assert!(citizen_push::of(&f.db, &task).await.unwrap().is_some());
    assign(&disp, &task).await;
    wait_for("the push", async || !rx.log.got().is_empty()).await;
    assert_eq!(rx.log.refused(), Vec::<String>::new());
    let got = &rx.log.got()[0];
    assert_eq!(got.to, "/push/cit");
    assert!(!got.urgent);
    let keys: Vec<&String> = got.payload.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3, "{}", got.payload);
    assert_eq!(got.payload["url"], format!("{BASE}/track/{code}"));
    assert_eq!(got.payload["lang"], "en");
    let text = got.payload["text"].as_str().unwrap();
    assert!(text.starts_with("A crew is on your report"), "{text}");
    assert!(!got.payload.to_string().contains("a@example.org"));
    wait_for("the row marked sent", async || {
        push_rows(&f.db, &task).await.iter().any(|r| r.0 == "sent")
    })
    .await;

    // "Stop notifications": the subscription goes; a second stop finds none.
    let stop = |code: String| {
        let addr = srv.addr;
        async move {
            let r = tarmim_testing::http()
                .delete(format!("http://{addr}/api/v1/track/{code}/push"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()["done"].as_bool().unwrap()
        }
    };
    assert!(stop(code.clone()).await);
    assert!(!stop(code.clone()).await);
    assert_eq!(citizen_push::of(&f.db, &task).await.unwrap(), None);

    // A 410 from the push service: the subscription is removed, nothing retried.
    let gone: Value = serde_json::from_str(&rx.subscription("gone")).unwrap();
    let (s, _) = post_subscription(srv.addr, &code2, json!({ "subscription": gone })).await;
    assert_eq!(s, 204);
    rx.log
        .script(Reply::Status(410, None, "subscription expired"));
    assign(&disp, &task2).await;
    wait_for("the 410 to remove the subscription", async || {
        citizen_push::of(&f.db, &task2).await.unwrap().is_none()
    })
    .await;
    wait_for("the row skipped", async || {
        push_rows(&f.db, &task2)
            .await
            .iter()
            .any(|r| r.0 == "skipped")
    })
    .await;
    let r = push_rows(&f.db, &task2).await;
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].2.as_deref().unwrap().contains("gone"), "{r:?}");
    // The contact's e-mail stays: only the subscription was gone.
    assert!(
        server::storage::open311::contact_of(&f.db, &task2)
            .await
            .unwrap()
            .unwrap()
            .email
            .is_some()
    );

    // A 500, every time: retried up to the limit, then dead-lettered; nothing lost.
    let flaky: Value = serde_json::from_str(&rx.subscription("flaky")).unwrap();
    let (s, _) = post_subscription(srv.addr, &code3, json!({ "subscription": flaky })).await;
    assert_eq!(s, 204);
    for _ in 0..3 {
        rx.log.script(Reply::Status(500, None, "push service down"));
    }
    assign(&disp, &task3).await;
    wait_for("the row dead", async || {
        push_rows(&f.db, &task3).await.iter().any(|r| r.0 == "dead")
    })
    .await;
    let r = push_rows(&f.db, &task3).await;
    assert_eq!(r[0].1, 3, "{r:?}");
    assert!(r[0].2.as_deref().unwrap().contains("500"), "{r:?}");
    let dead = server::storage::outbox::dead(&f.db, 10).await.unwrap();
    assert!(dead.iter().any(|d| d.kind == "webpush" && d.task == task3));
    assert_eq!(rx.log.got().len(), 1, "nothing delivered but the first");
    assert!(citizen_push::of(&f.db, &task3).await.unwrap().is_some());

    // "Forget my contact" erases the subscription with the rest of the contact.
    let r = tarmim_testing::http()
        .post(format!("http://{}/api/v1/track/{code3}/forget", srv.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(citizen_push::of(&f.db, &task3).await.unwrap(), None);

    srv.shutdown().await.unwrap();
}

on_both_backends!(citizens_are_pushed_through_their_subscription);

/// `http://` is refused unless the operator allows it (tests only), whatever the host.
#[test]
fn a_plain_http_endpoint_is_refused_by_default() {
    let (_, public) = vapid_key();
    let sub = json!({
        "endpoint": "http://fcm.googleapis.com/fcm/send/x",
        "keys": { "p256dh": public, "auth": B64.encode([7u8; 16]) },
    })
    .to_string();
    let c = server::base::config::push::PushConfig::default();
    let e = server::domain::notify::webpush::check(&sub, &c, 0).unwrap_err();
    assert!(e.contains("must be https"), "{e}");
    let ok = sub.replace("http://", "https://");
    assert!(server::domain::notify::webpush::check(&ok, &c, 0).is_ok());
}

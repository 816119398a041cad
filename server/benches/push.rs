//! Wake-ups sent per second by one replica's outbox loop, per wire format, to local
//! receivers on loopback (issue 20 §1). Prints Markdown; BENCHMARKS.md records it.
//!
//! ```sh
//! cargo bench -p server --bench push              # SQLite
//! cargo bench -p server --bench push -- --pg      # PostgreSQL (tests/setup/postgres.sh first)
//! cargo bench -p server --bench push -- --quick   # 300 wake-ups per format
//! ```
//!
//! What is timed is the loop's real work, `domain::outbox::tick_once` until nothing is
//! due: claim a batch of due `wake` rows, read each device's registration, sign and send
//! (Web Push: a fresh ECDH key, RFC 8291 encryption and a VAPID ES256 signature per
//! message; FCM: the cached access token, one exchange per run; APNs: the cached provider
//! token, one HTTP/2 connection), and mark the row sent. One device per row, every row
//! urgent (so none is coalesced away). The receivers answer at once and check nothing
//! (the tests' receivers do the checking); they run in the same process and share the
//! machine's cores with the loop.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use server::base::time::now_millis;
use server::domain::dispatch::Dispatch;
use server::domain::hub::Hub;
use server::domain::identity::{UserRole, hash_password};
use server::domain::outbox::{Outbox, OutboxSettings, tick_once};
use server::domain::push::apns::{Apns, Settings};
use server::domain::push::fcm::{Fcm, ServiceAccount};
use server::domain::push::jws::Key;
use server::domain::push::webpush::WebPush;
use server::domain::push::{Pusher, Pushers};
use server::storage::outbox as rows;
use server::storage::{Db, IdentityStore, NewUser};
use std::sync::Arc;
use std::time::{Duration, Instant};
use sync_core::DeviceId;

const FCM_KEY: &str = include_str!("../tests/fixtures/push/fcm-test-key.pem");

async fn http1(app: axum::Router) -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

async fn http2_ok() -> std::net::SocketAddr {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(
                        axum::body::Body::empty(),
                    ))
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    addr
}

/// A pusher of `kind` aimed at a fresh local receiver, and the token of device `i`.
async fn pusher(kind: &str) -> (Arc<dyn Pusher>, Box<dyn Fn(usize) -> String>) {
    let timeout = Duration::from_secs(10);
    match kind {
        "webpush" => {
            let app = axum::Router::new().route(
                "/push/{id}",
                axum::routing::post(|| async { StatusCode::CREATED }),
            );
            let addr = http1(app).await;
            let vapid = B64.encode([3u8; 32]);
            let p = WebPush::new(&vapid, "mailto:ops@137.example", timeout).unwrap();
            let ua = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
            let p256dh = B64.encode(ua.public_key().to_sec1_bytes());
            let auth = B64.encode([9u8; 16]);
            let token = move |i: usize| {
                serde_json::json!({"endpoint": format!("http://{addr}/push/{i}"),
                    "keys": {"p256dh": p256dh, "auth": auth}})
                .to_string()
            };
            (Arc::new(p), Box::new(token))
        }
        "fcm" => {
            let app = axum::Router::new()
                .route(
                    "/token",
                    axum::routing::post(|| async {
                        axum::Json(
                            serde_json::json!({"access_token": "ya29.bench", "expires_in": 3599}),
                        )
                    }),
                )
                .route(
                    "/v1/projects/{p}/{m}",
                    axum::routing::post(|| async {
                        axum::Json(serde_json::json!({"name": "m/1"}))
                    }),
                );
            let addr = http1(app).await;
            let base = format!("http://{addr}");
            let account = ServiceAccount {
                client_email: "bench@tarmim.iam.gserviceaccount.com".into(),
                private_key: FCM_KEY.into(),
                project_id: "bench".into(),
                token_uri: format!("{base}/token"),
            };
            let p = Fcm::new(account, None, &base, timeout).unwrap();
            (Arc::new(p), Box::new(|i| format!("fcm-bench-token:{i}")))
        }
        _ => {
            let addr = http2_ok().await;
            let key = Key::es256_raw_b64(&B64.encode([5u8; 32])).unwrap();
            let p = Apns::new(
                key,
                Settings {
                    key_id: "KEY".into(),
                    team_id: "TEAM".into(),
                    topic: "org.tarmim.crew".into(),
                    endpoint: format!("http://{addr}"),
                    timeout,
                },
            )
            .unwrap();
            (Arc::new(p), Box::new(|i| format!("{i:064x}")))
        }
    }
}

async fn run(
    db: &Db,
    config: &server::base::config::Config,
    kind: &str,
    n: usize,
) -> (f64, Duration) {
    let (p, token) = pusher(kind).await;
    let now = now_millis();
    let user = format!("u-{kind}");
    db.create_user(&NewUser {
        contractor: None,
        id: user.clone(),
        login: format!("bench-{kind}"),
        password_hash: hash_password("bench-password").unwrap(),
        role: UserRole::Admin,
        crew: None,
        districts: vec![],
    })
    .await
    .unwrap();
    for i in 0..n {
        let device = format!("{kind}-{i}");
        db.register_device(&DeviceId::new(device.clone()).unwrap(), &user, now)
            .await
            .unwrap();
        server::storage::push::register(db, &device, &user, kind, &token(i), now)
            .await
            .unwrap();
    }
    match db {
        Db::Sqlite(s) => {
            let mut tx = s.pool().begin().await.unwrap();
            for i in 0..n {
                sqlx::query(
                    "INSERT INTO outbox (key, kind, task, device, event, due_at, created_at)
                     VALUES ($1, 'wake', 'T-BENCH', $2, 'urgent', $3, $3)",
                )
                .bind(format!("bench:{kind}:{i}"))
                .bind(format!("{kind}-{i}"))
                .bind(now)
                .execute(&mut *tx)
                .await
                .unwrap();
            }
            tx.commit().await.unwrap();
        }
        Db::Postgres(s) => {
            let mut tx = s.pool().begin().await.unwrap();
            for i in 0..n {
                sqlx::query(
                    "INSERT INTO outbox (key, kind, task, device, event, due_at, created_at)
                     VALUES ($1, 'wake', 'T-BENCH', $2, 'urgent', $3, $3)",
                )
                .bind(format!("bench:{kind}:{i}"))
                .bind(format!("{kind}-{i}"))
                .bind(now)
                .execute(&mut *tx)
                .await
                .unwrap();
            }
            tx.commit().await.unwrap();
        }
    }
    let mut pushers = Pushers::none();
    pushers.ttl = Duration::from_secs(600);
    match kind {
        "webpush" => pushers.webpush = Some(p),
        "fcm" => pushers.fcm = Some(p),
        _ => pushers.apns = Some(p),
    }
    let o = Outbox {
        dispatch: Arc::new(Dispatch::new(db.clone(), Hub::new(None), config)),
        channels: server::domain::notify::Channels::none(),
        pushers,
        settings: OutboxSettings::from_config(&config.outbox),
        base_url: "http://127.0.0.1".into(),
        quiet: None,
        zone: jiff::tz::TimeZone::UTC,
        retention_days: 90,
    };
    let before = rows::counts(db).await.unwrap().sent;
    let t = Instant::now();
    while tick_once(&o).await.unwrap() > 0 {}
    let took = t.elapsed();
    let sent = rows::counts(db).await.unwrap().sent - before;
    assert_eq!(sent as usize, n, "every wake-up sent");
    (n as f64 / took.as_secs_f64(), took)
}

fn main() {
    server::base::tls::install_crypto_provider();
    let args: Vec<String> = std::env::args().collect();
    let pg = args.iter().any(|a| a == "--pg");
    let n = if args.iter().any(|a| a == "--quick") {
        300
    } else {
        2000
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let f = if pg {
            tarmim_testing::Fixture::postgres().await
        } else {
            tarmim_testing::Fixture::sqlite().await
        };
        println!(
            "## Push wake-ups sent by one replica's outbox loop ({}, {} cores, {n} per format)\n",
            if pg { "PostgreSQL" } else { "SQLite" },
            std::thread::available_parallelism().map_or(0, |c| c.get())
        );
        println!("| format | wake-ups | time | per second |\n| --- | ---: | ---: | ---: |");
        for kind in ["webpush", "fcm", "apns"] {
            let (rate, took) = run(&f.db, &f.config, kind, n).await;
            println!("| {kind} | {n} | {:.2} s | {rate:.0} |", took.as_secs_f64());
        }
        f.close().await;
    });
}

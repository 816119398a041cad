//! Citizens' notifications through the durable outbox, on both backends, against a real
//! SMTP server on loopback (`tarmim_testing::smtp`): the e-mail of each public status
//! change arrives in the language filed, with the tracking and unsubscribe links and the
//! notification's idempotency key as its `Message-ID`; an SMTP server that is down or
//! refuses is retried, then dead-lettered, nothing sent twice; a completion (with the
//! after photo's link), a reopening and a merge are told; and the real server binary
//! killed between handing a message over and recording it sends it again after a restart,
//! which the mailbox keeps once (same `Message-ID`), while one killed between the commit
//! and the send sends it once.

use crate::outbox::{spawn_server, wait_for};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::base::config::Config;
use server::domain::identity::{UserRole, hash_password};
use server::storage::outbox::{self as rows, Counts};
use server::storage::{Db, IdentityStore, NewUser};
use std::net::SocketAddr;
use std::time::Duration;
use tarmim_testing::smtp::{Mode, SmtpSink};
use tarmim_testing::{Fixture, on_both_backends};

pub(crate) const PASSWORD: &str = "notify-test-password";
pub(crate) const BASE: &str = "https://137.example";

fn centre_d01() -> (f64, f64) {
    (35.735 - 0.015, 51.32 + 0.0175)
}

pub(crate) async fn seed(db: &Db) {
    tarmim_testing::demo_map(db).await;
    server::domain::open311::seed_demo(db).await.unwrap();
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
}

fn config(f: &Fixture, smtp: &str, max_attempts: u32) -> Config {
    let mut c = f.config.clone();
    c.public_url = Some(BASE.into());
    c.outbox.smtp_url = Some(smtp.into());
    c.outbox.smtp_from = "Tehran 137 <no-reply@137.example>".into();
    c.outbox.tick_ms = 50;
    c.outbox.retry_secs = 0;
    c.outbox.max_attempts = max_attempts;
    c.outbox.timeout_secs = 5;
    c
}

/// Files a pothole through Open311 with an e-mail contact; the answer's request.
pub(crate) async fn file(addr: SocketAddr, email: &str, lang: Option<&str>) -> Value {
    let (lat, lon) = centre_d01();
    let mut form = vec![
        (
            "api_key",
            server::domain::open311::keys::DEMO_KEY.to_owned(),
        ),
        ("service_code", "pothole".to_owned()),
        ("attribute[size]", "large".to_owned()),
        ("lat", lat.to_string()),
        ("long", lon.to_string()),
        (
            "description",
            "A deep pothole by the school gate".to_owned(),
        ),
        ("email", email.to_owned()),
    ];
    if let Some(l) = lang {
        form.push(("lang", l.to_owned()));
    }
    let r = tarmim_testing::http()
        .post(format!("http://{addr}/open311/v2/requests.json"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&form).unwrap())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    v[0].clone()
}

/// A second handle on the fixture's database (a stopped server closes the pool it had).
pub(crate) async fn reopen(f: &Fixture) -> Db {
    match &f.config.database_url {
        Some(url) => Db::Postgres(
            server::storage::postgres::PgStore::connect(url, server::domain::commit_hooks())
                .await
                .unwrap(),
        ),
        None => Db::Sqlite(
            server::storage::sqlite::SqliteStore::open(
                &f.config.sqlite_path(),
                server::domain::commit_hooks(),
            )
            .await
            .unwrap(),
        ),
    }
}

/// The outbox's counts once no row is pending (each delivered row marked sent or dead).
async fn settled(db: &Db) -> Counts {
    wait_for("every outbox row to be marked", async || {
        rows::counts(db).await.unwrap().pending == 0
    })
    .await;
    rows::counts(db).await.unwrap()
}

pub(crate) fn code_of(request: &Value) -> String {
    request["tracking_code"].as_str().unwrap().replace('-', "")
}

/// Every public status change reaches the citizen in the language filed: here
/// "received" (English), then "a crew is on it" when a dispatcher assigns; a second
/// citizen who gave no language hears in Persian.
async fn status_changes_reach_the_citizen_by_email(f: &Fixture) {
    seed(&f.db).await;
    let sink = SmtpSink::start(Mode::Accept).await;
    let srv = tarmim_testing::start(f.db.clone(), config(f, &sink.url(), 3)).await;
    let req = file(srv.addr, "citizen@example.org", Some("en")).await;
    let code = code_of(&req);
    let task = req["service_request_id"].as_str().unwrap().to_owned();
    wait_for("the receipt e-mail", async || sink.mailbox().len() == 1).await;
    let m = &sink.mailbox()[0];
    assert_eq!(m.to, vec!["<citizen@example.org>".to_owned()]);
    let subject = m.header("Subject").unwrap();
    assert!(subject.contains("Report received"), "{subject}");
    let id = m.header("Message-ID").unwrap();
    assert!(
        id.starts_with("<n") && id.ends_with("@tarmim.notify>"),
        "{id}"
    );
    assert_eq!(
        m.header("List-Unsubscribe").unwrap(),
        format!("<{BASE}/track/{code}/unsubscribe>")
    );
    let body = m.body().replace("=\r\n", "");
    assert!(body.contains(&format!("{BASE}/track/{code}")), "{body}");
    assert!(!body.contains("citizen@example.org"), "{body}");

    // A crew is on it.
    tarmim_testing::add_crew(&f.db, "C-A", "D01", &["pothole"]).await;
    let disp = tarmim_testing::Api::login(srv.addr, "disp", PASSWORD).await;
    let (s, v) = disp
        .post(
            &format!("/api/v1/console/tasks/{task}/assign"),
            json!({"crew": "C-A"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    wait_for("the assignment e-mail", async || sink.mailbox().len() == 2).await;
    let subject = sink.mailbox()[1].header("Subject").unwrap();
    assert!(subject.contains("A crew is on it"), "{subject}");

    // Persian by default: the subject is RFC 2047-encoded UTF-8.
    let req2 = file(srv.addr, "shahrvand@example.org", None).await;
    wait_for("the Persian receipt", async || sink.mailbox().len() == 3).await;
    let m = &sink.mailbox()[2];
    let subject = m.header("Subject").unwrap();
    assert!(subject.contains("=?utf-8?"), "{subject}");
    assert!(m.data.contains(&code_of(&req2)));
    assert_eq!(sink.attempts(), 3, "each message sent once");
    // The sink keeps a message before its 250 reaches the server, which marks the row
    // sent only then: wait for the mark, not for the mailbox.
    let c = settled(&f.db).await;
    assert_eq!((c.sent, c.pending, c.dead), (3, 0, 0), "{c:?}");
    srv.shutdown().await.unwrap();
}

/// An SMTP server that is down, or that answers 451, is retried up to the limit and the
/// notification is then dead-lettered: nothing delivered, nothing lost (the row is in
/// the list staff see). A 550 is not retried.
async fn smtp_down_or_refusing_is_retried_then_dead_lettered(f: &Fixture) {
    seed(&f.db).await;
    // Down: a port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let srv = tarmim_testing::start(f.db.clone(), config(f, &format!("smtp://{closed}"), 3)).await;
    file(srv.addr, "a@example.org", Some("en")).await;
    wait_for("the row to be dead", async || {
        rows::counts(&f.db).await.unwrap().dead == 1
    })
    .await;
    let dead = rows::dead(&f.db, 10).await.unwrap();
    assert_eq!(dead[0].kind, "email");
    assert_eq!(dead[0].attempts, 3, "{dead:?}");
    assert!(
        dead[0].last_error.as_deref().unwrap().contains("SMTP"),
        "{dead:?}"
    );
    // Stopping a server closes its pool: the next one gets a pool of its own.
    srv.shutdown().await.unwrap();
    let db = reopen(f).await;

    // Refusing for now (451): three attempts reach it, none is delivered.
    let sink = SmtpSink::start(Mode::Refuse("451 4.3.0 try again later".into())).await;
    let srv = tarmim_testing::start(db.clone(), config(f, &sink.url(), 3)).await;
    file(srv.addr, "b@example.org", Some("en")).await;
    wait_for("the second row to be dead", async || {
        rows::counts(&db).await.unwrap().dead == 2
    })
    .await;
    assert_eq!(sink.attempts(), 3);
    assert!(sink.mailbox().is_empty());
    // Refusing for good (550): one attempt.
    sink.set_mode(Mode::Refuse("550 5.1.1 no such user".into()));
    file(srv.addr, "c@example.org", Some("en")).await;
    wait_for("the third row to be dead", async || {
        rows::counts(&db).await.unwrap().dead == 3
    })
    .await;
    assert_eq!(sink.attempts(), 4);
    let c = rows::counts(&db).await.unwrap();
    assert_eq!(
        c,
        Counts {
            dead: 3,
            ..Counts::default()
        }
    );
    srv.shutdown().await.unwrap();
}

/// The outbox kill test: the real server binary hands the receipt e-mail to the SMTP
/// server and is SIGKILLed before the reply (so before it records the send). Restarted,
/// it sends the notification again once its claim's lease expires; the SMTP server has
/// received it twice with the same `Message-ID` and delivered it once.
async fn killed_between_send_and_record_delivers_exactly_once(f: &Fixture) {
    seed(&f.db).await;
    let sink = SmtpSink::start(Mode::Hold(Duration::from_secs(30))).await;
    let env = [
        ("TARMIM_SMTP_URL", sink.url()),
        ("TARMIM_PUBLIC_URL", BASE.to_owned()),
        ("TARMIM_OUTBOX_LEASE_SECS", "3".to_owned()),
        ("TARMIM_NOTIFY_TIMEOUT_SECS", "2".to_owned()),
        ("TARMIM_OUTBOX_RETRY_SECS", "0".to_owned()),
    ];
    let mut child = spawn_server(f, &env).await;
    let req = file(child.1, "citizen@example.org", Some("en")).await;
    wait_for("the message to reach the SMTP server", async || {
        sink.attempts() == 1
    })
    .await;
    // SIGKILL while the server waits for the reply to DATA.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    drop(child);
    assert_eq!(
        rows::counts(&f.db).await.unwrap().pending,
        1,
        "the send was never recorded"
    );
    sink.set_mode(Mode::Accept);
    let child = spawn_server(f, &env).await;
    wait_for("the row to be marked sent after the restart", async || {
        rows::counts(&f.db).await.unwrap().sent == 1
    })
    .await;
    assert_eq!(
        sink.attempts(),
        2,
        "sent at least once: again after the kill"
    );
    let mailbox = sink.mailbox();
    assert_eq!(mailbox.len(), 1, "delivered once, by Message-ID");
    assert!(mailbox[0].data.contains(&code_of(&req)));
    drop(child);
}

/// The kill test before the send: the real server binary commits the report and its
/// receipt's notification row in one transaction, claims the row and connects to the
/// SMTP server, which never greets it (so nothing is handed over), and is SIGKILLed
/// there. Restarted, it sends the notification once its claim's lease expires: one DATA
/// transfer, one message, whose `Message-ID` is the row's idempotency key.
async fn killed_between_commit_and_send_delivers_exactly_once(f: &Fixture) {
    seed(&f.db).await;
    let sink = SmtpSink::start(Mode::Mute).await;
    let env = [
        ("TARMIM_SMTP_URL", sink.url()),
        ("TARMIM_PUBLIC_URL", BASE.to_owned()),
        ("TARMIM_OUTBOX_LEASE_SECS", "1".to_owned()),
        // Longer than the test: the server waits for the greeting until it is killed.
        ("TARMIM_NOTIFY_TIMEOUT_SECS", "120".to_owned()),
        ("TARMIM_OUTBOX_RETRY_SECS", "0".to_owned()),
    ];
    let mut child = spawn_server(f, &env).await;
    let req = file(child.1, "citizen@example.org", Some("en")).await;
    wait_for("the server to connect to the SMTP server", async || {
        sink.connections() == 1
    })
    .await;
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    drop(child);
    // Committed with the report, never sent: the row waits, the sink has nothing.
    let c = rows::counts(&f.db).await.unwrap();
    assert_eq!((c.pending, c.sent, c.dead), (1, 0, 0), "{c:?}");
    assert_eq!(sink.attempts(), 0, "nothing was handed over");
    let id: i64 = match &f.db {
        Db::Sqlite(s) => sqlx::query_scalar("SELECT id FROM outbox WHERE kind = 'email'")
            .fetch_one(s.pool())
            .await
            .unwrap(),
        Db::Postgres(p) => sqlx::query_scalar("SELECT id FROM outbox WHERE kind = 'email'")
            .fetch_one(p.pool())
            .await
            .unwrap(),
    };
    sink.set_mode(Mode::Accept);
    let child = spawn_server(f, &env).await;
    wait_for("the row to be marked sent after the restart", async || {
        rows::counts(&f.db).await.unwrap().sent == 1
    })
    .await;
    // A moment for a second send, if there were one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.attempts(), 1, "sent once, not resent");
    let mailbox = sink.mailbox();
    assert_eq!(mailbox.len(), 1);
    let message_id = mailbox[0].header("Message-ID").unwrap();
    assert!(
        message_id.starts_with(&format!("<n{id}.")) && message_id.ends_with("@tarmim.notify>"),
        "the row's idempotency key: {message_id}"
    );
    assert!(mailbox[0].data.contains(&code_of(&req)));
    drop(child);
}

/// A completion, a reopening and a merge each reach the citizen who gave a contact, in
/// the language filed (the effects of `domain::outbox` that decide which status changes
/// notify): the crew's phone (a real sync-core device over the HTTP fallback) completes
/// an English citizen's report with an after photo → "fixed", with the tracking link and
/// the after photo's link; the dispatcher rejects the completion → "reopened"; a Persian
/// citizen's report of the same hole is merged into it → "merged", in Persian, with that
/// citizen's own code.
async fn completion_reopening_and_merging_reach_the_citizen(f: &Fixture) {
    seed(&f.db).await;
    tarmim_testing::add_crew(&f.db, "C-A", "D01", &["pothole"]).await;
    let hash = hash_password(PASSWORD).unwrap();
    tarmim_testing::add_user(
        &f.db,
        "u-crew-a",
        "crew-a",
        &hash,
        UserRole::Crew,
        Some("C-A"),
        vec![],
    )
    .await;
    let sink = SmtpSink::start(Mode::Accept).await;
    let srv = tarmim_testing::start(f.db.clone(), config(f, &sink.url(), 3)).await;
    let a = file(srv.addr, "first@example.org", Some("en")).await;
    let b = file(srv.addr, "second@example.org", None).await;
    let (task_a, code_a) = (a["service_request_id"].as_str().unwrap(), code_of(&a));
    let (task_b, code_b) = (b["service_request_id"].as_str().unwrap(), code_of(&b));
    wait_for("the receipts", async || sink.mailbox().len() == 2).await;
    let disp = tarmim_testing::Api::login(srv.addr, "disp", PASSWORD).await;
    let (s, v) = disp
        .post(
            &format!("/api/v1/console/tasks/{task_a}/assign"),
            json!({"crew": "C-A"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    wait_for("a crew is on it", async || sink.mailbox().len() == 3).await;

    // Completed on the crew's phone, with an after photo.
    let mut phone = tarmim_testing::phone::HttpPhone::login(
        &format!("http://{}", srv.addr),
        "crew-a",
        PASSWORD,
        "phone-a",
        sync_core::store::Store::open_in_memory().unwrap(),
    )
    .await
    .unwrap();
    phone.sync().await.unwrap();
    let photo = phone
        .complete_with_photo(task_a, &server::demo::road_photo(3, false, true))
        .await
        .unwrap();
    wait_for("the completion's e-mail", async || {
        sink.mailbox().len() == 4
    })
    .await;
    let m = &sink.mailbox()[3];
    assert_eq!(m.to, vec!["<first@example.org>".to_owned()]);
    let subject = m.decoded("Subject").unwrap();
    assert_eq!(
        subject,
        format!(
            "137: Reported fixed ({})",
            a["tracking_code"].as_str().unwrap()
        )
    );
    let text = m.text();
    assert!(
        text.contains(&format!("Follow it: {BASE}/track/{code_a}\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "After photo: {BASE}/api/v1/photos/{photo}/display\n"
        )),
        "{text}"
    );
    // The link is the photo's public display size, served.
    let r = tarmim_testing::http()
        .get(format!("http://{}/api/v1/photos/{photo}/display", srv.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Rejected by the dispatcher: reopened, and the citizen hears of it.
    let (s, v) = disp
        .post(
            &format!("/api/v1/console/tasks/{task_a}/reject"),
            json!({"reason": "The kerb side of the hole is still open."}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    wait_for("the reopening's e-mail", async || sink.mailbox().len() == 5).await;
    let m = &sink.mailbox()[4];
    assert_eq!(m.to, vec!["<first@example.org>".to_owned()]);
    assert!(
        m.decoded("Subject").unwrap().contains("Report reopened"),
        "{m:?}"
    );
    assert!(m.text().contains(&format!("{BASE}/track/{code_a}\n")));

    // The Persian citizen's report merged into it: told in Persian, with their own code.
    let (s, v) = disp
        .post(
            &format!("/api/v1/console/tasks/{task_b}/duplicate"),
            json!({"of": task_a}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    wait_for("the merge's e-mail", async || sink.mailbox().len() == 6).await;
    let m = &sink.mailbox()[5];
    assert_eq!(m.to, vec!["<second@example.org>".to_owned()]);
    let subject = m.decoded("Subject").unwrap();
    assert!(subject.contains("با گزارش دیگری یکی شد"), "{subject}");
    let text = m.text();
    assert!(
        text.contains("با گزارش دیگری از همین مشکل یکی شد"),
        "{text}"
    );
    assert!(
        text.contains(&format!("پیگیری: {BASE}/track/{code_b}\n")),
        "{text}"
    );
    let c = settled(&f.db).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.attempts(), 6, "each once, nothing more");
    assert_eq!((c.sent, c.pending, c.dead), (6, 0, 0), "{c:?}");
    srv.shutdown().await.unwrap();
}

// ------------------------------------------------------------------ SMS

/// A local HTTP receiver standing in for an SMS gateway: it records each request and
/// answers as told (200 with a body, an error status, or never).
#[derive(Clone, Default)]
struct Gateway {
    seen: std::sync::Arc<std::sync::Mutex<Vec<(String, axum::http::HeaderMap, String)>>>,
    answer: std::sync::Arc<std::sync::Mutex<(u16, String, bool)>>,
}

impl Gateway {
    async fn start(status: u16, body: &str) -> (Gateway, SocketAddr) {
        let g = Gateway::default();
        *g.answer.lock().unwrap() = (status, body.to_owned(), false);
        let h = g.clone();
        let app = axum::Router::new().fallback(
            async move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| {
                h.seen
                    .lock()
                    .unwrap()
                    .push((uri.path().to_owned(), headers, body));
                let (status, body, hang) = h.answer.lock().unwrap().clone();
                if hang {
                    tokio::time::sleep(Duration::from_secs(600)).await;
                }
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [("content-type", "application/json")],
                    body,
                )
            },
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        (g, addr)
    }

    fn seen(&self) -> Vec<(String, axum::http::HeaderMap, String)> {
        self.seen.lock().unwrap().clone()
    }

    fn answer(&self, status: u16, hang: bool) {
        let mut a = self.answer.lock().unwrap();
        a.0 = status;
        a.2 = hang;
    }
}

fn sms_config(f: &Fixture, url: String, format: &str, quiet: &str) -> Config {
    let mut c = f.config.clone();
    c.public_url = Some(BASE.into());
    c.outbox.sms_url = Some(url);
    c.outbox.sms_format = format.into();
    c.outbox.sms_token = Some("t0k3n".into());
    c.outbox.sms_quiet_hours = quiet.into();
    c.outbox.tick_ms = 50;
    c.outbox.retry_secs = 0;
    c.outbox.max_attempts = 2;
    c.outbox.timeout_secs = 1;
    c
}

async fn file_with_phone(addr: SocketAddr, phone: &str) -> Value {
    let (lat, lon) = centre_d01();
    let r = tarmim_testing::http()
        .post(format!("http://{addr}/open311/v2/requests.json"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                (
                    "api_key",
                    server::domain::open311::keys::DEMO_KEY.to_owned(),
                ),
                ("service_code", "pothole".to_owned()),
                ("attribute[size]", "large".to_owned()),
                ("lat", lat.to_string()),
                ("long", lon.to_string()),
                ("description", "Water running down the street".to_owned()),
                ("phone", phone.to_owned()),
                ("lang", "en".to_owned()),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.unwrap()[0].clone()
}

/// The JSON webhook: the number in E.164, the text with the code, the idempotency key
/// as a header and in the body, the bearer token. A gateway answering 500, then one that
/// never answers (the timeout), is retried and dead-lettered.
async fn sms_through_the_webhook(f: &Fixture) {
    seed(&f.db).await;
    let (gw, gaddr) = Gateway::start(200, "{}").await;
    let srv = tarmim_testing::start(
        f.db.clone(),
        sms_config(f, format!("http://{gaddr}/sms"), "webhook", "off"),
    )
    .await;
    let req = file_with_phone(srv.addr, "0912 123 4567").await;
    wait_for("the SMS", async || gw.seen().len() == 1).await;
    let (path, headers, body) = gw.seen()[0].clone();
    assert_eq!(path, "/sms");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["to"], "+989121234567");
    assert_eq!(v["lang"], "en");
    assert!(
        v["text"]
            .as_str()
            .unwrap()
            .contains(&req["tracking_code"].as_str().unwrap().to_owned())
    );
    assert_eq!(headers["authorization"], "Bearer t0k3n");
    assert_eq!(
        headers["idempotency-key"],
        v["idempotency_key"].as_str().unwrap()
    );
    wait_for("the row sent", async || {
        rows::counts(&f.db).await.unwrap().sent == 1
    })
    .await;

    gw.answer(500, false);
    file_with_phone(srv.addr, "+98 912 765 4321").await;
    wait_for("a dead row after 500s", async || {
        rows::counts(&f.db).await.unwrap().dead == 1
    })
    .await;
    assert_eq!(gw.seen().len(), 3, "two attempts at the second SMS");
    gw.answer(200, true);
    file_with_phone(srv.addr, "09127654320").await;
    wait_for("a dead row after timeouts", async || {
        rows::counts(&f.db).await.unwrap().dead == 2
    })
    .await;
    let dead = rows::dead(&f.db, 10).await.unwrap();
    assert!(
        dead[0].last_error.as_deref().unwrap().contains("timeout"),
        "{dead:?}"
    );
    srv.shutdown().await.unwrap();
}

/// Issue 19: a report filed at the call centre's desk, with the caller's consent, answers
/// `sms: queued`, and the tracking code goes out through the configured gateway to the
/// number (typed with Persian digits) in E.164, in the caller's language.
async fn desk_code_goes_out_by_sms(f: &Fixture) {
    seed(&f.db).await;
    let hash = hash_password(PASSWORD).unwrap();
    tarmim_testing::add_user(
        &f.db,
        "u-op",
        "op",
        &hash,
        UserRole::CallCentre,
        None,
        vec![],
    )
    .await;
    let (gw, gaddr) = Gateway::start(200, "{}").await;
    let srv = tarmim_testing::start(
        f.db.clone(),
        sms_config(f, format!("http://{gaddr}/sms"), "webhook", "off"),
    )
    .await;
    let op = tarmim_testing::Api::login(srv.addr, "op", PASSWORD).await;
    let (lat, lon) = centre_d01();
    let (s, filed) = op
        .post(
            "/api/v1/desk/reports",
            json!({
                "kind": "request", "service": "pothole", "attributes": {"size": "large"},
                "lat": lat, "lon": lon, "description": "A deep pothole by the bakery",
                "phone": "۰۹۱۲ ۱۲۳ ۴۵۶۷", "consent": true, "lang": "fa",
            }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{filed}");
    assert_eq!(filed["sms"], "queued", "{filed}");
    let code = filed["tracking_code"].as_str().unwrap().to_owned();
    wait_for("the SMS", async || gw.seen().len() == 1).await;
    let v: Value = serde_json::from_str(&gw.seen()[0].2).unwrap();
    assert_eq!(v["to"], "+989121234567");
    assert!(v["text"].as_str().unwrap().contains(&code), "{v}");
    srv.shutdown().await.unwrap();
}

/// Kavenegar's API shape; and quiet hours: the receipt (which carries the code) goes out
/// at night, a later status change waits for the morning.
async fn sms_through_kavenegar_and_quiet_hours(f: &Fixture) {
    seed(&f.db).await;
    let (gw, gaddr) = Gateway::start(
        200,
        r#"{"return":{"status":200,"message":"تایید شد"},"entries":[]}"#,
    )
    .await;
    // Quiet all day but one minute, so the test is in them whatever the hour.
    let srv = tarmim_testing::start(
        f.db.clone(),
        sms_config(f, format!("http://{gaddr}"), "kavenegar", "00:00-23:59"),
    )
    .await;
    let req = file_with_phone(srv.addr, "+989121234567").await;
    wait_for("the receipt SMS", async || gw.seen().len() == 1).await;
    let (path, _, body) = gw.seen()[0].clone();
    assert_eq!(path, "/v1/t0k3n/sms/send.json");
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap();
    let get = |k: &str| form.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    assert_eq!(get("receptor").as_deref(), Some("09121234567"));
    assert!(get("localid").is_some());
    assert!(
        get("message")
            .unwrap()
            .contains(req["tracking_code"].as_str().unwrap())
    );

    // A crew is on it — at night: held back.
    tarmim_testing::add_crew(&f.db, "C-A", "D01", &["pothole"]).await;
    let disp = tarmim_testing::Api::login(srv.addr, "disp", PASSWORD).await;
    let task = req["service_request_id"].as_str().unwrap();
    let (s, _) = disp
        .post(
            &format!("/api/v1/console/tasks/{task}/assign"),
            json!({"crew": "C-A"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let now = server::base::time::now_millis();
    let due: Vec<i64> = match &f.db {
        Db::Sqlite(s) => sqlx::query_scalar("SELECT due_at FROM outbox WHERE state = 'pending'")
            .fetch_all(s.pool())
            .await
            .unwrap(),
        Db::Postgres(p) => sqlx::query_scalar("SELECT due_at FROM outbox WHERE state = 'pending'")
            .fetch_all(p.pool())
            .await
            .unwrap(),
    };
    assert_eq!(due.len(), 1, "the assignment SMS waits");
    assert!(due[0] > now, "deferred to the end of the quiet hours");
    assert_eq!(gw.seen().len(), 1);
    srv.shutdown().await.unwrap();
}

/// A message filed through Open311 (`msg_suggestion`) with an e-mail: the citizen gets
/// the code in the language filed, then the news when staff answer.
async fn an_open311_message_is_receipted_and_its_answer_told(f: &Fixture) {
    seed(&f.db).await;
    let sink = SmtpSink::start(Mode::Accept).await;
    let srv = tarmim_testing::start(f.db.clone(), config(f, &sink.url(), 3)).await;
    let form = [
        ("api_key", server::domain::open311::keys::DEMO_KEY),
        ("service_code", "msg_suggestion"),
        ("description", "Longer opening hours for the library"),
        ("email", "reader@example.org"),
        ("lang", "en"),
    ];
    let r = tarmim_testing::http()
        .post(format!("http://{}/open311/v2/requests.json", srv.addr))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    let id = v[0]["service_request_id"].as_str().unwrap().to_owned();
    let code = code_of(&v[0]);
    wait_for("the receipt", async || sink.mailbox().len() == 1).await;
    let subject = sink.mailbox()[0].header("Subject").unwrap();
    assert!(subject.contains("Report received"), "{subject}");
    let disp = tarmim_testing::Api::login(srv.addr, "disp", PASSWORD).await;
    let (s, a) = disp
        .post(
            &format!("/api/v1/desk/messages/{id}/answer"),
            json!({"text": "From March, the library opens until nine."}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    wait_for("the answer's news", async || sink.mailbox().len() == 2).await;
    let m = &sink.mailbox()[1];
    assert!(m.header("Subject").unwrap().contains("The city answered"));
    assert!(
        m.body()
            .replace("=\r\n", "")
            .contains(&format!("{BASE}/track/{code}"))
    );
    // Once answered, the message is over: the retention sweep erases its contact as it
    // does a closed report's (kept while the retention runs).
    settled(&f.db).await;
    let stored = async || {
        server::storage::open311::contact_target(&f.db, &id)
            .await
            .unwrap()
    };
    assert!(stored().await.is_some());
    let now = server::base::time::now_millis();
    let sweep = server::domain::citizen::contacts::sweep;
    assert_eq!(sweep(&f.db, 90, now).await.unwrap(), 0);
    assert!(stored().await.is_some(), "kept within the retention");
    assert_eq!(sweep(&f.db, 0, now + 1).await.unwrap(), 1);
    assert!(stored().await.is_none(), "erased after it");
    srv.shutdown().await.unwrap();
}

on_both_backends!(
    status_changes_reach_the_citizen_by_email,
    an_open311_message_is_receipted_and_its_answer_told,
    smtp_down_or_refusing_is_retried_then_dead_lettered,
    killed_between_send_and_record_delivers_exactly_once,
    killed_between_commit_and_send_delivers_exactly_once,
    completion_reopening_and_merging_reach_the_citizen,
    sms_through_the_webhook,
    desk_code_goes_out_by_sms,
    sms_through_kavenegar_and_quiet_hours,
    contacts_are_checked_forgotten_unsubscribed_and_swept,
);

// ------------------------------------------------------------------ contacts

/// Contacts are personal data: bad addresses and numbers are refused at intake (HTML,
/// 10,000 characters); the holder of the code erases the contact, or stops messages;
/// the sweep erases the contacts of reports closed longer ago than the retention; no
/// address reaches the server's log (the test's log is not captured here: the sweep and
/// the sends name no address by construction, see `domain::notify`).
async fn contacts_are_checked_forgotten_unsubscribed_and_swept(f: &Fixture) {
    seed(&f.db).await;
    let sink = SmtpSink::start(Mode::Accept).await;
    let srv = tarmim_testing::start(f.db.clone(), config(f, &sink.url(), 3)).await;
    let (lat, lon) = centre_d01();
    let post = async |field: &str, value: &str| {
        tarmim_testing::http()
            .post(format!("http://{}/open311/v2/requests.json", srv.addr))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                serde_urlencoded::to_string([
                    ("api_key", server::domain::open311::keys::DEMO_KEY),
                    ("service_code", "pothole"),
                    ("attribute[size]", "large"),
                    ("lat", &lat.to_string()),
                    ("long", &lon.to_string()),
                    (field, value),
                ])
                .unwrap(),
            )
            .send()
            .await
            .unwrap()
    };
    let long = "x".repeat(10_000);
    for (field, value) in [
        ("email", "not-an-address"),
        ("email", "<b>a@example.org</b>"),
        ("email", long.as_str()),
        ("phone", "12"),
        ("phone", "call me"),
        ("phone", long.as_str()),
        ("lang", "de"),
    ] {
        let r = post(field, value).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{field}={:.40}", value);
    }
    assert_eq!(
        rows::counts(&f.db).await.unwrap(),
        Counts::default(),
        "nothing stored"
    );

    let http = tarmim_testing::http();
    let base = format!("http://{}", srv.addr);
    // Unsubscribe: the contact stays, no message goes out.
    let a = file(srv.addr, "a@example.org", Some("en")).await;
    wait_for("the receipt", async || sink.mailbox().len() == 1).await;
    let code_a = code_of(&a);
    let page = http
        .get(format!("{base}/track/{code_a}/unsubscribe"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("action=\"/track/{code_a}/unsubscribe\"")),
        "{html}"
    );
    let r = http
        .post(format!("{base}/track/{code_a}/unsubscribe"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Forget: the contact is erased at once.
    let b = file(srv.addr, "b@example.org", Some("en")).await;
    wait_for("the second receipt", async || sink.mailbox().len() == 2).await;
    let r: Value = http
        .post(format!("{base}/api/v1/track/{}/forget", code_of(&b)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["done"], true);
    let stored = |reference: String| {
        let db = f.db.clone();
        async move {
            server::storage::open311::contact_target(&db, &reference)
                .await
                .unwrap()
        }
    };
    let task_a = a["service_request_id"].as_str().unwrap().to_owned();
    let task_b = b["service_request_id"].as_str().unwrap().to_owned();
    assert!(
        stored(task_a.clone())
            .await
            .unwrap()
            .unsubscribed_at
            .is_some()
    );
    assert!(stored(task_b.clone()).await.is_none());
    assert_eq!(
        http.post(format!("{base}/api/v1/track/AAAA-BBBB-CCCC/forget"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    // Both tasks get a crew: neither citizen hears of it.
    tarmim_testing::add_crew(&f.db, "C-A", "D01", &["pothole"]).await;
    let disp = tarmim_testing::Api::login(srv.addr, "disp", PASSWORD).await;
    for t in [&task_a, &task_b] {
        let (s, v) = disp
            .post(
                &format!("/api/v1/console/tasks/{t}/assign"),
                json!({"crew": "C-A"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    // A third report, cancelled: closed now, so a sweep with no retention erases it.
    let c = file(srv.addr, "c@example.org", Some("en")).await;
    let task_c = c["service_request_id"].as_str().unwrap().to_owned();
    let (s, v) = disp
        .post(
            &format!("/api/v1/console/tasks/{task_c}/cancel"),
            json!({"reason": "not a municipal matter"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    wait_for("the cancellation e-mail", async || {
        sink.mailbox().len() == 4
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sink.mailbox().len(),
        4,
        "receipts a, b, c and c's closing: nothing to a or b"
    );
    let now = server::base::time::now_millis();
    assert_eq!(
        server::domain::citizen::contacts::sweep(&f.db, 90, now)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        server::domain::citizen::contacts::sweep(&f.db, 0, now + 1)
            .await
            .unwrap(),
        1
    );
    assert!(stored(task_c).await.is_none());
    assert!(
        stored(task_a).await.is_some(),
        "an open report keeps its contact"
    );
    srv.shutdown().await.unwrap();
}

// ------------------------------------------------------------------ throughput

/// Notifications sent per second by one replica's outbox loop, to the local SMTP server
/// and to the HTTP gateway (the webhook): `n` rows of one task's contact are made due at
/// once and timed until all are marked sent. BENCHMARKS.md records the figures; run with
/// `cargo test -p server --test it -- --ignored --nocapture notify::throughput`.
async fn throughput(f: &Fixture) {
    seed(&f.db).await;
    let n: usize = std::env::var("TARMIM_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let sink = SmtpSink::start(Mode::Accept).await;
    let (gw, gaddr) = Gateway::start(200, "{}").await;
    let mut c = config(f, &sink.url(), 3);
    c.outbox.sms_url = Some(format!("http://{gaddr}/sms"));
    c.outbox.sms_quiet_hours = "off".into();
    c.outbox.tick_ms = 10;
    let srv = tarmim_testing::start(f.db.clone(), c).await;
    let (lat, lon) = centre_d01();
    let form = [
        (
            "api_key",
            server::domain::open311::keys::DEMO_KEY.to_owned(),
        ),
        ("service_code", "pothole".to_owned()),
        ("attribute[size]", "large".to_owned()),
        ("lat", lat.to_string()),
        ("long", lon.to_string()),
        ("email", "bench@example.org".to_owned()),
        ("phone", "09121234567".to_owned()),
    ];
    let r = tarmim_testing::http()
        .post(format!("http://{}/open311/v2/requests.json", srv.addr))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&form).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let task = r.json::<Value>().await.unwrap()[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for("the receipts", async || {
        rows::counts(&f.db).await.unwrap().sent == 2
    })
    .await;
    let backend = match &f.db {
        Db::Sqlite(_) => "SQLite",
        Db::Postgres(_) => "PostgreSQL",
    };
    for kind in ["email", "sms"] {
        let far = i64::MAX / 2;
        let sql = "INSERT INTO outbox (key, kind, task, contact, event, due_at, created_at)
                   VALUES ($1, $2, $3, $3, 'assigned', $4, 0)";
        for i in 0..n {
            let key = format!("bench:{kind}:{i}");
            match &f.db {
                Db::Sqlite(s) => sqlx::query(sql)
                    .bind(&key)
                    .bind(kind)
                    .bind(&task)
                    .bind(far)
                    .execute(s.pool())
                    .await
                    .map(|_| ()),
                Db::Postgres(p) => sqlx::query(sql)
                    .bind(&key)
                    .bind(kind)
                    .bind(&task)
                    .bind(far)
                    .execute(p.pool())
                    .await
                    .map(|_| ()),
            }
            .unwrap();
        }
        let before = rows::counts(&f.db).await.unwrap().sent;
        let start = std::time::Instant::now();
        let due = "UPDATE outbox SET due_at = 0 WHERE state = 'pending'";
        match &f.db {
            Db::Sqlite(s) => sqlx::query(due).execute(s.pool()).await.map(|_| ()),
            Db::Postgres(p) => sqlx::query(due).execute(p.pool()).await.map(|_| ()),
        }
        .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(600);
        while rows::counts(&f.db).await.unwrap().sent < before + n as u64 {
            assert!(std::time::Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "| {backend} | {} | {n} | {secs:.2} s | {:.0} /s |",
            if kind == "email" {
                "SMTP (loopback sink)"
            } else {
                "HTTP gateway (webhook, loopback)"
            },
            n as f64 / secs
        );
    }
    assert!(sink.attempts() > n && gw.seen().len() > n);
    srv.shutdown().await.unwrap();
}

mod throughput {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement for BENCHMARKS.md"]
    async fn sqlite() {
        let f = tarmim_testing::Fixture::sqlite().await;
        super::throughput(&f).await;
        f.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement for BENCHMARKS.md"]
    async fn postgres() {
        let f = tarmim_testing::Fixture::postgres().await;
        super::throughput(&f).await;
        f.close().await;
    }
}

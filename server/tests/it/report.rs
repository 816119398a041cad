//! The citizens' report page's API end to end, on both backends, through the real server
//! on a loopback port: the page and its settings, the district of a point (and a point
//! outside every district), nearby open reports and the "+1", a pothole filed with a
//! photo and a contact (stored where Open311 stores contacts, never in the task), a
//! suggestion without a point routed to the city's inbox and answered from the desk (the
//! answer on the tracking page, once), a message placed in a district going to that
//! district's inbox only, every bad input of issue 17 refused in plain words with nothing
//! stored, the proof of work, and the per-address limit.

use reqwest::StatusCode;
use serde_json::{Value, json};
use server::base::config::Config;
use server::domain::identity::hash_password;
use server::http::RunningServer;
use server::storage::identity::UserRole;
use tarmim_testing::on_both_backends;
use tarmim_testing::{Api, Fixture};

const PASSWORD: &str = "pass-word-1";
const BOUNDARY: &str = "tarmim-report-boundary-42";
/// Inside demo district D01.
const D01: (f64, f64) = (35.7205, 51.3375);
/// Inside demo district D06 (second row, second column).
const D06: (f64, f64) = (35.69, 51.3725);
/// In the sea, far from every district.
const NOWHERE: (f64, f64) = (10.0, 10.0);

struct City {
    server: RunningServer,
    anon: Api,
    disp: Api,
    disp_d01: Api,
    crew: Api,
    db: server::storage::Db,
}

async fn city(f: &Fixture, tweak: impl FnOnce(&mut Config)) -> City {
    let db = f.db.clone();
    tarmim_testing::demo_map(&db).await;
    server::domain::open311::seed_demo(&db).await.unwrap();
    tarmim_testing::add_crew(&db, "C-D01-A", "D01", &["pothole"]).await;
    let hash = hash_password(PASSWORD).unwrap();
    let all: Vec<String> = (1..=12).map(|d| format!("D{d:02}")).collect();
    tarmim_testing::add_user(
        &db,
        "u-disp",
        "disp",
        &hash,
        UserRole::Dispatcher,
        None,
        all,
    )
    .await;
    tarmim_testing::add_user(
        &db,
        "u-d01",
        "d01",
        &hash,
        UserRole::Dispatcher,
        None,
        vec!["D01".into()],
    )
    .await;
    tarmim_testing::add_user(
        &db,
        "u-crew",
        "crew",
        &hash,
        UserRole::Crew,
        Some("C-D01-A"),
        vec![],
    )
    .await;
    let mut config = f.config.clone();
    config.report.pow_bits = 0;
    config.report.per_minute = 1000;
    tweak(&mut config);
    let server = tarmim_testing::start(db.clone(), config).await;
    let addr = server.addr;
    City {
        anon: Api::anonymous(addr),
        disp: Api::login(addr, "disp", PASSWORD).await,
        disp_d01: Api::login(addr, "d01", PASSWORD).await,
        crew: Api::login(addr, "crew", PASSWORD).await,
        server,
        db,
    }
}

fn form(report: &Value, photos: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"report\"\r\n\
             Content-Type: application/json\r\n\r\n{report}\r\n"
        )
        .as_bytes(),
    );
    for p in photos {
        out.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"photo\"; \
                 filename=\"p.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
            )
            .as_bytes(),
        );
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

fn photo() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/photos/near.jpg"
    ))
    .unwrap()
}

impl City {
    async fn file_with(
        &self,
        report: Value,
        photos: &[&[u8]],
        pow: Option<&str>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .anon
            .request(reqwest::Method::POST, "/api/v1/report")
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(form(&report, photos));
        if let Some(p) = pow {
            req = req.header("tarmim-pow", p);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn file(&self, report: Value, photos: &[&[u8]]) -> (StatusCode, Value) {
        let (s, _, v) = self.file_with(report, photos, None).await;
        (s, v)
    }

    async fn tasks(&self) -> usize {
        let total = self.disp.ok("/api/v1/console/queue").await["total"].as_u64();
        usize::try_from(total.unwrap()).unwrap()
    }

    async fn messages(&self) -> usize {
        server::storage::messages::inbox(&self.db, None, 1000)
            .await
            .unwrap()
            .len()
    }

    async fn stop(self) {
        self.server.shutdown().await.unwrap();
    }
}

fn pothole(lat: f64, lon: f64) -> Value {
    json!({
        "kind": "request", "service": "pothole", "lat": lat, "lon": lon,
        "description": "چاله‌ی عمیق جلوی نانوایی", "attributes": {"size": "large"},
        "email": "citizen@example.com", "phone": "۰۹۱۲ ۱۲۳ ۴۵۶۷", "consent": true, "lang": "fa"
    })
}

async fn a_pothole_with_a_photo_and_a_contact(f: &Fixture) {
    let c = city(f, |_| {}).await;
    let page = c.anon.raw("/report").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("/report/static/app.js"));
    let s = c.anon.ok("/api/v1/report/settings").await;
    assert_eq!(s["pow_bits"], 0);
    assert_eq!(s["kinds"].as_array().unwrap().len(), 7);
    assert_eq!(s["kinds"][0], json!({"kind": "request", "field": true}));

    // The district before sending; a point outside every district in plain words.
    let d = c
        .anon
        .ok(&format!(
            "/api/v1/report/district?lat={}&lon={}",
            D01.0, D01.1
        ))
        .await;
    assert_eq!(d["code"], "D01");
    let (s, v) = c
        .anon
        .get(&format!(
            "/api/v1/report/district?lat={}&lon={}",
            NOWHERE.0, NOWHERE.1
        ))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("outside every district"),
        "{v}"
    );
    let (s, _) = c.anon.get("/api/v1/report/district?lat=95&lon=0").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let p = photo();
    let (s, r) = c.file(pothole(D01.0, D01.1), &[&p]).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["kind"], "request");
    assert_eq!(r["district"]["code"], "D01");
    assert_eq!(r["contact_stored"], true);
    let code = r["tracking_code"].as_str().unwrap().to_owned();
    assert_eq!(r["track_path"], format!("/track/{code}"));

    // Filed through the intake: a task in D01, auto-assignment as any citizen report,
    // the photo attached, the contact where Open311 keeps contacts (phone normalised).
    let t = c.anon.ok(&format!("/api/v1/track/{code}")).await;
    assert_eq!(t["kind"], "request");
    assert_eq!(t["category"]["code"], "pothole");
    assert_eq!(t["district"]["code"], "D01");
    assert_eq!(t["description"], "چاله‌ی عمیق جلوی نانوایی");
    assert!(t["answer"].is_null());
    let tasks = c.disp.ok("/api/v1/console/queue").await;
    let task = tasks["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["category"] == "pothole")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let detail = c.disp.ok(&format!("/api/v1/console/tasks/{task}")).await;
    assert_eq!(detail["task"]["source"], "citizen", "{detail}");
    assert_eq!(
        detail["task"]["photos"].as_array().map(Vec::len),
        Some(1),
        "{detail}"
    );
    // The citizen's photo is the tracking page's "before" photo until a crew's is taken.
    let t = c.anon.ok(&format!("/api/v1/track/{code}")).await;
    assert_eq!(
        t["photos"]["before"].as_array().map(Vec::len),
        Some(1),
        "{t} {detail}"
    );
    assert_eq!(t["photos"]["after"], json!([]), "{t}");
    let contact = server::storage::open311::contact_of(&c.db, &task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(contact.email.as_deref(), Some("citizen@example.com"));
    assert_eq!(contact.phone.as_deref(), Some("+989121234567"));
    assert!(!detail.to_string().contains("citizen@example.com"));
    assert_eq!(
        server::storage::messages::report_origin(&c.db, &task)
            .await
            .unwrap(),
        Some(("request".into(), "fa".into()))
    );

    // A second citizen nearby is offered the first report and adds a +1 instead.
    let near = c
        .anon
        .ok(&format!(
            "/api/v1/report/nearby?service=pothole&lat={}&lon={}",
            D01.0 + 0.0001,
            D01.1
        ))
        .await;
    assert_eq!(near.as_array().unwrap().len(), 1, "{near}");
    assert_eq!(near[0]["id"], task.as_str());
    let (s, plus) = c
        .anon
        .post(
            &format!("/api/v1/report/support/{task}"),
            json!({"lang": "en"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{plus}");
    assert_eq!(plus["contact_stored"], false);
    let t = c
        .anon
        .ok(&format!(
            "/api/v1/track/{}",
            plus["tracking_code"].as_str().unwrap()
        ))
        .await;
    assert_eq!(t["supporters"], 1);
    let (s, _) = c
        .anon
        .post("/api/v1/report/support/T-NOSUCHTASK", json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // A complaint about the report, its code typed on a Persian keyboard (Persian
    // digits, lower case): filed about the same task.
    let persian: String = code
        .to_lowercase()
        .chars()
        .map(|ch| match ch.to_digit(10) {
            Some(d) if ch.is_ascii_digit() => char::from_u32(0x06F0 + d).unwrap(),
            _ => ch,
        })
        .collect();
    let (s, r) = c
        .file(
            json!({"kind": "complaint", "description": "Still not fixed.", "about_task": persian}),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{persian}: {r}");
    let all = c.disp.ok("/api/v1/desk/messages").await;
    let complaint = all
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "complaint")
        .unwrap();
    assert_eq!(complaint["about_task"], task.as_str(), "{complaint}");
    c.stop().await;
}

async fn a_suggestion_without_a_point_is_answered(f: &Fixture) {
    // The citizen's e-mail goes to a real SMTP server on loopback: the code when filed,
    // the answer's news when answered.
    let sink = tarmim_testing::smtp::SmtpSink::start(tarmim_testing::smtp::Mode::Accept).await;
    let c = city(f, |cfg| {
        cfg.public_url = Some("https://137.example".into());
        cfg.outbox.smtp_url = Some(sink.url());
        cfg.outbox.tick_ms = 50;
    })
    .await;
    let before = c.tasks().await;
    let (s, r) = c
        .file(
            json!({"kind": "suggestion", "description": "More benches in the park, please.",
                   "email": "me@example.org", "consent": true, "lang": "en"}),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["kind"], "suggestion");
    assert!(r["district"].is_null());
    let code = r["tracking_code"].as_str().unwrap().to_owned();
    // Never a task: nothing for a crew.
    assert_eq!(c.tasks().await, before);

    let bare = code.replace('-', "");
    crate::outbox::wait_for("the receipt e-mail", async || sink.mailbox().len() == 1).await;
    let receipt = &sink.mailbox()[0];
    assert_eq!(receipt.to, vec!["<me@example.org>".to_owned()]);
    let subject = receipt.header("Subject").unwrap();
    assert!(subject.contains("Report received"), "{subject}");
    assert!(subject.contains(&code), "{subject}");

    let t = c.anon.ok(&format!("/api/v1/track/{code}")).await;
    assert_eq!(t["kind"], "suggestion");
    assert_eq!(t["status"], "received");
    assert!(t["point"].is_null());
    assert!(t["answer"].is_null());

    // The city's inbox: every dispatcher reads it; crews do not.
    let inbox = c.disp_d01.ok("/api/v1/desk/messages").await;
    let m = inbox.as_array().unwrap()[0].clone();
    assert_eq!(m["inbox"], "city");
    assert_eq!(m["kind"], "suggestion");
    assert_eq!(m["channel"], "web");
    assert_eq!(m["lang"], "en");
    let id = m["id"].as_str().unwrap().to_owned();
    let contact = server::storage::open311::contact_of(&c.db, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(contact.email.as_deref(), Some("me@example.org"));
    let (s, _) = c.crew.get("/api/v1/desk/messages").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = c
        .crew
        .post(
            &format!("/api/v1/desk/messages/{id}/answer"),
            json!({"text": "no"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Bad answers change nothing.
    for bad in [
        json!({"text": ""}),
        json!({"text": "<b>hi</b>"}),
        json!({"text": "x".repeat(4001)}),
        json!({}),
    ] {
        let (s, v) = c
            .disp
            .post(&format!("/api/v1/desk/messages/{id}/answer"), bad)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    }
    let (s, _) = c
        .disp
        .post(
            "/api/v1/desk/messages/M-000000000000/answer",
            json!({"text": "hello"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, a) = c
        .disp
        .post(
            &format!("/api/v1/desk/messages/{id}/answer"),
            json!({"text": "Thank you: the park gets ten benches in spring."}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert!(a["answered_at"].is_i64());
    // Once.
    let (s, _) = c
        .disp
        .post(
            &format!("/api/v1/desk/messages/{id}/answer"),
            json!({"text": "again"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    let t = c.anon.ok(&format!("/api/v1/track/{code}")).await;
    assert_eq!(t["status"], "answered");
    assert_eq!(
        t["answer"]["text"],
        "Thank you: the park gets ten benches in spring."
    );
    let steps: Vec<&str> = t["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["received", "answered"]);
    // The citizen is told, in English, with the tracking link; once.
    crate::outbox::wait_for("the answer's e-mail", async || sink.mailbox().len() == 2).await;
    let news = &sink.mailbox()[1];
    let subject = news.header("Subject").unwrap();
    assert!(subject.contains("The city answered"), "{subject}");
    let body = news.body().replace("=\r\n", "");
    assert!(
        body.contains(&format!("https://137.example/track/{bare}")),
        "{body}"
    );
    assert!(body.contains("More benches in the park"), "{body}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(sink.attempts(), 2, "each message sent once");
    // A message is not rated.
    let (s, _) = c
        .anon
        .post(&format!("/api/v1/track/{code}/rating"), json!({"stars": 5}))
        .await;
    assert!(s.is_client_error(), "{s}");
    c.stop().await;
}

async fn messages_go_to_their_districts_inbox(f: &Fixture) {
    let c = city(f, |_| {}).await;
    let (s, r) = c
        .file(
            json!({"kind": "complaint", "description": "The crew left rubble behind.",
                   "lat": D06.0, "lon": D06.1, "about_unit": "C-D06-A"}),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["district"]["code"], "D06");
    let (s, r) = c
        .file(
            json!({"kind": "thanks", "description": "Great work on our street!", "district": "D01"}),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    // D01's dispatcher sees the thanks, not D06's complaint, and cannot answer it.
    let mine = c.disp_d01.ok("/api/v1/desk/messages").await;
    let kinds: Vec<&str> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["thanks"]);
    let all = c.disp.ok("/api/v1/desk/messages").await;
    let complaint = all
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "complaint")
        .unwrap();
    assert_eq!(complaint["inbox"], "D06");
    assert_eq!(complaint["about_unit"], "C-D06-A");
    let (s, _) = c
        .disp_d01
        .post(
            &format!(
                "/api/v1/desk/messages/{}/answer",
                complaint["id"].as_str().unwrap()
            ),
            json!({"text": "We are on it."}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let tokens = [&c.disp, &c.disp_d01, &c.crew].map(|a| a.token.clone());

    // City-wide inboxes when configured so (a second replica on the same store: a server
    // that stops closes the store).
    let c2 = city_again(f, tokens).await;
    let (s, r) = c2
        .file(
            json!({"kind": "idea", "description": "A night market.", "lat": D06.0, "lon": D06.1}),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let all = c2.disp.ok("/api/v1/desk/messages").await;
    let idea = all
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "idea")
        .unwrap();
    assert_eq!(idea["inbox"], "city");
    assert_eq!(idea["district"], "D06");
    c2.stop().await;
    c.stop().await;
}

/// A second server on the same store with city-wide inboxes, with the first's logins.
async fn city_again(f: &Fixture, tokens: [Option<String>; 3]) -> City {
    let mut config = f.config.clone();
    config.report.pow_bits = 0;
    config.report.per_minute = 1000;
    config.report.inbox = server::base::config::report::InboxMode::City;
    let server = tarmim_testing::start(f.db.clone(), config).await;
    let addr = server.addr;
    let [disp, disp_d01, crew] = tokens.map(|token| Api {
        token,
        ..Api::anonymous(addr)
    });
    City {
        anon: Api::anonymous(addr),
        disp,
        disp_d01,
        crew,
        server,
        db: f.db.clone(),
    }
}

/// What is sent, the report, its photos, the status and words wanted.
type Case<'a> = (&'a str, Value, Vec<&'a [u8]>, StatusCode, &'a str);

async fn bad_input_is_refused_and_nothing_is_stored(f: &Fixture) {
    let c = city(f, |cfg| cfg.open311.max_media_bytes = 64 * 1024).await;
    let tasks = c.tasks().await;
    let messages = c.messages().await;
    let good = pothole(D01.0, D01.1);
    let with = |k: &str, v: Value| {
        let mut g = good.clone();
        g[k] = v;
        g
    };
    let big = vec![0xFFu8; 65 * 1024];
    let p = photo();
    let cases: Vec<Case> = vec![
        (
            "outside every district",
            with("lat", json!(NOWHERE.0)),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "outside every district",
        ),
        (
            "outside, with a photo",
            with("lon", json!(NOWHERE.1)),
            vec![&p],
            StatusCode::UNPROCESSABLE_ENTITY,
            "outside every district",
        ),
        (
            "not an image",
            good.clone(),
            vec![b"%PDF-1.4 not a photo"],
            StatusCode::BAD_REQUEST,
            "media",
        ),
        (
            "too large",
            good.clone(),
            vec![&big],
            StatusCode::PAYLOAD_TOO_LARGE,
            "limit",
        ),
        (
            "four photos",
            good.clone(),
            vec![&p, &p, &p, &p],
            StatusCode::BAD_REQUEST,
            "at most 3",
        ),
        (
            "invalid e-mail",
            with("email", json!("not-an-address")),
            vec![],
            StatusCode::BAD_REQUEST,
            "e-mail",
        ),
        (
            "e-mail with HTML",
            with("email", json!("<a>@b.c")),
            vec![],
            StatusCode::BAD_REQUEST,
            "e-mail",
        ),
        (
            "invalid phone",
            with("phone", json!("12")),
            vec![],
            StatusCode::BAD_REQUEST,
            "phone",
        ),
        (
            "letters in a phone",
            with("phone", json!("0912-CALL-ME")),
            vec![],
            StatusCode::BAD_REQUEST,
            "phone",
        ),
        (
            "contact without consent",
            with("consent", json!(false)),
            vec![],
            StatusCode::BAD_REQUEST,
            "consent",
        ),
        (
            "10,000 characters",
            with("description", json!("ب".repeat(10_000))),
            vec![],
            StatusCode::BAD_REQUEST,
            "at most 4000",
        ),
        (
            "HTML in the description",
            with("description", json!("<script>alert(1)</script>")),
            vec![],
            StatusCode::BAD_REQUEST,
            "HTML",
        ),
        (
            "HTML in the address",
            with("address", json!("<img src=x>")),
            vec![],
            StatusCode::BAD_REQUEST,
            "HTML",
        ),
        (
            "a request without a point",
            json!({"kind": "request", "service": "pothole", "description": "here"}),
            vec![],
            StatusCode::BAD_REQUEST,
            "needs a place",
        ),
        (
            "a violation without a point",
            json!({"kind": "violation", "service": "violation", "description": "here"}),
            vec![],
            StatusCode::BAD_REQUEST,
            "needs a place",
        ),
        (
            "half a point",
            with("lon", Value::Null),
            vec![],
            StatusCode::BAD_REQUEST,
            "both or neither",
        ),
        (
            "not a WGS84 point",
            with("lat", json!(123.0)),
            vec![],
            StatusCode::BAD_REQUEST,
            "latitude",
        ),
        (
            "no service",
            json!({"kind": "request", "lat": D01.0, "lon": D01.1}),
            vec![],
            StatusCode::BAD_REQUEST,
            "service",
        ),
        (
            "unknown service",
            with("service", json!("unicorn")),
            vec![],
            StatusCode::BAD_REQUEST,
            "unknown service",
        ),
        (
            "bad attribute",
            with("attributes", json!({"size": "enormous"})),
            vec![],
            StatusCode::BAD_REQUEST,
            "size",
        ),
        (
            "unknown kind",
            with("kind", json!("prayer")),
            vec![],
            StatusCode::BAD_REQUEST,
            "unknown variant",
        ),
        (
            "unknown field",
            with("secret", json!(1)),
            vec![],
            StatusCode::BAD_REQUEST,
            "secret",
        ),
        (
            "a message without words",
            json!({"kind": "idea", "description": "  "}),
            vec![],
            StatusCode::BAD_REQUEST,
            "required",
        ),
        (
            "a message of 10,000 characters",
            json!({"kind": "criticism", "description": "x".repeat(10_000)}),
            vec![],
            StatusCode::BAD_REQUEST,
            "at most 4000",
        ),
        (
            "HTML in a message",
            json!({"kind": "complaint", "description": "<iframe src=//evil>"}),
            vec![],
            StatusCode::BAD_REQUEST,
            "HTML",
        ),
        (
            "HTML in a unit's name",
            json!({"kind": "complaint", "description": "rude", "about_unit": "<b>crew</b>"}),
            vec![],
            StatusCode::BAD_REQUEST,
            "HTML",
        ),
        (
            "a message about an unknown report",
            json!({"kind": "complaint", "description": "late", "about_task": "AAAA-BBBB-CCCC"}),
            vec![],
            StatusCode::BAD_REQUEST,
            "no report",
        ),
        (
            "a message in an unknown district",
            json!({"kind": "thanks", "description": "great", "district": "D99"}),
            vec![],
            StatusCode::BAD_REQUEST,
            "no district",
        ),
        (
            "a message placed outside",
            json!({"kind": "idea", "description": "a pier", "lat": NOWHERE.0, "lon": NOWHERE.1}),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "outside every district",
        ),
        (
            "a photo with a message",
            json!({"kind": "thanks", "description": "thanks"}),
            vec![&p],
            StatusCode::BAD_REQUEST,
            "photos go with",
        ),
    ];
    for (what, report, photos, want, words) in cases {
        let (s, v) = c.file(report, &photos).await;
        assert_eq!(s, want, "{what}: {v}");
        let message = v["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{what}: {v}");
        assert!(
            !message.contains('{'),
            "{what}: a plain message, not a dump: {v}"
        );
    }
    // Forms that are not forms.
    let r = c
        .anon
        .request(reqwest::Method::POST, "/api/v1/report")
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = c
        .anon
        .request(reqwest::Method::POST, "/api/v1/report")
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"report\"\r\n\r\n{{not json\r\n--{BOUNDARY}--\r\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Nothing was stored by any of them.
    assert_eq!(c.tasks().await, tasks);
    assert_eq!(c.messages().await, messages);
    c.stop().await;
}

async fn proof_of_work_and_the_per_address_limit(f: &Fixture) {
    let c = city(f, |cfg| {
        cfg.report.pow_bits = 8;
        cfg.report.per_minute = 4;
    })
    .await;
    let s = c.anon.ok("/api/v1/report/settings").await;
    assert_eq!(s["pow_bits"], 8);
    let idea = json!({"kind": "idea", "description": "Trees on Valiasr."});
    let (s, _, v) = c.file_with(idea.clone(), &[], None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["message"].as_str().unwrap().contains("proof of work"));
    let (s, _, v) = c.file_with(idea.clone(), &[], Some("1:2:3")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let minute = server::base::time::now_millis() / 60_000;
    let stamp = server::domain::integrity::pow::solve(8, minute, "abc");
    let (s, _, v) = c.file_with(idea.clone(), &[], Some(&stamp)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // A stamp works once.
    let (s, _, v) = c.file_with(idea.clone(), &[], Some(&stamp)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["message"].as_str().unwrap().contains("already used"));
    // Four filings a minute from one address, then 429 with Retry-After.
    let (s, h, v) = c.file_with(idea.clone(), &[], None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert!(h.get("retry-after").is_some());
    assert_eq!(c.messages().await, 1);
    c.stop().await;
}

/// Issue 17: a message, its tracking code, its citizen's contact and the receipt to that
/// contact are stored in one transaction. With a fault injected in the contact's write,
/// or in the receipt's, the page and Open311 answer 5xx and nothing is stored (before:
/// 201 with a code whose contact or receipt was lost, only logged); without it, all of
/// it is stored and the receipt waits in the outbox.
async fn a_message_is_stored_whole_or_not_at_all(f: &Fixture) {
    let c = city(f, |_| {}).await;
    let message = json!({"kind": "idea", "description": "A fountain in the square.",
                         "email": "me@example.org", "consent": true, "lang": "en"});
    let open311 = async || {
        let form = [
            ("api_key", server::domain::open311::keys::DEMO_KEY),
            ("service_code", "msg_idea"),
            ("description", "A fountain in the square."),
            ("email", "me@example.org"),
        ];
        tarmim_testing::http()
            .post(format!("http://{}/open311/v2/requests.json", c.server.addr))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).unwrap())
            .send()
            .await
            .unwrap()
            .status()
    };
    for table in ["open311_contacts", "outbox"] {
        crate::outbox::inject_fault(&c.db, table).await;
        let (s, r) = c.file(message.clone(), &[]).await;
        assert!(s.is_server_error(), "page, fault in {table}: {s} {r}");
        let s = open311().await;
        assert!(s.is_server_error(), "Open311, fault in {table}: {s}");
        for stored in [
            "citizen_messages",
            "tracking_codes",
            "open311_contacts",
            "outbox",
        ] {
            assert_eq!(
                crate::outbox::rows(&c.db, stored).await,
                0,
                "{stored} after a fault in {table}"
            );
        }
        crate::outbox::clear_fault(&c.db, table).await;
    }
    let (s, r) = c.file(message, &[]).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["contact_stored"], true, "{r}");
    assert_eq!(open311().await, StatusCode::CREATED);
    for stored in [
        "citizen_messages",
        "tracking_codes",
        "open311_contacts",
        "outbox",
    ] {
        assert_eq!(crate::outbox::rows(&c.db, stored).await, 2, "{stored}");
    }
}

on_both_backends!(
    a_pothole_with_a_photo_and_a_contact,
    a_message_is_stored_whole_or_not_at_all,
    a_suggestion_without_a_point_is_answered,
    messages_go_to_their_districts_inbox,
    bad_input_is_refused_and_nothing_is_stored,
    proof_of_work_and_the_per_address_limit,
);

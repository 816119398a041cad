//! The citizens' tracking page and feedback end to end, on both backends: the public
//! view of a code (no crew, user or device names; no-store, no-referrer), unknown and
//! malformed codes (one 404), a merged report followed to its survivor, rating (once, in
//! the window, after completion, 1–5 stars), "not fixed" with a photo (reopens the task
//! as the citizen; a corrupt photo changes nothing), the per-address limit, and the demo
//! city's showcase. A real server on a loopback port; reports are filed and assigned
//! through the console API; the crew's work (acknowledge, before photo, start, after
//! photo, complete) is the same document edit a phone makes, applied on the server with
//! the crew as actor, with photos through the real photo pipeline.

use reqwest::StatusCode;
use serde_json::{Value, json};
use server::base::config::Config;
use server::base::time::now_millis;
use server::domain::dispatch::edit;
use server::domain::identity::{UserRole, hash_password};
use server::domain::photo::ingest;
use server::http::{AppState, RunningServer};
use server::storage::{Crew, IdentityStore, NewUser};
use sync_core::task::{EventKind, PhotoKind, PhotoRef};
use sync_core::{Actor, DeviceId, DocId, Role};
use tarmim_testing::Fixture;
use tarmim_testing::on_both_backends;

const PASSWORD: &str = "pass-word-1";
const DAY: i64 = 24 * 60 * 60 * 1000;

struct City {
    state: AppState,
    server: RunningServer,
    base: String,
    http: reqwest::Client,
    disp: String,
    cc: String,
}

async fn city(f: &Fixture, tweak: impl FnOnce(&mut Config)) -> City {
    let db = f.db.clone();
    tarmim_testing::demo_map(&db).await;
    db.upsert_crew(&Crew {
        id: "C-D01-A".into(),
        name: "Tajrish A".into(),
        district: "D01".into(),
        skills: vec!["pothole".into()],
        contractor: None,
        on_duty: true,
    })
    .await
    .unwrap();
    for (id, login, role, districts) in [
        (
            "u-disp",
            "disp",
            UserRole::Dispatcher,
            (1..=12).map(|d| format!("D{d:02}")).collect::<Vec<_>>(),
        ),
        ("u-cc", "cc", UserRole::CallCentre, vec![]),
    ] {
        db.create_user(&NewUser {
            id: id.into(),
            login: login.into(),
            password_hash: hash_password(PASSWORD).unwrap(),
            role,
            crew: None,
            districts,
            contractor: None,
        })
        .await
        .unwrap();
    }
    let mut config = f.config.clone();
    tweak(&mut config);
    let state = AppState::new(db, config);
    let server = RunningServer::start(state.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", server.addr);
    let http = tarmim_testing::http();
    let mut tokens = Vec::new();
    for login in ["disp", "cc"] {
        let r: Value = http
            .post(format!("{base}/api/v1/login"))
            .json(
                &json!({"login": login, "password": PASSWORD, "device_id": format!("dev-{login}")}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.push(r["token"].as_str().unwrap().to_owned());
    }
    City {
        state,
        server,
        base,
        http,
        cc: tokens.pop().unwrap(),
        disp: tokens.pop().unwrap(),
    }
}

impl City {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
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

    /// Files a report in D01 through the console; returns (task id, tracking code).
    async fn file(&self, title: &str) -> (String, String) {
        let (s, _, body) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/console/tasks",
                Some(&self.cc),
                Some(json!({
                    "category": "pothole", "title": title, "description": "Deep, by the bakery.",
                    "lat": 35.7205, "lon": 51.3375, "address": "Shariati St."
                })),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        (
            body["task"]["id"].as_str().unwrap().to_owned(),
            body["tracking_code"].as_str().unwrap().to_owned(),
        )
    }

    async fn track(&self, code: &str) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        self.call(
            reqwest::Method::GET,
            &format!("/api/v1/track/{code}"),
            None,
            None,
        )
        .await
    }

    async fn rate(&self, code: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, b) = self
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/track/{code}/rating"),
                None,
                Some(body),
            )
            .await;
        (s, b)
    }

    /// `POST …/not-fixed` with a hand-built multipart body.
    async fn not_fixed(&self, code: &str, parts: &[(&str, &[u8])]) -> (StatusCode, Value) {
        let boundary = "tarmim-test-boundary-7f3a";
        let mut body = Vec::new();
        for (name, bytes) in parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            if *name == "photo" {
                body.extend_from_slice(
                    b"Content-Disposition: form-data; name=\"photo\"; filename=\"p.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n",
                );
            } else {
                body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                );
            }
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        self.raw_not_fixed(
            code,
            &format!("multipart/form-data; boundary={boundary}"),
            body,
        )
        .await
    }

    async fn raw_not_fixed(&self, code: &str, ctype: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}/api/v1/track/{code}/not-fixed", self.base))
            .header("content-type", ctype)
            .body(body)
            .send()
            .await
            .unwrap();
        let s = r.status();
        let text = r.text().await.unwrap();
        (
            s,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn detail(&self, task: &str) -> Value {
        let (s, _, body) = self
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/console/tasks/{task}"),
                Some(&self.disp),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        body
    }

    /// The crew does the job: acknowledged, before photo, started, after photo,
    /// completed at `done_at`.
    async fn complete(&self, task: &str, done_at: i64) {
        let (s, _, body) = self
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/console/tasks/{task}/assign"),
                Some(&self.disp),
                Some(json!({"crew": "C-D01-A"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let crew = Actor {
            user: "u-crew-a".into(),
            role: Role::Crew,
            crew: Some("C-D01-A".into()),
            device: DeviceId::new("phone-crew-a").unwrap(),
        };
        let seed = rand::random::<u32>() % 1000;
        let mut refs = Vec::new();
        for (kind, hole, patch) in [
            (PhotoKind::Before, true, false),
            (PhotoKind::After, false, true),
        ] {
            let row = ingest::ingest_bytes(
                &self.state.db,
                &self.state.photos,
                server::demo::road_photo(seed * 2 + refs.len() as u32, hole, patch),
                task,
                Some(kind.as_str()),
                "phone-crew-a",
            )
            .await
            .unwrap();
            refs.push(PhotoRef {
                hash: row.hash,
                kind,
                taken_at: None,
                taken_point: None,
                author: crew.user.clone(),
                device: crew.device.to_string(),
                bytes: row.bytes as u64,
                mime: row.mime,
                added_at: now_millis(),
            });
        }
        let id = DocId::new(task).unwrap();
        let now = now_millis();
        edit::edit(&self.state.dispatch, &id, |doc, _| {
            doc.append_event(&crew, now, EventKind::Acknowledged)?;
            doc.add_photo(&crew, refs[0].clone())?;
            doc.append_event(&crew, now, EventKind::Started)?;
            doc.add_photo(&crew, refs[1].clone())?;
            doc.append_event(
                &crew,
                done_at,
                EventKind::Completed {
                    photos: vec![refs[1].hash.clone()],
                },
            )?;
            Ok(Some(()))
        })
        .await
        .unwrap()
        .expect("completed");
    }

    async fn stop(self) {
        self.server.shutdown().await.unwrap();
    }
}

fn status_of(detail: &Value) -> &str {
    detail["task"]["derived"]["status"].as_str().unwrap()
}

// ------------------------------------------------------------------ tests

async fn view_of_a_code(f: &Fixture) {
    let c = city(f, |_| {}).await;
    let (task, code) = c.file("Pothole on Shariati").await;
    let (s, h, v) = c.track(&code).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(v["code"], code.as_str());
    assert_eq!(v["status"], "queued");
    assert_eq!(v["title"], "Pothole on Shariati");
    assert_eq!(v["category"]["name"], "Pothole");
    assert_eq!(v["district"]["code"], "D01");
    assert_eq!(v["feedback"]["open"], false);
    assert!(v["expected_by"].is_i64(), "{v}");
    // Typed as people do: lower case, spaces instead of dashes.
    let typed = code.to_lowercase().replace('-', " ");
    let (s, _, v2) = c.track(&typed.replace(' ', "%20")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v2["title"], v["title"]);

    c.complete(&task, now_millis()).await;
    let (_, _, v) = c.track(&code).await;
    assert_eq!(v["status"], "completed");
    assert_eq!(v["feedback"]["open"], true);
    assert_eq!(v["feedback"]["can_rate"], true);
    assert_eq!(v["feedback"]["window_days"], 14.0);
    let kinds: Vec<&str> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "received",
            "routed",
            "assigned",
            "accepted",
            "started",
            "completed"
        ]
    );
    // Nothing internal: no crew, user or device names, no internal reasons.
    let text = v.to_string();
    for secret in [
        "C-D01-A",
        "u-crew-a",
        "phone-crew-a",
        "u-cc",
        "dev-cc",
        "Tajrish A",
        "server-",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    for kind in ["before", "after"] {
        let photos = v["photos"][kind].as_array().unwrap();
        assert_eq!(photos.len(), 1, "{kind}: {v}");
        for url in [&photos[0]["display"], &photos[0]["thumb"]] {
            let r = c
                .http
                .get(format!("{}{}", c.base, url.as_str().unwrap()))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.headers()["content-type"], "image/jpeg");
        }
    }
    // The page itself.
    let r = c
        .http
        .get(format!("{}/track/{code}", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(r.headers().get("set-cookie").is_none());
    let html = r.text().await.unwrap();
    assert!(html.contains("cmp-slider") && html.contains("/track/static/app.js"));
    for asset in ["app.js", "style.css"] {
        let r = c
            .http
            .get(format!("{}/track/static/{asset}", c.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{asset}");
    }
    // Dispatchers see the codes of a task (to read them to callers).
    let d = c.detail(&task).await;
    assert_eq!(d["tracking_codes"][0]["code"], code.as_str());
    assert_eq!(d["tracking_codes"][0]["role"], "reporter");
    c.stop().await;
}

async fn unknown_code_is_404(f: &Fixture) {
    let c = city(f, |_| {}).await;
    let (s1, h, unknown) = c.track("ZZZZ-ZZZZ-ZZZZ").await;
    let (s2, _, malformed) = c.track("not-a-code!").await;
    let (s3, _, short) = c.track("ABCD").await;
    assert_eq!(
        (s1, s2, s3),
        (
            StatusCode::NOT_FOUND,
            StatusCode::NOT_FOUND,
            StatusCode::NOT_FOUND
        )
    );
    assert_eq!(unknown, malformed);
    assert_eq!(unknown, short);
    assert_eq!(unknown["error"], "not_found");
    assert_eq!(h["cache-control"], "no-store");
    let (s, body) = c.rate("ZZZZ-ZZZZ-ZZZZ", json!({"stars": 5})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(body, unknown);
    let (s, body) = c
        .not_fixed(
            "ZZZZ-ZZZZ-ZZZZ",
            &[("photo", &server::demo::road_photo(1, true, false))],
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(body, unknown);
    c.stop().await;
}

/// `code` with its digits in the block starting at `zero` (Persian ۰ U+06F0, Arabic-Indic
/// ٠ U+0660).
fn digits_from(code: &str, zero: u32) -> String {
    code.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) if c.is_ascii_digit() => char::from_u32(zero + d).unwrap(),
            _ => c,
        })
        .collect()
}

/// Percent-encodes everything but ASCII letters, digits and `-`.
fn path_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' => out.push(*b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A code typed on a Persian or Arabic keyboard (its digits ۰–۹ or ٠–٩), in lower case,
/// or both, resolves to the same report through the public API, and rates it.
async fn a_code_typed_in_persian_digits_or_lower_case_resolves(f: &Fixture) {
    let c = city(f, |_| {}).await;
    // A code with digits in it (most have some; file until one has two or more).
    let (task, code) = loop {
        let (task, code) = c.file("Pothole on Shariati").await;
        if code.chars().filter(char::is_ascii_digit).count() >= 2 {
            break (task, code);
        }
    };
    let lower = code.to_lowercase();
    let persian = digits_from(&code, 0x06F0);
    let arabic = digits_from(&code, 0x0660);
    let persian_lower_spaced = digits_from(&lower, 0x06F0).replace('-', " ");
    assert_ne!(persian, code);
    for typed in [&lower, &persian, &arabic, &persian_lower_spaced] {
        let (s, _, v) = c.track(&path_segment(typed)).await;
        assert_eq!(s, StatusCode::OK, "{typed}: {v}");
        assert_eq!(v["code"], code.as_str(), "{typed}");
        assert_eq!(v["title"], "Pothole on Shariati");
    }
    // Another script's digits are no code: the same 404 as any unknown code.
    let devanagari: String = code
        .chars()
        .map(|c| match c.to_digit(10) {
            Some(d) if c.is_ascii_digit() => char::from_u32(0x0966 + d).unwrap(),
            _ => c,
        })
        .collect();
    let (s, _, _) = c.track(&path_segment(&devanagari)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The feedback routes read the code the same way.
    c.complete(&task, now_millis()).await;
    let (s, body) = c
        .rate(&path_segment(&persian_lower_spaced), json!({"stars": 5}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (_, _, v) = c.track(&code).await;
    assert_eq!(v["feedback"]["can_rate"], false, "{v}");
    c.stop().await;
}

async fn merged_task_is_followed(f: &Fixture) {
    let c = city(f, |_| {}).await;
    let (survivor, survivor_code) = c.file("Pothole, first report").await;
    let (dup, dup_code) = c.file("Same pothole again").await;
    // The console offers the first report as a possible duplicate of the second.
    let d = c.detail(&dup).await;
    let nearby = d["nearby"].as_array().unwrap();
    assert_eq!(nearby.len(), 1, "{d}");
    assert_eq!(nearby[0]["id"], survivor.as_str());
    assert!(nearby[0]["distance_m"].as_f64().unwrap() < 1.0);
    let (s, _, body) = c
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/console/tasks/{dup}/duplicate"),
            Some(&c.disp),
            Some(json!({"of": survivor})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _, v) = c.track(&dup_code).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["title"], "Pothole, first report");
    assert!(v["merged"]["message"].as_str().unwrap().contains("merged"));
    assert_eq!(v["code"], dup_code.as_str());
    let (_, _, own) = c.track(&survivor_code).await;
    assert!(own["merged"].is_null());
    // Closed as a duplicate, it offers nothing more to merge into.
    assert_eq!(c.detail(&dup).await["nearby"], json!([]));
    // The merged report's citizen rates the survivor once it is done.
    c.complete(&survivor, now_millis()).await;
    let (s, body) = c
        .rate(&dup_code, json!({"stars": 5, "comment": "quick"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let d = c.detail(&survivor).await;
    assert_eq!(d["task"]["derived"]["rating"], 5);
    // The document holds one rating: a second code's is recorded beside it, not in it.
    let (s, body) = c.rate(&survivor_code, json!({"stars": 3})).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["in_task"], false);
    let d = c.detail(&survivor).await;
    assert_eq!(d["task"]["derived"]["rating"], 5);
    let (_, _, v) = c.track(&survivor_code).await;
    assert_eq!(v["feedback"]["rated"], 3);
    let (s, _) = c.rate(&survivor_code, json!({"stars": 4})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    c.stop().await;
}

async fn rating(f: &Fixture) {
    let c = city(f, |_| {}).await;
    let (task, code) = c.file("Pothole to rate").await;
    // Before completion: refused, and nothing is kept (it may be tried later).
    let (s, body) = c.rate(&code, json!({"stars": 4})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("completed"),
        "{body}"
    );
    c.complete(&task, now_millis()).await;
    for bad in [
        json!({"stars": 0}),
        json!({"stars": 6}),
        json!({"stars": -1}),
        json!({"stars": "five"}),
        json!({}),
    ] {
        let (s, body) = c.rate(&code, bad.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (s, body) = c
        .rate(&code, json!({"stars": 4, "comment": "x".repeat(1001)}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, body) = c
        .rate(&code, json!({"stars": 4, "comment": "Good job"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["in_task"], true);
    let (s, body) = c.rate(&code, json!({"stars": 2})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    // The document: one Rated event, by a citizen pseudonym that is not the code.
    let d = c.detail(&task).await;
    assert_eq!(d["task"]["derived"]["rating"], 4);
    let rated: Vec<&Value> = d["task"]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["kind"]["kind"] == "rated")
        .collect();
    assert_eq!(rated.len(), 1, "{d}");
    assert_eq!(rated[0]["event"]["actor"]["role"], "citizen");
    let user = rated[0]["event"]["actor"]["user"].as_str().unwrap();
    assert!(user.starts_with("citizen-"));
    assert!(!user.contains(&code.replace('-', "")));
    let (_, _, v) = c.track(&code).await;
    assert_eq!(v["feedback"]["rated"], 4);
    assert_eq!(v["feedback"]["can_rate"], false);
    let last = v["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "rated");
    assert_eq!(last["yours"], true);
    c.stop().await;
}

async fn rating_outside_the_window(f: &Fixture) {
    let c = city(f, |_| {}).await;
    let (task, code) = c.file("Old pothole").await;
    // Completed (by the phone's clock) 15 days ago: the 14-day window has closed.
    c.complete(&task, now_millis() - 15 * DAY).await;
    let (_, _, v) = c.track(&code).await;
    assert_eq!(v["feedback"]["open"], false);
    assert_eq!(v["feedback"]["can_rate"], false);
    for _ in 0..2 {
        let (s, body) = c.rate(&code, json!({"stars": 3})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("window"),
            "{body}"
        );
    }
    let (s, body) = c
        .not_fixed(
            &code,
            &[("photo", &server::demo::road_photo(5, true, true))],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(status_of(&c.detail(&task).await), "completed");
    c.stop().await;
}

async fn not_fixed_reopens(f: &Fixture) {
    let c = city(f, |_| {}).await;
    let (task, code) = c.file("Pothole that comes back").await;
    c.complete(&task, now_millis()).await;
    let photo = server::demo::road_photo(77, true, true);
    let (s, body) = c
        .not_fixed(
            &code,
            &[("photo", &photo), ("comment", "Still a hole".as_bytes())],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["outcome"], "reopened");
    let d = c.detail(&task).await;
    assert_eq!(status_of(&d), "reopened");
    // Back with its crew; the last event is the citizen's.
    assert_eq!(d["task"]["derived"]["assignee"], "C-D01-A");
    let last = d["task"]["timeline"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["event"]["kind"]["kind"], "reopened");
    assert_eq!(last["event"]["kind"]["reason"], "Still a hole");
    assert_eq!(last["event"]["actor"]["role"], "citizen");
    assert_eq!(last["outcome"]["outcome"], "applied");
    let evidence: Vec<&Value> = d["task"]["photos"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "evidence")
        .collect();
    assert_eq!(evidence.len(), 1);
    let hash = evidence[0]["hash"].as_str().unwrap();
    let r = c
        .http
        .get(format!("{}/api/v1/photos/{hash}/display", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The district's dispatchers are told.
    assert!(
        d["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "reopened"),
        "{}",
        d["alerts"]
    );
    let (_, _, v) = c.track(&code).await;
    assert_eq!(v["status"], "reopened");
    assert_eq!(v["feedback"]["said_not_fixed"], true);
    // The citizen's "not fixed" photo is not shown as the report's "before" photo.
    let shown = v["photos"].to_string();
    assert!(!shown.contains(hash), "{shown}");
    // Once per code.
    let (s, body) = c.not_fixed(&code, &[("photo", &photo)]).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    c.stop().await;
}

async fn not_fixed_with_a_bad_photo_changes_nothing(f: &Fixture) {
    let c = city(f, |_| {}).await;
    let (task, code) = c.file("Pothole, bad photo").await;
    c.complete(&task, now_millis()).await;
    let before = c.detail(&task).await;
    let good = server::demo::road_photo(9, true, true);
    let truncated = &good[..good.len() / 2];
    type Case<'a> = (&'a str, Vec<(&'a str, &'a [u8])>, StatusCode);
    let cases: Vec<Case> = vec![
        (
            "garbage",
            vec![("photo", b"this is not a photo at all".as_slice())],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "truncated JPEG",
            vec![("photo", truncated)],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "GIF",
            vec![("photo", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".as_slice())],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "no photo",
            vec![("comment", b"no photo".as_slice())],
            StatusCode::BAD_REQUEST,
        ),
        (
            "empty photo",
            vec![("photo", b"".as_slice())],
            StatusCode::BAD_REQUEST,
        ),
        (
            "unknown field",
            vec![("photo", good.as_slice()), ("stars", b"5".as_slice())],
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (what, parts, want) in cases {
        let (s, body) = c.not_fixed(&code, &parts).await;
        assert_eq!(s, want, "{what}: {body}");
        assert!(body["message"].is_string(), "{what}: {body}");
    }
    let (s, body) = c
        .raw_not_fixed(
            &code,
            "multipart/form-data; boundary=xyz",
            b"--xyz\r\ngarbage".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, body) = c
        .raw_not_fixed(&code, "application/json", b"{}".to_vec())
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    // Nothing changed: same status, same photos, same events.
    let after = c.detail(&task).await;
    assert_eq!(status_of(&after), "completed");
    assert_eq!(after["task"]["photos"], before["task"]["photos"]);
    assert_eq!(after["task"]["timeline"], before["task"]["timeline"]);
    // And nothing was claimed: a good photo still reopens it.
    let (s, body) = c.not_fixed(&code, &[("photo", &good)]).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    c.stop().await;
}

async fn lookups_are_limited_per_address(f: &Fixture) {
    let c = city(f, |cfg| cfg.track_lookups_per_minute = 3).await;
    for _ in 0..3 {
        let (s, _, _) = c.track("ZZZZ-ZZZZ-ZZZZ").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    let (s, h, body) = c.track("ZZZZ-ZZZZ-ZZZZ").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    c.stop().await;
}

async fn demo_showcase(f: &Fixture) {
    server::demo::seed(&f.db, server::demo::DemoOptions { tasks: 5, seed: 1 })
        .await
        .unwrap();
    let photos = server::domain::photo::Photos::on_disk(&f.config);
    let codes = server::demo::seed_tracking_showcase(&f.db, &photos, &f.config)
        .await
        .unwrap();
    assert_eq!(codes.len(), 3);
    let state = AppState::new(f.db.clone(), f.config.clone());
    let server = RunningServer::start(state, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", server.addr);
    let get = |code: String| {
        let url = format!("{base}/api/v1/track/{code}");
        async move {
            tarmim_testing::http()
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let done = get(codes[0].1.clone()).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["feedback"]["can_rate"], true);
    assert_eq!(done["photos"]["before"].as_array().unwrap().len(), 1);
    assert_eq!(done["photos"]["after"].as_array().unwrap().len(), 1);
    assert_ne!(
        done["photos"]["before"][0]["display"],
        done["photos"]["after"][0]["display"]
    );
    let reopened = get(codes[1].1.clone()).await;
    assert_eq!(reopened["status"], "reopened");
    assert_eq!(reopened["feedback"]["said_not_fixed"], true);
    let merged = get(codes[2].1.clone()).await;
    assert_eq!(merged["title"], done["title"]);
    assert!(merged["merged"].is_object());
    server.shutdown().await.unwrap();
}

on_both_backends!(
    view_of_a_code,
    a_code_typed_in_persian_digits_or_lower_case_resolves,
    unknown_code_is_404,
    merged_task_is_followed,
    rating,
    rating_outside_the_window,
    not_fixed_reopens,
    not_fixed_with_a_bad_photo_changes_nothing,
    lookups_are_limited_per_address,
    demo_showcase,
);

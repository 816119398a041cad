//! Address search on both backends (issue 19 point 2): the gazetteer imported from
//! GeoJSON (through the domain and through the real binary), Arabic/Persian spelling
//! variants finding the same place, prefix and typo matches in rank order, the route's
//! bad input and roles, skipped features counted, and a 1,000,000-feature file streamed.

use reqwest::StatusCode;
use serde_json::{Value, json};
use server::domain::identity::{UserRole, hash_password};
use server::domain::places::import::{self, ImportOptions, ImportSummary, Item};
use server::domain::places::lookup;
use server::storage::places::count;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tarmim_testing::{Api, Fixture, ok, on_both_backends};

const PASSWORD: &str = "pass-word-1";

fn feature(name: Option<&str>, name_en: Option<&str>, geometry: Value) -> Value {
    let mut props = serde_json::Map::new();
    if let Some(n) = name {
        props.insert("name".into(), json!(n));
    }
    if let Some(n) = name_en {
        props.insert("name:en".into(), json!(n));
    }
    json!({"type": "Feature", "properties": props, "geometry": geometry})
}

fn point(lat: f64, lon: f64) -> Value {
    json!({"type": "Point", "coordinates": [lon, lat]})
}

/// A small gazetteer inside the demo districts (D01 is lon 51.32–51.355, lat
/// 35.705–35.735), spelt the Persian way; one place outside every district.
fn gazetteer() -> Value {
    json!({"type": "FeatureCollection", "features": [
        feature(Some("خیابان ولیعصر"), Some("Valiasr Street"),
            json!({"type": "LineString", "coordinates": [[51.33, 35.71], [51.33, 35.73]]})),
        feature(Some("میدان ولیعصر"), Some("Valiasr Square"), point(35.72, 51.34)),
        feature(Some("ولیعصر"), None, point(35.721, 51.341)),
        feature(Some("ولیعصر شمالی"), None, point(35.722, 51.342)),
        feature(Some("کوچه ۱۲ کاشانی"), Some("Kashani Alley 12"), point(35.715, 51.325)),
        feature(Some("می‌دان کتاب"), Some("Book Square"), point(35.716, 51.326)),
        feature(Some("پارک ملت"), Some("Mellat Park"),
            json!({"type": "Polygon", "coordinates": [[[51.33, 35.71], [51.34, 35.71], [51.34, 35.72], [51.33, 35.72], [51.33, 35.71]]]})),
        feature(Some("روستای دور"), Some("Far Village"), point(35.0, 51.0)),
    ]})
}

fn options(replace: bool) -> ImportOptions {
    ImportOptions {
        name_property: "name".into(),
        name_en_property: Some("name:en".into()),
        kind_property: None,
        replace,
    }
}

async fn import_value(f: &Fixture, v: &Value, replace: bool) -> ImportSummary {
    let bytes = serde_json::to_vec(v).unwrap();
    import::run(&f.db, std::io::Cursor::new(bytes), options(replace))
        .await
        .unwrap()
}

/// The Persian names of what `q` (folded) finds, best first.
async fn names(f: &Fixture, q: &str) -> Vec<String> {
    let key = server::domain::places::check_query(q).unwrap();
    lookup(&f.db, &key, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name_fa.unwrap_or_default())
        .collect()
}

async fn spelling_variants_find_the_same_place(f: &Fixture) {
    tarmim_testing::demo_map(&f.db).await;
    let s = import_value(f, &gazetteer(), false).await;
    assert_eq!(s.imported, 8, "{s}");
    assert_eq!(s.outside_districts, 1, "{s}");
    // Arabic yeh and kaf, Persian digits typed as Arabic-Indic or ASCII, a ZWNJ the
    // name has and the query lacks, and one the query has and the name lacks.
    for (q, first) in [
        ("ولیعصر", "ولیعصر"),
        ("وليعصر", "ولیعصر"),
        ("ولی‌عصر", "ولیعصر"),
        ("كوچه ١٢", "کوچه ۱۲ کاشانی"),
        ("کوچه 12", "کوچه ۱۲ کاشانی"),
        ("کوچه ۱۲", "کوچه ۱۲ کاشانی"),
        ("میدان کتاب", "می‌دان کتاب"),
        ("ميدان كتاب", "می‌دان کتاب"),
        ("KASHANI alley", "کوچه ۱۲ کاشانی"),
        ("vali-asr street", "خیابان ولیعصر"),
    ] {
        let got = names(f, q).await;
        assert_eq!(got.first().map(String::as_str), Some(first), "{q}: {got:?}");
    }
}

async fn prefix_and_typos_in_rank_order(f: &Fixture) {
    tarmim_testing::demo_map(&f.db).await;
    import_value(f, &gazetteer(), false).await;
    // Exact, then the name starting with it, then names with a later word starting
    // with it (the shorter name first).
    assert_eq!(
        names(f, "ولیعصر").await,
        ["ولیعصر", "ولیعصر شمالی", "میدان ولیعصر", "خیابان ولیعصر"]
    );
    // A prefix of two letters (no trigram): names starting with it only.
    assert_eq!(names(f, "پا").await, ["پارک ملت"]);
    assert_eq!(names(f, "mel").await, ["پارک ملت"]);
    // Typos: a wrong letter, two letters swapped, a missing letter, in either script.
    for q in ["ولیعصز", "ولعیصر", "valiasr sqare", "mellta park", "kashni"] {
        let got = names(f, q).await;
        assert!(!got.is_empty(), "{q}: nothing found");
    }
    assert_eq!(names(f, "mellta park").await[0], "پارک ملت");
    assert_eq!(names(f, "valiasr sqare").await[0], "میدان ولیعصر");
    // Nothing alike: nothing found.
    assert!(names(f, "zzzzzz").await.is_empty());
    // The representative points: a street halfway along, a park inside its polygon.
    let key = server::domain::places::normalize("Valiasr Street");
    let street = &lookup(&f.db, &key, 1).await.unwrap()[0];
    assert!(
        (street.lat - 35.72).abs() < 1e-6 && (street.lon - 51.33).abs() < 1e-6,
        "{street:?}"
    );
    assert_eq!(street.kind, "street");
    assert_eq!(street.district.as_deref(), Some("D01"));
    let park = &lookup(&f.db, "mellat park", 1).await.unwrap()[0];
    assert_eq!(park.kind, "area");
    assert!(park.lat > 35.71 && park.lat < 35.72 && park.lon > 51.33 && park.lon < 51.34);
}

/// Streets whose names differ by a letter or a word, as a city's do.
fn look_alikes() -> Value {
    let mut features = Vec::new();
    for (fa, en) in [
        ("خیابان ولیعصر", "Valiasr Street"),
        ("خیابان ولیعهد", "Valiahd Street"),
        ("خیابان ولی", "Vali Street"),
        ("خیابان عصر", "Asr Street"),
        ("کوچه ولیعصر", "Valiasr Alley"),
        ("خیابان کاشانی", "Kashani Street"),
        ("خیابان کاشان", "Kashan Street"),
        ("خیابان کاشی", "Kashi Street"),
        ("خیابان شریعتی", "Shariati Street"),
        ("خیابان شریفی", "Sharifi Street"),
        ("میدان شریعتی", "Shariati Square"),
    ] {
        features.push(feature(Some(fa), Some(en), point(35.72, 51.34)));
    }
    json!({"type": "FeatureCollection", "features": features})
}

/// A one-letter typo (wrong, missing, extra or swapped letter) of a Persian and of an
/// English street name finds that street first, or at least in the top three, among
/// look-alikes; and the word index behind it (`place_words`) follows the imports.
async fn a_one_letter_typo_finds_the_street_in_the_top_three(f: &Fixture) {
    tarmim_testing::demo_map(&f.db).await;
    import_value(f, &look_alikes(), false).await;
    for (typed, meant, first) in [
        ("خیابان ولیعسر", "خیابان ولیعصر", true),
        ("خیابان ولعیصر", "خیابان ولیعصر", true),
        ("خیابن ولیعصر", "خیابان ولیعصر", true),
        ("خیابان کاشانى", "خیابان کاشانی", true),
        ("خیابان شریعتي", "خیابان شریعتی", true),
        ("خیابان شریغتی", "خیابان شریعتی", false),
        ("خیابان شریعتیی", "خیابان شریعتی", false),
        ("Valiasr Streat", "خیابان ولیعصر", true),
        ("Vailasr Street", "خیابان ولیعصر", true),
        ("Valasr Street", "خیابان ولیعصر", false),
        ("Kashanu Street", "خیابان کاشانی", false),
        ("Shariati Steet", "خیابان شریعتی", true),
        ("Sharaiti", "خیابان شریعتی", false),
    ] {
        let got = names(f, typed).await;
        let at = got.iter().position(|n| n == meant);
        assert!(
            at.is_some_and(|i| i < 3) && (!first || at == Some(0)),
            "{typed}: {meant} at {at:?} in {got:?}"
        );
    }
    // The stored words within one typo, and none of an old gazetteer after a
    // replacing import.
    let near = server::storage::places::near_words(&f.db, "valiahx")
        .await
        .unwrap();
    assert_eq!(near, ["valiahd"]);
    import_value(f, &gazetteer(), true).await;
    let near = server::storage::places::near_words(&f.db, "valiahx")
        .await
        .unwrap();
    assert!(near.is_empty(), "{near:?}");
    let near = server::storage::places::near_words(&f.db, "melat")
        .await
        .unwrap();
    assert!(near.contains(&"mellat".to_owned()), "{near:?}");
    assert_eq!(names(f, "Melat Park").await[0], "پارک ملت");
}

async fn the_route_answers_staff_and_refuses_bad_input(f: &Fixture) {
    tarmim_testing::demo_map(&f.db).await;
    import_value(f, &gazetteer(), false).await;
    let hash = hash_password(PASSWORD).unwrap();
    tarmim_testing::add_user(
        &f.db,
        "u-cc",
        "cc",
        &hash,
        UserRole::CallCentre,
        None,
        vec![],
    )
    .await;
    tarmim_testing::add_crew(&f.db, "C-D01-A", "D01", &["pothole"]).await;
    tarmim_testing::add_user(
        &f.db,
        "u-crew",
        "crew1",
        &hash,
        UserRole::Crew,
        Some("C-D01-A"),
        vec![],
    )
    .await;
    let srv = tarmim_testing::start(f.db.clone(), f.config.clone()).await;
    let cc = Api::login(srv.addr, "cc", PASSWORD).await;

    let found = cc
        .ok("/api/v1/places/search?q=%D9%88%D9%84%D9%8A%D8%B9%D8%B5%D8%B1&limit=2")
        .await;
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    let first = found[0].as_object().unwrap();
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["district", "id", "kind", "lat", "lon", "name_en", "name_fa"]
    );
    assert_eq!(first["name_fa"], "ولیعصر");
    assert_eq!(first["name_en"], Value::Null);
    assert_eq!(first["kind"], "place");
    assert_eq!(first["district"], "D01");
    assert!(first["id"].is_i64());
    let far = cc.ok("/api/v1/places/search?q=far%20village").await;
    assert_eq!(far[0]["district"], Value::Null, "{far}");
    assert_eq!(far[0]["name_en"], "Far Village");

    // Bad input: each a 400 with words that say what is wrong.
    let long = "آ".repeat(5_000);
    for (path, says) in [
        ("/api/v1/places/search?q=".to_owned(), "empty"),
        (
            "/api/v1/places/search?q=%20%E2%80%8C%20".to_owned(),
            "empty",
        ),
        ("/api/v1/places/search".to_owned(), "q"),
        (format!("/api/v1/places/search?q={long}"), "too long"),
        ("/api/v1/places/search?q=park&limit=0".to_owned(), "limit"),
        ("/api/v1/places/search?q=park&limit=51".to_owned(), "limit"),
        ("/api/v1/places/search?q=park&limit=ten".to_owned(), "limit"),
        ("/api/v1/places/search?q=park&near=1".to_owned(), "near"),
    ] {
        let (s, body) = cc.get(&path).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{path}: {body}");
    }
    // A query of exactly the longest length is answered.
    let (s, _) = cc
        .get(&format!("/api/v1/places/search?q={}", "a".repeat(200)))
        .await;
    assert_eq!(s, StatusCode::OK);

    // No token, a bad token: 401; a crew member: 403.
    let (s, _) = Api::anonymous(srv.addr)
        .get("/api/v1/places/search?q=park")
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let forged = Api {
        token: Some("not-a-token".into()),
        ..Api::anonymous(srv.addr)
    };
    let (s, _) = forged.get("/api/v1/places/search?q=park").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let crew = Api::login(srv.addr, "crew1", PASSWORD).await;
    let (s, _) = crew.get("/api/v1/places/search?q=park").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    srv.shutdown().await.unwrap();
}

async fn the_binary_skips_and_counts_bad_features(f: &Fixture) {
    tarmim_testing::demo_map(&f.db).await;
    let file = f.config.data_dir.join("places.geojson");
    let text = json!({"type": "FeatureCollection", "features": [
        feature(Some("خیابان شریعتی"), Some("Shariati Street"), point(35.72, 51.34)),
        // A broken geometry: a longitude that is not a number.
        feature(Some("خیابان خراب"), None, json!({"type": "Point", "coordinates": ["x", 35.7]})),
        // No name property at all.
        feature(None, None, point(35.72, 51.34)),
        // Only an English name: kept.
        feature(None, Some("Tajrish Bazaar"), point(35.73, 51.33)),
    ]});
    std::fs::write(&file, text.to_string()).unwrap();
    let file = file.to_str().unwrap();
    let run = |args: &[&str]| {
        tarmim_testing::cli(env!("CARGO_BIN_EXE_tarmim-server"), f, args, None, &[])
    };
    let args = [
        "import-places",
        file,
        "--name-property",
        "name",
        "--name-en-property",
        "name:en",
    ];
    let out = ok(&run(&args));
    assert_eq!(
        out.trim(),
        "imported 2 places from 4 features; skipped 1 with a broken geometry and 1 without a \
         name; 0 outside every district"
    );
    assert_eq!(count(&f.db).await.unwrap(), 2);
    // Again: appended; with --replace: the same two again.
    ok(&run(&args));
    assert_eq!(count(&f.db).await.unwrap(), 4);
    let mut replace = args.to_vec();
    replace.push("--replace");
    ok(&run(&replace));
    assert_eq!(count(&f.db).await.unwrap(), 2);
    let key = server::domain::places::normalize("tajrish");
    let found = lookup(&f.db, &key, 5).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name_fa, None);
    assert_eq!(found[0].district.as_deref(), Some("D01"));

    // Not a FeatureCollection, or no such file: an error and a failure status.
    std::fs::write(
        f.config.data_dir.join("bad.geojson"),
        r#"{"type": "Feature"}"#,
    )
    .unwrap();
    let bad = f.config.data_dir.join("bad.geojson");
    let out = run(&[
        "import-places",
        bad.to_str().unwrap(),
        "--name-property",
        "name",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("FeatureCollection"),
        "{out:?}"
    );
    let out = run(&[
        "import-places",
        "/nonexistent.geojson",
        "--name-property",
        "name",
    ]);
    assert!(!out.status.success());
    assert_eq!(
        count(&f.db).await.unwrap(),
        2,
        "failed imports change nothing"
    );
}

async fn the_demo_city_has_a_gazetteer(f: &Fixture) {
    tarmim_testing::demo_map(&f.db).await;
    assert_eq!(server::demo::seed_places(&f.db).await.unwrap(), 38);
    assert_eq!(server::demo::seed_places(&f.db).await.unwrap(), 0, "once");
    // Every demo place lies in a demo district.
    for q in ["میدان", "خیابان", "پارک", "بوستان", "بازار", "کوچه"] {
        for p in lookup(&f.db, &server::domain::places::normalize(q), 50)
            .await
            .unwrap()
        {
            assert!(p.district.is_some(), "{p:?}");
            assert!(p.name_en.is_some(), "{p:?}");
        }
    }
    let found = names(f, "تجريش").await;
    assert_eq!(found[0], "میدان تجریش", "{found:?}");
    let found = names(f, "۱۵ خرداد").await;
    assert_eq!(found[0], "خیابان ۱۵ خرداد", "{found:?}");
    let found = names(f, "چشمه علی").await;
    assert_eq!(found[0], "چشمه‌علی", "{found:?}");
}

on_both_backends!(
    the_demo_city_has_a_gazetteer,
    spelling_variants_find_the_same_place,
    prefix_and_typos_in_rank_order,
    a_one_letter_typo_finds_the_street_in_the_top_three,
    the_route_answers_staff_and_refuses_bad_input,
    the_binary_skips_and_counts_bad_features,
);

/// A FeatureCollection of `total` point features written on the fly as it is read, so
/// the file never exists whole anywhere; `written` counts the features handed out.
struct Generated {
    total: usize,
    next: usize,
    started: bool,
    finished: bool,
    pending: Vec<u8>,
    at: usize,
    written: Arc<AtomicUsize>,
}

impl Generated {
    fn new(total: usize, written: Arc<AtomicUsize>) -> Generated {
        Generated {
            total,
            next: 0,
            started: false,
            finished: false,
            pending: Vec::new(),
            at: 0,
            written,
        }
    }

    /// The next piece of the file, or `false` at its end.
    fn refill(&mut self) -> bool {
        self.pending.clear();
        self.at = 0;
        if !self.started {
            self.started = true;
            self.pending
                .extend_from_slice(br#"{"type": "FeatureCollection", "features": ["#);
        } else if self.next < self.total {
            let n = self.next;
            if n > 0 {
                self.pending.push(b',');
            }
            let f = format!(
                r#"{{"type": "Feature", "properties": {{"name": "کوچه {n}", "name:en": "Alley {n}"}}, "geometry": {{"type": "Point", "coordinates": [51.{:04}, 35.{:04}]}}}}"#,
                n % 10_000,
                (n / 10_000) % 10_000
            );
            self.pending.extend_from_slice(f.as_bytes());
            self.next += 1;
            self.written.store(self.next, Ordering::SeqCst);
        } else if !self.finished {
            self.finished = true;
            self.pending.extend_from_slice(b"]}");
        } else {
            return false;
        }
        true
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.pending.len() && !self.refill() {
            return Ok(0);
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// 1,000,000 features pass through the importer's reader while the file is still being
/// written: when the k-th feature arrives, at most a buffer's worth more has been
/// written. A reader that loaded the file first would see all 1,000,000 written before
/// the first arrived.
#[test]
fn a_million_features_are_streamed_not_loaded() {
    const TOTAL: usize = 1_000_000;
    let written = Arc::new(AtomicUsize::new(0));
    let source = std::io::BufReader::new(Generated::new(TOTAL, Arc::clone(&written)));
    let mut seen = 0usize;
    let mut most_ahead = 0usize;
    let read = import::read_features(source, &options(false), &mut |item| {
        seen += 1;
        assert!(matches!(item, Item::Place(_)), "feature {seen}: {item:?}");
        most_ahead = most_ahead.max(written.load(Ordering::SeqCst) - seen);
        true
    })
    .unwrap();
    assert_eq!(read, TOTAL);
    assert_eq!(seen, TOTAL);
    // BufReader's 8 KiB hold under 100 features of ~160 bytes.
    assert!(most_ahead < 100, "read {most_ahead} features ahead");
}

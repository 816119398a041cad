//! The integrity channel end to end, on both backends: the whole loop through the real
//! HTTP routes and the real `tarmim-server integrity …` tool; a real server binary whose
//! logs and every table are searched for the reporter's address and user agent; wrong and
//! expired receipt codes answered alike after the same argon2 work; tampering detected;
//! rate limits, proof of work and size limits; the page's own JavaScript proof of work.

use reqwest::StatusCode;
use serde_json::{Value, json};
use server::domain::integrity::{IntegrityConfig, investigator, pow, seal};
use server::http::{AppState, RunningServer};
use server::storage::Db;
use sqlx::Row;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use tarmim_testing::on_both_backends;
use tarmim_testing::{Fixture, ok};

const REPORT_TEXT: &str =
    "The permit office on Valiasr asks for cash to stamp forms (canary-report-8d1f).";
const REPLY_TEXT: &str = "Thank you. Which days of the week does this happen? (canary-reply-2b7c)";
const BACK_TEXT: &str = "Mostly Saturdays, before noon (canary-back-91ae).";

/// Investigator keys made with the real tool: two for bribery, one for procurement.
struct Keys {
    dir: tempfile::TempDir,
    bribery: [PathBuf; 2],
    procurement: PathBuf,
    config_file: PathBuf,
    config: IntegrityConfig,
}

fn tool(f: &Fixture, config_file: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let config = config_file.to_string_lossy();
    tarmim_testing::cli(
        env!("CARGO_BIN_EXE_tarmim-server"),
        f,
        args,
        stdin,
        &[("TARMIM_CONFIG", &config)],
    )
}

fn keygen(f: &Fixture, dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let out = tool(
        f,
        Path::new(""),
        &["integrity", "keygen", "--out", path.to_str().unwrap()],
        None,
    );
    (path, ok(&out).trim().to_owned())
}

fn keys(f: &Fixture, extra: &str) -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let (a, pa) = keygen(f, dir.path(), "alice.key");
    let (b, pb) = keygen(f, dir.path(), "bahar.key");
    let (c, pc) = keygen(f, dir.path(), "cyrus.key");
    let text = format!(
        "[integrity]\npow_bits = 8\nargon2_memory_kib = 1024\nargon2_iterations = 1\n{extra}\n\
         [[integrity.categories]]\ncode = \"bribery\"\nname = \"Bribery\"\ninvestigators = [\"{pa}\", \"{pb}\"]\n\
         [[integrity.categories]]\ncode = \"procurement\"\nname = \"Procurement fraud\"\ninvestigators = [\"{pc}\"]\n"
    );
    let config_file = dir.path().join("tarmim.toml");
    std::fs::write(&config_file, &text).unwrap();
    let config = server::base::config::Config::from_file(&config_file)
        .unwrap()
        .integrity;
    config.check().unwrap();
    Keys {
        bribery: [a, b],
        procurement: c,
        config_file,
        config,
        dir,
    }
}

async fn start(f: &Fixture, config: &IntegrityConfig) -> (RunningServer, AppState, String) {
    start_with(f, config, false).await
}

/// As [`start`], with the server's `trusted_proxy` on (the setting every per-client limit
/// shares): the client is the last `X-Forwarded-For` address.
async fn start_behind_proxy(
    f: &Fixture,
    config: &IntegrityConfig,
) -> (RunningServer, AppState, String) {
    start_with(f, config, true).await
}

async fn start_with(
    f: &Fixture,
    config: &IntegrityConfig,
    trusted_proxy: bool,
) -> (RunningServer, AppState, String) {
    let mut c = f.config.clone();
    c.integrity = config.clone();
    c.trusted_proxy = trusted_proxy;
    let state = AppState::new(f.db.clone(), c);
    let server = RunningServer::start(state.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}/integrity", server.addr);
    (server, state, base)
}

fn stamp(bits: u8) -> String {
    let minute = server::base::time::now_millis() / 60_000;
    pow::solve(bits, minute, &format!("{:016x}", rand::random::<u64>()))
}

/// A report request as the page sends it: the proof of work (`pow` in `body`, for the
/// tests' convenience) travels in the `X-Integrity-Pow` header.
fn report_request(rb: reqwest::RequestBuilder, mut body: Value) -> reqwest::RequestBuilder {
    let stamp = body.as_object_mut().and_then(|o| o.remove("pow"));
    let rb = match stamp.as_ref().and_then(Value::as_str) {
        Some(p) => rb.header(pow::HEADER, p),
        None => rb,
    };
    rb.json(&body)
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A JPEG carrying an EXIF segment with a canary owner name and GPS text.
fn jpeg_with_exif() -> Vec<u8> {
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(48, 32, |x, y| {
        image::Rgb([(x * 5) as u8, (y * 7) as u8, 120])
    }));
    let mut plain = std::io::Cursor::new(Vec::new());
    img.write_to(&mut plain, image::ImageFormat::Jpeg).unwrap();
    let plain = plain.into_inner();
    let mut payload = b"Exif\0\0II*\0\x08\0\0\0\0\0\0\0\0\0".to_vec();
    payload.extend_from_slice(b"OWNER=CANARY-EXIF-OWNER GPS=35.7N,51.4E");
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&plain[2..]);
    out
}

async fn make_report(
    http: &reqwest::Client,
    base: &str,
    bits: u8,
    attachments: &[&[u8]],
) -> String {
    let r = report_request(
        http.post(format!("{base}/api/reports")),
        json!({
            "category": "bribery",
            "text": REPORT_TEXT,
            "place": "Valiasr St., permit office",
            "date": "2026-11-21",
            "attachments": attachments.iter().map(|a| json!({"data": b64(a)})).collect::<Vec<_>>(),
            "pow": stamp(bits),
        }),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    body["receipt_code"].as_str().unwrap().to_owned()
}

fn case_id(list: &str) -> String {
    list.lines()
        .find(|l| l.starts_with("C-"))
        .unwrap_or_else(|| panic!("no case in {list}"))
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// Every row of every table as text (and SQLite blobs as bytes), for searching.
async fn dump_all_tables(db: &Db) -> (Vec<String>, Vec<Vec<u8>>) {
    let mut texts = Vec::new();
    let mut blobs = Vec::new();
    match db {
        Db::Sqlite(s) => {
            let tables: Vec<String> =
                sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                    .fetch_all(s.pool())
                    .await
                    .unwrap();
            assert!(tables.iter().any(|t| t == "integrity_cases"));
            for t in tables {
                let rows = sqlx::query(&format!("SELECT * FROM \"{t}\""))
                    .fetch_all(s.pool())
                    .await
                    .unwrap();
                for r in rows {
                    for i in 0..r.len() {
                        if let Ok(Some(v)) = r.try_get::<Option<String>, _>(i) {
                            texts.push(v);
                        } else if let Ok(Some(v)) = r.try_get::<Option<Vec<u8>>, _>(i) {
                            blobs.push(v);
                        } else if let Ok(Some(v)) = r.try_get::<Option<i64>, _>(i) {
                            texts.push(v.to_string());
                        }
                    }
                }
            }
        }
        Db::Postgres(p) => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) \
                 FROM information_schema.tables \
                 WHERE table_schema NOT IN ('pg_catalog', 'information_schema') \
                 AND table_type = 'BASE TABLE'",
            )
            .fetch_all(p.pool())
            .await
            .unwrap();
            assert!(tables.iter().any(|t| t.ends_with("integrity_cases")));
            for t in tables {
                let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT x::text FROM {t} x"))
                    .fetch_all(p.pool())
                    .await
                    .unwrap();
                texts.extend(rows);
            }
        }
    }
    (texts, blobs)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Asserts no canary appears in any table (as text, as bytes, or hex-encoded as
/// PostgreSQL prints bytea).
async fn assert_tables_free_of(db: &Db, canaries: &[&str]) {
    let (texts, blobs) = dump_all_tables(db).await;
    for c in canaries {
        let lower = c.to_lowercase();
        let hexed = hex::encode(c.as_bytes());
        for t in &texts {
            let t = t.to_lowercase();
            assert!(!t.contains(&lower), "{c:?} found in a table: {t}");
            assert!(!t.contains(&hexed), "{c:?} found hex-encoded in a table");
        }
        for b in &blobs {
            assert!(!contains(b, c.as_bytes()), "{c:?} found in a blob");
        }
    }
}

// ---------------------------------------------------------------------------------------

async fn whole_loop(f: &Fixture) {
    let k = keys(f, "");
    let (server, _state, base) = start(f, &k.config).await;
    let http = tarmim_testing::http();
    let photo = jpeg_with_exif();
    let code = make_report(&http, &base, 8, &[&photo]).await;
    assert_eq!(code.len(), 29, "six groups of four: {code}");

    let cfg = k.config_file.as_path();
    let alice = k.bribery[0].to_str().unwrap();
    let bahar = k.bribery[1].to_str().unwrap();
    let cyrus = k.procurement.to_str().unwrap();

    // Investigators list and read with the tool.
    let list = ok(&tool(
        f,
        cfg,
        &["integrity", "list", "--identity", alice],
        None,
    ));
    assert!(
        list.contains("bribery") && list.contains("[received]"),
        "{list}"
    );
    let case = case_id(&list);
    assert_eq!(
        ok(&tool(
            f,
            cfg,
            &["integrity", "list", "--identity", cyrus],
            None
        ))
        .trim(),
        "no cases readable with this key"
    );
    let saved = k.dir.path().join("attachments");
    std::fs::create_dir(&saved).unwrap();
    let read = ok(&tool(
        f,
        cfg,
        &[
            "integrity",
            "read",
            &case,
            "--identity",
            bahar,
            "--save-attachments",
            saved.to_str().unwrap(),
        ],
        None,
    ));
    assert!(read.contains(REPORT_TEXT), "{read}");
    assert!(read.contains("Valiasr St., permit office") && read.contains("2026-11-21"));
    assert!(read.contains("attachment 0: image/jpeg"), "{read}");
    let files: Vec<_> = std::fs::read_dir(&saved).unwrap().collect();
    assert_eq!(files.len(), 1);
    let stripped = std::fs::read(files[0].as_ref().unwrap().path()).unwrap();
    assert!(!contains(&stripped, b"CANARY-EXIF-OWNER") && !contains(&stripped, b"Exif"));
    assert_eq!(image::load_from_memory(&stripped).unwrap().width(), 48);
    // Another category's investigator cannot read it.
    let other = tool(
        f,
        cfg,
        &["integrity", "read", &case, "--identity", cyrus],
        None,
    );
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("no case"));

    // Reply and status.
    let out = ok(&tool(
        f,
        cfg,
        &["integrity", "reply", &case, "--identity", alice],
        Some(REPLY_TEXT),
    ));
    assert!(out.contains("message #2"), "{out}");
    ok(&tool(
        f,
        cfg,
        &[
            "integrity",
            "status",
            &case,
            "needs-information",
            "--identity",
            alice,
            "--note",
            "Please answer.",
        ],
        None,
    ));

    // The reporter reads with the code (typed sloppily).
    let sloppy = code.to_lowercase().replace('-', " ");
    let r = http
        .post(format!("{base}/api/case"))
        .json(&json!({"receipt_code": sloppy}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["status"], "needs_information");
    let msgs = t["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[0]["from"], "reporter");
    assert_eq!(msgs[0]["body"]["kind"], "report");
    assert_eq!(msgs[0]["attachments"], 1);
    assert_eq!(msgs[1]["from"], "investigator");
    assert_eq!(msgs[1]["body"]["text"], REPLY_TEXT);
    assert_eq!(msgs[2]["body"]["note"], "Please answer.");

    // …writes back, and the investigators read it.
    let r = http
        .post(format!("{base}/api/case/messages"))
        .json(&json!({"receipt_code": code, "text": BACK_TEXT}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.json::<Value>().await.unwrap()["seq"], 4);
    let read = ok(&tool(
        f,
        cfg,
        &["integrity", "read", &case, "--identity", alice],
        None,
    ));
    assert!(
        read.contains(BACK_TEXT) && read.contains(REPLY_TEXT),
        "{read}"
    );
    assert!(read.contains("#4 reporter"), "{read}");
    let list = ok(&tool(
        f,
        cfg,
        &["integrity", "list", "--identity", bahar],
        None,
    ));
    assert!(
        list.contains("4 message(s)") && list.contains("by reporter"),
        "{list}"
    );

    // Every stored time is a whole hour (no exact time to match with a proxy's logs).
    let case_row = server::storage::integrity::case_by_id(&f.db, &case)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(case_row.created_at % server::domain::integrity::HOUR_MS, 0);
    assert_eq!(case_row.expires_at % server::domain::integrity::HOUR_MS, 0);
    for m in server::storage::integrity::messages(&f.db, &case)
        .await
        .unwrap()
    {
        assert_eq!(m.created_at % server::domain::integrity::HOUR_MS, 0);
    }
    // Nothing readable is stored: no text, no code, no category, no status.
    let secret_part = code.replace('-', "")[8..].to_owned();
    assert_tables_free_of(
        &f.db,
        &[
            REPORT_TEXT,
            REPLY_TEXT,
            BACK_TEXT,
            "Valiasr",
            "bribery",
            "needs_information",
            &secret_part,
            &code,
            "CANARY-EXIF",
        ],
    )
    .await;
    server.shutdown().await.unwrap();
}

/// Runs the real server binary with full tracing, makes a report with a distinctive user
/// agent, forwarded-for header, referrer and cookie from a distinctive loopback address,
/// then searches the captured logs and every table for them.
async fn nothing_identifying_is_logged_or_stored(f: &Fixture) {
    let k = keys(f, "");
    const PEER: &str = "127.0.0.77";
    const FORWARDED: &str = "198.51.100.23";
    const AGENT: &str = "TarmimCanaryAgent/9.1 (probe-5f1e2d)";
    const REFERRER: &str = "https://canary-referrer.example/leak";
    const COOKIE: &str = "canary_session=c4n4ry7e";
    let log_path = k.dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tarmim-server"));
    cmd.arg("serve")
        .env("TARMIM_DATA_DIR", &f.config.data_dir)
        .env("TARMIM_DEMO", "false")
        .env("TARMIM_CONFIG", &k.config_file)
        .env("TARMIM_TRUSTED_PROXY", "true")
        .env("TARMIM_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(log.try_clone().unwrap());
    match &f.config.database_url {
        Some(url) => cmd.env("DATABASE_URL", url),
        None => cmd.env_remove("DATABASE_URL"),
    };
    let mut child = cmd.spawn().unwrap();
    // Copy stdout to the log file, and find the bound address in it.
    let stdout = child.stdout.take().unwrap();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let mut log_out = log;
    let copier = std::thread::spawn(move || {
        let mut sent = false;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            writeln!(log_out, "{line}").unwrap();
            if !sent && line.contains("listening") {
                let addr = line
                    .split(|c: char| c.is_whitespace() || c == '"')
                    .find_map(|w| w.strip_prefix("addr=").map(str::to_owned))
                    .unwrap();
                addr_tx.send(addr).unwrap();
                sent = true;
            }
        }
    });
    let addr = addr_rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the server did not start");
    let base = format!("http://{addr}/integrity");
    let http = tarmim_testing::http_builder()
        .local_address(PEER.parse::<std::net::IpAddr>().unwrap())
        .user_agent(AGENT)
        .build()
        .unwrap();
    let with_headers = |rb: reqwest::RequestBuilder| {
        rb.header("X-Forwarded-For", FORWARDED)
            .header("Referer", REFERRER)
            .header("Cookie", COOKIE)
    };
    let page = with_headers(http.get(&base)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers().get("set-cookie").is_none());
    let r = report_request(
        with_headers(http.post(format!("{base}/api/reports"))),
        json!({"category": "bribery", "text": REPORT_TEXT, "pow": stamp(8)}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let code = r.json::<Value>().await.unwrap()["receipt_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = with_headers(http.post(format!("{base}/api/case")))
        .json(&json!({"receipt_code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = with_headers(http.post(format!("{base}/api/case/messages")))
        .json(&json!({"receipt_code": code, "text": BACK_TEXT}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = with_headers(http.post(format!("{base}/api/case")))
        .json(&json!({"receipt_code": "0000-0000-0000-0000-0000-0000"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Stop the server we started (by its pid) and collect everything it wrote.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
    copier.join().unwrap();
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.contains("listening"), "logs were captured: {logs}");
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "tracing was on"
    );
    let canaries = [
        PEER,
        FORWARDED,
        AGENT,
        "TarmimCanaryAgent",
        "probe-5f1e2d",
        REFERRER,
        "canary-referrer",
        "c4n4ry7e",
        &code,
    ];
    for c in canaries {
        let hits: Vec<&str> = logs.lines().filter(|l| l.contains(c)).take(5).collect();
        assert!(hits.is_empty(), "{c:?} is in the server's logs: {hits:#?}");
    }
    assert_tables_free_of(&f.db, &canaries).await;
    // SQLite: also the raw database files (free pages, WAL included).
    if let Db::Sqlite(_) = &f.db {
        for entry in std::fs::read_dir(&f.config.data_dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            for c in canaries {
                assert!(
                    !contains(&bytes, c.as_bytes()),
                    "{c:?} is in a database file"
                );
            }
        }
    }
}

async fn wrong_and_expired_codes_look_alike(f: &Fixture) {
    let k = keys(f, "");
    let (server, state, base) = start(f, &k.config).await;
    let http = tarmim_testing::http();
    let live = make_report(&http, &base, 8, &[]).await;
    let expired = make_report(&http, &base, 8, &[]).await;
    let expired_lookup = expired.replace('-', "")[..8].to_owned();
    let sql = match &f.db {
        Db::Sqlite(_) => "UPDATE integrity_cases SET expires_at = 0 WHERE lookup = ?1",
        Db::Postgres(_) => "UPDATE integrity_cases SET expires_at = 0 WHERE lookup = $1",
    };
    match &f.db {
        Db::Sqlite(s) => sqlx::query(sql)
            .bind(&expired_lookup)
            .execute(s.pool())
            .await
            .map(|_| ())
            .unwrap(),
        Db::Postgres(p) => sqlx::query(sql)
            .bind(&expired_lookup)
            .execute(p.pool())
            .await
            .map(|_| ())
            .unwrap(),
    };
    // A wrong secret under a real lookup, and a lookup that does not exist.
    let mut wrong = live.clone().into_bytes();
    let last = wrong.len() - 1;
    wrong[last] = if wrong[last] == b'7' { b'8' } else { b'7' };
    let wrong = String::from_utf8(wrong).unwrap();
    let unknown = "ZZZZ-ZZZZ-0000-0000-0000-0000";

    let verifier = &state.integrity.verifier;
    let mut answers = Vec::new();
    for (path, extra) in [
        ("/api/case", json!({})),
        ("/api/case/messages", json!({"text": "hello"})),
    ] {
        for code in [&expired, &wrong, unknown] {
            let before = verifier.derivations();
            let mut body = extra.clone();
            body["receipt_code"] = json!(code);
            let r = http
                .post(format!("{base}{path}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(
                verifier.derivations(),
                before + 1,
                "{path} with {code}: exactly one argon2 derivation"
            );
            let status = r.status();
            let ctype = r.headers()["content-type"].clone();
            answers.push((status, ctype, r.bytes().await.unwrap()));
        }
    }
    for a in &answers {
        assert_eq!(a.0, StatusCode::NOT_FOUND);
        assert_eq!(a, &answers[0], "every failing code gets the same bytes");
    }
    // The live code still works (and costs one derivation too).
    let before = verifier.derivations();
    let r = http
        .post(format!("{base}/api/case"))
        .json(&json!({"receipt_code": live}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(verifier.derivations(), before + 1);
    // Something that is not a code at all is refused before any work (its form is public).
    let before = verifier.derivations();
    let r = http
        .post(format!("{base}/api/case"))
        .json(&json!({"receipt_code": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("not a receipt code"));
    assert_eq!(verifier.derivations(), before);
    server.shutdown().await.unwrap();
}

async fn set_blob(db: &Db, table: &str, case: &str, seq: i64, value: &[u8]) {
    let sql = format!("UPDATE {table} SET ciphertext = $1 WHERE case_id = $2 AND seq = $3");
    match db {
        Db::Sqlite(s) => {
            sqlx::query(&sql.replace('$', "?"))
                .bind(value)
                .bind(case)
                .bind(seq)
                .execute(s.pool())
                .await
                .unwrap();
        }
        Db::Postgres(p) => {
            sqlx::query(&sql)
                .bind(value)
                .bind(case)
                .bind(seq)
                .execute(p.pool())
                .await
                .unwrap();
        }
    }
}

async fn tampering_is_detected(f: &Fixture) {
    let k = keys(f, "");
    let (server, state, base) = start(f, &k.config).await;
    let http = tarmim_testing::http();
    let photo = jpeg_with_exif();
    let alice = investigator::load_identity(&k.bribery[0]).unwrap();
    let code_a = make_report(&http, &base, 8, &[&photo]).await;
    let list = investigator::list(&f.db, &alice).await.unwrap();
    let a = list[0].id.clone();
    let _code_b = make_report(&http, &base, 8, &[&photo]).await;
    let list = investigator::list(&f.db, &alice).await.unwrap();
    assert_eq!(list.len(), 2);
    let b = list.iter().find(|l| l.id != a).unwrap().id.clone();
    let now = server::base::time::now_millis();
    investigator::reply(&f.db, &k.config, &alice, &a, REPLY_TEXT, now)
        .await
        .unwrap();
    investigator::reply(&f.db, &k.config, &alice, &b, "to B", now)
        .await
        .unwrap();
    let view = investigator::read(&f.db, &alice, &a, None).await.unwrap();
    assert_eq!(view.failures(), 0);

    let stored = server::storage::integrity::messages(&f.db, &a)
        .await
        .unwrap();
    let original_reply = stored[1].ciphertext.clone();

    // 1. One flipped bit in the reply's payload.
    let mut flipped = original_reply.clone();
    let n = flipped.len() - 20;
    flipped[n] ^= 0x01;
    set_blob(&f.db, "integrity_messages", &a, 2, &flipped).await;
    let view = investigator::read(&f.db, &alice, &a, None).await.unwrap();
    assert_eq!(view.failures(), 1);
    assert!(matches!(
        view.messages[1],
        Err((2, seal::SealError::Tampered(_)))
    ));
    let shown = investigator::render_case(&view);
    assert!(shown.contains("#2 FAILED INTEGRITY CHECK"), "{shown}");
    // The tool exits with an error.
    let out = tool(
        f,
        &k.config_file,
        &[
            "integrity",
            "read",
            &a,
            "--identity",
            k.bribery[0].to_str().unwrap(),
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAILED INTEGRITY CHECK"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed their integrity check"));
    // The reporter sees the message flagged, the rest intact.
    let t: Value = http
        .post(format!("{base}/api/case"))
        .json(&json!({"receipt_code": code_a}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        t["messages"][1]["error"]
            .as_str()
            .unwrap()
            .contains("could not be verified")
    );
    assert!(t["messages"][1]["body"].is_null());
    assert_eq!(t["messages"][0]["body"]["text"], REPORT_TEXT);

    // 2. A header byte changed (the header MAC catches it).
    let mut header = original_reply.clone();
    header[30] ^= 0x20;
    set_blob(&f.db, "integrity_messages", &a, 2, &header).await;
    let view = investigator::read(&f.db, &alice, &a, None).await.unwrap();
    assert!(view.messages[1].is_err());

    // 3. Truncated.
    set_blob(
        &f.db,
        "integrity_messages",
        &a,
        2,
        &original_reply[..original_reply.len() - 100],
    )
    .await;
    let view = investigator::read(&f.db, &alice, &a, None).await.unwrap();
    assert!(view.messages[1].is_err());

    // 4. An authentic ciphertext moved from case B: age accepts it, the binding does not.
    let from_b = server::storage::integrity::messages(&f.db, &b)
        .await
        .unwrap();
    set_blob(&f.db, "integrity_messages", &a, 2, &from_b[1].ciphertext).await;
    let view = investigator::read(&f.db, &alice, &a, None).await.unwrap();
    assert!(matches!(
        view.messages[1],
        Err((2, seal::SealError::Misplaced { .. }))
    ));

    // Restored: clean again.
    set_blob(&f.db, "integrity_messages", &a, 2, &original_reply).await;
    assert_eq!(
        investigator::read(&f.db, &alice, &a, None)
            .await
            .unwrap()
            .failures(),
        0
    );

    // 5. Attachments: swapped between cases, and bit-flipped.
    let att_a = server::storage::integrity::attachments(&f.db, &a)
        .await
        .unwrap();
    let att_b = server::storage::integrity::attachments(&f.db, &b)
        .await
        .unwrap();
    set_blob(&f.db, "integrity_attachments", &a, 1, &att_b[0].ciphertext).await;
    let view = investigator::read(&f.db, &alice, &a, None).await.unwrap();
    assert_eq!(
        view.bad_attachments.len(),
        1,
        "same image, re-encrypted: hash differs? {:?}",
        view.bad_attachments
    );
    let mut bad = att_a[0].ciphertext.clone();
    let n = bad.len() - 30;
    bad[n] ^= 0x80;
    set_blob(&f.db, "integrity_attachments", &a, 1, &bad).await;
    let view = investigator::read(&f.db, &alice, &a, None).await.unwrap();
    assert!(matches!(
        view.bad_attachments[0].2,
        seal::SealError::Tampered(_)
    ));

    // 6. The report itself tampered: the reporter cannot write back (nothing to bind to),
    //    and gets a generic error, not a wrong answer.
    let mut report = server::storage::integrity::messages(&f.db, &a)
        .await
        .unwrap()[0]
        .ciphertext
        .clone();
    let n = report.len() - 10;
    report[n] ^= 1;
    set_blob(&f.db, "integrity_messages", &a, 1, &report).await;
    let r = http
        .post(format!("{base}/api/case/messages"))
        .json(&json!({"receipt_code": code_a, "text": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let list = investigator::render_list(&investigator::list(&f.db, &alice).await.unwrap());
    assert!(list.contains("UNREADABLE REPORT"), "{list}");
    drop(state);
    server.shutdown().await.unwrap();
}

/// A client whose connections come from `ip` (a distinct client for the rate limiter).
fn client_from(ip: &str) -> reqwest::Client {
    tarmim_testing::http_builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn expect(r: reqwest::Response, status: StatusCode, needle: &str) {
    assert_eq!(r.status(), status);
    let t = r.text().await.unwrap();
    assert!(t.contains(needle), "expected {needle:?} in {t}");
}

async fn abuse_and_size_limits(f: &Fixture) {
    let k = keys(
        f,
        "reports_per_client = 3\nfollow_ups_per_client = 4\nmax_text_chars = 200\n\
         max_attachments = 2\nmax_attachment_bytes = 20000",
    );
    let (server, _state, base) = start(f, &k.config).await;
    let report =
        |text: &str, pow: Option<String>| json!({"category": "bribery", "text": text, "pow": pow});

    // Headers on every kind of answer: page, asset, API, error, fallback.
    let http = client_from("127.0.0.2");
    for (method, path) in [
        ("GET", ""),
        ("GET", "/pow.js"),
        ("GET", "/api/config"),
        ("POST", "/api/case"),
        ("GET", "/nope"),
    ] {
        let r = http
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .header("Cookie", "a=b")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let h = r.headers();
        assert_eq!(h["cache-control"], "no-store", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .starts_with("default-src 'none'; script-src 'self'")
        );
        assert!(h.get("set-cookie").is_none());
    }
    let page = http.get(&base).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<form id=\"report-form\">"));
    assert!(!page.contains("<script>"), "no inline script");
    let cfg: Value = http
        .get(format!("{base}/api/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cfg["pow_bits"], 8);
    assert_eq!(cfg["categories"][1]["code"], "procurement");
    assert!(!cfg.to_string().contains("age1"), "keys are not published");

    // Proof of work: missing, malformed, insufficient (client .2: three attempts).
    let post = |c: &reqwest::Client, path: &str, body: Value| {
        report_request(c.post(format!("{base}{path}")), body).send()
    };
    let r = post(&http, "/api/reports", report("hello", None))
        .await
        .unwrap();
    expect(r, StatusCode::BAD_REQUEST, "proof of work").await;
    let r = post(
        &http,
        "/api/reports",
        report("hello", Some("nonsense".into())),
    )
    .await
    .unwrap();
    expect(r, StatusCode::BAD_REQUEST, "malformed proof of work").await;
    let minute = server::base::time::now_millis() / 60_000;
    let weak = (0..)
        .map(|n| format!("1:{minute}:weak:{n}"))
        .find(|s| {
            use sha2::Digest;
            let d = sha2::Sha256::digest([pow::PREFIX, s.as_bytes()].concat());
            pow::leading_zero_bits(&d) < 8
        })
        .unwrap();
    let r = post(&http, "/api/reports", report("hello", Some(weak)))
        .await
        .unwrap();
    expect(r, StatusCode::FORBIDDEN, "not sufficient").await;

    // Stale, good, replayed, then the rate limit (client .3).
    let http = client_from("127.0.0.3");
    let r = post(
        &http,
        "/api/reports",
        report("hello", Some(pow::solve(8, minute - 30, "old"))),
    )
    .await
    .unwrap();
    expect(r, StatusCode::FORBIDDEN, "expired").await;
    let good = stamp(8);
    let r = post(&http, "/api/reports", report("hello", Some(good.clone())))
        .await
        .unwrap();
    expect(r, StatusCode::CREATED, "receipt_code").await;
    let r = post(&http, "/api/reports", report("hello", Some(good)))
        .await
        .unwrap();
    expect(r, StatusCode::FORBIDDEN, "already used").await;
    // Refusals for the proof of work counted nothing: two more reports, then the limit.
    for _ in 0..2 {
        let r = post(&http, "/api/reports", report("hello", Some(stamp(8))))
            .await
            .unwrap();
        expect(r, StatusCode::CREATED, "receipt_code").await;
    }
    let r = post(&http, "/api/reports", report("hello", Some(stamp(8))))
        .await
        .unwrap();
    assert!(r.headers().contains_key("retry-after"));
    expect(r, StatusCode::TOO_MANY_REQUESTS, "try again in").await;
    // Another client is not affected.
    let http = client_from("127.0.0.4");
    let r = post(&http, "/api/reports", report("hello", Some(stamp(8))))
        .await
        .unwrap();
    expect(r, StatusCode::CREATED, "receipt_code").await;

    // Size limits and bad input (three refusals per client).
    let r = post(
        &http,
        "/api/reports",
        report(&"x".repeat(201), Some(stamp(8))),
    )
    .await
    .unwrap();
    expect(r, StatusCode::PAYLOAD_TOO_LARGE, "the limit is 200").await;
    let many = json!({"category": "bribery", "text": "x", "pow": stamp(8),
        "attachments": [{"data": ""}, {"data": ""}, {"data": ""}]});
    let r = post(&http, "/api/reports", many).await.unwrap();
    expect(
        r,
        StatusCode::PAYLOAD_TOO_LARGE,
        "attachments; the limit is 2",
    )
    .await;
    let http = client_from("127.0.0.5");
    let pdf = json!({"category": "bribery", "text": "x", "pow": stamp(8),
        "attachments": [{"data": b64(b"%PDF-1.7 secret memo")}]});
    let r = post(&http, "/api/reports", pdf).await.unwrap();
    expect(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "only JPEG, PNG and WebP",
    )
    .await;
    let big = json!({"category": "bribery", "text": "x", "pow": stamp(8),
        "attachments": [{"data": b64(&vec![0u8; 20_001])}]});
    let r = post(&http, "/api/reports", big).await.unwrap();
    expect(r, StatusCode::PAYLOAD_TOO_LARGE, "the limit is 20000").await;
    let corrupt = json!({"category": "bribery", "text": "x", "pow": stamp(8),
        "attachments": [{"data": b64(&jpeg_with_exif()[..300])}]});
    let r = post(&http, "/api/reports", corrupt).await.unwrap();
    expect(r, StatusCode::UNPROCESSABLE_ENTITY, "cannot be decoded").await;
    let http = client_from("127.0.0.6");
    let b64bad = json!({"category": "bribery", "text": "x", "pow": stamp(8), "attachments": [{"data": "!!"}]});
    let r = post(&http, "/api/reports", b64bad).await.unwrap();
    expect(r, StatusCode::BAD_REQUEST, "not base64").await;
    let r = post(
        &http,
        "/api/reports",
        json!({"category": "parking", "text": "x", "pow": stamp(8)}),
    )
    .await
    .unwrap();
    expect(r, StatusCode::BAD_REQUEST, "unknown category").await;
    let r = post(&http, "/api/reports", report("  ", Some(stamp(8))))
        .await
        .unwrap();
    expect(r, StatusCode::BAD_REQUEST, "is empty").await;
    let http = client_from("127.0.0.7");
    let r = post(
        &http,
        "/api/reports",
        json!({"category": "bribery", "text": "x", "pow": stamp(8), "ip": "1.2.3.4"}),
    )
    .await
    .unwrap();
    expect(r, StatusCode::BAD_REQUEST, "unknown field").await;
    // A body over the route's limit is refused before it is read.
    let huge = "y".repeat(k.config.max_body_bytes() + 10);
    let r = http
        .post(format!("{base}/api/reports"))
        .header("content-type", "application/json")
        .body(format!("{{\"category\":\"bribery\",\"text\":\"{huge}\"}}"))
        .send()
        .await
        .unwrap();
    // The body is left unread, so the connection closes: the client is told, and does
    // not send its next request on it (a clean-clone CI run failed with
    // IncompleteMessage on the next request before it was).
    assert_eq!(
        r.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..]),
        "an early refusal closes its connection"
    );
    expect(
        r,
        StatusCode::PAYLOAD_TOO_LARGE,
        "larger than this server accepts",
    )
    .await;
    // Not JSON, and the wrong method: clear refusals, with the privacy headers.
    let r = http
        .post(format!("{base}/api/case"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = http
        .get(format!("{base}/api/reports"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()["cache-control"], "no-store");
    // Follow-up bodies have their own small limit.
    let r = http
        .post(format!("{base}/api/case"))
        .header("content-type", "application/json")
        .body(format!("{{\"receipt_code\":\"{}\"}}", "z".repeat(300_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Follow-ups are rate limited (4 per client per window), wrong codes included.
    let http = client_from("127.0.0.8");
    let code = "ZZZZ-ZZZZ-0000-0000-0000-0000";
    for _ in 0..4 {
        let r = post(&http, "/api/case", json!({"receipt_code": code}))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let r = post(&http, "/api/case", json!({"receipt_code": code}))
        .await
        .unwrap();
    expect(r, StatusCode::TOO_MANY_REQUESTS, "try again in").await;
    let r = post(
        &http,
        "/api/case/messages",
        json!({"receipt_code": code, "text": "hi"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // An over-long write-back is refused before any code work.
    let http = client_from("127.0.0.9");
    let r = post(
        &http,
        "/api/case/messages",
        json!({"receipt_code": code, "text": "z".repeat(201)}),
    )
    .await
    .unwrap();
    expect(r, StatusCode::PAYLOAD_TOO_LARGE, "the limit is 200").await;

    // No category configured: the channel is off (a second server on the same database).
    let (off, _s, off_base) = start(f, &IntegrityConfig::default()).await;
    let r = tarmim_testing::http()
        .post(format!("{off_base}/api/reports"))
        .json(&json!({"category": "bribery", "text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "not_configured", "{body}");
    // The page says so instead of offering an empty category list, and the settings
    // say it in words.
    let http = tarmim_testing::http();
    let page = http.get(off_base.clone()).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    let html = page.text().await.unwrap();
    assert!(html.contains("integrity.off.title"), "{html}");
    assert!(!html.contains("report-form"), "{html}");
    let script = http.get(format!("{off_base}/off.js")).send().await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    let settings: Value = http
        .get(format!("{off_base}/api/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(settings["enabled"], false);
    assert_eq!(settings["status"], "not_configured");
    // A server with categories serves the form.
    let on = http.get(base.clone()).send().await.unwrap();
    assert_eq!(on.status(), StatusCode::OK);
    assert!(on.text().await.unwrap().contains("report-form"));
    off.shutdown().await.unwrap();
    server.shutdown().await.unwrap();
}

/// The page's own proof-of-work script (as served), run by Node, makes stamps the server
/// accepts.
async fn page_proof_of_work_is_accepted(f: &Fixture) {
    let k = keys(f, "");
    let (server, _state, base) = start(f, &k.config).await;
    let http = tarmim_testing::http();
    let js = http
        .get(format!("{base}/pow.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let script = k.dir.path().join("pow.js");
    std::fs::write(&script, js).unwrap();
    let minute = server::base::time::now_millis() / 60_000;
    let out = Command::new("node")
        .arg("-e")
        .arg(format!(
            "const p = require({:?}); process.stdout.write(p.solve(8, {minute}, 'node', 0));",
            script.to_str().unwrap()
        ))
        .output()
        .expect("node is installed (tests/setup/node.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stamp = String::from_utf8(out.stdout).unwrap();
    let r = http
        .post(format!("{base}/api/reports"))
        .header(pow::HEADER, stamp)
        .json(&json!({"category": "procurement", "text": "Tender 14 was rigged."}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    server.shutdown().await.unwrap();
}

/// The investigators' tool refuses bad input with clear errors and changes nothing.
async fn tool_refuses_bad_input(f: &Fixture) {
    let k = keys(f, "");
    let (server, _state, base) = start(f, &k.config).await;
    let http = tarmim_testing::http();
    make_report(&http, &base, 8, &[]).await;
    let cfg = k.config_file.as_path();
    let alice = k.bribery[0].to_str().unwrap();
    let case = case_id(&ok(&tool(
        f,
        cfg,
        &["integrity", "list", "--identity", alice],
        None,
    )));
    let fails = |args: &[&str], stdin: Option<&str>, needle: &str| {
        let out = tool(f, cfg, args, stdin);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            err.contains(needle),
            "{args:?}: expected {needle:?} in {err}"
        );
    };
    let junk = k.dir.path().join("junk.key");
    std::fs::write(&junk, "not a key\n").unwrap();
    let junk = junk.to_str().unwrap();
    fails(
        &["integrity", "list", "--identity", junk],
        None,
        "no AGE-SECRET-KEY-1",
    );
    fails(
        &["integrity", "list", "--identity", "/nonexistent/key"],
        None,
        "identity file",
    );
    fails(&["integrity", "list"], None, "--identity");
    fails(
        &["integrity", "read", "C-NOSUCH00", "--identity", alice],
        None,
        "no case C-NOSUCH00",
    );
    fails(
        &["integrity", "reply", &case, "--identity", alice],
        Some("  \n"),
        "the reply is empty",
    );
    fails(
        &["integrity", "status", &case, "solved", "--identity", alice],
        None,
        "invalid value",
    );
    fails(
        &["integrity", "keygen", "--out", alice],
        None,
        "exists already",
    );
    // Another category's investigator cannot post into the case either.
    let cyrus = k.procurement.to_str().unwrap();
    fails(
        &["integrity", "reply", &case, "--identity", cyrus],
        Some("hello"),
        "no case",
    );
    // Nothing was added by the refusals.
    let read = ok(&tool(
        f,
        cfg,
        &["integrity", "read", &case, "--identity", alice],
        None,
    ));
    assert!(!read.contains("#2"), "{read}");
    server.shutdown().await.unwrap();
}

/// Concurrent write-backs to one case all land, each at its own position, all readable.
/// Sixteen at once: more than an optimistic retry of a few rounds survives (it lost to
/// its neighbours every round and answered 500 on PostgreSQL).
async fn concurrent_messages_all_land(f: &Fixture) {
    const WRITERS: usize = 16;
    let k = keys(f, "");
    let (server, _state, base) = start(f, &k.config).await;
    let http = tarmim_testing::http();
    let code = make_report(&http, &base, 8, &[]).await;
    let sends = (0..WRITERS).map(|i| {
        let http = http.clone();
        let (base, code) = (base.clone(), code.clone());
        tokio::spawn(async move {
            http.post(format!("{base}/api/case/messages"))
                .json(&json!({"receipt_code": code, "text": format!("follow-up {i:02}")}))
                .send()
                .await
                .unwrap()
                .status()
        })
    });
    for s in futures_util::future::join_all(sends).await {
        assert_eq!(s.unwrap(), StatusCode::CREATED);
    }
    let alice = investigator::load_identity(&k.bribery[0]).unwrap();
    let case = investigator::list(&f.db, &alice).await.unwrap()[0]
        .id
        .clone();
    let view = investigator::read(&f.db, &alice, &case, None)
        .await
        .unwrap();
    assert_eq!(view.failures(), 0);
    assert_eq!(view.messages.len(), WRITERS + 1);
    let mut texts: Vec<String> = view
        .messages
        .iter()
        .skip(1)
        .map(|m| match &m.as_ref().unwrap().body {
            seal::Body::Message { text } => text.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    texts.sort();
    assert_eq!(
        texts,
        (0..WRITERS)
            .map(|i| format!("follow-up {i:02}"))
            .collect::<Vec<_>>()
    );
    server.shutdown().await.unwrap();
}

/// Headless Chromium (Debian's), driven over the DevTools protocol: started by this test,
/// killed (by its pid) when dropped.
struct Browser {
    child: std::process::Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new("chromium")
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-port=0",
                "about:blank",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium is installed (tests/setup/browser.sh)");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if !sent
                    && let Some(rest) = line.strip_prefix("DevTools listening on ws://127.0.0.1:")
                {
                    let port: u16 = rest.split('/').next().unwrap().parse().unwrap();
                    tx.send(port).unwrap();
                    sent = true;
                }
            }
        });
        let port = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("chromium did not open its DevTools port");
        Browser {
            child,
            port,
            _profile: profile,
        }
    }

    async fn page(&self) -> Page {
        let v: Value = tarmim_testing::http()
            .put(format!(
                "http://127.0.0.1:{}/json/new?about:blank",
                self.port
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let url = v["webSocketDebuggerUrl"].as_str().unwrap().to_owned();
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Page { ws, next: 0 }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Page {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next: u64,
}

impl Page {
    async fn call(&mut self, method: &str, params: Value) -> Value {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        self.next += 1;
        let id = self.next;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws.send(Message::Text(msg.into())).await.unwrap();
        loop {
            let m = self.ws.next().await.unwrap().unwrap();
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    async fn eval(&mut self, expression: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
            )
            .await;
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    /// Polls `expression` until it gives a truthy value.
    async fn wait_for(&mut self, expression: &str) -> Value {
        for _ in 0..300 {
            let v = self.eval(expression).await;
            if !(v.is_null() || v == json!(false) || v == json!("")) {
                return v;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("timed out waiting for {expression}");
    }
}

/// The whole loop through the real page in headless Chromium: a report with a photo,
/// the receipt code shown, an investigator's reply read and answered on the page; the
/// page keeps no cookie or storage.
async fn the_page_in_a_browser(f: &Fixture) {
    let k = keys(f, "");
    let (server, _state, base) = start(f, &k.config).await;
    let photo = k.dir.path().join("evidence.jpg");
    std::fs::write(&photo, jpeg_with_exif()).unwrap();
    let browser = Browser::start();
    let mut page = browser.page().await;
    page.call("Page.enable", json!({})).await;
    page.call("Page.navigate", json!({"url": base})).await;
    page.wait_for("document.getElementById('category') && document.getElementById('category').options.length === 2")
        .await;
    let doc = page.call("DOM.getDocument", json!({})).await;
    let input = page
        .call(
            "DOM.querySelector",
            json!({"nodeId": doc["root"]["nodeId"], "selector": "#files"}),
        )
        .await;
    page.call(
        "DOM.setFileInputFiles",
        json!({"nodeId": input["nodeId"], "files": [photo.to_str().unwrap()]}),
    )
    .await;
    page.eval(&format!(
        "(() => {{ document.getElementById('category').value = 'bribery'; \
         document.getElementById('text').value = {text}; \
         document.getElementById('place').value = 'Valiasr'; \
         document.getElementById('report-form').requestSubmit(); return true; }})()",
        text = json!(REPORT_TEXT)
    ))
    .await;
    let code = page
        .wait_for("document.getElementById('receipt-code').textContent")
        .await;
    let code = code.as_str().unwrap().to_owned();
    assert!(
        server::domain::integrity::receipt::ReceiptCode::parse(&code).is_ok(),
        "{code}"
    );
    assert_eq!(
        page.eval("document.cookie + localStorage.length + sessionStorage.length")
            .await,
        json!("00")
    );

    let alice = investigator::load_identity(&k.bribery[0]).unwrap();
    let case = investigator::list(&f.db, &alice).await.unwrap()[0]
        .id
        .clone();
    let view = investigator::read(&f.db, &alice, &case, None)
        .await
        .unwrap();
    assert_eq!(view.failures(), 0);
    let env = view.messages[0].as_ref().unwrap();
    assert_eq!(env.attachments.len(), 1, "the photo came through the page");
    investigator::reply(
        &f.db,
        &k.config,
        &alice,
        &case,
        REPLY_TEXT,
        server::base::time::now_millis(),
    )
    .await
    .unwrap();

    page.eval(&format!(
        "(() => {{ document.getElementById('code').value = {code}; \
         document.getElementById('follow-form').requestSubmit(); return true; }})()",
        code = json!(code.to_lowercase())
    ))
    .await;
    page.wait_for(&format!(
        "document.getElementById('messages').textContent.includes({})",
        json!(REPLY_TEXT)
    ))
    .await;
    page.eval(&format!(
        "(() => {{ document.getElementById('reply-text').value = {t}; \
         document.getElementById('reply-form').requestSubmit(); return true; }})()",
        t = json!(BACK_TEXT)
    ))
    .await;
    page.wait_for(&format!(
        "document.getElementById('messages').textContent.includes({})",
        json!(BACK_TEXT)
    ))
    .await;
    let view = investigator::read(&f.db, &alice, &case, None)
        .await
        .unwrap();
    assert_eq!(view.messages.len(), 3);
    assert!(investigator::render_case(&view).contains(BACK_TEXT));
    drop(browser);
    server.shutdown().await.unwrap();
}

/// A JPEG big enough that decoding and re-encoding it takes a while (noise does not
/// compress, so the file is real work for the decoder).
fn slow_jpeg() -> Vec<u8> {
    let mut seed = 0x2545_f491_u32;
    let img = image::RgbImage::from_fn(1200, 900, |_, _| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let [a, b, c, _] = seed.to_le_bytes();
        image::Rgb([a, b, c])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

/// `GET /metrics` is not public, and filing reports leaves no trace in it: no integrity
/// route, no per-report counter. With `metrics_listen`, a second address serves them.
async fn metrics_are_private_and_never_name_the_channel(f: &Fixture) {
    let k = keys(f, "");
    // No token set: not served on the public listener at all.
    let mut c = f.config.clone();
    c.integrity = k.config.clone();
    c.metrics_token = None;
    let server = tarmim_testing::start(f.db.clone(), c).await;
    let http = tarmim_testing::http();
    let r = http
        .get(format!("http://{}/metrics", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "no token, no metrics");
    // Kept running to the end: stopping a server closes the shared database pool.
    let tokenless = server;

    // A token set: only its bearer reads them; a separate listener serves them too.
    let mut c = f.config.clone();
    c.integrity = k.config.clone();
    c.metrics_token = Some("scrape-secret-7f3a".into());
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let metrics_addr = free.local_addr().unwrap();
    drop(free);
    c.metrics_listen = Some(metrics_addr);
    let state = AppState::new(f.db.clone(), c);
    let server = RunningServer::start(state, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let root = format!("http://{}", server.addr);
    let base = format!("{root}/integrity");
    make_report(&http, &base, 8, &[&jpeg_with_exif()]).await;
    let code = make_report(&http, &base, 8, &[]).await;
    let r = http
        .post(format!("{base}/api/case/messages"))
        .json(&json!({"receipt_code": code, "text": "more"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let scrape = async |url: String, token: Option<&str>| {
        let mut req = http.get(url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    };
    let public = format!("{root}/metrics");
    assert_eq!(
        scrape(public.clone(), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        scrape(public.clone(), Some("wrong")).await.0,
        StatusCode::UNAUTHORIZED
    );
    for (url, token) in [
        (public, Some("scrape-secret-7f3a")),
        (format!("http://{metrics_addr}/metrics"), None),
    ] {
        let (status, text) = scrape(url, token).await;
        assert_eq!(status, StatusCode::OK);
        assert!(text.contains("http_requests_total"), "{text}");
        assert!(!text.contains("integrity"), "{text}");
    }
    // The metrics listener serves nothing else.
    let r = http
        .get(format!("http://{metrics_addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    server.shutdown().await.unwrap();
    tokenless.shutdown().await.unwrap();
}

/// Sends a report's headers declaring a 40 MiB body, then streams the body; returns the
/// status line of the answer and how many body bytes had been sent when it came (the
/// server answers from the headers, so it comes long before the body is through).
async fn stream_huge_report(addr: std::net::SocketAddr, stamp: Option<&str>) -> (String, usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const LEN: usize = 40 << 20;
    let sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = sock.into_split();
    let pow_line = stamp
        .map(|s| format!("X-Integrity-Pow: {s}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST /integrity/api/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         {pow_line}Content-Length: {LEN}\r\n\r\n{{\"category\":\"bribery\",\"text\":\""
    );
    wr.write_all(head.as_bytes()).await.unwrap();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&sent);
    let writer = tokio::spawn(async move {
        let chunk = vec![b'y'; 64 * 1024];
        let mut n = 0;
        while n < LEN {
            if wr.write_all(&chunk).await.is_err() {
                break;
            }
            n += chunk.len();
            counter.store(n, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let mut buf = vec![0u8; 4096];
    let got = tokio::time::timeout(std::time::Duration::from_secs(60), rd.read(&mut buf))
        .await
        .expect("an answer within a minute")
        .unwrap_or(0);
    let at = sent.load(std::sync::atomic::Ordering::SeqCst);
    writer.abort();
    let line = String::from_utf8_lossy(&buf[..got])
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    (line, at)
}

/// A report is admitted from its headers: without valid proof of work, or from a client
/// over its limit, a huge body is refused before it is read.
async fn refused_before_the_body_is_read(f: &Fixture) {
    let k = keys(f, "reports_per_client = 1");
    let (server, state, base) = start(f, &k.config).await;
    assert!(state.integrity.config.max_body_bytes() > 40 << 20);
    let (line, sent) = stream_huge_report(server.addr, None).await;
    assert!(line.contains(" 400 "), "{line}");
    assert!(sent < 8 << 20, "answered after {sent} body bytes");
    let (line, sent) = stream_huge_report(server.addr, Some("nonsense")).await;
    assert!(line.contains(" 400 "), "{line}");
    assert!(sent < 8 << 20, "answered after {sent} body bytes");
    let (line, sent) = stream_huge_report(server.addr, Some(&pow::solve(8, 1, "old"))).await;
    assert!(line.contains(" 403 "), "{line}");
    assert!(sent < 8 << 20, "answered after {sent} body bytes");
    // Good work, but the client has used its one report.
    make_report(&tarmim_testing::http(), &base, 8, &[]).await;
    let (line, sent) = stream_huge_report(server.addr, Some(&stamp(8))).await;
    assert!(line.contains(" 429 "), "{line}");
    assert!(sent < 8 << 20, "answered after {sent} body bytes");
    server.shutdown().await.unwrap();
}

/// Many reports with attachments at once: every one is taken, and no more attachment
/// decodes run at once than `decode_concurrency`.
async fn attachment_decodes_are_bounded(f: &Fixture) {
    let k = keys(
        f,
        "decode_concurrency = 1\nreports_in_flight = 16\nmax_attachment_bytes = 4000000",
    );
    let (server, state, base) = start(f, &k.config).await;
    let photo = slow_jpeg();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (base, photo) = (base.clone(), photo.clone());
        tasks.push(tokio::spawn(async move {
            let http = client_from(&format!("127.0.0.{}", 20 + i));
            make_report(&http, &base, 8, &[&photo, &photo]).await
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        state.integrity.peak_decodes(),
        1,
        "decodes ran at once beyond decode_concurrency"
    );
    server.shutdown().await.unwrap();
}

/// A client behind a trusted proxy, by its forwarded address.
async fn report_as(base: &str, ip: &str) -> StatusCode {
    report_request(
        tarmim_testing::http()
            .post(format!("{base}/api/reports"))
            .header("X-Forwarded-For", ip),
        json!({"category": "bribery", "text": "flood", "pow": stamp(8)}),
    )
    .send()
    .await
    .unwrap()
    .status()
}

/// One network (an IPv6 /48, every /64 of it a different client) flooding the channel
/// uses up its own share, not the server's ceiling: a reporter from another network
/// still gets in.
async fn one_network_cannot_shut_the_channel(f: &Fixture) {
    let k = keys(
        f,
        "reports_per_client = 1\nreports_per_prefix = 3\nreports_per_window = 6",
    );
    let (server, _state, base) = start_behind_proxy(f, &k.config).await;
    let mut statuses = Vec::new();
    for i in 0..10 {
        statuses.push(report_as(&base, &format!("2001:db8:1:{i:x}::1")).await);
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 3, "{statuses:?}");
    assert!(
        statuses[3..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert_eq!(
        report_as(&base, "2001:db8:2::1").await,
        StatusCode::CREATED,
        "a reporter from another /48"
    );
    assert_eq!(report_as(&base, "203.0.113.9").await, StatusCode::CREATED);
    server.shutdown().await.unwrap();
}

/// The rate limiter's table full of other clients: a new reporter is still admitted (the
/// least recently seen entries are forgotten to make room).
async fn a_full_client_table_admits_new_reporters(f: &Fixture) {
    let k = keys(f, "reports_per_client = 1\nrate_table_clients = 6");
    let (server, state, base) = start_behind_proxy(f, &k.config).await;
    for i in 0..12 {
        assert_eq!(
            report_as(&base, &format!("198.51.{i}.7")).await,
            StatusCode::CREATED,
            "reporter {i}"
        );
        assert!(state.integrity.limiter.clients_counted() <= 6);
    }
    server.shutdown().await.unwrap();
}

on_both_backends!(
    whole_loop,
    nothing_identifying_is_logged_or_stored,
    wrong_and_expired_codes_look_alike,
    tampering_is_detected,
    abuse_and_size_limits,
    page_proof_of_work_is_accepted,
    tool_refuses_bad_input,
    concurrent_messages_all_land,
    the_page_in_a_browser,
    metrics_are_private_and_never_name_the_channel,
    refused_before_the_body_is_read,
    attachment_decodes_are_bounded,
    one_network_cannot_shut_the_channel,
    a_full_client_table_admits_new_reporters,
);

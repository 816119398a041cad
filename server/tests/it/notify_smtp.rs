//! Citizens' e-mail through a real SMTP server that requires STARTTLS and AUTH:
//! `aiosmtpd` (PyPI, `tests/setup/smtp.sh`) run by `tests/smtp/server.py` on a loopback
//! port, with a CA and a certificate this test makes with `openssl` and hands the server
//! to trust (`TARMIM_SMTP_CA_FILE`). The messages are read from the Maildir it delivers
//! into: headers (From, To, the subject in the citizen's language, Message-ID,
//! List-Unsubscribe, Content-Type and charset) and the body with the tracking link. A
//! wrong password, and a URL without STARTTLS, are retried, then dead-lettered with an
//! error that says what to check; nothing is delivered.
//!
//! The SMTP side is the same whatever the database: this runs on SQLite only (the outbox
//! on both backends is `notify.rs`'s).

use crate::notify::{BASE, PASSWORD, code_of, file, reopen, seed};
use crate::outbox::wait_for;
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::json;
use server::base::config::Config;
use server::storage::outbox as rows;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use tarmim_testing::Fixture;

const USER: &str = "tarmim";
const SMTP_PASSWORD: &str = "s3cret-smtp-password";

/// `tests/smtp/server.py` running, its files in a temporary folder.
struct RealSmtp {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for RealSmtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (tests/setup/smtp.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl RealSmtp {
    /// A CA, a certificate for 127.0.0.1 it signs, and the server using it.
    fn start() -> RealSmtp {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=Tarmim test CA",
            ],
        );
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        );
        std::fs::write(
            d.join("leaf.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "cert.pem",
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
            ],
        );
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/smtp/server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args([
                "--cert",
                "cert.pem",
                "--key",
                "key.pem",
                "--maildir",
                "maildir",
            ])
            .args(["--user", USER, "--password", SMTP_PASSWORD])
            .current_dir(d)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .unwrap_or_else(|| {
                panic!("tests/smtp/server.py did not start (is aiosmtpd installed? tests/setup/smtp.sh): {line:?}")
            })
            .parse()
            .unwrap();
        RealSmtp { child, port, dir }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The messages delivered, oldest first, as stored.
    fn maildir(&self) -> Vec<Mail> {
        let new = self.dir.path().join("maildir/new");
        let mut files: Vec<(std::time::SystemTime, String)> = match std::fs::read_dir(&new) {
            Ok(entries) => entries
                .map(|e| {
                    let e = e.unwrap();
                    let raw = std::fs::read_to_string(e.path()).unwrap();
                    (e.metadata().unwrap().modified().unwrap(), raw)
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        files
            .into_iter()
            .map(|(_, raw)| Mail::parse(&raw))
            .collect()
    }
}

/// A delivered message: its header fields unfolded, its body decoded.
struct Mail {
    headers: Vec<(String, String)>,
    raw_body: String,
}

impl Mail {
    fn parse(raw: &str) -> Mail {
        let raw = raw.replace("\r\n", "\n");
        let (head, body) = raw.split_once("\n\n").unwrap();
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.lines() {
            if line.starts_with([' ', '\t']) {
                let last = headers.last_mut().unwrap();
                last.1.push(' ');
                last.1.push_str(line.trim());
            } else {
                let (k, v) = line.split_once(':').unwrap();
                headers.push((k.to_owned(), v.trim().to_owned()));
            }
        }
        Mail {
            headers,
            raw_body: body.to_owned(),
        }
    }

    /// The field as sent.
    fn raw(&self, name: &str) -> String {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name}: in {:?}", self.headers))
    }

    /// The field with its RFC 2047 encoded words decoded.
    fn header(&self, name: &str) -> String {
        decode_words(&self.raw(name))
    }

    /// The body, decoded by its `Content-Transfer-Encoding`, with `\n` line ends.
    fn body(&self) -> String {
        self.decoded_body().replace("\r\n", "\n")
    }

    fn decoded_body(&self) -> String {
        let cte = self
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Content-Transfer-Encoding"))
            .map(|(_, v)| v.to_ascii_lowercase())
            .unwrap_or_default();
        match cte.as_str() {
            "base64" => {
                let b64: String = self.raw_body.split_whitespace().collect();
                String::from_utf8(
                    base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .unwrap(),
                )
                .unwrap()
            }
            "quoted-printable" => quoted_printable(&self.raw_body.replace("=\n", "")),
            _ => self.raw_body.clone(),
        }
    }
}

fn quoted_printable(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// Decodes `=?utf-8?b?…?=` and `=?utf-8?q?…?=` words (the space between two encoded
/// words is not part of the text).
fn decode_words(v: &str) -> String {
    let mut out = String::new();
    let mut rest = v;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let before = &rest[..start];
        if !(last_was_word && before.trim().is_empty()) {
            out.push_str(before);
        }
        let after = &rest[start + 2..];
        let mut parts = after.splitn(3, '?');
        let (charset, enc, tail) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        assert!(charset.eq_ignore_ascii_case("utf-8"), "{v}");
        let end = tail.find("?=").unwrap();
        let text = &tail[..end];
        let bytes = if enc.eq_ignore_ascii_case("b") {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap()
        } else {
            quoted_printable(&text.replace('_', " ")).into_bytes()
        };
        out.push_str(&String::from_utf8(bytes).unwrap());
        rest = &tail[end + 2..];
        last_was_word = true;
    }
    out.push_str(rest);
    out
}

fn config(f: &Fixture, url: String, ca: PathBuf) -> Config {
    let mut c = f.config.clone();
    c.public_url = Some(BASE.into());
    c.outbox.smtp_url = Some(url);
    c.outbox.smtp_ca_file = Some(ca);
    c.outbox.smtp_from = "Tehran 137 <no-reply@137.example>".into();
    c.outbox.tick_ms = 50;
    c.outbox.retry_secs = 0;
    c.outbox.max_attempts = 2;
    c.outbox.timeout_secs = 5;
    c
}

/// A Persian citizen's receipt and the "a crew is on it" status change arrive through
/// STARTTLS and AUTH, with every header the citizen's mail program reads; then a wrong
/// password and a URL without STARTTLS are retried and dead-lettered, nothing delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_and_auth_deliver_and_misconfigured_are_dead_lettered() {
    let f = Fixture::sqlite().await;
    seed(&f.db).await;
    let smtp = RealSmtp::start();
    let port = smtp.port;
    let good = format!("smtp://{USER}:{SMTP_PASSWORD}@127.0.0.1:{port}?tls=required");
    let srv = tarmim_testing::start(f.db.clone(), config(&f, good, smtp.ca())).await;
    let req = file(srv.addr, "shahrvand@example.org", Some("fa")).await;
    let code = code_of(&req);
    let task = req["service_request_id"].as_str().unwrap().to_owned();
    tarmim_testing::add_crew(&f.db, "C-A", "D01", &["pothole"]).await;
    let disp = tarmim_testing::Api::login(srv.addr, "disp", PASSWORD).await;
    let (s, v) = disp
        .post(
            &format!("/api/v1/console/tasks/{task}/assign"),
            json!({"crew": "C-A"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    wait_for("both e-mails in the Maildir", async || {
        smtp.maildir().len() == 2
    })
    .await;
    let mails = smtp.maildir();
    let grouped = format!("{}-{}-{}", &code[..4], &code[4..8], &code[8..]);
    for (m, subject) in mails
        .iter()
        .zip(["گزارش دریافت شد", "یک گروه در حال رسیدگی است"])
    {
        assert_eq!(m.raw("Delivered-To"), "shahrvand@example.org");
        assert_eq!(m.raw("Return-Path"), "<no-reply@137.example>");
        assert_eq!(m.header("From"), "\"Tehran 137\" <no-reply@137.example>");
        assert_eq!(m.raw("To"), "shahrvand@example.org");
        let s = m.header("Subject");
        assert!(s.starts_with("۱۳۷: "), "{s}");
        assert!(s.contains(subject) && s.contains(&grouped), "{s}");
        let id = m.raw("Message-ID");
        assert!(
            id.starts_with("<n") && id.ends_with("@tarmim.notify>"),
            "{id}"
        );
        assert_eq!(
            m.raw("List-Unsubscribe"),
            format!("<{BASE}/track/{code}/unsubscribe>")
        );
        let ct = m.raw("Content-Type").to_ascii_lowercase().replace('"', "");
        assert_eq!(ct, "text/plain; charset=utf-8");
        let body = m.body();
        assert!(
            body.contains(&format!("پیگیری: {BASE}/track/{code}\n")),
            "{body}"
        );
        assert!(body.contains(&grouped), "{body}");
        assert!(!body.contains("shahrvand@example.org"), "{body}");
    }
    assert!(mails[1].body().contains("یک گروه"), "{}", mails[1].body());
    assert_ne!(mails[0].raw("Message-ID"), mails[1].raw("Message-ID"));
    srv.shutdown().await.unwrap();

    // A wrong password, then a URL without STARTTLS: each retried (2 attempts), then
    // dead with the reason; nothing more delivered.
    let cases = [
        (
            format!("smtp://{USER}:wrong@127.0.0.1:{port}?tls=required"),
            "535",
        ),
        (
            format!("smtp://{USER}:{SMTP_PASSWORD}@127.0.0.1:{port}"),
            "TLS mode",
        ),
    ];
    let mut db = reopen(&f).await;
    for (i, (url, why)) in cases.into_iter().enumerate() {
        let srv = tarmim_testing::start(db.clone(), config(&f, url, smtp.ca())).await;
        file(srv.addr, "citizen@example.org", Some("en")).await;
        wait_for("the row to be dead", async || {
            rows::counts(&db).await.unwrap().dead == i as u64 + 1
        })
        .await;
        let dead = rows::dead(&db, 1).await.unwrap();
        assert_eq!(dead[0].kind, "email");
        assert_eq!(dead[0].attempts, 2, "retried: {dead:?}");
        let error = dead[0].last_error.clone().unwrap();
        assert!(
            error.contains(why) && error.contains("TARMIM_SMTP_URL"),
            "{error}"
        );
        assert!(!error.contains(SMTP_PASSWORD), "{error}");
        srv.shutdown().await.unwrap();
        db = reopen(&f).await;
    }
    assert_eq!(smtp.maildir().len(), 2, "nothing delivered");
    drop(smtp);
    f.close().await;
}

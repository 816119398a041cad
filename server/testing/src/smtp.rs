//! A small real SMTP server for the notification tests: it speaks RFC 5321 over TCP on a
//! loopback port (greeting, EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP,
//! QUIT), keeps every message it accepts, and can be told to refuse (`451`/`550`), to
//! hold the final reply to DATA (a server killed while waiting for it has handed the
//! message over without learning that it was taken), or to say nothing at all to a new
//! connection (a server killed while waiting for the greeting has committed the
//! notification and not sent it).
//!
//! Like a receiver that de-duplicates by `Message-ID` (not every mail system does), its
//! mailbox keeps one message per `Message-ID`: a resend with the same id is counted
//! (`attempts`) but not delivered twice (`mailbox`). This is what the outbox's
//! idempotency key can buy the citizen.

use base64::Engine;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// How the sink answers the end of DATA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `250`: taken.
    Accept,
    /// This reply (e.g. `451 4.3.0 try again later`, `550 5.1.1 no such user`).
    Refuse(String),
    /// Keep the message, then wait this long before `250` (or until the client is gone).
    Hold(Duration),
    /// Accept new connections and never greet them (until the client is gone): nothing
    /// can be handed over. Applies to connections made while it is the mode.
    Mute,
}

/// One message as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// `MAIL FROM`.
    pub from: String,
    /// `RCPT TO`s.
    pub to: Vec<String>,
    /// The message as sent (headers and body, CRLF line ends, dot-unstuffed).
    pub data: String,
}

impl Received {
    /// A header's value (the first of that name), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let mut out: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(v) = out.as_mut() {
                    v.push(' ');
                    v.push_str(line.trim());
                }
                continue;
            }
            if out.is_some() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case(name)
            {
                out = Some(v.trim().to_owned());
            }
        }
        out
    }

    /// The body (after the blank line).
    pub fn body(&self) -> &str {
        self.data.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("")
    }

    /// The body as a mail reader shows it: its `Content-Transfer-Encoding` (base64 or
    /// quoted-printable) undone, UTF-8, `\n` line ends.
    pub fn text(&self) -> String {
        let cte = self
            .header("Content-Transfer-Encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let bytes = match cte.as_str() {
            "base64" => {
                let b64: String = self.body().split_whitespace().collect();
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap_or_default()
            }
            "quoted-printable" => quoted_printable(&self.body().replace("=\r\n", "")),
            _ => self.body().as_bytes().to_vec(),
        };
        String::from_utf8_lossy(&bytes).replace("\r\n", "\n")
    }

    /// A header's value with its RFC 2047 encoded words (`=?utf-8?b?…?=`, `…?q?…`)
    /// decoded.
    pub fn decoded(&self, name: &str) -> Option<String> {
        let raw = self.header(name)?;
        // Bytes: a character may be split between two adjacent encoded words.
        let mut out: Vec<u8> = Vec::new();
        let mut rest = raw.as_str();
        let mut after_word = false;
        while let Some(start) = rest.find("=?") {
            let word = &rest[start + 2..];
            let parts: Vec<&str> = word.splitn(3, '?').collect();
            let Some(end) = parts.get(2).and_then(|t| t.find("?=")) else {
                break;
            };
            // Whitespace between two encoded words is not text (RFC 2047 §6.2).
            let between = &rest[..start];
            if !(after_word && between.trim().is_empty()) {
                out.extend_from_slice(between.as_bytes());
            }
            let text = &parts[2][..end];
            let bytes = if parts[1].eq_ignore_ascii_case("b") {
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .unwrap_or_default()
            } else {
                quoted_printable(&text.replace('_', " "))
            };
            out.extend_from_slice(&bytes);
            rest = &parts[2][end + 2..];
            after_word = true;
        }
        out.extend_from_slice(rest.as_bytes());
        Some(String::from_utf8_lossy(&out).into_owned())
    }
}

/// `=XX` escapes into bytes; everything else as is.
fn quoted_printable(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'='
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

#[derive(Debug, Default)]
struct State {
    mailbox: Vec<Received>,
    attempts: usize,
    connections: usize,
    mode: Option<Mode>,
}

/// The sink; serving until dropped.
#[derive(Clone)]
pub struct SmtpSink {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

impl SmtpSink {
    /// Starts on a free loopback port, in `mode`.
    pub async fn start(mode: Mode) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        SmtpSink::on(listener, mode)
    }

    /// Starts on `listener`.
    pub fn on(listener: TcpListener, mode: Mode) -> SmtpSink {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            mode: Some(mode),
            ..State::default()
        }));
        let s = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let s = Arc::clone(&s);
                tokio::spawn(async move {
                    let _ = session(sock, s).await;
                });
            }
        });
        SmtpSink {
            addr,
            state,
            task: Arc::new(task),
        }
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Changes how the end of DATA is answered from now on.
    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = Some(mode);
    }

    /// Messages delivered, one per `Message-ID`.
    pub fn mailbox(&self) -> Vec<Received> {
        self.state.lock().unwrap().mailbox.clone()
    }

    /// Complete DATA transfers received (deliveries and resends, refused or not).
    pub fn attempts(&self) -> usize {
        self.state.lock().unwrap().attempts
    }

    /// TCP connections accepted (greeted or not).
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }
}

async fn session(sock: tokio::net::TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    let mute = {
        let mut st = state.lock().unwrap();
        st.connections += 1;
        st.mode == Some(Mode::Mute)
    };
    if mute {
        // Silent until the client hangs up (or is killed).
        let mut rest = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut r, &mut rest).await;
        return Ok(());
    }
    w.write_all(b"220 sink.test ESMTP tarmim-testing\r\n")
        .await?;
    let mut from = String::new();
    let mut to: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            w.write_all(b"250-sink.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n")
                .await?;
        } else if upper.starts_with("HELO") {
            w.write_all(b"250 sink.test\r\n").await?;
        } else if upper.starts_with("MAIL FROM:") {
            from = cmd[10..].trim().to_owned();
            to.clear();
            w.write_all(b"250 2.1.0 ok\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(cmd[8..].trim().to_owned());
            w.write_all(b"250 2.1.5 ok\r\n").await?;
        } else if upper == "DATA" {
            w.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                let l = line.strip_prefix('.').unwrap_or(&line);
                data.push_str(l);
            }
            let got = Received {
                from: from.clone(),
                to: to.clone(),
                data,
            };
            let mode = {
                let mut st = state.lock().unwrap();
                st.attempts += 1;
                let mode = st.mode.clone().unwrap_or(Mode::Accept);
                if !matches!(mode, Mode::Refuse(_)) {
                    let id = got.header("Message-ID");
                    let dup =
                        id.is_some() && st.mailbox.iter().any(|m| m.header("Message-ID") == id);
                    if !dup {
                        st.mailbox.push(got);
                    }
                }
                mode
            };
            match mode {
                Mode::Accept | Mode::Mute => w.write_all(b"250 2.0.0 queued\r\n").await?,
                Mode::Refuse(reply) => w.write_all(format!("{reply}\r\n").as_bytes()).await?,
                Mode::Hold(d) => {
                    // Until the client is gone or the time is up.
                    let mut probe = String::new();
                    let _ = tokio::time::timeout(d, r.read_line(&mut probe)).await;
                    w.write_all(b"250 2.0.0 queued\r\n").await?;
                }
            }
        } else if upper == "RSET" {
            to.clear();
            w.write_all(b"250 2.0.0 ok\r\n").await?;
        } else if upper == "NOOP" {
            w.write_all(b"250 2.0.0 ok\r\n").await?;
        } else if upper == "QUIT" {
            w.write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(());
        } else {
            w.write_all(b"502 5.5.2 command not recognised\r\n").await?;
        }
    }
}

//! The two-replica failover run (issue 21 §6), driven from outside through a real reverse
//! proxy: `tests/suites/replicas.sh` starts two `tarmim-server` replicas on one
//! PostgreSQL database and one S3 bucket behind HAProxy (`tests/replicas/haproxy.cfg`,
//! replica `b` a backup, so every connection starts on `a`), then runs this.
//!
//! Crew phones (real `sync_core` devices over WebSocket), a dispatcher's console event
//! stream (SSE) and a tus photo upload all go through the proxy to `a`; a change made
//! through `b` directly must reach them (LISTEN/NOTIFY between replicas). Then `a` is
//! killed with SIGKILL, at a point this program chooses, so the run is the same every
//! time: every phone must reconnect and catch up, the event stream must come back, a change
//! made through the proxy (now `b`) must reach both, and the upload must resume on `b` at
//! the offset `a` had acknowledged and be stored whole. With `--restart-a`, a second round
//! restarts `a`, starts a second upload on `b`, kills `b` and checks the same on `a`.
//!
//! Prints one line per check, `PASS <what>` or `FAIL <what>: <why>`, and `PHOTO <hash>
//! <bytes>` per stored photo (the suite checks the object in S3); exits 1 if a check failed.
//!
//! ```sh
//! failover --proxy http://127.0.0.1:8000 --direct-b http://127.0.0.1:8002 --pid-a 123 \
//!     --pid-b 124 --logins crew-d01-a,crew-d01-b [--devices 2] [--photo-kb 700] \
//!     [--restart-a "bash start-a.sh"]
//! ```

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;
use sync_core::session::device::Device;
use sync_core::store::Store;
use sync_core::{Actor, DeviceId, Role};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long any one check may take (reconnection through the proxy's health checks
/// takes about a second; the rest is slack for a loaded machine).
const WAIT: Duration = Duration::from_secs(40);
/// Where every task of the run is filed: inside the demo city's district D01.
const POINT: (f64, f64) = (35.72, 51.335);
const DISPATCHER: &str = "dispatcher-r1";
const DISPATCHER_PASSWORD: &str = "demo-dispatcher";
const REPLICA_HEADER: &str = "x-tarmim-replica";

struct Args {
    proxy: String,
    direct_b: String,
    pid_a: u32,
    pid_b: u32,
    logins: Vec<String>,
    devices: usize,
    photo_kb: usize,
    restart_a: Option<String>,
}

fn args() -> anyhow::Result<Args> {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        proxy: String::new(),
        direct_b: String::new(),
        pid_a: 0,
        pid_b: 0,
        logins: Vec::new(),
        devices: 1,
        photo_kb: 700,
        restart_a: None,
    };
    while let Some(k) = it.next() {
        let v = it.next().with_context(|| format!("{k} needs a value"))?;
        match k.as_str() {
            "--proxy" => a.proxy = v,
            "--direct-b" => a.direct_b = v,
            "--pid-a" => a.pid_a = v.parse()?,
            "--pid-b" => a.pid_b = v.parse()?,
            "--logins" => a.logins = v.split(',').map(str::to_owned).collect(),
            "--devices" => a.devices = v.parse()?,
            "--photo-kb" => a.photo_kb = v.parse()?,
            "--restart-a" => a.restart_a = Some(v),
            _ => bail!("unknown argument {k}"),
        }
    }
    if a.proxy.is_empty() || a.direct_b.is_empty() || a.pid_a == 0 || a.logins.is_empty() {
        bail!("usage: failover --proxy URL --direct-b URL --pid-a PID --pid-b PID --logins a,b");
    }
    Ok(a)
}

/// The checks' tally.
#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
}

impl Tally {
    fn check(&mut self, what: &str, r: anyhow::Result<()>) {
        match r {
            Ok(()) => {
                self.passed += 1;
                println!("PASS {what}");
            }
            Err(e) => {
                self.failed += 1;
                println!("FAIL {what}: {e:#}");
            }
        }
    }
}

// ------------------------------------------------------------------ HTTP

fn replica_of(h: &reqwest::header::HeaderMap) -> String {
    h.get(REPLICA_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?")
        .to_owned()
}

async fn login(
    http: &reqwest::Client,
    base: &str,
    login: &str,
    password: &str,
    device: &str,
) -> anyhow::Result<Value> {
    let r = http
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"login": login, "password": password, "device_id": device}))
        .send()
        .await?;
    let status = r.status();
    let body: Value = r.json().await?;
    if !status.is_success() {
        bail!("login {login}: {status} {body}");
    }
    Ok(body)
}

/// The dispatcher's console client.
struct Console {
    http: reqwest::Client,
    token: String,
}

impl Console {
    /// Files a task at [`POINT`] and assigns it to `crew`, through `base`; its id.
    async fn task_for(&self, base: &str, crew: &str, title: &str) -> anyhow::Result<String> {
        let r = self
            .http
            .post(format!("{base}/api/v1/console/tasks"))
            .bearer_auth(&self.token)
            .json(&json!({"category": "pothole", "title": title, "lat": POINT.0, "lon": POINT.1}))
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await?;
        if status.as_u16() != 201 {
            bail!("filing a task: {status} {body}");
        }
        let id = body["task"]["id"]
            .as_str()
            .context("no task id")?
            .to_owned();
        let r = self
            .http
            .post(format!("{base}/api/v1/console/tasks/{id}/assign"))
            .bearer_auth(&self.token)
            .json(&json!({"crew": crew, "override": "failover test"}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!(
                "assigning {id} to {crew}: {} {}",
                r.status(),
                r.text().await?
            );
        }
        Ok(id)
    }
}

// ------------------------------------------------------------------ a phone

struct Phone {
    name: String,
    crew: String,
    dev: Device,
    token: String,
    ws: Option<Ws>,
    /// The replica that took the socket, by the proxy's header.
    replica: String,
}

impl Phone {
    async fn login(
        http: &reqwest::Client,
        base: &str,
        login_name: &str,
        device: &str,
    ) -> anyhow::Result<Phone> {
        let body = login(
            http,
            base,
            login_name,
            server::demo::DEMO_CREW_PASSWORD,
            device,
        )
        .await?;
        let me = &body["me"];
        let crew = me["crew"].as_str().context("a crew login")?.to_owned();
        let actor = Actor {
            user: me["user_id"].as_str().context("user_id")?.to_owned(),
            role: Role::Crew,
            crew: Some(crew.clone()),
            device: DeviceId::new(device).map_err(|e| anyhow!("{e}"))?,
        };
        Ok(Phone {
            name: device.to_owned(),
            crew,
            dev: Device::new(Store::open_in_memory()?, actor),
            token: body["token"].as_str().context("token")?.to_owned(),
            ws: None,
            replica: String::new(),
        })
    }

    /// One try at opening the socket through `base` and sending the hello.
    async fn open(&mut self, base: &str) -> anyhow::Result<()> {
        let url = format!("{}/api/v1/sync", base.replacen("http", "ws", 1));
        let mut req = url.into_client_request()?;
        req.headers_mut()
            .insert("authorization", format!("Bearer {}", self.token).parse()?);
        let (ws, resp) = tokio_tungstenite::connect_async(req).await?;
        self.replica = replica_of(resp.headers());
        self.ws = Some(ws);
        let frames = self.dev.connect().map_err(|e| anyhow!("{e}"))?;
        self.send(frames).await;
        Ok(())
    }

    /// Opens the socket, retrying until [`WAIT`] (the proxy answers 502/503 until its
    /// health check has seen the dead replica go).
    async fn reconnect(&mut self, base: &str) -> anyhow::Result<usize> {
        let deadline = Instant::now() + WAIT;
        let mut tries = 0;
        loop {
            tries += 1;
            match self.open(base).await {
                Ok(()) => return Ok(tries),
                Err(e) if Instant::now() > deadline => {
                    bail!("{}: no socket after {tries} tries: {e}", self.name)
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    async fn send(&mut self, frames: Vec<Vec<u8>>) {
        let Some(ws) = self.ws.as_mut() else { return };
        for f in frames {
            if ws.send(Message::Binary(f.into())).await.is_err() {
                self.gone();
                return;
            }
        }
    }

    fn gone(&mut self) {
        self.ws = None;
        self.dev.disconnect();
    }

    /// Handles one message, waiting at most `d`.
    async fn step(&mut self, d: Duration) {
        let Some(ws) = self.ws.as_mut() else { return };
        let msg = match tokio::time::timeout(d, ws.next()).await {
            Err(_) => return,
            Ok(m) => m,
        };
        match msg {
            Some(Ok(Message::Binary(b))) => {
                if let Ok(out) = self.dev.on_frame(&b) {
                    self.send(out.frames).await;
                }
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => self.gone(),
            Some(Ok(_)) => {}
        }
    }

    fn holds(&self, task: &str) -> bool {
        self.dev
            .list()
            .map(|l| l.iter().any(|e| e.id.as_str() == task))
            .unwrap_or(false)
    }

    /// Handles messages until caught up and holding every task of `tasks`.
    async fn until_holding(&mut self, tasks: &[&str]) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        while !(self.dev.is_live() && tasks.iter().all(|t| self.holds(t))) {
            if self.ws.is_none() {
                bail!("{}: disconnected while waiting for {tasks:?}", self.name);
            }
            if Instant::now() > deadline {
                bail!(
                    "{}: {tasks:?} not all received (live: {})",
                    self.name,
                    self.dev.is_live()
                );
            }
            self.step(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Handles messages until the socket is closed (its replica died).
    async fn until_gone(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        while self.ws.is_some() {
            if Instant::now() > deadline {
                bail!("{}: the socket stayed open", self.name);
            }
            self.step(Duration::from_millis(100)).await;
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ the event stream

struct Events {
    resp: Option<reqwest::Response>,
    buf: String,
    replica: String,
}

impl Events {
    /// Opens the stream through `base`, retrying until [`WAIT`], and reads its `hello`.
    async fn open(http: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<Events> {
        let deadline = Instant::now() + WAIT;
        loop {
            let r = http
                .get(format!("{base}/api/v1/console/events"))
                .bearer_auth(token)
                .send()
                .await;
            match r {
                Ok(r) if r.status().is_success() => {
                    let replica = replica_of(r.headers());
                    let mut ev = Events {
                        resp: Some(r),
                        buf: String::new(),
                        replica,
                    };
                    ev.until("hello").await?;
                    return Ok(ev);
                }
                Ok(r) if Instant::now() > deadline => {
                    bail!("the event stream answered {}", r.status())
                }
                Err(e) if Instant::now() > deadline => bail!("the event stream: {e}"),
                _ => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    /// Reads events until one named `name`; errors when the stream ends first.
    async fn until(&mut self, name: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            while let Some(i) = self.buf.find("\n\n") {
                let event: String = self.buf.drain(..i + 2).collect();
                if event
                    .lines()
                    .any(|l| l.trim_end() == format!("event: {name}"))
                {
                    return Ok(());
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let resp = self.resp.as_mut().context("the stream is closed")?;
            match tokio::time::timeout(left, resp.chunk()).await {
                Err(_) => bail!("no `{name}` event in time"),
                Ok(Ok(Some(c))) => self.buf.push_str(&String::from_utf8_lossy(&c)),
                Ok(Ok(None)) | Ok(Err(_)) => {
                    self.resp = None;
                    bail!("the stream ended before a `{name}` event");
                }
            }
        }
    }

    /// Reads until the stream ends (its replica died).
    async fn until_closed(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        while let Some(resp) = self.resp.as_mut() {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, resp.chunk()).await {
                Err(_) => bail!("the stream stayed open"),
                Ok(Ok(Some(_))) => {}
                Ok(Ok(None)) | Ok(Err(_)) => self.resp = None,
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ tus

/// A PNG of noise of about `kb` KiB (noise does not compress, so size ≈ pixels × 3).
fn noisy_png(kb: usize, seed: u32) -> anyhow::Result<Vec<u8>> {
    let side = (((kb * 1024) / 3) as f64).sqrt().max(16.0) as u32;
    let mut x = seed | 1;
    let img = image::RgbImage::from_fn(side, side, |_, _| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let [a, b, c, _] = x.to_le_bytes();
        image::Rgb([a, b, c])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

struct Upload {
    http: reqwest::Client,
    token: String,
    bytes: Vec<u8>,
    hash: String,
}

fn offset_of(r: &reqwest::Response) -> anyhow::Result<u64> {
    Ok(r.headers()
        .get("upload-offset")
        .context("no Upload-Offset")?
        .to_str()?
        .parse()?)
}

impl Upload {
    fn new(http: &reqwest::Client, token: &str, bytes: Vec<u8>) -> Upload {
        let hash = hex::encode(Sha256::digest(&bytes));
        Upload {
            http: http.clone(),
            token: token.to_owned(),
            bytes,
            hash,
        }
    }

    async fn create(&self, base: &str, task: &str) -> anyhow::Result<(u64, String)> {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let r = self
            .http
            .post(format!("{base}/api/v1/photos/uploads"))
            .bearer_auth(&self.token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", self.bytes.len().to_string())
            .header(
                "Upload-Metadata",
                format!(
                    "sha256 {},task {},filetype {}",
                    b64(&self.hash),
                    b64(task),
                    b64("image/png")
                ),
            )
            .send()
            .await?;
        if r.status().as_u16() != 201 {
            bail!("create: {} {}", r.status(), r.text().await?);
        }
        Ok((offset_of(&r)?, replica_of(r.headers())))
    }

    async fn head(&self, base: &str) -> anyhow::Result<(u64, String)> {
        let r = self
            .http
            .head(format!("{base}/api/v1/photos/uploads/{}", self.hash))
            .bearer_auth(&self.token)
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("HEAD: {}", r.status());
        }
        Ok((offset_of(&r)?, replica_of(r.headers())))
    }

    /// Sends bytes `from..to` in one PATCH; the new offset and the replica that took them.
    async fn patch(&self, base: &str, from: usize, to: usize) -> anyhow::Result<(u64, String)> {
        let r = self
            .http
            .patch(format!("{base}/api/v1/photos/uploads/{}", self.hash))
            .bearer_auth(&self.token)
            .header("Tus-Resumable", "1.0.0")
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", from.to_string())
            .body(self.bytes[from..to].to_vec())
            .send()
            .await?;
        if r.status().as_u16() != 204 {
            bail!("PATCH at {from}: {} {}", r.status(), r.text().await?);
        }
        Ok((offset_of(&r)?, replica_of(r.headers())))
    }

    /// Starts the upload through the proxy and sends its first 60 %, which `victim`
    /// must take; the offset acknowledged.
    async fn begin(&self, proxy: &str, task: &str, victim: &str) -> anyhow::Result<u64> {
        let (at, on) = self.create(proxy, task).await?;
        if at != 0 || on != victim {
            bail!("created at offset {at} on {on}, not 0 on {victim}");
        }
        let part = self.bytes.len() * 3 / 5;
        let (at, on) = self.patch(proxy, 0, part).await?;
        if at != part as u64 || on != victim {
            bail!("first PATCH reached {at} on {on}, not {part} on {victim}");
        }
        Ok(at)
    }

    /// Resumes through the proxy on `survivor` at `acked` and finishes; the stored
    /// photo's derivative must be served.
    async fn resume(&self, proxy: &str, acked: u64, survivor: &str) -> anyhow::Result<()> {
        let (at, on) = self.head(proxy).await?;
        if at != acked || on != survivor {
            bail!("HEAD answered {at} on {on}, not {acked} on {survivor}");
        }
        let from = usize::try_from(at)?;
        let (at, on) = self.patch(proxy, from, self.bytes.len()).await?;
        if at != self.bytes.len() as u64 || on != survivor {
            bail!("last PATCH reached {at} on {on}");
        }
        let r = self
            .http
            .get(format!("{proxy}/api/v1/photos/{}/thumb", self.hash))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("the stored photo's thumbnail: {}", r.status());
        }
        println!("PHOTO {} {}", self.hash, self.bytes.len());
        Ok(())
    }
}

// ------------------------------------------------------------------ the run

fn kill(pid: u32) -> anyhow::Result<()> {
    let ok = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()?
        .success();
    if !ok {
        bail!("kill -KILL {pid} failed");
    }
    Ok(())
}

/// Who dies in a round, who takes over, and where the change from the other side goes.
struct Kill<'a> {
    victim: &'a str,
    pid: u32,
    survivor: &'a str,
    other: &'a str,
}

/// Everything through the proxy, as the city's clients would have it.
struct Run {
    args: Args,
    http: reqwest::Client,
    console: Console,
    phones: Vec<Phone>,
    crews: Vec<String>,
    tally: Tally,
    round: usize,
}

impl Run {
    /// One task per crew, filed through `base`, and every phone holding its crew's.
    async fn change(&mut self, base: &str, what: &str) -> anyhow::Result<()> {
        let mut ids = Vec::new();
        for crew in &self.crews {
            let title = format!("failover round {} {what} {crew}", self.round);
            ids.push((
                crew.clone(),
                self.console.task_for(base, crew, &title).await?,
            ));
        }
        for p in &mut self.phones {
            let id = ids
                .iter()
                .find(|(c, _)| *c == p.crew)
                .map(|(_, t)| t.clone());
            if let Some(id) = id {
                p.until_holding(&[&id]).await?;
            }
        }
        Ok(())
    }

    fn on(&self, replica: &str) -> anyhow::Result<()> {
        let off: Vec<String> = self
            .phones
            .iter()
            .filter(|p| p.replica != replica)
            .map(|p| format!("{} on {}", p.name, p.replica))
            .collect();
        if off.is_empty() {
            Ok(())
        } else {
            bail!("not on {replica}: {off:?}")
        }
    }

    /// One failover: everything on `victim`; `other` (not through the proxy) changes
    /// something; the victim is killed; everything comes back on `survivor`.
    async fn round(&mut self, k: Kill<'_>, events: &mut Events, upload: &Upload, acked: u64) {
        let Kill {
            victim,
            pid: victim_pid,
            survivor,
            other: other_direct,
        } = k;
        let proxy = self.args.proxy.clone();
        let n = self.round;
        let r = self.on(victim);
        self.tally.check(
            &format!("round {n}: every phone is on {victim} before the kill"),
            r,
        );
        let r = if events.replica == victim {
            Ok(())
        } else {
            Err(anyhow!("the stream is on {}", events.replica))
        };
        self.tally
            .check(&format!("round {n}: the console stream is on {victim}"), r);

        // A change through the other replica reaches the victim's clients.
        let r = self.change(other_direct, "cross").await;
        self.tally.check(
            &format!(
                "round {n}: a change through {survivor} reaches the phones on {victim} (NOTIFY)"
            ),
            r,
        );
        let r = events.until("change").await;
        self.tally.check(
            &format!("round {n}: ... and the console stream on {victim}"),
            r,
        );

        // The kill.
        let r = kill(victim_pid);
        self.tally.check(
            &format!("round {n}: SIGKILL to {victim} (pid {victim_pid})"),
            r,
        );
        let started = Instant::now();
        let mut r = Ok(());
        let mut tries = 0;
        for p in &mut self.phones {
            if let Err(e) = p.until_gone().await {
                r = Err(e);
                break;
            }
            match p.reconnect(&proxy).await {
                Ok(t) => tries += t,
                Err(e) => {
                    r = Err(e);
                    break;
                }
            }
        }
        let r = r.and_then(|()| self.on(survivor));
        let mut caught = Ok(());
        for p in &mut self.phones {
            if let Err(e) = p.until_holding(&[]).await {
                caught = Err(e);
                break;
            }
        }
        let r = r.and(caught);
        println!(
            "[failover] round {n}: {} phones reconnected and caught up in {:.1} s ({tries} socket tries)",
            self.phones.len(),
            started.elapsed().as_secs_f64()
        );
        self.tally.check(
            &format!(
                "round {n}: every phone reconnects through the proxy to {survivor} and catches up"
            ),
            r,
        );
        let r = events.until_closed().await;
        self.tally.check(
            &format!("round {n}: the console stream ends with {victim}"),
            r,
        );
        match Events::open(&self.http, &proxy, &self.console.token).await {
            Ok(ev) => {
                let r = if ev.replica == survivor {
                    Ok(())
                } else {
                    Err(anyhow!("reopened on {}", ev.replica))
                };
                *events = ev;
                self.tally.check(
                    &format!("round {n}: the console stream reopens on {survivor}"),
                    r,
                );
            }
            Err(e) => self
                .tally
                .check(&format!("round {n}: the console stream reopens"), Err(e)),
        }

        // A change through the proxy (now the survivor) reaches the phones and the stream.
        let r = self.change(&proxy, "after").await;
        self.tally.check(
            &format!("round {n}: a change through the proxy after the kill reaches every phone"),
            r,
        );
        let r = events.until("change").await;
        self.tally
            .check(&format!("round {n}: ... and the console stream"), r);

        let r = upload.resume(&proxy, acked, survivor).await;
        self.tally.check(
            &format!("round {n}: the upload begun on {victim} resumes on {survivor} at byte {acked} and is stored whole"),
            r,
        );
    }
}

async fn wait_healthy(http: &reqwest::Client, proxy: &str, replica: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(r) = http.get(format!("{proxy}/readyz")).send().await
            && r.status().is_success()
            && replica_of(r.headers()) == replica
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the proxy never sent a request to {replica}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    server::base::tls::install_crypto_provider();
    let args = args()?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let proxy = args.proxy.clone();
    let mut tally = Tally::default();

    let body = login(
        &http,
        &proxy,
        DISPATCHER,
        DISPATCHER_PASSWORD,
        "failover-console",
    )
    .await?;
    let console = Console {
        http: http.clone(),
        token: body["token"].as_str().context("token")?.to_owned(),
    };
    let mut phones = Vec::new();
    for l in &args.logins {
        for i in 0..args.devices {
            phones.push(Phone::login(&http, &proxy, l, &format!("failover-{l}-{i}")).await?);
        }
    }
    let mut crews: Vec<String> = phones.iter().map(|p| p.crew.clone()).collect();
    crews.dedup();
    let mut run = Run {
        http: http.clone(),
        console,
        phones,
        crews,
        tally: Tally::default(),
        round: 1,
        args,
    };

    // Every phone connects through the proxy and holds a task of its crew.
    let mut first = None;
    let r: anyhow::Result<()> = async {
        let mut ids = Vec::new();
        for crew in &run.crews {
            ids.push((
                crew.clone(),
                run.console.task_for(&proxy, crew, "failover start").await?,
            ));
        }
        for p in &mut run.phones {
            p.reconnect(&proxy).await?;
            let id = ids
                .iter()
                .find(|(c, _)| *c == p.crew)
                .map(|(_, t)| t.clone());
            if let Some(id) = id {
                p.until_holding(&[&id]).await?;
                if first.is_none() {
                    first = Some(id);
                }
            }
        }
        Ok(())
    }
    .await;
    tally.check(
        &format!(
            "{} phones sync over WebSocket through the proxy",
            run.phones.len()
        ),
        r,
    );
    let task = first.unwrap_or_default();
    let uploader = run
        .phones
        .first()
        .map(|p| p.token.clone())
        .unwrap_or_default();
    let mut events = match Events::open(&http, &proxy, &run.console.token).await {
        Ok(ev) => {
            tally.check(
                "the console's event stream (SSE) opens through the proxy",
                Ok(()),
            );
            ev
        }
        Err(e) => {
            tally.check(
                "the console's event stream (SSE) opens through the proxy",
                Err(e),
            );
            println!("replicas: cannot go on without the stream");
            std::process::exit(1);
        }
    };

    // Round 1: a dies.
    let upload = Upload::new(&http, &uploader, noisy_png(run.args.photo_kb, 1)?);
    let acked = upload.begin(&proxy, &task, "a").await;
    let acked_at = *acked.as_ref().unwrap_or(&0);
    tally.check(
        &format!(
            "a tus upload of {} bytes begins on a ({} acknowledged)",
            upload.bytes.len(),
            acked_at
        ),
        acked.map(|_| ()),
    );
    let direct_b = run.args.direct_b.clone();
    let pid_a = run.args.pid_a;
    let kill_a = Kill {
        victim: "a",
        pid: pid_a,
        survivor: "b",
        other: &direct_b,
    };
    run.round(kill_a, &mut events, &upload, acked_at).await;

    // Round 2 (the full run): a comes back, a second upload begins on b, b dies.
    if let Some(cmd) = run.args.restart_a.clone() {
        run.round = 2;
        let upload = Upload::new(&http, &uploader, noisy_png(run.args.photo_kb, 2)?);
        let acked = upload.begin(&proxy, &task, "b").await;
        let acked_at = *acked.as_ref().unwrap_or(&0);
        tally.check("round 2: a second upload begins on b", acked.map(|_| ()));
        let r = std::process::Command::new("sh")
            .args(["-c", &cmd])
            .status()
            .map_err(anyhow::Error::from)
            .and_then(|s| {
                if s.success() {
                    Ok(())
                } else {
                    Err(anyhow!("{cmd}: {s}"))
                }
            });
        let r = match r {
            Ok(()) => wait_healthy(&http, &proxy, "a").await,
            Err(e) => Err(e),
        };
        tally.check("round 2: a restarted and back in the proxy", r);
        // The phones and the stream are still on b; a's direct address is the proxy's
        // choice now, which is a.
        let pid_b = run.args.pid_b;
        let proxy_now = proxy.clone();
        let kill_b = Kill {
            victim: "b",
            pid: pid_b,
            survivor: "a",
            other: &proxy_now,
        };
        run.round(kill_b, &mut events, &upload, acked_at).await;
    }

    for p in &mut run.phones {
        if let Some(mut ws) = p.ws.take() {
            let _ = ws.close(None).await;
        }
    }
    let passed = tally.passed + run.tally.passed;
    let failed = tally.failed + run.tally.failed;
    println!("[failover] {passed} checks passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

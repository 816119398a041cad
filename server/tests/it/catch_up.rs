//! Catch-up in bounded pages (issue 16, point 5) on the real server binary: a dispatcher
//! whose district holds 10,000 tasks connects a fresh device; the catch-up is streamed
//! page by page (the next page is read only once the previous one was written to the
//! socket), so the server's resident heap (`RssAnon` in `/proc/<pid>/status`, sampled
//! every 5 ms) grows by less than [`BOUND_MIB`] while it sends 28 MiB of documents. Over
//! the HTTP fallback each exchange answers a bounded part (about 4 MiB) and the device
//! comes back for the rest, with the same bound.
//!
//! Seeding 10,000 documents takes most of the test's time (about 30 s on an idle
//! 2-core machine, over a minute on a loaded one).

use crate::outbox::spawn_server;
use crate::photos;
use futures_util::{SinkExt, StreamExt};
use server::domain::sync::{decode_frames, encode_frames};
use server::storage::Db;
use std::collections::HashSet;
use std::time::Duration;
use sync_core::protocol::{
    ClientFrame, DocUpdate, Hello, OLDEST_SUPPORTED_VERSION, PROTOCOL_VERSION, ServerFrame,
    decode_server, encode_client,
};
use sync_core::session::device::Device;
use sync_core::store::Store;
use sync_core::task::*;
use sync_core::{Actor, DeviceId, DocId, Role};
use tarmim_testing::Fixture;
use tarmim_testing::on_both_backends;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

on_both_backends!(a_large_catch_up_is_streamed_with_memory_bounded);

/// Tasks in the dispatcher's district.
const TASKS: usize = 10_000;
/// Letters in each task's description: documents of about 2.8 KiB, 28 MiB in all.
const DESCRIPTION: usize = 4_000;
/// Most the server's resident heap may grow during the catch-up, MiB. Paged, the server
/// holds one page (at most 512 entries and about 4 MiB of documents) and its frames at a
/// time, plus what the device was sent (an id and a number per document) and the
/// database's page caches: +9 MiB on PostgreSQL, +21 MiB on SQLite. Buffered whole
/// (before the fix) it held every document and its frames at once: +48 MiB.
const BOUND_MIB: u64 = 32;

/// Anonymous resident memory of process `pid` (its heap; not SQLite's mapped file), KiB
/// (`RssAnon`).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Samples the anonymous resident memory of `pid` every 5 ms until dropped; `growth` is the
/// highest sample above the first, MiB. (`VmHWM` would not do: the server's start-up
/// may already have peaked higher than a catch-up's growth.)
struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<(u64, u64)>>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let first = rss_kib(pid);
            let mut most = first;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(rss_kib(pid));
                std::thread::sleep(Duration::from_millis(5));
            }
            (first, most.max(rss_kib(pid)))
        });
        RssSampler {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops; the growth, MiB.
    fn growth(mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (first, most) = self.thread.take().unwrap().join().unwrap();
        most.saturating_sub(first) / 1024
    }
}

fn seeder() -> Actor {
    Actor {
        user: "u-disp1".into(),
        role: Role::Dispatcher,
        crew: None,
        device: DeviceId::new("console-seed").unwrap(),
    }
}

/// Task `i` of the load, in district D1, its description pseudo-random letters (which
/// automerge's compression does not shrink away).
fn task(i: usize) -> TaskDoc {
    let mut x = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let text: String = (0..DESCRIPTION)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b"abcdefghijklmnopqrstuvwxyz      "[(x % 32) as usize])
        })
        .collect();
    TaskDoc::create(
        NewTask {
            id: DocId::new(format!("CU-{i:05}")).unwrap(),
            source: Source::Citizen,
            category: "pothole".into(),
            title: format!("Pothole {i}"),
            description: text,
            point: GeoPoint {
                lat: 35.69 + (i % 100) as f64 * 0.0001,
                lon: 51.39 + (i / 100) as f64 * 0.0001,
                accuracy_m: None,
            },
            address: None,
            district: Some("D1".into()),
            priority: Priority::Normal,
            sla: Sla::default(),
            reopen_window_ms: 86_400_000,
        },
        &seeder(),
        1_700_000_000_000 + i as i64,
    )
    .unwrap()
}

/// Seeds the people and [`TASKS`] tasks in D1, built off the runtime and committed by
/// four writers at once.
async fn seed(db: &Db) {
    let started = std::time::Instant::now();
    photos::seed_people(db).await;
    let mut set = tokio::task::JoinSet::new();
    for part in 0..4 {
        let db = db.clone();
        set.spawn(async move {
            for chunk in (part..TASKS).step_by(4).collect::<Vec<_>>().chunks(250) {
                let chunk = chunk.to_vec();
                let docs = tokio::task::spawn_blocking(move || {
                    chunk.into_iter().map(task).collect::<Vec<_>>()
                })
                .await
                .unwrap();
                for mut d in docs {
                    tarmim_testing::commit_new(&db, &mut d, "server").await;
                }
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    eprintln!("seeded {TASKS} tasks in {:?}", started.elapsed());
}

fn hello(device: &str) -> Vec<u8> {
    let hello = ClientFrame::Hello(Hello {
        oldest_version: OLDEST_SUPPORTED_VERSION,
        newest_version: PROTOCOL_VERSION,
        device: DeviceId::new(device).unwrap(),
        cursors: Vec::new(),
    });
    encode_client(PROTOCOL_VERSION, 0, &hello)
}

/// The catch-up over the WebSocket, then over the HTTP fallback (one seeding for both).
async fn a_large_catch_up_is_streamed_with_memory_bounded(f: &Fixture) {
    seed(&f.db).await;
    let srv = spawn_server(f, &[]).await;
    let (addr, pid) = (srv.1, srv.0.id());
    over_websocket(addr, pid).await;
    over_http(addr, pid).await;
}

/// The catch-up over the WebSocket, read as a device would: every document arrives once,
/// then `CaughtUp`; the server's RSS grows by less than [`BOUND_MIB`].
async fn over_websocket(addr: std::net::SocketAddr, pid: u32) {
    let (token, _) = photos::login(addr, "disp1", "console-cu").await;
    let mut req = format!("ws://{addr}/api/v1/sync")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let rss = RssSampler::start(pid);
    ws.send(Message::Binary(hello("console-cu").into()))
        .await
        .unwrap();
    let mut docs: HashSet<DocId> = HashSet::new();
    let mut bytes = 0usize;
    let mut caught_up = false;
    while !caught_up {
        let msg = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .expect("the catch-up stalled")
            .expect("the socket closed")
            .unwrap();
        let Message::Binary(frame) = msg else {
            continue;
        };
        bytes += frame.len();
        match decode_server(&frame).unwrap().frame {
            ServerFrame::Batch(b) => {
                for u in b.updates {
                    if let DocUpdate::Snapshot { doc, .. } = u {
                        assert!(docs.insert(doc.clone()), "{doc} sent twice");
                    }
                }
            }
            ServerFrame::CaughtUp => caught_up = true,
            ServerFrame::Welcome(_) => {}
            other => panic!("unexpected frame: {other:?}"),
        }
    }
    let grew = rss.growth();
    eprintln!(
        "catch-up of {} documents ({} MiB of frames): peak RSS grew {grew} MiB",
        docs.len(),
        bytes >> 20
    );
    assert_eq!(docs.len(), TASKS);
    assert!(
        grew < BOUND_MIB,
        "peak RSS grew {grew} MiB during the catch-up (bound {BOUND_MIB} MiB)"
    );
    let _ = ws.close(None).await;
}

/// The HTTP fallback: one exchange answers a bounded part of the catch-up (no
/// `CaughtUp`); a device that comes back with its cursors gets the rest, every document
/// once, and the server's peak RSS stays within the bound.
async fn over_http(addr: std::net::SocketAddr, pid: u32) {
    let (token, actor) = photos::login(addr, "disp1", "console-cx").await;
    let mut dev = Device::new(Store::open_in_memory().unwrap(), actor);
    let http = tarmim_testing::http();
    let rss = RssSampler::start(pid);
    let mut rounds = 0;
    let mut largest = 0usize;
    while !dev.is_live() {
        rounds += 1;
        assert!(rounds <= 200, "no end to the catch-up");
        let frames = dev.connect().unwrap();
        let body = http
            .post(format!("http://{addr}/api/v1/sync/exchange"))
            .bearer_auth(&token)
            .header("content-type", "application/x-tarmim-frames")
            .body(encode_frames(&frames))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        largest = largest.max(body.len());
        for frame in decode_frames(&body).unwrap() {
            dev.on_frame(frame).unwrap();
        }
        if !dev.is_live() {
            dev.disconnect();
        }
    }
    let grew = rss.growth();
    let held = dev.list().unwrap().len();
    eprintln!(
        "exchange catch-up in {rounds} rounds, largest answer {} KiB: peak RSS grew {grew} MiB",
        largest >> 10
    );
    assert_eq!(held, TASKS);
    assert!(rounds > 1, "one answer held the whole catch-up");
    assert!(largest < 8 << 20, "an answer of {largest} bytes");
    assert!(
        grew < BOUND_MIB,
        "peak RSS grew {grew} MiB (bound {BOUND_MIB} MiB)"
    );
}

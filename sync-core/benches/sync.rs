//! Sync benchmarks, in memory (no sockets): the figures of design §10 that belong to the
//! protocol itself. Run: `cargo bench -p sync-core --bench sync` (add `-- --quick` for a
//! smaller run). Prints a table; BENCHMARKS.md records it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use automerge::sync::{State as SyncState, SyncDoc};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use sync_core::session::device::Device;
use sync_core::session::memory::MemServerStore;
use sync_core::session::server::{ServerConfig, ServerSession};
use sync_core::session::{DocCommit, ScopePolicy, ServerStore, TaskScopes};
use sync_core::store::Store;
use sync_core::task::*;
use sync_core::{Actor, DeviceId, DocId, Role, ScopeId};

fn run<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("in-memory future was not ready"),
    }
}

const T0: i64 = 1_760_000_000_000;

fn actor(user: &str, role: Role, crew: Option<&str>, device: &str) -> Actor {
    Actor {
        user: user.into(),
        role,
        crew: crew.map(str::to_string),
        device: DeviceId::new(device).unwrap(),
    }
}

fn dispatcher() -> Actor {
    actor("disp", Role::Dispatcher, None, "console-1")
}
fn crew_phone() -> Actor {
    actor("ali", Role::Crew, Some("C1"), "phone-1")
}

/// A realistic assigned task: created, routed, assigned, acknowledged, with a note and a
/// before photo.
fn task(i: usize) -> TaskDoc {
    let d = dispatcher();
    let new = NewTask {
        id: DocId::new(format!("T{i:06}")).unwrap(),
        source: Source::Citizen,
        category: "pothole".into(),
        title: format!("Pothole on street {i}"),
        description: "A deep pothole in the right lane, about half a metre wide; cars swerve."
            .into(),
        point: GeoPoint {
            lat: 35.69 + (i % 100) as f64 * 0.001,
            lon: 51.39 + (i / 100) as f64 * 0.001,
            accuracy_m: Some(8.0),
        },
        address: Some(format!("{i} Enghelab St")),
        district: Some("D1".into()),
        priority: Priority::Normal,
        sla: Sla {
            ack_due: Some(T0 + 3_600_000),
            complete_due: Some(T0 + 86_400_000),
        },
        reopen_window_ms: 7 * 86_400_000,
    };
    let mut t = TaskDoc::create(new, &d, T0).unwrap();
    t.append_event(
        &d,
        T0 + 1_000,
        EventKind::Assigned {
            crew: "C1".into(),
            reason: "nearest on-duty crew".into(),
        },
    )
    .unwrap();
    let c = crew_phone();
    t.append_event(&c, T0 + 60_000, EventKind::Acknowledged)
        .unwrap();
    t.add_note(&c, T0 + 61_000, "On our way; traffic is heavy.")
        .unwrap();
    t.add_photo(
        &c,
        PhotoRef {
            hash: format!("{:064x}", i),
            kind: PhotoKind::Before,
            taken_at: Some(T0 + 62_000),
            taken_point: None,
            author: "ali".into(),
            device: "phone-1".into(),
            bytes: 2_400_000,
            mime: "image/jpeg".into(),
            added_at: T0 + 62_000,
        },
    )
    .unwrap();
    t
}

fn commit_doc(store: &MemServerStore, t: &mut TaskDoc, base: Option<u64>, changes: Vec<Vec<u8>>) {
    let view = t.view().unwrap();
    let scopes = TaskScopes.scopes_of(&view);
    run(store.commit(DocCommit {
        doc: view.id.clone(),
        base_seq: base,
        changes,
        snapshot: t.save(),
        view,
        scopes,
        origin: DeviceId::new("server").unwrap(),
    }))
    .unwrap();
}

/// Seeds `n` tasks; returns the sum of their saved sizes.
fn seed(store: &MemServerStore, n: usize) -> usize {
    let mut total = 0;
    for i in 0..n {
        let mut t = task(i);
        let changes = t
            .automerge()
            .get_changes(&[])
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        total += t.save().len();
        commit_doc(store, &mut t, None, changes);
    }
    total
}

#[derive(Default, Debug)]
struct Traffic {
    up_frames: usize,
    down_frames: usize,
    up_bytes: usize,
    down_bytes: usize,
    round_trips: usize,
}

fn session(a: &Actor) -> ServerSession<TaskScopes> {
    ServerSession::new(
        a.clone(),
        vec![ScopeId::new("crew:C1").unwrap()],
        TaskScopes,
        ServerConfig::default(),
    )
}

/// Connects and exchanges flights until neither side has anything to say.
fn sync(dev: &mut Device, store: &MemServerStore) -> Traffic {
    let mut s = session(dev.actor());
    let mut t = Traffic::default();
    let mut up = dev.connect().unwrap();
    while !up.is_empty() {
        t.round_trips += 1;
        let mut down = Vec::new();
        for f in up.drain(..) {
            t.up_frames += 1;
            t.up_bytes += f.len();
            let r = run(s.on_frame(store, &f, T0));
            down.extend(r.frames);
            while let Some(r) = run(s.next_catch_up(store)) {
                down.extend(r.frames);
            }
        }
        for f in down {
            t.down_frames += 1;
            t.down_bytes += f.len();
            up.extend(dev.on_frame(&f).unwrap().frames);
        }
    }
    dev.disconnect();
    t
}

fn kib(b: usize) -> String {
    if b < 10 * 1024 {
        format!("{b} B")
    } else {
        format!("{:.1} KiB", b as f64 / 1024.0)
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 2_000 } else { 10_000 };
    println!("# sync-core sync benchmarks ({n} tasks in scope; in memory, release build)\n");

    let store = MemServerStore::new();
    let t = Instant::now();
    let saved = seed(&store, n);
    println!(
        "seeded {n} tasks in {:.1?} (saved size {} total, {} B each)\n",
        t.elapsed(),
        kib(saved),
        saved / n
    );

    // 1. Fresh device, full sync, into a durable on-disk store.
    let dir = tempfile::tempdir().unwrap();
    let mut dev = Device::new(Store::open(dir.path()).unwrap(), crew_phone());
    let t = Instant::now();
    let fresh = sync(&mut dev, &store);
    let fresh_time = t.elapsed();
    assert_eq!(dev.list().unwrap().len(), n);
    println!("| measure | time | bytes down | bytes up | frames | round trips |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| fresh device, full sync of {n} | {:.0?} | {} ({:.2}x saved size) | {} | {} | {} |",
        fresh_time,
        kib(fresh.down_bytes),
        fresh.down_bytes as f64 / saved as f64,
        kib(fresh.up_bytes),
        fresh.up_frames + fresh.down_frames,
        fresh.round_trips
    );

    // 2. Reconnect with nothing changed.
    let t = Instant::now();
    let idle = sync(&mut dev, &store);
    println!(
        "| reconnect, nothing changed | {:.1?} | {} | {} | {} | {} |",
        t.elapsed(),
        kib(idle.down_bytes),
        kib(idle.up_bytes),
        idle.up_frames + idle.down_frames,
        idle.round_trips
    );

    // 3. Reconnect after 100 remote and 50 local changes.
    let d = dispatcher();
    let mut own = 0usize;
    for i in 0..100 {
        let id = DocId::new(format!("T{:06}", i * (n / 100))).unwrap();
        let stored = run(store.load(&id)).unwrap().unwrap();
        let mut doc = TaskDoc::load(&stored.bytes).unwrap();
        let heads = doc.heads();
        doc.add_note(&d, T0 + 100_000, "Citizen called again: getting worse.")
            .unwrap();
        let changes: Vec<Vec<u8>> = doc
            .automerge()
            .get_changes(&heads)
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        own += changes.iter().map(Vec::len).sum::<usize>();
        commit_doc(&store, &mut doc, Some(stored.seq), changes);
    }
    let before = dev.store().all_pending().unwrap().len();
    assert_eq!(before, 0);
    for i in 0..50 {
        let id = DocId::new(format!("T{:06}", 7 + i * (n / 50))).unwrap();
        dev.edit(&id, T0 + 200_000, |t, a| {
            t.add_note(a, T0 + 200_000, "Cones placed.")
        })
        .unwrap();
    }
    own += dev
        .store()
        .all_pending()
        .unwrap()
        .iter()
        .flat_map(|(_, p)| p.iter().map(|c| c.bytes.len()))
        .sum::<usize>();
    let t = Instant::now();
    let delta = sync(&mut dev, &store);
    let total = delta.up_bytes + delta.down_bytes;
    println!(
        "| reconnect after 100 remote + 50 local changes | {:.1?} | {} | {} | {} | {} |",
        t.elapsed(),
        kib(delta.down_bytes),
        kib(delta.up_bytes),
        delta.up_frames + delta.down_frames,
        delta.round_trips
    );
    println!(
        "\nchanges' own size {}; bytes exchanged {} = {:.2}x",
        kib(own),
        kib(total),
        total as f64 / own as f64
    );

    // Baseline: plain per-document automerge sync of the same documents, nothing changed,
    // as automerge-repo does on reconnect (one sync state per document and side).
    let ids = store.doc_ids();
    let (mut msgs, mut bytes) = (0usize, 0usize);
    let t = Instant::now();
    for id in &ids {
        let stored = run(store.load(id)).unwrap().unwrap();
        let mut a = automerge::AutoCommit::load(&stored.bytes).unwrap();
        let mut b = automerge::AutoCommit::load(&stored.bytes).unwrap();
        let (mut sa, mut sb) = (SyncState::new(), SyncState::new());
        loop {
            let mut quiet = true;
            if let Some(m) = a.sync().generate_sync_message(&mut sa) {
                quiet = false;
                msgs += 1;
                bytes += m.clone().encode().len();
                b.sync().receive_sync_message(&mut sb, m).unwrap();
            }
            if let Some(m) = b.sync().generate_sync_message(&mut sb) {
                quiet = false;
                msgs += 1;
                bytes += m.clone().encode().len();
                a.sync().receive_sync_message(&mut sa, m).unwrap();
            }
            if quiet {
                break;
            }
        }
    }
    println!(
        "baseline, per-document automerge sync, reconnect with nothing changed: {} messages, {} ({:.1?} CPU)",
        msgs,
        kib(bytes),
        t.elapsed()
    );

    // 4. Server work per incoming change, 100 vs n documents in scope.
    println!("\n| documents in scope | server time per incoming change (median of 300) | mean |");
    println!("|---|---|---|");
    for docs in [100, n] {
        let store = MemServerStore::new();
        seed(&store, docs);
        let dir = tempfile::tempdir().unwrap();
        let mut dev = Device::new(Store::open(dir.path()).unwrap(), crew_phone());
        sync(&mut dev, &store);
        // Ten other live sessions in the same scope receive each change.
        let mut others: Vec<ServerSession<TaskScopes>> = (0..10)
            .map(|k| {
                let a = actor("x", Role::Crew, Some("C1"), &format!("peer-{k}"));
                let mut s = session(&a);
                let hello = sync_core::protocol::encode_client(
                    1,
                    0,
                    &sync_core::protocol::ClientFrame::Hello(sync_core::protocol::Hello {
                        oldest_version: 1,
                        newest_version: 1,
                        device: a.device.clone(),
                        cursors: vec![sync_core::protocol::Cursor {
                            scope: ScopeId::new("crew:C1").unwrap(),
                            seq: store.last_seq(),
                            scanned: store.last_seq(),
                        }],
                    }),
                );
                run(s.on_frame(&store, &hello, T0));
                while run(s.next_catch_up(&store)).is_some() {}
                s
            })
            .collect();
        let mut s = session(dev.actor());
        for f in dev.connect().unwrap() {
            for r in run(s.on_frame(&store, &f, T0)).frames {
                dev.on_frame(&r).unwrap();
            }
            while let Some(reply) = run(s.next_catch_up(&store)) {
                for r in reply.frames {
                    dev.on_frame(&r).unwrap();
                }
            }
        }
        let mut times = Vec::new();
        for k in 0..300 {
            let id = DocId::new(format!("T{:06}", (k * 7) % docs)).unwrap();
            dev.edit(&id, T0 + 300_000 + k as i64, |t, a| {
                t.add_note(a, T0, "progress")
            })
            .unwrap();
            let frames = dev.outgoing().unwrap();
            let t = Instant::now();
            for f in &frames {
                let reply = run(s.on_frame(&store, f, T0));
                for c in &reply.committed {
                    for scope in &c.touched {
                        for o in others.iter_mut() {
                            run(o.on_notify(&store, scope));
                        }
                    }
                }
                times.push(t.elapsed());
                for r in reply.frames {
                    dev.on_frame(&r).unwrap();
                }
            }
        }
        let mean = times.iter().sum::<Duration>() / times.len() as u32;
        println!("| {docs} | {:.0?} | {:.0?} |", median(times), mean);
    }
}

//! Both halves of sync against each other in memory: scope, live changes, durability of
//! acknowledgements, and every kind of bad input a device can send.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use sync_core::protocol::*;
use sync_core::session::device::{Device, DeviceError, DeviceEvent, NewPhoto};
use sync_core::session::memory::MemServerStore;
use sync_core::session::server::{Reply, ServerConfig, ServerSession};
use sync_core::session::*;
use sync_core::store::Store;
use sync_core::task::*;
use sync_core::{Actor, DeviceId, DocId, Role};

fn run<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("not ready"),
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
fn disp() -> Actor {
    actor("disp", Role::Dispatcher, None, "console-1")
}
fn ali() -> Actor {
    actor("ali", Role::Crew, Some("C1"), "phone-a")
}
fn reza() -> Actor {
    actor("reza", Role::Crew, Some("C2"), "phone-b")
}
fn id(s: &str) -> DocId {
    DocId::new(s).unwrap()
}

fn new_task(n: &str, district: &str) -> NewTask {
    NewTask {
        id: id(n),
        source: Source::Citizen,
        category: "pothole".into(),
        title: format!("Pothole {n}"),
        description: "deep".into(),
        point: GeoPoint {
            lat: 35.7,
            lon: 51.4,
            accuracy_m: None,
        },
        address: None,
        district: Some(district.into()),
        priority: Priority::Urgent,
        sla: Sla::default(),
        reopen_window_ms: 86_400_000,
    }
}

fn after_photo(who: &Actor, h: u8) -> PhotoRef {
    PhotoRef {
        hash: format!("{:064x}", h),
        kind: PhotoKind::After,
        taken_at: Some(T0),
        taken_point: None,
        author: who.user.clone(),
        device: who.device.to_string(),
        bytes: 10,
        mime: "image/jpeg".into(),
        added_at: T0,
    }
}

/// A task committed on the server as the dispatcher made it, optionally assigned.
fn seed(store: &MemServerStore, n: &str, district: &str, crew: Option<&str>) {
    let d = disp();
    let mut t = TaskDoc::create(new_task(n, district), &d, T0).unwrap();
    if let Some(c) = crew {
        t.append_event(
            &d,
            T0 + 1,
            EventKind::Assigned {
                crew: c.into(),
                reason: "test".into(),
            },
        )
        .unwrap();
    }
    commit_all(store, &mut t, None);
}

fn commit_all(store: &MemServerStore, t: &mut TaskDoc, base: Option<u64>) -> u64 {
    let view = t.view().unwrap();
    run(store.commit(DocCommit {
        doc: view.id.clone(),
        base_seq: base,
        changes: t
            .automerge()
            .get_changes(&[])
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect(),
        snapshot: t.save(),
        scopes: TaskScopes.scopes_of(&view),
        view,
        origin: DeviceId::new("server").unwrap(),
    }))
    .unwrap()
    .seq
}

/// Server-side edit by the dispatcher, as the console would make it.
fn server_edit(
    store: &MemServerStore,
    n: &str,
    f: impl FnOnce(&mut TaskDoc),
) -> Vec<sync_core::ScopeId> {
    let stored = run(store.load(&id(n))).unwrap().unwrap();
    let mut t = TaskDoc::load(&stored.bytes).unwrap();
    let heads = t.heads();
    f(&mut t);
    let view = t.view().unwrap();
    let changes = t
        .automerge()
        .get_changes(&heads)
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    run(store.commit(DocCommit {
        doc: view.id.clone(),
        base_seq: Some(stored.seq),
        changes,
        snapshot: t.save(),
        scopes: TaskScopes.scopes_of(&view),
        view,
        origin: DeviceId::new("console-1").unwrap(),
    }))
    .unwrap()
    .touched
}

fn device(a: Actor) -> Device {
    Device::new(Store::open_in_memory().unwrap(), a)
}

fn session(a: &Actor, scopes: &[&str]) -> ServerSession<TaskScopes> {
    ServerSession::new(
        a.clone(),
        scopes
            .iter()
            .map(|s| sync_core::ScopeId::new(*s).unwrap())
            .collect(),
        TaskScopes,
        ServerConfig::default(),
    )
}

/// Feeds one frame to the session, then every step of a catch-up it started, as a host
/// does (each once the previous one was written).
fn feed<S: ServerStore>(s: &mut ServerSession<TaskScopes>, store: &S, f: &[u8]) -> Reply {
    let mut reply = run(s.on_frame(store, f, T0));
    while let Some(more) = run(s.next_catch_up(store)) {
        reply.frames.extend(more.frames);
        reply.close |= more.close;
    }
    reply
}

/// Runs the exchange to quiescence; returns the device's events.
fn exchange<S: ServerStore>(
    dev: &mut Device,
    s: &mut ServerSession<TaskScopes>,
    store: &S,
    mut up: Vec<Vec<u8>>,
) -> Vec<DeviceEvent> {
    let mut events = Vec::new();
    while !up.is_empty() {
        let mut down = Vec::new();
        for f in up.drain(..) {
            down.extend(feed(s, store, &f).frames);
        }
        for f in down {
            let out = dev.on_frame(&f).unwrap();
            up.extend(out.frames);
            events.extend(out.events);
        }
    }
    events
}

fn connect(
    dev: &mut Device,
    s: &mut ServerSession<TaskScopes>,
    store: &MemServerStore,
) -> Vec<DeviceEvent> {
    let up = dev.connect().unwrap();
    exchange(dev, s, store, up)
}

/// A dispatcher gives task `n` to crew C2 on the server, at `at`.
fn reassign_to_c2(store: &MemServerStore, n: &str, at: i64) {
    server_edit(store, n, |t| {
        t.append_event(
            &disp(),
            at,
            EventKind::Assigned {
                crew: "C2".into(),
                reason: "closer".into(),
            },
        )
        .unwrap();
    });
}

/// Ali's phone completes task `n` with after photo `h`, at `at` (offline or not).
fn complete_on(dev: &mut Device, n: &str, h: u8, at: i64) {
    let me = ali();
    dev.edit(&id(n), at, |t, who| {
        t.add_photo(who, after_photo(&me, h))?;
        t.append_event(
            who,
            at,
            EventKind::Completed {
                photos: vec![format!("{:064x}", h)],
            },
        )
    })
    .unwrap();
}

fn held(dev: &Device) -> Vec<String> {
    dev.list()
        .unwrap()
        .into_iter()
        .map(|e| e.id.to_string())
        .collect()
}

#[test]
fn a_device_gets_exactly_its_scope() {
    let store = MemServerStore::new();
    seed(&store, "T1", "D1", Some("C1"));
    seed(&store, "T2", "D1", Some("C2"));
    seed(&store, "T3", "D2", Some("C1"));
    seed(&store, "T4", "D1", None);
    let mut dev = device(ali());
    let mut s = session(&ali(), &["crew:C1"]);
    let ev = connect(&mut dev, &mut s, &store);
    assert!(ev.contains(&DeviceEvent::CaughtUp));
    assert_eq!(held(&dev), vec!["T1", "T3"]);
    let mut dev2 = device(reza());
    let mut s2 = session(&reza(), &["crew:C2", "open:D1"]);
    connect(&mut dev2, &mut s2, &store);
    assert_eq!(held(&dev2), vec!["T1", "T2", "T4"]);
}

#[test]
fn reassignment_moves_a_task_between_crews_live() {
    let store = MemServerStore::new();
    seed(&store, "T1", "D1", Some("C1"));
    let (mut a, mut b) = (device(ali()), device(reza()));
    let (mut sa, mut sb) = (
        session(&ali(), &["crew:C1"]),
        session(&reza(), &["crew:C2"]),
    );
    connect(&mut a, &mut sa, &store);
    connect(&mut b, &mut sb, &store);
    assert_eq!(held(&a), vec!["T1"]);
    assert!(held(&b).is_empty());
    let touched = server_edit(&store, "T1", |t| {
        t.append_event(
            &disp(),
            T0 + 5,
            EventKind::Assigned {
                crew: "C2".into(),
                reason: "closer".into(),
            },
        )
        .unwrap();
    });
    for scope in &touched {
        for (dev, s) in [(&mut a, &mut sa), (&mut b, &mut sb)] {
            let frames = run(s.on_notify(&store, scope)).frames;
            for f in frames {
                dev.on_frame(&f).unwrap();
            }
        }
    }
    assert!(
        held(&a).is_empty(),
        "the old crew's phone is told to drop it"
    );
    assert_eq!(held(&b), vec!["T1"]);
    assert_eq!(
        b.task(&id("T1")).unwrap().derived.assignee.as_deref(),
        Some("C2")
    );
}

#[test]
fn an_offline_completion_reaches_the_server_after_a_reassignment() {
    let store = MemServerStore::new();
    seed(&store, "T1", "D1", Some("C1"));
    let mut a = device(ali());
    let mut sa = session(&ali(), &["crew:C1"]);
    connect(&mut a, &mut sa, &store);
    a.disconnect();
    // Offline: photo and completion; meanwhile the dispatcher reassigns.
    complete_on(&mut a, "T1", 1, T0 + 10);
    reassign_to_c2(&store, "T1", T0 + 11);
    let mut sa = session(&ali(), &["crew:C1"]);
    let ev = connect(&mut a, &mut sa, &store);
    assert!(ev.contains(&DeviceEvent::Acknowledged(id("T1"))), "{ev:?}");
    assert_eq!(a.pending_count().unwrap(), 0);
    assert!(
        held(&a).is_empty(),
        "dropped once the completion was acknowledged"
    );
    let stored = run(store.load(&id("T1"))).unwrap().unwrap();
    let v = TaskDoc::load(&stored.bytes).unwrap().view().unwrap();
    assert_eq!(v.derived.status, Status::Completed);
    assert!(
        v.derived
            .conflicts
            .iter()
            .any(|c| c.kind == "completed_while_reassigned")
    );
}

/// A task dropped from the phone's scopes while it holds unsent edits stays until they
/// are acknowledged, and takes no new edit meanwhile: the app gets a refusal at once
/// (`DeviceError::Dropped`) instead of an edit the server would refuse as a stale view
/// after the next `Hello`. Once the unsent edit arrives, the task goes.
#[test]
fn a_task_held_only_for_unsent_edits_takes_no_new_ones() {
    let store = MemServerStore::new();
    seed(&store, "T1", "D1", Some("C1"));
    let mut a = device(ali());
    connect(&mut a, &mut session(&ali(), &["crew:C1"]), &store);
    a.disconnect();
    a.edit(&id("T1"), T0 + 10, |t, who| {
        t.add_note(who, T0 + 10, "kerb broken too")
    })
    .unwrap();
    reassign_to_c2(&store, "T1", T0 + 11);
    // The catch-up with the Drop arrives; the phone's push is lost with the connection.
    let mut s = session(&ali(), &["crew:C1"]);
    let up = a.connect().unwrap();
    let hello = up.into_iter().next().unwrap();
    for f in feed(&mut s, &store, &hello).frames {
        a.on_frame(&f).unwrap();
    }
    a.disconnect();
    assert!(a.is_dropped(&id("T1")).unwrap());
    assert_eq!(held(&a), vec!["T1".to_owned()], "kept for the unsent note");
    let refused = a.edit(&id("T1"), T0 + 20, |t, who| {
        t.add_note(who, T0 + 20, "started")
    });
    assert!(
        matches!(refused, Err(DeviceError::Dropped(ref d)) if *d == id("T1")),
        "{refused:?}"
    );
    let photo = a.add_photo(
        &id("T1"),
        NewPhoto {
            kind: PhotoKind::After,
            mime: "image/jpeg".into(),
            taken_at: None,
            taken_point: None,
        },
        b"\xff\xd8 not checked here",
        T0 + 21,
    );
    assert!(matches!(photo, Err(DeviceError::Dropped(_))), "{photo:?}");
    assert_eq!(a.pending_count().unwrap(), 1, "only the note made before");
    assert!(a.outbox().unwrap().is_empty(), "nothing written");
    // The next connection delivers the note; then the task goes, and nothing is refused.
    let ev = connect(&mut a, &mut session(&ali(), &["crew:C1"]), &store);
    assert!(ev.contains(&DeviceEvent::Acknowledged(id("T1"))), "{ev:?}");
    assert!(ev.contains(&DeviceEvent::Dropped(id("T1"))), "{ev:?}");
    assert!(
        !ev.iter().any(|e| matches!(e, DeviceEvent::Refused { .. })),
        "{ev:?}"
    );
    assert!(held(&a).is_empty());
    let stored = run(store.load(&id("T1"))).unwrap().unwrap();
    let v = TaskDoc::load(&stored.bytes).unwrap().view().unwrap();
    assert!(v.notes.iter().any(|n| n.text == "kerb broken too"));
}

/// The same with the reassignment reaching the phone as changes (it sees its district's
/// open tasks): a completion made offline before it, whose push was lost in the connection
/// that brought the reassignment, still reaches the server on the next one, because the
/// phone does not confirm a batch while an edit of its own is unacknowledged.
#[test]
fn an_edit_whose_push_was_lost_as_news_arrived_still_reaches_the_server() {
    let scopes = ["crew:C1", "open:D1"];
    let store = MemServerStore::new();
    seed(&store, "T1", "D1", Some("C1"));
    let mut a = device(ali());
    connect(&mut a, &mut session(&ali(), &scopes), &store);
    a.disconnect();
    complete_on(&mut a, "T1", 7, T0 + 10);
    reassign_to_c2(&store, "T1", T0 + 11);
    let mut s = session(&ali(), &scopes);
    let hello = a.connect().unwrap().into_iter().next().unwrap();
    let mut events = Vec::new();
    for f in feed(&mut s, &store, &hello).frames {
        events.extend(a.on_frame(&f).unwrap().events);
    }
    a.disconnect();
    assert!(
        events.contains(&DeviceEvent::Changed(id("T1"))),
        "{events:?}"
    );
    let ev = connect(&mut a, &mut session(&ali(), &scopes), &store);
    assert!(ev.contains(&DeviceEvent::Acknowledged(id("T1"))), "{ev:?}");
    assert!(
        !ev.iter().any(|e| matches!(e, DeviceEvent::Refused { .. })),
        "{ev:?}"
    );
    let stored = run(store.load(&id("T1"))).unwrap().unwrap();
    let v = TaskDoc::load(&stored.bytes).unwrap().view().unwrap();
    assert_eq!(
        v.derived.status,
        Status::Completed,
        "kept as offline work (rule 1)"
    );
    // Acknowledged: the next batch moves the cursor on as before.
    assert_eq!(a.pending_count().unwrap(), 0);
}

/// Crew C1's phone sees its district's open tasks, so a reassignment away reaches it as
/// changes (not a `Drop`). A completion made offline before it heard of the reassignment
/// is kept (rule 1); one built on the old heads after its `Hello` confirmed holding the
/// reassignment is a forged fork, refused as `StaleView`, nothing stored.
#[test]
fn a_completion_hiding_an_acknowledged_reassignment_is_refused() {
    let scopes = ["crew:C1", "open:D1"];
    let me = ali();
    let complete = |t: &mut TaskDoc, who: &Actor, h: u8| {
        t.add_photo(who, after_photo(&me, h))?;
        t.append_event(
            who,
            T0 + 10,
            EventKind::Completed {
                photos: vec![format!("{:064x}", h)],
            },
        )
    };
    let reassign = |t: &mut TaskDoc| {
        t.append_event(
            &disp(),
            T0 + 11,
            EventKind::Assigned {
                crew: "C2".into(),
                reason: "no answer".into(),
            },
        )
        .unwrap();
    };

    // Genuine: offline before the reassignment existed.
    let store = MemServerStore::new();
    seed(&store, "T1", "D1", Some("C1"));
    let mut a = device(ali());
    connect(&mut a, &mut session(&ali(), &scopes), &store);
    a.disconnect();
    a.edit(&id("T1"), T0 + 10, |t, who| complete(t, who, 1))
        .unwrap();
    server_edit(&store, "T1", reassign);
    let ev = connect(&mut a, &mut session(&ali(), &scopes), &store);
    assert!(ev.contains(&DeviceEvent::Acknowledged(id("T1"))), "{ev:?}");
    let stored = run(store.load(&id("T1"))).unwrap().unwrap();
    let v = TaskDoc::load(&stored.bytes).unwrap().view().unwrap();
    assert_eq!(v.derived.status, Status::Completed, "offline work stands");

    // Forged: the phone confirms holding the reassignment, then completes on old heads.
    let store = MemServerStore::new();
    seed(&store, "T1", "D1", Some("C1"));
    let mut a = device(ali());
    connect(&mut a, &mut session(&ali(), &scopes), &store);
    a.disconnect();
    let old = a.store().get(&id("T1")).unwrap().unwrap();
    server_edit(&store, "T1", reassign);
    connect(&mut a, &mut session(&ali(), &scopes), &store);
    a.disconnect();
    assert_eq!(
        a.task(&id("T1")).unwrap().derived.assignee.as_deref(),
        Some("C2"),
        "the phone received the reassignment"
    );
    // The next Hello carries the cursor past it: acknowledged.
    let mut s3 = session(&ali(), &scopes);
    connect(&mut a, &mut s3, &store);
    let before = run(store.load(&id("T1"))).unwrap().unwrap();
    let row =
        sync_core::session::device::index_entry(&TaskDoc::load(&old).unwrap().view().unwrap(), T0);
    a.store()
        .write(sync_core::store::WriteBatch {
            put_docs: vec![(id("T1"), old, row)],
            ..Default::default()
        })
        .unwrap();
    a.edit(&id("T1"), T0 + 12, |t, who| complete(t, who, 2))
        .unwrap();
    let up = a.outgoing().unwrap();
    let ev = exchange(&mut a, &mut s3, &store, up);
    assert!(
        ev.iter().any(|e| matches!(
            e,
            DeviceEvent::Refused { doc, code: RefusalCode::StaleView, .. } if doc.as_str() == "T1"
        )),
        "{ev:?}"
    );
    let after = run(store.load(&id("T1"))).unwrap().unwrap();
    assert_eq!(after.seq, before.seq, "nothing stored");
}

/// Issue 16 §9 under the default scopes: a crew reassigned away is sent a `Drop`, never
/// the reassignment. Once a later `Hello` confirmed the drop, a completion built on the
/// heads it kept is refused as `StaleView`, nothing stored; the task coming back to the
/// crew lifts that (an offline completion made before the drop arrived is kept:
/// `an_offline_completion_reaches_the_server_after_a_reassignment`).
#[test]
fn a_completion_after_an_acknowledged_drop_is_refused() {
    let scopes = ["crew:C1"];
    let me = ali();
    let complete = |t: &mut TaskDoc, who: &Actor, h: u8| {
        t.add_photo(who, after_photo(&me, h))?;
        t.append_event(
            who,
            T0 + 10,
            EventKind::Completed {
                photos: vec![format!("{:064x}", h)],
            },
        )
    };
    let assign = |crew: &'static str| {
        move |t: &mut TaskDoc| {
            t.append_event(
                &disp(),
                T0 + 11,
                EventKind::Assigned {
                    crew: crew.into(),
                    reason: "rebalance".into(),
                },
            )
            .unwrap();
        }
    };
    let store = MemServerStore::new();
    seed(&store, "T1", "D1", Some("C1"));
    let mut a = device(ali());
    connect(&mut a, &mut session(&ali(), &scopes), &store);
    a.disconnect();
    let old = a.store().get(&id("T1")).unwrap().unwrap();
    server_edit(&store, "T1", assign("C2"));
    let ev = connect(&mut a, &mut session(&ali(), &scopes), &store);
    a.disconnect();
    assert!(ev.contains(&DeviceEvent::Dropped(id("T1"))), "{ev:?}");
    // The next Hello carries the cursor past the drop: confirmed.
    let mut s3 = session(&ali(), &scopes);
    connect(&mut a, &mut s3, &store);
    let before = run(store.load(&id("T1"))).unwrap().unwrap();
    let row =
        sync_core::session::device::index_entry(&TaskDoc::load(&old).unwrap().view().unwrap(), T0);
    a.store()
        .write(sync_core::store::WriteBatch {
            put_docs: vec![(id("T1"), old, row)],
            ..Default::default()
        })
        .unwrap();
    a.edit(&id("T1"), T0 + 12, |t, who| complete(t, who, 2))
        .unwrap();
    let up = a.outgoing().unwrap();
    let ev = exchange(&mut a, &mut s3, &store, up);
    assert!(
        ev.iter().any(|e| matches!(
            e,
            DeviceEvent::Refused { doc, code: RefusalCode::StaleView, .. } if doc.as_str() == "T1"
        )),
        "{ev:?}"
    );
    let after = run(store.load(&id("T1"))).unwrap().unwrap();
    assert_eq!(after.seq, before.seq, "nothing stored");
    assert!(held(&a).is_empty(), "the phone lets go of the task");
    a.disconnect();

    // Assigned back to C1: the crew works on it again.
    server_edit(&store, "T1", assign("C1"));
    let mut s4 = session(&ali(), &scopes);
    connect(&mut a, &mut s4, &store);
    assert_eq!(held(&a), vec!["T1"]);
    a.edit(&id("T1"), T0 + 13, |t, who| complete(t, who, 3))
        .unwrap();
    let up = a.outgoing().unwrap();
    let ev = exchange(&mut a, &mut s4, &store, up);
    assert!(ev.contains(&DeviceEvent::Acknowledged(id("T1"))), "{ev:?}");
}

/// A store that fails every commit: the device must not get an acknowledgement.
struct FailingStore {
    inner: MemServerStore,
    fail: AtomicBool,
}

impl ServerStore for FailingStore {
    async fn load(&self, doc: &DocId) -> Result<Option<StoredDoc>, ServerStoreError> {
        self.inner.load(doc).await
    }
    async fn load_many(&self, docs: &[DocId]) -> Result<Vec<(DocId, StoredDoc)>, ServerStoreError> {
        self.inner.load_many(docs).await
    }
    async fn commit(&self, c: DocCommit) -> Result<CommitOutcome, ServerStoreError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(ServerStoreError::Unavailable("disk full".into()));
        }
        self.inner.commit(c).await
    }
    async fn scope_entries(
        &self,
        scope: &sync_core::ScopeId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ScopeEntry>, ServerStoreError> {
        self.inner.scope_entries(scope, after, limit).await
    }
    async fn changes_since(
        &self,
        doc: &DocId,
        after: u64,
    ) -> Result<ChangesSince, ServerStoreError> {
        self.inner.changes_since(doc, after).await
    }
    async fn doc_scopes(&self, doc: &DocId) -> Result<Vec<sync_core::ScopeId>, ServerStoreError> {
        self.inner.doc_scopes(doc).await
    }
    async fn record_hello(
        &self,
        device: &sync_core::DeviceId,
        cursors: &[(sync_core::ScopeId, u64)],
        now: i64,
    ) -> Result<Option<i64>, ServerStoreError> {
        self.inner.record_hello(device, cursors, now).await
    }
    async fn acknowledged_seq(
        &self,
        device: &sync_core::DeviceId,
        doc: &DocId,
    ) -> Result<Option<Acknowledged>, ServerStoreError> {
        self.inner.acknowledged_seq(device, doc).await
    }
}

#[test]
fn no_acknowledgement_without_a_durable_commit() {
    let store = FailingStore {
        inner: MemServerStore::new(),
        fail: AtomicBool::new(false),
    };
    seed(&store.inner, "T1", "D1", Some("C1"));
    let mut a = device(ali());
    let mut sa = session(&ali(), &["crew:C1"]);
    let up = a.connect().unwrap();
    exchange(&mut a, &mut sa, &store, up);
    a.edit(&id("T1"), T0 + 5, |t, who| {
        t.add_note(who, T0 + 5, "on site")
    })
    .unwrap();
    store.fail.store(true, Ordering::SeqCst);
    let frames = a.outgoing().unwrap();
    let mut saw_error = false;
    for f in frames {
        let reply: Reply = run(sa.on_frame(&store, &f, T0));
        assert!(reply.close);
        for r in reply.frames {
            match a.on_frame(&r) {
                Err(DeviceError::Server { code, .. }) => {
                    assert_eq!(code, ErrorCode::Unavailable);
                    saw_error = true;
                }
                other => panic!("expected an error frame, got {other:?}"),
            }
        }
    }
    assert!(saw_error);
    assert_eq!(a.pending_count().unwrap(), 1, "the edit stays pending");
    // The store recovers; a reconnect delivers the edit.
    store.fail.store(false, Ordering::SeqCst);
    let mut sa = session(&ali(), &["crew:C1"]);
    let up = a.connect().unwrap();
    let ev = exchange(&mut a, &mut sa, &store, up);
    assert!(ev.contains(&DeviceEvent::Acknowledged(id("T1"))));
    assert_eq!(a.pending_count().unwrap(), 0);
}

fn hello_frame(device: &str, n: u32, oldest: u16, newest: u16) -> Vec<u8> {
    encode_client(
        1,
        n,
        &ClientFrame::Hello(Hello {
            oldest_version: oldest,
            newest_version: newest,
            device: DeviceId::new(device).unwrap(),
            cursors: vec![],
        }),
    )
}

fn error_of(reply: &Reply) -> ErrorFrame {
    assert!(reply.close, "the session must close");
    let last = reply.frames.last().expect("an error frame");
    match decode_server(last).unwrap().frame {
        ServerFrame::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn garbage_and_truncated_frames_end_the_session_cleanly() {
    let store = MemServerStore::new();
    for bad in [
        b"".to_vec(),
        b"hello".to_vec(),
        b"TM\x01\x00\x00\x00\x00\x00\xff\xff\xff".to_vec(),
        hello_frame("phone-a", 0, 1, 1)[..12].to_vec(),
    ] {
        let mut s = session(&ali(), &["crew:C1"]);
        let e = error_of(&run(s.on_frame(&store, &bad, T0)));
        assert_eq!(e.code, ErrorCode::Malformed, "{bad:?}");
        // A closed session ignores anything more.
        let again = run(s.on_frame(&store, &hello_frame("phone-a", 0, 1, 1), T0));
        assert!(again.frames.is_empty() && again.close);
    }
    assert!(store.is_empty());
}

#[test]
fn unknown_protocol_versions_are_refused() {
    let store = MemServerStore::new();
    let mut s = session(&ali(), &["crew:C1"]);
    let e = error_of(&run(s.on_frame(
        &store,
        &hello_frame("phone-a", 0, 7, 9),
        T0,
    )));
    assert_eq!(e.code, ErrorCode::UnsupportedVersion);
    let mut bad = hello_frame("phone-a", 0, 1, 1);
    bad[2] = 42;
    let mut s = session(&ali(), &["crew:C1"]);
    let e = error_of(&run(s.on_frame(&store, &bad, T0)));
    assert_eq!(e.code, ErrorCode::UnsupportedVersion);
}

#[test]
fn a_hello_for_another_device_is_unauthorized() {
    let store = MemServerStore::new();
    let mut s = session(&ali(), &["crew:C1"]);
    let e = error_of(&run(s.on_frame(
        &store,
        &hello_frame("phone-b", 0, 1, 1),
        T0,
    )));
    assert_eq!(e.code, ErrorCode::Unauthorized);
}

#[test]
fn frames_out_of_order_end_the_session() {
    let store = MemServerStore::new();
    let mut s = session(&ali(), &["crew:C1"]);
    let e = error_of(&run(s.on_frame(
        &store,
        &hello_frame("phone-a", 3, 1, 1),
        T0,
    )));
    assert_eq!(e.code, ErrorCode::Malformed);
    // A push before the handshake.
    let mut s = session(&ali(), &["crew:C1"]);
    let push = encode_client(
        1,
        0,
        &ClientFrame::Push(Push {
            doc: id("T1"),
            changes: vec![],
        }),
    );
    assert_eq!(
        error_of(&run(s.on_frame(&store, &push, T0))).code,
        ErrorCode::Malformed
    );
}

fn live_session(store: &MemServerStore, a: &Actor, scopes: &[&str]) -> ServerSession<TaskScopes> {
    let mut s = session(a, scopes);
    let r = feed(&mut s, store, &hello_frame(a.device.as_str(), 0, 1, 1));
    assert!(!r.close);
    s
}

fn refused_of(reply: &Reply) -> Refused {
    for f in &reply.frames {
        if let ServerFrame::Refused(r) = decode_server(f).unwrap().frame {
            return r;
        }
    }
    panic!("no refusal in {:?}", reply.frames.len());
}

#[test]
fn corrupt_change_bytes_are_refused_and_nothing_is_stored() {
    let store = MemServerStore::new();
    seed(&store, "T1", "D1", Some("C1"));
    let before = run(store.load(&id("T1"))).unwrap().unwrap();
    let mut s = live_session(&store, &ali(), &["crew:C1"]);
    let push = encode_client(
        1,
        1,
        &ClientFrame::Push(Push {
            doc: id("T1"),
            changes: vec![vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3], b"junk".to_vec()],
        }),
    );
    let reply = run(s.on_frame(&store, &push, T0));
    let r = refused_of(&reply);
    assert_eq!(r.code, RefusalCode::Malformed);
    assert_eq!(
        r.reset.as_deref(),
        Some(&before.bytes[..]),
        "the device resets to the server's copy"
    );
    assert_eq!(run(store.load(&id("T1"))).unwrap().unwrap(), before);
    assert!(reply.committed.is_empty());
}

#[test]
fn a_push_outside_the_device_scope_is_refused_without_revealing_the_task() {
    let store = MemServerStore::new();
    seed(&store, "T9", "D2", Some("C2"));
    let before = run(store.load(&id("T9"))).unwrap().unwrap();
    // The crew phone somehow holds changes for another crew's task.
    let mut t = TaskDoc::load(&before.bytes).unwrap();
    let heads = t.heads();
    t.add_note(&ali(), T0 + 9, "not mine").unwrap();
    let changes = t
        .automerge()
        .get_changes(&heads)
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    let mut s = live_session(&store, &ali(), &["crew:C1"]);
    let push = encode_client(
        1,
        1,
        &ClientFrame::Push(Push {
            doc: id("T9"),
            changes,
        }),
    );
    let reply = run(s.on_frame(&store, &push, T0));
    let r = refused_of(&reply);
    assert_eq!(r.code, RefusalCode::OutOfScope);
    assert_eq!(r.reset, None);
    assert_eq!(run(store.load(&id("T9"))).unwrap().unwrap(), before);
}

#[test]
fn an_impersonating_change_is_refused_and_the_phone_resets() {
    let store = MemServerStore::new();
    seed(&store, "T1", "D1", Some("C1"));
    let mut a = device(ali());
    let mut sa = session(&ali(), &["crew:C1"]);
    connect(&mut a, &mut sa, &store);
    // A tampered app writes as the dispatcher: cancelling the task.
    a.edit(&id("T1"), T0 + 3, |t, _| {
        t.append_event(
            &actor("disp", Role::Dispatcher, None, "phone-a"),
            T0 + 3,
            EventKind::Cancelled { reason: "x".into() },
        )
    })
    .unwrap();
    let frames = a.outgoing().unwrap();
    let ev = exchange(&mut a, &mut sa, &store, frames);
    assert!(
        ev.iter().any(|e| matches!(
            e,
            DeviceEvent::Refused {
                code: RefusalCode::Impersonation,
                ..
            }
        )),
        "{ev:?}"
    );
    assert_eq!(a.pending_count().unwrap(), 0);
    assert_eq!(
        a.task(&id("T1")).unwrap().derived.status,
        Status::Assigned,
        "reset to the server's copy"
    );
    let stored = run(store.load(&id("T1"))).unwrap().unwrap();
    assert_eq!(
        TaskDoc::load(&stored.bytes)
            .unwrap()
            .view()
            .unwrap()
            .derived
            .status,
        Status::Assigned
    );
}

#[test]
fn a_resent_push_is_acknowledged_once_stored_and_not_stored_twice() {
    let store = MemServerStore::new();
    seed(&store, "T1", "D1", Some("C1"));
    let mut a = device(ali());
    let mut sa = session(&ali(), &["crew:C1"]);
    connect(&mut a, &mut sa, &store);
    a.edit(&id("T1"), T0 + 5, |t, who| {
        t.add_note(who, T0 + 5, "on site")
    })
    .unwrap();
    let frames = a.outgoing().unwrap();
    // The ack is lost with the connection.
    for f in &frames {
        run(sa.on_frame(&store, f, T0));
    }
    a.disconnect();
    let seq = store.last_seq();
    let mut sa = session(&ali(), &["crew:C1"]);
    let ev = connect(&mut a, &mut sa, &store);
    assert!(ev.contains(&DeviceEvent::Acknowledged(id("T1"))));
    assert_eq!(store.last_seq(), seq, "the second push commits nothing");
    assert_eq!(a.pending_count().unwrap(), 0);
}

/// A catch-up cut off after its first page must not leave the device believing it holds
/// older changes of documents that were due in later pages.
#[test]
fn an_interrupted_catch_up_resumes_without_losing_older_changes() {
    let store = MemServerStore::new();
    for n in ["T1", "T2", "T3"] {
        seed(&store, n, "D1", Some("C1"));
    }
    let mut a = device(ali());
    let mut s = session(&ali(), &["crew:C1"]);
    connect(&mut a, &mut s, &store);
    a.disconnect();
    let note = |text: &'static str| {
        move |t: &mut TaskDoc| {
            t.add_note(&disp(), T0 + 50, text).unwrap();
        }
    };
    // T1 changes first, then T2 and T3, then T1 again: T1's entry moves behind the others.
    server_edit(&store, "T1", note("first note on T1"));
    server_edit(&store, "T2", note("note on T2"));
    server_edit(&store, "T3", note("note on T3"));
    server_edit(&store, "T1", note("second note on T1"));
    let small_pages = |a: &Actor| {
        ServerSession::new(
            a.clone(),
            vec![sync_core::ScopeId::new("crew:C1").unwrap()],
            TaskScopes,
            ServerConfig {
                page: 2,
                ..ServerConfig::default()
            },
        )
    };
    // First connection: only the Welcome and the first page's batch arrive.
    let mut s = small_pages(&ali());
    let mut down = Vec::new();
    for f in a.connect().unwrap() {
        down.extend(feed(&mut s, &store, &f).frames);
    }
    let mut batches = 0;
    for f in down {
        if let ServerFrame::Batch(_) = decode_server(&f).unwrap().frame {
            batches += 1;
            if batches == 2 {
                break;
            }
        }
        a.on_frame(&f).unwrap();
    }
    assert!(batches >= 2, "the catch-up must take several pages");
    a.disconnect();
    // Second connection completes it.
    let mut s = small_pages(&ali());
    connect(&mut a, &mut s, &store);
    for n in ["T1", "T2", "T3"] {
        let stored = run(store.load(&id(n))).unwrap().unwrap();
        let mut server_doc = TaskDoc::load(&stored.bytes).unwrap();
        let mut local = TaskDoc::load(&a.store().get(&id(n)).unwrap().unwrap()).unwrap();
        assert_eq!(local.heads(), server_doc.heads(), "{n} differs");
        assert_eq!(
            local.view().unwrap().notes.len(),
            server_doc.view().unwrap().notes.len()
        );
    }
}

/// A tampered app writes an event the rules do not allow where it falls (a completion with
/// no after photo), bypassing the typed API: refused as an invalid transition, not stored,
/// and the phone is reset to the server's copy.
#[test]
fn an_impossible_transition_is_refused_and_not_stored() {
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ROOT, ReadDoc};
    let store = MemServerStore::new();
    seed(&store, "T1", "D1", Some("C1"));
    let before = run(store.load(&id("T1"))).unwrap().unwrap();
    let mut a = device(ali());
    let mut sa = session(&ali(), &["crew:C1"]);
    connect(&mut a, &mut sa, &store);
    let me = ali();
    a.edit(&id("T1"), T0 + 7, |t, _| {
        let parents: Vec<String> = {
            let v = t.view()?;
            let all: Vec<String> = v.timeline.iter().map(|e| e.event.id.clone()).collect();
            let referenced: Vec<String> = v
                .timeline
                .iter()
                .flat_map(|e| e.event.parents.clone())
                .collect();
            all.into_iter()
                .filter(|e| !referenced.contains(e))
                .collect()
        };
        let am = t.automerge();
        let (_, events) = am.get(ROOT, "events").unwrap().unwrap();
        let eid = "phone-a:00000000000000ff";
        let e = am.put_object(&events, eid, ObjType::Map).unwrap();
        am.put(&e, "id", eid).unwrap();
        am.put(&e, "kind", "completed").unwrap();
        let actor = am.put_object(&e, "actor", ObjType::Map).unwrap();
        am.put(&actor, "user", me.user.as_str()).unwrap();
        am.put(&actor, "role", "crew").unwrap();
        am.put(&actor, "crew", "C1").unwrap();
        am.put(&actor, "device", me.device.as_str()).unwrap();
        am.put(&e, "at", T0 + 7).unwrap();
        let ps = am.put_object(&e, "parents", ObjType::List).unwrap();
        for (i, p) in parents.iter().enumerate() {
            am.insert(&ps, i, p.as_str()).unwrap();
        }
        let photos = am.put_object(&e, "photos", ObjType::List).unwrap();
        am.insert(&photos, 0, format!("{:064x}", 42).as_str())
            .unwrap();
        am.commit();
        Ok(())
    })
    .unwrap();
    assert_eq!(a.pending_count().unwrap(), 1);
    let frames = a.outgoing().unwrap();
    let ev = exchange(&mut a, &mut sa, &store, frames);
    assert!(
        ev.iter().any(|e| matches!(
            e,
            DeviceEvent::Refused {
                code: RefusalCode::InvalidTransition,
                ..
            }
        )),
        "{ev:?}"
    );
    assert_eq!(
        run(store.load(&id("T1"))).unwrap().unwrap(),
        before,
        "nothing stored"
    );
    assert_eq!(a.pending_count().unwrap(), 0);
    let v = a.task(&id("T1")).unwrap();
    assert_eq!(
        v.derived.status,
        Status::Assigned,
        "reset to the server's copy"
    );
    assert_eq!(v.timeline.len(), 2);
}

/// A push whose changes would grow a document past its caps (entries in one log, saved
/// bytes, or inflated bytes of the push itself) is refused and nothing is stored.
#[test]
fn a_document_cannot_grow_past_its_caps() {
    let store = MemServerStore::new();
    seed(&store, "T1", "D1", Some("C1"));
    let before = run(store.load(&id("T1"))).unwrap().unwrap();
    let capped = |entries: usize, bytes: usize| {
        let mut s = ServerSession::new(
            ali(),
            vec![sync_core::ScopeId::new("crew:C1").unwrap()],
            TaskScopes,
            ServerConfig {
                max_doc_entries: entries,
                max_doc_bytes: bytes,
                ..ServerConfig::default()
            },
        );
        assert!(!feed(&mut s, &store, &hello_frame("phone-a", 0, 1, 1)).close);
        s
    };
    let push_of = |f: &dyn Fn(&mut TaskDoc)| {
        let mut t = TaskDoc::load(&before.bytes).unwrap();
        let heads = t.heads();
        f(&mut t);
        let changes = t
            .automerge()
            .get_changes(&heads)
            .into_iter()
            .map(|mut c| c.bytes().to_vec())
            .collect();
        encode_client(
            1,
            1,
            &ClientFrame::Push(Push {
                doc: id("T1"),
                changes,
            }),
        )
    };
    // 30 notes where 20 entries are allowed.
    let notes = push_of(&|t| {
        for i in 0..30 {
            t.add_note(&ali(), T0 + 10 + i, &format!("note {i}"))
                .unwrap();
        }
    });
    let r = refused_of(&run(capped(20, 4 << 20).on_frame(&store, &notes, T0)));
    assert_eq!(r.code, RefusalCode::Malformed);
    assert!(
        r.message.contains("more than the limit of 20"),
        "{}",
        r.message
    );
    // The same push is fine under the default caps.
    let reply = run(capped(1_000, 4 << 20).on_frame(&store, &notes, T0));
    assert!(reply.refused.is_empty(), "{:?}", reply.refused);
    let after_notes = run(store.load(&id("T1"))).unwrap().unwrap();
    // A push inflating past the document's byte cap: refused before automerge holds it.
    // Text that does not compress (the saved form deflates its columns).
    let mut x = 7u32;
    let noise: String = (0..900)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            char::from(b'a' + ((x >> 16) % 26) as u8)
        })
        .collect();
    let big = push_of(&|t| {
        t.add_note(&ali(), T0 + 50, &noise).unwrap();
    });
    let r = refused_of(&run(capped(1_000, 512).on_frame(&store, &big, T0)));
    assert!(
        r.message.contains("inflates to more than 512"),
        "{}",
        r.message
    );
    // A document whose saved form would pass the cap.
    let cap = after_notes.bytes.len() + 64;
    let r = refused_of(&run(capped(1_000, cap).on_frame(&store, &big, T0)));
    assert!(
        r.message.contains("bytes, more than the limit"),
        "{}",
        r.message
    );
    assert_eq!(run(store.load(&id("T1"))).unwrap().unwrap(), after_notes);
}

fn cursor_scopes(dev: &Device) -> Vec<String> {
    dev.store().cursors().unwrap().into_keys().collect()
}

/// Crew C1 moves from district D1 to D2: its phone's `open:D1` becomes `open:D2`. The
/// `Welcome` of the next session lists the scopes now granted; after the catch-up the
/// phone has forgotten `open:D1` and every task that was only there, and said so.
#[test]
fn a_crew_moved_to_another_district_drops_the_old_districts_tasks() {
    let store = MemServerStore::new();
    seed(&store, "T1", "D1", Some("C1"));
    seed(&store, "T2", "D1", None);
    seed(&store, "T3", "D2", None);
    let mut a = device(ali());
    connect(
        &mut a,
        &mut session(&ali(), &["crew:C1", "open:D1"]),
        &store,
    );
    assert_eq!(held(&a), vec!["T1", "T2"]);
    a.disconnect();

    let ev = connect(
        &mut a,
        &mut session(&ali(), &["crew:C1", "open:D2"]),
        &store,
    );
    assert_eq!(
        held(&a),
        vec!["T1", "T3"],
        "its own crew's job stays, the old district's open task goes"
    );
    let dropped: Vec<&DeviceEvent> = ev
        .iter()
        .filter(|e| matches!(e, DeviceEvent::Dropped(_)))
        .collect();
    assert_eq!(dropped, vec![&DeviceEvent::Dropped(id("T2"))], "{ev:?}");
    let at = |e: &DeviceEvent| ev.iter().position(|x| x == e).unwrap();
    assert!(
        at(&DeviceEvent::Dropped(id("T2"))) < at(&DeviceEvent::CaughtUp),
        "dropped before the app hears it is up to date: {ev:?}"
    );
    assert_eq!(cursor_scopes(&a), vec!["crew:C1", "open:D2"]);

    // The next session has nothing more to drop, and the old scope's cursor is not sent.
    a.disconnect();
    let ev = connect(
        &mut a,
        &mut session(&ali(), &["crew:C1", "open:D2"]),
        &store,
    );
    assert!(
        !ev.iter().any(|e| matches!(e, DeviceEvent::Dropped(_))),
        "{ev:?}"
    );
    assert_eq!(held(&a), vec!["T1", "T3"]);
}

/// A disabled user, or one whose crew and districts were all taken away, is given no
/// scope: the phone keeps nothing of them.
#[test]
fn a_device_given_no_scope_keeps_no_task() {
    let store = MemServerStore::new();
    seed(&store, "T1", "D1", Some("C1"));
    seed(&store, "T2", "D1", None);
    let mut a = device(ali());
    connect(
        &mut a,
        &mut session(&ali(), &["crew:C1", "open:D1"]),
        &store,
    );
    assert_eq!(held(&a), vec!["T1", "T2"]);
    a.disconnect();
    let ev = connect(&mut a, &mut session(&ali(), &[]), &store);
    assert!(held(&a).is_empty(), "{ev:?}");
    assert!(cursor_scopes(&a).is_empty());
    for t in ["T1", "T2"] {
        assert!(ev.contains(&DeviceEvent::Dropped(id(t))), "{ev:?}");
    }
}

/// Bad input: the scope shrinks (crew C1 moved to D2 and its job T1 in D1 reassigned to
/// C2) while the phone holds a completion of T1 the server has not acknowledged. The
/// completion reaches the server first, then the task and its photo leave the phone; a
/// photo whose upload is still due leaves once uploaded.
#[test]
fn a_scope_shrink_keeps_an_unacknowledged_completion_until_it_reaches_the_server() {
    use sync_core::session::device::NewPhoto;
    let store = MemServerStore::new();
    seed(&store, "T1", "D1", Some("C1"));
    seed(&store, "T2", "D1", None);
    let mut a = device(ali());
    connect(
        &mut a,
        &mut session(&ali(), &["crew:C1", "open:D1"]),
        &store,
    );
    a.disconnect();
    // Offline: an after photo (bytes in the outbox) and the completion.
    let photo = NewPhoto {
        kind: PhotoKind::After,
        mime: "image/jpeg".into(),
        taken_at: Some(T0 + 9),
        taken_point: None,
    };
    let hash = a
        .add_photo(&id("T1"), photo, b"\xFF\xD8\xFFafter", T0 + 9)
        .unwrap();
    a.complete(&id("T1"), Vec::new(), T0 + 10).unwrap();
    assert!(a.pending_count().unwrap() > 0);
    // Meanwhile: reassigned away, and the crew moved to D2.
    server_edit(&store, "T1", |t| {
        t.append_event(
            &disp(),
            T0 + 11,
            EventKind::Assigned {
                crew: "C2".into(),
                reason: "crew moved".into(),
            },
        )
        .unwrap();
    });
    let ev = connect(
        &mut a,
        &mut session(&ali(), &["crew:C1", "open:D2"]),
        &store,
    );

    let stored = run(store.load(&id("T1"))).unwrap().unwrap();
    let v = TaskDoc::load(&stored.bytes).unwrap().view().unwrap();
    assert_eq!(
        v.derived.status,
        Status::Completed,
        "the completion arrived"
    );
    assert!(v.photos.iter().any(|p| p.hash == hash));
    let acked = ev
        .iter()
        .position(|e| *e == DeviceEvent::Acknowledged(id("T1")))
        .unwrap_or_else(|| panic!("not acknowledged: {ev:?}"));
    let dropped = ev
        .iter()
        .position(|e| *e == DeviceEvent::Dropped(id("T1")))
        .unwrap_or_else(|| panic!("not dropped: {ev:?}"));
    assert!(acked < dropped, "acknowledged first, then dropped: {ev:?}");
    assert!(ev.contains(&DeviceEvent::Dropped(id("T2"))), "{ev:?}");
    assert_eq!(a.pending_count().unwrap(), 0);
    assert!(held(&a).is_empty());
    assert!(!cursor_scopes(&a).contains(&"open:D1".to_string()));

    // The photo's upload was still due: its bytes stay until the server has them.
    assert!(a.photo_bytes(&hash).unwrap().is_some());
    assert_eq!(a.due_uploads(T0 + 20).unwrap().len(), 1);
    a.upload_complete(&hash).unwrap();
    assert!(
        a.photo_bytes(&hash).unwrap().is_none(),
        "gone once uploaded"
    );
    assert!(a.outbox().unwrap().is_empty());
}

/// A photo already uploaded leaves with its task at once; one another held task names
/// stays.
#[test]
fn a_dropped_tasks_uploaded_photos_go_with_it_unless_another_task_names_them() {
    use sync_core::session::device::NewPhoto;
    let store = MemServerStore::new();
    seed(&store, "T1", "D1", Some("C1"));
    seed(&store, "T2", "D1", Some("C1"));
    let mut a = device(ali());
    let scopes = ["crew:C1"];
    connect(&mut a, &mut session(&ali(), &scopes), &store);
    let photo = || NewPhoto {
        kind: PhotoKind::Before,
        mime: "image/jpeg".into(),
        taken_at: None,
        taken_point: None,
    };
    let only_t1 = a
        .add_photo(&id("T1"), photo(), b"\xFF\xD8\xFFone", T0 + 5)
        .unwrap();
    let shared = a
        .add_photo(&id("T1"), photo(), b"\xFF\xD8\xFFtwo", T0 + 5)
        .unwrap();
    a.add_photo(&id("T2"), photo(), b"\xFF\xD8\xFFtwo", T0 + 6)
        .unwrap();
    a.upload_complete(&only_t1).unwrap();
    a.upload_complete(&shared).unwrap();
    a.disconnect();
    let mut s = session(&ali(), &scopes);
    connect(&mut a, &mut s, &store);
    assert_eq!(a.pending_count().unwrap(), 0);
    // T1 goes to crew C2, live.
    let touched = server_edit(&store, "T1", |t| {
        t.append_event(
            &disp(),
            T0 + 20,
            EventKind::Assigned {
                crew: "C2".into(),
                reason: "closer".into(),
            },
        )
        .unwrap();
    });
    let mut ev = Vec::new();
    for scope in &touched {
        for f in run(s.on_notify(&store, scope)).frames {
            ev.extend(a.on_frame(&f).unwrap().events);
        }
    }
    assert!(ev.contains(&DeviceEvent::Dropped(id("T1"))), "{ev:?}");
    assert_eq!(held(&a), vec!["T2"]);
    assert!(a.photo_bytes(&only_t1).unwrap().is_none());
    assert!(a.photo_bytes(&shared).unwrap().is_some());
    let left: Vec<String> = a.outbox().unwrap().into_iter().map(|e| e.hash).collect();
    assert_eq!(left, vec![shared]);
}

/// Issue 20 §3, the user disabled: the live session ends with a `Scopes` frame granting
/// nothing. The phone drops at once every task and photo already on the server, keeps the
/// task whose completion has not reached the server (it cannot now) and the photo still
/// to upload, forgets every cursor, and tells the app. Enabled again, the next session
/// pushes the completion and brings the crew's tasks back.
#[test]
fn a_disabled_users_phone_keeps_only_what_has_not_reached_the_server() {
    use sync_core::session::device::NewPhoto;
    let store = MemServerStore::new();
    seed(&store, "T1", "D1", Some("C1"));
    seed(&store, "T2", "D1", Some("C1"));
    seed(&store, "T3", "D1", None);
    let scopes = ["crew:C1", "open:D1"];
    let mut a = device(ali());
    let photo = || NewPhoto {
        kind: PhotoKind::After,
        mime: "image/jpeg".into(),
        taken_at: Some(T0 + 9),
        taken_point: None,
    };
    let mut s = session(&ali(), &scopes);
    connect(&mut a, &mut s, &store);
    assert_eq!(held(&a), vec!["T1", "T2", "T3"]);
    // T2's photo is uploaded and its edit acknowledged: all of it is on the server.
    let uploaded = a
        .add_photo(&id("T2"), photo(), b"\xFF\xD8\xFFtwo", T0 + 8)
        .unwrap();
    let up = a.outgoing().unwrap();
    exchange(&mut a, &mut s, &store, up);
    a.upload_complete(&uploaded).unwrap();
    assert_eq!(a.pending_count().unwrap(), 0);
    // T1's completion and its photo are not: the push is lost on the way.
    let due = a
        .add_photo(&id("T1"), photo(), b"\xFF\xD8\xFFone", T0 + 9)
        .unwrap();
    a.complete(&id("T1"), Vec::new(), T0 + 10).unwrap();
    assert!(!a.outgoing().unwrap().is_empty());

    let reply = s.account_disabled();
    assert!(reply.close);
    assert_eq!(reply.frames.len(), 1, "one frame, then the close");
    let ev = deliver(&mut a, reply);
    assert_eq!(
        held(&a),
        vec!["T1"],
        "only the task with unsent work: {ev:?}"
    );
    for t in ["T2", "T3"] {
        assert!(ev.contains(&DeviceEvent::Dropped(id(t))), "{ev:?}");
    }
    assert_eq!(ev.last(), Some(&DeviceEvent::AccountDisabled), "{ev:?}");
    assert!(!a.is_connected());
    assert!(cursor_scopes(&a).is_empty());
    assert!(a.pending_count().unwrap() > 0);
    assert!(
        a.photo_bytes(&uploaded).unwrap().is_none(),
        "T2's photo went with it"
    );
    assert!(
        a.photo_bytes(&due).unwrap().is_some(),
        "T1's is still to upload"
    );
    // The session sends nothing more.
    assert!(
        run(s.on_notify(&store, &sync_core::ScopeId::new("crew:C1").unwrap()))
            .frames
            .is_empty()
    );

    // A refusal at the next login (the transport's typed refusal) changes nothing more.
    let again = a.account_disabled().unwrap();
    assert_eq!(again.events, vec![DeviceEvent::AccountDisabled]);
    assert_eq!(held(&a), vec!["T1"]);

    // Enabled again: the completion reaches the server, and the tasks come back.
    let ev = connect(&mut a, &mut session(&ali(), &scopes), &store);
    assert!(ev.contains(&DeviceEvent::Acknowledged(id("T1"))), "{ev:?}");
    let stored = run(store.load(&id("T1"))).unwrap().unwrap();
    let v = TaskDoc::load(&stored.bytes).unwrap().view().unwrap();
    assert_eq!(v.derived.status, Status::Completed);
    assert_eq!(a.pending_count().unwrap(), 0);
    assert_eq!(held(&a), vec!["T1", "T2", "T3"]);
    for t in ["T1", "T2", "T3"] {
        same_as_server(&a, &store, t);
    }
}

/// A device that never took the new frame (or an offline one) learns it at its next
/// login: the transport's refusal drops the same things. A version-1 device is sent no
/// `Scopes` frame at all (it would not read it): its session just closes.
#[test]
fn a_refused_login_drops_the_same_and_a_version_1_device_is_sent_nothing() {
    let store = MemServerStore::new();
    seed(&store, "T1", "D1", Some("C1"));
    seed(&store, "T2", "D1", Some("C1"));
    let mut a = device(ali());
    connect(&mut a, &mut session(&ali(), &["crew:C1"]), &store);
    a.disconnect();
    a.edit(&id("T2"), T0 + 5, |doc, who| {
        doc.add_note(who, T0 + 5, "on my way")
    })
    .unwrap();
    let out = a.account_disabled().unwrap();
    assert_eq!(
        out.events,
        vec![DeviceEvent::Dropped(id("T1")), DeviceEvent::AccountDisabled]
    );
    assert_eq!(held(&a), vec!["T2"]);
    assert!(cursor_scopes(&a).is_empty());

    let mut old = session(&ali(), &["crew:C1"]);
    let reply = feed(&mut old, &store, &hello_frame("phone-a", 0, 1, 1));
    assert!(!reply.close);
    let reply = old.account_disabled();
    assert!(reply.close && reply.frames.is_empty());
    // Before its handshake, nothing is sent either.
    let reply = session(&ali(), &["crew:C1"]).account_disabled();
    assert!(reply.close && reply.frames.is_empty());
}

/// A session reading `page` scope entries at a time, for `a` in `scopes`.
fn paged(a: &Actor, scopes: &[&str], page: usize) -> ServerSession<TaskScopes> {
    ServerSession::new(
        a.clone(),
        scopes
            .iter()
            .map(|s| sync_core::ScopeId::new(*s).unwrap())
            .collect(),
        TaskScopes,
        ServerConfig {
            page,
            ..ServerConfig::default()
        },
    )
}

/// Hands the frames of `reply` to the device; returns its events.
fn deliver(dev: &mut Device, reply: Reply) -> Vec<DeviceEvent> {
    let mut events = Vec::new();
    for f in reply.frames {
        events.extend(dev.on_frame(&f).unwrap().events);
    }
    events
}

fn same_as_server(dev: &Device, store: &MemServerStore, n: &str) {
    let stored = run(store.load(&id(n))).unwrap().unwrap();
    let mut server_doc = TaskDoc::load(&stored.bytes).unwrap();
    let mut local = TaskDoc::load(&dev.store().get(&id(n)).unwrap().unwrap()).unwrap();
    assert_eq!(local.heads(), server_doc.heads(), "{n} differs");
}

/// Issue 16, point 5: a `Hello` is answered with `Welcome` alone; the catch-up comes one
/// page of scope entries at a time, each asked for by the host, then `CaughtUp`.
#[test]
fn a_catch_up_comes_one_bounded_page_at_a_time() {
    let store = MemServerStore::new();
    for i in 0..10 {
        seed(&store, &format!("T{i:02}"), "D1", Some("C1"));
    }
    let mut a = device(ali());
    let mut s = paged(&ali(), &["crew:C1"], 3);
    let mut up = a.connect().unwrap();
    assert_eq!(up.len(), 1, "a Hello and nothing else");
    let welcome = run(s.on_frame(&store, &up.remove(0), T0));
    assert_eq!(welcome.frames.len(), 1);
    assert!(matches!(
        decode_server(&welcome.frames[0]).unwrap().frame,
        ServerFrame::Welcome(_)
    ));
    deliver(&mut a, welcome);
    assert!(s.is_catching_up());
    let mut steps = 0;
    let mut caught_up = false;
    while let Some(reply) = run(s.next_catch_up(&store)) {
        steps += 1;
        let mut docs = 0;
        for f in &reply.frames {
            if let ServerFrame::Batch(b) = decode_server(f).unwrap().frame {
                docs += b.updates.len();
            }
        }
        assert!(docs <= 3, "a step of {docs} documents");
        caught_up |= deliver(&mut a, reply).contains(&DeviceEvent::CaughtUp);
    }
    assert!(caught_up);
    assert!(!s.is_catching_up());
    // Four pages of 3, 3, 3 and 1 documents, then CaughtUp.
    assert_eq!(steps, 5);
    assert_eq!(held(&a).len(), 10);
    assert!(a.is_live());
}

/// Pushes handled between catch-up pages are acknowledged, and commits made meanwhile
/// reach the device: through the catch-up in a scope it has not finished, through
/// `on_notify` in one it has. Nothing is lost or sent twice as a whole document.
#[test]
fn pushes_and_commits_between_catch_up_pages_are_not_lost() {
    let store = MemServerStore::new();
    // crew:C1 (T00..T05) and open:D2 (U0..U3).
    for i in 0..6 {
        seed(&store, &format!("T{i:02}"), "D1", Some("C1"));
    }
    for i in 0..4 {
        seed(&store, &format!("U{i}"), "D2", None);
    }
    let mut a = device(ali());
    // A first sync, then an offline note on T00.
    let mut s = session(&ali(), &["crew:C1", "open:D2"]);
    connect(&mut a, &mut s, &store);
    a.disconnect();
    a.edit(&id("T00"), T0 + 5, |t, who| {
        t.add_note(who, T0 + 5, "on site")
    })
    .unwrap();
    // Meanwhile the server changes everything, so the catch-up has pages to send.
    for i in 0..6 {
        server_edit(&store, &format!("T{i:02}"), |t| {
            t.add_note(&disp(), T0 + 10, "from the desk").unwrap();
        });
    }
    let mut s = paged(&ali(), &["crew:C1", "open:D2"], 2);
    let up = a.connect().unwrap();
    assert_eq!(up.len(), 2, "Hello and the push");
    deliver(&mut a, run(s.on_frame(&store, &up[0], T0)));
    // One page, then the push.
    deliver(&mut a, run(s.next_catch_up(&store)).unwrap());
    let pushed = run(s.on_frame(&store, &up[1], T0));
    assert_eq!(pushed.committed.len(), 1);
    let touched = pushed.committed[0].touched.clone();
    let ev = deliver(&mut a, pushed);
    assert!(ev.contains(&DeviceEvent::Acknowledged(id("T00"))), "{ev:?}");
    // Its scope is not finished: a notification is left to the catch-up.
    for scope in &touched {
        assert!(run(s.on_notify(&store, scope)).frames.is_empty());
    }
    // Page on until crew:C1 is finished, then a desk edit in it and one in open:D2.
    let mut events = Vec::new();
    let mut c1_done = false;
    while !c1_done {
        let reply = run(s.next_catch_up(&store)).expect("still catching up");
        for f in &reply.frames {
            if let ServerFrame::Batch(b) = decode_server(f).unwrap().frame {
                c1_done |= b.complete && b.scope.as_str() == "crew:C1";
            }
        }
        events.extend(deliver(&mut a, reply));
    }
    assert!(s.is_catching_up());
    let c1 = server_edit(&store, "T03", |t| {
        t.add_note(&disp(), T0 + 20, "late desk note").unwrap();
    });
    let d2 = server_edit(&store, "U3", |t| {
        t.add_note(&disp(), T0 + 20, "late note on U3").unwrap();
    });
    for scope in c1.iter().chain(&d2) {
        events.extend(deliver(&mut a, run(s.on_notify(&store, scope))));
    }
    while let Some(reply) = run(s.next_catch_up(&store)) {
        events.extend(deliver(&mut a, reply));
    }
    assert!(events.contains(&DeviceEvent::CaughtUp));
    assert_eq!(a.pending_count().unwrap(), 0);
    for n in [
        "T00", "T01", "T02", "T03", "T04", "T05", "U0", "U1", "U2", "U3",
    ] {
        same_as_server(&a, &store, n);
    }
}

/// A document in two of the device's scopes is sent whole once per catch-up, even when
/// the scopes' pages are sent in separate steps.
#[test]
fn a_document_in_two_scopes_is_sent_once_across_pages() {
    let store = MemServerStore::new();
    for i in 0..5 {
        seed(&store, &format!("T{i}"), "D1", None);
    }
    // The dispatcher of D1 who also follows open:D1: every task is in both scopes.
    let mut d = device(disp());
    let mut s = paged(&disp(), &["district:D1", "open:D1"], 2);
    let up = d.connect().unwrap();
    deliver(&mut d, run(s.on_frame(&store, &up[0], T0)));
    let mut snapshots: Vec<DocId> = Vec::new();
    while let Some(reply) = run(s.next_catch_up(&store)) {
        for f in &reply.frames {
            if let ServerFrame::Batch(b) = decode_server(f).unwrap().frame {
                for u in b.updates {
                    if let DocUpdate::Snapshot { doc, .. } = u {
                        snapshots.push(doc);
                    }
                }
            }
        }
        deliver(&mut d, reply);
    }
    snapshots.sort();
    assert_eq!(snapshots.len(), 5, "{snapshots:?}");
    snapshots.dedup();
    assert_eq!(snapshots.len(), 5);
    assert!(d.is_live());
}

/// A page is cut short once the documents it holds reach `max_page_bytes` (checked after
/// every 16 documents loaded): a step of a catch-up holds a bounded number of bytes
/// whatever the documents' sizes, and the device still gets everything, once.
#[test]
fn a_page_is_cut_at_its_byte_budget() {
    let store = MemServerStore::new();
    for i in 0..40 {
        seed(&store, &format!("T{i:02}"), "D1", Some("C1"));
    }
    let mut a = device(ali());
    let mut s = ServerSession::new(
        ali(),
        vec![sync_core::ScopeId::new("crew:C1").unwrap()],
        TaskScopes,
        ServerConfig {
            page: 100,
            max_page_bytes: 1,
            ..ServerConfig::default()
        },
    );
    let up = a.connect().unwrap();
    deliver(&mut a, run(s.on_frame(&store, &up[0], T0)));
    let mut sizes = Vec::new();
    while let Some(reply) = run(s.next_catch_up(&store)) {
        let mut docs = 0;
        for f in &reply.frames {
            if let ServerFrame::Batch(b) = decode_server(f).unwrap().frame {
                docs += b.updates.len();
            }
        }
        sizes.push(docs);
        deliver(&mut a, reply);
    }
    // Steps of 16, 16 and 8 documents (the last one completing the scope), then CaughtUp.
    assert_eq!(sizes, vec![16, 16, 8, 0]);
    assert_eq!(held(&a).len(), 40);
    for i in 0..40 {
        same_as_server(&a, &store, &format!("T{i:02}"));
    }
    assert!(a.is_live());
}

/// Catch-up pages shared through a [`pages::PageCache`] (issue 21 §4): the second phone of
/// a crew asking from the same cursor is sent the page the first one's session built; a
/// phone of another crew gets its own; and a commit to the scope after a page was kept
/// makes the next phone asking from that cursor get a new page with the commit in it.
#[test]
fn shared_catch_up_pages_are_built_once_and_superseded_by_the_next_commit() {
    use std::sync::Arc;
    use sync_core::session::pages::{PageCache, PageStats};
    let store = MemServerStore::new();
    seed(&store, "T1", "D1", Some("C1"));
    seed(&store, "T2", "D1", Some("C2"));
    seed(&store, "T3", "D1", Some("C1"));
    let cache = Arc::new(PageCache::new(16, 1 << 20));
    let shared = |a: &Actor, scope: &str| session(a, &[scope]).with_pages(Arc::clone(&cache));
    let ali2 = actor("ali", Role::Crew, Some("C1"), "phone-a2");
    let mut d1 = device(ali());
    let mut d2 = device(ali2.clone());
    connect(&mut d1, &mut shared(&ali(), "crew:C1"), &store);
    connect(&mut d2, &mut shared(&ali2, "crew:C1"), &store);
    assert_eq!(held(&d1), vec!["T1", "T3"]);
    assert_eq!(held(&d2), vec!["T1", "T3"]);
    assert_eq!(cache.stats(), PageStats { hits: 1, builds: 1 });
    let mut r = device(reza());
    connect(&mut r, &mut shared(&reza(), "crew:C2"), &store);
    assert_eq!(held(&r), vec!["T2"]);
    assert_eq!(cache.stats(), PageStats { hits: 1, builds: 2 });

    // Both phones of C1 away at the same cursor; a new task, then one phone is back.
    d1.disconnect();
    d2.disconnect();
    seed(&store, "T5", "D1", Some("C1"));
    connect(&mut d1, &mut shared(&ali(), "crew:C1"), &store);
    assert_eq!(held(&d1), vec!["T1", "T3", "T5"]);
    // A note on T1 and another task: the page kept for that cursor is stale.
    server_edit(&store, "T1", |t| {
        t.add_note(&disp(), T0 + 5, "bring cones").unwrap();
    });
    seed(&store, "T7", "D1", Some("C1"));
    connect(&mut d2, &mut shared(&ali2, "crew:C1"), &store);
    assert_eq!(held(&d2), vec!["T1", "T3", "T5", "T7"]);
    let notes = |d: &Device| {
        let b = d.store().get(&id("T1")).unwrap().unwrap();
        TaskDoc::load(&b).unwrap().view().unwrap().notes.len()
    };
    assert_eq!(notes(&d2), 1, "the note made after the page was kept");
    let s = cache.stats();
    assert_eq!((s.hits, s.builds), (1, 4), "{s:?}");
}

/// A long catch-up streamed page after page keeps only its first page in the cache: the
/// later pages start where this one session stopped, which no other phone asks for, and
/// keeping them would hold the whole catch-up in memory (the server's
/// `catch_up::a_large_catch_up_is_streamed_with_memory_bounded`). A second phone from the
/// same cursor still shares the first page, and both end with every task.
#[test]
fn a_streamed_catch_up_keeps_only_its_first_page() {
    use std::sync::Arc;
    use sync_core::session::pages::{PageCache, PageStats};
    let store = MemServerStore::new();
    for i in 0..10 {
        seed(&store, &format!("T{i:02}"), "D1", Some("C1"));
    }
    let cache = Arc::new(PageCache::new(64, 1 << 20));
    let mut a = device(ali());
    let mut s = paged(&ali(), &["crew:C1"], 2).with_pages(Arc::clone(&cache));
    connect(&mut a, &mut s, &store);
    assert_eq!(held(&a).len(), 10);
    assert_eq!(cache.stats(), PageStats { hits: 0, builds: 1 });
    let ali2 = actor("ali", Role::Crew, Some("C1"), "phone-a2");
    let mut b = device(ali2.clone());
    let mut s2 = paged(&ali2, &["crew:C1"], 2).with_pages(Arc::clone(&cache));
    connect(&mut b, &mut s2, &store);
    assert_eq!(held(&b).len(), 10);
    assert_eq!(cache.stats(), PageStats { hits: 1, builds: 1 });
    for i in 0..10 {
        same_as_server(&b, &store, &format!("T{i:02}"));
    }
}

//! The shared storage suite: every test runs against SQLite and PostgreSQL + PostGIS.

use std::collections::{BTreeMap, HashMap, HashSet};
use sync_core::session::{ChangesSince, ServerStore, ServerStoreError};
use sync_core::task::Status;
use tarmim_testing::on_both_backends;
use tarmim_testing::{Fixture, commit, doc, scope, view};

use server::storage::{Crew, DocStore, IdentityStore, NewUser, Service, Store};

async fn commit_load_round_trip(f: &Fixture) {
    let db = &f.db;
    assert_eq!(db.load(&doc("T-1")).await.unwrap(), None);
    let c = commit(
        "T-1",
        None,
        &["district:D1", "open:D1"],
        &["c1", "c2"],
        "phone-1",
    );
    let snapshot = c.snapshot.clone();
    let out = db.commit(c).await.unwrap();
    assert!(out.seq > 0);
    let names: Vec<&str> = out.touched.iter().map(|s| s.as_str()).collect();
    assert_eq!(names, ["district:D1", "open:D1"]);

    let stored = db.load(&doc("T-1")).await.unwrap().unwrap();
    assert_eq!(stored.seq, out.seq);
    assert_eq!(stored.bytes, snapshot);

    let many = db.load_many(&[doc("T-1"), doc("T-missing")]).await.unwrap();
    assert_eq!(many.len(), 1);
    assert_eq!(many[0].0, doc("T-1"));
    assert_eq!(many[0].1.seq, out.seq);

    let scopes = db.doc_scopes(&doc("T-1")).await.unwrap();
    assert_eq!(scopes, vec![scope("district:D1"), scope("open:D1")]);

    let row = db.task_row(&doc("T-1")).await.unwrap().unwrap();
    assert_eq!(row.seq, out.seq);
    assert!((row.lat - 35.7).abs() < 1e-9 && (row.lon - 51.4).abs() < 1e-9);
    assert_eq!(row.district.as_deref(), Some("D1"));
    assert_eq!(row.status, "queued");
    assert_eq!(row.priority, "high");
    assert_eq!(row.category, "pothole");
    assert_eq!(row.ack_due, Some(1_000));
    assert_eq!(row.complete_due, Some(2_000));
    assert_eq!(row.created_at, 500);
    assert_eq!(db.count_docs().await.unwrap(), 1);

    // An update replaces the snapshot and the projection.
    let mut c2 = commit(
        "T-1",
        Some(out.seq),
        &["district:D1", "crew:C1"],
        &["c3"],
        "dispatcher-1",
    );
    c2.view = view("T-1", Some("D1"), Status::Assigned, Some("C1"));
    let out2 = db.commit(c2).await.unwrap();
    assert!(out2.seq > out.seq);
    let row = db.task_row(&doc("T-1")).await.unwrap().unwrap();
    assert_eq!(row.status, "assigned");
    assert_eq!(row.assignee.as_deref(), Some("C1"));
    assert_eq!(row.seq, out2.seq);
}

async fn cas_conflict(f: &Fixture) {
    let db = &f.db;
    let s1 = db
        .commit(commit("T-1", None, &["district:D1"], &["a"], "p1"))
        .await
        .unwrap()
        .seq;
    // Creating it again: conflict.
    let e = db
        .commit(commit("T-1", None, &["district:D1"], &["b"], "p2"))
        .await
        .unwrap_err();
    assert_eq!(e, ServerStoreError::Conflict);
    // A stale base: conflict, nothing changes.
    let s2 = db
        .commit(commit("T-1", Some(s1), &["district:D1"], &["b"], "p2"))
        .await
        .unwrap()
        .seq;
    let e = db
        .commit(commit("T-1", Some(s1), &["district:D2"], &["c"], "p3"))
        .await
        .unwrap_err();
    assert_eq!(e, ServerStoreError::Conflict);
    // A base from the future (or an unknown document with a base): conflict.
    assert_eq!(
        db.commit(commit("T-1", Some(s2 + 100), &[], &["d"], "p3"))
            .await
            .unwrap_err(),
        ServerStoreError::Conflict
    );
    assert_eq!(
        db.commit(commit("T-2", Some(1), &[], &["d"], "p3"))
            .await
            .unwrap_err(),
        ServerStoreError::Conflict
    );
    assert_eq!(db.load(&doc("T-1")).await.unwrap().unwrap().seq, s2);
    assert_eq!(db.load(&doc("T-2")).await.unwrap(), None);
    assert_eq!(
        db.doc_scopes(&doc("T-1")).await.unwrap(),
        vec![scope("district:D1")]
    );
    match db.changes_since(&doc("T-1"), 0).await.unwrap() {
        ChangesSince::Changes(c) => assert_eq!(c.len(), 2),
        ChangesSince::Compacted => panic!("not compacted"),
    }
    assert!(
        db.scope_entries(&scope("district:D2"), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn monotonic_seq(f: &Fixture) {
    let db = &f.db;
    let mut last = 0;
    let mut bases: HashMap<String, u64> = HashMap::new();
    for i in 0..30 {
        let id = format!("T-{}", i % 7);
        let base = bases.get(&id).copied();
        let s = db
            .commit(commit(&id, base, &["district:D1"], &["x"], "p"))
            .await
            .unwrap()
            .seq;
        assert!(s > last, "seq {s} after {last}");
        last = s;
        bases.insert(id, s);
    }
}

async fn scope_entries_after_limit_order(f: &Fixture) {
    let db = &f.db;
    let mut seqs = Vec::new();
    for i in 0..10 {
        let sc: &[&str] = if i % 2 == 0 {
            &["district:A", "crew:X"]
        } else {
            &["district:A"]
        };
        seqs.push(
            db.commit(commit(&format!("T-{i}"), None, sc, &["c"], "p"))
                .await
                .unwrap()
                .seq,
        );
    }
    let a = scope("district:A");
    let first = db.scope_entries(&a, 0, 4).await.unwrap();
    assert_eq!(first.len(), 4);
    assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), seqs[..4]);
    assert!(first.iter().all(|e| e.present && e.entered_seq == e.seq));
    let rest = db.scope_entries(&a, first[3].seq, 100).await.unwrap();
    assert_eq!(rest.iter().map(|e| e.seq).collect::<Vec<_>>(), seqs[4..]);
    assert!(db.scope_entries(&a, seqs[9], 100).await.unwrap().is_empty());
    let x = db.scope_entries(&scope("crew:X"), 0, 100).await.unwrap();
    let xdocs: Vec<String> = x.iter().map(|e| e.doc.to_string()).collect();
    assert_eq!(xdocs, ["T-0", "T-2", "T-4", "T-6", "T-8"]);

    // Updating T-1 moves it to the end of the scope's sequence; entered_seq stays.
    let s = db
        .commit(commit("T-1", Some(seqs[1]), &["district:A"], &["c2"], "p"))
        .await
        .unwrap()
        .seq;
    let all = db.scope_entries(&a, 0, 100).await.unwrap();
    assert_eq!(all.len(), 10);
    let last = all.last().unwrap();
    assert_eq!(
        (last.doc.as_str(), last.seq, last.entered_seq),
        ("T-1", s, seqs[1])
    );
    let sorted: Vec<u64> = all.iter().map(|e| e.seq).collect();
    let mut check = sorted.clone();
    check.sort();
    assert_eq!(sorted, check);
}

async fn entering_and_leaving_scopes(f: &Fixture) {
    let db = &f.db;
    let s1 = db
        .commit(commit(
            "T-1",
            None,
            &["crew:C1", "district:D1"],
            &["a"],
            "p",
        ))
        .await
        .unwrap()
        .seq;
    // Reassigned from C1 to C2: C1 sees it leave, C2 sees it enter, D1 sees an update.
    let out = db
        .commit(commit(
            "T-1",
            Some(s1),
            &["crew:C2", "district:D1"],
            &["b"],
            "p",
        ))
        .await
        .unwrap();
    let s2 = out.seq;
    let touched: Vec<&str> = out.touched.iter().map(|s| s.as_str()).collect();
    assert_eq!(touched, ["crew:C1", "crew:C2", "district:D1"]);
    let c1 = db.scope_entries(&scope("crew:C1"), 0, 10).await.unwrap();
    assert_eq!(c1.len(), 1);
    assert!(!c1[0].present);
    assert_eq!(c1[0].seq, s2);
    let c2 = db.scope_entries(&scope("crew:C2"), 0, 10).await.unwrap();
    assert!(c2[0].present);
    assert_eq!((c2[0].seq, c2[0].entered_seq), (s2, s2));
    let d1 = db
        .scope_entries(&scope("district:D1"), 0, 10)
        .await
        .unwrap();
    assert_eq!(
        (d1[0].seq, d1[0].entered_seq, d1[0].present),
        (s2, s1, true)
    );
    assert_eq!(
        db.doc_scopes(&doc("T-1")).await.unwrap(),
        vec![scope("crew:C2"), scope("district:D1")]
    );
    // A reader of crew:C1 past s1 learns of the departure.
    let since = db.scope_entries(&scope("crew:C1"), s1, 10).await.unwrap();
    assert_eq!(since.len(), 1);
    assert!(!since[0].present);

    // Back to C1: it re-enters with a new entered_seq.
    let s3 = db
        .commit(commit(
            "T-1",
            Some(s2),
            &["crew:C1", "district:D1"],
            &["c"],
            "p",
        ))
        .await
        .unwrap()
        .seq;
    let c1 = db.scope_entries(&scope("crew:C1"), 0, 10).await.unwrap();
    assert_eq!(
        (c1[0].seq, c1[0].entered_seq, c1[0].present),
        (s3, s3, true)
    );
    let c2 = db.scope_entries(&scope("crew:C2"), 0, 10).await.unwrap();
    assert_eq!((c2[0].seq, c2[0].present), (s3, false));
    // Leaving every scope.
    let out = db
        .commit(commit("T-1", Some(s3), &[], &["d"], "p"))
        .await
        .unwrap();
    let touched: Vec<&str> = out.touched.iter().map(|s| s.as_str()).collect();
    assert_eq!(touched, ["crew:C1", "district:D1"]);
    assert!(db.doc_scopes(&doc("T-1")).await.unwrap().is_empty());
}

async fn changes_since_origin_and_compaction(f: &Fixture) {
    let db = &f.db;
    let s1 = db
        .commit(commit(
            "T-1",
            None,
            &["district:D1"],
            &["a1", "a2"],
            "phone-a",
        ))
        .await
        .unwrap()
        .seq;
    let s2 = db
        .commit(commit(
            "T-1",
            Some(s1),
            &["district:D1"],
            &["b1"],
            "phone-b",
        ))
        .await
        .unwrap()
        .seq;
    let s3 = db
        .commit(commit(
            "T-1",
            Some(s2),
            &["district:D1"],
            &["c1", "c2"],
            "server-1",
        ))
        .await
        .unwrap()
        .seq;
    let ChangesSince::Changes(all) = db.changes_since(&doc("T-1"), 0).await.unwrap() else {
        panic!("expected changes");
    };
    let got: Vec<(u64, &str, &[u8])> = all
        .iter()
        .map(|c| (c.seq, c.origin.as_str(), c.bytes.as_slice()))
        .collect();
    assert_eq!(
        got,
        vec![
            (s1, "phone-a", &b"a1"[..]),
            (s1, "phone-a", b"a2"),
            (s2, "phone-b", b"b1"),
            (s3, "server-1", b"c1"),
            (s3, "server-1", b"c2"),
        ]
    );
    let ChangesSince::Changes(tail) = db.changes_since(&doc("T-1"), s2).await.unwrap() else {
        panic!("expected changes");
    };
    assert_eq!(tail.len(), 2);
    assert!(tail.iter().all(|c| c.seq == s3));
    assert_eq!(
        db.changes_since(&doc("T-unknown"), 0).await.unwrap(),
        ChangesSince::Changes(vec![])
    );

    // Keep only the newest commit's changes.
    let out = db.compact(&doc("T-1"), 1).await.unwrap();
    assert_eq!(out.dropped, 3);
    assert_eq!(out.compacted_before, s2);
    assert_eq!(
        db.changes_since(&doc("T-1"), 0).await.unwrap(),
        ChangesSince::Compacted
    );
    assert_eq!(
        db.changes_since(&doc("T-1"), s1).await.unwrap(),
        ChangesSince::Compacted
    );
    let ChangesSince::Changes(tail) = db.changes_since(&doc("T-1"), s2).await.unwrap() else {
        panic!("a cursor at the marker is still served");
    };
    assert_eq!(tail.len(), 2);
    // Nothing more to drop; the marker stays.
    let again = db.compact(&doc("T-1"), 5).await.unwrap();
    assert_eq!((again.dropped, again.compacted_before), (0, s2));
    // New commits after compaction are served from the marker on.
    let s4 = db
        .commit(commit(
            "T-1",
            Some(s3),
            &["district:D1"],
            &["d1"],
            "phone-a",
        ))
        .await
        .unwrap()
        .seq;
    let ChangesSince::Changes(tail) = db.changes_since(&doc("T-1"), s3).await.unwrap() else {
        panic!("expected changes");
    };
    assert_eq!(tail.iter().map(|c| c.seq).collect::<Vec<_>>(), vec![s4]);
    // The snapshot is untouched by compaction.
    assert_eq!(db.load(&doc("T-1")).await.unwrap().unwrap().seq, s4);
    assert!(db.compact(&doc("T-nope"), 1).await.is_err());
}

async fn projection_in_same_transaction(f: &Fixture) {
    let db = &f.db;
    // The projection refuses an impossible point: the whole commit must fail.
    let mut bad = commit("T-bad", None, &["district:D1"], &["x"], "p");
    bad.view.point.lat = 1000.0;
    let e = db.commit(bad).await.unwrap_err();
    assert_ne!(e, ServerStoreError::Conflict);
    assert_eq!(db.load(&doc("T-bad")).await.unwrap(), None);
    assert_eq!(db.task_row(&doc("T-bad")).await.unwrap(), None);
    assert!(db.doc_scopes(&doc("T-bad")).await.unwrap().is_empty());
    assert!(
        db.scope_entries(&scope("district:D1"), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        db.changes_since(&doc("T-bad"), 0).await.unwrap(),
        ChangesSince::Changes(vec![])
    );

    // Same for an update of an existing task: nothing of it lands.
    let s1 = db
        .commit(commit("T-1", None, &["district:D1"], &["a"], "p"))
        .await
        .unwrap()
        .seq;
    let mut bad = commit("T-1", Some(s1), &["district:D2"], &["b"], "p");
    bad.view.point.lon = -500.0;
    bad.view.title = "changed".into();
    assert!(db.commit(bad).await.is_err());
    assert_eq!(db.load(&doc("T-1")).await.unwrap().unwrap().seq, s1);
    let row = db.task_row(&doc("T-1")).await.unwrap().unwrap();
    assert_eq!((row.seq, row.title.as_str()), (s1, "Pothole T-1"));
    assert_eq!(
        db.doc_scopes(&doc("T-1")).await.unwrap(),
        vec![scope("district:D1")]
    );
    let ChangesSince::Changes(c) = db.changes_since(&doc("T-1"), 0).await.unwrap() else {
        panic!()
    };
    assert_eq!(c.len(), 1);

    // A view of another task is refused outright.
    let mut wrong = commit("T-2", None, &[], &["a"], "p");
    wrong.view = view("T-3", None, Status::New, None);
    assert!(db.commit(wrong).await.is_err());
    assert_eq!(db.load(&doc("T-2")).await.unwrap(), None);
}

/// Many concurrent writers over overlapping scopes while readers follow per-scope cursors.
/// A reader must never skip a commit: every scope entry present at the end must have been
/// seen by every reader with exactly its final seq.
async fn cursor_safety_under_concurrency(f: &Fixture) {
    const WRITERS: usize = 6;
    const COMMITS: usize = 40;
    const READERS: usize = 3;
    let scopes: Vec<String> = [
        "district:D1",
        "district:D2",
        "crew:C1",
        "crew:C2",
        "crew:C3",
        "open:D1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));

    let mut readers = Vec::new();
    for r in 0..READERS {
        let db = f.db.clone();
        let scopes = scopes.clone();
        let done = done.clone();
        readers.push(tokio::spawn(async move {
            let mut cursors: BTreeMap<String, u64> =
                scopes.iter().map(|s| (s.clone(), 0)).collect();
            let mut seen: HashSet<(String, String, u64)> = HashSet::new();
            let mut rounds = 0u64;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                for s in &scopes {
                    loop {
                        let cur = cursors[s];
                        let batch = db.scope_entries(&scope(s), cur, 7 + r).await.unwrap();
                        for e in &batch {
                            assert!(e.seq > cur);
                            seen.insert((s.clone(), e.doc.to_string(), e.seq));
                        }
                        match batch.last() {
                            Some(last) => {
                                cursors.insert(s.clone(), last.seq);
                            }
                            None => break,
                        }
                    }
                }
                rounds += 1;
                if finished {
                    break;
                }
                tokio::task::yield_now().await;
            }
            (seen, rounds)
        }));
    }

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let db = f.db.clone();
        let scopes = scopes.clone();
        writers.push(tokio::spawn(async move {
            let mut bases: HashMap<String, u64> = HashMap::new();
            let mut n = 0usize;
            let mut conflicts = 0usize;
            while n < COMMITS {
                // Docs are shared between writers, so some commits conflict and retry.
                let id = format!("T-{}", (w * 7 + n * 3) % 25);
                let pick: Vec<&str> = scopes
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !(i + n + w).is_multiple_of(3))
                    .map(|(_, s)| s.as_str())
                    .collect();
                let base = match db.load(&doc(&id)).await.unwrap() {
                    Some(d) => Some(d.seq),
                    None => None,
                };
                let c = commit(&id, base, &pick, &["change"], &format!("writer-{w}"));
                match db.commit(c).await {
                    Ok(o) => {
                        bases.insert(id, o.seq);
                        n += 1;
                    }
                    Err(ServerStoreError::Conflict) => conflicts += 1,
                    Err(e) => panic!("commit failed: {e}"),
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for w in writers {
        conflicts += w.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);

    let mut final_entries: Vec<(String, String, u64)> = Vec::new();
    for s in &scopes {
        for e in f.db.scope_entries(&scope(s), 0, 10_000).await.unwrap() {
            final_entries.push((s.clone(), e.doc.to_string(), e.seq));
        }
    }
    assert!(final_entries.len() > 25);
    for r in readers {
        let (seen, rounds) = r.await.unwrap();
        assert!(rounds > 1, "the reader raced the writers");
        for e in &final_entries {
            assert!(
                seen.contains(e),
                "a reader skipped {e:?}: a commit became visible behind its cursor"
            );
        }
    }
    eprintln!(
        "cursor safety: {} commits, {} CAS conflicts retried, {} final entries",
        WRITERS * COMMITS,
        conflicts,
        final_entries.len()
    );
}

/// A real task document through the store: the snapshot loads back to the same view, and
/// the stored changes alone rebuild the document (what incremental sync will send).
async fn real_task_document_round_trip(f: &Fixture) {
    use sync_core::session::{DocCommit, ScopePolicy, TaskScopes};
    use sync_core::task::{EventKind, GeoPoint, NewTask, Priority, Sla, Source, TaskDoc};
    use sync_core::{Actor, DeviceId};
    let db = &f.db;
    let server = Actor::server(DeviceId::new("server-1").unwrap());
    let new = NewTask {
        id: doc("T-real"),
        source: Source::Citizen,
        category: "water_leak".into(),
        title: "Burst pipe".into(),
        description: "Water on the street".into(),
        point: GeoPoint {
            lat: 35.7,
            lon: 51.4,
            accuracy_m: None,
        },
        address: None,
        district: None,
        priority: Priority::Urgent,
        sla: Sla::default(),
        reopen_window_ms: 86_400_000,
    };
    let mut task = TaskDoc::create(new, &server, 1_000).unwrap();
    let first = task
        .automerge()
        .get_changes(&[])
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect::<Vec<_>>();
    let view = task.view().unwrap();
    let scopes = TaskScopes.scopes_of(&view);
    let s1 = db
        .commit(DocCommit {
            doc: doc("T-real"),
            base_seq: None,
            changes: first,
            snapshot: task.save(),
            view: view.clone(),
            scopes,
            origin: server.device.clone(),
        })
        .await
        .unwrap()
        .seq;
    let stored = db.load(&doc("T-real")).await.unwrap().unwrap();
    assert_eq!(TaskDoc::load(&stored.bytes).unwrap().view().unwrap(), view);
    assert_eq!(
        db.task_row(&doc("T-real")).await.unwrap().unwrap().status,
        "new"
    );

    // Route it: only the new change is committed.
    let heads = task.heads();
    task.append_event(
        &server,
        2_000,
        EventKind::Routed {
            district: "D7".into(),
        },
    )
    .unwrap();
    let second = task
        .automerge()
        .get_changes(&heads)
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect::<Vec<_>>();
    assert_eq!(second.len(), 1);
    let view = task.view().unwrap();
    let scopes = TaskScopes.scopes_of(&view);
    let out = db
        .commit(DocCommit {
            doc: doc("T-real"),
            base_seq: Some(s1),
            changes: second,
            snapshot: task.save(),
            view: view.clone(),
            scopes,
            origin: server.device.clone(),
        })
        .await
        .unwrap();
    let touched: Vec<&str> = out.touched.iter().map(|s| s.as_str()).collect();
    assert_eq!(touched, ["district:D7", "open:D7"]);
    let row = db.task_row(&doc("T-real")).await.unwrap().unwrap();
    assert_eq!(
        (row.status.as_str(), row.district.as_deref()),
        ("queued", Some("D7"))
    );
    assert_eq!(row.priority, "urgent");

    let ChangesSince::Changes(all) = db.changes_since(&doc("T-real"), 0).await.unwrap() else {
        panic!("expected changes")
    };
    let concatenated: Vec<u8> = all.iter().flat_map(|c| c.bytes.iter().copied()).collect();
    assert_eq!(TaskDoc::load(&concatenated).unwrap().view().unwrap(), view);
}

/// Snapshots for devices carry the task's phone index row, read from the projection, and
/// it is exactly the row a device would compute from the loaded document.
async fn indexed_snapshots_match_device_rows(f: &Fixture) {
    use sync_core::session::device::{index_entry, last_event_at};
    use sync_core::session::{DocCommit, ScopePolicy, TaskScopes};
    use sync_core::task::{EventKind, GeoPoint, NewTask, Priority, Sla, Source, TaskDoc, TaskView};
    use sync_core::{Actor, DeviceId, Role};
    let db = &f.db;
    let server = Actor::server(DeviceId::new("server-1").unwrap());
    let dispatcher = Actor {
        user: "disp".into(),
        role: Role::Dispatcher,
        crew: None,
        device: DeviceId::new("console-1").unwrap(),
    };
    let changes = |t: &mut TaskDoc, heads: &[automerge::ChangeHash]| {
        t.automerge()
            .get_changes(heads)
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect::<Vec<_>>()
    };
    let commit_of = |t: &mut TaskDoc, base: Option<u64>, changes: Vec<Vec<u8>>| {
        let view = t.view().unwrap();
        DocCommit {
            doc: view.id.clone(),
            base_seq: base,
            changes,
            snapshot: t.save(),
            scopes: TaskScopes.scopes_of(&view),
            view,
            origin: server.device.clone(),
        }
    };
    let expected = |bytes: &[u8]| {
        let v: TaskView = TaskDoc::load(bytes).unwrap().view().unwrap();
        index_entry(&v, last_event_at(&v))
    };
    let mut seqs = Vec::new();
    let mut docs = Vec::new();
    for i in 0..3 {
        let new = NewTask {
            id: doc(&format!("T-ix-{i}")),
            source: Source::Citizen,
            category: "pothole".into(),
            title: format!("Pothole {i}"),
            description: "deep".into(),
            point: GeoPoint {
                lat: 35.6912345678 + f64::from(i) * 0.001,
                lon: 51.3898765432,
                accuracy_m: Some(8.0),
            },
            address: None,
            district: Some("D1".into()),
            priority: if i == 0 {
                Priority::Urgent
            } else {
                Priority::Normal
            },
            sla: Sla::default(),
            reopen_window_ms: 86_400_000,
        };
        let mut t = TaskDoc::create(new, &dispatcher, 1_000).unwrap();
        if i > 0 {
            t.append_event(
                &dispatcher,
                5_000 + i64::from(i),
                EventKind::Assigned {
                    crew: "C1".into(),
                    reason: "nearest".into(),
                },
            )
            .unwrap();
        }
        let first = changes(&mut t, &[]);
        seqs.push(db.commit(commit_of(&mut t, None, first)).await.unwrap().seq);
        docs.push(t);
    }
    let ids: Vec<_> = (0..3).map(|i| doc(&format!("T-ix-{i}"))).collect();
    let mut asked = ids.clone();
    asked.push(doc("T-ix-missing"));
    let rows = db.load_many_indexed(&asked).await.unwrap();
    assert_eq!(rows.len(), 3);
    for (id, stored, index) in &rows {
        let index = index.as_ref().expect("an index row for every stored task");
        assert_eq!(index, &expected(&stored.bytes), "{id}");
        assert_eq!(&index.id, id);
    }
    let assigned = rows.iter().find(|r| r.0 == ids[1]).unwrap();
    let row = assigned.2.as_ref().unwrap();
    assert_eq!(row.status, "assigned");
    assert_eq!(row.assignee.as_deref(), Some("C1"));
    assert_eq!(row.updated_at, 5_001);

    // A later event moves the row with the snapshot.
    let t = &mut docs[1];
    let heads = t.heads();
    t.append_event(
        &dispatcher,
        9_000,
        EventKind::Assigned {
            crew: "C2".into(),
            reason: "rebalanced".into(),
        },
    )
    .unwrap();
    let more = changes(t, &heads);
    let out = db.commit(commit_of(t, Some(seqs[1]), more)).await.unwrap();
    let rows = db.load_many_indexed(&ids[1..2]).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1.seq, out.seq);
    let index = rows[0].2.clone().unwrap();
    assert_eq!(index, expected(&rows[0].1.bytes));
    assert_eq!(
        (index.assignee.as_deref(), index.updated_at),
        (Some("C2"), 9_000)
    );
}

/// `load_many` and `load_many_indexed` find documents anywhere in a long list of ids (SQLite
/// splits it into several `IN` lists; PostgreSQL binds one array).
async fn loading_many_ids(f: &Fixture) {
    let db = &f.db;
    let ids: Vec<_> = (0..1_200).map(|i| doc(&format!("T-{i:04}"))).collect();
    let stored = [0, 499, 500, 1_199];
    for &i in &stored {
        db.commit(commit(ids[i].as_str(), None, &["district:D1"], &["c"], "p"))
            .await
            .unwrap();
    }
    let want: Vec<_> = stored.iter().map(|&i| ids[i].clone()).collect();
    let mut got: Vec<_> = db
        .load_many(&ids)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    got.sort();
    assert_eq!(got, want);
    let mut got: Vec<_> = db
        .load_many_indexed(&ids)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _, index)| (id, index.is_some()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        want.iter().map(|id| (id.clone(), true)).collect::<Vec<_>>()
    );
    assert!(db.load_many(&[]).await.unwrap().is_empty());
}

/// Crews read back with their skills (none, one, several; replaced by an upsert), users
/// with their districts and crew's district, and services field by field.
async fn identity_rows_read_back(f: &Fixture) {
    let db = &f.db;
    let crew = |id: &str, skills: &[&str]| Crew {
        id: id.into(),
        name: format!("Crew {id}"),
        district: "D2".into(),
        skills: skills.iter().map(|s| (*s).to_owned()).collect(),
        contractor: (id == "C-b").then(|| "Pars".to_owned()),
        on_duty: id != "C-c",
    };
    let crews = [
        crew("C-c", &["tree", "pothole", "lamp"]),
        crew("C-a", &[]),
        crew("C-b", &["water_leak"]),
    ];
    for c in &crews {
        db.upsert_crew(c).await.unwrap();
    }
    let sorted = |mut c: Crew| {
        c.skills.sort();
        c
    };
    let mut want: Vec<Crew> = crews.iter().cloned().map(sorted).collect();
    want.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(db.crews().await.unwrap(), want);
    assert_eq!(db.crew("C-a").await.unwrap(), Some(want[0].clone()));
    assert_eq!(db.crew("C-c").await.unwrap(), Some(want[2].clone()));
    db.upsert_crew(&crew("C-c", &["snow"])).await.unwrap();
    assert_eq!(db.crew("C-c").await.unwrap().unwrap().skills, ["snow"]);

    db.create_user(&NewUser {
        contractor: None,
        id: "u-1".into(),
        login: "mina".into(),
        password_hash: "hash".into(),
        role: server::storage::identity::UserRole::Crew,
        crew: Some("C-b".into()),
        districts: vec!["D9".into(), "D3".into()],
    })
    .await
    .unwrap();
    let u = db.user_by_login("mina").await.unwrap().unwrap();
    assert_eq!(u.districts, ["D3", "D9"]);
    assert_eq!(
        (u.crew.as_deref(), u.crew_district.as_deref()),
        (Some("C-b"), Some("D2"))
    );
    assert!(!u.disabled);
    db.register_device(&tarmim_testing::dev("phone-1"), "u-1", 10)
        .await
        .unwrap();
    db.insert_token(b"hash-1", "u-1", &tarmim_testing::dev("phone-1"), 10, 20)
        .await
        .unwrap();
    let t = db.token(b"hash-1").await.unwrap().unwrap();
    assert_eq!(t.user, u);
    assert_eq!((t.expires_at, t.revoked_at), (20, None));
    assert!(db.revoke_token(b"hash-1", 15).await.unwrap());
    assert!(!db.revoke_token(b"hash-1", 16).await.unwrap());
    assert_eq!(
        db.token(b"hash-1").await.unwrap().unwrap().revoked_at,
        Some(15)
    );

    let services = [
        Service {
            code: "b".into(),
            name: "B".into(),
            description: "the second".into(),
            group: "roads".into(),
            default_priority: sync_core::task::Priority::Urgent,
            ack_minutes: Some(30),
            complete_minutes: None,
        },
        Service {
            code: "a".into(),
            name: "A".into(),
            description: String::new(),
            group: "water".into(),
            default_priority: sync_core::task::Priority::Low,
            ack_minutes: None,
            complete_minutes: Some(600),
        },
    ];
    for s in &services {
        db.upsert_service(s).await.unwrap();
    }
    assert_eq!(
        db.services().await.unwrap(),
        [services[1].clone(), services[0].clone()]
    );
}

async fn ping_and_backend(f: &Fixture) {
    f.db.ping().await.unwrap();
    f.db.migrate().await.unwrap();
    let expect = if f.config.uses_postgres() {
        server::storage::Backend::Postgres
    } else {
        server::storage::Backend::Sqlite
    };
    assert_eq!(f.db.backend(), expect);
}

on_both_backends!(
    commit_load_round_trip,
    cas_conflict,
    monotonic_seq,
    scope_entries_after_limit_order,
    entering_and_leaving_scopes,
    changes_since_origin_and_compaction,
    projection_in_same_transaction,
    cursor_safety_under_concurrency,
    real_task_document_round_trip,
    indexed_snapshots_match_device_rows,
    loading_many_ids,
    identity_rows_read_back,
    ping_and_backend,
);

/// The pool opens its warm connections at start, before any request, and each has
/// PostGIS's library loaded already: the first urgent report after a start or a quiet
/// spell pays for neither (BENCHMARKS.md, "The PostgreSQL tail profiled"). Whether a
/// backend has loaded the library is read from its memory map (`/proc/<pid>/maps`): the
/// tests run on PostgreSQL's machine, as root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pool_is_open_and_warm_before_the_first_request() {
    use server::storage::postgres::WARM_CONNECTIONS;
    let f = Fixture::postgres().await;
    let server::storage::Db::Postgres(pg) = &f.db else {
        unreachable!("a PostgreSQL fixture")
    };
    let pool = pg.pool();
    let wanted = usize::try_from(WARM_CONNECTIONS).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while pool.num_idle() < wanted {
        assert!(
            std::time::Instant::now() < deadline,
            "the pool opened {} of its {wanted} warm connections without being asked",
            pool.num_idle()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let opened = pool.size();
    let mut held = Vec::new();
    for _ in 0..wanted {
        held.push(pool.acquire().await.unwrap());
    }
    assert_eq!(pool.size(), opened, "the warm connections were handed out");
    for conn in &mut held {
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
            .expect("the PostgreSQL backend's memory map (tests run on its machine, as root)");
        assert!(
            maps.contains("postgis"),
            "backend {pid} was handed out without PostGIS loaded"
        );
    }
    drop(held);
    f.close().await;
}

//! Unit tests of the store: every part of a batch, ordering, reopening, and damaged files.

use super::*;
use std::path::Path;

fn id(s: &str) -> DocId {
    DocId::new(s).unwrap()
}

fn row(doc: &str, title: &str) -> IndexEntry {
    IndexEntry {
        id: id(doc),
        title: title.into(),
        status: "assigned".into(),
        priority: "urgent".into(),
        category: "pothole".into(),
        district: Some("D7".into()),
        assignee: Some("C12".into()),
        lat: 31.7683,
        lon: 35.2137,
        updated_at: 1_700_000_000_000,
    }
}

fn change(n: u8) -> PendingChange {
    PendingChange {
        hash: [n; 32],
        bytes: vec![n; usize::from(n) + 1],
    }
}

fn put(doc: &str, bytes: &[u8]) -> WriteBatch {
    WriteBatch {
        put_docs: vec![(id(doc), bytes.to_vec(), row(doc, doc))],
        ..WriteBatch::default()
    }
}

/// A store of `n` documents, closed cleanly; returns the file's bytes.
fn filled(dir: &Path, n: usize) -> Vec<u8> {
    let store = Store::open(dir).unwrap();
    let mut batch = WriteBatch::default();
    for i in 0..n {
        let doc = format!("T-{i:04}");
        batch
            .put_docs
            .push((id(&doc), vec![7; 3000], row(&doc, "filled")));
    }
    store.write(batch).unwrap();
    drop(store);
    std::fs::read(dir.join(FILE_NAME)).unwrap()
}

#[test]
fn new_store_is_empty_and_creates_its_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a").join("b");
    let store = Store::open(&dir).unwrap();
    assert!(dir.join(FILE_NAME).is_file());
    assert!(store.is_empty().unwrap());
    assert_eq!(store.len().unwrap(), 0);
    assert!(store.list().unwrap().is_empty());
    assert!(store.all_pending().unwrap().is_empty());
    assert!(store.cursors().unwrap().is_empty());
    assert_eq!(store.get(&id("T-1")).unwrap(), None);
    assert_eq!(store.meta("x").unwrap(), None);
}

#[test]
fn every_part_of_a_batch_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let mut odd = row("T-2", "second");
    odd.district = None;
    odd.assignee = None;
    odd.lat = -0.0;
    store
        .write(WriteBatch {
            put_docs: vec![
                (id("T-1"), b"one".to_vec(), row("T-1", "first")),
                (id("T-2"), Vec::new(), odd.clone()),
            ],
            add_pending: vec![(id("T-1"), change(1)), (id("T-2"), change(2))],
            cursors: vec![("crew:C12".into(), 41), ("district:D7".into(), 9)],
            meta: vec![
                ("device".into(), b"phone-1".to_vec()),
                ("empty".into(), vec![]),
            ],
            ..WriteBatch::default()
        })
        .unwrap();

    assert_eq!(store.len().unwrap(), 2);
    assert!(!store.is_empty().unwrap());
    assert_eq!(store.get(&id("T-1")).unwrap(), Some(b"one".to_vec()));
    assert_eq!(store.get(&id("T-2")).unwrap(), Some(Vec::new()));
    assert_eq!(store.list().unwrap(), vec![row("T-1", "first"), odd]);
    assert_eq!(store.pending(&id("T-1")).unwrap(), vec![change(1)]);
    assert_eq!(
        store.all_pending().unwrap(),
        vec![(id("T-1"), vec![change(1)]), (id("T-2"), vec![change(2)])]
    );
    let cursors = store.cursors().unwrap();
    assert_eq!(cursors.len(), 2);
    assert_eq!(cursors["crew:C12"], 41);
    assert_eq!(cursors["district:D7"], 9);
    assert_eq!(store.meta("device").unwrap(), Some(b"phone-1".to_vec()));
    assert_eq!(store.meta("empty").unwrap(), Some(vec![]));
}

#[test]
fn put_overwrites_and_the_key_is_the_rows_id() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    store.write(put("T-1", b"v1")).unwrap();
    // A row naming another id is stored under the document it was written with.
    store
        .write(WriteBatch {
            put_docs: vec![(id("T-1"), b"v2".to_vec(), row("T-9", "renamed"))],
            ..WriteBatch::default()
        })
        .unwrap();
    assert_eq!(store.get(&id("T-1")).unwrap(), Some(b"v2".to_vec()));
    assert_eq!(store.list().unwrap(), vec![row("T-1", "renamed")]);
    assert_eq!(store.len().unwrap(), 1);
}

#[test]
fn list_is_in_id_order() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    for doc in ["b", "a-2", "c", "a", "a-10"] {
        store.write(put(doc, b"x")).unwrap();
    }
    let ids: Vec<String> = store
        .list()
        .unwrap()
        .into_iter()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(ids, ["a", "a-10", "a-2", "b", "c"]);
}

#[test]
fn pending_order_is_kept_per_document() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    // Ids where one is a prefix of the other must not mix their changes.
    let (a, ab) = (id("T-1"), id("T-10"));
    let order = [9u8, 3, 200, 1, 50, 4, 7, 255, 0, 12];
    for chunk in order.chunks(3) {
        let mut batch = WriteBatch::default();
        for &n in chunk {
            batch.add_pending.push((a.clone(), change(n)));
            batch
                .add_pending
                .push((ab.clone(), change(n.wrapping_add(1))));
        }
        store.write(batch).unwrap();
    }
    let want: Vec<_> = order.iter().map(|&n| change(n)).collect();
    assert_eq!(store.pending(&a).unwrap(), want);
    let want_ab: Vec<_> = order.iter().map(|&n| change(n.wrapping_add(1))).collect();
    assert_eq!(store.pending(&ab).unwrap(), want_ab);
    assert_eq!(
        store.all_pending().unwrap(),
        vec![(a.clone(), want), (ab, want_ab)]
    );
    assert!(store.pending(&id("T")).unwrap().is_empty());
}

#[test]
fn remove_pending_by_hash_keeps_the_rest_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let doc = id("T-1");
    store
        .write(WriteBatch {
            add_pending: (1..=5).map(|n| (doc.clone(), change(n))).collect(),
            ..WriteBatch::default()
        })
        .unwrap();
    store
        .write(WriteBatch {
            remove_pending: vec![
                (doc.clone(), [2; 32]),
                (doc.clone(), [5; 32]),
                (doc.clone(), [99; 32]), // unknown hash: nothing to do
                (id("T-2"), [1; 32]),    // wrong document: nothing to do
            ],
            ..WriteBatch::default()
        })
        .unwrap();
    assert_eq!(
        store.pending(&doc).unwrap(),
        vec![change(1), change(3), change(4)]
    );
    // New changes go after the remaining ones, even though the last one was removed.
    store
        .write(WriteBatch {
            add_pending: vec![(doc.clone(), change(6))],
            ..WriteBatch::default()
        })
        .unwrap();
    assert_eq!(
        store.pending(&doc).unwrap(),
        vec![change(1), change(3), change(4), change(6)]
    );
}

#[test]
fn add_and_acknowledge_in_one_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let doc = id("T-1");
    // remove_pending runs after add_pending.
    store
        .write(WriteBatch {
            add_pending: vec![(doc.clone(), change(1)), (doc.clone(), change(2))],
            remove_pending: vec![(doc.clone(), [1; 32])],
            ..WriteBatch::default()
        })
        .unwrap();
    assert_eq!(store.pending(&doc).unwrap(), vec![change(2)]);
}

#[test]
fn clear_pending_forgets_one_documents_changes_then_adds() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let (a, b) = (id("T-1"), id("T-2"));
    store
        .write(WriteBatch {
            add_pending: vec![
                (a.clone(), change(1)),
                (a.clone(), change(2)),
                (b.clone(), change(3)),
            ],
            ..WriteBatch::default()
        })
        .unwrap();
    // A reset from the server: clear, then new form and a fresh change, in one batch.
    store
        .write(WriteBatch {
            clear_pending: vec![a.clone()],
            put_docs: vec![(a.clone(), b"server copy".to_vec(), row("T-1", "reset"))],
            add_pending: vec![(a.clone(), change(4))],
            ..WriteBatch::default()
        })
        .unwrap();
    assert_eq!(store.pending(&a).unwrap(), vec![change(4)]);
    assert_eq!(store.pending(&b).unwrap(), vec![change(3)]);
    assert_eq!(store.get(&a).unwrap(), Some(b"server copy".to_vec()));
}

#[test]
fn delete_removes_document_index_row_and_pending() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let (a, b) = (id("T-1"), id("T-2"));
    let mut batch = put("T-1", b"a");
    batch
        .put_docs
        .push((b.clone(), b"b".to_vec(), row("T-2", "b")));
    batch.add_pending = vec![(a.clone(), change(1)), (b.clone(), change(2))];
    store.write(batch).unwrap();

    store
        .write(WriteBatch {
            delete_docs: vec![a.clone(), id("T-404")],
            ..WriteBatch::default()
        })
        .unwrap();
    assert_eq!(store.get(&a).unwrap(), None);
    assert!(store.pending(&a).unwrap().is_empty());
    assert_eq!(store.list().unwrap(), vec![row("T-2", "b")]);
    assert_eq!(store.len().unwrap(), 1);
    assert_eq!(store.all_pending().unwrap(), vec![(b, vec![change(2)])]);

    // Deletes run before puts: delete-and-put in one batch leaves the new document.
    let mut again = put("T-1", b"new");
    again.delete_docs.push(a.clone());
    store.write(again).unwrap();
    assert_eq!(store.get(&a).unwrap(), Some(b"new".to_vec()));
}

#[test]
fn cursors_and_meta_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let set = |cursor: u64, meta: &[u8]| WriteBatch {
        cursors: vec![("crew:C12".into(), cursor)],
        meta: vec![("format".into(), meta.to_vec())],
        ..WriteBatch::default()
    };
    store.write(set(5, b"a")).unwrap();
    store.write(set(3, b"bb")).unwrap();
    assert_eq!(store.cursors().unwrap()["crew:C12"], 3);
    // A caller's "format" setting is not the store's format version.
    assert_eq!(store.meta("format").unwrap(), Some(b"bb".to_vec()));
    drop(store);
    let store = Store::open(tmp.path()).unwrap();
    assert_eq!(store.meta("format").unwrap(), Some(b"bb".to_vec()));
}

#[test]
fn lost_scopes_cursors_and_outbox_entries_can_be_forgotten() {
    use crate::outbox::{OutboxEntry, UploadState};
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let entry = |hash: &str| OutboxEntry {
        hash: hash.into(),
        size: 3,
        mime: "image/jpeg".into(),
        tasks: vec![id("T-1")],
        added_at: 0,
        confirmed: 3,
        attempts: 1,
        next_attempt_at: 0,
        state: UploadState::Uploaded,
        last_error: None,
    };
    store
        .write(WriteBatch {
            cursors: vec![("crew:C12".into(), 4), ("open:D7".into(), 9)],
            put_blobs: vec![("a".into(), b"abc".to_vec()), ("b".into(), b"def".to_vec())],
            put_outbox: vec![entry("a"), entry("b")],
            ..WriteBatch::default()
        })
        .unwrap();
    store
        .write(WriteBatch {
            delete_cursors: vec!["open:D7".into(), "never:held".into()],
            delete_blobs: vec!["a".into()],
            delete_outbox: vec!["a".into()],
            ..WriteBatch::default()
        })
        .unwrap();
    drop(store);
    let store = Store::open(tmp.path()).unwrap();
    assert_eq!(
        store.cursors().unwrap().into_keys().collect::<Vec<_>>(),
        vec!["crew:C12"]
    );
    assert!(!store.has_blob("a").unwrap());
    assert_eq!(store.outbox_entry("a").unwrap(), None);
    assert!(store.has_blob("b").unwrap());
    assert_eq!(store.outbox_entry("b").unwrap(), Some(entry("b")));
}

#[test]
fn reopen_after_drop_keeps_everything() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let store = Store::open(tmp.path()).unwrap();
        let mut batch = put("T-1", &[1; 70_000]);
        batch.add_pending = vec![(id("T-1"), change(1)), (id("T-1"), change(2))];
        batch.cursors = vec![("crew:C12".into(), 77)];
        batch.meta = vec![("k".into(), b"v".to_vec())];
        store.write(batch).unwrap();
    }
    let store = Store::open(tmp.path()).unwrap();
    assert_eq!(store.get(&id("T-1")).unwrap(), Some(vec![1; 70_000]));
    assert_eq!(store.list().unwrap(), vec![row("T-1", "T-1")]);
    assert_eq!(
        store.pending(&id("T-1")).unwrap(),
        vec![change(1), change(2)]
    );
    assert_eq!(store.cursors().unwrap()["crew:C12"], 77);
    assert_eq!(store.meta("k").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn second_open_is_locked() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    assert!(matches!(Store::open(tmp.path()), Err(StoreError::Locked)));
    drop(store);
    Store::open(tmp.path()).unwrap();
}

#[test]
fn garbage_file_is_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join(FILE_NAME);
    for garbage in [
        b"hello, I am not a database".repeat(1000),
        vec![0; 100_000],
        vec![0xff; 3],
    ] {
        std::fs::write(&file, &garbage).unwrap();
        match Store::open(tmp.path()) {
            Err(StoreError::Corrupt(msg)) => assert!(msg.contains("not a Tarmim store"), "{msg}"),
            other => panic!("expected Corrupt, got {other:?}"),
        }
        // The damaged file is left alone for the caller to inspect or remove.
        assert_eq!(std::fs::read(&file).unwrap(), garbage);
    }
}

#[test]
fn truncated_file_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let full = filled(tmp.path(), 200);
    let file = tmp.path().join(FILE_NAME);
    // Inside the magic number, inside the header, at page boundaries, and one byte short.
    for len in [
        5,
        9,
        100,
        4096,
        8192,
        full.len() / 2,
        full.len() - 4096,
        full.len() - 1,
    ] {
        std::fs::write(&file, &full[..len]).unwrap();
        match Store::open(tmp.path()) {
            Err(StoreError::Corrupt(_)) => {}
            other => panic!("truncated to {len}: expected Corrupt, got {other:?}"),
        }
    }
    // Put back, it opens again with everything.
    std::fs::write(&file, &full).unwrap();
    assert_eq!(Store::open(tmp.path()).unwrap().len().unwrap(), 200);
}

#[test]
fn open_verified_reports_damage_inside_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let full = filled(tmp.path(), 200);
    let file = tmp.path().join(FILE_NAME);
    // Damage the middle of the file, where the documents' pages are. A plain open trusts a
    // cleanly closed file and may return wrong bytes or panic inside redb; the verified open
    // checks every page's checksum first.
    let mut bad = full.clone();
    let mid = full.len() / 2;
    for b in &mut bad[mid..mid + 2000] {
        *b ^= 0x55;
    }
    std::fs::write(&file, &bad).unwrap();
    assert!(matches!(
        Store::open_verified(tmp.path()),
        Err(StoreError::Corrupt(_))
    ));
    // An intact store passes the verified open.
    std::fs::write(&file, &full).unwrap();
    let store = Store::open_verified(tmp.path()).unwrap();
    assert_eq!(store.len().unwrap(), 200);
}

#[test]
fn newer_format_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    drop(Store::open(tmp.path()).unwrap());
    {
        let db = Database::create(tmp.path().join(FILE_NAME)).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(tables::STORE_INFO)
            .unwrap()
            .insert(tables::FORMAT_KEY, FORMAT + 1)
            .unwrap();
        txn.commit().unwrap();
    }
    match Store::open(tmp.path()) {
        Err(StoreError::TooNew { found, supported }) => {
            assert_eq!((found, supported), (FORMAT + 1, FORMAT));
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
}

#[test]
fn a_foreign_redb_file_is_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let db = Database::create(tmp.path().join(FILE_NAME)).unwrap();
        let txn = db.begin_write().unwrap();
        // Same table name, other types: someone else's database.
        let other: redb::TableDefinition<u64, u64> = redb::TableDefinition::new("store_info");
        txn.open_table(other).unwrap().insert(1, 2).unwrap();
        txn.commit().unwrap();
    }
    assert!(matches!(
        Store::open(tmp.path()),
        Err(StoreError::Corrupt(_))
    ));
}

#[test]
fn store_is_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
}

#[test]
fn a_format_1_store_gains_the_photo_tables() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let store = Store::open(tmp.path()).unwrap();
        store.write(put("T1", b"doc")).unwrap();
    }
    // Make it what an app before photos wrote: format 1, no blob or outbox table.
    {
        let db = Database::create(tmp.path().join(FILE_NAME)).unwrap();
        let txn = db.begin_write().unwrap();
        txn.delete_table(tables::BLOBS).unwrap();
        txn.delete_table(tables::OUTBOX).unwrap();
        txn.open_table(tables::STORE_INFO)
            .unwrap()
            .insert(tables::FORMAT_KEY, tables::FORMAT_WITHOUT_PHOTOS)
            .unwrap();
        txn.commit().unwrap();
    }
    let store = Store::open(tmp.path()).unwrap();
    assert_eq!(store.get(&id("T1")).unwrap().unwrap(), b"doc");
    assert!(store.outbox().unwrap().is_empty());
    assert!(!store.has_blob(&"0".repeat(64)).unwrap());
    drop(store);
    let db = Database::create(tmp.path().join(FILE_NAME)).unwrap();
    let txn = db.begin_read().unwrap();
    let info = txn.open_table(tables::STORE_INFO).unwrap();
    assert_eq!(
        info.get(tables::FORMAT_KEY).unwrap().unwrap().value(),
        FORMAT
    );
}

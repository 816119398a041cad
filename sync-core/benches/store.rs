//! Benchmark of the phone store against design §10: "phone store with 10,000 tasks opens in
//! under 1 s, lists in under 100 ms".
//!
//! Run with `cargo bench -p sync-core --bench store`. Builds a store of 10,000 documents of
//! 2-4 KiB (roughly a saved automerge task with a few events), then times: opening it after a
//! clean close, opening it after the app was killed (a child process that writes and exits
//! without closing), `list()`, `get()` of one document, a single-document durable write, and
//! the full-checksum `open_verified()`. Prints a table.
//!
//! The OS page cache is warm throughout (the file was just written); a phone opening the store
//! after a reboot reads the index pages from flash on top of these figures.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use sync_core::DocId;
use sync_core::store::{IndexEntry, PendingChange, Store, WriteBatch};

const DOCS: usize = 10_000;
const BATCH: usize = 500;
/// Set in the child that simulates an app killed after a write.
const CHILD_ENV: &str = "TARMIM_STORE_BENCH_CHILD_DIR";

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn doc_id(i: usize) -> DocId {
    DocId::new(format!("T-{i:06}")).unwrap()
}

/// 2-4 KiB of incompressible bytes: automerge's saved form is already compressed.
fn doc_bytes(i: usize, version: u64) -> Vec<u8> {
    let mut x = splitmix(i as u64 ^ (version << 32));
    let len = 2048 + (x % 2049) as usize;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x = splitmix(x);
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn row(i: usize, version: u64) -> IndexEntry {
    IndexEntry {
        id: doc_id(i),
        title: format!("Pothole on Derech Hevron {}, lane {}", i % 400, i % 3),
        status: ["new", "assigned", "in_progress", "done"][i % 4].into(),
        priority: ["low", "normal", "urgent"][i % 3].into(),
        category: "pothole".into(),
        district: Some(format!("D{}", i % 12)),
        assignee: i.is_multiple_of(2).then(|| format!("C{}", i % 40)),
        lat: 31.7 + (i % 1000) as f64 / 10_000.0,
        lon: 35.2 + (i % 777) as f64 / 10_000.0,
        updated_at: 1_700_000_000_000 + version as i64,
    }
}

fn one_doc_write(i: usize, version: u64) -> WriteBatch {
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&version.to_le_bytes());
    WriteBatch {
        put_docs: vec![(doc_id(i), doc_bytes(i, version), row(i, version))],
        add_pending: vec![(
            doc_id(i),
            PendingChange {
                hash,
                bytes: vec![1; 200],
            },
        )],
        cursors: vec![("crew:C12".into(), version)],
        ..WriteBatch::default()
    }
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn time<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed(), out)
}

/// Writes one document and exits without closing the store, as an app killed by the OS would
/// (no destructors run), so the next open has to recover.
fn child(dir: &Path) -> ! {
    let store = Store::open(dir).unwrap();
    store.write(one_doc_write(1, 1_000_000)).unwrap();
    std::process::exit(0);
}

fn killed_open(dir: &Path) -> Duration {
    let status = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, dir)
        .status()
        .unwrap();
    assert!(status.success());
    let (took, store) = time(|| Store::open(dir).unwrap());
    assert_eq!(store.len().unwrap(), DOCS as u64);
    took
}

fn main() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&dir));
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let mut figures: Vec<(String, String)> = Vec::new();
    let mut note = |what: &str, value: String| {
        println!("  {what:<48} {value}");
        figures.push((what.into(), value));
    };
    let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1000.0);

    println!("phone store benchmark (design §10: open < 1 s, list < 100 ms at 10,000 tasks)");
    println!("command: cargo bench -p sync-core --bench store");

    // Fill.
    let store = Store::open(&dir).unwrap();
    let (fill, bytes) = time(|| {
        let mut bytes = 0;
        for start in (0..DOCS).step_by(BATCH) {
            let mut batch = WriteBatch::default();
            for i in start..start + BATCH {
                let doc = doc_bytes(i, 0);
                bytes += doc.len();
                batch.put_docs.push((doc_id(i), doc, row(i, 0)));
            }
            store.write(batch).unwrap();
        }
        bytes
    });
    drop(store);
    let file_len = std::fs::metadata(dir.join("tarmim.redb")).unwrap().len();
    note(
        &format!("fill {DOCS} docs in batches of {BATCH}"),
        format!(
            "{} ({:.1} MiB of documents, file {:.1} MiB)",
            ms(fill),
            bytes as f64 / 1048576.0,
            file_len as f64 / 1048576.0
        ),
    );

    // Open after a clean close.
    let opens: Vec<Duration> = (0..10)
        .map(|_| time(|| Store::open(&dir).unwrap()).0)
        .collect();
    note("open after clean close (median of 10)", ms(median(opens)));

    // Open after the app was killed.
    let kills: Vec<Duration> = (0..5).map(|_| killed_open(&dir)).collect();
    note(
        "open after the app was killed (median of 5)",
        ms(median(kills)),
    );

    // List: the first one after an open (redb's cache empty), then warm.
    let store = Store::open(&dir).unwrap();
    let (cold, rows) = time(|| store.list().unwrap());
    assert_eq!(rows.len(), DOCS);
    note("list() 10,000 rows, first after open", ms(cold));
    let lists: Vec<Duration> = (0..20).map(|_| time(|| store.list().unwrap()).0).collect();
    note("list() 10,000 rows (median of 20)", ms(median(lists)));

    // Get one document.
    let mut x = 42;
    let gets: Vec<Duration> = (0..1000)
        .map(|_| {
            x = splitmix(x);
            let id = doc_id(x as usize % DOCS);
            let (took, doc) = time(|| store.get(&id).unwrap());
            assert!(doc.is_some());
            took
        })
        .collect();
    note("get() one document (median of 1000)", ms(median(gets)));

    // Single-document durable write.
    let writes: Vec<Duration> = (0..100u64)
        .map(|v| {
            let batch = one_doc_write((v as usize * 97) % DOCS, v + 1);
            time(|| store.write(batch).unwrap()).0
        })
        .collect();
    let mut sorted = writes.clone();
    sorted.sort();
    note(
        "write() one document, durable (median of 100)",
        format!("{} (p90 {})", ms(median(writes)), ms(sorted[89])),
    );
    drop(store);

    // Full verification, for when the store is suspected damaged.
    let (verified, store) = time(|| Store::open_verified(&dir).unwrap());
    note("open_verified() (checksums whole file)", ms(verified));
    drop(store);
}

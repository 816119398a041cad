//! Crash test of the phone store: a child process writes batches as fast as it can and is
//! killed with SIGKILL at random moments, over and over on the same store directory; after
//! each kill the store must open, hold every batch the child reported as written, hold no
//! half of any batch, and hold no torn document.
//!
//! The parent test (`store_survives_being_killed`) re-executes this test binary running only
//! `crash_child`, which does nothing unless `TARMIM_STORE_CHILD_DIR` is set. Before each write
//! the child prints the whole batch (`@@ BEGIN ...`), after it returns Ok it prints `@@ OK n`,
//! so the parent knows exactly which state the store may be in: the one after the last
//! acknowledged batch, or the one after the batch that was in flight when it was killed.
//!
//! `TARMIM_STORE_CRASH_SEED` replays a seed (printed by every run); `TARMIM_STORE_CRASH_ROUNDS`
//! changes the number of kills (default 50). The kill timing itself depends on the machine, so
//! a seed reproduces the batches, not the exact interleaving.
//!
//! SIGKILL tests the process dying, not the power failing: the kernel still writes out what the
//! process wrote. Power loss safety rests on redb's fsync ordering, not tested here.

#![allow(clippy::unwrap_used)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use sync_core::DocId;
use sync_core::store::{IndexEntry, PendingChange, Store, WriteBatch};

const CHILD_DIR_ENV: &str = "TARMIM_STORE_CHILD_DIR";
const CHILD_SEED_ENV: &str = "TARMIM_STORE_CHILD_SEED";
const CHILD_TEST: &str = "crash_child";
/// Set in the child of `creation_survives_being_killed`: it only creates the store.
const CHILD_CREATE_ONLY_ENV: &str = "TARMIM_STORE_CHILD_CREATE_ONLY";
/// Marks the child's protocol lines, which share stdout with the test harness's own output.
const TAG: &str = "@@ ";
/// The documents the child works on: few enough that they are rewritten, deleted and
/// recreated many times.
const DOCS: u32 = 40;
const CURSOR_SCOPE: &str = "crew:C12";
const SECOND_SCOPE: &str = "district:D7";
const META_N: &str = "last_batch";

// ---------------------------------------------------------------------------------------------
// Deterministic content: everything written is derived from (document, batch number), so the
// parent can recompute and compare it byte for byte.

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn doc_name(i: u32) -> String {
    format!("D-{i:02}")
}

fn seed_of(doc: &str, n: u64) -> u64 {
    doc.bytes()
        .fold(splitmix(n), |h, b| splitmix(h ^ u64::from(b)))
}

/// A document's saved bytes at version `n`: 100 B to 64 KiB, starting with `n`.
fn doc_bytes(doc: &str, n: u64) -> Vec<u8> {
    let seed = seed_of(doc, n);
    let len = 100 + (seed % (64 * 1024 - 100 + 1)) as usize;
    let mut out = Vec::with_capacity(len + 8);
    out.extend_from_slice(&n.to_le_bytes());
    let mut x = seed;
    while out.len() < len {
        x = splitmix(x);
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn index_row(doc: &str, n: u64) -> IndexEntry {
    IndexEntry {
        id: DocId::new(doc).unwrap(),
        title: format!("{doc} v{n}"),
        status: if n.is_multiple_of(2) {
            "assigned"
        } else {
            "in_progress"
        }
        .into(),
        priority: "normal".into(),
        category: "pothole".into(),
        district: Some("D7".into()),
        assignee: n.is_multiple_of(3).then(|| "C12".into()),
        lat: 31.0 + (n % 1000) as f64 / 1000.0,
        lon: 35.0,
        updated_at: n as i64,
    }
}

/// The pending change a batch `n` adds for `doc`.
fn pending_change(doc: &str, n: u64) -> PendingChange {
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&n.to_le_bytes());
    hash[8..16].copy_from_slice(&seed_of(doc, 0).to_le_bytes());
    PendingChange {
        hash,
        bytes: format!("change {doc}@{n}").into_bytes(),
    }
}

fn change_number(change: &PendingChange) -> u64 {
    u64::from_le_bytes(change.hash[..8].try_into().unwrap())
}

// ---------------------------------------------------------------------------------------------
// A batch as the child describes it, and the state it leads to.

#[derive(Debug, Clone, Default, PartialEq)]
struct Plan {
    n: u64,
    puts: Vec<String>,
    deletes: Vec<String>,
    clears: Vec<String>,
    /// (document, batch number of the change acknowledged)
    acks: Vec<(String, u64)>,
}

impl Plan {
    fn to_line(&self) -> String {
        let acks: Vec<String> = self.acks.iter().map(|(d, n)| format!("{d}:{n}")).collect();
        format!(
            "BEGIN {} put={} del={} clear={} ack={}",
            self.n,
            self.puts.join(","),
            self.deletes.join(","),
            self.clears.join(","),
            acks.join(",")
        )
    }

    fn parse(line: &str) -> Plan {
        let mut words = line.split(' ');
        assert_eq!(words.next(), Some("BEGIN"), "{line}");
        let n = words.next().unwrap().parse().unwrap();
        let mut plan = Plan {
            n,
            ..Plan::default()
        };
        for word in words {
            let (key, list) = word.split_once('=').unwrap();
            let items = list.split(',').filter(|s| !s.is_empty()).map(String::from);
            match key {
                "put" => plan.puts = items.collect(),
                "del" => plan.deletes = items.collect(),
                "clear" => plan.clears = items.collect(),
                "ack" => {
                    plan.acks = items
                        .map(|s| {
                            let (d, n) = s.split_once(':').unwrap();
                            (d.to_string(), n.parse().unwrap())
                        })
                        .collect()
                }
                _ => panic!("unknown field in {line}"),
            }
        }
        plan
    }

    fn batch(&self) -> WriteBatch {
        let id = |d: &String| DocId::new(d.as_str()).unwrap();
        WriteBatch {
            put_docs: self
                .puts
                .iter()
                .map(|d| (id(d), doc_bytes(d, self.n), index_row(d, self.n)))
                .collect(),
            delete_docs: self.deletes.iter().map(id).collect(),
            add_pending: self
                .puts
                .iter()
                .map(|d| (id(d), pending_change(d, self.n)))
                .collect(),
            remove_pending: self
                .acks
                .iter()
                .map(|(d, n)| (id(d), pending_change(d, *n).hash))
                .collect(),
            clear_pending: self.clears.iter().map(id).collect(),
            cursors: vec![
                (CURSOR_SCOPE.into(), self.n),
                (SECOND_SCOPE.into(), self.n / 2),
            ],
            meta: vec![(META_N.into(), self.n.to_le_bytes().to_vec())],
            lazy: false,
            ..WriteBatch::default()
        }
    }
}

/// What the store holds, reduced to what the batches determine.
#[derive(Debug, Clone, Default, PartialEq)]
struct Model {
    /// Document → version (batch number that last wrote it).
    docs: BTreeMap<String, u64>,
    /// Document → batch numbers of its pending changes, in order.
    pending: BTreeMap<String, Vec<u64>>,
    cursors: BTreeMap<String, u64>,
    last_batch: Option<u64>,
}

impl Model {
    /// Applies a batch in the store's documented order.
    fn apply(&mut self, plan: &Plan) {
        for d in &plan.deletes {
            self.docs.remove(d);
            self.pending.remove(d);
        }
        for d in &plan.clears {
            self.pending.remove(d);
        }
        for d in &plan.puts {
            self.docs.insert(d.clone(), plan.n);
        }
        for d in &plan.puts {
            self.pending.entry(d.clone()).or_default().push(plan.n);
        }
        for (d, n) in &plan.acks {
            if let Some(list) = self.pending.get_mut(d) {
                list.retain(|x| x != n);
                if list.is_empty() {
                    self.pending.remove(d);
                }
            }
        }
        self.cursors.insert(CURSOR_SCOPE.into(), plan.n);
        self.cursors.insert(SECOND_SCOPE.into(), plan.n / 2);
        self.last_batch = Some(plan.n);
    }

    /// Reads a store back, checking every document and row against its derived content.
    fn read(store: &Store) -> Result<Model, String> {
        let mut model = Model::default();
        let rows = store.list().map_err(|e| format!("list: {e}"))?;
        if rows.len() as u64 != store.len().map_err(|e| e.to_string())? {
            return Err("len() disagrees with list()".into());
        }
        for row in rows {
            let doc = row.id.to_string();
            let n = row.updated_at as u64;
            if row != index_row(&doc, n) {
                return Err(format!(
                    "index row of {doc} is not the one written: {row:?}"
                ));
            }
            let bytes = store
                .get(&row.id)
                .map_err(|e| format!("get {doc}: {e}"))?
                .ok_or_else(|| format!("{doc} has an index row but no document"))?;
            if bytes != doc_bytes(&doc, n) {
                return Err(format!(
                    "{doc} is torn or from another version than its index row (v{n}, {} bytes)",
                    bytes.len()
                ));
            }
            model.docs.insert(doc, n);
        }
        for (id, changes) in store.all_pending().map_err(|e| e.to_string())? {
            let doc = id.to_string();
            let mut numbers = Vec::new();
            for change in &changes {
                let n = change_number(change);
                if *change != pending_change(&doc, n) {
                    return Err(format!("pending change of {doc} is damaged: {change:?}"));
                }
                numbers.push(n);
            }
            if store.pending(&id).map_err(|e| e.to_string())? != changes {
                return Err(format!("pending({doc}) disagrees with all_pending()"));
            }
            model.pending.insert(doc, numbers);
        }
        model.cursors = store
            .cursors()
            .map_err(|e| e.to_string())?
            .into_iter()
            .collect();
        model.last_batch = match store.meta(META_N).map_err(|e| e.to_string())? {
            None => None,
            Some(b) => Some(u64::from_le_bytes(
                b.as_slice()
                    .try_into()
                    .map_err(|_| format!("bad {META_N} meta: {b:?}"))?,
            )),
        };
        Ok(model)
    }
}

// ---------------------------------------------------------------------------------------------
// The child: writes batches until killed.

#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return; // Run as a normal test: nothing to do.
    };
    if std::env::var_os(CHILD_CREATE_ONLY_ENV).is_some() {
        // Only create the store, announcing the moment the parent may kill us from.
        println!("\n{TAG}OPENING");
        std::io::stdout().flush().unwrap();
        let store = Store::open(Path::new(&dir)).unwrap();
        println!("{TAG}OPENED");
        std::io::stdout().flush().unwrap();
        drop(store);
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    let seed: u64 = std::env::var(CHILD_SEED_ENV).unwrap().parse().unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let store = Store::open(Path::new(&dir)).unwrap();
    // Continue from whatever survived the last kill.
    let mut model = Model::read(&store).unwrap();
    let mut n = model.last_batch.unwrap_or(0);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // The harness may have left "test crash_child ... " without a newline.
    writeln!(out).unwrap();
    loop {
        n += 1;
        let mut plan = Plan {
            n,
            ..Plan::default()
        };
        // One batch in eight is large (up to 40 documents of up to 64 KiB), so kills often land
        // in the middle of writing it.
        let puts = if rng.random_ratio(1, 8) {
            rng.random_range(15..=DOCS)
        } else {
            rng.random_range(0..=3)
        };
        for _ in 0..puts {
            let d = doc_name(rng.random_range(0..DOCS));
            if !plan.puts.contains(&d) {
                plan.puts.push(d);
            }
        }
        if rng.random_ratio(1, 6) {
            let d = doc_name(rng.random_range(0..DOCS));
            plan.deletes.push(d);
        }
        if rng.random_ratio(1, 10) {
            plan.clears.push(doc_name(rng.random_range(0..DOCS)));
        }
        // Acknowledge the oldest pending change of a few documents (the usual case), and
        // sometimes a newer one.
        for (d, list) in &model.pending {
            if rng.random_ratio(1, 4) {
                let pick = if rng.random_ratio(1, 4) {
                    list[list.len() - 1]
                } else {
                    list[0]
                };
                plan.acks.push((d.clone(), pick));
            }
        }
        writeln!(out, "{TAG}{}", plan.to_line()).unwrap();
        out.flush().unwrap();
        store.write(plan.batch()).unwrap();
        model.apply(&plan);
        writeln!(out, "{TAG}OK {n}").unwrap();
        out.flush().unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// The parent.

#[derive(Default, Debug)]
struct Tally {
    batches_acked: u64,
    in_flight_landed: u32,
    in_flight_lost: u32,
    nothing_in_flight: u32,
}

#[test]
fn store_survives_being_killed() {
    if std::env::var_os(CHILD_DIR_ENV).is_some() {
        return; // We are the child; only crash_child runs there anyway.
    }
    let seed: u64 = match std::env::var("TARMIM_STORE_CRASH_SEED") {
        Ok(s) => s.parse().unwrap(),
        Err(_) => rand::rng().random(),
    };
    let rounds: u32 = match std::env::var("TARMIM_STORE_CRASH_ROUNDS") {
        Ok(s) => s.parse().unwrap(),
        Err(_) => 50,
    };
    eprintln!(
        "store crash test: seed {seed} (TARMIM_STORE_CRASH_SEED={seed} to replay), {rounds} rounds"
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();

    let mut model = Model::default();
    let mut tally = Tally::default();
    for round in 0..rounds {
        let mut child = Command::new(&exe)
            .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR_ENV, &dir)
            .env(CHILD_SEED_ENV, rng.random::<u64>().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

        // When to kill: after a number of acknowledged batches, or during the next large
        // batch, or (rarely) while the child is still opening and recovering the store; each
        // followed by a short random sleep, so the kill lands anywhere inside a write.
        let mode = rng.random_range(0..10);
        let after_acks = rng.random_range(1..=40u64);
        // Mostly within a few milliseconds (inside the write that follows), sometimes longer
        // (a later write, or between writes).
        let sleep = Duration::from_micros(if rng.random_ratio(1, 4) {
            rng.random_range(0..40_000)
        } else {
            rng.random_range(0..4_000)
        });
        let mut acked_this_round = 0;
        let mut in_flight: Option<Plan> = None;
        let apply_line = |line: &str, model: &mut Model, in_flight: &mut Option<Plan>| {
            let at = line.find(TAG)?;
            let msg = &line[at + TAG.len()..];
            if msg.starts_with("BEGIN ") {
                let plan = Plan::parse(msg);
                assert!(in_flight.is_none(), "two batches in flight");
                *in_flight = Some(plan.clone());
                Some(plan)
            } else if let Some(n) = msg.strip_prefix("OK ") {
                let plan = in_flight.take().expect("OK without BEGIN");
                assert_eq!(n.parse::<u64>().unwrap(), plan.n);
                model.apply(&plan);
                None
            } else {
                panic!("unknown line from child: {line}");
            }
        };
        if mode == 0 {
            std::thread::sleep(Duration::from_millis(rng.random_range(0..30)));
        } else {
            loop {
                let Some(line) = lines.next() else {
                    panic!("child exited early: {:?}", child.wait());
                };
                let line = line.unwrap();
                let began = apply_line(&line, &mut model, &mut in_flight);
                if line.contains(&format!("{TAG}OK ")) {
                    acked_this_round += 1;
                }
                let big = began.is_some_and(|p| p.puts.len() >= 15);
                if (mode <= 3 && big) || (mode > 3 && acked_this_round >= after_acks) {
                    break;
                }
            }
            std::thread::sleep(sleep);
        }
        child.kill().unwrap(); // SIGKILL on Unix
        // Everything the child printed before dying counts: drain the pipe.
        for line in lines {
            apply_line(&line.unwrap(), &mut model, &mut in_flight);
        }
        let status = child.wait().unwrap();
        assert!(!status.success(), "child ended by itself: {status:?}");

        // The store must open (recovering from the kill) and be exactly in the state after the
        // last acknowledged batch, or after the batch that was in flight: nothing in between.
        let store = Store::open(&dir)
            .unwrap_or_else(|e| panic!("round {round}: store does not open after kill: {e}"));
        let found =
            Model::read(&store).unwrap_or_else(|e| panic!("round {round} (seed {seed}): {e}"));
        drop(store);
        let before = model.clone();
        let after = in_flight.as_ref().map(|plan| {
            let mut m = model.clone();
            m.apply(plan);
            m
        });
        for (scope, cursor) in &before.cursors {
            let now = found.cursors.get(scope).copied().unwrap_or(0);
            assert!(
                now >= *cursor,
                "round {round} (seed {seed}): cursor {scope} went back from {cursor} to {now}"
            );
        }
        if found == before {
            if in_flight.is_some() {
                tally.in_flight_lost += 1;
            } else {
                tally.nothing_in_flight += 1;
            }
        } else if Some(&found) == after.as_ref() {
            tally.in_flight_landed += 1;
            model = found;
        } else {
            panic!(
                "round {round} (seed {seed}): store holds neither the acknowledged state nor \
                 the in-flight batch applied on it.\n in flight: {in_flight:?}\n expected: \
                 {before:?}\n found: {found:?}"
            );
        }
        tally.batches_acked = model.last_batch.unwrap_or(0);
    }
    eprintln!(
        "store crash test: {rounds} kills in {:.1?}: {tally:?} (documents now {})",
        started.elapsed(),
        model.docs.len()
    );
    assert!(
        tally.batches_acked > 0,
        "the child never got a batch written"
    );
}

/// An app killed while it first creates its store (first launch, or after a reset) must find
/// a store it can open on the next launch, not a half-made file it would refuse forever: the
/// kill lands at random inside `Store::open` on a fresh directory, many times over.
#[test]
fn creation_survives_being_killed() {
    if std::env::var_os(CHILD_DIR_ENV).is_some() {
        return;
    }
    let mut rng = rand::rng();
    let exe = std::env::current_exe().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (mut created, mut killed_before) = (0, 0);
    for round in 0..40 {
        let dir = tmp.path().join(format!("store-{round}"));
        let mut child = Command::new(&exe)
            .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR_ENV, &dir)
            .env(CHILD_CREATE_ONLY_ENV, "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            let line = lines.next().expect("child exited before opening").unwrap();
            if line.contains(&format!("{TAG}OPENING")) {
                break;
            }
        }
        // Creating a store takes a few milliseconds (two fsyncs at least): kill inside them.
        std::thread::sleep(Duration::from_micros(rng.random_range(0..6_000)));
        child.kill().unwrap();
        let opened = lines.any(|l| l.unwrap().contains(&format!("{TAG}OPENED")));
        child.wait().unwrap();
        if opened {
            created += 1;
        } else {
            killed_before += 1;
        }
        let store = Store::open(&dir).unwrap_or_else(|e| {
            panic!("round {round}: the store does not open after a kill while creating it: {e}")
        });
        assert!(store.list().unwrap().is_empty(), "round {round}");
    }
    eprintln!(
        "store creation kill test: {killed_before} kills during creation, {created} after it"
    );
}

//! An in-memory mirror of `task_facts`, so a dashboard request is one pass over compact
//! rows instead of several scans of a big table (a year of a big city is 1,000,000
//! rows; `BENCHMARKS.md`, "Analytics").
//!
//! - The table stays the truth: it is written in every commit's transaction, and the
//!   mirror only reads it. Before each computation the mirror re-reads the rows updated
//!   since its watermark minus [`LAG_MS`] (the index `task_facts_updated`): a commit
//!   stamps `updated_at` just before it commits, so a commit that became visible late,
//!   or a replica whose clock is a little behind, is still picked up; rows read twice are
//!   simply written again. The first request (or the warm-up at start) loads every row.
//! - Flagged photos (`photos.far_from_task` or `before_task`) are counted per task the
//!   same way, by `uploaded_at` (a photo row is written once and never changed), each
//!   photo once by its hash.
//! - Strings (districts, regions, categories, crews, contractors) are interned per
//!   column: a row is 88 bytes, and task ids are held by a 128-bit keyed hash, not as
//!   strings (`BENCHMARKS.md`, "Analytics at 10,000,000 facts").
//! - Rows are summarised per block of [`BLOCK`] rows (earliest and latest creation,
//!   latest closure), and each block keeps its rows' order by closure, latest first.
//!   A scan skips the blocks that cannot count in its range, and in a block created
//!   wholly before the range it reads only the rows still open or closed within it:
//!   with years of history, a year's dashboard reads about a year of rows plus the
//!   older tasks still open, instead of every row (`BENCHMARKS.md`, "Analytics at
//!   10,000,000 facts").
//! - Each server process (replica) keeps its own mirror; all read the same table. The
//!   watermark never runs ahead of the process's own clock, so a replica whose clock is
//!   ahead costs re-reads, not missed rows; replicas' clocks must agree within
//!   [`LAG_MS`] (NTP keeps them within milliseconds).

use super::AnalyticsError;
use crate::storage::Db;
use crate::storage::analytics::{self as records, MirrorFact};
use futures_util::TryStreamExt;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedRwLockReadGuard, RwLock};

/// How far before its watermark the mirror re-reads on every refresh, ms.
pub const LAG_MS: i64 = 5 * 60_000;

/// A missing time.
pub(super) const NONE: i64 = i64::MIN;

/// The interned value of a missing string (no district, crew, contractor).
pub(super) const NO_ID: u32 = 0;

/// Interned strings of one column; id 0 is "none".
#[derive(Debug, Clone, Default)]
pub(super) struct Interner {
    names: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Interner {
    pub(super) fn intern(&mut self, s: Option<String>) -> u32 {
        let Some(s) = s else { return NO_ID };
        if let Some(id) = self.ids.get(&s) {
            return *id;
        }
        self.names.push(s.clone());
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.ids.insert(s, id);
        id
    }

    /// The id of a string, if any row has it.
    pub(super) fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    /// The string of an id (`None` for [`NO_ID`]).
    pub(super) fn name(&self, id: u32) -> Option<&str> {
        let i = usize::try_from(id).ok()?.checked_sub(1)?;
        self.names.get(i).map(String::as_str)
    }

    /// Ids run from 0 to `len()` included.
    pub(super) fn len(&self) -> usize {
        self.names.len()
    }
}

/// The index of a priority in [`super::PRIORITIES`].
pub(super) fn priority_index(p: &str) -> Option<u8> {
    super::PRIORITIES
        .iter()
        .position(|x| *x == p)
        .and_then(|i| u8::try_from(i).ok())
}

/// One task's facts, compact. Times are ms since the epoch, [`NONE`] when missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Row {
    pub(super) created_at: i64,
    pub(super) acknowledged_at: i64,
    pub(super) completed_at: i64,
    pub(super) closed_at: i64,
    pub(super) ack_due: i64,
    pub(super) complete_due: i64,
    pub(super) district: u32,
    pub(super) region: u32,
    pub(super) category: u32,
    pub(super) crew: u32,
    pub(super) ack_crew: u32,
    pub(super) contractor: u32,
    pub(super) ack_contractor: u32,
    /// Index in [`super::PRIORITIES`]; 4 for anything else.
    pub(super) priority: u8,
    /// 1..5, 0 when not rated.
    pub(super) rating: u8,
    /// Not cancelled and not a duplicate.
    pub(super) live: bool,
    /// Reopened at least once.
    pub(super) reopened: bool,
    /// A before and an after photo.
    pub(super) photo_both: bool,
    /// Flagged photos of the task ([`Columns::flagged`] copied into the row, so a scan
    /// needs no lookup per flagged task: at ten million rows those random lookups cost
    /// more than the scan; it fits in the row's padding).
    pub(super) flagged: u16,
}

impl Row {
    /// The last time this row can count at: closure or completion, or forever while
    /// open (a task open at a range's start counts in its backlog).
    pub(super) fn latest(&self) -> i64 {
        if self.closed_at == NONE {
            i64::MAX
        } else {
            self.created_at.max(self.closed_at).max(self.completed_at)
        }
    }
}

/// Rows per block of [`Columns::blocks`].
pub(super) const BLOCK: usize = 16_384;
// A row's offset in its block is a u16 (`Columns::by_latest`).
const _: () = assert!(BLOCK <= 1 << 16);

/// What a block of rows spans in time, so that a scan skips the blocks that cannot count
/// in its range: a task counts only if created before the range's end and, if created
/// before its start, still open or closed within it. Rows sit in load order, then in
/// order of first commit, which is nearly creation order: five years of history are
/// mostly blocks wholly before a dashboard's year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Block {
    /// The earliest creation.
    pub(super) first_created: i64,
    /// The latest creation.
    pub(super) last_created: i64,
    /// The latest [`Row::latest`].
    pub(super) latest: i64,
}

impl Block {
    /// A block that meets every range and is read whole.
    const ANY: Block = Block {
        first_created: i64::MIN,
        last_created: i64::MAX,
        latest: i64::MAX,
    };

    fn of(rows: &[Row]) -> Block {
        rows.iter().fold(
            Block {
                first_created: i64::MAX,
                last_created: i64::MIN,
                latest: i64::MIN,
            },
            |b, r| Block {
                first_created: b.first_created.min(r.created_at),
                last_created: b.last_created.max(r.created_at),
                latest: b.latest.max(r.latest()),
            },
        )
    }

    /// Whether any row of the block can count in `[lo, hi)`.
    pub(super) fn meets(&self, lo: i64, hi: i64) -> bool {
        self.first_created < hi && self.latest >= lo
    }
}

/// A task id or photo hash as the mirror's maps hold it ([`Columns::key`]).
pub(super) type IdKey = (u64, u64);

/// The mirrored rows and their dictionaries.
#[derive(Debug, Clone, Default)]
pub(super) struct Columns {
    pub(super) rows: Vec<Row>,
    /// One summary per [`BLOCK`] rows, exact after every refresh.
    pub(super) blocks: Vec<Block>,
    /// Per block, its rows' offsets in order of [`Row::latest`], latest first (open
    /// rows lead): in a block created wholly before a range, the rows that can count
    /// are a prefix. Exact after every refresh, as [`Columns::blocks`] is.
    pub(super) by_latest: Vec<Vec<u16>>,
    /// Row index by the task id's [`Columns::key`].
    pub(super) ids: HashMap<IdKey, u32>,
    pub(super) district: Interner,
    pub(super) region: Interner,
    pub(super) category: Interner,
    /// Crews (`crew` and `ack_crew`).
    pub(super) crew: Interner,
    /// Contractors (`contractor` and `ack_contractor`).
    pub(super) contractor: Interner,
    /// Flagged photos per task id (the task may not have facts yet).
    pub(super) flagged: HashMap<IdKey, i64>,
    /// The flagged photos counted, by the key of their hash.
    flagged_seen: HashSet<IdKey>,
    /// The keys of [`Columns::key`], random per process.
    hasher: RandomState,
}

impl Columns {
    /// Writes a row in; returns its index.
    fn put(&mut self, r: MirrorFact) -> usize {
        let t = |v: Option<i64>| v.unwrap_or(NONE);
        let row = Row {
            created_at: r.created_at,
            acknowledged_at: t(r.acknowledged_at),
            completed_at: t(r.completed_at),
            closed_at: t(r.closed_at),
            ack_due: t(r.ack_due),
            complete_due: t(r.complete_due),
            district: self.district.intern(r.district),
            region: self.region.intern(r.region),
            category: self.category.intern(Some(r.category)),
            crew: self.crew.intern(r.crew),
            ack_crew: self.crew.intern(r.ack_crew),
            contractor: self.contractor.intern(r.contractor),
            ack_contractor: self.contractor.intern(r.ack_contractor),
            priority: priority_index(&r.priority).unwrap_or(4),
            rating: r
                .rating
                .and_then(|v| u8::try_from(v).ok())
                .filter(|v| (1..=5).contains(v))
                .unwrap_or(0),
            live: r.status != "cancelled" && r.status != "duplicate",
            reopened: r.reopen_count > 0,
            photo_both: r.photo_both,
            flagged: 0,
        };
        let key = self.key(&r.id);
        let row = Row {
            flagged: self.flagged_of(&key),
            ..row
        };
        match self.ids.get(&key) {
            Some(&i) => {
                let i = usize::try_from(i).unwrap_or(usize::MAX);
                if let Some(slot) = self.rows.get_mut(i) {
                    *slot = row;
                }
                i
            }
            None => {
                let i = self.rows.len();
                self.rows.push(row);
                self.ids.insert(key, u32::try_from(i).unwrap_or(u32::MAX));
                i
            }
        }
    }

    /// Recomputes the summaries of the blocks holding these rows (a row updated may
    /// have closed, or been reopened).
    pub(super) fn summarise(&mut self, touched: impl IntoIterator<Item = usize>) {
        let mut blocks: Vec<usize> = touched.into_iter().map(|i| i / BLOCK).collect();
        blocks.sort_unstable();
        blocks.dedup();
        for b in blocks {
            let start = b * BLOCK;
            let Some(rows) = self.rows.get(start..self.rows.len().min(start + BLOCK)) else {
                continue;
            };
            let summary = Block::of(rows);
            let order = order_by_latest(rows);
            if self.blocks.len() <= b {
                // Rows are appended in order, so this only adds the next block; a block
                // without a summary would be read whole whatever the range.
                self.blocks.resize(b + 1, Block::ANY);
            }
            if self.by_latest.len() <= b {
                self.by_latest.resize(b + 1, Vec::new());
            }
            if let (Some(slot), Some(o)) = (self.blocks.get_mut(b), self.by_latest.get_mut(b)) {
                *slot = summary;
                *o = order;
            }
        }
    }

    /// The rows of a block that can count in a range starting at `lo`, when the block
    /// was created wholly before it: those open, or closed (or completed) at `lo` or
    /// later. `None` when the whole block must be read (it reaches into the range, or
    /// it has no summary yet).
    pub(super) fn late_rows(&self, b: usize, lo: i64) -> Option<(&[Row], &[u16])> {
        let block = self.blocks.get(b)?;
        if block.last_created >= lo {
            return None;
        }
        let start = b.checked_mul(BLOCK)?;
        let rows = self.rows.get(start..self.rows.len().min(start + BLOCK))?;
        let order = self.by_latest.get(b)?;
        if order.len() != rows.len() {
            return None;
        }
        let n =
            order.partition_point(|&o| rows.get(usize::from(o)).is_some_and(|r| r.latest() >= lo));
        order.get(..n).map(|o| (rows, o))
    }

    /// The 128-bit keyed hash a task id (or photo hash) is held by: a quarter of the
    /// memory of the string in a map at ten million tasks (`BENCHMARKS.md`). Two ids of
    /// one process sharing a key, which would merge their rows, has a chance of about
    /// n² / 2¹²⁹ (10⁻²⁵ at ten million).
    pub(super) fn key(&self, id: &str) -> IdKey {
        (
            self.hasher.hash_one((0u8, id)),
            self.hasher.hash_one((1u8, id)),
        )
    }

    /// The flagged photos counted for a task, as a row holds them.
    fn flagged_of(&self, key: &IdKey) -> u16 {
        self.flagged
            .get(key)
            .map_or(0, |n| u16::try_from(*n).unwrap_or(u16::MAX))
    }

    /// Counts one more flagged photo of a task, in the map and in its row if it has one.
    pub(super) fn add_flagged(&mut self, task: IdKey) {
        *self.flagged.entry(task).or_default() += 1;
        let n = self.flagged_of(&task);
        if let Some(i) = self.ids.get(&task).and_then(|i| usize::try_from(*i).ok())
            && let Some(row) = self.rows.get_mut(i)
        {
            row.flagged = n;
        }
    }
}

/// A block's row offsets ordered by [`Row::latest`], latest first.
fn order_by_latest(rows: &[Row]) -> Vec<u16> {
    // BLOCK is 2¹⁴, so every offset of a block fits.
    let mut order: Vec<u16> = (0..rows.len())
        .filter_map(|i| u16::try_from(i).ok())
        .collect();
    order.sort_by_cached_key(|&o| {
        std::cmp::Reverse(rows.get(usize::from(o)).map_or(i64::MAX, Row::latest))
    });
    order
}

/// The newest `updated_at` of the facts and `uploaded_at` of the flagged photos seen
/// (`None` before the first load).
#[derive(Debug, Default)]
struct Watermarks {
    facts: Option<i64>,
    photos: Option<i64>,
}

/// The mirror: its rows, and the watermarks of the last refresh. Cheap to clone
/// (shared).
#[derive(Debug, Clone, Default)]
pub struct Mirror {
    columns: Arc<RwLock<Columns>>,
    watermark: Arc<Mutex<Watermarks>>,
}

impl Mirror {
    /// An empty mirror; it loads on its first refresh.
    pub fn new() -> Mirror {
        Mirror::default()
    }

    /// Reads the rows changed since the last refresh (all of them the first time).
    /// Refreshes run one at a time; readers wait only while rows are written in.
    pub async fn refresh(&self, db: &Db) -> Result<usize, AnalyticsError> {
        let mut marks = self.watermark.lock().await;
        let since = marks.facts.map_or(i64::MIN, |w| w.saturating_sub(LAG_MS));
        let mut newest = marks.facts;
        let mut n = 0;
        let mut batch = Vec::with_capacity(4096);
        // Written in batches: the write lock is never held across a read from the
        // database, so scans of the rows already held go on during a refresh.
        macro_rules! flush {
            () => {{
                let mut cols = self.columns.write().await;
                let touched: Vec<usize> = batch.drain(..).map(|r| cols.put(r)).collect();
                cols.summarise(touched);
            }};
        }
        let mut rows = records::facts_updated_since(db, since);
        while let Some(r) = rows.try_next().await? {
            newest = Some(newest.map_or(r.updated_at, |w: i64| w.max(r.updated_at)));
            batch.push(r);
            n += 1;
            if batch.len() >= 4096 {
                flush!();
            }
        }
        drop(rows);
        flush!();
        // An empty table still counts as loaded. The watermark never runs ahead of this
        // process's clock: a row stamped in the future by a replica whose clock is ahead
        // would otherwise hide every later commit of the others until that time.
        let now = crate::base::time::now_millis();
        marks.facts = Some(newest.unwrap_or(since.max(0)).min(now));

        let since = marks.photos.map_or(i64::MIN, |w| w.saturating_sub(LAG_MS));
        let photos = records::flagged_photos_since(db, since).await?;
        let newest = photos.iter().map(|p| p.uploaded_at).max();
        let mut cols = self.columns.write().await;
        for p in photos {
            let (hash, task) = (cols.key(&p.hash), cols.key(&p.task));
            if cols.flagged_seen.insert(hash) {
                cols.add_flagged(task);
            }
        }
        marks.photos = Some(marks.photos.max(newest).unwrap_or(0).min(now));
        Ok(n)
    }

    /// Refreshes, then returns a read guard over the rows (owned, so a blocking scan can
    /// take it to another thread).
    pub(super) async fn fresh(
        &self,
        db: &Db,
    ) -> Result<OwnedRwLockReadGuard<Columns>, AnalyticsError> {
        self.refresh(db).await?;
        Ok(self.columns.clone().read_owned().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_stays_88_bytes() {
        // Ten million rows per replica: `BENCHMARKS.md`, "Analytics at 10,000,000 facts".
        assert_eq!(std::mem::size_of::<Row>(), 88);
    }

    #[test]
    fn interner_keeps_none_at_zero_and_ids_stable() {
        let mut i = Interner::default();
        assert_eq!(i.intern(None), NO_ID);
        let a = i.intern(Some("D1".into()));
        let b = i.intern(Some("D2".into()));
        assert_eq!(i.intern(Some("D1".into())), a);
        assert_ne!(a, b);
        assert_eq!(i.name(a), Some("D1"));
        assert_eq!(i.name(NO_ID), None);
        assert_eq!(i.get("D2"), Some(b));
        assert_eq!(i.get("D3"), None);
        assert_eq!(i.len(), 2);
    }
}

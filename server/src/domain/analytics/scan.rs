//! The measures computed in one pass over the in-memory mirror ([`super::mirror`]),
//! with the same definitions as the SQL in [`super::measures`] (its module docs are the
//! reference; the analytics tests run every check on both engines).
//!
//! The pass runs on a blocking thread (on a million rows it is a hundred milliseconds
//! of CPU, which must not stall the async workers serving phones), split over the
//! machine's cores when there are many rows; the partial grids are then added up.

use super::measures::{Engine, Key};
use super::mirror::{BLOCK, Columns, Interner, Mirror, NO_ID, NONE, Row, priority_index};
use super::period::Bucket;
use super::{AnalyticsError, By, Filter, PRIORITIES, Scope};
use crate::storage::Db;
use crate::storage::analytics::{Counts, Grouped, percentile_cont};
use std::collections::HashMap;

/// Counts of one (unit, bucket) cell while scanning.
#[derive(Debug, Clone, Default)]
struct Cell {
    received: i64,
    closed: i64,
    completed: i64,
    ever_completed: i64,
    reopened: i64,
    ratings: [i64; 5],
    photo_both: i64,
    flagged: i64,
    sla_due: [i64; 4],
    sla_met: [i64; 4],
    ack_due: [i64; 4],
    ack_met: [i64; 4],
    ack_ms: Vec<i64>,
    complete_ms: Vec<i64>,
}

/// The filter, in interned ids. `None` in a field: no condition; an id nobody has
/// matches nothing.
struct Compiled {
    district: Option<u32>,
    region: Option<u32>,
    category: Option<u32>,
    priority: Option<u8>,
    /// Visible districts by id (`None`: all).
    scope: Option<Vec<bool>>,
}

const NOBODY: u32 = u32::MAX;

fn compile(f: &Filter, c: &Columns) -> Compiled {
    let id = |i: &Interner, v: &Option<String>| v.as_deref().map(|s| i.get(s).unwrap_or(NOBODY));
    let scope = match &f.scope {
        Scope::All => None,
        Scope::Districts(ds) => {
            let mut seen = vec![false; c.district.len() + 1];
            for d in ds {
                if let Some(slot) = c
                    .district
                    .get(d)
                    .and_then(|i| usize::try_from(i).ok())
                    .and_then(|i| seen.get_mut(i))
                {
                    *slot = true;
                }
            }
            Some(seen)
        }
    };
    Compiled {
        district: id(&c.district, &f.district),
        region: id(&c.region, &f.region),
        category: id(&c.category, &f.category),
        priority: f
            .priority
            .as_deref()
            .map(|p| priority_index(p).unwrap_or(u8::MAX)),
        scope,
    }
}

impl Compiled {
    fn matches(&self, r: &Row) -> bool {
        self.district.is_none_or(|d| r.district == d)
            && self.region.is_none_or(|d| r.region == d)
            && self.category.is_none_or(|d| r.category == d)
            && self.priority.is_none_or(|p| r.priority == p)
            && self.scope.as_ref().is_none_or(|s| {
                // Tasks without a district are outside every district list (SQL `IN`).
                r.district != NO_ID
                    && usize::try_from(r.district)
                        .ok()
                        .and_then(|i| s.get(i))
                        .copied()
                        .unwrap_or(false)
            })
    }
}

/// The unit columns of a grouping: (measures' unit, acknowledgement measures' unit).
fn unit_of(by: Option<By>, r: &Row) -> (u32, u32) {
    match by {
        None => (0, 0),
        Some(By::District) => (r.district, r.district),
        Some(By::Region) => (r.region, r.region),
        Some(By::Category) => (r.category, r.category),
        Some(By::Crew) => (r.crew, r.ack_crew),
        Some(By::Contractor) => (r.contractor, r.ack_contractor),
    }
}

fn key_of(by: Option<By>, c: &Columns, id: u32) -> Key {
    let names = match by {
        None => return Some("all".into()),
        Some(By::District) => &c.district,
        Some(By::Region) => &c.region,
        Some(By::Category) => &c.category,
        Some(By::Crew) => &c.crew,
        Some(By::Contractor) => &c.contractor,
    };
    names.name(id).map(str::to_owned)
}

/// Cells by unit, each unit's buckets allocated when the unit first shows up.
struct Grid {
    n: usize,
    units: HashMap<u32, Vec<Cell>>,
    open: HashMap<u32, i64>,
}

impl Cell {
    fn add(&mut self, o: Cell) {
        self.received += o.received;
        self.closed += o.closed;
        self.completed += o.completed;
        self.ever_completed += o.ever_completed;
        self.reopened += o.reopened;
        self.photo_both += o.photo_both;
        self.flagged += o.flagged;
        let sum = |a: &mut [i64], b: &[i64]| a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        sum(&mut self.ratings, &o.ratings);
        sum(&mut self.sla_due, &o.sla_due);
        sum(&mut self.sla_met, &o.sla_met);
        sum(&mut self.ack_due, &o.ack_due);
        sum(&mut self.ack_met, &o.ack_met);
        self.ack_ms.extend(o.ack_ms);
        self.complete_ms.extend(o.complete_ms);
    }
}

impl Grid {
    fn add(&mut self, o: Grid) {
        for (unit, cells) in o.units {
            match self.units.get_mut(&unit) {
                Some(mine) => mine.iter_mut().zip(cells).for_each(|(a, b)| a.add(b)),
                None => {
                    self.units.insert(unit, cells);
                }
            }
        }
        for (unit, n) in o.open {
            *self.open.entry(unit).or_default() += n;
        }
    }

    fn cell(&mut self, unit: u32, bucket: usize) -> Option<&mut Cell> {
        let n = self.n;
        self.units
            .entry(unit)
            .or_insert_with(|| vec![Cell::default(); n])
            .get_mut(bucket)
    }

    /// Marks a unit as seen (a unit with only a backlog still gets its rows).
    fn touch(&mut self, unit: u32) {
        let n = self.n;
        self.units
            .entry(unit)
            .or_insert_with(|| vec![Cell::default(); n]);
    }
}

/// The bucket of a time, if it is inside the range.
fn bucket(starts: &[i64], hi: i64, t: i64) -> Option<usize> {
    if t == NONE || t >= hi || starts.first().is_none_or(|lo| t < *lo) {
        return None;
    }
    Some(starts.partition_point(|s| *s <= t).saturating_sub(1))
}

/// Below this many rows a scan stays on one thread.
const PARALLEL_FROM: usize = 200_000;

/// The bucketing of a request.
struct Span<'a> {
    starts: &'a [i64],
    hi: i64,
    now_ms: i64,
}

fn scan(c: &Columns, f: &Filter, by: Option<By>, span: &Span<'_>) -> Grid {
    let threads = if c.rows.len() < PARALLEL_FROM {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
    };
    scan_on(c, f, by, span, threads)
}

fn scan_on(c: &Columns, f: &Filter, by: Option<By>, span: &Span<'_>, threads: usize) -> Grid {
    let cf = compile(f, c);
    let lo = span.starts.first().copied().unwrap_or(span.hi);
    let parts = split(&pieces(c, lo, span.hi), threads.max(1));
    std::thread::scope(|s| {
        let mut rest = parts.iter();
        let first = rest.next();
        let others: Vec<_> = rest
            .map(|part| s.spawn(|| scan_rows(part, &cf, by, span)))
            .collect();
        let mut g = scan_rows(first.map_or(&[][..], Vec::as_slice), &cf, by, span);
        for p in others {
            // A panicking part is a bug; its rows would be missing, so fail loudly.
            match p.join() {
                Ok(part) => g.add(part),
                Err(e) => std::panic::resume_unwind(e),
            }
        }
        g
    })
}

/// Rows a scan reads: a run of whole rows, or some rows of one block by offset.
#[derive(Debug, Clone, Copy)]
enum Piece<'r> {
    Run(&'r [Row]),
    Picked(&'r [Row], &'r [u16]),
}

impl<'r> Piece<'r> {
    fn len(&self) -> usize {
        match self {
            Piece::Run(rows) => rows.len(),
            Piece::Picked(_, picked) => picked.len(),
        }
    }

    fn split_at(self, n: usize) -> (Piece<'r>, Piece<'r>) {
        match self {
            Piece::Run(rows) => {
                let (a, b) = rows.split_at(n.min(rows.len()));
                (Piece::Run(a), Piece::Run(b))
            }
            Piece::Picked(rows, picked) => {
                let (a, b) = picked.split_at(n.min(picked.len()));
                (Piece::Picked(rows, a), Piece::Picked(rows, b))
            }
        }
    }

    fn rows(self) -> impl Iterator<Item = &'r Row> {
        let (run, picked, block) = match self {
            Piece::Run(rows) => (rows, &[][..], &[][..]),
            Piece::Picked(rows, picked) => (&[][..], picked, rows),
        };
        run.iter().chain(
            picked
                .iter()
                .filter_map(move |&o| block.get(usize::from(o))),
        )
    }
}

/// What a scan of `[lo, hi)` reads: blocks that cannot count are skipped; of a block
/// created wholly before `lo`, only the rows open or closed at `lo` or later (a prefix
/// of its order by closure); other blocks whole, neighbours joined. A block without a
/// summary is read whole.
fn pieces(c: &Columns, lo: i64, hi: i64) -> Vec<Piece<'_>> {
    let mut out: Vec<Piece<'_>> = Vec::new();
    let mut start = None;
    let n_blocks = c.rows.len().div_ceil(BLOCK);
    for b in 0..=n_blocks {
        let meets = b < n_blocks && c.blocks.get(b).is_none_or(|s| s.meets(lo, hi));
        let late = if meets { c.late_rows(b, lo) } else { None };
        let whole = meets && late.is_none();
        match (whole, start) {
            (true, None) => start = Some(b * BLOCK),
            (false, Some(from)) => {
                out.extend(
                    c.rows
                        .get(from..c.rows.len().min(b * BLOCK))
                        .map(Piece::Run),
                );
                start = None;
            }
            _ => {}
        }
        if let Some((rows, picked)) = late.filter(|(_, p)| !p.is_empty()) {
            out.push(Piece::Picked(rows, picked));
        }
    }
    out
}

/// Cuts pieces into at most `threads` parts of nearly equal numbers of rows.
fn split<'r>(pieces: &[Piece<'r>], threads: usize) -> Vec<Vec<Piece<'r>>> {
    let total: usize = pieces.iter().map(Piece::len).sum();
    let per = total.div_ceil(threads).max(1);
    let mut parts = Vec::with_capacity(threads);
    let mut part: Vec<Piece<'r>> = Vec::new();
    let mut in_part = 0;
    for piece in pieces {
        let mut piece = *piece;
        while piece.len() > 0 {
            let (a, b) = piece.split_at((per - in_part).min(piece.len()));
            in_part += a.len();
            part.push(a);
            piece = b;
            if in_part == per {
                parts.push(std::mem::take(&mut part));
                in_part = 0;
            }
        }
    }
    if !part.is_empty() {
        parts.push(part);
    }
    parts
}

fn scan_rows(pieces: &[Piece<'_>], cf: &Compiled, by: Option<By>, span: &Span<'_>) -> Grid {
    let Span { starts, hi, now_ms } = *span;
    let lo = starts.first().copied().unwrap_or(hi);
    let mut g = Grid {
        n: starts.len(),
        units: HashMap::new(),
        open: HashMap::new(),
    };
    for r in pieces
        .iter()
        .flat_map(|p| p.rows())
        .filter(|r| cf.matches(r))
    {
        let (unit, ack_unit) = unit_of(by, r);
        let p = usize::from(r.priority);
        if let Some(b) = bucket(starts, hi, r.created_at) {
            let done_due = r.complete_due != NONE
                && (r.completed_at != NONE || (r.complete_due < now_ms && r.live));
            let done_met = r.complete_due != NONE
                && r.completed_at != NONE
                && r.completed_at <= r.complete_due;
            if let Some(cell) = g.cell(unit, b) {
                cell.received += 1;
                cell.flagged += i64::from(r.flagged);
                cell.ever_completed += i64::from(r.completed_at != NONE || r.reopened);
                cell.reopened += i64::from(r.reopened);
                if let Some(d) = cell.sla_due.get_mut(p) {
                    *d += i64::from(done_due);
                }
                if let Some(m) = cell.sla_met.get_mut(p) {
                    *m += i64::from(done_met);
                }
            }
            let ack_due =
                r.ack_due != NONE && (r.acknowledged_at != NONE || (r.ack_due < now_ms && r.live));
            let ack_met =
                r.ack_due != NONE && r.acknowledged_at != NONE && r.acknowledged_at <= r.ack_due;
            if let Some(cell) = g.cell(ack_unit, b) {
                if let Some(d) = cell.ack_due.get_mut(p) {
                    *d += i64::from(ack_due);
                }
                if let Some(m) = cell.ack_met.get_mut(p) {
                    *m += i64::from(ack_met);
                }
                if r.acknowledged_at != NONE {
                    cell.ack_ms
                        .push(r.acknowledged_at.saturating_sub(r.created_at).max(0));
                }
            }
        }
        if let Some(b) = bucket(starts, hi, r.completed_at)
            && let Some(cell) = g.cell(unit, b)
        {
            cell.completed += 1;
            if let Some(n) = usize::from(r.rating)
                .checked_sub(1)
                .and_then(|i| cell.ratings.get_mut(i))
            {
                *n += 1;
            }
            cell.photo_both += i64::from(r.photo_both);
            cell.complete_ms
                .push(r.completed_at.saturating_sub(r.created_at).max(0));
        }
        if let Some(b) = bucket(starts, hi, r.closed_at)
            && let Some(cell) = g.cell(unit, b)
        {
            cell.closed += 1;
        }
        if r.created_at < lo && (r.closed_at == NONE || r.closed_at >= lo) {
            *g.open.entry(unit).or_default() += 1;
            g.touch(unit);
        }
    }
    g
}

fn into_partial(g: Grid, by: Option<By>, c: &Columns) -> Grouped {
    let mut out = Grouped::default();
    for (unit, n) in &g.open {
        out.open.insert(key_of(by, c, *unit), *n);
    }
    for (unit, cells) in g.units {
        let key = key_of(by, c, unit);
        out.keys.insert(key.clone());
        for (i, mut cell) in cells.into_iter().enumerate() {
            let mut a = Counts {
                received: cell.received,
                closed: cell.closed,
                completed: cell.completed,
                ever_completed: cell.ever_completed,
                reopened: cell.reopened,
                ratings: cell.ratings,
                photo_both: cell.photo_both,
                flagged: cell.flagged,
                ..Counts::default()
            };
            for (j, p) in PRIORITIES.iter().enumerate() {
                let at = |v: &[i64; 4]| v.get(j).copied().unwrap_or(0);
                if let Some(s) = a.sla.cell_mut(p) {
                    s.due = at(&cell.sla_due);
                    s.met = at(&cell.sla_met);
                }
                if let Some(s) = a.sla_ack.cell_mut(p) {
                    s.due = at(&cell.ack_due);
                    s.met = at(&cell.ack_met);
                }
            }
            cell.ack_ms.sort_unstable();
            cell.complete_ms.sort_unstable();
            let pcts = |v: &[i64]| (percentile_cont(v, 0.5), percentile_cont(v, 0.9));
            a.ack = pcts(&cell.ack_ms);
            a.complete = pcts(&cell.complete_ms);
            out.acc.insert((key.clone(), i), a);
        }
    }
    out
}

/// Refreshes the mirror and computes the counts per (unit, bucket) in one pass.
pub(super) async fn compute(
    db: &Db,
    mirror: &Mirror,
    f: &Filter,
    by: Option<By>,
    buckets: &[Bucket],
    now_ms: i64,
) -> Result<Grouped, AnalyticsError> {
    let columns = mirror.fresh(db).await?;
    let starts: Vec<i64> = buckets.iter().map(|b| b.lo).collect();
    let hi = buckets.last().map_or(0, |b| b.hi);
    let f = f.clone();
    tokio::task::spawn_blocking(move || {
        let span = Span {
            starts: &starts,
            hi,
            now_ms,
        };
        let g = scan(&columns, &f, by, &span);
        into_partial(g, by, &columns)
    })
    .await
    .map_err(|e| AnalyticsError::Internal(format!("analytics scan: {e}")))
}

/// The engine a server uses: the mirror unless it is switched off.
pub fn engine(mirror: Option<&Mirror>) -> Engine<'_> {
    mirror.map_or(Engine::Sql, Engine::Memory)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::analytics::period;

    /// Rows of every kind: open, acknowledged, completed, late, reopened, cancelled,
    /// rated, in and out of the range, with and without a district.
    fn columns(n: i64) -> Columns {
        let mut c = Columns::default();
        let some = |i: i64, m: i64| (i % m != 0).then_some(i);
        for i in 0..n {
            let created = 1_000_000 + i * 7_919 % 900_000;
            let ack = some(i, 7).map(|_| created + i % 50_000);
            let done = some(i, 3).and(ack).map(|a| a + i % 400_000);
            let row = Row {
                created_at: created,
                acknowledged_at: ack.unwrap_or(NONE),
                completed_at: done.unwrap_or(NONE),
                closed_at: done.unwrap_or(if i % 11 == 0 { created + 5 } else { NONE }),
                ack_due: if i % 5 == 0 { NONE } else { created + 20_000 },
                complete_due: created + 200_000,
                district: c
                    .district
                    .intern(some(i, 13).map(|i| format!("D{}", i % 4))),
                region: c.region.intern(Some(format!("R{}", i % 2))),
                category: c.category.intern(Some(format!("c{}", i % 3))),
                crew: c.crew.intern(Some(format!("C{}", i % 6))),
                ack_crew: c.crew.intern(Some(format!("C{}", (i + 1) % 6))),
                contractor: c
                    .contractor
                    .intern(some(i, 2).map(|i| format!("K{}", i % 3))),
                ack_contractor: c.contractor.intern(Some("K0".into())),
                priority: u8::try_from(i % 5).unwrap(),
                rating: u8::try_from(i % 6).unwrap(),
                live: i % 11 != 0,
                reopened: i % 17 == 0,
                photo_both: i % 4 == 0,
                flagged: 0,
            };
            let key = c.key(&format!("T{i}"));
            c.ids.insert(key, u32::try_from(i).unwrap());
            c.rows.push(row);
        }
        let (t5, t8) = (c.key("T5"), c.key("T8"));
        c.add_flagged(t5);
        c.add_flagged(t5);
        c.add_flagged(t8);
        c
    }

    /// A filter of nothing but its scope (the range is not what the scans read: their
    /// `Span` is).
    fn city_wide(scope: Scope) -> Filter {
        let tz = period::zone("UTC").unwrap();
        Filter {
            range: period::range(Some("2026-01-01"), Some("2026-01-02"), &tz).unwrap(),
            district: None,
            region: None,
            category: None,
            priority: None,
            scope,
        }
    }

    #[test]
    fn a_scan_split_over_threads_adds_up_to_the_single_thread_scan() {
        let c = columns(5_000);
        let starts = [1_000_000, 1_300_000, 1_600_000];
        let span = Span {
            starts: &starts,
            hi: 1_900_000,
            now_ms: 1_500_000,
        };
        for scope in [Scope::All, Scope::Districts(vec!["D1".into(), "D3".into()])] {
            for by in [
                None,
                Some(By::District),
                Some(By::Region),
                Some(By::Category),
                Some(By::Crew),
                Some(By::Contractor),
            ] {
                let f = city_wide(scope.clone());
                let one = into_partial(scan_on(&c, &f, by, &span, 1), by, &c);
                let three = into_partial(scan_on(&c, &f, by, &span, 3), by, &c);
                let (one, three) = (
                    super::super::measures::finish(one, 3),
                    super::super::measures::finish(three, 3),
                );
                assert!(!one.units.is_empty(), "{by:?}");
                assert_eq!(one.units, three.units, "{by:?} {scope:?}");
            }
        }
    }

    #[test]
    fn skipping_rows_that_cannot_count_changes_no_number() {
        // Rows in creation order over several blocks, so that most ranges skip some.
        let mut c = columns(i64::try_from(BLOCK).unwrap() * 4 + 777);
        c.rows.sort_by_key(|r| r.created_at);
        // The oldest two blocks all closed: they end long before the last range starts.
        for r in c.rows.iter_mut().take(BLOCK * 2) {
            if r.closed_at == NONE {
                r.closed_at = r.created_at + 5;
            }
        }
        let all = |c: &Columns, span: &Span<'_>, by, f: &Filter| {
            super::super::measures::finish(into_partial(scan_on(c, f, by, span, 2), by, c), 3)
        };
        let mut summarised = c;
        summarised.summarise(0..summarised.rows.len());
        assert_eq!(summarised.blocks.len(), 5);
        assert_eq!(summarised.by_latest.len(), 5);
        let (mut skipped_blocks, mut picked_rows) = (false, false);
        let mut check = |summarised: &Columns| {
            // Without summaries every row is read.
            let mut full = summarised.clone();
            full.blocks.clear();
            for (lo, hi) in [
                (1_000_000, 1_900_000),
                (1_000_000, 1_150_000),
                (1_600_000, 1_700_000),
                (1_850_000, 2_500_000),
                (1_899_000, 1_900_000),
            ] {
                let starts = [lo, (lo + hi) / 2, hi - 1];
                let span = Span {
                    starts: &starts,
                    hi,
                    now_ms: 1_500_000,
                };
                let read = pieces(summarised, lo, hi);
                skipped_blocks |=
                    read.iter().map(Piece::len).sum::<usize>() < summarised.rows.len();
                picked_rows |= read.iter().any(|p| matches!(p, Piece::Picked(..)));
                assert_eq!(
                    pieces(&full, lo, hi).iter().map(Piece::len).sum::<usize>(),
                    full.rows.len()
                );
                for by in [None, Some(By::District), Some(By::Crew)] {
                    let f = city_wide(Scope::All);
                    let (a, b) = (all(&full, &span, by, &f), all(summarised, &span, by, &f));
                    assert_eq!(a.units, b.units, "{lo}..{hi} {by:?}");
                }
            }
        };
        check(&summarised);
        // A refresh reopens an old task and closes a late one: the blocks' orders follow.
        let (old, late) = (5, BLOCK * 3 + 11);
        summarised.rows[old].closed_at = NONE;
        summarised.rows[late].closed_at = 2_400_000;
        summarised.summarise([old, late]);
        check(&summarised);
        assert!(skipped_blocks, "no range skipped a block");
        assert!(picked_rows, "no range read only some rows of a block");
    }

    #[test]
    fn buckets_are_half_open_and_inside_the_range() {
        let starts = [100, 200, 300];
        assert_eq!(bucket(&starts, 400, 99), None);
        assert_eq!(bucket(&starts, 400, 100), Some(0));
        assert_eq!(bucket(&starts, 400, 199), Some(0));
        assert_eq!(bucket(&starts, 400, 200), Some(1));
        assert_eq!(bucket(&starts, 400, 399), Some(2));
        assert_eq!(bucket(&starts, 400, 400), None);
        assert_eq!(bucket(&starts, 400, NONE), None);
    }
}

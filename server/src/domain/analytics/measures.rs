//! The measures, computed from `task_facts` by a handful of grouped aggregate queries
//! per request (the same SQL on both backends), per unit and per time bucket.
//!
//! Which tasks each measure looks at (a task counts on the local day its event happened):
//!
//! | measure | tasks |
//! | --- | --- |
//! | `received` | created in the range |
//! | `closed` | closed (completed, cancelled, duplicate) in the range |
//! | `backlog` | created before the end of the range and not closed before it |
//! | `completed`, `complete_p50/p90_min`, `rating_*`, `photo_share` | whose completion is in the range |
//! | `ack_p50/p90_min`, `sla_ack_*`, `sla_complete_*`, `sla`, `reopen_rate`, `flagged_photos` | created in the range |
//!
//! - Times are minutes from creation; percentiles are **continuous** (linear
//!   interpolation between the two nearest ranks, PostgreSQL's `percentile_cont`), computed
//!   in SQL on PostgreSQL and by the same formula in Rust on SQLite, rounded to 0.01 min.
//! - SLA: a task with a due time is *due* once it was done (acknowledged / completed) or
//!   its due time has passed while it is not cancelled or a duplicate; it *met* the SLA
//!   when done at or before the due time. `_pct` = met / due × 100; `sla` is completion
//!   SLA by priority (`sla_ack_by_priority` the same for acknowledgement).
//! - `reopen_rate` = tasks reopened at least once / tasks ever completed (completed now or
//!   reopened), both among the tasks created in the range.
//! - `rating_response_rate` = rated / completed; `photo_share` = completions with a
//!   before and an after photo / completions; `flagged_photos` = photos flagged by the
//!   EXIF place/time check (`photos.far_from_task` or `before_task`).
//! - Measures reflect each task's current state: a task reopened after its completion
//!   is open again, and its earlier completion no longer counts.
//! - Fractions `_rate`/`_share` are 0..1, `_pct` 0..100; null when nothing to divide by.

use super::mirror::Mirror;
use super::period::Bucket;
use super::{AnalyticsError, By, Filter, PRIORITIES, where_clause};
use crate::storage::{Db, on_pool};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// A unit's key: `None` for tasks with no crew/contractor/district (shown as `""`).
pub type Key = Option<String>;

/// Due/met counts and the compliance percentage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SlaCell {
    /// Tasks due.
    pub due: i64,
    /// Of which met.
    pub met: i64,
    /// met / due × 100, null when nothing was due.
    pub pct: Option<f64>,
}

/// SLA compliance by priority.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SlaByPriority {
    /// Urgent tasks.
    pub urgent: SlaCell,
    /// High.
    pub high: SlaCell,
    /// Normal.
    pub normal: SlaCell,
    /// Low.
    pub low: SlaCell,
}

impl SlaByPriority {
    pub(super) fn cell_mut(&mut self, p: &str) -> Option<&mut SlaCell> {
        match p {
            "urgent" => Some(&mut self.urgent),
            "high" => Some(&mut self.high),
            "normal" => Some(&mut self.normal),
            "low" => Some(&mut self.low),
            _ => None,
        }
    }
}

/// One unit's measures (the API's row).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MeasureRow {
    /// Unit key (district code, region, service code, crew id, contractor; "" = none).
    pub key: String,
    /// Display name.
    pub label: String,
    /// Created in the range.
    pub received: i64,
    /// Closed in the range.
    pub closed: i64,
    /// Open at the end of the range.
    pub backlog: i64,
    /// Completions in the range.
    pub completed: i64,
    /// Median minutes to acknowledge.
    pub ack_p50_min: Option<f64>,
    /// 90th percentile minutes to acknowledge.
    pub ack_p90_min: Option<f64>,
    /// Median minutes to complete.
    pub complete_p50_min: Option<f64>,
    /// 90th percentile minutes to complete.
    pub complete_p90_min: Option<f64>,
    /// Acknowledgement SLA compliance, 0..100.
    pub sla_ack_pct: Option<f64>,
    /// Completion SLA compliance, 0..100.
    pub sla_complete_pct: Option<f64>,
    /// Completion SLA by priority.
    pub sla: SlaByPriority,
    /// Acknowledgement SLA by priority.
    pub sla_ack_by_priority: SlaByPriority,
    /// Reopened / ever completed, 0..1.
    pub reopen_rate: Option<f64>,
    /// Mean rating, 1..5.
    pub rating_mean: Option<f64>,
    /// Ratings 1 to 5.
    pub rating_counts: [i64; 5],
    /// Rated / completed, 0..1.
    pub rating_response_rate: Option<f64>,
    /// Completions with before and after photos / completions, 0..1.
    pub photo_share: Option<f64>,
    /// Photos flagged by the EXIF place/time check.
    pub flagged_photos: i64,
}

/// The numeric measures a trend can follow.
pub const NUMERIC: [&str; 15] = [
    "received",
    "closed",
    "backlog",
    "completed",
    "ack_p50_min",
    "ack_p90_min",
    "complete_p50_min",
    "complete_p90_min",
    "sla_ack_pct",
    "sla_complete_pct",
    "reopen_rate",
    "rating_mean",
    "rating_response_rate",
    "photo_share",
    "flagged_photos",
];

impl MeasureRow {
    /// A numeric measure by name (`None` for an unknown name; `Some(None)` when undefined).
    pub fn value(&self, measure: &str) -> Option<Option<f64>> {
        let n = |v: i64| Some(Some(v as f64));
        match measure {
            "received" => n(self.received),
            "closed" => n(self.closed),
            "backlog" => n(self.backlog),
            "completed" => n(self.completed),
            "ack_p50_min" => Some(self.ack_p50_min),
            "ack_p90_min" => Some(self.ack_p90_min),
            "complete_p50_min" => Some(self.complete_p50_min),
            "complete_p90_min" => Some(self.complete_p90_min),
            "sla_ack_pct" => Some(self.sla_ack_pct),
            "sla_complete_pct" => Some(self.sla_complete_pct),
            "reopen_rate" => Some(self.reopen_rate),
            "rating_mean" => Some(self.rating_mean),
            "rating_response_rate" => Some(self.rating_response_rate),
            "photo_share" => Some(self.photo_share),
            "flagged_photos" => n(self.flagged_photos),
            _ => None,
        }
    }
}

/// Checks a measure name.
pub fn check_measure(m: &str) -> Result<(), AnalyticsError> {
    if NUMERIC.contains(&m) {
        Ok(())
    } else {
        Err(AnalyticsError::BadRequest(format!(
            "unknown measure {m:?}: expected one of {}",
            NUMERIC.join(", ")
        )))
    }
}

/// Raw counts per (unit, bucket) before ratios (both engines fill it: the SQL queries
/// here and the in-memory scan in [`super::scan`]).
#[derive(Debug, Clone, Default)]
pub(super) struct Acc {
    pub(super) received: i64,
    pub(super) closed: i64,
    pub(super) completed: i64,
    pub(super) ever_completed: i64,
    pub(super) reopened: i64,
    pub(super) ratings: [i64; 5],
    pub(super) photo_both: i64,
    pub(super) flagged: i64,
    pub(super) sla: SlaByPriority,
    pub(super) sla_ack: SlaByPriority,
    /// p50 and p90 of the acknowledgement times, ms.
    pub(super) ack: (Option<f64>, Option<f64>),
    /// p50 and p90 of the completion times, ms.
    pub(super) complete: (Option<f64>, Option<f64>),
}

/// What an engine hands over: every unit seen, the counts per (unit, bucket), and each
/// unit's open tasks at the start of the first bucket.
#[derive(Debug, Default)]
pub(super) struct Partial {
    pub(super) keys: BTreeSet<Key>,
    pub(super) acc: BTreeMap<(Key, usize), Acc>,
    pub(super) open: BTreeMap<Key, i64>,
}

/// Everything computed for a set of units and buckets.
#[derive(Debug, Clone, Default)]
pub struct Computed {
    /// Rows per unit, each with one row per bucket (in bucket order).
    pub units: BTreeMap<Key, Vec<MeasureRow>>,
}

fn ratio(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn pct(a: i64, b: i64) -> Option<f64> {
    ratio(a, b).map(|r| (r * 100_000.0).round() / 1000.0)
}

fn round_frac(v: Option<f64>) -> Option<f64> {
    v.map(|x| (x * 1_000_000.0).round() / 1_000_000.0)
}

fn minutes(ms: Option<f64>) -> Option<f64> {
    ms.map(|v| (v / 60_000.0 * 100.0).round() / 100.0)
}

/// Continuous percentile of sorted values, as PostgreSQL's `percentile_cont`.
pub fn percentile_cont(sorted: &[i64], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let pos = p * (n - 1) as f64;
    let lo = pos.floor();
    let hi = pos.ceil();
    let a = *sorted.get(lo as usize)? as f64;
    let b = *sorted.get(hi as usize)? as f64;
    Some(a + (b - a) * (pos - lo))
}

fn sum_cells(s: &SlaByPriority) -> (i64, i64) {
    let c = [s.urgent, s.high, s.normal, s.low];
    (c.iter().map(|c| c.due).sum(), c.iter().map(|c| c.met).sum())
}

fn finish_cells(s: &mut SlaByPriority) {
    for c in [&mut s.urgent, &mut s.high, &mut s.normal, &mut s.low] {
        c.pct = pct(c.met, c.due);
    }
}

/// The buckets as a `WITH` clause (integers only: nothing from the request is inlined).
fn buckets_cte(buckets: &[Bucket]) -> String {
    let values: Vec<String> = buckets
        .iter()
        .enumerate()
        .map(|(i, b)| format!("({i}, {}, {})", b.lo, b.hi))
        .collect();
    format!("WITH b(i, lo, hi) AS (VALUES {})", values.join(", "))
}

macro_rules! fetch {
    ($db:expr, $t:ty, $sql:expr, $binds:expr) => {{
        let sql: &str = &$sql;
        on_pool!($db, pool => {
            let mut q = sqlx::query_as::<_, $t>(sql);
            for b in $binds.iter() {
                q = q.bind(b);
            }
            q.fetch_all(pool).await
        })
    }};
}

fn bucket_index(p: i64) -> usize {
    usize::try_from(p).unwrap_or(0)
}

/// Values of `col` per (unit, bucket) for percentiles computed in Rust (SQLite).
async fn percentiles_in_rust(
    db: &Db,
    key: &str,
    col: &str,
    date_col: &str,
    cte: &str,
    cond: &str,
    binds: &[String],
) -> Result<BTreeMap<(Key, usize), (Option<f64>, Option<f64>)>, AnalyticsError> {
    let sql = format!(
        "{cte} SELECT {key} AS k, CAST(b.i AS BIGINT) AS p, {col} AS v
         FROM task_facts f JOIN b ON {date_col} >= b.lo AND {date_col} < b.hi
         WHERE {col} IS NOT NULL AND {cond}
         ORDER BY 1, 2, 3"
    );
    let rows: Vec<(Key, i64, i64)> = fetch!(db, (Key, i64, i64), sql, binds)?;
    let mut grouped: BTreeMap<(Key, usize), Vec<i64>> = BTreeMap::new();
    for (k, p, v) in rows {
        grouped.entry((k, bucket_index(p))).or_default().push(v);
    }
    Ok(grouped
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_unstable();
            (k, (percentile_cont(&v, 0.5), percentile_cont(&v, 0.9)))
        })
        .collect())
}

/// A grouped row: unit, bucket, then integer and float columns.
struct Raw {
    k: Key,
    p: usize,
    ints: Vec<i64>,
    floats: Vec<Option<f64>>,
}

macro_rules! fetch_raw {
    ($db:expr, $sql:expr, $binds:expr, $ni:expr, $nf:expr) => {{
        use sqlx::Row;
        let sql: &str = &$sql;
        let (ni, nf): (usize, usize) = ($ni, $nf);
        on_pool!($db, pool => {
            let mut q = sqlx::query(sql);
            for b in $binds.iter() {
                q = q.bind(b);
            }
            match q.fetch_all(pool).await {
                Ok(rows) => rows
                    .iter()
                    .map(|r| -> Result<Raw, sqlx::Error> {
                        let k: Key = r.try_get(0)?;
                        let p: i64 = r.try_get(1)?;
                        let mut ints = Vec::with_capacity(ni);
                        for i in 0..ni {
                            ints.push(r.try_get::<i64, _>(2 + i)?);
                        }
                        let mut floats = Vec::with_capacity(nf);
                        for i in 0..nf {
                            floats.push(r.try_get::<Option<f64>, _>(2 + ni + i)?);
                        }
                        Ok(Raw { k, p: bucket_index(p), ints, floats })
                    })
                    .collect::<Result<Vec<Raw>, sqlx::Error>>(),
                Err(e) => Err(e),
            }
        })
    }};
}

/// Due and met counts per priority (`due`, `met` for urgent, high, normal, low).
fn sla_columns(due: &str, met: &str) -> String {
    PRIORITIES
        .iter()
        .map(|p| {
            format!(
                "COUNT(*) FILTER (WHERE f.priority = '{p}' AND {due}),
                 COUNT(*) FILTER (WHERE f.priority = '{p}' AND {met})"
            )
        })
        .collect::<Vec<_>>()
        .join(",\n")
}

fn add_sla(s: &mut SlaByPriority, ints: &[i64]) {
    for (i, p) in PRIORITIES.iter().enumerate() {
        if let Some(c) = s.cell_mut(p) {
            c.due += ints.get(2 * i).copied().unwrap_or(0);
            c.met += ints.get(2 * i + 1).copied().unwrap_or(0);
        }
    }
}

/// How rows are put into buckets. On PostgreSQL the bucket is computed in the scan
/// (`width_bucket` over the bucket starts): a range join to a list of buckets is planned
/// as a nested loop per bucket (a year of days took over a minute on a million tasks).
/// On SQLite rows are joined to the buckets' `WITH` list.
struct Bucketing {
    pg: bool,
    cte: String,
    lo: i64,
    hi: i64,
    starts: Vec<i64>,
}

impl Bucketing {
    fn new(pg: bool, buckets: &[Bucket]) -> Bucketing {
        Bucketing {
            pg,
            cte: if pg {
                String::new()
            } else {
                buckets_cte(buckets)
            },
            lo: buckets.first().map(|b| b.lo).unwrap_or(0),
            hi: buckets.last().map(|b| b.hi).unwrap_or(0),
            starts: buckets.iter().skip(1).map(|b| b.lo).collect(),
        }
    }

    /// (bucket index expression, join clause, range condition) for a time column.
    fn parts(&self, col: &str) -> (String, String, String) {
        if !self.pg {
            return (
                "CAST(b.i AS BIGINT)".into(),
                format!("JOIN b ON {col} >= b.lo AND {col} < b.hi"),
                "1 = 1".into(),
            );
        }
        let idx = if self.starts.is_empty() {
            "CAST(0 AS BIGINT)".to_owned()
        } else {
            let starts: Vec<String> = self.starts.iter().map(i64::to_string).collect();
            format!(
                "CAST(width_bucket({col}, ARRAY[{}]::bigint[]) AS BIGINT)",
                starts.join(", ")
            )
        };
        (
            idx,
            String::new(),
            format!("{col} >= {} AND {col} < {}", self.lo, self.hi),
        )
    }
}

/// The key expressions for a grouping (`None`: one unit, "all").
fn key_exprs(by: Option<By>) -> (&'static str, &'static str) {
    match by {
        Some(b) => (b.column(), b.ack_column()),
        None => ("CAST('all' AS TEXT)", "CAST('all' AS TEXT)"),
    }
}

/// Where the measures are computed from.
#[derive(Clone, Copy)]
pub enum Engine<'a> {
    /// Grouped SQL over `task_facts` (a few scans per request).
    Sql,
    /// One pass over the in-memory mirror of `task_facts`, refreshed first.
    Memory(&'a Mirror),
}

/// Computes every measure per unit and bucket. `buckets` must be contiguous and in
/// order (the backlog of each bucket is carried forward from the one before).
pub async fn compute(
    db: &Db,
    engine: Engine<'_>,
    f: &Filter,
    by: Option<By>,
    buckets: &[Bucket],
    now_ms: i64,
) -> Result<Computed, AnalyticsError> {
    if buckets.is_empty() {
        return Ok(Computed::default());
    }
    let partial = match engine {
        Engine::Sql => compute_sql(db, f, by, buckets, now_ms).await?,
        Engine::Memory(m) => super::scan::compute(db, m, f, by, buckets, now_ms).await?,
    };
    Ok(finish(partial, buckets.len()))
}

async fn compute_sql(
    db: &Db,
    f: &Filter,
    by: Option<By>,
    buckets: &[Bucket],
    now_ms: i64,
) -> Result<Partial, AnalyticsError> {
    let Some(first) = buckets.first() else {
        return Ok(Partial::default());
    };
    let (key, ack_key) = key_exprs(by);
    let cte = buckets_cte(buckets);
    let bk = Bucketing::new(matches!(db, Db::Postgres(_)), buckets);
    let (cond, binds) = where_clause(f, 1);
    let mut acc: BTreeMap<(Key, usize), Acc> = BTreeMap::new();
    let mut keys: BTreeSet<Key> = BTreeSet::new();
    let live = "f.status NOT IN ('cancelled', 'duplicate')";

    let pg = matches!(db, Db::Postgres(_));
    let done_due = format!(
        "f.complete_due IS NOT NULL AND (f.completed_at IS NOT NULL
            OR (f.complete_due < {now_ms} AND {live}))"
    );
    let done_met = "f.complete_due IS NOT NULL AND f.completed_at IS NOT NULL
            AND f.completed_at <= f.complete_due";
    let ack_due = format!(
        "f.ack_due IS NOT NULL AND (f.acknowledged_at IS NOT NULL
            OR (f.ack_due < {now_ms} AND {live}))"
    );
    let ack_met = "f.ack_due IS NOT NULL AND f.acknowledged_at IS NOT NULL
            AND f.acknowledged_at <= f.ack_due";
    let pct_cols = |col: &str| {
        format!(
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY {col}),
             percentile_cont(0.9) WITHIN GROUP (ORDER BY {col})"
        )
    };
    // Acknowledgement measures go with the created tasks' scan when they group by the
    // same unit (all but crew and contractor); on PostgreSQL percentiles come from the
    // same scan too. One scan per cohort keeps a year of a big city fast.
    let same_key = key == ack_key;

    // Tasks created in each bucket: volumes, reopens, completion SLA by priority (and
    // acknowledgement measures when they share the unit).
    let mut cols = format!(
        "COUNT(*),
         COUNT(*) FILTER (WHERE f.completed_at IS NOT NULL OR f.reopen_count > 0),
         COUNT(*) FILTER (WHERE f.reopen_count > 0),
         {}",
        sla_columns(&done_due, done_met)
    );
    let mut ni = 3 + 2 * PRIORITIES.len();
    let mut nf = 0;
    if same_key {
        cols.push_str(&format!(",\n{}", sla_columns(&ack_due, ack_met)));
        ni += 2 * PRIORITIES.len();
        if pg {
            cols.push_str(&format!(",\n{}", pct_cols("f.ack_ms")));
            nf = 2;
        }
    }
    let (bcte, (idx, join, range)) = (&bk.cte, bk.parts("f.created_at"));
    let sql = format!(
        "{bcte} SELECT {key} AS k, {idx} AS p, {cols}
         FROM task_facts f {join}
         WHERE {range} AND {cond}
         GROUP BY 1, 2"
    );
    for r in fetch_raw!(db, sql, binds, ni, nf)? {
        keys.insert(r.k.clone());
        let a = acc.entry((r.k, r.p)).or_default();
        a.received += r.ints.first().copied().unwrap_or(0);
        a.ever_completed += r.ints.get(1).copied().unwrap_or(0);
        a.reopened += r.ints.get(2).copied().unwrap_or(0);
        add_sla(&mut a.sla, r.ints.get(3..).unwrap_or_default());
        if same_key {
            add_sla(
                &mut a.sla_ack,
                r.ints.get(3 + 2 * PRIORITIES.len()..).unwrap_or_default(),
            );
            if pg {
                a.ack = (
                    r.floats.first().copied().flatten(),
                    r.floats.get(1).copied().flatten(),
                );
            }
        }
    }

    // Acknowledgement measures by the acknowledging crew, when that is another unit.
    if !same_key {
        let mut cols = sla_columns(&ack_due, ack_met);
        let nf = if pg {
            cols.push_str(&format!(",\n{}", pct_cols("f.ack_ms")));
            2
        } else {
            0
        };
        let (bcte, (idx, join, range)) = (&bk.cte, bk.parts("f.created_at"));
        let sql = format!(
            "{bcte} SELECT {ack_key} AS k, {idx} AS p, {cols}
             FROM task_facts f {join}
             WHERE {range} AND {cond}
             GROUP BY 1, 2"
        );
        for r in fetch_raw!(db, sql, binds, 2 * PRIORITIES.len(), nf)? {
            keys.insert(r.k.clone());
            let a = acc.entry((r.k, r.p)).or_default();
            add_sla(&mut a.sla_ack, &r.ints);
            if pg {
                a.ack = (
                    r.floats.first().copied().flatten(),
                    r.floats.get(1).copied().flatten(),
                );
            }
        }
    }
    if !pg {
        for (k, v) in
            percentiles_in_rust(db, ack_key, "f.ack_ms", "f.created_at", &cte, &cond, &binds)
                .await?
        {
            keys.insert(k.0.clone());
            acc.entry(k).or_default().ack = v;
        }
    }

    // Completions in each bucket (and their times, on PostgreSQL in the same scan).
    let mut cols = "COUNT(*),
            COUNT(*) FILTER (WHERE f.rating = 1),
            COUNT(*) FILTER (WHERE f.rating = 2),
            COUNT(*) FILTER (WHERE f.rating = 3),
            COUNT(*) FILTER (WHERE f.rating = 4),
            COUNT(*) FILTER (WHERE f.rating = 5),
            COUNT(*) FILTER (WHERE f.before_photo IS NOT NULL AND f.after_photo IS NOT NULL)"
        .to_owned();
    let nf = if pg {
        cols.push_str(&format!(",\n{}", pct_cols("f.complete_ms")));
        2
    } else {
        0
    };
    let (bcte, (idx, join, range)) = (&bk.cte, bk.parts("f.completed_at"));
    let sql = format!(
        "{bcte} SELECT {key} AS k, {idx} AS p, {cols}
         FROM task_facts f {join}
         WHERE {range} AND {cond}
         GROUP BY 1, 2"
    );
    for r in fetch_raw!(db, sql, binds, 7, nf)? {
        keys.insert(r.k.clone());
        let a = acc.entry((r.k, r.p)).or_default();
        let n = |i: usize| r.ints.get(i).copied().unwrap_or(0);
        a.completed += n(0);
        a.ratings = [n(1), n(2), n(3), n(4), n(5)];
        a.photo_both += n(6);
        if pg {
            a.complete = (
                r.floats.first().copied().flatten(),
                r.floats.get(1).copied().flatten(),
            );
        }
    }
    if !pg {
        for (k, v) in percentiles_in_rust(
            db,
            key,
            "f.complete_ms",
            "f.completed_at",
            &cte,
            &cond,
            &binds,
        )
        .await?
        {
            keys.insert(k.0.clone());
            acc.entry(k).or_default().complete = v;
        }
    }

    // Closures in each bucket.
    let (bcte, (idx, join, range)) = (&bk.cte, bk.parts("f.closed_at"));
    let sql = format!(
        "{bcte} SELECT {key} AS k, {idx} AS p, COUNT(*)
         FROM task_facts f {join}
         WHERE {range} AND {cond}
         GROUP BY 1, 2"
    );
    for (k, p, n) in fetch!(db, (Key, i64, i64), sql, binds)? {
        keys.insert(k.clone());
        acc.entry((k, bucket_index(p))).or_default().closed += n;
    }

    // Flagged photos of the tasks created in each bucket.
    let (bcte, (idx, join, range)) = (&bk.cte, bk.parts("f.created_at"));
    let sql = format!(
        "{bcte} SELECT {key} AS k, {idx} AS p, COUNT(*)
         FROM photos ph JOIN task_facts f ON f.id = ph.task {join}
         WHERE (ph.far_from_task OR ph.before_task) AND {range} AND {cond}
         GROUP BY 1, 2"
    );
    for (k, p, n) in fetch!(db, (Key, i64, i64), sql, binds)? {
        keys.insert(k.clone());
        acc.entry((k, bucket_index(p))).or_default().flagged += n;
    }

    // Open at the start of the first bucket; carried forward with received − closed.
    let lo = first.lo;
    let sql = format!(
        "SELECT {key} AS k, COUNT(*) FROM task_facts f
         WHERE f.created_at < {lo} AND (f.closed_at IS NULL OR f.closed_at >= {lo}) AND {cond}
         GROUP BY 1"
    );
    let mut open: BTreeMap<Key, i64> = BTreeMap::new();
    for (k, n) in fetch!(db, (Key, i64), sql, binds)? {
        keys.insert(k.clone());
        open.insert(k, n);
    }

    Ok(Partial { keys, acc, open })
}

/// Ratios, percentages and the carried-forward backlog, per unit and bucket.
pub(super) fn finish(p: Partial, n_buckets: usize) -> Computed {
    let Partial {
        keys,
        mut acc,
        open,
    } = p;
    let mut out = Computed::default();
    for k in keys {
        let mut backlog = open.get(&k).copied().unwrap_or(0);
        let mut rows = Vec::with_capacity(n_buckets);
        for i in 0..n_buckets {
            let mut a = acc.remove(&(k.clone(), i)).unwrap_or_default();
            backlog += a.received - a.closed;
            finish_cells(&mut a.sla);
            finish_cells(&mut a.sla_ack);
            let (ack_due, ack_met) = sum_cells(&a.sla_ack);
            let (due, met) = sum_cells(&a.sla);
            let rated: i64 = a.ratings.iter().sum();
            let stars: i64 = a.ratings.iter().zip(1i64..).map(|(n, s)| n * s).sum();
            rows.push(MeasureRow {
                key: k.clone().unwrap_or_default(),
                label: String::new(),
                received: a.received,
                closed: a.closed,
                backlog,
                completed: a.completed,
                ack_p50_min: minutes(a.ack.0),
                ack_p90_min: minutes(a.ack.1),
                complete_p50_min: minutes(a.complete.0),
                complete_p90_min: minutes(a.complete.1),
                sla_ack_pct: pct(ack_met, ack_due),
                sla_complete_pct: pct(met, due),
                sla: a.sla,
                sla_ack_by_priority: a.sla_ack,
                reopen_rate: round_frac(ratio(a.reopened, a.ever_completed)),
                rating_mean: round_frac(ratio(stars, rated)),
                rating_counts: a.ratings,
                rating_response_rate: round_frac(ratio(rated, a.completed)),
                photo_share: round_frac(ratio(a.photo_both, a.completed)),
                flagged_photos: a.flagged,
            });
        }
        out.units.insert(k, rows);
    }
    out
}

/// Display names of a grouping's keys.
pub async fn labels(db: &Db, by: Option<By>) -> Result<BTreeMap<String, String>, AnalyticsError> {
    let sql = match by {
        Some(By::District) => "SELECT code, name FROM districts",
        Some(By::Category) => "SELECT code, name FROM services",
        Some(By::Crew) => "SELECT id, name FROM crews",
        _ => return Ok(BTreeMap::new()),
    };
    let none: [String; 0] = [];
    let rows: Vec<(String, String)> = fetch!(db, (String, String), sql, none)?;
    Ok(rows.into_iter().collect())
}

/// The label of one key.
pub fn label_of(labels: &BTreeMap<String, String>, by: Option<By>, key: &str) -> String {
    if by.is_none() {
        return "All".into();
    }
    if key.is_empty() {
        return match by {
            Some(By::Contractor) => "(no contractor)".into(),
            Some(By::Crew) => "(no crew)".into(),
            _ => "(none)".into(),
        };
    }
    labels.get(key).cloned().unwrap_or_else(|| key.to_owned())
}

/// `GET /api/v1/analytics/measures`: one row per unit over the whole range.
pub async fn measures(
    db: &Db,
    engine: Engine<'_>,
    f: &Filter,
    by: By,
    now_ms: i64,
) -> Result<Vec<MeasureRow>, AnalyticsError> {
    let c = compute(
        db,
        engine,
        f,
        Some(by),
        &super::period::whole(&f.range),
        now_ms,
    )
    .await?;
    let names = labels(db, Some(by)).await?;
    Ok(c.units
        .into_values()
        .filter_map(|mut rows| rows.pop())
        .map(|mut r| {
            r.label = label_of(&names, Some(by), &r.key);
            r
        })
        .collect())
}

/// One series of a trend.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// Unit key ("all" without grouping).
    pub key: String,
    /// Display name.
    pub label: String,
    /// One point per bucket.
    pub points: Vec<Point>,
}

/// One bucket's value.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// Local date of the bucket's start.
    pub period: String,
    /// The measure (counts are 0 in an empty bucket; ratios and times null).
    pub value: Option<f64>,
}

/// `GET /api/v1/analytics/trend`.
pub async fn trend(
    db: &Db,
    engine: Engine<'_>,
    f: &Filter,
    by: Option<By>,
    buckets: &[Bucket],
    measure: &str,
    now_ms: i64,
) -> Result<Vec<Series>, AnalyticsError> {
    check_measure(measure)?;
    let mut c = compute(db, engine, f, by, buckets, now_ms).await?;
    if by.is_none() && c.units.is_empty() {
        c.units.insert(
            Some("all".into()),
            buckets
                .iter()
                .map(|_| MeasureRow {
                    key: "all".into(),
                    ..MeasureRow::default()
                })
                .collect(),
        );
    }
    let names = labels(db, by).await?;
    Ok(c.units
        .into_iter()
        .map(|(k, rows)| {
            let key = k.unwrap_or_default();
            Series {
                label: label_of(&names, by, &key),
                key,
                points: rows
                    .iter()
                    .zip(buckets)
                    .map(|(r, b)| Point {
                        period: b.period.to_string(),
                        value: r.value(measure).flatten(),
                    })
                    .collect(),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuous_percentiles_interpolate_like_postgres() {
        assert_eq!(percentile_cont(&[], 0.5), None);
        assert_eq!(percentile_cont(&[7], 0.9), Some(7.0));
        assert_eq!(percentile_cont(&[10, 20], 0.5), Some(15.0));
        assert_eq!(percentile_cont(&[10, 20, 40], 0.9), Some(36.0));
        assert_eq!(percentile_cont(&[1, 2, 3, 4], 0.5), Some(2.5));
    }
}

//! The analytics reads, on either backend: `task_facts` (migration 0009: one row per
//! task, written in every commit's transaction) and `photos` for the EXIF flags only.
//! Nothing here decodes a document.
//!
//! - the mirror's incremental reads ([`facts_updated_since`], [`flagged_photos_since`]);
//! - the SQL engine ([`grouped_counts`]): a handful of grouped aggregate queries per
//!   request, counts per (unit, bucket) before any ratio (the definitions are in
//!   `domain::analytics::measures`);
//! - the tasks behind a number ([`cohort_tasks`]) and the before/after pairs
//!   ([`gallery_pairs`]);
//! - citizens' thanks and complaints and the units they name ([`named_messages`]), and
//!   every report and message by kind and channel ([`kind_by_channel`]): these read
//!   `citizen_messages` (with the facts of the task a message is about) and
//!   `citizen_reports`, filtered like the facts.
//!
//! Every query takes a [`FactsFilter`]; values from a request are bound, never inlined
//! (only integers the server computed are).

use crate::storage::{Db, DbError, on_pool};
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The priorities, most urgent first.
pub const PRIORITIES: [&str; 4] = ["urgent", "high", "normal", "low"];

/// The unit measures are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum By {
    /// District.
    District,
    /// Region.
    Region,
    /// Category (service code).
    Category,
    /// Crew (the completion's crew; ack measures: the acknowledging crew).
    Crew,
    /// Contractor of that crew.
    Contractor,
}

impl By {
    /// The facts column of the unit.
    fn column(self) -> &'static str {
        match self {
            By::District => "f.district",
            By::Region => "f.region",
            By::Category => "f.category",
            By::Crew => "f.crew",
            By::Contractor => "f.contractor",
        }
    }

    /// The column acknowledgement measures group by.
    fn ack_column(self) -> &'static str {
        match self {
            By::Crew => "f.ack_crew",
            By::Contractor => "f.ack_contractor",
            other => other.column(),
        }
    }
}

/// Which facts rows a query reads: every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FactsFilter {
    /// One district.
    pub district: Option<String>,
    /// One region.
    pub region: Option<String>,
    /// One category.
    pub category: Option<String>,
    /// One priority.
    pub priority: Option<String>,
    /// Only these districts (`None`: all; an empty list: none).
    pub districts: Option<Vec<String>>,
}

/// SQL `WHERE` conditions (with `$n` parameters from `first`) for the filter, and the
/// values to bind in order.
fn where_clause(f: &FactsFilter, first: usize) -> (String, Vec<String>) {
    let mut conds = Vec::new();
    let mut binds = Vec::new();
    let mut push = |cond: &str, v: &str, binds: &mut Vec<String>| {
        binds.push(v.to_owned());
        conds.push(cond.replace('?', &format!("${}", first + binds.len() - 1)));
    };
    if let Some(v) = &f.district {
        push("f.district = ?", v, &mut binds);
    }
    if let Some(v) = &f.region {
        push("f.region = ?", v, &mut binds);
    }
    if let Some(v) = &f.category {
        push("f.category = ?", v, &mut binds);
    }
    if let Some(v) = &f.priority {
        push("f.priority = ?", v, &mut binds);
    }
    match &f.districts {
        None => {}
        Some(ds) if ds.is_empty() => conds.push("1 = 0".into()),
        Some(ds) => {
            let mut ps = Vec::new();
            for d in ds {
                binds.push(d.clone());
                ps.push(format!("${}", first + binds.len() - 1));
            }
            conds.push(format!("f.district IN ({})", ps.join(", ")));
        }
    }
    if conds.is_empty() {
        ("1 = 1".into(), binds)
    } else {
        (conds.join(" AND "), binds)
    }
}

/// A `task_facts` row as the mirror reads it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MirrorFact {
    /// Task id.
    pub id: String,
    /// District.
    pub district: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Service code.
    pub category: String,
    /// Priority (wire name).
    pub priority: String,
    /// Status (wire name).
    pub status: String,
    /// Attributed crew.
    pub crew: Option<String>,
    /// Its contractor.
    pub contractor: Option<String>,
    /// The acknowledging crew.
    pub ack_crew: Option<String>,
    /// Its contractor.
    pub ack_contractor: Option<String>,
    /// When created.
    pub created_at: i64,
    /// First acknowledgement.
    pub acknowledged_at: Option<i64>,
    /// Completion.
    pub completed_at: Option<i64>,
    /// Closure.
    pub closed_at: Option<i64>,
    /// Acknowledge-by.
    pub ack_due: Option<i64>,
    /// Complete-by.
    pub complete_due: Option<i64>,
    /// Times reopened.
    pub reopen_count: i32,
    /// Rating.
    pub rating: Option<i16>,
    /// A before and an after photo.
    pub photo_both: bool,
    /// When the row was last written.
    pub updated_at: i64,
}

const MIRROR_FACTS: &str =
    "SELECT id, district, region, category, priority, status, crew, contractor,
        ack_crew, ack_contractor, created_at, acknowledged_at, completed_at, closed_at, ack_due,
        complete_due, reopen_count, rating,
        (before_photo IS NOT NULL AND after_photo IS NOT NULL) AS photo_both, updated_at
     FROM task_facts WHERE updated_at >= $1";

/// The facts rows updated at or after `since`, streamed (a first load reads every row).
pub fn facts_updated_since(db: &Db, since: i64) -> BoxStream<'_, Result<MirrorFact, DbError>> {
    on_pool!(db, pool => sqlx::query_as::<_, MirrorFact>(MIRROR_FACTS)
        .bind(since)
        .fetch(pool)
        .map_err(DbError::from)
        .boxed())
}

/// A photo flagged by the EXIF place/time check.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FlaggedPhoto {
    /// SHA-256, hex.
    pub hash: String,
    /// Its task.
    pub task: String,
    /// When stored.
    pub uploaded_at: i64,
}

const FLAGGED_PG: &str = "SELECT hash, task, uploaded_at FROM photos
     WHERE (far_from_task OR before_task) AND uploaded_at >= $1";
// The same, worded as SQLite's partial index is, so that it is used.
const FLAGGED_SQLITE: &str = "SELECT hash, task, uploaded_at FROM photos
     WHERE (far_from_task = 1 OR before_task = 1) AND uploaded_at >= $1";

/// Flagged photos stored at or after `since`.
pub async fn flagged_photos_since(db: &Db, since: i64) -> Result<Vec<FlaggedPhoto>, DbError> {
    let sql = match db {
        Db::Sqlite(_) => FLAGGED_SQLITE,
        Db::Postgres(_) => FLAGGED_PG,
    };
    Ok(on_pool!(db, pool => sqlx::query_as(sql).bind(since).fetch_all(pool).await?))
}

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
    /// The cell of a priority (wire name).
    pub fn cell_mut(&mut self, p: &str) -> Option<&mut SlaCell> {
        match p {
            "urgent" => Some(&mut self.urgent),
            "high" => Some(&mut self.high),
            "normal" => Some(&mut self.normal),
            "low" => Some(&mut self.low),
            _ => None,
        }
    }
}

/// Raw counts of one (unit, bucket) before ratios (both engines fill it: the SQL
/// here and the domain's in-memory scan).
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// Created.
    pub received: i64,
    /// Closed.
    pub closed: i64,
    /// Completed.
    pub completed: i64,
    /// Of the created: completed now or reopened.
    pub ever_completed: i64,
    /// Of the created: reopened at least once.
    pub reopened: i64,
    /// Of the completed: ratings 1 to 5.
    pub ratings: [i64; 5],
    /// Of the completed: with a before and an after photo.
    pub photo_both: i64,
    /// Flagged photos of the created.
    pub flagged: i64,
    /// Completion SLA due/met of the created, by priority.
    pub sla: SlaByPriority,
    /// Acknowledgement SLA due/met of the created, by priority.
    pub sla_ack: SlaByPriority,
    /// p50 and p90 of the acknowledgement times, ms.
    pub ack: (Option<f64>, Option<f64>),
    /// p50 and p90 of the completion times, ms.
    pub complete: (Option<f64>, Option<f64>),
}

/// What an engine hands over: every unit seen, the counts per (unit, bucket), and each
/// unit's open tasks at the start of the first bucket.
#[derive(Debug, Default)]
pub struct Grouped {
    /// Every unit seen.
    pub keys: BTreeSet<Key>,
    /// Counts per (unit, bucket index).
    pub acc: BTreeMap<(Key, usize), Counts>,
    /// Open tasks per unit at the start of the first bucket.
    pub open: BTreeMap<Key, i64>,
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

/// The buckets as a `WITH` clause (integers only: nothing from the request is inlined).
fn buckets_cte(buckets: &[(i64, i64)]) -> String {
    let values: Vec<String> = buckets
        .iter()
        .enumerate()
        .map(|(i, (lo, hi))| format!("({i}, {lo}, {hi})"))
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
) -> Result<BTreeMap<(Key, usize), (Option<f64>, Option<f64>)>, DbError> {
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
    fn new(pg: bool, buckets: &[(i64, i64)]) -> Bucketing {
        Bucketing {
            pg,
            cte: if pg {
                String::new()
            } else {
                buckets_cte(buckets)
            },
            lo: buckets.first().map(|b| b.0).unwrap_or(0),
            hi: buckets.last().map(|b| b.1).unwrap_or(0),
            starts: buckets.iter().skip(1).map(|b| b.0).collect(),
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

/// The counts per unit and bucket (`buckets`: contiguous `(lo, hi)` ms, in order), by
/// grouped queries over `task_facts`: one scan per cohort (created, completed, closed,
/// flagged photos, open at the start). Percentiles are PostgreSQL's `percentile_cont`
/// in the same scans there, and the same formula in Rust on SQLite.
pub async fn grouped_counts(
    db: &Db,
    f: &FactsFilter,
    by: Option<By>,
    buckets: &[(i64, i64)],
    now_ms: i64,
) -> Result<Grouped, DbError> {
    let Some(first) = buckets.first() else {
        return Ok(Grouped::default());
    };
    let (key, ack_key) = key_exprs(by);
    let cte = buckets_cte(buckets);
    let bk = Bucketing::new(matches!(db, Db::Postgres(_)), buckets);
    let (cond, binds) = where_clause(f, 1);
    let mut acc: BTreeMap<(Key, usize), Counts> = BTreeMap::new();
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
    let lo = first.0;
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

    Ok(Grouped { keys, acc, open })
}

/// Display names of a grouping's keys (districts, services and crews have names; the
/// other units are their own names).
pub async fn labels(db: &Db, by: Option<By>) -> Result<BTreeMap<String, String>, DbError> {
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

/// Which tasks a measure counts (see the measures' definitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cohort {
    /// Created in the range.
    Created,
    /// Created in the range, by the acknowledging crew's unit.
    CreatedByAcker,
    /// Completed in the range.
    Completed,
    /// Closed in the range.
    Closed,
    /// Open at the end of the range.
    Open,
}

/// A facts row of the tasks behind a number, with its title and flagged photos.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CohortRow {
    /// Task id.
    pub id: String,
    /// Title ("" when the projection has none).
    pub title: String,
    /// Service code.
    pub category: String,
    /// District.
    pub district: Option<String>,
    /// Attributed crew.
    pub crew: Option<String>,
    /// Its contractor.
    pub contractor: Option<String>,
    /// Priority.
    pub priority: String,
    /// Status.
    pub status: String,
    /// When created.
    pub created_at: i64,
    /// First acknowledgement.
    pub acknowledged_at: Option<i64>,
    /// Completion.
    pub completed_at: Option<i64>,
    /// Acknowledge-by.
    pub ack_due: Option<i64>,
    /// Complete-by.
    pub complete_due: Option<i64>,
    /// Times reopened.
    pub reopen_count: i32,
    /// Rating.
    pub rating: Option<i16>,
    /// The before photo's hash.
    pub before_photo: Option<String>,
    /// The after photo's hash.
    pub after_photo: Option<String>,
    /// Photos flagged by the EXIF place/time check.
    pub flagged: i64,
}

/// The tasks of `cohort` in `[lo, hi)` ms (for [`Cohort::Open`]: open at `hi`), of the
/// unit `unit` (its key, "" for tasks with none) when given, paged, in the order of the
/// time that puts a task in the cohort (creation; completion; closure), earliest first.
///
/// That order is what keeps a page cheap at city scale: the walk follows the cohort's
/// own time index and stops after a page of the unit's rows. Ordered by creation, a
/// year's completions were found by walking every task created in five years (1.9 s on
/// 10,000,000 facts, `BENCHMARKS.md`).
#[allow(clippy::too_many_arguments)]
pub async fn cohort_tasks(
    db: &Db,
    f: &FactsFilter,
    cohort: Cohort,
    (lo, hi): (i64, i64),
    unit: Option<(By, &str)>,
    limit: i64,
    offset: i64,
) -> Result<Vec<CohortRow>, DbError> {
    let (cond, mut binds) = where_clause(f, 1);
    let (date, order) = match cohort {
        Cohort::Created | Cohort::CreatedByAcker => (
            format!("f.created_at >= {lo} AND f.created_at < {hi}"),
            "f.created_at",
        ),
        Cohort::Completed => (
            format!("f.completed_at >= {lo} AND f.completed_at < {hi}"),
            "f.completed_at",
        ),
        Cohort::Closed => (
            format!("f.closed_at >= {lo} AND f.closed_at < {hi}"),
            "f.closed_at",
        ),
        Cohort::Open => (
            format!("f.created_at < {hi} AND (f.closed_at IS NULL OR f.closed_at >= {hi})"),
            "f.created_at",
        ),
    };
    let mut unit_cond = String::new();
    if let Some((by, key)) = unit {
        let col = if cohort == Cohort::CreatedByAcker {
            by.ack_column()
        } else {
            by.column()
        };
        // A plain comparison, not `COALESCE(col, '') = key`, so that an index on the
        // unit's column can serve it.
        unit_cond = if key.is_empty() {
            format!(" AND ({col} IS NULL OR {col} = '')")
        } else {
            binds.push(key.to_owned());
            format!(" AND {col} = ${}", binds.len())
        };
    }
    let sql = format!(
        "SELECT f.id, COALESCE(t.title, '') AS title, f.category, f.district, f.crew,
                f.contractor, f.priority, f.status, f.created_at, f.acknowledged_at,
                f.completed_at, f.ack_due, f.complete_due, f.reopen_count, f.rating,
                f.before_photo, f.after_photo,
                (SELECT COUNT(*) FROM photos ph
                  WHERE ph.task = f.id AND (ph.far_from_task OR ph.before_task)) AS flagged
         FROM task_facts f LEFT JOIN tasks t ON t.id = f.id
         WHERE {date} AND {cond}{unit_cond}
         ORDER BY {order}, f.id
         LIMIT {limit} OFFSET {offset}"
    );
    Ok(fetch!(db, CohortRow, sql, binds)?)
}

/// A task completed with a before and an after photo.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GalleryPair {
    /// Task id.
    pub id: String,
    /// Title ("" when the projection has none).
    pub title: String,
    /// District.
    pub district: Option<String>,
    /// Service code.
    pub category: String,
    /// Completion.
    pub completed_at: i64,
    /// The before photo's hash.
    pub before_photo: String,
    /// The after photo's hash.
    pub after_photo: String,
}

/// Tasks completed in `[lo, hi)` ms with a before and an after photo the server holds
/// (a row in `photos` for both), latest first, paged.
pub async fn gallery_pairs(
    db: &Db,
    f: &FactsFilter,
    (lo, hi): (i64, i64),
    limit: i64,
    offset: i64,
) -> Result<Vec<GalleryPair>, DbError> {
    let (cond, binds) = where_clause(f, 1);
    let sql = format!(
        "SELECT f.id, COALESCE(t.title, '') AS title, f.district, f.category, f.completed_at,
                f.before_photo, f.after_photo
         FROM task_facts f LEFT JOIN tasks t ON t.id = f.id
         WHERE f.completed_at >= {lo} AND f.completed_at < {hi}
           AND f.before_photo IS NOT NULL AND f.after_photo IS NOT NULL AND {cond}
           AND EXISTS (SELECT 1 FROM photos pb WHERE pb.hash = f.before_photo)
           AND EXISTS (SELECT 1 FROM photos pa WHERE pa.hash = f.after_photo)
         ORDER BY f.completed_at DESC, f.id
         LIMIT {limit} OFFSET {offset}"
    );
    Ok(fetch!(db, GalleryPair, sql, binds)?)
}

/// Citizens' messages as the facts filter sees them: each with its district (its own,
/// else its task's), that district's region, and the category, priority, crew and
/// contractor of the task it is about (if any), under the alias `f`.
const MESSAGES_AS_FACTS: &str = "(SELECT m.id, m.kind, m.channel, m.created_at, m.about_unit,
        COALESCE(m.district, t.district) AS district,
        COALESCE(t.region, d.region) AS region,
        t.category, t.priority, t.crew, t.contractor
      FROM citizen_messages m
      LEFT JOIN task_facts t ON t.id = m.about_task
      LEFT JOIN districts d ON d.code = COALESCE(m.district, t.district)) f";

/// A thanks or a complaint and the units it names.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NamedMessage {
    /// The message id.
    pub id: String,
    /// `thanks` or `complaint`.
    pub kind: String,
    /// The unit of the level (district, crew or contractor) of the task it is about,
    /// or for the district level its own district.
    pub unit: Option<String>,
    /// The unit, crew or contractor it names in words (`about_unit`).
    pub about_unit: Option<String>,
}

/// The thanks and complaints filed in `[lo, hi)` that the filter keeps, with the unit of
/// `level` they are about (`District`, `Crew` or `Contractor`; any other level: the
/// district).
pub async fn named_messages(
    db: &Db,
    f: &FactsFilter,
    level: By,
    lo: i64,
    hi: i64,
) -> Result<Vec<NamedMessage>, DbError> {
    let unit = match level {
        By::Crew => "f.crew",
        By::Contractor => "f.contractor",
        _ => "f.district",
    };
    let (cond, binds) = where_clause(f, 1);
    let sql = format!(
        "SELECT f.id, f.kind, {unit} AS unit, f.about_unit FROM {MESSAGES_AS_FACTS}
         WHERE f.kind IN ('thanks', 'complaint') AND f.created_at >= {lo}
           AND f.created_at < {hi} AND {cond}
         ORDER BY f.id"
    );
    Ok(fetch!(db, NamedMessage, sql, binds)?)
}

/// Reports and messages filed in `[lo, hi)` that the filter keeps, counted by kind and
/// channel. Field work by its citizen's kind (`request`, `violation`; a task no citizen
/// filed is a `request`) and channel (`web`, `open311`, `call_centre`; a crew's phone
/// field report `crew`, a dispatcher's `dispatcher`, else `other`), as
/// `storage::callcentre::reports_by_channel` counts them; messages by theirs.
pub async fn kind_by_channel(
    db: &Db,
    f: &FactsFilter,
    lo: i64,
    hi: i64,
) -> Result<Vec<(String, String, i64)>, DbError> {
    let (cond, binds) = where_clause(f, 1);
    let sql = format!(
        "SELECT kind, channel, COUNT(*) FROM (
           SELECT COALESCE(r.kind, 'request') AS kind, CASE
               WHEN f.source = 'citizen' THEN COALESCE(r.channel, 'open311')
               WHEN f.source IN ('call_centre', 'crew', 'dispatcher') THEN f.source
               ELSE 'other' END AS channel
             FROM task_facts f LEFT JOIN citizen_reports r ON r.task = f.id
             WHERE f.created_at >= {lo} AND f.created_at < {hi} AND {cond}
           UNION ALL
           SELECT f.kind, f.channel FROM {MESSAGES_AS_FACTS}
             WHERE f.created_at >= {lo} AND f.created_at < {hi} AND {cond}
         ) x GROUP BY kind, channel ORDER BY kind, channel"
    );
    Ok(fetch!(db, (String, String, i64), sql, binds)?)
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

//! The measures, computed from `task_facts` per unit and per time bucket: by a handful
//! of grouped aggregate queries per request ([`crate::storage::analytics::grouped_counts`],
//! the same SQL on both backends) or by one pass over the in-memory mirror
//! ([`super::scan`]); both hand over raw counts, and the ratios are made here.
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
use super::{AnalyticsError, By, Filter};
use crate::storage::Db;
use crate::storage::analytics::{self as records, Grouped};
use serde::Serialize;
use std::collections::BTreeMap;

pub use crate::storage::analytics::{Key, SlaByPriority, SlaCell, percentile_cont};

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

fn sum_cells(s: &SlaByPriority) -> (i64, i64) {
    let c = [s.urgent, s.high, s.normal, s.low];
    (c.iter().map(|c| c.due).sum(), c.iter().map(|c| c.met).sum())
}

fn finish_cells(s: &mut SlaByPriority) {
    for c in [&mut s.urgent, &mut s.high, &mut s.normal, &mut s.low] {
        c.pct = pct(c.met, c.due);
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
        Engine::Sql => {
            let bounds: Vec<(i64, i64)> = buckets.iter().map(|b| (b.lo, b.hi)).collect();
            records::grouped_counts(db, &f.facts(), by, &bounds, now_ms).await?
        }
        Engine::Memory(m) => super::scan::compute(db, m, f, by, buckets, now_ms).await?,
    };
    Ok(finish(partial, buckets.len()))
}

/// Ratios, percentages and the carried-forward backlog, per unit and bucket.
pub(super) fn finish(p: Grouped, n_buckets: usize) -> Computed {
    let Grouped {
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
    let names = records::labels(db, Some(by)).await?;
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
    let names = records::labels(db, by).await?;
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

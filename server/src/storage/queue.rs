//! The console's queue: one page of a dispatcher's tasks with filters and search, the
//! total it is a page of, and the counts per state, all from the `tasks` projection (no
//! document is decoded). Nothing is capped silently: a caller gets `total` and pages on.

use super::dispatch::QueueRow;
use super::{Db, DbError, on_pool};
use serde::Serialize;
use sync_core::Millis;

/// A queue state, as the console's tabs name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueState {
    /// Every open task not waiting for verification (the default).
    Open,
    /// Not yet assigned (`new`, `queued`).
    New,
    /// Assigned, not acknowledged.
    Assigned,
    /// Acknowledged, in progress, paused or reopened: the crew has it.
    Acknowledged,
    /// Open and past a due time (acknowledge-by before acknowledgement, complete-by).
    Late,
    /// Completed, waiting for a dispatcher's verification.
    ToVerify,
}

impl QueueState {
    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<QueueState> {
        Some(match s {
            "open" => QueueState::Open,
            "new" => QueueState::New,
            "assigned" => QueueState::Assigned,
            "acknowledged" => QueueState::Acknowledged,
            "late" => QueueState::Late,
            "to_verify" => QueueState::ToVerify,
            _ => return None,
        })
    }
}

/// Which tasks, in which page.
#[derive(Debug, Clone)]
pub struct QueueQuery {
    /// The caller's districts (nothing outside them, whatever the filters say).
    pub districts: Vec<String>,
    /// The state tab.
    pub state: QueueState,
    /// Service code.
    pub service: Option<String>,
    /// Priority (wire name).
    pub priority: Option<String>,
    /// Crew id.
    pub crew: Option<String>,
    /// One district (of the caller's).
    pub district: Option<String>,
    /// Only late tasks.
    pub late: bool,
    /// Task id (or its start), title or address words.
    pub text: Option<String>,
    /// Tasks a tracking code points at (already normalised by the caller).
    pub tracking_code: Option<String>,
    /// Now, for lateness.
    pub now: Millis,
    /// Page size.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
}

/// How many tasks of the filtered set are in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QueueCounts {
    /// Not yet assigned.
    pub new: i64,
    /// Assigned, not acknowledged.
    pub assigned: i64,
    /// With the crew (acknowledged, in progress, paused, reopened).
    pub acknowledged: i64,
    /// Open and past a due time.
    pub late: i64,
    /// Completed, waiting for verification.
    pub to_verify: i64,
}

/// One page and what it is a page of.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueuePage {
    /// The page's tasks: most urgent priority first, then the oldest.
    pub rows: Vec<QueueRow>,
    /// How many tasks match (every page together).
    pub total: i64,
    /// The counts per state of the tasks matching every filter but the state.
    pub counts: QueueCounts,
}

const OPEN: &str =
    "status IN ('new', 'queued', 'assigned', 'acknowledged', 'in_progress', 'paused', 'reopened')";

/// `late` as SQL over the row, with `$n` the current time.
fn late_sql(now: usize) -> String {
    format!(
        "({OPEN} AND ((ack_due IS NOT NULL AND ack_due < ${now} AND status IN ('new', 'queued', 'assigned'))
                      OR (complete_due IS NOT NULL AND complete_due < ${now})))"
    )
}

/// A WHERE clause under construction with its binds (all text or integers).
struct Where {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

#[derive(Debug, Clone)]
enum Bind {
    Text(String),
    Int(i64),
}

impl Where {
    fn push(&mut self, b: Bind) -> usize {
        self.binds.push(b);
        self.binds.len()
    }
}

/// The filters every query shares (districts, service, priority, crew, district, late,
/// search); `$1` is always `now`.
fn filters(q: &QueueQuery) -> Where {
    let mut w = Where {
        clauses: Vec::new(),
        binds: vec![Bind::Int(q.now)],
    };
    let ds: Vec<String> = q
        .districts
        .iter()
        .map(|d| format!("${}", w.push(Bind::Text(d.clone()))))
        .collect();
    w.clauses.push(format!("district IN ({})", ds.join(", ")));
    if let Some(d) = &q.district {
        let n = w.push(Bind::Text(d.clone()));
        w.clauses.push(format!("district = ${n}"));
    }
    if let Some(s) = &q.service {
        let n = w.push(Bind::Text(s.clone()));
        w.clauses.push(format!("category = ${n}"));
    }
    if let Some(p) = &q.priority {
        let n = w.push(Bind::Text(p.clone()));
        w.clauses.push(format!("priority = ${n}"));
    }
    if let Some(c) = &q.crew {
        let n = w.push(Bind::Text(c.clone()));
        w.clauses.push(format!("assignee = ${n}"));
    }
    if q.late {
        w.clauses.push(late_sql(1));
    }
    let mut any = Vec::new();
    if let Some(text) = &q.text {
        let exact = w.push(Bind::Text(text.clone()));
        let like = w.push(Bind::Text(format!(
            "%{}%",
            escape_like(&text.to_lowercase())
        )));
        any.push(format!("id = ${exact}"));
        any.push(format!("LOWER(id) LIKE ${like} ESCAPE '\\'"));
        any.push(format!("LOWER(title) LIKE ${like} ESCAPE '\\'"));
        any.push(format!("LOWER(address) LIKE ${like} ESCAPE '\\'"));
    }
    if let Some(code) = &q.tracking_code {
        let n = w.push(Bind::Text(code.clone()));
        any.push(format!(
            "id IN (SELECT task FROM tracking_codes WHERE code = ${n})"
        ));
    }
    if !any.is_empty() {
        w.clauses.push(format!("({})", any.join(" OR ")));
    }
    w
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

fn state_sql(s: QueueState) -> String {
    match s {
        QueueState::Open => OPEN.to_owned(),
        QueueState::New => "status IN ('new', 'queued')".to_owned(),
        QueueState::Assigned => "status = 'assigned'".to_owned(),
        QueueState::Acknowledged => {
            "status IN ('acknowledged', 'in_progress', 'paused', 'reopened')".to_owned()
        }
        QueueState::Late => late_sql(1),
        QueueState::ToVerify => "status = 'completed'".to_owned(),
    }
}

macro_rules! bind_all {
    ($q:expr, $binds:expr) => {{
        let mut q = $q;
        for b in $binds {
            q = match b {
                Bind::Text(s) => q.bind(s.clone()),
                Bind::Int(i) => q.bind(*i),
            };
        }
        q
    }};
}

/// One page of the caller's queue, its total and the counts per state.
pub async fn queue_page(db: &Db, q: &QueueQuery) -> Result<QueuePage, DbError> {
    if q.districts.is_empty() {
        return Ok(QueuePage {
            rows: Vec::new(),
            total: 0,
            counts: QueueCounts::default(),
        });
    }
    let (lat, lon) = match db {
        Db::Postgres(_) => ("ST_Y(geom)", "ST_X(geom)"),
        Db::Sqlite(_) => ("lat", "lon"),
    };
    let w = filters(q);
    let base = w.clauses.join(" AND ");
    let state = state_sql(q.state);
    let n = w.binds.len();
    let page_sql = format!(
        "SELECT id, {lat}, {lon}, district, status, priority, assignee, category, title,
                created_at, updated_at, ack_due, complete_due
         FROM tasks WHERE {base} AND {state}
         ORDER BY CASE priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END,
                  created_at, id
         LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let late = late_sql(1);
    let counts_sql = format!(
        "SELECT
           COALESCE(SUM(CASE WHEN status IN ('new', 'queued') THEN 1 ELSE 0 END), 0),
           COALESCE(SUM(CASE WHEN status = 'assigned' THEN 1 ELSE 0 END), 0),
           COALESCE(SUM(CASE WHEN status IN ('acknowledged', 'in_progress', 'paused', 'reopened') THEN 1 ELSE 0 END), 0),
           COALESCE(SUM(CASE WHEN {late} THEN 1 ELSE 0 END), 0),
           COALESCE(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END), 0),
           COALESCE(SUM(CASE WHEN {state} THEN 1 ELSE 0 END), 0)
         FROM tasks WHERE {base}"
    );
    let rows: Vec<super::dispatch::QueueTuple> = on_pool!(db, pool => {
        let q0 = bind_all!(sqlx::query_as(&page_sql), &w.binds);
        q0.bind(q.limit).bind(q.offset).fetch_all(pool).await?
    });
    let c: (i64, i64, i64, i64, i64, i64) = on_pool!(db, pool => {
        bind_all!(sqlx::query_as(&counts_sql), &w.binds).fetch_one(pool).await?
    });
    Ok(QueuePage {
        rows: rows.into_iter().map(QueueRow::from).collect(),
        total: c.5,
        counts: QueueCounts {
            new: c.0,
            assigned: c.1,
            acknowledged: c.2,
            late: c.3,
            to_verify: c.4,
        },
    })
}

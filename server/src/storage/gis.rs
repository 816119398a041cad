//! The GIS queries on the `tasks` projection (joined with `services` for the name).
//!
//! A bounding box is `geom && ST_MakeEnvelope(…, 4326)` on PostgreSQL (the GiST index
//! on `tasks.geom`) and a latitude/longitude range on SQLite (the `tasks_lat_lon` index);
//! a box across the antimeridian is two boxes. Pages are ordered by creation time, then
//! id, so paging is stable while tasks are added later.

use crate::storage::{Db, DbError, on_pool};
use sync_core::Millis;

/// A WGS84 bounding box (lon/lat, CRS84). `min_lon > max_lon` crosses the antimeridian.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bbox {
    /// West.
    pub min_lon: f64,
    /// South.
    pub min_lat: f64,
    /// East.
    pub max_lon: f64,
    /// North.
    pub max_lat: f64,
}

/// A time filter: an instant (`start == end`) or an interval, either end open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// From (inclusive); `None` is open.
    pub start: Option<Millis>,
    /// Until (inclusive); `None` is open.
    pub end: Option<Millis>,
}

/// The filters of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskFilter {
    /// Only tasks whose point is in the box.
    pub bbox: Option<Bbox>,
    /// Only tasks requested (created) within it.
    pub datetime: Option<Interval>,
    /// Only tasks with one of these detailed statuses (empty: any).
    pub statuses: Vec<&'static str>,
    /// Only tasks of one of these service codes (empty: any).
    pub categories: Vec<String>,
    /// Page size.
    pub limit: u32,
    /// Features skipped before the page.
    pub offset: u64,
}

/// A task as anyone may see it (see the module docs for what is left out).
#[derive(Debug, Clone, PartialEq)]
pub struct PublicTask {
    /// Task id.
    pub id: String,
    /// Longitude.
    pub lon: f64,
    /// Latitude.
    pub lat: f64,
    /// Service code.
    pub service_code: String,
    /// Service name (the code when the service is gone).
    pub service_name: String,
    /// Detailed status (wire name).
    pub detailed_status: String,
    /// Priority (wire name).
    pub priority: String,
    /// District code.
    pub district: Option<String>,
    /// Title.
    pub title: String,
    /// Created.
    pub created_at: Millis,
    /// Last committed.
    pub updated_at: Millis,
}

impl Bbox {
    /// The box as one or two boxes that do not cross the antimeridian.
    pub fn parts(&self) -> Vec<Bbox> {
        if self.min_lon <= self.max_lon {
            vec![*self]
        } else {
            vec![
                Bbox {
                    max_lon: 180.0,
                    ..*self
                },
                Bbox {
                    min_lon: -180.0,
                    ..*self
                },
            ]
        }
    }

    /// Whether the point is inside (edges included).
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        self.parts().iter().any(|b| {
            (b.min_lon..=b.max_lon).contains(&lon) && (b.min_lat..=b.max_lat).contains(&lat)
        })
    }
}

/// A page of tasks and how many match in all.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The page.
    pub tasks: Vec<PublicTask>,
    /// Tasks matching the filter (all pages).
    pub matched: u64,
}

/// A bound value.
enum Arg {
    F(f64),
    I(i64),
    T(String),
}

/// Binds `a` as the next placeholder.
fn next(args: &mut Vec<Arg>, a: Arg) -> String {
    args.push(a);
    format!("${}", args.len())
}

/// The `WHERE` clause of a filter and its arguments (placeholders from `$1`).
fn where_clause(db: &Db, f: &TaskFilter) -> (String, Vec<Arg>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut args: Vec<Arg> = Vec::new();
    if let Some(b) = &f.bbox {
        let mut ors = Vec::new();
        for p in b.parts() {
            let (w, s, e, n) = (
                next(&mut args, Arg::F(p.min_lon)),
                next(&mut args, Arg::F(p.min_lat)),
                next(&mut args, Arg::F(p.max_lon)),
                next(&mut args, Arg::F(p.max_lat)),
            );
            ors.push(match db {
                Db::Postgres(_) => format!(
                    "t.geom && ST_MakeEnvelope({w}::float8, {s}::float8, {e}::float8, {n}::float8, 4326)"
                ),
                Db::Sqlite(_) => {
                    format!("(t.lon BETWEEN {w} AND {e} AND t.lat BETWEEN {s} AND {n})")
                }
            });
        }
        clauses.push(format!("({})", ors.join(" OR ")));
    }
    if let Some(iv) = &f.datetime {
        if let Some(a) = iv.start {
            clauses.push(format!("t.created_at >= {}", next(&mut args, Arg::I(a))));
        }
        if let Some(b) = iv.end {
            clauses.push(format!("t.created_at <= {}", next(&mut args, Arg::I(b))));
        }
    }
    if !f.statuses.is_empty() {
        let ps: Vec<String> = f
            .statuses
            .iter()
            .map(|s| next(&mut args, Arg::T((*s).to_owned())))
            .collect();
        clauses.push(format!("t.status IN ({})", ps.join(", ")));
    }
    if !f.categories.is_empty() {
        let ps: Vec<String> = f
            .categories
            .iter()
            .map(|c| next(&mut args, Arg::T(c.clone())))
            .collect();
        clauses.push(format!("t.category IN ({})", ps.join(", ")));
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    (sql, args)
}

type Row = (
    String,
    f64,
    f64,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    String,
    i64,
    i64,
);

fn select(db: &Db) -> &'static str {
    match db {
        Db::Postgres(_) => {
            "SELECT t.id, ST_X(t.geom), ST_Y(t.geom), t.category, s.name, t.status, t.priority,
                    t.district, t.title, t.created_at, t.updated_at
             FROM tasks t LEFT JOIN services s ON s.code = t.category"
        }
        Db::Sqlite(_) => {
            "SELECT t.id, t.lon, t.lat, t.category, s.name, t.status, t.priority,
                    t.district, t.title, t.created_at, t.updated_at
             FROM tasks t LEFT JOIN services s ON s.code = t.category"
        }
    }
}

fn public(r: Row) -> PublicTask {
    let (id, lon, lat, code, name, status, priority, district, title, created, updated) = r;
    PublicTask {
        id,
        lon,
        lat,
        service_name: name.unwrap_or_else(|| code.clone()),
        service_code: code,
        detailed_status: status,
        priority,
        district,
        title,
        created_at: created,
        updated_at: updated,
    }
}

/// One page of the tasks matching `f`, and the count of all that match.
pub async fn tasks(db: &Db, f: &TaskFilter) -> Result<Page, DbError> {
    let (clause, args) = where_clause(db, f);
    let n = args.len();
    let sql = format!(
        "{}{clause} ORDER BY t.created_at, t.id LIMIT ${} OFFSET ${}",
        select(db),
        n + 1,
        n + 2
    );
    let count_sql = format!("SELECT COUNT(*) FROM tasks t{clause}");
    let limit = i64::from(f.limit);
    let offset = i64::try_from(f.offset).unwrap_or(i64::MAX);
    let (rows, matched): (Vec<Row>, i64) = on_pool!(db, pool => {
        let mut q = sqlx::query_as(&sql);
        let mut c = sqlx::query_scalar(&count_sql);
        for a in &args {
            (q, c) = match a {
                Arg::F(x) => (q.bind(*x), c.bind(*x)),
                Arg::I(x) => (q.bind(*x), c.bind(*x)),
                Arg::T(x) => (q.bind(x.clone()), c.bind(x.clone())),
            };
        }
        let rows = q.bind(limit).bind(offset).fetch_all(pool).await?;
        (rows, c.fetch_one(pool).await?)
    });
    Ok(Page {
        tasks: rows.into_iter().map(public).collect(),
        matched: u64::try_from(matched).unwrap_or(0),
    })
}

/// One task's public view.
pub async fn task(db: &Db, id: &str) -> Result<Option<PublicTask>, DbError> {
    let sql = format!("{} WHERE t.id = $1", select(db));
    let row: Option<Row> = on_pool!(db, pool => sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await?);
    Ok(row.map(public))
}

/// The time span and box of all tasks (a collection's extent): `(min_lon, min_lat,
/// max_lon, max_lat, first created, last created)`, or `None` without tasks.
pub async fn extent(db: &Db) -> Result<Option<(f64, f64, f64, f64, i64, i64)>, DbError> {
    let sql = match db {
        Db::Postgres(_) => {
            "SELECT MIN(ST_X(geom)), MIN(ST_Y(geom)), MAX(ST_X(geom)), MAX(ST_Y(geom)),
                    MIN(created_at), MAX(created_at) FROM tasks"
        }
        Db::Sqlite(_) => {
            "SELECT MIN(lon), MIN(lat), MAX(lon), MAX(lat), MIN(created_at), MAX(created_at)
             FROM tasks"
        }
    };
    type Ext = (
        Option<f64>,
        Option<f64>,
        Option<f64>,
        Option<f64>,
        Option<i64>,
        Option<i64>,
    );
    let r: Ext = on_pool!(db, pool => sqlx::query_as(sql).fetch_one(pool).await?);
    Ok(match r {
        (Some(a), Some(b), Some(c), Some(d), Some(e), Some(f)) => Some((a, b, c, d, e, f)),
        _ => None,
    })
}

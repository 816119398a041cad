//! What citizens hold, as stored, on either backend: `tracking_codes` (migration 0006:
//! reporters' and supporters' codes), `citizen_feedback` (0008: one rating and one "not
//! fixed" per code, claimed before the task is edited), and the reads of the task
//! projection the citizens' flows make (open reports near a point, the names the
//! tracking page shows). The same SQL runs on SQLite and PostgreSQL except the nearby
//! search, which is PostGIS on PostgreSQL and a bounding box on SQLite.

use crate::base::geodesy::EARTH_RADIUS_M;
use crate::storage::{Db, DbError, Tx, classify, on_pool, on_tx};

/// One row of `tracking_codes`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TrackingRow {
    /// The code, normalised (no dashes).
    pub code: String,
    /// The task it was issued on.
    pub task: String,
    /// `reporter` or `supporter`.
    pub role: String,
    /// When it was issued.
    pub created_at: i64,
}

/// Stores a new code; false if the code is taken.
pub async fn insert_tracking_code(db: &Db, t: &TrackingRow) -> Result<bool, DbError> {
    let done = on_pool!(db, pool => sqlx::query(
        "INSERT INTO tracking_codes (code, task, role, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (code) DO NOTHING",
    )
    .bind(&t.code)
    .bind(&t.task)
    .bind(&t.role)
    .bind(t.created_at)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(done == 1)
}

/// Stores a new code in a write transaction (a task's commit); a taken code is
/// [`DbError::Duplicate`].
pub(crate) async fn insert_tracking_code_tx(tx: &mut Tx, t: &TrackingRow) -> Result<(), DbError> {
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO tracking_codes (code, task, role, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&t.code)
    .bind(&t.task)
    .bind(&t.role)
    .bind(t.created_at)
    .execute(c)
    .await
    .map(|_| ()))
    .map_err(|e| classify(e, "tracking code"))
}

/// The code `code` (normalised), if issued.
pub async fn tracking_code(db: &Db, code: &str) -> Result<Option<TrackingRow>, DbError> {
    let row: Option<TrackingRow> = on_pool!(db, pool => sqlx::query_as(
        "SELECT code, task, role, created_at FROM tracking_codes WHERE code = $1",
    )
    .bind(code)
    .fetch_optional(pool)
    .await?);
    Ok(row)
}

/// The codes issued on a task, reporters' first, then by age.
pub async fn tracking_codes_of(db: &Db, task: &str) -> Result<Vec<TrackingRow>, DbError> {
    let rows: Vec<TrackingRow> = on_pool!(db, pool => sqlx::query_as(
        "SELECT code, task, role, created_at FROM tracking_codes WHERE task = $1 \
         ORDER BY role DESC, created_at, code",
    )
    .bind(task)
    .fetch_all(pool)
    .await?);
    Ok(rows)
}

/// How many supporter codes were issued on a task.
pub async fn supporters(db: &Db, task: &str) -> Result<u64, DbError> {
    let (n,): (i64,) = on_pool!(db, pool => sqlx::query_as(
        "SELECT COUNT(*) FROM tracking_codes WHERE task = $1 AND role = 'supporter'",
    )
    .bind(task)
    .fetch_one(pool)
    .await?);
    Ok(u64::try_from(n).unwrap_or(0))
}

/// One row of `citizen_feedback`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FeedbackRow {
    /// The tracking code (normalised).
    pub code: String,
    /// `rating` or `not_fixed`.
    pub kind: String,
    /// The task it went to.
    pub task: String,
    /// Stars of a rating.
    pub stars: Option<i32>,
    /// The citizen's words.
    pub comment: String,
    /// Evidence photo of a "not fixed".
    pub photo: Option<String>,
    /// The task event it became.
    pub event: Option<String>,
    /// `pending` or `done`.
    pub state: String,
    /// When claimed.
    pub created_at: i64,
    /// When done.
    pub done_at: Option<i64>,
}

const FEEDBACK_COLUMNS: &str =
    "code, kind, task, stars, comment, photo, event, state, created_at, done_at";

/// A code's feedback rows.
pub async fn feedback_of_code(db: &Db, code: &str) -> Result<Vec<FeedbackRow>, DbError> {
    let sql =
        format!("SELECT {FEEDBACK_COLUMNS} FROM citizen_feedback WHERE code = $1 ORDER BY kind");
    let rows: Vec<FeedbackRow> =
        on_pool!(db, pool => sqlx::query_as(&sql).bind(code).fetch_all(pool).await?);
    Ok(rows)
}

/// A task's feedback rows, oldest first.
pub async fn feedback_of_task(db: &Db, task: &str) -> Result<Vec<FeedbackRow>, DbError> {
    let sql = format!(
        "SELECT {FEEDBACK_COLUMNS} FROM citizen_feedback WHERE task = $1 \
         ORDER BY created_at, code, kind"
    );
    let rows: Vec<FeedbackRow> =
        on_pool!(db, pool => sqlx::query_as(&sql).bind(task).fetch_all(pool).await?);
    Ok(rows)
}

/// The row of `(code, kind)`, if any.
pub async fn feedback(db: &Db, code: &str, kind: &str) -> Result<Option<FeedbackRow>, DbError> {
    let sql =
        format!("SELECT {FEEDBACK_COLUMNS} FROM citizen_feedback WHERE code = $1 AND kind = $2");
    let row: Option<FeedbackRow> = on_pool!(db, pool => sqlx::query_as(&sql)
        .bind(code)
        .bind(kind)
        .fetch_optional(pool)
        .await?);
    Ok(row)
}

/// Inserts `r` as a pending claim of `(code, kind)` (its `event`, `state` and `done_at`
/// are not read); false if that pair already has a row.
pub async fn claim_feedback(db: &Db, r: &FeedbackRow) -> Result<bool, DbError> {
    let sql = format!(
        "INSERT INTO citizen_feedback ({FEEDBACK_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, NULL, 'pending', $7, NULL) \
         ON CONFLICT (code, kind) DO NOTHING"
    );
    let done = on_pool!(db, pool => sqlx::query(&sql)
        .bind(&r.code)
        .bind(&r.kind)
        .bind(&r.task)
        .bind(r.stars)
        .bind(&r.comment)
        .bind(&r.photo)
        .bind(r.created_at)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(done == 1)
}

/// Marks `(code, kind)` done, with the task event it became.
pub async fn mark_feedback_done(
    db: &Db,
    code: &str,
    kind: &str,
    event: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query(
        "UPDATE citizen_feedback SET state = 'done', event = $1, done_at = $2 \
         WHERE code = $3 AND kind = $4",
    )
    .bind(event)
    .bind(now)
    .bind(code)
    .bind(kind)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Drops a pending claim of `(code, kind)` (a done one stays).
pub async fn release_feedback(db: &Db, code: &str, kind: &str) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query(
        "DELETE FROM citizen_feedback WHERE code = $1 AND kind = $2 AND state = 'pending'",
    )
    .bind(code)
    .bind(kind)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

/// A task of the projection near a point.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct NearbyRow {
    /// Task id.
    pub id: String,
    /// Service code.
    pub category: String,
    /// Status (wire name).
    pub status: String,
    /// Title.
    pub title: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// When created (ms).
    pub created_at: i64,
}

/// A bounding box (min_lat, max_lat, min_lon, max_lon) holding every point within
/// `radius_m` of `(lat, lon)`.
pub fn bbox(lat: f64, lon: f64, radius_m: f64) -> (f64, f64, f64, f64) {
    let dlat = (radius_m / EARTH_RADIUS_M).to_degrees();
    let cos = lat.to_radians().cos().abs().max(1e-6);
    let dlon = (dlat / cos).min(180.0);
    (lat - dlat, lat + dlat, lon - dlon, lon + dlon)
}

/// `$from, $from+1, …` for `n` values.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Tasks of `category` with one of `statuses` near `(lat, lon)`, other than `exclude`:
/// on PostgreSQL those within `radius_m` metres on the spheroid (`ST_DWithin` on
/// geography, narrowed by the GiST index); on SQLite those in the bounding box of the
/// circle (the `(lat, lon)` index), which the caller narrows by distance. In no order.
pub async fn near(
    db: &Db,
    category: &str,
    statuses: &[&str],
    (lat, lon): (f64, f64),
    radius_m: f64,
    exclude: &str,
) -> Result<Vec<NearbyRow>, DbError> {
    // $1 the category, $2 the excluded id, then the statuses, then the geometry's numbers.
    let n = 3 + statuses.len();
    let (point, within, numbers) = match db {
        Db::Postgres(_) => (
            "ST_Y(geom) AS lat, ST_X(geom) AS lon",
            format!(
                "ST_DWithin(geom::geography, \
                 ST_SetSRID(ST_MakePoint(${n}, ${}), 4326)::geography, ${})",
                n + 1,
                n + 2
            ),
            vec![lon, lat, radius_m],
        ),
        Db::Sqlite(_) => {
            let (a, b, c, d) = bbox(lat, lon, radius_m);
            (
                "lat, lon",
                format!(
                    "lat BETWEEN ${n} AND ${} AND lon BETWEEN ${} AND ${}",
                    n + 1,
                    n + 2,
                    n + 3
                ),
                vec![a, b, c, d],
            )
        }
    };
    let sql = format!(
        "SELECT id, category, status, title, {point}, created_at FROM tasks \
         WHERE category = $1 AND id <> $2 AND status IN ({}) AND {within}",
        placeholders(3, statuses.len())
    );
    let rows: Vec<NearbyRow> = on_pool!(db, pool => {
        let mut q = sqlx::query_as(&sql).bind(category).bind(exclude);
        for st in statuses {
            q = q.bind(*st);
        }
        for x in &numbers {
            q = q.bind(*x);
        }
        q.fetch_all(pool).await?
    });
    Ok(rows)
}

/// The name of district `code`.
pub async fn district_name(db: &Db, code: &str) -> Result<Option<String>, DbError> {
    name_of(db, "SELECT name FROM districts WHERE code = $1", code).await
}

/// The English name of district `code`, if it has one.
pub async fn district_name_en(db: &Db, code: &str) -> Result<Option<String>, DbError> {
    let row: Option<(Option<String>,)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT name_en FROM districts WHERE code = $1",
    )
    .bind(code)
    .fetch_optional(pool)
    .await?);
    Ok(row.and_then(|r| r.0))
}

/// The name of service `code`.
pub async fn service_name(db: &Db, code: &str) -> Result<Option<String>, DbError> {
    name_of(db, "SELECT name FROM services WHERE code = $1", code).await
}

async fn name_of(db: &Db, sql: &'static str, code: &str) -> Result<Option<String>, DbError> {
    let row: Option<(String,)> =
        on_pool!(db, pool => sqlx::query_as(sql).bind(code).fetch_optional(pool).await?);
    Ok(row.map(|r| r.0))
}

/// Whether task `id` exists.
pub async fn task_exists(db: &Db, id: &str) -> Result<bool, DbError> {
    Ok(name_of(db, "SELECT id FROM tasks WHERE id = $1", id)
        .await?
        .is_some())
}

//! Nearby open reports of the same category: what a citizen is offered instead of filing
//! a duplicate (Open311 POST, `GET requests?lat=&long=&radius=`), and what the
//! dispatcher's console shows beside a new report (design §6).
//!
//! The query runs on the task projection: PostGIS `ST_DWithin` on geography (metres on
//! the spheroid, the GiST index on `geom` narrows it) on PostgreSQL; on SQLite a
//! bounding box on the `(lat, lon)` index, then the haversine distance in Rust. Both
//! give the reports within `radius_m`, nearest first, with their supporters (citizens who
//! added their support through a supporter tracking code).

use crate::domain::open311::status::internal_names;
use crate::storage::{Db, DbError, on_pool};
use serde::Serialize;
use sync_core::DocId;

/// Mean Earth radius (metres) for the haversine distance.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// The most reports returned.
pub const MAX_NEARBY: usize = 20;

/// An open report near a point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NearbyReport {
    /// The task (Open311 `service_request_id`).
    pub task: DocId,
    /// Its service code.
    pub category: String,
    /// Its internal status (wire name).
    pub status: String,
    /// Its title.
    pub title: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Metres from the point asked about.
    pub distance_m: f64,
    /// When it was filed (ms).
    pub created_at: i64,
    /// Citizens who supported it.
    pub supporters: u64,
}

/// Great-circle distance in metres (haversine).
pub fn haversine_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1) = (a.0.to_radians(), a.1.to_radians());
    let (la2, lo2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// A bounding box (min_lat, max_lat, min_lon, max_lon) holding every point within
/// `radius_m` of `(lat, lon)`.
pub fn bbox(lat: f64, lon: f64, radius_m: f64) -> (f64, f64, f64, f64) {
    let dlat = (radius_m / EARTH_RADIUS_M).to_degrees();
    let cos = lat.to_radians().cos().abs().max(1e-6);
    let dlon = (dlat / cos).min(180.0);
    (lat - dlat, lat + dlat, lon - dlon, lon + dlon)
}

type Row = (String, String, String, String, f64, f64, i64);

/// Open reports of `category` within `radius_m` metres of `(lat, lon)`, nearest first
/// (at most [`MAX_NEARBY`]), without `exclude`.
pub async fn nearby(
    db: &Db,
    category: &str,
    lat: f64,
    lon: f64,
    radius_m: f64,
    exclude: Option<&DocId>,
) -> Result<Vec<NearbyReport>, DbError> {
    if !(lat.is_finite() && lon.is_finite() && radius_m.is_finite()) || radius_m < 0.0 {
        return Ok(Vec::new());
    }
    let open = internal_names(false);
    let list = open
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let excluded = exclude.map(DocId::as_str).unwrap_or("");
    let rows: Vec<Row> = match db {
        Db::Postgres(p) => {
            let sql = format!(
                "SELECT id, category, status, title, ST_Y(geom), ST_X(geom), created_at FROM tasks \
                 WHERE category = $1 AND status IN ({list}) AND id <> $5 AND ST_DWithin(geom::geography, \
                 ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography, $4)"
            );
            sqlx::query_as(&sql)
                .bind(category)
                .bind(lon)
                .bind(lat)
                .bind(radius_m)
                .bind(excluded)
                .fetch_all(p.pool())
                .await?
        }
        Db::Sqlite(s) => {
            let (a, b, c, d) = bbox(lat, lon, radius_m);
            let sql = format!(
                "SELECT id, category, status, title, lat, lon, created_at FROM tasks \
                 WHERE category = $1 AND status IN ({list}) AND id <> $6 \
                 AND lat BETWEEN $2 AND $3 AND lon BETWEEN $4 AND $5"
            );
            sqlx::query_as(&sql)
                .bind(category)
                .bind(a)
                .bind(b)
                .bind(c)
                .bind(d)
                .bind(excluded)
                .fetch_all(s.pool())
                .await?
        }
    };
    let mut out: Vec<NearbyReport> = Vec::new();
    for (id, category, status, title, rlat, rlon, created_at) in rows {
        let distance_m = haversine_m((lat, lon), (rlat, rlon));
        if distance_m > radius_m {
            continue;
        }
        let Ok(task) = DocId::new(id) else { continue };
        out.push(NearbyReport {
            task,
            category,
            status,
            title,
            lat: rlat,
            lon: rlon,
            distance_m,
            created_at,
            supporters: 0,
        });
    }
    out.sort_by(|a, b| {
        a.distance_m
            .total_cmp(&b.distance_m)
            .then(a.task.as_str().cmp(b.task.as_str()))
    });
    out.truncate(MAX_NEARBY);
    for r in &mut out {
        r.supporters = supporters(db, &r.task).await?;
    }
    Ok(out)
}

/// How many citizens supported `task` (supporter tracking codes issued on it).
pub async fn supporters(db: &Db, task: &DocId) -> Result<u64, DbError> {
    let (n,): (i64,) = on_pool!(db, pool => sqlx::query_as(
        "SELECT COUNT(*) FROM tracking_codes WHERE task = $1 AND role = 'supporter'",
    )
    .bind(task.as_str())
    .fetch_one(pool)
    .await?);
    Ok(u64::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haversine_and_bbox_agree() {
        let tehran = (35.6892, 51.3890);
        let d = haversine_m(tehran, (35.6892 + 0.001, 51.3890));
        assert!((d - 111.2).abs() < 0.5, "{d}");
        let (a, b, c, e) = bbox(tehran.0, tehran.1, 50.0);
        for p in [(a, tehran.1), (b, tehran.1), (tehran.0, c), (tehran.0, e)] {
            let d = haversine_m(tehran, p);
            assert!((d - 50.0).abs() < 0.5, "{d}");
        }
    }
}

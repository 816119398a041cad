//! Nearby open reports of the same category: what a citizen is offered instead of filing
//! a duplicate (Open311 POST, `GET requests?lat=&long=&radius=`), and what the
//! dispatcher's console shows beside a new report (design §6).
//!
//! The query runs on the task projection: PostGIS `ST_DWithin` on geography (metres on
//! the spheroid, the GiST index on `geom` narrows it) on PostgreSQL; on SQLite a
//! bounding box on the `(lat, lon)` index, then the haversine distance in Rust. Both
//! give the reports within `radius_m`, nearest first, with their supporters (citizens who
//! added their support through a supporter tracking code).

use super::status;
use crate::base::geodesy;
use crate::storage::citizens as records;
use crate::storage::{Db, DbError};
use serde::Serialize;
use sync_core::DocId;

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
    let excluded = exclude.map(DocId::as_str).unwrap_or("");
    let rows = records::near(
        db,
        category,
        &status::names(false),
        (lat, lon),
        radius_m,
        excluded,
    )
    .await?;
    let mut out: Vec<NearbyReport> = Vec::new();
    for r in rows {
        let distance_m = geodesy::distance_m((lat, lon), (r.lat, r.lon));
        if distance_m > radius_m {
            continue;
        }
        let Ok(task) = DocId::new(r.id) else { continue };
        out.push(NearbyReport {
            task,
            category: r.category,
            status: r.status,
            title: r.title,
            lat: r.lat,
            lon: r.lon,
            distance_m,
            created_at: r.created_at,
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
    records::supporters(db, task.as_str()).await
}

#[cfg(test)]
mod tests {
    use crate::base::geodesy::distance_m;
    use crate::storage::citizens::bbox;

    #[test]
    fn distance_and_bbox_agree() {
        let tehran = (35.6892, 51.3890);
        let d = distance_m(tehran, (35.6892 + 0.001, 51.3890));
        assert!((d - 111.2).abs() < 0.5, "{d}");
        let (a, b, c, e) = bbox(tehran.0, tehran.1, 50.0);
        for p in [(a, tehran.1), (b, tehran.1), (tehran.0, c), (tehran.0, e)] {
            let d = distance_m(tehran, p);
            assert!((d - 50.0).abs() < 0.5, "{d}");
        }
    }
}

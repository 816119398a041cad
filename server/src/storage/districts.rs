//! Districts as stored: the import record, the WKB encoding of boundaries, adjacency, and
//! the in-memory R-tree ([`DistrictIndex`]) that answers point → district on SQLite (PostGIS
//! answers it with `ST_Covers` on PostgreSQL).
//!
//! [`DistrictStore`] is written here once, on [`Db`]; an import and a point lookup differ
//! wholly between the backends (PostGIS geometry and adjacency in SQL; WKB with bounding
//! boxes and adjacency from the R-tree) and are in `postgres.rs` and `sqlite.rs`.

use super::{Db, DbError, on_pool};
use geo::{BoundingRect, Intersects};
use geo_types::{Geometry, MultiPolygon, Point};
use geozero::ToGeo;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};
use std::future::Future;

/// A district to import.
#[derive(Debug, Clone, PartialEq)]
pub struct District {
    /// Unique code, e.g. `D07`.
    pub code: String,
    /// Display name: the local (Persian) one.
    pub name: String,
    /// English name, if known.
    pub name_en: Option<String>,
    /// Region code or name, if any.
    pub region: Option<String>,
    /// Boundary in WGS84 (lon, lat).
    pub geometry: MultiPolygon<f64>,
}

/// A district as listed (with its geometry).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDistrict {
    /// Code.
    pub code: String,
    /// Name (the local, Persian one).
    pub name: String,
    /// English name, if known.
    pub name_en: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Boundary (WGS84).
    pub geometry: MultiPolygon<f64>,
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOutcome {
    /// Districts inserted or replaced.
    pub districts: usize,
    /// Adjacent pairs recorded after the import (all districts).
    pub adjacent_pairs: usize,
}

/// Districts: import, point lookup, adjacency.
pub trait DistrictStore {
    /// Inserts or replaces districts (by code) and recomputes adjacency.
    fn import_districts(
        &self,
        districts: &[District],
    ) -> impl Future<Output = Result<ImportOutcome, DbError>> + Send;

    /// All districts, by code.
    fn districts(&self) -> impl Future<Output = Result<Vec<StoredDistrict>, DbError>> + Send;

    /// The district covering a point (boundary included); on a shared border the lowest
    /// code, so every backend gives the same answer.
    fn district_covering(
        &self,
        lat: f64,
        lon: f64,
    ) -> impl Future<Output = Result<Option<String>, DbError>> + Send;

    /// Districts that touch or overlap `code`, by code.
    fn neighbours(&self, code: &str) -> impl Future<Output = Result<Vec<String>, DbError>> + Send;
}

impl DistrictStore for Db {
    async fn import_districts(&self, districts: &[District]) -> Result<ImportOutcome, DbError> {
        match self {
            Db::Sqlite(s) => s.import_districts(districts).await,
            Db::Postgres(s) => s.import_districts(districts).await,
        }
    }

    async fn districts(&self) -> Result<Vec<StoredDistrict>, DbError> {
        let sql = format!(
            "SELECT code, name, name_en, region, {} FROM districts ORDER BY code",
            self.dialect().district_wkb
        );
        type Row = (String, String, Option<String>, Option<String>, Vec<u8>);
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
        rows.into_iter()
            .map(|(code, name, name_en, region, wkb)| {
                Ok(StoredDistrict {
                    geometry: multipolygon_from_wkb(&wkb).map_err(DbError::Corrupt)?,
                    code,
                    name,
                    name_en,
                    region,
                })
            })
            .collect()
    }

    async fn district_covering(&self, lat: f64, lon: f64) -> Result<Option<String>, DbError> {
        match self {
            Db::Sqlite(s) => s.district_covering(lat, lon).await,
            Db::Postgres(s) => s.district_covering(lat, lon).await,
        }
    }

    async fn neighbours(&self, code: &str) -> Result<Vec<String>, DbError> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT b FROM district_adjacency WHERE a = $1
             UNION SELECT a FROM district_adjacency WHERE b = $1 ORDER BY 1",
        )
        .bind(code)
        .fetch_all(pool)
        .await)?)
    }
}

type Entry = GeomWithData<Rectangle<[f64; 2]>, usize>;

/// An in-memory spatial index of districts (bounding boxes in an R-tree, exact test on
/// the polygons). Immutable: rebuilt and swapped after an import.
#[derive(Debug, Default)]
pub struct DistrictIndex {
    tree: RTree<Entry>,
    districts: Vec<(String, MultiPolygon<f64>)>,
}

impl DistrictIndex {
    /// Builds the index.
    pub fn new(districts: Vec<(String, MultiPolygon<f64>)>) -> DistrictIndex {
        let entries = districts
            .iter()
            .enumerate()
            .filter_map(|(i, (_, mp))| {
                let r = mp.bounding_rect()?;
                Some(GeomWithData::new(
                    Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                    i,
                ))
            })
            .collect();
        DistrictIndex {
            tree: RTree::bulk_load(entries),
            districts,
        }
    }

    /// How many districts are indexed.
    pub fn len(&self) -> usize {
        self.districts.len()
    }

    /// Whether no district is indexed.
    pub fn is_empty(&self) -> bool {
        self.districts.is_empty()
    }

    /// The lowest code among the districts covering the point (boundary included).
    pub fn covering(&self, lat: f64, lon: f64) -> Option<&str> {
        let p = Point::new(lon, lat);
        self.tree
            .locate_all_at_point(&[lon, lat])
            .filter_map(|e| self.districts.get(e.data))
            .filter(|(_, mp)| mp.intersects(&p))
            .map(|(code, _)| code.as_str())
            .min()
    }

    /// Every pair of districts whose polygons touch or overlap, as `(lower, higher)` code.
    pub fn adjacency(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        for (code, mp) in &self.districts {
            let Some(r) = mp.bounding_rect() else {
                continue;
            };
            let env = AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]);
            for e in self.tree.locate_in_envelope_intersecting(&env) {
                let Some((other, omp)) = self.districts.get(e.data) else {
                    continue;
                };
                if code < other && mp.intersects(omp) {
                    pairs.push((code.clone(), other.clone()));
                }
            }
        }
        pairs.sort();
        pairs.dedup();
        pairs
    }
}

/// Encodes a district boundary as WKB (for storage).
pub fn multipolygon_to_wkb(mp: &MultiPolygon<f64>) -> Result<Vec<u8>, String> {
    use geozero::{CoordDimensions, ToWkb};
    Geometry::MultiPolygon(mp.clone())
        .to_wkb(CoordDimensions::xy())
        .map_err(|e| e.to_string())
}

/// Decodes a stored district boundary (WKB Polygon or MultiPolygon).
pub fn multipolygon_from_wkb(bytes: &[u8]) -> Result<MultiPolygon<f64>, String> {
    match geozero::wkb::Wkb(bytes)
        .to_geo()
        .map_err(|e| e.to_string())?
    {
        Geometry::MultiPolygon(mp) => Ok(mp),
        Geometry::Polygon(p) => Ok(MultiPolygon::new(vec![p])),
        other => Err(format!(
            "expected a MultiPolygon, found {}",
            geometry_kind(&other)
        )),
    }
}

/// The GeoJSON name of a geometry's kind.
pub fn geometry_kind(g: &Geometry<f64>) -> &'static str {
    match g {
        Geometry::Point(_) => "Point",
        Geometry::Line(_) => "Line",
        Geometry::LineString(_) => "LineString",
        Geometry::Polygon(_) => "Polygon",
        Geometry::MultiPoint(_) => "MultiPoint",
        Geometry::MultiLineString(_) => "MultiLineString",
        Geometry::MultiPolygon(_) => "MultiPolygon",
        Geometry::GeometryCollection(_) => "GeometryCollection",
        Geometry::Rect(_) => "Rect",
        Geometry::Triangle(_) => "Triangle",
    }
}

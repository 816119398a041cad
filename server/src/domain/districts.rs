//! Districts: the polygons a city is divided into, and which one a point falls in.
//!
//! - Import from GeoJSON (a `FeatureCollection` of `Polygon`/`MultiPolygon` features, with
//!   the code, name and region read from properties named on the command line).
//! - Point → district: PostGIS `ST_Covers` on PostgreSQL, an in-memory R-tree
//!   ([`DistrictIndex`]) on SQLite. The boundary counts as inside; a point on a shared
//!   border goes to the **lowest code** among the districts that cover it, on both
//!   backends. A point outside every district is refused ([`GeoError::OutsideDistricts`])
//!   or given the configured default district — never dropped.
//! - Adjacency: districts whose polygons touch or overlap (dispatch looks for a crew next
//!   door when a district has none), stored at import.
//! - Export: a stored district as a GeoJSON `Feature` ([`feature`]), the one shape the
//!   console, the analytics choropleth and the OGC API serve.

use crate::storage::districts::geometry_kind;
pub use crate::storage::districts::{District, DistrictIndex};
use crate::storage::{DbError, DistrictStore};
use geo_types::{Geometry, MultiPolygon};
use geozero::ToGeo;

/// Failures of district import and lookup.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// The GeoJSON text is unusable.
    #[error("invalid GeoJSON: {0}")]
    InvalidGeoJson(String),
    /// A feature lacks a property or has an unusable geometry.
    #[error("feature {index}: {why}")]
    InvalidFeature {
        /// Zero-based index in the collection.
        index: usize,
        /// Why.
        why: String,
    },
    /// The point is not a valid WGS84 coordinate.
    #[error("invalid point lat={lat} lon={lon}: latitude must be -90..90 and longitude -180..180")]
    InvalidPoint {
        /// Latitude.
        lat: f64,
        /// Longitude.
        lon: f64,
    },
    /// No district covers the point and no default district is configured.
    #[error("the point lat={lat} lon={lon} is outside every district")]
    OutsideDistricts {
        /// Latitude.
        lat: f64,
        /// Longitude.
        lon: f64,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Which GeoJSON properties hold a district's code, name and region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyNames {
    /// Property with the unique code.
    pub code: String,
    /// Property with the display (local, Persian) name.
    pub name: String,
    /// Property with the English name, if any (a feature without it has none).
    pub name_en: Option<String>,
    /// Property with the region, if any.
    pub region: Option<String>,
}

/// Parses a GeoJSON `FeatureCollection` (or a single `Feature`) of Polygon/MultiPolygon
/// features into districts. Duplicate codes are refused.
pub fn parse_geojson(text: &str, props: &PropertyNames) -> Result<Vec<District>, GeoError> {
    let root: serde_json::Value =
        serde_json::from_str(text).map_err(|e| GeoError::InvalidGeoJson(e.to_string()))?;
    let features: Vec<&serde_json::Value> = match root.get("type").and_then(|t| t.as_str()) {
        Some("FeatureCollection") => root
            .get("features")
            .and_then(|f| f.as_array())
            .ok_or_else(|| GeoError::InvalidGeoJson("FeatureCollection without features".into()))?
            .iter()
            .collect(),
        Some("Feature") => vec![&root],
        other => {
            return Err(GeoError::InvalidGeoJson(format!(
                "expected a FeatureCollection or a Feature, found type {other:?}"
            )));
        }
    };
    let mut out: Vec<District> = Vec::with_capacity(features.len());
    for (index, f) in features.into_iter().enumerate() {
        let bad = |why: String| GeoError::InvalidFeature { index, why };
        let properties = f.get("properties").unwrap_or(&serde_json::Value::Null);
        let prop = |name: &str| -> Option<String> {
            match properties.get(name)? {
                serde_json::Value::String(s) => Some(s.trim().to_owned()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
            .filter(|s| !s.is_empty())
        };
        let code = prop(&props.code)
            .ok_or_else(|| bad(format!("no usable property {:?} (the code)", props.code)))?;
        if code.len() > 64
            || !code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(bad(format!(
                "code {code:?} must be at most 64 ASCII letters, digits, - _ or ."
            )));
        }
        let name = prop(&props.name)
            .ok_or_else(|| bad(format!("no usable property {:?} (the name)", props.name)))?;
        let name_en = props.name_en.as_deref().and_then(prop);
        let region = match &props.region {
            Some(p) => {
                Some(prop(p).ok_or_else(|| bad(format!("no usable property {p:?} (the region)")))?)
            }
            None => None,
        };
        let geometry = f
            .get("geometry")
            .filter(|g| !g.is_null())
            .ok_or_else(|| bad("no geometry".into()))?;
        let geometry_text = geometry.to_string();
        let geometry = match geozero::geojson::GeoJson(&geometry_text)
            .to_geo()
            .map_err(|e| bad(format!("unreadable geometry: {e}")))?
        {
            Geometry::Polygon(p) => MultiPolygon::new(vec![p]),
            Geometry::MultiPolygon(mp) => mp,
            other => {
                return Err(bad(format!(
                    "geometry must be a Polygon or MultiPolygon, found {}",
                    geometry_kind(&other)
                )));
            }
        };
        if geometry.0.is_empty() || geometry.0.iter().any(|p| p.exterior().0.len() < 4) {
            return Err(bad("empty polygon".into()));
        }
        if let Some(c) = geometry
            .0
            .iter()
            .flat_map(|p| p.exterior().0.iter())
            .find(|c| {
                !(c.x.is_finite()
                    && c.y.is_finite()
                    && (-180.0..=180.0).contains(&c.x)
                    && (-90.0..=90.0).contains(&c.y))
            })
        {
            return Err(bad(format!(
                "coordinate ({}, {}) is not WGS84 longitude/latitude",
                c.x, c.y
            )));
        }
        // A self-intersecting ring, a hole outside its shell or overlapping parts would
        // make "which district covers this point" depend on the backend.
        if let Err(e) = geo::Validation::check_validation(&geometry) {
            return Err(bad(format!("invalid polygon: {e}")));
        }
        if out.iter().any(|d| d.code == code) {
            return Err(bad(format!("duplicate code {code:?}")));
        }
        out.push(District {
            code,
            name,
            name_en,
            region,
            geometry,
        });
    }
    Ok(out)
}

/// A stored district as a GeoJSON `Feature`: its code as the feature id, a
/// `MultiPolygon` in WGS84 longitude/latitude, and `code`, `name` (local, Persian),
/// `name_en` (English, or null) and `region` properties.
pub fn feature(d: &crate::storage::StoredDistrict) -> serde_json::Value {
    let ring = |r: &geo_types::LineString<f64>| -> serde_json::Value {
        serde_json::Value::Array(r.0.iter().map(|c| serde_json::json!([c.x, c.y])).collect())
    };
    let polys: Vec<serde_json::Value> = d
        .geometry
        .0
        .iter()
        .map(|p| {
            let mut rings = vec![ring(p.exterior())];
            rings.extend(p.interiors().iter().map(ring));
            serde_json::Value::Array(rings)
        })
        .collect();
    serde_json::json!({
        "type": "Feature",
        "id": d.code,
        "geometry": {"type": "MultiPolygon", "coordinates": polys},
        "properties": {"code": d.code, "name": d.name, "name_en": d.name_en, "region": d.region},
    })
}

/// Checks that a point is a WGS84 coordinate.
pub fn check_point(lat: f64, lon: f64) -> Result<(), GeoError> {
    if lat.is_finite()
        && lon.is_finite()
        && (-90.0..=90.0).contains(&lat)
        && (-180.0..=180.0).contains(&lon)
    {
        Ok(())
    } else {
        Err(GeoError::InvalidPoint { lat, lon })
    }
}

/// Routes a point to a district: the covering district (lowest code on a shared border),
/// else `default_district`, else [`GeoError::OutsideDistricts`].
pub async fn route_point<S: DistrictStore + Sync>(
    store: &S,
    default_district: Option<&str>,
    lat: f64,
    lon: f64,
) -> Result<String, GeoError> {
    check_point(lat, lon)?;
    match store.district_covering(lat, lon).await? {
        Some(code) => Ok(code),
        None => default_district
            .map(str::to_owned)
            .ok_or(GeoError::OutsideDistricts { lat, lon }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props() -> PropertyNames {
        PropertyNames {
            code: "code".into(),
            name: "name".into(),
            name_en: None,
            region: Some("region".into()),
        }
    }

    const TWO: &str = r#"{"type":"FeatureCollection","features":[
      {"type":"Feature","properties":{"code":"B","name":"Bee","region":"R1"},
       "geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]}},
      {"type":"Feature","properties":{"code":"A","name":"Ay","region":"R1"},
       "geometry":{"type":"MultiPolygon","coordinates":[[[[1,0],[2,0],[2,1],[1,1],[1,0]]],[[[5,5],[6,5],[6,6],[5,6],[5,5]]]]}}
    ]}"#;

    #[test]
    fn parses_polygon_and_multipolygon() {
        let d = parse_geojson(TWO, &props()).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].code, "B");
        assert_eq!(d[1].geometry.0.len(), 2);
        assert_eq!(d[1].region.as_deref(), Some("R1"));
    }

    #[test]
    fn refuses_bad_features() {
        let no_code = TWO.replace("\"code\":\"B\",", "");
        assert!(matches!(
            parse_geojson(&no_code, &props()),
            Err(GeoError::InvalidFeature { index: 0, .. })
        ));
        let line = r#"{"type":"Feature","properties":{"code":"X","name":"x","region":"r"},
            "geometry":{"type":"LineString","coordinates":[[0,0],[1,1]]}}"#;
        assert!(parse_geojson(line, &props()).is_err());
        assert!(parse_geojson("[]", &props()).is_err());
    }

    #[test]
    fn index_lookup_border_and_adjacency() {
        let d = parse_geojson(TWO, &props()).unwrap();
        let idx = DistrictIndex::new(d.into_iter().map(|d| (d.code, d.geometry)).collect());
        assert_eq!(idx.covering(0.5, 0.5), Some("B"));
        assert_eq!(idx.covering(0.5, 1.5), Some("A"));
        assert_eq!(idx.covering(5.5, 5.5), Some("A"));
        // On the shared edge lon = 1: both cover it, the lowest code wins.
        assert_eq!(idx.covering(0.5, 1.0), Some("A"));
        assert_eq!(idx.covering(3.0, 3.0), None);
        assert_eq!(idx.adjacency(), vec![("A".to_string(), "B".to_string())]);
    }
}

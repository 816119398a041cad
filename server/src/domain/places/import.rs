//! Importing a gazetteer: a GeoJSON `FeatureCollection` **streamed** into the store, so a
//! file of millions of features never sits in memory whole.
//!
//! [`read_features`] is a serde visitor over the collection: the members other than
//! `features` are skipped, and each element of `features` is parsed on its own (one
//! feature's JSON at a time), turned into an [`Item`] and handed to a callback. [`run`]
//! reads on a blocking thread and sends the items through a bounded channel to the
//! writer, which stores them in batches of [`BATCH`] (one transaction each, so a running
//! server's writers wait for one batch at most, never for the whole file). Memory is
//! therefore one batch plus the channel, whatever the file's size.
//!
//! Per feature:
//! - **Name**: the `--name-property` (the local, Persian name) and the optional
//!   `--name-en-property`; a string (or number), trimmed. A feature with neither, or whose
//!   names fold to nothing or are longer than [`MAX_NAME_CHARS`], is skipped and counted
//!   as *without a name*.
//! - **Point**: a `Point` is itself; a `MultiPoint` its first point; a `LineString` the
//!   point halfway along it (on the street, unlike a centroid), a `MultiLineString` that
//!   of its longest line; a `Polygon`/`MultiPolygon` geo's interior point (inside the
//!   area, unlike a centroid of a U-shaped one); a `GeometryCollection` its first member
//!   that has one. A missing or unknown geometry, coordinates that are not numbers or out
//!   of WGS84's range, a line of fewer than 2 positions or a ring of fewer than 4: skipped
//!   and counted as *broken geometry*.
//! - **Kind**: the `--kind-property` if given and present (at most 40 characters), else
//!   `place` for points, `street` for lines, `area` for polygons.
//! - **District**: the one covering the point, looked up by the store as for tasks.

use super::normalize::normalize;
use crate::base::time::now_millis;
use crate::storage::places::{self as store, NewPlace};
use crate::storage::{Db, DbError};
use geo::{Haversine, InteriorPoint, InterpolatableLine, Length};
use geo_types::{Coord, LineString, MultiPolygon, Point, Polygon};
use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess};
use serde_json::Value;
use std::fmt;
use std::io::Read;

/// Places stored per transaction.
pub const BATCH: usize = 2_000;
/// The longest name kept, in characters.
pub const MAX_NAME_CHARS: usize = 300;
/// The longest kind kept, in characters.
pub const MAX_KIND_CHARS: usize = 40;

/// Which properties hold what, and whether to replace the stored places.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// The property with the local (Persian) name.
    pub name_property: String,
    /// The property with the English name.
    pub name_en_property: Option<String>,
    /// The property with the kind.
    pub kind_property: Option<String>,
    /// Delete every stored place first (in the first batch's transaction).
    pub replace: bool,
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Elements of `features` read.
    pub features: usize,
    /// Places stored.
    pub imported: usize,
    /// Skipped: missing, unknown or unusable geometry.
    pub broken_geometry: usize,
    /// Skipped: no usable name.
    pub missing_name: usize,
    /// Stored, but outside every district (their district is empty).
    pub outside_districts: usize,
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "imported {} places from {} features; skipped {} with a broken geometry and {} \
             without a name; {} outside every district",
            self.imported,
            self.features,
            self.broken_geometry,
            self.missing_name,
            self.outside_districts
        )
    }
}

/// Failures that stop an import (a bad feature does not: it is skipped and counted).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read.
    #[error("{0}")]
    Io(String),
    /// The file is not JSON, or not a FeatureCollection.
    #[error("invalid GeoJSON: {0}")]
    InvalidGeoJson(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// One element of `features`, judged.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A place to store.
    Place(NewPlace),
    /// Skipped: broken geometry.
    BrokenGeometry,
    /// Skipped: no usable name.
    MissingName,
}

/// Reads a FeatureCollection from `reader`, calling `each` with every feature judged, in
/// file order; `each` returns false to stop reading (the import failed downstream).
/// Returns how many features were read. Only one feature is held at a time.
pub fn read_features<R: Read>(
    reader: R,
    options: &ImportOptions,
    each: &mut dyn FnMut(Item) -> bool,
) -> Result<usize, ImportError> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let seed = Collection {
        options,
        each,
        count: 0,
    };
    let count = seed
        .deserialize(&mut de)
        .map_err(|e| ImportError::InvalidGeoJson(e.to_string()))?;
    de.end()
        .map_err(|e| ImportError::InvalidGeoJson(e.to_string()))?;
    Ok(count)
}

/// The root object: `type` checked, `features` streamed, the rest skipped.
struct Collection<'a> {
    options: &'a ImportOptions,
    each: &'a mut dyn FnMut(Item) -> bool,
    count: usize,
}

impl<'de> DeserializeSeed<'de> for Collection<'_> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Collection<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a GeoJSON FeatureCollection object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<usize, A::Error> {
        let mut seen_features = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "type" => {
                    let t: String = map.next_value()?;
                    if t != "FeatureCollection" {
                        return Err(A::Error::custom(format!(
                            "expected a FeatureCollection, found type {t:?}"
                        )));
                    }
                }
                "features" => {
                    map.next_value_seed(Features {
                        options: self.options,
                        each: &mut *self.each,
                        count: &mut self.count,
                    })?;
                    seen_features = true;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !seen_features {
            return Err(A::Error::custom("a FeatureCollection without features"));
        }
        Ok(self.count)
    }
}

/// The `features` array, element by element.
struct Features<'a, 'b> {
    options: &'a ImportOptions,
    each: &'b mut dyn FnMut(Item) -> bool,
    count: &'b mut usize,
}

impl<'de> DeserializeSeed<'de> for Features<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Features<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of features")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(feature) = seq.next_element::<Value>()? {
            *self.count += 1;
            if !(self.each)(judge(&feature, self.options)) {
                return Err(A::Error::custom("import stopped"));
            }
        }
        Ok(())
    }
}

/// Judges one feature: a place to store, or why it is skipped.
pub fn judge(feature: &Value, options: &ImportOptions) -> Item {
    let Some((lat, lon, default_kind)) = feature.get("geometry").and_then(representative) else {
        return Item::BrokenGeometry;
    };
    let props = feature.get("properties");
    let text = |name: &str| -> Option<String> {
        let s = match props?.get(name)? {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        (!s.is_empty()).then_some(s)
    };
    let usable = |s: Option<String>| -> Option<(String, String)> {
        let s = s?;
        if s.chars().count() > MAX_NAME_CHARS {
            return None;
        }
        let key = normalize(&s);
        (!key.is_empty()).then_some((s, key))
    };
    let fa = usable(text(&options.name_property));
    let en = usable(options.name_en_property.as_deref().and_then(text));
    if fa.is_none() && en.is_none() {
        return Item::MissingName;
    }
    let kind = options
        .kind_property
        .as_deref()
        .and_then(text)
        .filter(|k| k.chars().count() <= MAX_KIND_CHARS)
        .unwrap_or_else(|| default_kind.to_owned());
    let (name_fa, key_fa) = fa.map_or((None, String::new()), |(n, k)| (Some(n), k));
    let (name_en, key_en) = en.map_or((None, String::new()), |(n, k)| (Some(n), k));
    Item::Place(NewPlace {
        name_fa,
        name_en,
        kind,
        lat,
        lon,
        key_fa,
        key_en,
    })
}

/// The representative point of a GeoJSON geometry (see the module documentation) as
/// `(lat, lon, default kind)`, or `None` when it is broken.
fn representative(g: &Value) -> Option<(f64, f64, &'static str)> {
    let coords = g.get("coordinates");
    let (p, kind) = match g.get("type")?.as_str()? {
        "Point" => (Point::from(position(coords?)?), "place"),
        "MultiPoint" => {
            let all = coords?.as_array()?;
            let first = position(all.first()?)?;
            // Every position must be sound, not only the one used.
            all.iter().try_for_each(|c| position(c).map(|_| ()))?;
            (Point::from(first), "place")
        }
        "LineString" => (halfway(&line(coords?, 2)?)?, "street"),
        "MultiLineString" => {
            let lines = coords?
                .as_array()?
                .iter()
                .map(|l| line(l, 2))
                .collect::<Option<Vec<_>>>()?;
            let longest = lines
                .iter()
                .max_by(|a, b| Haversine.length(*a).total_cmp(&Haversine.length(*b)))?;
            (halfway(longest)?, "street")
        }
        "Polygon" => (polygon(coords?)?.interior_point()?, "area"),
        "MultiPolygon" => {
            let polys = coords?
                .as_array()?
                .iter()
                .map(polygon)
                .collect::<Option<Vec<_>>>()?;
            (MultiPolygon::new(polys).interior_point()?, "area")
        }
        "GeometryCollection" => {
            return g
                .get("geometries")?
                .as_array()?
                .iter()
                .find_map(representative);
        }
        _ => return None,
    };
    let (lon, lat) = (p.x(), p.y());
    in_range(lat, lon).then_some((lat, lon, kind))
}

fn in_range(lat: f64, lon: f64) -> bool {
    lat.is_finite()
        && lon.is_finite()
        && (-90.0..=90.0).contains(&lat)
        && (-180.0..=180.0).contains(&lon)
}

/// A GeoJSON position `[lon, lat, …]` in WGS84's range.
fn position(v: &Value) -> Option<Coord<f64>> {
    let a = v.as_array()?;
    let (lon, lat) = (a.first()?.as_f64()?, a.get(1)?.as_f64()?);
    in_range(lat, lon).then_some(Coord { x: lon, y: lat })
}

/// A line (or ring) of at least `min` positions.
fn line(v: &Value, min: usize) -> Option<LineString<f64>> {
    let coords = v
        .as_array()?
        .iter()
        .map(position)
        .collect::<Option<Vec<_>>>()?;
    (coords.len() >= min).then(|| LineString::new(coords))
}

/// A polygon: an exterior ring and holes, each of at least 4 positions.
fn polygon(v: &Value) -> Option<Polygon<f64>> {
    let mut rings = v
        .as_array()?
        .iter()
        .map(|r| line(r, 4))
        .collect::<Option<Vec<_>>>()?
        .into_iter();
    let exterior = rings.next()?;
    Some(Polygon::new(exterior, rings.collect()))
}

/// The point halfway along a line (great-circle lengths).
fn halfway(l: &LineString<f64>) -> Option<Point<f64>> {
    l.point_at_ratio_from_start(&Haversine, 0.5)
}

/// Imports `reader`'s features into `db` (see the module documentation). A file found
/// malformed part way keeps the batches stored before the fault (the error names the
/// line and column), not the batch in hand.
pub async fn run<R: Read + Send + 'static>(
    db: &Db,
    reader: R,
    options: ImportOptions,
) -> Result<ImportSummary, ImportError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Item>(BATCH * 2);
    let opts = options.clone();
    let reading = tokio::task::spawn_blocking(move || {
        read_features(reader, &opts, &mut |item| tx.blocking_send(item).is_ok())
    });
    let mut summary = ImportSummary::default();
    let mut batch: Vec<NewPlace> = Vec::with_capacity(BATCH);
    let mut replace = options.replace;
    let now = now_millis();
    let mut stored: Result<(), DbError> = Ok(());
    while let Some(item) = rx.recv().await {
        match item {
            Item::Place(p) => batch.push(p),
            Item::BrokenGeometry => summary.broken_geometry += 1,
            Item::MissingName => summary.missing_name += 1,
        }
        if batch.len() >= BATCH {
            match store::insert_batch(db, &batch, replace, now).await {
                Ok(outside) => summary.outside_districts += outside,
                Err(e) => {
                    stored = Err(e);
                    break;
                }
            }
            summary.imported += batch.len();
            batch.clear();
            replace = false;
        }
    }
    // After a storage failure the reader stops at its next feature.
    drop(rx);
    let read = reading
        .await
        .map_err(|e| ImportError::Io(format!("the reader failed: {e}")))?;
    stored?;
    summary.features = read?;
    if !batch.is_empty() || replace {
        summary.outside_districts += store::insert_batch(db, &batch, replace, now).await?;
        summary.imported += batch.len();
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts() -> ImportOptions {
        ImportOptions {
            name_property: "name".into(),
            name_en_property: Some("name:en".into()),
            kind_property: None,
            replace: false,
        }
    }

    fn place(v: Value) -> NewPlace {
        match judge(&v, &opts()) {
            Item::Place(p) => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn points_lines_and_polygons_have_a_point() {
        let p = place(json!({"type": "Feature", "properties": {"name": "میدان"},
            "geometry": {"type": "Point", "coordinates": [51.4, 35.7]}}));
        assert_eq!((p.lat, p.lon, p.kind.as_str()), (35.7, 51.4, "place"));
        // Halfway along an L-shaped street lies on it (at its corner here).
        let p = place(json!({"properties": {"name": "کوچه"},
            "geometry": {"type": "LineString", "coordinates": [[51.0, 35.0], [51.0, 35.1], [51.1, 35.1]]}}));
        assert_eq!(p.kind, "street");
        assert!(
            (p.lat - 35.1).abs() < 0.01 && (p.lon - 51.0).abs() < 0.01,
            "{p:?}"
        );
        // A U-shaped area: its point is inside, not in the gap of the U.
        let p = place(json!({"properties": {"name:en": "U park"},
            "geometry": {"type": "Polygon", "coordinates": [[[0.0, 0.0], [3.0, 0.0], [3.0, 3.0], [2.0, 3.0],
                [2.0, 1.0], [1.0, 1.0], [1.0, 3.0], [0.0, 3.0], [0.0, 0.0]]]}}));
        assert_eq!(p.kind, "area");
        assert!(!(p.lon > 1.0 && p.lon < 2.0 && p.lat > 1.0), "{p:?}");
        assert_eq!(p.name_fa, None);
        assert_eq!(p.key_en, "u park");
    }

    #[test]
    fn broken_geometries_are_judged_broken() {
        for g in [
            Value::Null,
            json!({"type": "Point"}),
            json!({"type": "Point", "coordinates": ["51", 35.7]}),
            json!({"type": "Point", "coordinates": [151.4, 95.7]}),
            json!({"type": "Point", "coordinates": [51.4]}),
            json!({"type": "LineString", "coordinates": [[51.4, 35.7]]}),
            json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}),
            json!({"type": "MultiPoint", "coordinates": [[51.4, 35.7], [500, 1]]}),
            json!({"type": "Circle", "coordinates": [51.4, 35.7]}),
            json!("Point"),
        ] {
            let f = json!({"type": "Feature", "properties": {"name": "x"}, "geometry": g});
            assert_eq!(judge(&f, &opts()), Item::BrokenGeometry, "{g}");
        }
    }

    #[test]
    fn names_missing_empty_or_too_long_are_judged_missing() {
        let g = json!({"type": "Point", "coordinates": [51.4, 35.7]});
        for props in [
            json!({}),
            json!({"name": ""}),
            json!({"name": "  ،  "}),
            json!({"name": null}),
            json!({"name": ["a"]}),
            json!({"name": "x".repeat(MAX_NAME_CHARS + 1)}),
        ] {
            let f = json!({"properties": props, "geometry": g});
            assert_eq!(judge(&f, &opts()), Item::MissingName, "{props}");
        }
        assert_eq!(
            judge(&json!({"geometry": g}), &opts()),
            Item::MissingName,
            "no properties at all"
        );
    }

    #[test]
    fn streams_and_counts() {
        let text = r#"{"features": [
            {"type": "Feature", "properties": {"name": "يك"}, "geometry": {"type": "Point", "coordinates": [51, 35]}},
            {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [51, 35]}},
            {"type": "Feature", "properties": {"name": "b"}, "geometry": null}
        ], "type": "FeatureCollection", "crs": {"x": [1, 2]}}"#;
        let mut items = Vec::new();
        let n = read_features(text.as_bytes(), &opts(), &mut |i| {
            items.push(i);
            true
        })
        .unwrap();
        assert_eq!(n, 3);
        assert!(matches!(&items[0], Item::Place(p) if p.key_fa == "یک"));
        assert_eq!(items[1..], [Item::MissingName, Item::BrokenGeometry]);
    }

    #[test]
    fn not_a_collection_is_an_error() {
        for text in [
            r#"{"type": "Feature", "geometry": null}"#,
            r#"{"type": "FeatureCollection"}"#,
            r#"{"type": "FeatureCollection", "features": {}}"#,
            r#"[1, 2]"#,
            r#"{"type": "FeatureCollection", "features": [1, 2"#,
            r#"{"type": "FeatureCollection", "features": []} trailing"#,
        ] {
            let r = read_features(text.as_bytes(), &opts(), &mut |_| true);
            assert!(
                matches!(r, Err(ImportError::InvalidGeoJson(_))),
                "{text}: {r:?}"
            );
        }
    }
}

//! The documents of the OGC API – Features service (Part 1: Core and GeoJSON): landing
//! page, conformance, the `tasks` (points) and `districts` (polygons) collections with
//! their extents, and pages of features with `next`/`prev` links, `numberMatched`,
//! `numberReturned` and `timeStamp`. Links are absolute (GDAL follows them): every
//! document is built for the base URL the client addressed. `http::gis` reads the query
//! and writes the answer; what a task shows is [`PublicTask::feature`]'s choice.

use super::{Bbox, DEFAULT_LIMIT, GisError, PublicTask, RawFilter, TaskFilter};
use crate::base::time::now_millis;
use crate::base::time::rfc3339_utc;
use crate::storage::gis as store;
use crate::storage::{Db, DbError, DistrictStore, StoredDistrict};
use geo::BoundingRect;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

/// The media type of features and feature collections.
pub const GEOJSON: &str = "application/geo+json";
/// The media type of the other documents.
pub const JSON: &str = "application/json";
const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";

/// Why a document cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum OgcError {
    /// A query parameter has an unusable value.
    #[error(transparent)]
    Bad(#[from] GisError),
    /// No such feature.
    #[error("{0}")]
    NotFound(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The service as seen from one base URL (`http://host`, no trailing slash).
#[derive(Debug, Clone, Copy)]
pub struct Ogc<'a> {
    db: &'a Db,
    base: &'a str,
}

/// Where the API definition is, for the landing page's `service-desc` link.
#[derive(Debug, Clone, Copy)]
pub struct ServiceDesc<'a> {
    /// Its path on this server.
    pub path: &'a str,
    /// Its media type.
    pub media_type: &'a str,
}

impl<'a> Ogc<'a> {
    /// The service on `db`, linked from `base`.
    pub fn new(db: &'a Db, base: &'a str) -> Ogc<'a> {
        Ogc { db, base }
    }

    /// The landing page seen from `b`: links to itself, the API definition, conformance,
    /// collections.
    pub fn landing(b: &str, api: ServiceDesc<'_>) -> Value {
        json!({
            "title": "Tarmim: citizen requests",
            "description": "The city's citizen requests (public fields only) and its districts, \
                            as OGC API - Features.",
            "links": [
                link(format!("{b}/ogc"), "self", JSON, "this document"),
                link(format!("{b}{}", api.path), "service-desc",
                     api.media_type, "the API definition (OpenAPI)"),
                link(format!("{b}/ogc/conformance"), "conformance", JSON,
                     "conformance classes"),
                link(format!("{b}/ogc/collections"), "data", JSON, "the collections"),
            ],
        })
    }

    /// The conformance classes implemented.
    pub fn conformance() -> Value {
        json!({"conformsTo": [
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
        ]})
    }

    /// Both collections.
    pub async fn collections(&self) -> Result<Value, OgcError> {
        let b = self.base;
        Ok(json!({
            "links": [link(format!("{b}/ogc/collections"), "self", JSON, "this document")],
            "collections": [self.tasks_collection().await?, self.districts_collection().await?],
        }))
    }

    /// The `tasks` collection, with the extent of every task's point and request time.
    pub async fn tasks_collection(&self) -> Result<Value, OgcError> {
        let b = self.base;
        let mut c = json!({
            "id": "tasks",
            "title": "Citizen requests",
            "description": "Every task (citizen request) as a point: service, status, priority, \
                            district, title and times. Public fields only: no crew, no reporter, \
                            no tracking code, no notes.",
            "links": [
                link(format!("{b}/ogc/collections/tasks"), "self", JSON, "this collection"),
                link(format!("{b}/ogc/collections/tasks/items"), "items", GEOJSON, "the tasks"),
            ],
            "itemType": "feature",
            "crs": [CRS84],
        });
        if let Some((w, s, e, n, first, last)) = store::extent(self.db).await? {
            c["extent"] = json!({
                "spatial": {"bbox": [[w, s, e, n]], "crs": CRS84},
                "temporal": {
                    "interval": [[rfc3339_utc(first), rfc3339_utc(last)]],
                    "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
                },
            });
        }
        Ok(c)
    }

    /// The `districts` collection, with the extent of every district.
    pub async fn districts_collection(&self) -> Result<Value, OgcError> {
        let b = self.base;
        let mut c = json!({
            "id": "districts",
            "title": "Districts",
            "description": "The districts requests are routed to (code, name, region).",
            "links": [
                link(format!("{b}/ogc/collections/districts"), "self", JSON, "this collection"),
                link(format!("{b}/ogc/collections/districts/items"), "items", GEOJSON, "the districts"),
            ],
            "itemType": "feature",
            "crs": [CRS84],
        });
        let all = self.db.districts().await?;
        let rects: Vec<_> = all
            .iter()
            .filter_map(|d| d.geometry.bounding_rect())
            .collect();
        if let Some(first) = rects.first() {
            let (mut w, mut s, mut e, mut n) =
                (first.min().x, first.min().y, first.max().x, first.max().y);
            for r in &rects {
                w = w.min(r.min().x);
                s = s.min(r.min().y);
                e = e.max(r.max().x);
                n = n.max(r.max().y);
            }
            c["extent"] = json!({"spatial": {"bbox": [[w, s, e, n]], "crs": CRS84}});
        }
        Ok(c)
    }

    /// A page of tasks matching `raw` (`default_limit` when it names none), linked from
    /// `path` (the page's own path on this server).
    pub async fn task_items(
        &self,
        path: &str,
        raw: &RawFilter,
        default_limit: u32,
    ) -> Result<Value, OgcError> {
        let f = TaskFilter::parse(raw, default_limit)?;
        let page = store::tasks(self.db, &f).await?;
        let features = page.tasks.iter().map(PublicTask::feature).collect();
        Ok(self.page(path, raw, &f, features, page.matched))
    }

    /// One task.
    pub async fn task_item(&self, id: &str) -> Result<Value, OgcError> {
        let task = store::task(self.db, id)
            .await?
            .ok_or_else(|| OgcError::NotFound(format!("no task {id:?}")))?;
        let mut body = task.feature();
        body["links"] = self.item_links("tasks", id);
        Ok(body)
    }

    /// A page of districts whose bounding box meets `raw`'s `bbox`; districts have no
    /// time, so any `datetime` matches none.
    pub async fn district_items(&self, raw: &RawFilter) -> Result<Value, OgcError> {
        let f = TaskFilter::parse(raw, DEFAULT_LIMIT)?;
        let all = self.db.districts().await?;
        let matching: Vec<_> = all
            .iter()
            .filter(|d| f.datetime.is_none() && f.bbox.is_none_or(|b| intersects(d, &b)))
            .collect();
        let features = matching
            .iter()
            .skip(usize::try_from(f.offset).unwrap_or(usize::MAX))
            .take(f.limit as usize)
            .map(|d| crate::domain::districts::feature(d))
            .collect();
        Ok(self.page(
            "/ogc/collections/districts/items",
            raw,
            &f,
            features,
            matching.len() as u64,
        ))
    }

    /// One district.
    pub async fn district_item(&self, code: &str) -> Result<Value, OgcError> {
        let all = self.db.districts().await?;
        let d = all
            .iter()
            .find(|d| d.code == code)
            .ok_or_else(|| OgcError::NotFound(format!("no district {code:?}")))?;
        let mut body = crate::domain::districts::feature(d);
        body["links"] = self.item_links("districts", code);
        Ok(body)
    }

    /// A feature's links: itself and its collection.
    fn item_links(&self, collection: &str, id: &str) -> Value {
        let b = self.base;
        json!([
            link(
                format!("{b}/ogc/collections/{collection}/items/{}", encode(id)),
                "self",
                GEOJSON,
                "this feature"
            ),
            link(
                format!("{b}/ogc/collections/{collection}"),
                "collection",
                JSON,
                "the collection"
            ),
        ])
    }

    /// A page as a FeatureCollection with OGC paging links (which repeat the filters).
    fn page(
        &self,
        path: &str,
        raw: &RawFilter,
        f: &TaskFilter,
        features: Vec<Value>,
        matched: u64,
    ) -> Value {
        let url = |offset: u64| {
            let mut parts = vec!["f=json".to_owned(), format!("limit={}", f.limit)];
            for (k, v) in [
                ("bbox", &raw.bbox),
                ("datetime", &raw.datetime),
                ("status", &raw.status),
                ("category", &raw.category),
            ] {
                if let Some(v) = v {
                    parts.push(format!("{k}={}", encode(v)));
                }
            }
            if offset > 0 {
                parts.push(format!("offset={offset}"));
            }
            format!("{}{path}?{}", self.base, parts.join("&"))
        };
        let returned = features.len() as u64;
        let mut links = vec![link(url(f.offset), "self", GEOJSON, "this page")];
        if f.offset + returned < matched && returned > 0 {
            links.push(link(url(f.offset + returned), "next", GEOJSON, "next page"));
        }
        if f.offset > 0 {
            links.push(link(
                url(f.offset.saturating_sub(u64::from(f.limit))),
                "prev",
                GEOJSON,
                "previous page",
            ));
        }
        json!({
            "type": "FeatureCollection",
            "features": features,
            "numberMatched": matched,
            "numberReturned": returned,
            "timeStamp": rfc3339_utc(now_millis()),
            "links": links,
        })
    }
}

/// What a link's query value or path segment keeps as it is: RFC 3986's unreserved
/// characters, and commas and colons, which read better in a `bbox` or a time and are
/// allowed there.
const KEPT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b',')
    .remove(b':');

/// Percent-encodes a link's query value or path segment.
fn encode(s: &str) -> String {
    utf8_percent_encode(s, KEPT).to_string()
}

fn link(href: String, rel: &str, ty: &str, title: &str) -> Value {
    json!({"href": href, "rel": rel, "type": ty, "title": title})
}

/// Whether a district's bounding box meets the box (either part of one that crosses the
/// antimeridian).
fn intersects(d: &StoredDistrict, b: &Bbox) -> bool {
    d.geometry.bounding_rect().is_some_and(|r| {
        b.parts().iter().any(|p| {
            r.min().x <= p.max_lon
                && r.max().x >= p.min_lon
                && r.min().y <= p.max_lat
                && r.max().y >= p.min_lat
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_percent_encoded() {
        assert_eq!(encode("51.2,35.6,51.6,35.8"), "51.2,35.6,51.6,35.8");
        assert_eq!(
            encode("2026-01-01T00:00:00+03:30/.."),
            "2026-01-01T00:00:00%2B03:30%2F.."
        );
        assert_eq!(encode("a b&c"), "a%20b%26c");
        assert_eq!(encode("T-1/ب"), "T-1%2F%D8%A8");
    }
}

//! Public task data for GIS clients: the filters (bounding box, time, status, category,
//! limit and offset) as OGC API – Features defines them, the one public shape of a task
//! ([`PublicTask`]) and its GeoJSON feature; [`ogc`] builds the OGC API – Features
//! documents from them. The HTTP side (`http::gis`) serves them as a GeoJSON download and
//! as an OGC API – Features service; `crate::storage::gis` runs the queries on the `tasks`
//! projection.
//!
//! **Public fields only.** A task's feature carries: its id, the service (code and name),
//! `status` (`open`/`closed`) and `detailed_status` (the derived status), `priority`,
//! `district`, `title`, `requested_datetime` (creation) and `updated_datetime` (last
//! commit), both RFC 3339 in UTC, and the point. Never: the assigned crew, tracking
//! codes, the reporter or anything about them, the description, notes, photos or the
//! event log. The `datetime` filter applies to `requested_datetime`.
//!
//! **Bounded.** A page holds at most [`MAX_LIMIT`] features; a bad `bbox`, `datetime`,
//! `limit`, `offset` or `status` is a [`GisError`] (400 with a message saying what is
//! expected), never an empty answer that looks like data.

pub mod ogc;

use crate::base::time::{parse_rfc3339, rfc3339_utc};
pub use crate::storage::gis::{Bbox, Interval, PublicTask, TaskFilter};
use serde_json::{Value, json};
use sync_core::Millis;
use sync_core::task::Status;

/// Features per page when the request names no `limit`.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest `limit` accepted.
pub const MAX_LIMIT: u32 = 10_000;
/// The largest `offset` accepted (deeper pages are narrowed with `bbox`/`datetime`).
pub const MAX_OFFSET: u64 = 10_000_000;

/// A request the filters cannot be read from.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GisError {
    /// A query parameter has an unusable value.
    #[error("{0}")]
    BadParameter(String),
}

fn bad(msg: impl Into<String>) -> GisError {
    GisError::BadParameter(msg.into())
}

impl Bbox {
    /// Parses `minLon,minLat,maxLon,maxLat` (or the 6-number form with heights, which are
    /// ignored: tasks have none).
    pub fn parse(s: &str) -> Result<Bbox, GisError> {
        let expect = "bbox must be minLon,minLat,maxLon,maxLat in degrees (WGS84), e.g. \
                      bbox=51.2,35.6,51.6,35.8";
        let n: Vec<f64> = s
            .split(',')
            .map(|x| x.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad(format!("{expect}; got {s:?}")))?;
        let (min_lon, min_lat, max_lon, max_lat) = match n[..] {
            [a, b, c, d] => (a, b, c, d),
            [a, b, _, c, d, _] => (a, b, c, d),
            _ => return Err(bad(format!("{expect}; got {} numbers", n.len()))),
        };
        if n.iter().any(|x| !x.is_finite()) {
            return Err(bad(format!("{expect}; got {s:?}")));
        }
        for lon in [min_lon, max_lon] {
            if !(-180.0..=180.0).contains(&lon) {
                return Err(bad(format!("bbox longitude {lon} is outside -180..180")));
            }
        }
        for lat in [min_lat, max_lat] {
            if !(-90.0..=90.0).contains(&lat) {
                return Err(bad(format!("bbox latitude {lat} is outside -90..90")));
            }
        }
        if min_lat > max_lat {
            return Err(bad(format!(
                "bbox south {min_lat} is north of its north {max_lat}"
            )));
        }
        Ok(Bbox {
            min_lon,
            min_lat,
            max_lon,
            max_lat,
        })
    }
}

impl Interval {
    /// Parses OGC API's `datetime`: `T` (an instant), `T1/T2`, `../T2`, `T1/..` (an empty
    /// end is open too). Times are RFC 3339 with an offset.
    pub fn parse(s: &str) -> Result<Interval, GisError> {
        let expect = "datetime must be an RFC 3339 time (2026-05-01T08:30:00Z) or an \
                      interval start/end where either end may be `..` (open)";
        let time = |t: &str| -> Result<Option<Millis>, GisError> {
            match t.trim() {
                "" | ".." => Ok(None),
                t => parse_rfc3339(t)
                    .map(Some)
                    .ok_or_else(|| bad(format!("{expect}; {t:?} is not RFC 3339"))),
            }
        };
        let iv = match s.split_once('/') {
            None => {
                let t = time(s)?.ok_or_else(|| bad(format!("{expect}; got {s:?}")))?;
                Interval {
                    start: Some(t),
                    end: Some(t),
                }
            }
            Some((a, b)) => {
                if b.contains('/') {
                    return Err(bad(format!("{expect}; got {s:?}")));
                }
                let iv = Interval {
                    start: time(a)?,
                    end: time(b)?,
                };
                if iv.start.is_none() && iv.end.is_none() {
                    return Err(bad(format!("{expect}; both ends are open in {s:?}")));
                }
                iv
            }
        };
        if let (Some(a), Some(b)) = (iv.start, iv.end)
            && a > b
        {
            return Err(bad(format!(
                "datetime interval {s:?} ends before it starts"
            )));
        }
        Ok(iv)
    }
}

/// What a task's public `status` is: `open` or `closed` (Open311's words).
pub fn open_or_closed(detailed: &str) -> &'static str {
    match Status::parse(detailed) {
        Some(s) if s.is_closed() => "closed",
        _ => "open",
    }
}

/// The raw query parameters (all optional text), read by [`TaskFilter::parse`].
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct RawFilter {
    /// `minLon,minLat,maxLon,maxLat`.
    pub bbox: Option<String>,
    /// RFC 3339 instant or interval.
    pub datetime: Option<String>,
    /// Comma-separated: `open`, `closed` or detailed statuses.
    pub status: Option<String>,
    /// Comma-separated service codes.
    pub category: Option<String>,
    /// 1..=10000.
    pub limit: Option<String>,
    /// 0..
    pub offset: Option<String>,
}

impl TaskFilter {
    /// Reads and checks the parameters; `default_limit` when none is given.
    pub fn parse(raw: &RawFilter, default_limit: u32) -> Result<TaskFilter, GisError> {
        let bbox = raw.bbox.as_deref().map(Bbox::parse).transpose()?;
        let datetime = raw.datetime.as_deref().map(Interval::parse).transpose()?;
        let limit = match raw.limit.as_deref() {
            None => default_limit,
            Some(s) => s
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    bad(format!(
                        "limit must be a whole number from 1 to {MAX_LIMIT}; got {s:?}"
                    ))
                })?,
        };
        let offset = match raw.offset.as_deref() {
            None => 0,
            Some(s) => s
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= MAX_OFFSET)
                .ok_or_else(|| {
                    bad(format!(
                        "offset must be a whole number from 0 to {MAX_OFFSET}; got {s:?}"
                    ))
                })?,
        };
        let mut statuses = Vec::new();
        for word in list(raw.status.as_deref()) {
            match word {
                "open" => statuses.extend(ALL_STATUSES.iter().filter(|s| !closed(s))),
                "closed" => statuses.extend(ALL_STATUSES.iter().filter(|s| closed(s))),
                w => statuses.push(Status::parse(w).map(Status::as_str).ok_or_else(|| {
                    bad(format!(
                        "status {w:?} is not open, closed or one of {}",
                        ALL_STATUSES.join(", ")
                    ))
                })?),
            }
        }
        statuses.sort_unstable();
        statuses.dedup();
        let mut categories = Vec::new();
        for c in list(raw.category.as_deref()) {
            if c.len() > 64 {
                return Err(bad("a category (service code) is at most 64 characters"));
            }
            categories.push(c.to_owned());
        }
        Ok(TaskFilter {
            bbox,
            datetime,
            statuses,
            categories,
            limit,
            offset,
        })
    }
}

fn list(s: Option<&str>) -> impl Iterator<Item = &str> {
    s.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
}

/// Every detailed status, by wire name.
pub const ALL_STATUSES: [&str; 11] = [
    "new",
    "queued",
    "assigned",
    "acknowledged",
    "in_progress",
    "paused",
    "completed",
    "verified",
    "reopened",
    "cancelled",
    "duplicate",
];

fn closed(s: &str) -> bool {
    open_or_closed(s) == "closed"
}

impl PublicTask {
    /// The GeoJSON feature.
    pub fn feature(&self) -> Value {
        json!({
            "type": "Feature",
            "id": self.id,
            "geometry": {"type": "Point", "coordinates": [self.lon, self.lat]},
            "properties": {
                "service_request_id": self.id,
                "service_code": self.service_code,
                "service_name": self.service_name,
                "status": open_or_closed(&self.detailed_status),
                "detailed_status": self.detailed_status,
                "priority": self.priority,
                "district": self.district,
                "title": self.title,
                "requested_datetime": rfc3339_utc(self.created_at),
                "updated_datetime": rfc3339_utc(self.updated_at),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bbox() {
        let b = Bbox::parse("51.2,35.6,51.6,35.8").unwrap();
        assert!(b.contains(51.4, 35.7) && !b.contains(51.7, 35.7));
        assert_eq!(Bbox::parse("51.2,35.6,0,51.6,35.8,10").unwrap(), b);
        let wrap = Bbox::parse("170,-10,-170,10").unwrap();
        assert_eq!(wrap.parts().len(), 2);
        assert!(
            wrap.contains(179.0, 0.0) && wrap.contains(-179.0, 0.0) && !wrap.contains(0.0, 0.0)
        );
        for bad in [
            "",
            "1,2,3",
            "a,b,c,d",
            "0,0,200,1",
            "0,10,1,0",
            "0,0,1,NaN",
            "1,2,3,4,5",
        ] {
            assert!(Bbox::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn datetime() {
        let t = parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(
            Interval::parse("2026-01-01T00:00:00Z").unwrap(),
            Interval {
                start: Some(t),
                end: Some(t)
            }
        );
        assert_eq!(
            Interval::parse("../2026-01-01T03:30:00+03:30").unwrap(),
            Interval {
                start: None,
                end: Some(t)
            }
        );
        assert_eq!(
            Interval::parse("2026-01-01T00:00:00Z/").unwrap(),
            Interval {
                start: Some(t),
                end: None
            }
        );
        for bad in [
            "",
            "../..",
            "/",
            "yesterday",
            "2026-01-02T00:00:00Z/2026-01-01T00:00:00Z",
            "2026-01-01",
            "a/b/c",
        ] {
            assert!(Interval::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(rfc3339_utc(t), "2026-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(t + 1500), "2026-01-01T00:00:01.5Z");
    }

    #[test]
    fn filter() {
        let f = TaskFilter::parse(&RawFilter::default(), DEFAULT_LIMIT).unwrap();
        assert_eq!((f.limit, f.offset), (DEFAULT_LIMIT, 0));
        let raw = |limit: &str| RawFilter {
            limit: Some(limit.into()),
            ..RawFilter::default()
        };
        assert_eq!(
            TaskFilter::parse(&raw("10000"), DEFAULT_LIMIT)
                .unwrap()
                .limit,
            10_000
        );
        for bad in ["0", "10001", "-1", "x", "1e3"] {
            assert!(
                TaskFilter::parse(&raw(bad), DEFAULT_LIMIT).is_err(),
                "{bad}"
            );
        }
        let f = TaskFilter::parse(
            &RawFilter {
                status: Some("closed,queued".into()),
                ..RawFilter::default()
            },
            DEFAULT_LIMIT,
        )
        .unwrap();
        assert_eq!(
            f.statuses,
            vec!["cancelled", "completed", "duplicate", "queued", "verified"]
        );
        assert!(
            TaskFilter::parse(
                &RawFilter {
                    status: Some("lost".into()),
                    ..RawFilter::default()
                },
                DEFAULT_LIMIT
            )
            .is_err()
        );
    }
}

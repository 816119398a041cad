//! Crews' position reports: what is impossible (refused), what is implausible (kept and
//! flagged), the per-user rate limit, and [`record`], which applies them in that order
//! to a crew member's report and stores what it may keep.
//!
//! A coordinate outside WGS84 (or not a number) is refused: there is nothing to keep. A
//! report that is merely implausible is stored with flags and never used for choosing a
//! crew: only the latest *unflagged* position counts as where a crew is.
//!
//! | flag | when |
//! | --- | --- |
//! | `impossible_jump` | more than [`JUMP_MIN_METRES`] from the last plausible position at more than [`MAX_SPEED_MPS`] (≈ 200 km/h) |
//! | `future_time` | the phone's time is more than [`FUTURE_SLACK_MS`] ahead of the server's |
//! | `out_of_order` | older than the last plausible position |
//! | `poor_accuracy` | reported accuracy worse than [`POOR_ACCURACY_M`] |

use super::Dispatch;
use super::crews::CrewMember;
use crate::base::geodesy::distance_m;
use crate::base::time::now_millis;
use crate::storage::DbError;
use crate::storage::dispatch::{self as store, PositionRow};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use sync_core::Millis;

/// Fastest believable ground speed of a crew vehicle, m/s (200 km/h).
pub const MAX_SPEED_MPS: f64 = 200.0 / 3.6;
/// Below this distance a jump is GPS jitter, never flagged.
pub const JUMP_MIN_METRES: f64 = 1_000.0;
/// How far ahead of the server's clock a phone's time may be.
pub const FUTURE_SLACK_MS: Millis = 5 * 60 * 1000;
/// Accuracy worse than this is flagged.
pub const POOR_ACCURACY_M: f64 = 1_000.0;

/// Why a report is refused outright.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PositionError {
    /// Not a WGS84 coordinate.
    #[error(
        "impossible coordinate lat={lat}, lon={lon}: latitude must be within -90..90 and longitude within -180..180"
    )]
    ImpossibleCoordinate {
        /// Latitude sent.
        lat: f64,
        /// Longitude sent.
        lon: f64,
    },
    /// Accuracy that is negative or not a number.
    #[error("accuracy_m must be a non-negative number of metres")]
    BadAccuracy,
}

/// Checks a report against the crew's last plausible position `(lat, lon, at)`; returns
/// its flags (empty = plausible), or an error if it cannot be kept at all.
pub fn check(
    lat: f64,
    lon: f64,
    at: Millis,
    accuracy_m: Option<f64>,
    last: Option<(f64, f64, Millis)>,
    now: Millis,
) -> Result<Vec<&'static str>, PositionError> {
    if crate::domain::districts::check_point(lat, lon).is_err() {
        return Err(PositionError::ImpossibleCoordinate { lat, lon });
    }
    if accuracy_m.is_some_and(|a| !a.is_finite() || a < 0.0) {
        return Err(PositionError::BadAccuracy);
    }
    let mut flags = Vec::new();
    if at > now.saturating_add(FUTURE_SLACK_MS) {
        flags.push("future_time");
    }
    if let Some((plat, plon, pat)) = last {
        if at < pat {
            flags.push("out_of_order");
        } else {
            let d = distance_m((plat, plon), (lat, lon));
            // Milliseconds to seconds; a zero interval makes any real move impossible.
            let secs = (at - pat) as f64 / 1000.0;
            if d > JUMP_MIN_METRES && (secs <= 0.0 || d / secs > MAX_SPEED_MPS) {
                flags.push("impossible_jump");
            }
        }
    }
    if accuracy_m.is_some_and(|a| a > POOR_ACCURACY_M) {
        flags.push("poor_accuracy");
    }
    Ok(flags)
}

/// A position report as a crew member's phone makes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    /// Latitude (WGS84).
    pub lat: f64,
    /// Longitude (WGS84).
    pub lon: f64,
    /// When the phone was there (its clock).
    pub at: Millis,
    /// Horizontal accuracy in metres.
    pub accuracy_m: Option<f64>,
}

/// Why a report was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Not a place on Earth, or a meaningless accuracy.
    #[error(transparent)]
    Impossible(#[from] PositionError),
    /// The device reported again within the interval.
    #[error("position reports are limited to one per {interval_ms} ms per user")]
    TooFast {
        /// The configured interval.
        interval_ms: u128,
        /// Whole seconds until a report would be taken (at least 1).
        retry_after_secs: u64,
    },
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Records a crew member's report: refused if impossible ([`check`]), then limited per
/// user, whichever device it comes from ([`RateLimiter`]; an impossible report takes no slot), then stored with its
/// flags. Returns the flags (empty when plausible).
pub async fn record(
    d: &Dispatch,
    member: &CrewMember,
    report: Report,
) -> Result<Vec<&'static str>, ReportError> {
    let now = now_millis();
    let last = store::last_plausible_position(&d.store, member.crew()).await?;
    let flags = check(
        report.lat,
        report.lon,
        report.at,
        report.accuracy_m,
        last.map(|p| (p.lat, p.lon, p.at)),
        now,
    )?;
    // Per user, not per device: a fresh device id per login would otherwise buy a fresh
    // slot (issue 16, point 8). One person is in one place; their devices share it.
    if let Err(wait) = d.positions.take(member.user()) {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return Err(ReportError::TooFast {
            interval_ms: d.positions.interval.as_millis(),
            retry_after_secs: secs.max(1),
        });
    }
    store::insert_position(
        &d.store,
        &PositionRow {
            crew: member.crew().to_owned(),
            device: member.device().to_string(),
            lat: report.lat,
            lon: report.lon,
            accuracy_m: report.accuracy_m,
            at: report.at,
            received_at: now,
            flags: flags.iter().map(|f| (*f).to_owned()).collect(),
        },
    )
    .await?;
    if !flags.is_empty() {
        metrics::counter!("tarmim_positions_flagged_total").increment(1);
    }
    Ok(flags)
}

/// At most one accepted report per key (a user) per interval, in this process. (Each replica
/// limits on its own: a phone hopping between replicas gets at most one report per
/// replica per interval, which still bounds the write rate.)
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    last: Mutex<HashMap<String, Instant>>,
}

impl RateLimiter {
    /// A limiter of one report per `interval` per key.
    pub fn new(interval: Duration) -> RateLimiter {
        RateLimiter {
            interval,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a slot for `key`, or says how long to wait.
    pub fn take(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(prev) = last.get(key) {
            let since = now.duration_since(*prev);
            if since < self.interval {
                return Err(self.interval - since);
            }
        }
        // Keep the map bounded: forget devices idle for more than a few intervals.
        if last.len() > 10_000 {
            let keep = self.interval * 4;
            last.retain(|_, t| now.duration_since(*t) < keep);
        }
        last.insert(key.to_owned(), now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_coordinates_are_refused() {
        for (lat, lon) in [
            (91.0, 0.0),
            (0.0, 181.0),
            (f64::NAN, 0.0),
            (0.0, f64::INFINITY),
        ] {
            assert!(check(lat, lon, 0, None, None, 0).is_err());
        }
        assert!(check(0.0, 0.0, 0, Some(-1.0), None, 0).is_err());
    }

    #[test]
    fn jumps_and_clock_problems_are_flagged() {
        let last = Some((35.70, 51.40, 1_000_000));
        // 1.1 km in 60 s = 66 km/h: fine.
        assert!(
            check(35.71, 51.40, 1_060_000, None, last, 1_060_000)
                .unwrap()
                .is_empty()
        );
        // 11 km in 60 s = 660 km/h: a jump.
        assert_eq!(
            check(35.80, 51.40, 1_060_000, None, last, 1_060_000).unwrap(),
            ["impossible_jump"]
        );
        // Jitter of 100 m at the same instant: fine.
        assert!(
            check(35.7009, 51.40, 1_000_000, None, last, 1_000_000)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            check(35.70, 51.40, 999_000, None, last, 1_060_000).unwrap(),
            ["out_of_order"]
        );
        assert_eq!(
            check(35.70, 51.40, 10_000_000, None, last, 1_060_000).unwrap(),
            ["future_time"]
        );
        assert_eq!(
            check(35.70, 51.40, 1_060_000, Some(5_000.0), last, 1_060_000).unwrap(),
            ["poor_accuracy"]
        );
    }

    #[test]
    fn rate_limit_per_key() {
        let r = RateLimiter::new(Duration::from_secs(60));
        assert!(r.take("a").is_ok());
        assert!(r.take("a").is_err());
        assert!(r.take("b").is_ok());
    }
}

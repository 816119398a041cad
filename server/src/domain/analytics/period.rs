//! Local dates in the city's time zone: parsing a `from`/`to` range, cutting it into day,
//! week or month buckets, and turning each bucket into the UTC milliseconds the facts
//! are stored in.
//!
//! The zone comes from `jiff`'s bundled copy of the IANA database, so a machine without
//! `/usr/share/zoneinfo` (a slim container) computes the same days. A local day runs from
//! its midnight to the next day's midnight; in a zone with daylight saving such a day is
//! 23 or 25 hours long, and midnight that falls in a gap is taken as the first instant
//! after it.

use super::AnalyticsError;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// Longest accepted range, in days (both ends included).
pub const MAX_DAYS: i64 = 400;
/// Days in the default range ending today.
pub const DEFAULT_DAYS: i64 = 30;

pub use crate::base::time::{rfc3339, zone};

/// An inclusive range of local dates, with its UTC bounds `[start_ms, end_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First day.
    pub from: Date,
    /// Last day (included).
    pub to: Date,
    /// Midnight starting `from`, ms since the epoch.
    pub start_ms: i64,
    /// Midnight after `to`, ms since the epoch.
    pub end_ms: i64,
}

/// The bucket size of a trend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// One local day.
    Day,
    /// Monday to Sunday.
    Week,
    /// A calendar month.
    Month,
}

impl Interval {
    /// Parses `day`, `week` or `month`.
    pub fn parse(s: &str) -> Result<Interval, AnalyticsError> {
        match s {
            "day" => Ok(Interval::Day),
            "week" => Ok(Interval::Week),
            "month" => Ok(Interval::Month),
            _ => Err(AnalyticsError::BadRequest(format!(
                "unknown interval {s:?}: expected day, week or month"
            ))),
        }
    }
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
        }
    }
}

/// One bucket of a range: its label (the local date the calendar bucket starts on) and
/// its UTC bounds, clipped to the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Local date of the bucket's calendar start (a Monday, the 1st, or the day).
    pub period: Date,
    /// Inclusive lower bound, ms.
    pub lo: i64,
    /// Exclusive upper bound, ms.
    pub hi: i64,
}

/// Milliseconds of the local midnight starting `d`.
pub fn midnight_ms(d: Date, tz: &TimeZone) -> Result<i64, AnalyticsError> {
    let z = d
        .to_zoned(tz.clone())
        .map_err(|e| AnalyticsError::BadRequest(format!("date {d} out of range: {e}")))?;
    Ok(z.timestamp().as_millisecond())
}

fn next_day(d: Date) -> Result<Date, AnalyticsError> {
    d.tomorrow()
        .map_err(|e| AnalyticsError::BadRequest(format!("date {d} out of range: {e}")))
}

fn parse_date(what: &str, s: &str) -> Result<Date, AnalyticsError> {
    let ok = s.len() == 10 && s.as_bytes().get(4) == Some(&b'-');
    let d = if ok { s.parse::<Date>().ok() } else { None };
    d.ok_or_else(|| {
        AnalyticsError::BadRequest(format!("`{what}` must be a date YYYY-MM-DD, not {s:?}"))
    })
}

/// Today's local date in `tz`.
pub fn today(tz: &TimeZone) -> Date {
    Timestamp::now().to_zoned(tz.clone()).date()
}

/// Parses `from`/`to` (local dates, inclusive). Missing `to` is today; missing `from` is
/// 29 days before `to` (30 days in all).
pub fn range(from: Option<&str>, to: Option<&str>, tz: &TimeZone) -> Result<Range, AnalyticsError> {
    let to = match to.filter(|s| !s.is_empty()) {
        Some(s) => parse_date("to", s)?,
        None => today(tz),
    };
    let from = match from.filter(|s| !s.is_empty()) {
        Some(s) => parse_date("from", s)?,
        None => to
            .checked_sub((DEFAULT_DAYS - 1).days())
            .map_err(|e| AnalyticsError::BadRequest(format!("date out of range: {e}")))?,
    };
    if from > to {
        return Err(AnalyticsError::BadRequest(format!(
            "`from` ({from}) is after `to` ({to})"
        )));
    }
    let days = from
        .until(to)
        .map_err(|e| AnalyticsError::BadRequest(e.to_string()))?
        .get_days() as i64
        + 1;
    if days > MAX_DAYS {
        return Err(AnalyticsError::BadRequest(format!(
            "the range is {days} days; at most {MAX_DAYS} are allowed"
        )));
    }
    Ok(Range {
        from,
        to,
        start_ms: midnight_ms(from, tz)?,
        end_ms: midnight_ms(next_day(to)?, tz)?,
    })
}

/// The whole range as one bucket.
pub fn whole(r: &Range) -> Vec<Bucket> {
    vec![Bucket {
        period: r.from,
        lo: r.start_ms,
        hi: r.end_ms,
    }]
}

/// Cuts the range into buckets: every bucket of the range is present, the first and
/// last clipped to it.
pub fn buckets(
    r: &Range,
    interval: Interval,
    tz: &TimeZone,
) -> Result<Vec<Bucket>, AnalyticsError> {
    let mut out = Vec::new();
    let mut day = r.from;
    while day <= r.to {
        let period = match interval {
            Interval::Day => day,
            Interval::Week => day
                .checked_sub(i64::from(day.weekday().to_monday_zero_offset()).days())
                .map_err(|e| AnalyticsError::BadRequest(e.to_string()))?,
            Interval::Month => day.first_of_month(),
        };
        let next = match interval {
            Interval::Day => next_day(day)?,
            Interval::Week => period
                .checked_add(7.days())
                .map_err(|e| AnalyticsError::BadRequest(e.to_string()))?,
            Interval::Month => next_day(day.last_of_month())?,
        };
        let end = if next > r.to { next_day(r.to)? } else { next };
        out.push(Bucket {
            period,
            lo: midnight_ms(day, tz)?,
            hi: midnight_ms(end, tz)?,
        });
        day = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn berlin_days_around_the_spring_switch_are_23_hours() {
        let tz = zone("Europe/Berlin").unwrap_or_else(|e| panic!("{e}"));
        let r =
            range(Some("2026-03-28"), Some("2026-03-30"), &tz).unwrap_or_else(|e| panic!("{e}"));
        let b = buckets(&r, Interval::Day, &tz).unwrap_or_else(|e| panic!("{e}"));
        let hours: Vec<i64> = b.iter().map(|b| (b.hi - b.lo) / 3_600_000).collect();
        assert_eq!(hours, vec![24, 23, 24]);
    }

    #[test]
    fn weeks_and_months_are_clipped_to_the_range() {
        let tz = zone("Asia/Tehran").unwrap_or_else(|e| panic!("{e}"));
        let r =
            range(Some("2026-01-28"), Some("2026-02-10"), &tz).unwrap_or_else(|e| panic!("{e}"));
        let w = buckets(&r, Interval::Week, &tz).unwrap_or_else(|e| panic!("{e}"));
        let labels: Vec<String> = w.iter().map(|b| b.period.to_string()).collect();
        assert_eq!(labels, vec!["2026-01-26", "2026-02-02", "2026-02-09"]);
        assert_eq!(w[0].lo, r.start_ms);
        assert_eq!(w[2].hi, r.end_ms);
        let m = buckets(&r, Interval::Month, &tz).unwrap_or_else(|e| panic!("{e}"));
        let labels: Vec<String> = m.iter().map(|b| b.period.to_string()).collect();
        assert_eq!(labels, vec!["2026-01-01", "2026-02-01"]);
    }

    #[test]
    fn bad_ranges_are_refused() {
        let tz = zone("Asia/Tehran").unwrap_or_else(|e| panic!("{e}"));
        assert!(range(Some("2026-02-30"), Some("2026-03-01"), &tz).is_err());
        assert!(range(Some("2026-3-1"), Some("2026-03-01"), &tz).is_err());
        assert!(range(Some("2026-03-02"), Some("2026-03-01"), &tz).is_err());
        assert!(range(Some("2025-01-01"), Some("2026-03-01"), &tz).is_err());
        assert!(range(Some("2025-03-01"), Some("2026-03-01"), &tz).is_ok());
    }
}

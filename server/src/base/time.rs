//! The city's time zone (`TARMIM_TIMEZONE`, an IANA name such as `Asia/Tehran`): the one
//! source of local time for every part that needs it — analytics' local days, Open311
//! datetimes (written with the offset in force at that instant, read when a client
//! sends none), and photos' EXIF times recorded without an offset.
//!
//! The zone database is `jiff`'s bundled copy, so a slim container without
//! `/usr/share/zoneinfo` gives the same answers. A local time that does not exist (in a
//! spring-forward gap) is taken as the instant just after the gap; one that occurs
//! twice (autumn fold) as the earlier (jiff's "compatible" rule, as RFC 5545 and
//! `java.time` do).

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use sync_core::Millis;

/// Looks a zone up by its IANA name.
pub fn zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|e| format!("unknown time zone {name:?}: {e}"))
}

/// RFC 3339 in the zone, with the offset in force at that instant and whole seconds
/// (`2026-03-29T01:30:00+01:00`); empty for an instant out of range.
pub fn rfc3339(ms: Millis, tz: &TimeZone) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(t) => t
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
        Err(_) => String::new(),
    }
}

/// RFC 3339 in UTC with only the fraction of a second there is
/// (`2026-11-29T18:30:00Z`, `…T18:30:00.5Z`); empty for an instant out of range.
pub fn rfc3339_utc(ms: Millis) -> String {
    Timestamp::from_millisecond(ms).map_or_else(|_| String::new(), |t| t.to_string())
}

/// Milliseconds since the epoch of an RFC 3339 time, which must carry its offset (RFC
/// 9557's annotations after it, such as `[Asia/Tehran]`, are taken too).
pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    Some(s.parse::<Timestamp>().ok()?.as_millisecond())
}

/// The instant of a local wall-clock time in the zone (see the module docs for gaps
/// and folds); `None` out of range.
pub fn from_local(local: DateTime, tz: &TimeZone) -> Option<Millis> {
    let t = tz.to_ambiguous_timestamp(local).compatible().ok()?;
    Some(t.as_millisecond())
}

/// A local wall-clock time from its parts; `None` for an impossible date or time.
pub fn civil(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<DateTime> {
    let n = |v: u32| i8::try_from(v).ok();
    DateTime::new(
        i16::try_from(y).ok()?,
        n(mo)?,
        n(d)?,
        n(h)?,
        n(mi)?,
        n(s)?,
        0,
    )
    .ok()
}

/// Current wall-clock time in milliseconds since the Unix epoch.
pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_follow_daylight_saving() {
        let berlin = zone("Europe/Berlin").unwrap();
        // 2026-03-29 01:30 UTC is 03:30 summer time; an hour before, 01:30 winter time.
        assert_eq!(
            rfc3339(1_774_747_800_000, &berlin),
            "2026-03-29T03:30:00+02:00"
        );
        assert_eq!(
            rfc3339(1_774_744_200_000, &berlin),
            "2026-03-29T01:30:00+01:00"
        );
        let tehran = zone("Asia/Tehran").unwrap();
        assert_eq!(rfc3339(0, &tehran), "1970-01-01T03:30:00+03:30");
    }

    #[test]
    fn local_times_read_back_with_gaps_and_folds() {
        let berlin = zone("Europe/Berlin").unwrap();
        let at = |h, mi| from_local(civil(2026, 3, 29, h, mi, 0).unwrap(), &berlin).unwrap();
        assert_eq!(at(1, 30), 1_774_744_200_000);
        // 02:30 does not exist that night: the instant after the gap, 03:30 summer time.
        assert_eq!(at(2, 30), 1_774_747_800_000);
        // 02:30 on 25 October happens twice: the earlier, summer time (00:30 UTC).
        let fold = from_local(civil(2026, 10, 25, 2, 30, 0).unwrap(), &berlin).unwrap();
        assert_eq!(rfc3339(fold, &berlin), "2026-10-25T02:30:00+02:00");
        assert!(civil(2026, 2, 30, 0, 0, 0).is_none());
        assert!(civil(2026, 13, 1, 0, 0, 0).is_none());
    }

    #[test]
    fn utc_times_write_and_read_back() {
        assert_eq!(rfc3339_utc(1_767_225_600_000), "2026-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(1_767_225_601_500), "2026-01-01T00:00:01.5Z");
        assert_eq!(rfc3339_utc(i64::MAX), "");
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(
            parse_rfc3339("2026-11-29T18:00:00+03:30"),
            parse_rfc3339("2026-11-29T14:30:00Z")
        );
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00Z"), Some(951_868_800_000));
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn unknown_zones_are_refused() {
        assert!(zone("Mars/Olympus_Mons").is_err());
    }
}

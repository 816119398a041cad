//! Reading a roster: CSV rows and the local times in them.
//!
//! A roster file has the header `crew,start,end` and one shift per row, its start and
//! end as the city's wall-clock times (`2026-12-07 22:00`, or with a `T`). A night shift
//! ends on the next day's date (`2026-12-07 22:00,2026-12-08 06:00`); its length is
//! measured between the two instants, so a shift across a daylight-saving change is an
//! hour shorter or longer than its wall-clock times suggest.
//!
//! Refused, every problem of the file listed with its line (nothing is stored): a row
//! that does not have three fields; a time that does not parse; a time that does not
//! exist in the zone (skipped by a spring-forward change); a time that occurs twice
//! (autumn fold) unless written with its offset (`2026-11-01 01:30-04:00`); a shift that
//! ends before it starts, or is empty, or is longer than [`MAX_SHIFT_MS`]; an unknown
//! crew; two shifts of one crew that overlap. More than [`MAX_ROWS`] rows are refused
//! as a whole.

use super::RosterError;
use crate::storage::roster::NewShift;
use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use std::collections::HashMap;
use sync_core::Millis;

/// The longest shift accepted (a longer one is taken for a typo in a date).
pub const MAX_SHIFT_MS: Millis = 24 * 3_600_000;
/// The most rows one file may hold (a week of 120 districts' crews is a few thousand).
pub const MAX_ROWS: usize = 20_000;

/// A shift read from a file, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The line of the file (1 is the header).
    pub line: usize,
    /// The shift.
    pub shift: NewShift,
}

/// Reads a wall-clock time of the zone into an instant; the reason in words otherwise.
pub fn local_instant(text: &str, tz: &TimeZone) -> Result<Millis, String> {
    let t = text.trim();
    let iso = t.replacen(' ', "T", 1);
    // An offset after the time (`…T01:30-05:00`): after the `T`, a sign or `Z`.
    let has_offset = iso
        .find('T')
        .is_some_and(|at| iso[at..].contains(['+', '-', 'Z', 'z']));
    if has_offset {
        return with_offset(t, &iso, tz);
    }
    if let Ok(civil) = iso.parse::<DateTime>() {
        let ambiguous = tz.to_ambiguous_timestamp(civil);
        return match ambiguous.offset() {
            AmbiguousOffset::Unambiguous { .. } => ambiguous
                .compatible()
                .map(|ts| ts.as_millisecond())
                .map_err(|e| format!("{t:?} is out of range: {e}")),
            AmbiguousOffset::Gap { .. } => Err(format!(
                "{t:?} does not exist in {}: the clocks skip it (daylight saving)",
                tz.iana_name().unwrap_or("the city's zone")
            )),
            AmbiguousOffset::Fold { before, after } => Err(format!(
                "{t:?} occurs twice in {} (daylight saving ends): write it with its offset, \
                 {iso}{} or {iso}{}",
                tz.iana_name().unwrap_or("the city's zone"),
                offset_text(before),
                offset_text(after)
            )),
        };
    }
    Err(format!("{t:?} is not a time like 2026-12-07 22:00"))
}

/// A wall-clock time written with its offset: accepted only if that offset is in force
/// at that time in the zone (one of the two readings of an autumn fold).
fn with_offset(t: &str, iso: &str, tz: &TimeZone) -> Result<Millis, String> {
    let ts: Timestamp = iso
        .parse()
        .map_err(|_| format!("{t:?} is not a time like 2026-12-07 22:00"))?;
    let local = ts.to_zoned(tz.clone()).datetime();
    let written = iso
        .get(..16)
        .and_then(|s| s.parse::<DateTime>().ok())
        .ok_or_else(|| format!("{t:?} is not a time like 2026-12-07 22:00"))?;
    if local.date() != written.date()
        || local.hour() != written.hour()
        || local.minute() != written.minute()
    {
        return Err(format!(
            "{t:?}: that offset is not in force at that time in {}",
            tz.iana_name().unwrap_or("the city's zone")
        ));
    }
    Ok(ts.as_millisecond())
}

/// An offset as `+03:30` / `-05:00`.
fn offset_text(o: jiff::tz::Offset) -> String {
    let s = o.seconds();
    let sign = if s < 0 { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", s.abs() / 3600, s.abs() % 3600 / 60)
}

/// Checks one shift's times: it must end after it starts, within [`MAX_SHIFT_MS`].
pub fn check_times(starts_at: Millis, ends_at: Millis) -> Result<(), String> {
    if ends_at < starts_at {
        return Err("the shift ends before it starts".into());
    }
    if ends_at == starts_at {
        return Err("the shift is empty (it ends when it starts)".into());
    }
    if ends_at - starts_at > MAX_SHIFT_MS {
        return Err("the shift is longer than 24 hours".into());
    }
    Ok(())
}

/// Reads a roster file. `known` tells whether a crew exists. Every problem is listed
/// (line: reason) in [`RosterError::Invalid`].
pub fn parse(
    text: &str,
    tz: &TimeZone,
    known: impl Fn(&str) -> bool,
) -> Result<Vec<Row>, RosterError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| RosterError::Invalid(vec![format!("line 1: {e}")]))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    if header != ["crew", "start", "end"] {
        return Err(RosterError::Invalid(vec![format!(
            "line 1: the header must be crew,start,end (found {})",
            header.join(",")
        )]));
    }
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        if rows.len() + problems.len() >= MAX_ROWS {
            return Err(RosterError::Invalid(vec![format!(
                "the file has more than {MAX_ROWS} rows"
            )]));
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("line {line}: {e}"));
                continue;
            }
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() != 3 {
            problems.push(format!(
                "line {line}: {} fields, expected crew,start,end",
                record.len()
            ));
            continue;
        }
        let crew = &record[0];
        let mut bad = Vec::new();
        if !known(crew) {
            bad.push(format!("unknown crew {crew:?}"));
        }
        let start = local_instant(&record[1], tz).map_err(|e| bad.push(format!("start {e}")));
        let end = local_instant(&record[2], tz).map_err(|e| bad.push(format!("end {e}")));
        if let (Ok(s), Ok(e)) = (start, end)
            && let Err(why) = check_times(s, e)
        {
            bad.push(format!("{why} ({} → {})", &record[1], &record[2]));
        }
        match (bad.is_empty(), start, end) {
            (true, Ok(starts_at), Ok(ends_at)) => rows.push(Row {
                line,
                shift: NewShift {
                    crew: crew.to_owned(),
                    starts_at,
                    ends_at,
                },
            }),
            _ => problems.push(format!("line {line}: {}", bad.join("; "))),
        }
    }
    problems.extend(overlaps(&rows));
    if !problems.is_empty() {
        return Err(RosterError::Invalid(problems));
    }
    Ok(rows)
}

/// Pairs of rows of one crew whose shifts overlap, in words.
fn overlaps(rows: &[Row]) -> Vec<String> {
    let mut by_crew: HashMap<&str, Vec<&Row>> = HashMap::new();
    for r in rows {
        by_crew.entry(r.shift.crew.as_str()).or_default().push(r);
    }
    let mut out = Vec::new();
    for (crew, mut list) in by_crew {
        list.sort_by_key(|r| (r.shift.starts_at, r.line));
        // The furthest-reaching shift so far: any later start before its end overlaps it.
        let mut reach: Option<&Row> = None;
        for r in list {
            if let Some(p) = reach
                && r.shift.starts_at < p.shift.ends_at
            {
                out.push(format!(
                    "line {}: crew {crew}'s shift overlaps its shift on line {}",
                    r.line.max(p.line),
                    r.line.min(p.line)
                ));
            }
            if reach.is_none_or(|p| r.shift.ends_at > p.shift.ends_at) {
                reach = Some(r);
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }

    fn problems(text: &str, tz: &TimeZone) -> Vec<String> {
        match parse(text, tz, |c| c.starts_with("C-")) {
            Err(RosterError::Invalid(p)) => p,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_night_shift_across_midnight_in_tehran() {
        let tz = zone("Asia/Tehran");
        let rows = parse(
            "crew,start,end\nC-1,2026-12-07 22:00,2026-12-08 06:00\n",
            &tz,
            |_| true,
        )
        .unwrap();
        assert_eq!(rows.len(), 1);
        let s = &rows[0].shift;
        // 22:00 +03:30 is 18:30 UTC.
        assert_eq!(
            crate::base::time::rfc3339_utc(s.starts_at),
            "2026-12-07T18:30:00Z"
        );
        assert_eq!(s.ends_at - s.starts_at, 8 * 3_600_000);
    }

    #[test]
    fn across_a_daylight_saving_change_the_shift_is_measured_in_real_hours() {
        // New York, 2026-03-08: 02:00 jumps to 03:00; 2026-11-01: 02:00 falls back to 01:00.
        let tz = zone("America/New_York");
        let rows = parse(
            "crew,start,end\nC-1,2026-03-07T22:00,2026-03-08T06:00\nC-1,2026-10-31 22:00,2026-11-01 06:00\n",
            &tz,
            |_| true,
        )
        .unwrap();
        assert_eq!(
            rows[0].shift.ends_at - rows[0].shift.starts_at,
            7 * 3_600_000
        );
        assert_eq!(
            rows[1].shift.ends_at - rows[1].shift.starts_at,
            9 * 3_600_000
        );
    }

    #[test]
    fn a_time_that_does_not_exist_is_refused() {
        let tz = zone("America/New_York");
        let p = problems(
            "crew,start,end\nC-1,2026-03-08 02:30,2026-03-08 10:00\n",
            &tz,
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("line 2: start"), "{p:?}");
        assert!(p[0].contains("does not exist"), "{p:?}");
    }

    #[test]
    fn a_time_that_occurs_twice_needs_its_offset() {
        let tz = zone("America/New_York");
        let p = problems(
            "crew,start,end\nC-1,2026-10-31 22:00,2026-11-01 01:30\n",
            &tz,
        );
        assert!(p[0].contains("occurs twice"), "{p:?}");
        // With the offset, either reading is taken; an offset not in force is refused.
        let rows = parse(
            "crew,start,end\nC-1,2026-10-31 22:00,2026-11-01 01:30-05:00\n",
            &tz,
            |_| true,
        )
        .unwrap();
        assert_eq!(
            rows[0].shift.ends_at - rows[0].shift.starts_at,
            4 * 3_600_000 + 1_800_000
        );
        let p = problems(
            "crew,start,end\nC-1,2026-10-31 22:00,2026-11-01 01:30+03:30\n",
            &tz,
        );
        assert!(p[0].contains("not in force"), "{p:?}");
    }

    #[test]
    fn overlaps_ends_before_starts_and_unknown_crews_are_all_listed() {
        let tz = zone("Asia/Tehran");
        let p = problems(
            "crew,start,end\n\
             C-1,2026-12-07 08:00,2026-12-07 16:00\n\
             C-1,2026-12-07 15:00,2026-12-07 23:00\n\
             C-2,2026-12-07 16:00,2026-12-07 08:00\n\
             X-9,2026-12-07 08:00,2026-12-07 16:00\n\
             C-3,2026-12-07 08:00\n\
             C-3,yesterday,2026-12-07 08:00\n\
             C-4,2026-12-07 08:00,2026-12-09 08:00\n",
            &tz,
        );
        assert_eq!(
            p,
            vec![
                "line 4: the shift ends before it starts (2026-12-07 16:00 → 2026-12-07 08:00)",
                "line 5: unknown crew \"X-9\"",
                "line 6: 2 fields, expected crew,start,end",
                "line 7: start \"yesterday\" is not a time like 2026-12-07 22:00",
                "line 8: the shift is longer than 24 hours (2026-12-07 08:00 → 2026-12-09 08:00)",
                "line 3: crew C-1's shift overlaps its shift on line 2",
            ]
        );
        // Back to back is not an overlap.
        parse(
            "crew,start,end\nC-1,2026-12-07 08:00,2026-12-07 16:00\nC-1,2026-12-07 16:00,2026-12-08 00:00\n",
            &tz,
            |_| true,
        )
        .unwrap();
    }

    #[test]
    fn a_wrong_header_is_refused() {
        let tz = zone("Asia/Tehran");
        let p = problems("who,from,to\nC-1,2026-12-07 08:00,2026-12-07 16:00\n", &tz);
        assert!(p[0].contains("crew,start,end"), "{p:?}");
    }
}

//! The demo city's rosters: every crew's shifts from yesterday to 8 days on, in the
//! city's clock (Tehran), and exactly one coverage gap for the console to show — three
//! hours, half a day ahead (so its alert is raised at once with the default lead), of
//! D07's `water_leak` if it can be made alone, else of the first district and urgent
//! skill whose gap stands alone (a crew's shift is cut for all its skills, so a central
//! district's gap spills over to its neighbours; the seeded city's is D01's).
//!
//! Patterns: a crew `A` works round the clock in two 12-hour shifts (07:00–19:00,
//! 19:00–07:00), `B` days (07:00–19:00), `C` 11:00–23:00. Where those leave an urgent
//! skill uncovered, a crew with the skill nearby is put on round-the-clock shifts.

use crate::domain::roster::coverage::{self, HOUR_MS, Input};
use crate::domain::roster::{self, RosterError};
use crate::storage::roster::{self as store, NewShift};
use crate::storage::{Db, DbError};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use sync_core::Millis;

/// How long the demo's gap lasts.
pub const GAP_HOURS: i64 = 3;
/// How far ahead of seeding it starts.
pub const GAP_AHEAD_HOURS: i64 = 12;

fn at(date: Date, hour: i8, tz: &TimeZone) -> Option<Millis> {
    let dt = date.at(hour, 0, 0, 0);
    Some(
        tz.to_ambiguous_timestamp(dt)
            .compatible()
            .ok()?
            .as_millisecond(),
    )
}

/// The shifts of one crew on a pattern, over `days` days from `first`.
fn pattern(
    crew: &str,
    round_the_clock: bool,
    letter: char,
    first: Date,
    tz: &TimeZone,
) -> Vec<NewShift> {
    let mut out = Vec::new();
    for d in 0..10 {
        let Ok(day) = first.checked_add(jiff::Span::new().days(d)) else {
            continue;
        };
        let Ok(next) = day.tomorrow() else { continue };
        let spans: Vec<(Option<Millis>, Option<Millis>)> = match (round_the_clock, letter) {
            (true, _) => vec![
                (at(day, 7, tz), at(day, 19, tz)),
                (at(day, 19, tz), at(next, 7, tz)),
            ],
            (false, 'C') => vec![(at(day, 11, tz), at(day, 23, tz))],
            _ => vec![(at(day, 7, tz), at(day, 19, tz))],
        };
        for (s, e) in spans {
            if let (Some(starts_at), Some(ends_at)) = (s, e) {
                out.push(NewShift {
                    crew: crew.to_owned(),
                    starts_at,
                    ends_at,
                });
            }
        }
    }
    out
}

fn as_input(base: &Input, shifts: &[NewShift]) -> Input {
    let mut i = base.clone();
    i.shifts = shifts
        .iter()
        .map(|s| (s.crew.clone(), s.starts_at, s.ends_at))
        .collect();
    i
}

/// Cuts `[from, to)` out of the shifts of `crews`.
fn cut(shifts: &[NewShift], crews: &[&str], from: Millis, to: Millis) -> Vec<NewShift> {
    let mut out = Vec::new();
    for s in shifts {
        if !crews.contains(&s.crew.as_str()) || s.ends_at <= from || s.starts_at >= to {
            out.push(s.clone());
            continue;
        }
        if s.starts_at < from {
            out.push(NewShift {
                ends_at: from,
                ..s.clone()
            });
        }
        if s.ends_at > to {
            out.push(NewShift {
                starts_at: to,
                ..s.clone()
            });
        }
    }
    out
}

/// Seeds the rosters (after the crews); returns how many shifts were stored.
pub async fn seed(db: &Db, now: Millis) -> Result<usize, RosterError> {
    let tz = TimeZone::get("Asia/Tehran").map_err(|e| DbError::Invalid(e.to_string()))?;
    let base = roster::coverage_input(db, &tz, now).await?;
    let today = jiff::Timestamp::from_millisecond(now)
        .map_err(|e| DbError::Invalid(e.to_string()))?
        .to_zoned(tz.clone())
        .date();
    let first = today.yesterday().unwrap_or(today);
    let letter = |id: &str| id.chars().last().unwrap_or('A');
    let mut round: Vec<String> = base
        .crews
        .iter()
        .filter(|c| letter(&c.id) == 'A')
        .map(|c| c.id.clone())
        .collect();
    let build = |round: &[String]| -> Vec<NewShift> {
        base.crews
            .iter()
            .flat_map(|c| pattern(&c.id, round.contains(&c.id), letter(&c.id), first, &tz))
            .collect()
    };
    // Put a crew with the skill nearby on round-the-clock shifts wherever a gap is left.
    for _ in 0..base.districts.len() * base.skills.len() {
        let gaps = coverage::gaps(&as_input(&base, &build(&round)));
        let Some(g) = gaps.first() else { break };
        let near = base
            .neighbours
            .get(&g.district)
            .cloned()
            .unwrap_or_default();
        let fix = base.crews.iter().find(|c| {
            !round.contains(&c.id)
                && c.skills.contains(&g.skill)
                && (c.district == g.district || near.contains(&c.district))
        });
        match fix {
            Some(c) => round.push(c.id.clone()),
            None => break, // no crew with the skill nearby: that gap stays
        }
    }
    let mut shifts = build(&round);
    // One gap, alone: D07's water_leak first.
    let from = roster::hour_start(now, &tz) + GAP_AHEAD_HOURS * HOUR_MS;
    let to = from + GAP_HOURS * HOUR_MS;
    let mut targets: Vec<(String, String)> = vec![("D07".into(), "water_leak".into())];
    for d in &base.districts {
        for s in &base.skills {
            targets.push((d.clone(), s.clone()));
        }
    }
    for (district, skill) in targets {
        if !base.districts.contains(&district) || !base.skills.contains(&skill) {
            continue;
        }
        let near = base.neighbours.get(&district).cloned().unwrap_or_default();
        let crews: Vec<&str> = base
            .crews
            .iter()
            .filter(|c| {
                c.skills.contains(&skill) && (c.district == district || near.contains(&c.district))
            })
            .map(|c| c.id.as_str())
            .collect();
        let trial = cut(&shifts, &crews, from, to);
        let gaps = coverage::gaps(&as_input(&base, &trial));
        if gaps.len() == 1 && gaps[0].district == district && gaps[0].skill == skill {
            shifts = trial;
            break;
        }
    }
    match store::write_shifts(db, &[], &shifts, "demo", now).await? {
        Ok(ids) => Ok(ids.len()),
        Err(o) => Err(RosterError::Invalid(vec![format!(
            "demo roster overlaps itself: {:?}",
            o.stored
        )])),
    }
}

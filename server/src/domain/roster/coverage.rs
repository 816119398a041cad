//! The coverage check: for every district and every urgent-capable skill (a service whose
//! default priority is urgent), every hour of the window (the next 7 days) must have at
//! least one crew with the skill rostered, of the district or a neighbouring one. An hour
//! counts as covered when the shifts of those crews, together, cover all of it (two crews
//! handing over at half past count as one).
//!
//! Pure: the caller loads crews, shifts and adjacency. For each skill the shifts of each
//! district's crews with the skill are merged once; each district then merges its own and
//! its neighbours' lists and walks the hours once, so the work is about districts ×
//! skills × (hours + shifts nearby).

use serde::Serialize;
use std::collections::HashMap;
use sync_core::Millis;

/// One hour.
pub const HOUR_MS: Millis = 3_600_000;

/// A crew as the check sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrewSkills {
    /// Crew id.
    pub id: String,
    /// Home district.
    pub district: String,
    /// Service codes it handles.
    pub skills: Vec<String>,
}

/// What the check reads.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// The first hour's start (an hour boundary of the city's clock).
    pub start: Millis,
    /// How many hours.
    pub hours: usize,
    /// Every district.
    pub districts: Vec<String>,
    /// Neighbours of each district.
    pub neighbours: HashMap<String, Vec<String>>,
    /// The urgent-capable skills.
    pub skills: Vec<String>,
    /// Crews (not retired).
    pub crews: Vec<CrewSkills>,
    /// Shifts: (crew id, start, end).
    pub shifts: Vec<(String, Millis, Millis)>,
}

/// Consecutive uncovered hours of one district and skill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Gap {
    /// District.
    pub district: String,
    /// Skill (service code).
    pub skill: String,
    /// Start of the first uncovered hour (ms since the epoch).
    pub from: i64,
    /// End of the last uncovered hour.
    pub to: i64,
    /// How many hours.
    pub hours: u32,
}

/// Merges intervals into sorted, disjoint ones (touching intervals join).
fn merge(mut v: Vec<(Millis, Millis)>) -> Vec<(Millis, Millis)> {
    v.sort_unstable();
    let mut out: Vec<(Millis, Millis)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// The gaps, by district, skill and time.
pub fn gaps(input: &Input) -> Vec<Gap> {
    let end = input
        .start
        .saturating_add(HOUR_MS.saturating_mul(input.hours as i64));
    let crew_index: HashMap<&str, &CrewSkills> =
        input.crews.iter().map(|c| (c.id.as_str(), c)).collect();
    // Shifts per crew, clipped to the window.
    let mut by_crew: HashMap<&str, Vec<(Millis, Millis)>> = HashMap::new();
    for (crew, s, e) in &input.shifts {
        let (s, e) = ((*s).max(input.start), (*e).min(end));
        if s < e && crew_index.contains_key(crew.as_str()) {
            by_crew.entry(crew.as_str()).or_default().push((s, e));
        }
    }
    let mut out = Vec::new();
    for skill in &input.skills {
        // Merged shifts of each district's crews with the skill.
        let mut per_district: HashMap<&str, Vec<(Millis, Millis)>> = HashMap::new();
        for c in &input.crews {
            if !c.skills.iter().any(|s| s == skill) {
                continue;
            }
            if let Some(list) = by_crew.get(c.id.as_str()) {
                per_district
                    .entry(c.district.as_str())
                    .or_default()
                    .extend_from_slice(list);
            }
        }
        let per_district: HashMap<&str, Vec<(Millis, Millis)>> = per_district
            .into_iter()
            .map(|(d, v)| (d, merge(v)))
            .collect();
        for district in &input.districts {
            let mut all: Vec<(Millis, Millis)> = Vec::new();
            let near = input
                .neighbours
                .get(district)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            for d in std::iter::once(district).chain(near) {
                if let Some(v) = per_district.get(d.as_str()) {
                    all.extend_from_slice(v);
                }
            }
            let covered = merge(all);
            walk(input, district, skill, &covered, &mut out);
        }
    }
    out
}

/// Walks the hours against the merged intervals, appending runs of uncovered hours.
fn walk(
    input: &Input,
    district: &str,
    skill: &str,
    covered: &[(Millis, Millis)],
    out: &mut Vec<Gap>,
) {
    let mut i = 0;
    // The open run of uncovered hours: its first hour's start and its length.
    let mut run: Option<(Millis, u32)> = None;
    for h in 0..input.hours {
        let from = input.start + HOUR_MS * h as i64;
        let to = from + HOUR_MS;
        while i < covered.len() && covered[i].1 <= from {
            i += 1;
        }
        let ok = covered.get(i).is_some_and(|&(s, e)| s <= from && e >= to);
        run = match (ok, run) {
            (false, Some((start, n))) => Some((start, n + 1)),
            (false, None) => Some((from, 1)),
            (true, Some((start, n))) => {
                out.push(gap(district, skill, start, n));
                None
            }
            (true, None) => None,
        };
    }
    if let Some((start, n)) = run {
        out.push(gap(district, skill, start, n));
    }
}

fn gap(district: &str, skill: &str, from: Millis, hours: u32) -> Gap {
    Gap {
        district: district.to_owned(),
        skill: skill.to_owned(),
        from,
        to: from + HOUR_MS * i64::from(hours),
        hours,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> Input {
        let crew = |id: &str, d: &str, skills: &[&str]| CrewSkills {
            id: id.into(),
            district: d.into(),
            skills: skills.iter().map(|s| (*s).to_owned()).collect(),
        };
        Input {
            start: 0,
            hours: 24,
            districts: vec!["D1".into(), "D2".into(), "D3".into()],
            neighbours: HashMap::from([
                ("D1".into(), vec!["D2".into()]),
                ("D2".into(), vec!["D1".into(), "D3".into()]),
                ("D3".into(), vec!["D2".into()]),
            ]),
            skills: vec!["water_leak".into()],
            crews: vec![
                crew("A", "D1", &["water_leak"]),
                crew("B", "D1", &["water_leak", "pothole"]),
                crew("C", "D3", &["pothole"]),
            ],
            shifts: vec![
                ("A".into(), 0, 12 * HOUR_MS + HOUR_MS / 2),
                ("B".into(), 12 * HOUR_MS + HOUR_MS / 2, 20 * HOUR_MS),
                ("C".into(), 0, 24 * HOUR_MS),
            ],
        }
    }

    #[test]
    fn handovers_cover_and_neighbours_count() {
        let g = gaps(&input());
        // D1 and D2 (through D1's crews) lack 20:00–24:00; D3's only neighbour is D2,
        // which has no crew with the skill: all day.
        assert_eq!(
            g,
            vec![
                gap("D1", "water_leak", 20 * HOUR_MS, 4),
                gap("D2", "water_leak", 20 * HOUR_MS, 4),
                gap("D3", "water_leak", 0, 24),
            ]
        );
    }

    #[test]
    fn a_partly_covered_hour_is_a_gap() {
        let mut i = input();
        i.shifts[1].1 = 13 * HOUR_MS; // B starts at 13:00: 12:30–13:00 is uncovered.
        let g = gaps(&i);
        assert_eq!(g[0], gap("D1", "water_leak", 12 * HOUR_MS, 1));
    }
}

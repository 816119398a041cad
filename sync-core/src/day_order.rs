//! The crew's day order: in which order to visit the crew's open jobs, computed on the
//! phone with no network.
//!
//! Rules, in order of precedence:
//! 1. **Urgent jobs first.** An urgent job is the 24-hour service's promise; no amount of
//!    travel saved on normal jobs is worth making it wait, so every urgent job comes
//!    before every other one. The two groups are ordered separately, the second starting
//!    where and when the first ends.
//! 2. **Deadlines.** Each minute a job would finish after its completion deadline costs
//!    its priority's weight ([`Params::late_weight`]); a high-priority job late by a
//!    minute outweighs kilometres of travel.
//! 3. **Travel.** The rest of the cost is the distance driven.
//!
//! Within a group the order is found by a heuristic (two constructions — earliest
//! deadline first and nearest neighbour — each improved by relocating single jobs and
//! reversing stretches until nothing improves) and, for groups small enough, by trying
//! every order ([`EXACT_UP_TO`]). Its distance from the optimum on random instances is in
//! BENCHMARKS.md (`cargo bench -p sync-core --bench day_order`).
//!
//! Travel time is a straight-line estimate (great-circle distance × a detour factor, at a
//! city speed): the phone has no road graph, and the order, not the minute, is what the
//! crew needs.

use crate::ids::Millis;
use crate::task::{GeoPoint, Priority};

/// Groups of at most this many jobs are ordered exactly (7! = 5,040 orders).
pub const EXACT_UP_TO: usize = 7;

/// One open job to place in the day.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The task's id.
    pub id: String,
    /// Where the work is.
    pub point: GeoPoint,
    /// Its priority.
    pub priority: Priority,
    /// When it must be completed by, if the service sets a deadline.
    pub complete_due: Option<Millis>,
}

/// How travel and work are estimated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Average speed between jobs, metres per second (default 20 km/h: a city by day).
    pub speed_m_per_s: f64,
    /// Road distance over straight-line distance (default 1.3).
    pub detour_factor: f64,
    /// Time spent at each job, milliseconds (default 30 minutes).
    pub service_ms: Millis,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            speed_m_per_s: 20_000.0 / 3_600.0,
            detour_factor: 1.3,
            service_ms: 30 * 60 * 1000,
        }
    }
}

impl Params {
    /// The cost of one minute of lateness, in metres of travel it is worth.
    pub fn late_weight(priority: Priority) -> f64 {
        match priority {
            Priority::Urgent => 10_000.0,
            Priority::High => 2_000.0,
            Priority::Normal => 500.0,
            Priority::Low => 100.0,
        }
    }

    /// Estimated road distance and travel time between two points.
    fn leg(&self, from: GeoPoint, to: GeoPoint) -> (f64, Millis) {
        let metres = great_circle_m(from, to) * self.detour_factor;
        let speed = if self.speed_m_per_s > 0.0 {
            self.speed_m_per_s
        } else {
            Params::default().speed_m_per_s
        };
        // Saturating float-to-int: absurd inputs give an absurd but finite time.
        (metres, (metres / speed * 1000.0) as Millis)
    }
}

/// One stop of the planned day.
#[derive(Debug, Clone, PartialEq)]
pub struct Stop {
    /// The task's id.
    pub id: String,
    /// Estimated arrival.
    pub arrive_at: Millis,
    /// Estimated end of the work.
    pub finish_at: Millis,
    /// Road distance from the previous stop (or the start), metres.
    pub travel_m: f64,
    /// How late the work would end, milliseconds (0 when on time or with no deadline).
    pub late_ms: Millis,
}

/// The planned day.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The jobs in the order to visit them.
    pub stops: Vec<Stop>,
    /// Total road distance, metres.
    pub travel_m: f64,
    /// The plan's cost (metres plus weighted late minutes), for comparing plans.
    pub cost: f64,
}

/// Orders `jobs` for a crew standing at `start` at time `now`.
///
/// Points that are not finite (a corrupt document) are kept in the plan, last in their
/// group, so no job disappears from the crew's list.
pub fn plan(start: GeoPoint, now: Millis, jobs: &[Job], params: &Params) -> Plan {
    plan_with(start, now, jobs, params, Search::Auto)
}

/// Which search orders each group; [`Search::Auto`] is what the phone uses, the others
/// exist so that the heuristic can be compared with the optimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Search {
    /// Exact up to [`EXACT_UP_TO`] jobs per group, heuristic above.
    Auto,
    /// Always the heuristic.
    Heuristic,
    /// Always every order (factorial: only for small groups).
    Exact,
}

/// [`plan`] with the search chosen.
pub fn plan_with(
    start: GeoPoint,
    now: Millis,
    jobs: &[Job],
    params: &Params,
    search: Search,
) -> Plan {
    let (mut urgent, mut rest): (Vec<&Job>, Vec<&Job>) =
        jobs.iter().partition(|j| j.priority == Priority::Urgent);
    let urgent_bad = take_unplaceable(&mut urgent);
    let rest_bad = take_unplaceable(&mut rest);

    let mut order: Vec<&Job> = Vec::with_capacity(jobs.len());
    let mut here = Position {
        point: start,
        at: now,
    };
    for (group, bad) in [(urgent, urgent_bad), (rest, rest_bad)] {
        let ordered = order_group(here, &group, params, search);
        for &i in &ordered {
            here = advance(here, group[i], params);
        }
        order.extend(ordered.into_iter().map(|i| group[i]));
        order.extend(bad);
    }
    evaluate(start, now, &order, params)
}

/// Jobs without a usable point cannot be routed: they are taken out of `group`, to go last
/// in it.
fn take_unplaceable<'a>(group: &mut Vec<&'a Job>) -> Vec<&'a Job> {
    let (good, bad): (Vec<&Job>, Vec<&Job>) = group.drain(..).partition(|j| usable(j.point));
    *group = good;
    bad
}

/// Where the crew is and when.
#[derive(Debug, Clone, Copy)]
struct Position {
    point: GeoPoint,
    at: Millis,
}

fn usable(p: GeoPoint) -> bool {
    p.lat.is_finite()
        && p.lon.is_finite()
        && (-90.0..=90.0).contains(&p.lat)
        && (-180.0..=180.0).contains(&p.lon)
}

fn advance(from: Position, job: &Job, params: &Params) -> Position {
    let (_, travel) = params.leg(from.point, job.point);
    Position {
        point: job.point,
        at: from
            .at
            .saturating_add(travel)
            .saturating_add(params.service_ms),
    }
}

/// The cost of visiting `group` in `order` from `from`.
fn cost_of(from: Position, group: &[&Job], order: &[usize], params: &Params) -> f64 {
    let mut here = from;
    let mut cost = 0.0;
    for &i in order {
        let job = group[i];
        let (metres, travel) = params.leg(here.point, job.point);
        let finish = here
            .at
            .saturating_add(travel)
            .saturating_add(params.service_ms);
        cost += metres;
        if let Some(due) = job.complete_due {
            let late_min = finish.saturating_sub(due).max(0) as f64 / 60_000.0;
            cost += late_min * Params::late_weight(job.priority);
        }
        here = Position {
            point: job.point,
            at: finish,
        };
    }
    cost
}

fn order_group(from: Position, group: &[&Job], params: &Params, search: Search) -> Vec<usize> {
    let exact = match search {
        Search::Auto => group.len() <= EXACT_UP_TO,
        Search::Heuristic => false,
        Search::Exact => true,
    };
    if exact {
        exact_order(from, group, params)
    } else {
        heuristic_order(from, group, params)
    }
}

/// Every order, by Heap's algorithm; the first best one wins (stable for ties).
fn exact_order(from: Position, group: &[&Job], params: &Params) -> Vec<usize> {
    let n = group.len();
    let mut perm: Vec<usize> = (0..n).collect();
    let mut best = perm.clone();
    let mut best_cost = cost_of(from, group, &perm, params);
    let mut c = vec![0usize; n];
    let mut i = 0;
    while i < n {
        if c[i] < i {
            if i % 2 == 0 {
                perm.swap(0, i);
            } else {
                perm.swap(c[i], i);
            }
            let cost = cost_of(from, group, &perm, params);
            if cost < best_cost {
                best_cost = cost;
                best.clone_from(&perm);
            }
            c[i] += 1;
            i = 0;
        } else {
            c[i] = 0;
            i += 1;
        }
    }
    best
}

fn heuristic_order(from: Position, group: &[&Job], params: &Params) -> Vec<usize> {
    let by_deadline = {
        let mut o: Vec<usize> = (0..group.len()).collect();
        o.sort_by_key(|&i| {
            (
                group[i].complete_due.unwrap_or(Millis::MAX),
                group[i].priority,
            )
        });
        o
    };
    let nearest = nearest_neighbour(from, group, params);
    [by_deadline, nearest]
        .into_iter()
        .map(|o| improve(from, group, o, params))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(o, _)| o)
        .unwrap_or_default()
}

fn nearest_neighbour(from: Position, group: &[&Job], params: &Params) -> Vec<usize> {
    let mut left: Vec<usize> = (0..group.len()).collect();
    let mut order = Vec::with_capacity(group.len());
    let mut here = from.point;
    while !left.is_empty() {
        let (k, _) = left
            .iter()
            .enumerate()
            .map(|(k, &i)| (k, params.leg(here, group[i].point).0))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, 0.0));
        let i = left.swap_remove(k);
        here = group[i].point;
        order.push(i);
    }
    order
}

/// Local search: move one job elsewhere, or reverse a stretch, while that lowers the cost.
/// Bounded by a number of rounds so a pathological instance cannot spin on the phone.
fn improve(
    from: Position,
    group: &[&Job],
    mut order: Vec<usize>,
    params: &Params,
) -> (Vec<usize>, f64) {
    let n = order.len();
    let mut cost = cost_of(from, group, &order, params);
    for _round in 0..50 {
        let mut better = false;
        for i in 0..n {
            for j in 0..n {
                if i == j {
                    continue;
                }
                let mut moved = order.clone();
                let job = moved.remove(i);
                moved.insert(j, job);
                let c = cost_of(from, group, &moved, params);
                if c + 1e-9 < cost {
                    order = moved;
                    cost = c;
                    better = true;
                }
            }
        }
        for i in 0..n {
            for j in i + 2..n {
                let mut reversed = order.clone();
                reversed[i..=j].reverse();
                let c = cost_of(from, group, &reversed, params);
                if c + 1e-9 < cost {
                    order = reversed;
                    cost = c;
                    better = true;
                }
            }
        }
        if !better {
            break;
        }
    }
    (order, cost)
}

fn evaluate(start: GeoPoint, now: Millis, order: &[&Job], params: &Params) -> Plan {
    let mut here = Position {
        point: start,
        at: now,
    };
    let mut stops = Vec::with_capacity(order.len());
    let mut travel_m = 0.0;
    let mut cost = 0.0;
    for job in order {
        let (metres, travel) = if usable(job.point) && usable(here.point) {
            params.leg(here.point, job.point)
        } else {
            (0.0, 0)
        };
        let arrive_at = here.at.saturating_add(travel);
        let finish_at = arrive_at.saturating_add(params.service_ms);
        let late_ms = job
            .complete_due
            .map(|due| finish_at.saturating_sub(due).max(0))
            .unwrap_or(0);
        travel_m += metres;
        cost += metres + late_ms as f64 / 60_000.0 * Params::late_weight(job.priority);
        stops.push(Stop {
            id: job.id.clone(),
            arrive_at,
            finish_at,
            travel_m: metres,
            late_ms,
        });
        here = Position {
            point: if usable(job.point) {
                job.point
            } else {
                here.point
            },
            at: finish_at,
        };
    }
    Plan {
        stops,
        travel_m,
        cost,
    }
}

/// Great-circle distance in metres (haversine on a sphere of the Earth's mean radius):
/// within 0.5 % of the ellipsoid, far inside the detour factor's own error.
pub fn great_circle_m(a: GeoPoint, b: GeoPoint) -> f64 {
    const R: f64 = 6_371_008.8;
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dla = la2 - la1;
    let dlo = (b.lon - a.lon).to_radians();
    let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
    2.0 * R * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Millis = 60_000;

    fn p(lat: f64, lon: f64) -> GeoPoint {
        GeoPoint {
            lat,
            lon,
            accuracy_m: None,
        }
    }

    fn job(id: &str, lat: f64, lon: f64, priority: Priority, due: Option<Millis>) -> Job {
        Job {
            id: id.to_owned(),
            point: p(lat, lon),
            priority,
            complete_due: due,
        }
    }

    fn ids(plan: &Plan) -> Vec<&str> {
        plan.stops.iter().map(|s| s.id.as_str()).collect()
    }

    /// Tehran's centre; 0.01° of latitude is about 1.1 km.
    const LAT: f64 = 35.70;
    const LON: f64 = 51.40;

    #[test]
    fn distance_is_about_right() {
        // One degree of latitude is 111.2 km.
        let d = great_circle_m(p(35.0, 51.0), p(36.0, 51.0));
        assert!((d - 111_195.0).abs() < 100.0, "{d}");
        assert_eq!(great_circle_m(p(LAT, LON), p(LAT, LON)), 0.0);
    }

    #[test]
    fn an_urgent_job_comes_first_even_when_far() {
        let jobs = vec![
            job("near", LAT + 0.001, LON, Priority::Normal, None),
            job("far-urgent", LAT + 0.2, LON, Priority::Urgent, None),
            job("near2", LAT + 0.002, LON, Priority::High, None),
        ];
        let plan = plan(p(LAT, LON), 0, &jobs, &Params::default());
        assert_eq!(ids(&plan)[0], "far-urgent");
        assert_eq!(plan.stops.len(), 3);
    }

    #[test]
    fn with_no_deadlines_it_drives_the_short_way() {
        // Four jobs on a line north of the crew, given out of order.
        let jobs = vec![
            job("c", LAT + 0.03, LON, Priority::Normal, None),
            job("a", LAT + 0.01, LON, Priority::Normal, None),
            job("d", LAT + 0.04, LON, Priority::Normal, None),
            job("b", LAT + 0.02, LON, Priority::Normal, None),
        ];
        let plan = plan(p(LAT, LON), 0, &jobs, &Params::default());
        assert_eq!(ids(&plan), ["a", "b", "c", "d"]);
        // 4.4 km of straight line × 1.3.
        assert!(
            (plan.travel_m - 4.0 * 1_112.0 * 1.3).abs() < 50.0,
            "{}",
            plan.travel_m
        );
    }

    #[test]
    fn a_deadline_beats_a_short_detour() {
        // "far" is due within the hour; going to "near" first (30 min of work) would make
        // it late.
        let now = 1_000 * MIN;
        let jobs = vec![
            job("near", LAT + 0.005, LON, Priority::Normal, None),
            job("far", LAT - 0.03, LON, Priority::High, Some(now + 50 * MIN)),
        ];
        let plan = plan(p(LAT, LON), now, &jobs, &Params::default());
        assert_eq!(ids(&plan), ["far", "near"]);
        assert_eq!(plan.stops[0].late_ms, 0);
    }

    #[test]
    fn times_follow_the_legs() {
        let params = Params::default();
        let jobs = vec![job("a", LAT + 0.01, LON, Priority::Normal, Some(0))];
        let plan = plan(p(LAT, LON), 0, &jobs, &params);
        let s = &plan.stops[0];
        // 1.11 km × 1.3 at 20 km/h ≈ 4.3 minutes.
        assert!((s.arrive_at - 260_000).abs() < 5_000, "{}", s.arrive_at);
        assert_eq!(s.finish_at, s.arrive_at + params.service_ms);
        assert_eq!(s.late_ms, s.finish_at);
    }

    #[test]
    fn a_job_with_a_broken_point_is_kept_last_in_its_group() {
        let jobs = vec![
            job("broken", f64::NAN, LON, Priority::Normal, None),
            job("ok", LAT + 0.01, LON, Priority::Normal, None),
            job("urgent", LAT + 0.02, LON, Priority::Urgent, None),
        ];
        let plan = plan(p(LAT, LON), 0, &jobs, &Params::default());
        assert_eq!(ids(&plan), ["urgent", "ok", "broken"]);
        assert!(plan.travel_m.is_finite());
        assert!(plan.cost.is_finite());
    }

    #[test]
    fn nothing_to_do_is_an_empty_day() {
        let plan = plan(p(LAT, LON), 0, &[], &Params::default());
        assert!(plan.stops.is_empty());
        assert_eq!(plan.travel_m, 0.0);
    }

    /// A small deterministic generator, so the comparison needs no extra dependency.
    fn instance(seed: u64, n: usize) -> Vec<Job> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let mut next = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) as f64 / (1u64 << 31) as f64
        };
        (0..n)
            .map(|i| {
                let due = if next() < 0.5 {
                    Some((next() * 240.0) as Millis * MIN)
                } else {
                    None
                };
                let priority = if next() < 0.3 {
                    Priority::High
                } else {
                    Priority::Normal
                };
                job(
                    &format!("j{i}"),
                    LAT + (next() - 0.5) * 0.1,
                    LON + (next() - 0.5) * 0.1,
                    priority,
                    due,
                )
            })
            .collect()
    }

    #[test]
    fn the_heuristic_is_close_to_the_optimum_on_small_days() {
        let params = Params::default();
        let mut worst: f64 = 1.0;
        for seed in 0..40 {
            let jobs = instance(seed, 6);
            let exact = plan_with(p(LAT, LON), 0, &jobs, &params, Search::Exact);
            let heur = plan_with(p(LAT, LON), 0, &jobs, &params, Search::Heuristic);
            assert!(exact.cost <= heur.cost + 1e-6, "the optimum is the optimum");
            worst = worst.max(heur.cost / exact.cost.max(1.0));
        }
        // Measured: the worst ratio is in BENCHMARKS.md; this bound only catches a
        // heuristic that broke.
        assert!(worst < 1.25, "worst heuristic/optimum ratio {worst}");
    }

    #[test]
    fn every_job_appears_exactly_once() {
        for n in [1, 2, 9, 25] {
            let jobs = instance(n as u64, n);
            let plan = plan(p(LAT, LON), 0, &jobs, &Params::default());
            let mut got: Vec<&str> = ids(&plan);
            got.sort_unstable();
            let mut want: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
            want.sort_unstable();
            assert_eq!(got, want);
        }
    }
}

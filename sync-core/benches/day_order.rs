//! The crew's day order (`sync_core::day_order`): how far the heuristic is from the
//! optimum, and how long a plan takes on the phone library.
//!
//! Run with `cargo bench -p sync-core --bench day_order`. For 5 to 8 jobs (one group, so
//! every order can be tried), 200 random days around Tehran's centre (10 × 10 km, half the
//! jobs with a deadline in the next 4 hours, 30 % high priority): the heuristic's cost over
//! the optimum's, mean and worst, and how often it finds the optimum. Then the time of one
//! plan as the phone computes it (`plan`: exact up to 7 jobs per group, heuristic above)
//! for days of 5 to 60 jobs. Prints a table.

#![allow(clippy::unwrap_used)]

use std::time::Instant;
use sync_core::Millis;
use sync_core::day_order::{Job, Params, Search, plan, plan_with};
use sync_core::task::{GeoPoint, Priority};

const MIN: Millis = 60_000;
const LAT: f64 = 35.70;
const LON: f64 = 51.40;

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn day(seed: u64, n: usize) -> Vec<Job> {
    let mut s = seed;
    let mut next = move || {
        s = splitmix(s);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|i| {
            let complete_due = (next() < 0.5).then(|| (next() * 240.0) as Millis * MIN);
            let priority = if next() < 0.3 {
                Priority::High
            } else {
                Priority::Normal
            };
            Job {
                id: format!("j{i}"),
                point: GeoPoint {
                    lat: LAT + (next() - 0.5) * 0.09,
                    lon: LON + (next() - 0.5) * 0.11,
                    accuracy_m: None,
                },
                priority,
                complete_due,
            }
        })
        .collect()
}

fn main() {
    let start = GeoPoint {
        lat: LAT,
        lon: LON,
        accuracy_m: None,
    };
    let params = Params::default();
    println!("heuristic vs optimum (200 random days each)");
    println!("| jobs | mean cost ratio | worst | optimum found | exact plan | heuristic plan |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for n in 5..=8 {
        let (mut sum, mut worst, mut hits) = (0.0, 1.0f64, 0);
        let (mut t_exact, mut t_heur) = (0.0, 0.0);
        for seed in 0..200u64 {
            let jobs = day(seed * 1000 + n as u64, n);
            let t = Instant::now();
            let exact = plan_with(start, 0, &jobs, &params, Search::Exact);
            t_exact += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let heur = plan_with(start, 0, &jobs, &params, Search::Heuristic);
            t_heur += t.elapsed().as_secs_f64();
            let ratio = heur.cost / exact.cost.max(1.0);
            sum += ratio;
            worst = worst.max(ratio);
            if ratio < 1.0 + 1e-9 {
                hits += 1;
            }
        }
        println!(
            "| {n} | {:.4} | {:.4} | {hits}/200 | {:.2} ms | {:.3} ms |",
            sum / 200.0,
            worst,
            t_exact / 200.0 * 1e3,
            t_heur / 200.0 * 1e3
        );
    }
    println!();
    println!("one plan as the phone computes it (median of 21)");
    println!("| jobs | time |");
    println!("| ---: | ---: |");
    for n in [5, 10, 20, 40, 60] {
        let jobs = day(7 + n as u64, n);
        let mut times: Vec<f64> = (0..21)
            .map(|_| {
                let t = Instant::now();
                let p = plan(start, 0, &jobs, &params);
                assert_eq!(p.stops.len(), n);
                t.elapsed().as_secs_f64()
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!("| {n} | {:.3} ms |", times[10] * 1e3);
    }
}

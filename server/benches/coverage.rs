//! The roster coverage check's computation time (issue 20 §2): 120 districts × 8
//! urgent-capable skills × 168 hours, on a synthetic city shaped like Tehran's (a 12 × 10
//! grid of districts, each touching up to 8 neighbours; 3 crews per district, each with
//! 3 of the 8 skills, on 8-hour shifts round the clock with a few holes). Prints Markdown;
//! BENCHMARKS.md records it.
//!
//! ```sh
//! cargo bench -p server --bench coverage
//! ```
//!
//! What is timed is `domain::roster::coverage::gaps` over the loaded input (what each
//! replica's roster round and the console's coverage view compute after reading the
//! rows); reading the rows from the database is not included.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use server::domain::roster::coverage::{CrewSkills, HOUR_MS, Input, gaps};
use std::collections::HashMap;
use std::time::Instant;

fn city() -> Input {
    let (rows, cols) = (10usize, 12usize);
    let code = |r: usize, c: usize| format!("D{:03}", r * cols + c + 1);
    let skills: Vec<String> = (0..8).map(|i| format!("urgent_{i}")).collect();
    let mut districts = Vec::new();
    let mut neighbours = HashMap::new();
    let mut crews = Vec::new();
    let mut shifts = Vec::new();
    let start: i64 = 1_796_000_000_000 / HOUR_MS * HOUR_MS;
    for r in 0..rows {
        for c in 0..cols {
            let d = code(r, c);
            let mut near = Vec::new();
            for dr in -1i64..=1 {
                for dc in -1i64..=1 {
                    let (nr, nc) = (r as i64 + dr, c as i64 + dc);
                    if (dr, dc) != (0, 0)
                        && (0..rows as i64).contains(&nr)
                        && (0..cols as i64).contains(&nc)
                    {
                        near.push(code(nr as usize, nc as usize));
                    }
                }
            }
            neighbours.insert(d.clone(), near);
            for k in 0..3usize {
                let id = format!("C-{d}-{k}");
                let n = r * cols + c;
                crews.push(CrewSkills {
                    id: id.clone(),
                    district: d.clone(),
                    skills: (0..3)
                        .map(|j| skills[(n + k * 3 + j) % 8].clone())
                        .collect(),
                });
                // Three 8-hour shifts a day, crew k on the k-th; every 13th day off.
                for day in 0..8i64 {
                    if (n as i64 + day + k as i64) % 13 == 0 {
                        continue;
                    }
                    let s = start + day * 24 * HOUR_MS + k as i64 * 8 * HOUR_MS;
                    shifts.push((id.clone(), s, s + 8 * HOUR_MS));
                }
            }
            districts.push(d);
        }
    }
    Input {
        start,
        hours: 168,
        districts,
        neighbours,
        skills,
        crews,
        shifts,
    }
}

fn main() {
    let input = city();
    let runs = 50;
    let mut times = Vec::with_capacity(runs);
    let mut found = 0;
    for _ in 0..runs {
        let t = Instant::now();
        found = gaps(&input).len();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let p = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "| districts × skills × hours | crews | shifts | gaps found | runs | min ms | median ms | p95 ms |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| {} × {} × {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2} |",
        input.districts.len(),
        input.skills.len(),
        input.hours,
        input.crews.len(),
        input.shifts.len(),
        found,
        runs,
        p(0.0),
        p(0.5),
        p(0.95)
    );
}

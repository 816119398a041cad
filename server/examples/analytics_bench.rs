//! Analytics at city scale on PostgreSQL: 1,000,000 tasks' facts generated with
//! set-based SQL (`generate_series`), then each dashboard query timed over the last 30
//! and 365 days, through the same library functions the HTTP handlers call.
//!
//! ```sh
//! cargo run -p server --example analytics_bench      # TARMIM_BENCH_TASKS=1000000 by default
//! ```
//!
//! The facts are generated directly (not as automerge documents through the commit
//! path: building and committing 1,000,000 documents would take hours here), so the
//! `task_facts` → `docs` foreign key is dropped in the bench database and there are no
//! `docs`/`tasks` rows (the evidence and gallery pages then show empty titles; their
//! LEFT JOIN costs one primary-key probe per row on a page). A year of work at ten times
//! Tehran's urgent rate: 120 districts in 22 regions, 8 categories, 3 crews per district
//! (a third of them contractors' among 10 contractors), 10 % urgent / 20 % high / 60 %
//! normal / 10 % low; 3 % cancelled, 95 % acknowledged, the rest completed except half
//! of the last two days' work; 5 % reopened, 40 % rated, 85 % with a before photo; after
//! and before photos in `photos`, 2 % of them flagged. Each row's `updated_at` is its last event
//! (as the commit path stamps it), so the mirror's refresh reads what changed lately.
//!
//! Every measures, trend and scorecard query runs on both engines side by side: SQL
//! over the table, and one pass over the in-memory mirror (`TARMIM_BENCH_ENGINES=memory`
//! skips SQL). Build with `--release`, as a server is.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use server::domain::analytics::measures::Engine;
use server::domain::analytics::mirror::Mirror;
use server::domain::analytics::{By, Filter, Scope, evidence, measures, period, scorecard};
use server::storage::postgres::PgStore;
use server::storage::{Db, Store};
use sqlx::Connection;
use std::time::Instant;

const RUNS: usize = 3;

fn admin_url() -> String {
    std::env::var("TARMIM_BENCH_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

async fn exec(db: &PgStore, sql: &str) {
    sqlx::query(sql)
        .execute(db.pool())
        .await
        .unwrap_or_else(|e| panic!("{e}: {sql}"));
}

async fn generate(db: &PgStore, n: i64, years: i64, now: i64) {
    // The whole span the tasks are spread over (`year` in the SQL below).
    let year = years * 365 * 86_400_000_i64;
    let start = now - year;
    exec(
        db,
        "ALTER TABLE task_facts DROP CONSTRAINT IF EXISTS task_facts_id_fkey",
    )
    .await;
    let sql = format!(
        "INSERT INTO task_facts (id, district, region, category, priority, status, crew,
            contractor, ack_crew, ack_contractor, created_at, acknowledged_at, completed_at,
            closed_at, ack_due, complete_due, ack_ms, complete_ms, reopen_count, rating,
            before_photo, after_photo, updated_at)
         WITH base AS (
           SELECT 'B' || lpad(g::text, 8, '0') AS id,
                  1 + floor(random() * 120)::int AS d,
                  -- In creation order, as a live system inserts them (so a month's
                  -- tasks sit together on disk, as they would).
                  {start} + floor((g - 1 + random()) * {year} / {n})::bigint AS created,
                  random() AS rp, floor(random() * 3)::int AS k, random() < 0.03 AS cancelled,
                  random() AS ra, random() AS rat, random() AS rd, random() AS rdt,
                  random() AS rr, random() AS rv, random() AS rre, random() AS rb,
                  floor(random() * 8)::int AS cat
           FROM generate_series(1, {n}) g
         ), p AS (
           SELECT base.*,
                  CASE WHEN rp < 0.1 THEN 'urgent' WHEN rp < 0.3 THEN 'high'
                       WHEN rp < 0.9 THEN 'normal' ELSE 'low' END AS prio,
                  'C-' || d || '-' || k AS crew,
                  CASE WHEN k = 2 THEN 'Contractor ' || (d % 10) END AS contractor
           FROM base
         ), a AS (
           SELECT p.*,
                  CASE WHEN NOT cancelled AND ra < 0.95
                       THEN created + floor(rat * rat * 7200000)::bigint END AS ack
           FROM p
         ), t AS (
           SELECT a.*,
                  CASE WHEN ack IS NOT NULL AND (created < {now} - 172800000 OR rd < 0.5)
                       THEN ack + floor(rdt * rdt * 86400000)::bigint END AS done
           FROM a
         )
         SELECT id, 'D' || lpad(d::text, 3, '0'), 'R' || lpad((d % 22 + 1)::text, 2, '0'),
                (ARRAY['pothole','streetlight','tree','graffiti','water','waste','sidewalk','sign'])[cat + 1],
                prio,
                CASE WHEN cancelled THEN 'cancelled' WHEN done IS NOT NULL THEN 'completed'
                     WHEN ack IS NOT NULL THEN 'acknowledged' ELSE 'queued' END,
                crew, contractor, crew, contractor, created, ack, done,
                CASE WHEN cancelled THEN created + 3600000 ELSE done END,
                created + 60000 * CASE prio WHEN 'urgent' THEN 15 WHEN 'high' THEN 60
                                            WHEN 'normal' THEN 240 ELSE 1440 END,
                created + 60000 * CASE prio WHEN 'urgent' THEN 180 WHEN 'high' THEN 1440
                                            WHEN 'normal' THEN 4320 ELSE 10080 END,
                ack - created, done - created,
                CASE WHEN done IS NOT NULL AND rre < 0.05 THEN 1 ELSE 0 END,
                CASE WHEN done IS NOT NULL AND rr < 0.4
                     THEN least(5, 1 + floor(sqrt(rv) * 5))::smallint END,
                CASE WHEN done IS NOT NULL AND rb < 0.85 THEN md5(id) || md5(id || 'b') END,
                CASE WHEN done IS NOT NULL THEN md5(id || 'a') || md5(id || 'c') END,
                -- Last written at its last event, as the commit path stamps it.
                LEAST({now}, GREATEST(created, ack, done,
                                      CASE WHEN cancelled THEN created + 3600000 END))
         FROM t"
    );
    exec(db, &sql).await;
    // Before photos too: the gallery lists only pairs whose photos the server holds.
    for (kind, at) in [("after", "completed_at"), ("before", "created_at")] {
        let sql = format!(
            "INSERT INTO photos (hash, task, kind, mime, bytes, width, height, uploaded_by,
                uploaded_at, far_from_task, before_task, thumb_etag, display_etag)
             SELECT {kind}_photo, id, '{kind}', 'image/jpeg', 180000, 1280, 960, 'u', {at},
                    random() < 0.02, false, 'e', 'e'
             FROM task_facts WHERE {kind}_photo IS NOT NULL"
        );
        exec(db, &sql).await;
    }
    for t in ["task_facts", "photos"] {
        exec(db, &format!("VACUUM ANALYZE {t}")).await;
    }
}

/// A line of `/proc/self/status` in MB (`VmRSS`: resident now; `VmHWM`: its peak).
fn status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// Resident memory of this process (`VmRSS`), MB.
fn rss_mb() -> f64 {
    status_mb("VmRSS")
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[v.len() - 1])
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: i64 = std::env::var("TARMIM_BENCH_TASKS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let years: i64 = std::env::var("TARMIM_BENCH_YEARS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    println!("load average at start: {}", loadavg());
    let admin = admin_url();
    // A named database is kept, and reused when it already exists (generating ten
    // million rows takes minutes): the release run can then time a database that a
    // first run filled.
    let kept = std::env::var("TARMIM_BENCH_DB").ok();
    let name = kept
        .clone()
        .unwrap_or_else(|| format!("tarmim_bench_analytics_{}", std::process::id()));
    let mut c = sqlx::PgConnection::connect(&admin)
        .await
        .expect("PostgreSQL");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut c)
            .await
            .unwrap();
    if !exists {
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .await
            .unwrap();
    }
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    let url = format!("{base}/{name}");
    {
        let mut d = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query("CREATE EXTENSION IF NOT EXISTS postgis")
            .execute(&mut d)
            .await
            .unwrap();
        d.close().await.ok();
    }
    let store = PgStore::connect(&url, server::domain::commit_hooks())
        .await
        .unwrap();
    let tz = period::zone("Asia/Tehran").unwrap();
    let now = server::base::time::now_millis();
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM task_facts")
        .fetch_one(store.pool())
        .await
        .unwrap();
    if have == 0 {
        let t = Instant::now();
        generate(&store, n, years, now).await;
        println!(
            "generated {n} tasks' facts over {years} year(s) (+ photos) and analysed in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    } else {
        println!("reusing {name}: {have} tasks' facts");
    }
    if std::env::var("TARMIM_BENCH_SEED_ONLY").is_ok() {
        return;
    }
    let db = Db::Postgres(store);
    let mirror: &'static Mirror = Box::leak(Box::new(Mirror::new()));
    let rss_before = rss_mb();
    let t = Instant::now();
    let loaded = mirror.refresh(&db).await.unwrap();
    println!(
        "mirror: first load of {loaded} rows in {:.1} s; resident memory (VmRSS) {rss_before:.0} → {:.0} MB (peak VmHWM {:.0} MB)",
        t.elapsed().as_secs_f64(),
        rss_mb(),
        status_mb("VmHWM")
    );
    let mut refresh = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        mirror.refresh(&db).await.unwrap();
        refresh.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (p50, max) = stats(refresh);
    println!("mirror: refresh with nothing new: p50 {p50:.1} ms, max {max:.1} ms");
    let districts: Vec<String> = (1..=120).map(|d| format!("D{d:03}")).collect();
    let today = period::today(&tz);
    let filter = |days: i64| -> Filter {
        let from = today.checked_sub(jiff::Span::new().days(days - 1)).unwrap();
        Filter {
            range: period::range(Some(&from.to_string()), Some(&today.to_string()), &tz).unwrap(),
            district: None,
            region: None,
            category: None,
            priority: None,
            // A city-wide manager: every district listed, as the console scopes them.
            scope: Scope::Districts(districts.clone()),
        }
    };
    let cfg = server::domain::analytics::AnalyticsConfig::default();
    type Q = Box<
        dyn Fn(
            Filter,
            Engine<'static>,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = usize> + Send>>,
    >;
    let mut queries: Vec<(String, Q)> = Vec::new();
    for by in [
        By::District,
        By::Region,
        By::Category,
        By::Crew,
        By::Contractor,
    ] {
        let db = db.clone();
        queries.push((
            format!("measures by={}", by.as_str()),
            Box::new(move |f, e| {
                let db = db.clone();
                Box::pin(
                    async move { measures::measures(&db, e, &f, by, now).await.unwrap().len() },
                )
            }),
        ));
    }
    for (interval, by) in [
        (period::Interval::Day, None),
        (period::Interval::Month, None),
        (period::Interval::Month, Some(By::District)),
    ] {
        let db = db.clone();
        let tz = tz.clone();
        queries.push((
            format!(
                "trend interval={}{}",
                interval.as_str(),
                by.map(|b| format!(" by={}", b.as_str()))
                    .unwrap_or_default()
            ),
            Box::new(move |f, e| {
                let db = db.clone();
                let tz = tz.clone();
                Box::pin(async move {
                    let b = period::buckets(&f.range, interval, &tz).unwrap();
                    measures::trend(&db, e, &f, by, &b, "complete_p90_min", now)
                        .await
                        .unwrap()
                        .len()
                })
            }),
        ));
    }
    for level in [By::District, By::Crew, By::Contractor] {
        let db = db.clone();
        let cfg = cfg.clone();
        queries.push((
            format!("scorecard level={}", level.as_str()),
            Box::new(move |f, e| {
                let db = db.clone();
                let cfg = cfg.clone();
                Box::pin(async move {
                    scorecard::scorecard(&db, e, &f, level, &cfg, now)
                        .await
                        .unwrap()
                        .len()
                })
            }),
        ));
    }
    {
        let db = db.clone();
        let tz = tz.clone();
        queries.push((
            "tasks (evidence, 100 rows)".into(),
            Box::new(move |f, _| {
                let db = db.clone();
                let tz = tz.clone();
                Box::pin(async move {
                    evidence::tasks(
                        &db,
                        &f,
                        Some(By::District),
                        Some("D007"),
                        "complete_p90_min",
                        100,
                        0,
                        &tz,
                        now,
                    )
                    .await
                    .unwrap()
                    .len()
                })
            }),
        ));
    }
    {
        let db = db.clone();
        let tz = tz.clone();
        queries.push((
            "gallery (50 rows)".into(),
            Box::new(move |f, _| {
                let db = db.clone();
                let tz = tz.clone();
                Box::pin(async move { evidence::gallery(&db, &f, 50, 0, &tz).await.unwrap().len() })
            }),
        ));
    }
    println!(
        "\n| query | engine | 30 days p50 | 30 days max | 365 days p50 | 365 days max | rows |\n| --- | --- | --- | --- | --- | --- | --- |"
    );
    let only_memory = std::env::var("TARMIM_BENCH_ENGINES").as_deref() == Ok("memory");
    for (name, q) in &queries {
        // Evidence and gallery are plain indexed SQL whatever the engine.
        let engines: &[(&str, Engine<'static>)] =
            if name.starts_with("tasks") || name.starts_with("gallery") {
                &[("sql", Engine::Sql)]
            } else if only_memory {
                &[("memory", Engine::Memory(mirror))]
            } else {
                &[("sql", Engine::Sql), ("memory", Engine::Memory(mirror))]
            };
        for (engine_name, engine) in engines {
            let mut cells = Vec::new();
            let mut rows = 0;
            for days in [30, 365] {
                rows = q(filter(days), *engine).await; // warm-up
                let mut times = Vec::new();
                for _ in 0..RUNS {
                    let t = Instant::now();
                    q(filter(days), *engine).await;
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                let (p50, max) = stats(times);
                cells.push(format!("{p50:.0} ms | {max:.0} ms"));
            }
            println!(
                "| {name} | {engine_name} | {} | {rows} |",
                cells.join(" | ")
            );
        }
    }
    println!(
        "\nresident memory at the end (VmRSS) {:.0} MB, peak (VmHWM) {:.0} MB; load average at the end: {}",
        rss_mb(),
        status_mb("VmHWM"),
        loadavg()
    );
    db.close().await;
    if kept.is_none() {
        let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut c)
            .await
            .unwrap();
    }
}

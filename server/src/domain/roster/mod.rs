//! Crews' rosters and coverage (issue 20 §2).
//!
//! - [`import`]: a roster CSV (`crew,start,end` in the city's wall-clock time) read and
//!   checked; [`import_csv`] stores it, replacing for each crew named its shifts that
//!   start between the file's first and last shift start.
//! - Dispatchers edit the shifts of their districts' crews ([`add`], [`remove`]); managers
//!   and dispatchers read the week ([`week`]).
//! - [`duty`]: a crew is on duty by its roster unless it toggled manually (the toggle is
//!   kept with who and when: `storage::roster::toggle`); dispatch's candidates go by it.
//! - [`coverage`]: every district × urgent-capable skill × hour of the next 7 days has a
//!   crew with the skill rostered there or next door; [`coverage_view`] lists the gaps.
//! - [`tick`] (every replica, every `[roster] tick_ms`): writes the shift-start wake-ups
//!   of the crews' phones (the outbox's `wake` rows, once per shift whichever replica
//!   sees it) and raises a `coverage_gap` alert for each gap starting within the lead
//!   (`[roster] gap_lead_secs`), once per gap.

pub mod coverage;
pub mod duty;
pub mod import;

use crate::base::config::roster::RosterConfig;
use crate::base::time::now_millis;
use crate::domain::audit::{self, Who};
use crate::domain::dispatch::Dispatch;
use crate::domain::identity::{Identity, UserRole};
use crate::storage::dispatch::Alert;
use crate::storage::roster::{self as store, NewShift, Shift};
use crate::storage::{Db, DbError, DistrictStore, IdentityStore};
use coverage::{CrewSkills, Gap, HOUR_MS, Input};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use sync_core::Millis;
use sync_core::task::Priority;

/// How many hours the coverage check looks ahead.
pub const WINDOW_HOURS: usize = 7 * 24;
/// A shift that started longer ago than this when a replica first sees it gets no
/// wake-up (a server that was down for a day does not wake phones for old shifts).
pub const WAKE_GRACE_MS: Millis = 15 * 60_000;

/// Roster failures.
#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such crew or shift.
    #[error("{0}")]
    NotFound(String),
    /// The roster or shift is refused; every problem, in words.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// Clashes with a stored shift.
    #[error("{0}")]
    Conflict(String),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Whether a crew is on duty now ([`duty::on_duty`]); false for an unknown crew.
pub async fn on_duty_now(db: &Db, crew: &str) -> Result<bool, DbError> {
    let facts = store::duty_facts(db, now_millis()).await?;
    Ok(facts
        .iter()
        .find(|(id, _)| id == crew)
        .is_some_and(|(_, f)| duty::on_duty(f)))
}

/// A time in the city's zone as people read it (`2026-12-07 22:00`).
pub fn local(ms: Millis, tz: &TimeZone) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// The start of the city's clock hour holding `now`.
pub fn hour_start(now: Millis, tz: &TimeZone) -> Millis {
    let offset_ms = Timestamp::from_millisecond(now)
        .map(|t| i64::from(tz.to_offset(t).seconds()) * 1000)
        .unwrap_or(0);
    now - (now + offset_ms).rem_euclid(HOUR_MS)
}

/// What an import stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Imported {
    /// Shifts stored.
    pub shifts: usize,
    /// Crews whose roster it set.
    pub crews: usize,
}

/// Who may edit a crew's roster: the command line (`None`), or a dispatcher of the
/// crew's district.
fn may_edit(who: Option<&Identity>, district: &str) -> Result<(), RosterError> {
    match who {
        None => Ok(()),
        Some(w) if w.role == UserRole::Dispatcher && w.districts.iter().any(|d| d == district) => {
            Ok(())
        }
        Some(w) if w.role == UserRole::Dispatcher => Err(RosterError::Forbidden(format!(
            "district {district} is not one of your districts"
        ))),
        Some(_) => Err(RosterError::Forbidden(
            "only dispatchers edit rosters".into(),
        )),
    }
}

fn by_name(who: Option<&Identity>) -> String {
    who.map_or_else(|| "cli".to_owned(), |w| w.login.clone())
}

fn who_audit(who: Option<&Identity>) -> Who {
    who.map_or_else(Who::cli, Who::of)
}

/// Imports a roster file ([`import`]) for the command line (`who` none) or a dispatcher
/// (only crews of their districts). Nothing is stored unless the whole file is good.
pub async fn import_csv(
    db: &Db,
    tz: &TimeZone,
    who: Option<&Identity>,
    text: &str,
) -> Result<Imported, RosterError> {
    if who.is_some_and(|w| w.role != UserRole::Dispatcher) {
        return Err(RosterError::Forbidden(
            "only dispatchers import rosters".into(),
        ));
    }
    let retired: HashSet<String> = store::retired_crews(db).await?.into_iter().collect();
    let crews: HashMap<String, String> = db
        .crews()
        .await?
        .into_iter()
        .filter(|c| !retired.contains(&c.id))
        .map(|c| (c.id, c.district))
        .collect();
    let rows = import::parse(text, tz, |c| crews.contains_key(c))?;
    let mut refused = Vec::new();
    for r in &rows {
        if let Some(district) = crews.get(&r.shift.crew)
            && let Err(RosterError::Forbidden(why)) = may_edit(who, district)
        {
            refused.push(format!("line {}: crew {}: {why}", r.line, r.shift.crew));
        }
    }
    if !refused.is_empty() {
        return Err(RosterError::Forbidden(refused.join("; ")));
    }
    let (Some(first), Some(last)) = (
        rows.iter().map(|r| r.shift.starts_at).min(),
        rows.iter().map(|r| r.shift.starts_at).max(),
    ) else {
        return Err(RosterError::Invalid(vec!["the file has no shift".into()]));
    };
    let named: HashSet<&str> = rows.iter().map(|r| r.shift.crew.as_str()).collect();
    let replace: Vec<(String, Millis, Millis)> = named
        .iter()
        .map(|c| ((*c).to_owned(), first, last + 1))
        .collect();
    let add: Vec<NewShift> = rows.iter().map(|r| r.shift.clone()).collect();
    match store::write_shifts(db, &replace, &add, &by_name(who), now_millis()).await? {
        Ok(ids) => {
            audit::record(
                db,
                &who_audit(who),
                "roster.import",
                None,
                serde_json::json!({"shifts": ids.len(), "crews": named.len(),
                    "from": local(first, tz), "to": local(last, tz)}),
            )
            .await;
            Ok(Imported {
                shifts: ids.len(),
                crews: named.len(),
            })
        }
        Err(o) => Err(RosterError::Invalid(vec![format!(
            "line {}: crew {}'s shift overlaps its stored shift {} → {}",
            rows.get(o.index).map_or(0, |r| r.line),
            o.stored.crew,
            local(o.stored.starts_at, tz),
            local(o.stored.ends_at, tz)
        )])),
    }
}

/// A dispatcher adds one shift to a crew of their districts (times in the city's clock).
pub async fn add(
    db: &Db,
    tz: &TimeZone,
    who: &Identity,
    crew: &str,
    start: &str,
    end: &str,
) -> Result<Shift, RosterError> {
    let c = db
        .crew(crew)
        .await?
        .ok_or_else(|| RosterError::NotFound(format!("unknown crew {crew:?}")))?;
    may_edit(Some(who), &c.district)?;
    let mut bad = Vec::new();
    let s = import::local_instant(start, tz).map_err(|e| bad.push(format!("start {e}")));
    let e = import::local_instant(end, tz).map_err(|e| bad.push(format!("end {e}")));
    let (Ok(starts_at), Ok(ends_at)) = (s, e) else {
        return Err(RosterError::Invalid(bad));
    };
    import::check_times(starts_at, ends_at).map_err(|why| RosterError::Invalid(vec![why]))?;
    let new = NewShift {
        crew: c.id.clone(),
        starts_at,
        ends_at,
    };
    let id = match store::write_shifts(db, &[], &[new], &who.login, now_millis()).await? {
        Ok(ids) => ids.first().copied().unwrap_or_default(),
        Err(o) => {
            return Err(RosterError::Conflict(format!(
                "the shift overlaps crew {}'s shift {} → {}",
                c.id,
                local(o.stored.starts_at, tz),
                local(o.stored.ends_at, tz)
            )));
        }
    };
    audit::record(
        db,
        &Who::of(who),
        "roster.add",
        Some(&c.id),
        serde_json::json!({"shift": id, "start": local(starts_at, tz), "end": local(ends_at, tz)}),
    )
    .await;
    store::shift(db, id)
        .await?
        .ok_or_else(|| RosterError::NotFound(format!("shift {id}")))
}

/// A dispatcher removes a shift of a crew of their districts.
pub async fn remove(db: &Db, who: &Identity, id: i64) -> Result<(), RosterError> {
    let s = store::shift(db, id)
        .await?
        .ok_or_else(|| RosterError::NotFound(format!("no shift {id}")))?;
    let district = db
        .crew(&s.crew)
        .await?
        .map(|c| c.district)
        .unwrap_or_default();
    may_edit(Some(who), &district)?;
    if !store::delete_shift(db, id).await? {
        return Err(RosterError::NotFound(format!("no shift {id}")));
    }
    audit::record(
        db,
        &Who::of(who),
        "roster.remove",
        Some(&s.crew),
        serde_json::json!({"shift": id, "start": s.starts_at, "end": s.ends_at}),
    )
    .await;
    Ok(())
}

fn may_read(who: &Identity) -> Result<(), RosterError> {
    match who.role {
        UserRole::Dispatcher | UserRole::Manager => Ok(()),
        _ => Err(RosterError::Forbidden(
            "only dispatchers and managers read rosters".into(),
        )),
    }
}

/// A shift as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ShiftView {
    /// Id.
    pub id: i64,
    /// Start (ms since the epoch).
    pub starts_at: i64,
    /// End (ms since the epoch).
    pub ends_at: i64,
    /// Start in the city's clock.
    pub start: String,
    /// End in the city's clock.
    pub end: String,
}

/// A crew's roster for the week and its duty now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CrewRoster {
    /// Crew id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Home district.
    pub district: String,
    /// Service codes.
    pub skills: Vec<String>,
    /// On duty now.
    pub on_duty: bool,
    /// Why: `roster`, `toggle` (a manual toggle since the roster's last change) or
    /// `switch` (no roster).
    pub duty_from: String,
    /// Shifts overlapping the week.
    pub shifts: Vec<ShiftView>,
}

/// The week's rosters of the caller's districts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Week {
    /// The city's zone.
    pub zone: String,
    /// The window's start (the current hour of the city's clock).
    pub from: i64,
    /// Its end, 7 days on.
    pub to: i64,
    /// Crews of the caller's districts.
    pub crews: Vec<CrewRoster>,
}

/// The caller's districts' crews with their shifts over the next 7 days.
pub async fn week(
    db: &Db,
    tz: &TimeZone,
    who: &Identity,
    now: Millis,
) -> Result<Week, RosterError> {
    may_read(who)?;
    let from = hour_start(now, tz);
    let to = from + HOUR_MS * WINDOW_HOURS as i64;
    let retired: HashSet<String> = store::retired_crews(db).await?.into_iter().collect();
    let crews: Vec<_> = db
        .crews()
        .await?
        .into_iter()
        .filter(|c| who.districts.contains(&c.district) && !retired.contains(&c.id))
        .collect();
    let ids: Vec<String> = crews.iter().map(|c| c.id.clone()).collect();
    let mut shifts: HashMap<String, Vec<ShiftView>> = HashMap::new();
    if !ids.is_empty() {
        for s in store::shifts_between(db, from, to, &ids).await? {
            shifts.entry(s.crew.clone()).or_default().push(ShiftView {
                id: s.id,
                starts_at: s.starts_at,
                ends_at: s.ends_at,
                start: local(s.starts_at, tz),
                end: local(s.ends_at, tz),
            });
        }
    }
    let facts: HashMap<String, store::DutyFacts> =
        store::duty_facts(db, now).await?.into_iter().collect();
    Ok(Week {
        zone: tz.iana_name().unwrap_or("UTC").to_owned(),
        from,
        to,
        crews: crews
            .into_iter()
            .map(|c| {
                let f = facts.get(&c.id).copied().unwrap_or_default();
                CrewRoster {
                    shifts: shifts.remove(&c.id).unwrap_or_default(),
                    on_duty: duty::on_duty(&f),
                    duty_from: duty::source(&f).to_owned(),
                    id: c.id,
                    name: c.name,
                    district: c.district,
                    skills: c.skills,
                }
            })
            .collect(),
    })
}

/// The coverage check's input over the next [`WINDOW_HOURS`] from the hour holding `now`.
pub async fn coverage_input(db: &Db, tz: &TimeZone, now: Millis) -> Result<Input, RosterError> {
    let start = hour_start(now, tz);
    let end = start + HOUR_MS * WINDOW_HOURS as i64;
    let districts: Vec<String> = db.districts().await?.into_iter().map(|d| d.code).collect();
    let mut neighbours: HashMap<String, Vec<String>> = HashMap::new();
    for (a, b) in store::adjacency(db).await? {
        neighbours.entry(a).or_default().push(b);
    }
    let skills = db
        .services()
        .await?
        .into_iter()
        .filter(|s| s.default_priority == Priority::Urgent)
        .map(|s| s.code)
        .collect();
    let retired: HashSet<String> = store::retired_crews(db).await?.into_iter().collect();
    let crews = db
        .crews()
        .await?
        .into_iter()
        .filter(|c| !retired.contains(&c.id))
        .map(|c| CrewSkills {
            id: c.id,
            district: c.district,
            skills: c.skills,
        })
        .collect();
    let shifts = store::shifts_between(db, start, end, &[])
        .await?
        .into_iter()
        .map(|s| (s.crew, s.starts_at, s.ends_at))
        .collect();
    Ok(Input {
        start,
        hours: WINDOW_HOURS,
        districts,
        neighbours,
        skills,
        crews,
        shifts,
    })
}

/// A gap as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GapView {
    /// The gap.
    #[serde(flatten)]
    pub gap: Gap,
    /// Its start in the city's clock.
    pub from_local: String,
    /// Its end in the city's clock.
    pub to_local: String,
}

/// The coverage of the caller's districts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Coverage {
    /// The city's zone.
    pub zone: String,
    /// The first hour checked.
    pub from: i64,
    /// The end of the last.
    pub to: i64,
    /// Hours checked.
    pub hours: usize,
    /// The urgent-capable skills checked.
    pub skills: Vec<String>,
    /// The districts checked (the caller's).
    pub districts: Vec<String>,
    /// The gaps, by district, skill and time.
    pub gaps: Vec<GapView>,
}

/// Every coverage gap of the next 7 days, of every district.
pub async fn all_gaps(
    db: &Db,
    tz: &TimeZone,
    now: Millis,
) -> Result<(Input, Vec<Gap>), RosterError> {
    let input = coverage_input(db, tz, now).await?;
    let gaps = coverage::gaps(&input);
    Ok((input, gaps))
}

/// The coverage of the caller's districts (dispatchers, managers).
pub async fn coverage_view(
    db: &Db,
    tz: &TimeZone,
    who: &Identity,
    now: Millis,
) -> Result<Coverage, RosterError> {
    may_read(who)?;
    let (input, gaps) = all_gaps(db, tz, now).await?;
    let mine: HashSet<&str> = who.districts.iter().map(String::as_str).collect();
    Ok(Coverage {
        zone: tz.iana_name().unwrap_or("UTC").to_owned(),
        from: input.start,
        to: input.start + HOUR_MS * input.hours as i64,
        hours: input.hours,
        skills: input.skills.clone(),
        districts: input
            .districts
            .iter()
            .filter(|d| mine.contains(d.as_str()))
            .cloned()
            .collect(),
        gaps: gaps
            .into_iter()
            .filter(|g| mine.contains(g.district.as_str()))
            .map(|gap| GapView {
                from_local: local(gap.from, tz),
                to_local: local(gap.to, tz),
                gap,
            })
            .collect(),
    })
}

/// What one [`tick`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ticked {
    /// Shifts whose start woke their crew's phones.
    pub woken: usize,
    /// Gap alerts raised.
    pub alerts: usize,
}

/// One round of the roster loop: shift-start wake-ups, then gap alerts within the lead.
pub async fn tick(
    d: &Dispatch,
    tz: &TimeZone,
    cfg: &RosterConfig,
    now: Millis,
) -> Result<Ticked, RosterError> {
    let mut done = Ticked::default();
    for s in store::started_unwoken(&d.store, now - WAKE_GRACE_MS, now).await? {
        if store::wake_shift(&d.store, &s, now).await? {
            tracing::info!(crew = %s.crew, shift = s.id, "shift started: crew's phones woken");
            done.woken += 1;
        }
    }
    let (_, gaps) = all_gaps(&d.store, tz, now).await?;
    let horizon = now.saturating_add(cfg.gap_lead_ms());
    for g in gaps.iter().filter(|g| g.from < horizon) {
        let alert = Alert {
            id: 0,
            district: g.district.clone(),
            task: None,
            kind: "coverage_gap".into(),
            message: format!(
                "no crew with skill {} rostered in {} or its neighbours from {} to {} ({} h, {})",
                g.skill,
                g.district,
                local(g.from, tz),
                local(g.to, tz),
                g.hours,
                tz.iana_name().unwrap_or("UTC")
            ),
            created_at: now,
        };
        if store::raise_gap_alert(&d.store, &g.skill, g.from, &alert).await? {
            metrics::counter!("tarmim_dispatch_alerts_total", "kind" => "coverage_gap")
                .increment(1);
            tracing::info!(district = %g.district, skill = %g.skill, "coverage gap alert");
            if let Some(scope) = sync_core::session::TaskScopes::district(&g.district) {
                d.hub.publish(&[scope]).await;
            }
            done.alerts += 1;
        }
    }
    Ok(done)
}

/// Runs [`tick`] every `tick_ms` on this replica (every replica runs it; each wake-up
/// and alert is written once).
pub fn spawn(d: Arc<Dispatch>, tz: TimeZone, cfg: RosterConfig) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = std::time::Duration::from_millis(cfg.tick_ms.max(50));
        loop {
            if let Err(e) = tick(&d, &tz, &cfg, now_millis()).await {
                tracing::warn!(error = %e, "roster round failed");
            }
            tokio::time::sleep(every).await;
        }
    })
}

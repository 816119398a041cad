//! Choosing a crew for a job, and recording the choice.
//!
//! # Scoring
//!
//! Candidates are the **on-duty** crews of the task's district whose skills include the
//! task's service code — on duty by their roster unless they toggled manually
//! (`domain::roster::duty`). Each gets
//!
//! ```text
//! score = distance_km + LOAD_PENALTY_KM × open_jobs
//! ```
//!
//! where `distance_km` is the great-circle distance from the crew's latest *plausible*
//! position (flagged reports never count) to the task, or [`UNKNOWN_POSITION_KM`] for a
//! crew that has reported none, and `open_jobs` counts its tasks assigned, acknowledged,
//! in progress, paused or reopened. The lowest score wins; ties go to the lower load,
//! then the lower crew id, so every replica makes the same choice.
//!
//! With no candidate in the district, the on-duty crews with the skill of the
//! **neighbouring** districts (whose polygons touch it) are scored the same way. With
//! none there either, the district's dispatchers get a `no_crew` alert and the task
//! stays in the queue.
//!
//! Urgent tasks are assigned the moment they exist; others only where the district's
//! `auto_assign_normal` setting is on. Each assignment is an `Assigned` event whose
//! reason states the rule, distance, load and score (a [`Reason`], rendered by the pages
//! in their language); it arms an acknowledgement timer ([`super::escalate`]).
//!
//! A dispatcher may assign any crew, but a crew that is off duty or from another
//! district is refused unless the request says `override` with a reason, which is then
//! written into the event's reason.

use super::Dispatch;
use super::DispatchError;
use super::desk::check_district;
use super::edit::{self, Edited};
use super::reason::Reason;
use crate::base::geodesy;
use crate::base::time::now_millis;
use crate::domain::identity::Identity;
use crate::domain::roster;
use crate::storage::dispatch::{self as store, Alert, Candidate, TimerKind};
use crate::storage::{DistrictStore, IdentityStore};
use serde::Serialize;
use sync_core::task::{EventKind, GeoPoint, Priority, Status, TaskView};
use sync_core::{Actor, DocId, Millis};

/// Kilometres one open job weighs in the score.
pub const LOAD_PENALTY_KM: f64 = 3.0;
/// Distance assumed for a crew that has reported no plausible position.
pub const UNKNOWN_POSITION_KM: f64 = 25.0;

/// A scored candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    /// Crew id.
    pub crew: String,
    /// Its district.
    pub district: String,
    /// Distance to the task in km, if its position is known.
    pub distance_km: Option<f64>,
    /// Its open jobs.
    pub load: u32,
    /// The score (lower is better).
    pub score: f64,
}

/// Scores one candidate for a task at `point`.
pub fn score(point: &GeoPoint, c: &Candidate) -> Scored {
    let distance_km = c
        .position
        .map(|p| geodesy::distance_m(p, (point.lat, point.lon)) / 1000.0);
    let score = distance_km.unwrap_or(UNKNOWN_POSITION_KM) + LOAD_PENALTY_KM * f64::from(c.load);
    Scored {
        crew: c.crew.clone(),
        district: c.district.clone(),
        distance_km,
        load: c.load,
        score,
    }
}

/// The best candidate not in `exclude`, by score, then load, then crew id.
pub fn choose(point: &GeoPoint, candidates: &[Candidate], exclude: &[String]) -> Option<Scored> {
    candidates
        .iter()
        .filter(|c| !exclude.contains(&c.crew))
        .map(|c| score(point, c))
        .min_by(|a, b| {
            a.score
                .total_cmp(&b.score)
                .then(a.load.cmp(&b.load))
                .then_with(|| a.crew.cmp(&b.crew))
        })
}

/// Where the chosen crew came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Pick {
    /// A crew of the task's district.
    District(Scored),
    /// A crew of a neighbouring district.
    Neighbour(Scored),
    /// Nobody on duty with the skill here or next door.
    None,
}

/// Picks a crew for a task of `district` needing `skill` at `point`, never one of
/// `exclude` (crews that already had it).
pub async fn pick(
    d: &Dispatch,
    district: &str,
    skill: &str,
    point: &GeoPoint,
    exclude: &[String],
) -> Result<Pick, DispatchError> {
    let now = now_millis();
    let on_duty = |mut v: Vec<Candidate>| {
        v.retain(|c| roster::duty::on_duty(&c.duty));
        v
    };
    let own = on_duty(store::candidates(&d.store, &[district.to_owned()], skill, now).await?);
    if let Some(s) = choose(point, &own, exclude) {
        return Ok(Pick::District(s));
    }
    let neighbours = d.store.neighbours(district).await?;
    let next = on_duty(store::candidates(&d.store, &neighbours, skill, now).await?);
    Ok(match choose(point, &next, exclude) {
        Some(s) => Pick::Neighbour(s),
        None => Pick::None,
    })
}

/// The reason written into an automatic `Assigned` event: the crew and the structured
/// reason's text ([`Reason`]: the rule, distance, load and score).
pub fn reason(pick: &Pick, district: &str, skill: &str) -> Option<(String, String)> {
    auto_reason(pick, district, skill).map(|(crew, r)| (crew, r.text()))
}

/// The crew and the [`Reason`] of an automatic choice.
pub fn auto_reason(pick: &Pick, district: &str, skill: &str) -> Option<(String, Reason)> {
    match pick {
        Pick::District(s) => Some((
            s.crew.clone(),
            Reason::AutoDistrict {
                district: district.to_owned(),
                skill: skill.to_owned(),
                km: s.distance_km.map(round2),
                load: s.load,
                score: round2(s.score),
            },
        )),
        Pick::Neighbour(s) => Some((
            s.crew.clone(),
            Reason::AutoNeighbour {
                district: district.to_owned(),
                skill: skill.to_owned(),
                from: s.district.clone(),
                km: s.distance_km.map(round2),
                load: s.load,
                score: round2(s.score),
            },
        )),
        Pick::None => None,
    }
}

/// Two decimals, as the reason shows them.
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The server's actor on this replica.
pub fn server_actor(d: &Dispatch) -> Actor {
    Actor::server(d.replica.clone())
}

/// How long an assigned job may wait for its acknowledgement: the service's SLA term at
/// the task's priority (`penalties::sla`), else the dispatch settings' window
/// ([`default_ack_window_ms`], `TARMIM_DISPATCH_ACK_SECS_*`).
pub async fn ack_window_ms(
    d: &Dispatch,
    service: &str,
    priority: Priority,
) -> Result<Millis, DispatchError> {
    let term = match crate::domain::penalties::sla::terms_ms(&d.store, service, priority).await {
        Ok((ack, _)) => ack,
        // A task of a service deleted since keeps the server-wide window.
        Err(crate::storage::DbError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    Ok(term.unwrap_or_else(|| default_ack_window_ms(d, priority)))
}

/// The dispatch settings' acknowledgement window: the fallback for a service without an
/// acknowledgement term.
pub fn default_ack_window_ms(d: &Dispatch, priority: Priority) -> Millis {
    let secs = match priority {
        Priority::Urgent => d.settings.ack_secs_urgent,
        _ => d.settings.ack_secs_other,
    };
    i64::try_from(secs)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000)
}

/// Statuses in which a task waits for a crew.
fn waiting(status: Status) -> bool {
    matches!(status, Status::New | Status::Queued)
}

/// What an automatic assignment did.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AutoOutcome {
    /// Assigned now.
    Assigned {
        /// The crew.
        crew: String,
        /// The reason recorded.
        reason: String,
    },
    /// Already held by a crew (or closed): nothing done.
    AlreadyAssigned {
        /// The crew holding it, if any.
        crew: Option<String>,
    },
    /// Nobody to assign; the dispatchers were alerted.
    NoCrew,
}

/// Assigns a waiting task automatically (the scoring above). Safe to call from several
/// replicas at once: the first commit wins, the others find it assigned.
pub async fn auto_assign(d: &Dispatch, task: &DocId) -> Result<AutoOutcome, DispatchError> {
    let (doc, _) = edit::load(d, task).await?;
    let view = doc.view()?;
    if !waiting(view.derived.status) {
        return Ok(AutoOutcome::AlreadyAssigned {
            crew: view.derived.assignee,
        });
    }
    let district = view
        .derived
        .district
        .clone()
        .ok_or_else(|| DispatchError::Invalid(format!("task {task} has no district")))?;
    let pick = pick(d, &district, &view.category, &view.point, &[]).await?;
    let Some((crew, why)) = reason(&pick, &district, &view.category) else {
        alert(
            d,
            &district,
            Some(task),
            "no_crew",
            format!(
                "no on-duty crew with skill {} in {district} or its neighbours for task {task}",
                view.category
            ),
        )
        .await?;
        return Ok(AutoOutcome::NoCrew);
    };
    let actor = server_actor(d);
    let now = now_millis();
    let done = edit::edit(d, task, |doc, v| {
        if !waiting(v.derived.status) {
            return Ok(None);
        }
        doc.append_event(
            &actor,
            now,
            EventKind::Assigned {
                crew: crew.clone(),
                reason: why.clone(),
            },
        )?;
        Ok(Some(()))
    })
    .await?;
    match done {
        Some(e) => {
            arm_ack(d, &e.view, &crew, now).await?;
            metrics::counter!("tarmim_dispatch_assignments_total", "how" => "auto").increment(1);
            Ok(AutoOutcome::Assigned { crew, reason: why })
        }
        None => {
            let (doc, _) = edit::load(d, task).await?;
            Ok(AutoOutcome::AlreadyAssigned {
                crew: doc.view()?.derived.assignee,
            })
        }
    }
}

/// A dispatcher's request to run the automatic choice now ([`auto_assign`]) on a task of
/// their districts.
pub async fn auto_assign_by_dispatcher(
    d: &Dispatch,
    who: &Identity,
    task: &DocId,
) -> Result<AutoOutcome, DispatchError> {
    let (doc, _) = edit::load(d, task).await?;
    check_district(who, doc.view()?.derived.district.as_deref())?;
    auto_assign(d, task).await
}

/// Arms the acknowledgement timer of a freshly assigned task.
pub async fn arm_ack(
    d: &Dispatch,
    view: &TaskView,
    crew: &str,
    now: Millis,
) -> Result<(), DispatchError> {
    let window = ack_window_ms(d, &view.category, view.derived.priority).await?;
    let due = now.saturating_add(window);
    store::arm_timer(&d.store, view.id.as_str(), TimerKind::Ack, due, Some(crew)).await?;
    Ok(())
}

/// Raises an alert for a district's dispatchers.
pub async fn alert(
    d: &Dispatch,
    district: &str,
    task: Option<&DocId>,
    kind: &str,
    message: String,
) -> Result<(), DispatchError> {
    tracing::info!(district, kind, %message, "dispatcher alert");
    metrics::counter!("tarmim_dispatch_alerts_total", "kind" => kind.to_owned()).increment(1);
    store::insert_alert(
        &d.store,
        &Alert {
            id: 0,
            district: district.to_owned(),
            task: task.map(|t| t.to_string()),
            kind: kind.to_owned(),
            message,
            created_at: now_millis(),
        },
    )
    .await?;
    // Consoles follow their districts' scopes: wake them so the alert shows at once.
    if let Some(scope) = sync_core::session::TaskScopes::district(district) {
        d.hub.publish(&[scope]).await;
    }
    Ok(())
}

/// A dispatcher's assignment (or reassignment).
///
/// Refused ([`DispatchError::Refused`]) when the crew is off duty or not of the task's
/// district, unless `override_reason` is given: then the event's reason records the
/// override and what it overrode.
pub async fn assign_by_dispatcher(
    d: &Dispatch,
    who: &Identity,
    task: &DocId,
    crew_id: &str,
    note: Option<&str>,
    override_reason: Option<&str>,
) -> Result<Edited<()>, DispatchError> {
    let actor = who
        .actor()
        .ok_or_else(|| DispatchError::Forbidden("admins do not edit tasks".into()))?;
    let (doc, _) = edit::load(d, task).await?;
    let view = doc.view()?;
    check_district(who, view.derived.district.as_deref())?;
    let crew = d
        .store
        .crew(crew_id)
        .await?
        .ok_or_else(|| DispatchError::NotFound(format!("no crew {crew_id}")))?;
    let off_duty = !roster::on_duty_now(&d.store, &crew.id).await?;
    let task_district = view.derived.district.clone();
    let other_district = task_district.as_deref() != Some(crew.district.as_str());
    let mut problems = Vec::new();
    if off_duty {
        problems.push(format!("crew {} is off duty", crew.id));
    }
    if other_district {
        problems.push(format!(
            "crew {} belongs to {}, not {}",
            crew.id,
            crew.district,
            task_district.as_deref().unwrap_or("-")
        ));
    }
    let override_reason = override_reason.map(str::trim).filter(|r| !r.is_empty());
    let why = match (problems.is_empty(), override_reason) {
        (true, _) => Reason::Dispatcher {
            by: who.login.clone(),
            note: note
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned),
        },
        (false, Some(r)) => Reason::Override {
            by: who.login.clone(),
            off_duty,
            crew_district: other_district.then(|| crew.district.clone()),
            task_district,
            note: r.to_owned(),
        },
        (false, None) => {
            return Err(DispatchError::Refused(format!(
                "{}; send override with a reason to assign anyway",
                problems.join("; ")
            )));
        }
    }
    .text();
    let now = now_millis();
    let crew_id = crew.id.clone();
    let done = edit::edit(d, task, |doc, v| {
        if v.derived.assignee.as_deref() == Some(crew_id.as_str())
            && matches!(v.derived.status, Status::Assigned)
        {
            return Err(DispatchError::Refused(format!(
                "task {task} is already assigned to {crew_id}"
            )));
        }
        doc.append_event(
            &actor,
            now,
            EventKind::Assigned {
                crew: crew_id.clone(),
                reason: why.clone(),
            },
        )?;
        Ok(Some(()))
    })
    .await?
    .ok_or(DispatchError::Busy)?;
    arm_ack(d, &done.view, &crew.id, now).await?;
    metrics::counter!("tarmim_dispatch_assignments_total", "how" => "dispatcher").increment(1);
    crate::domain::audit::record(
        &d.store,
        &crate::domain::audit::Who::of(who),
        "assign",
        Some(task.as_str()),
        serde_json::json!({"crew": crew_id, "override": override_reason}),
    )
    .await;
    Ok(done)
}

//! Creating tasks on the server: the one path every report takes that does not come from
//! a phone — the call centre and dispatchers (console) now, Open311 next.
//!
//! [`create_task`] checks the report (known service, title, WGS84 point), routes the
//! point to its district (the covering polygon, else the configured default district,
//! else a clear "outside every district" refusal — never dropped), sets the SLA due
//! times, builds the task document (`Created` by the filer, `Routed` by the server,
//! and — for an urgent task, or any task where the district auto-assigns normal work —
//! the `Assigned` of the crew [`crate::domain::dispatch::assign`]'s scoring chooses; one
//! automerge change, [`TaskDoc::create_with_events`]); then commits it all with the
//! projection in one durable transaction, publishes it to the hub (the crew's phones pull
//! it at once), and arms the acknowledgement and completion timers (or alerts the
//! dispatchers that nobody could take it). The caller gets the task only after the
//! commit is durable.
//!
//! A citizen's message is of a [`Kind`]: only `request` and `violation` come here as
//! tasks; the rest are messages for a department inbox
//! ([`crate::domain::citizen::messages`]).
//!
//! At the console, a [`Filer`] — a call-centre operator or a dispatcher, admitted before
//! the report is read — files through [`file`].
//!
//! A task a crew files from the field arrives through sync instead, already committed
//! with an `adopt` row in the outbox (written in the same transaction):
//! [`adopt`], run by the outbox ([`crate::domain::outbox`]) and retried until done,
//! then routes it by its point (a district the phone claimed is overridden by the
//! server's `Routed` event) and dispatches it the same way.

use crate::base::time::now_millis;
use crate::domain::citizen::codes;
use crate::domain::dispatch::Dispatch;
use crate::domain::dispatch::assign::{self, AutoOutcome};
use crate::domain::dispatch::{DispatchError, edit};
use crate::domain::districts;
use crate::domain::identity::{Identity, UserRole};
use crate::storage::IdentityStore;
use crate::storage::dispatch::{self as store, TimerKind};
use crate::storage::outbox::{CommitExtra, NewTimer};
use serde::{Deserialize, Serialize};
use sync_core::task::{
    EventKind, GeoPoint, NewEvent, NewTask, Priority, Sla, Source, TaskDoc, TaskView,
};
use sync_core::{Actor, DocId};

/// What a citizen's message is. `request` and `violation` are field work: they need a
/// point, become task documents and go to a district and a crew. The others never reach a
/// crew's phone: they are stored as messages ([`crate::domain::citizen::messages`]),
/// routed to a department inbox and answered by staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A problem to fix (a pothole, a broken light).
    Request,
    /// A violation to stop (dumping, an illegal construction).
    Violation,
    /// A complaint about a unit, a crew or a contractor.
    Complaint,
    /// Criticism of how the city works.
    Criticism,
    /// A suggestion.
    Suggestion,
    /// An idea.
    Idea,
    /// Thanks.
    Thanks,
}

impl Kind {
    /// Every kind, field kinds first.
    pub const ALL: [Kind; 7] = [
        Kind::Request,
        Kind::Violation,
        Kind::Complaint,
        Kind::Criticism,
        Kind::Suggestion,
        Kind::Idea,
        Kind::Thanks,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Request => "request",
            Kind::Violation => "violation",
            Kind::Complaint => "complaint",
            Kind::Criticism => "criticism",
            Kind::Suggestion => "suggestion",
            Kind::Idea => "idea",
            Kind::Thanks => "thanks",
        }
    }

    /// Reads a wire name.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Field work: needs a point and a service, becomes a task for a crew.
    pub fn is_field(self) -> bool {
        matches!(self, Kind::Request | Kind::Violation)
    }

    /// Plain English.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Request => "Request",
            Kind::Violation => "Violation report",
            Kind::Complaint => "Complaint",
            Kind::Criticism => "Criticism",
            Kind::Suggestion => "Suggestion",
            Kind::Idea => "Idea",
            Kind::Thanks => "Thanks",
        }
    }
}

/// A report to file.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Open311 `service_code`.
    pub category: String,
    /// Short title.
    pub title: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Horizontal accuracy in metres.
    #[serde(default)]
    pub accuracy_m: Option<f64>,
    /// Street address.
    #[serde(default)]
    pub address: Option<String>,
    /// Priority; the service's default when absent.
    #[serde(default)]
    #[schema(value_type = Option<crate::domain::schema::PriorityName>)]
    pub priority: Option<Priority>,
}

/// A filed report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Filed {
    /// The task as committed (after any assignment).
    #[schema(value_type = crate::domain::schema::TaskViewSchema)]
    pub task: TaskView,
    /// The district it was routed to.
    pub district: String,
    /// What automatic dispatch did, if it ran.
    pub dispatch: Option<AutoOutcome>,
    /// The reporter's tracking code, as shown to people (`XXXX-XXXX-XXXX`).
    pub tracking_code: String,
}

/// A fresh task id: `T-` and 12 random hex digits.
pub fn new_task_id() -> DocId {
    let id = format!("T-{:012X}", rand::random::<u64>() & 0xFFFF_FFFF_FFFF);
    // `T-` and hex digits always make a valid id.
    DocId::new(id).expect("a valid task id")
}

/// Adopts a task created on a phone (see the module docs): routes it to the district of
/// its point and, when it is urgent or its district auto-assigns normal work, assigns it
/// by the same scoring. A task the server already routed is left alone, so running this
/// twice (or on two replicas) routes once; the assignment is once-only by itself.
pub async fn adopt(d: &Dispatch, task: &DocId) -> Result<Option<AutoOutcome>, DispatchError> {
    let (doc, _) = edit::load(d, task).await?;
    let view = doc.view()?;
    if routed(&view) {
        return Ok(None);
    }
    let district = districts::route_point(
        &d.store,
        d.settings.default_district.as_deref(),
        view.point.lat,
        view.point.lon,
    )
    .await?;
    let server = assign::server_actor(d);
    let now = now_millis();
    let done = edit::edit(d, task, |doc, v| {
        if routed(v) {
            return Ok(None);
        }
        doc.append_event(
            &server,
            now,
            EventKind::Routed {
                district: district.clone(),
            },
        )?;
        Ok(Some(()))
    })
    .await?;
    if done.is_none() {
        return Ok(None);
    }
    metrics::counter!("tarmim_tasks_created_total", "source" => view.source.as_str()).increment(1);
    let auto = view.derived.priority == Priority::Urgent
        || store::auto_assign_normal(&d.store, &district).await?;
    if !auto {
        return Ok(None);
    }
    Ok(Some(assign::auto_assign(d, task).await?))
}

fn routed(view: &TaskView) -> bool {
    view.timeline
        .iter()
        .any(|e| matches!(e.event.kind, EventKind::Routed { .. }))
}

/// A caller admitted to file reports at the console — a call-centre operator or a
/// dispatcher — with the source their reports record.
#[derive(Debug, Clone)]
pub struct Filer {
    actor: Actor,
    source: Source,
}

impl Filer {
    /// Admits `who`, or refuses a role that does not file reports at the console.
    pub fn admit(who: &Identity) -> Result<Filer, DispatchError> {
        let source = match who.role {
            UserRole::CallCentre => Source::CallCentre,
            UserRole::Dispatcher => Source::Dispatcher,
            _ => {
                return Err(DispatchError::Forbidden(
                    "only call-centre operators and dispatchers file reports here".into(),
                ));
            }
        };
        let actor = who
            .actor()
            .ok_or_else(|| DispatchError::Forbidden("no role to file as".into()))?;
        Ok(Filer { actor, source })
    }
}

/// Files a report at the console as the admitted caller ([`create_task`]).
pub async fn file(d: &Dispatch, filer: &Filer, report: Report) -> Result<Filed, DispatchError> {
    create_task(d, &filer.actor, filer.source, report).await
}

/// Files a report: see the module docs. `creator` is who filed it (a call-centre
/// operator, a dispatcher, or the server on a citizen's behalf) and `source` where it
/// came from.
pub async fn create_task(
    d: &Dispatch,
    creator: &Actor,
    source: Source,
    report: Report,
) -> Result<Filed, DispatchError> {
    create_task_with(
        d,
        creator,
        source,
        report,
        new_task_id(),
        CommitExtra::none(),
    )
    .await
}

/// [`create_task`] for the task `id`, storing `extra`'s rows (an Open311 request and
/// its contact) in the task's first commit: the caller's rows, the task and its
/// reporter's tracking code are stored together or not at all.
pub async fn create_task_with(
    d: &Dispatch,
    creator: &Actor,
    source: Source,
    report: Report,
    id: DocId,
    mut extra: CommitExtra,
) -> Result<Filed, DispatchError> {
    let title = report.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(DispatchError::Invalid(
            "a title is 1 to 200 characters".into(),
        ));
    }
    if report.description.chars().count() > 4000 {
        return Err(DispatchError::Invalid(
            "a description is at most 4000 characters".into(),
        ));
    }
    if report.accuracy_m.is_some_and(|a| !a.is_finite() || a < 0.0) {
        return Err(DispatchError::Invalid(
            "accuracy_m must be a non-negative number of metres".into(),
        ));
    }
    let services = d.store.services().await?;
    let service = services
        .iter()
        .find(|s| s.code == report.category)
        .ok_or_else(|| {
            DispatchError::Invalid(format!("unknown service code {:?}", report.category))
        })?;
    let district = districts::route_point(
        &d.store,
        d.settings.default_district.as_deref(),
        report.lat,
        report.lon,
    )
    .await?;
    let priority = report.priority.unwrap_or(service.default_priority);
    let now = now_millis();
    // The service's SLA terms at this priority (`penalties::sla`); without an
    // acknowledgement term, the dispatch settings' window.
    let (ack_ms, complete_ms) =
        crate::domain::penalties::sla::terms_ms(&d.store, &service.code, priority).await?;
    let complete_due = match d.settings.complete_secs {
        Some(s) => Some(now.saturating_add(i64::try_from(s).unwrap_or(i64::MAX / 1000) * 1000)),
        None => complete_ms.map(|m| now.saturating_add(m)),
    };
    let ack_due =
        now.saturating_add(ack_ms.unwrap_or_else(|| assign::default_ack_window_ms(d, priority)));
    // A completion deadline shorter than the acknowledgement term (the server-wide
    // `TARMIM_DISPATCH_COMPLETE_SECS` over a service's SLA) bounds the acknowledgement
    // too, instead of making a document the task rules refuse.
    let ack_due = complete_due.map_or(ack_due, |c| ack_due.min(c));
    let new = NewTask {
        id: id.clone(),
        source,
        category: service.code.clone(),
        title: title.to_owned(),
        description: report.description.clone(),
        point: GeoPoint {
            lat: report.lat,
            lon: report.lon,
            accuracy_m: report.accuracy_m,
        },
        address: report
            .address
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned),
        district: None,
        priority,
        sla: Sla {
            ack_due: Some(ack_due),
            complete_due,
        },
        // The citizens' feedback window (rate or "not fixed"), fixed in the document so
        // every replica folds the citizen's events with the same rule.
        reopen_window_ms: d.settings.feedback_window_ms,
    };
    let server = assign::server_actor(d);
    let mut then = vec![NewEvent {
        actor: server.clone(),
        at: now,
        kind: EventKind::Routed {
            district: district.clone(),
        },
    }];
    // A new task is nobody else's yet: the crew is chosen before the first commit and the
    // `Assigned` event goes into it, so the crew's phones get the task from one commit.
    let auto =
        priority == Priority::Urgent || store::auto_assign_normal(&d.store, &district).await?;
    let mut dispatch = None;
    if auto {
        let pick = assign::pick(d, &district, &service.code, &new.point, &[]).await?;
        dispatch = Some(match assign::reason(&pick, &district, &service.code) {
            Some((crew, reason)) => {
                then.push(NewEvent {
                    actor: server,
                    at: now,
                    kind: EventKind::Assigned {
                        crew: crew.clone(),
                        reason: reason.clone(),
                    },
                });
                AutoOutcome::Assigned { crew, reason }
            }
            None => AutoOutcome::NoCrew,
        });
    }
    // The task, `Routed` and any `Assigned` as one automerge change, with its view folded
    // from what was written rather than parsed back from the document.
    let (doc, view) = TaskDoc::create_with_events(new, creator, now, &then)?;
    // The code is stored with the task, so a code the citizen was given resolves.
    let (tracking, code_row) = codes::fresh(&id, codes::Role::Reporter);
    extra.codes.push(code_row);
    // The completion timer too: a task is never stored without the timer watching it.
    if let Some(due) = complete_due {
        extra.timers.push(NewTimer {
            kind: TimerKind::Complete,
            due_at: due,
            crew: None,
        });
    }
    let (task, _) = edit::create_viewed(d, doc, view, &extra).await?;
    metrics::counter!("tarmim_tasks_created_total", "source" => source.as_str()).increment(1);
    // The task is durable from here on: what follows must not fail the request (the
    // caller would file it again). A timer that cannot be armed is logged and alerted.
    let followed = async {
        match &dispatch {
            Some(AutoOutcome::Assigned { crew, .. }) => {
                metrics::counter!("tarmim_dispatch_assignments_total", "how" => "auto")
                    .increment(1);
                assign::arm_ack(d, &task, crew, now).await?;
            }
            Some(_) => {
                assign::alert(
                    d,
                    &district,
                    Some(&id),
                    "no_crew",
                    format!(
                        "no on-duty crew with skill {} in {district} or its neighbours for task {id}",
                        service.code
                    ),
                )
                .await?;
            }
            None => {}
        }
        Ok::<(), DispatchError>(())
    };
    if let Err(e) = followed.await {
        tracing::error!(task = %id, error = %e, "arming the task's timers failed");
        let _ = assign::alert(
            d,
            &district,
            Some(&id),
            "dispatch_failed",
            format!("task {id}: its escalation timers could not be armed; watch it by hand"),
        )
        .await;
    }
    Ok(Filed {
        task,
        district,
        dispatch,
        tracking_code: codes::display(&tracking.code),
    })
}

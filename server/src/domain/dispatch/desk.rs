//! The dispatcher's desk: who may use the console, and what a console user sees — the
//! queue and alerts of their districts, one task with its timers, alerts, tracking codes
//! and possible duplicates, and the scopes the console's live stream follows.
//!
//! Dispatchers and managers see only their districts; call-centre operators file
//! reports anywhere in the city and see no queue (they have no districts). A task outside
//! the caller's districts is answered as if it did not exist, so that nobody probes other
//! districts; acting on one is refused ([`check_district`]).
//!
//! [`ConsoleUser`] is the caller admitted to the console: a function that takes one
//! cannot be reached by a caller who was not checked first.

use super::{Dispatch, DispatchError, edit};
use crate::domain::citizen::{codes, duplicates};
use crate::domain::districts;
use crate::domain::hub::{Hub, Subscription};
use crate::domain::identity::{Identity, UserRole};
use crate::domain::schema::TaskViewSchema;
use crate::storage::dispatch::{self as store, Alert};
use crate::storage::{Db, DistrictStore, DocStore, IdentityStore};
use serde::Serialize;
use serde_json::{Value, json};
use sync_core::DocId;
use sync_core::session::TaskScopes;
use sync_core::task::{Priority, TaskView};
use utoipa::ToSchema;

/// How many unresolved alerts the console lists.
const ALERTS_SHOWN: i64 = 100;

/// A caller admitted to the console: a dispatcher, a manager or a call-centre operator.
#[derive(Debug, Clone)]
pub struct ConsoleUser(Identity);

impl ConsoleUser {
    /// Admits `who`, or refuses a role the console is not for.
    pub fn admit(who: Identity) -> Result<ConsoleUser, DispatchError> {
        match who.role {
            UserRole::Dispatcher | UserRole::Manager | UserRole::CallCentre => Ok(ConsoleUser(who)),
            _ => Err(DispatchError::Forbidden(
                "the console is for dispatchers, managers and call-centre operators".into(),
            )),
        }
    }

    /// Who the caller is.
    pub fn identity(&self) -> &Identity {
        &self.0
    }

    /// Whether a task of `district` is in one of the caller's districts.
    fn sees(&self, district: Option<&str>) -> bool {
        district.is_some_and(|d| self.0.districts.iter().any(|x| x == d))
    }
}

/// Checks that a console user may act on a task of `district`: only dispatchers act, and
/// only on their districts' tasks.
pub fn check_district(who: &Identity, district: Option<&str>) -> Result<(), DispatchError> {
    if who.role != UserRole::Dispatcher {
        return Err(DispatchError::Forbidden(
            "only dispatchers assign, reprioritise, cancel or mark duplicates".into(),
        ));
    }
    match district {
        Some(d) if who.districts.iter().any(|x| x == d) => Ok(()),
        _ => Err(DispatchError::Forbidden(
            "this task is not in one of your districts".into(),
        )),
    }
}

/// What the console loads first.
#[derive(Debug, Serialize)]
pub struct Bootstrap {
    /// The caller.
    pub me: DeskUser,
    /// The map's tile URL (none: a blank background).
    pub tile_url: Option<String>,
    /// The caller's districts (every district for the call centre), as GeoJSON.
    pub districts: Value,
    /// The services a report may be filed under.
    pub services: Vec<ServiceChoice>,
}

/// The caller, as the console greets them.
#[derive(Debug, Serialize)]
pub struct DeskUser {
    /// Login.
    pub login: String,
    /// Role.
    pub role: UserRole,
    /// Districts, for dispatchers and managers.
    pub districts: Vec<String>,
    /// User id.
    pub user_id: String,
}

/// A service as the console's report form offers it.
#[derive(Debug, Serialize)]
pub struct ServiceChoice {
    /// `service_code`.
    pub code: String,
    /// `service_name` (the Persian name).
    pub name: String,
    /// The English name, if the city gave one (English pages show it).
    pub name_en: Option<String>,
    /// The priority a report gets unless the filer says otherwise.
    pub default_priority: Priority,
}

/// Who the caller is, their districts and the services (see [`Bootstrap`]).
pub async fn bootstrap(
    db: &Db,
    user: &ConsoleUser,
    tile_url: Option<&str>,
) -> Result<Bootstrap, DispatchError> {
    let who = &user.0;
    let features: Vec<Value> = db
        .districts()
        .await?
        .iter()
        .filter(|d| who.role == UserRole::CallCentre || who.districts.contains(&d.code))
        .map(districts::feature)
        .collect();
    let english: std::collections::HashMap<String, String> = crate::storage::admin::services(db)
        .await?
        .into_iter()
        .filter_map(|s| Some((s.code, s.name_en?)))
        .collect();
    let services = db
        .services()
        .await?
        .into_iter()
        .map(|s| ServiceChoice {
            name_en: english.get(&s.code).cloned(),
            code: s.code,
            name: s.name,
            default_priority: s.default_priority,
        })
        .collect();
    Ok(Bootstrap {
        me: DeskUser {
            login: who.login.clone(),
            role: who.role,
            districts: who.districts.clone(),
            user_id: who.user_id.clone(),
        },
        tile_url: tile_url.map(str::to_owned),
        districts: json!({"type": "FeatureCollection", "features": features}),
        services,
    })
}

/// The unresolved alerts of the caller's districts, newest first.
pub async fn alerts(db: &Db, user: &ConsoleUser) -> Result<Vec<Alert>, DispatchError> {
    Ok(store::alerts(db, &user.0.districts, ALERTS_SHOWN).await?)
}

/// Follows the scopes of the caller's districts: a task or alert of theirs changed, on
/// this replica or another.
pub fn follow(hub: &Hub, user: &ConsoleUser) -> Subscription {
    let scopes: Vec<_> = user
        .0
        .districts
        .iter()
        .filter_map(|d| TaskScopes::district(d))
        .collect();
    hub.subscribe(&scopes)
}

/// A task as the console shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskDetail {
    /// The task (timeline with outcomes, conflicts, notes, photos).
    #[schema(value_type = TaskViewSchema)]
    pub task: TaskView,
    /// Pending timers: `[kind, due_at, crew]`.
    #[schema(value_type = Vec<Vec<serde_json::Value>>)]
    pub timers: Vec<(String, i64, Option<String>)>,
    /// Alerts about it.
    pub alerts: Vec<Alert>,
    /// Citizens' tracking codes on it, as people read them (dispatchers read them to
    /// callers on the phone): `{code, role}`, the reporter's first.
    pub tracking_codes: Vec<TrackingCode>,
    /// Open reports of the same category near it, in the caller's districts (nearest
    /// first): candidates to merge it into (design §6). Empty for a closed task.
    pub nearby: Vec<NearbyTask>,
}

/// A possible duplicate, as the console offers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct NearbyTask {
    /// Task id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Status (wire name).
    pub status: String,
    /// Metres away.
    pub distance_m: f64,
    /// Citizens who supported it.
    pub supporters: u64,
}

/// A tracking code as the console shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrackingCode {
    /// `XXXX-XXXX-XXXX`.
    pub code: String,
    /// `reporter` or `supporter`.
    #[schema(value_type = String)]
    pub role: codes::Role,
}

/// One task of the caller's districts with its timers, alerts, tracking codes and the
/// open reports within `duplicate_radius_m` it might duplicate.
pub async fn task(
    d: &Dispatch,
    user: &ConsoleUser,
    id: &DocId,
    duplicate_radius_m: f64,
) -> Result<TaskDetail, DispatchError> {
    let (doc, _) = edit::load(d, id).await?;
    let view = doc.view()?;
    if !user.sees(view.derived.district.as_deref()) {
        // The same answer as a missing task: no probing other districts.
        return Err(DispatchError::NotFound(format!("no task {id}")));
    }
    Ok(TaskDetail {
        timers: store::pending_timers(&d.store, id.as_str()).await?,
        alerts: store::task_alerts(&d.store, id.as_str()).await?,
        tracking_codes: codes::codes_of(&d.store, id)
            .await?
            .into_iter()
            .map(|t| TrackingCode {
                code: codes::display(&t.code),
                role: t.role,
            })
            .collect(),
        nearby: nearby(&d.store, user, &view, duplicate_radius_m).await?,
        task: view,
    })
}

/// Open same-category reports within `radius_m` of `view`'s point that the caller may
/// see.
async fn nearby(
    db: &Db,
    user: &ConsoleUser,
    view: &TaskView,
    radius_m: f64,
) -> Result<Vec<NearbyTask>, DispatchError> {
    if view.derived.status.is_closed() {
        return Ok(Vec::new());
    }
    let found = duplicates::nearby(
        db,
        &view.category,
        view.point.lat,
        view.point.lon,
        radius_m,
        Some(&view.id),
    )
    .await?;
    let mut out = Vec::with_capacity(found.len());
    for n in found {
        let row = db.task_row(&n.task).await?;
        if user.sees(row.and_then(|r| r.district).as_deref()) {
            out.push(NearbyTask {
                id: n.task.to_string(),
                title: n.title,
                status: n.status,
                distance_m: n.distance_m,
                supporters: n.supporters,
            });
        }
    }
    Ok(out)
}

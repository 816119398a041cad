//! Crews as admins manage them: create and edit (name, home district, skills, contractor),
//! list with their members (the crew users: a member is added by creating a user of role
//! `crew` for the crew, or moved with a role change — `users`), and retire.
//!
//! Retiring a crew that holds open tasks is refused (reassign them first); a retired crew
//! is off duty, never chosen by dispatch again, and its members are disabled (their
//! tokens revoked, `users::disable`).

use super::{Admin, AdminError, check_districts, opt_text, text};
use crate::storage::admin as store;
use crate::storage::identity::{Crew, UserRole};
use crate::storage::{Db, IdentityStore};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A crew to create, or its new state.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CrewInput {
    /// Crew id (e.g. `C-D07-A`; on an edit, the same as the path's).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Home district code.
    pub district: String,
    /// Service codes it handles.
    #[serde(default)]
    pub skills: Vec<String>,
    /// Its contractor (none: city staff).
    #[serde(default)]
    pub contractor: Option<String>,
}

/// A crew as the admin page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AdminCrew {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Home district.
    pub district: String,
    /// Skills.
    pub skills: Vec<String>,
    /// Contractor.
    pub contractor: Option<String>,
    /// On duty now.
    pub on_duty: bool,
    /// Members' logins.
    pub members: Vec<String>,
    /// When it was retired.
    pub retired_at: Option<i64>,
}

/// Every crew, retired ones too.
pub async fn list(db: &Db) -> Result<Vec<AdminCrew>, AdminError> {
    let retired = store::retired_crews(db).await?;
    let users = store::users(db).await?;
    Ok(db
        .crews()
        .await?
        .into_iter()
        .map(|c| AdminCrew {
            members: users
                .iter()
                .filter(|u| u.role == UserRole::Crew && u.crew.as_deref() == Some(&c.id))
                .map(|u| u.login.clone())
                .collect(),
            retired_at: retired.iter().find(|r| r.0 == c.id).map(|r| r.1),
            id: c.id,
            name: c.name,
            district: c.district,
            skills: c.skills,
            contractor: c.contractor,
            on_duty: c.on_duty,
        })
        .collect())
}

async fn find(db: &Db, id: &str) -> Result<Option<AdminCrew>, AdminError> {
    Ok(list(db).await?.into_iter().find(|c| c.id == id))
}

async fn checked(db: &Db, input: &CrewInput, on_duty: bool) -> Result<Crew, AdminError> {
    let crew = Crew {
        id: input.id.trim().to_owned(),
        name: text("a crew's name", &input.name, 1, 200)?,
        district: input.district.trim().to_owned(),
        skills: input.skills.iter().map(|s| s.trim().to_owned()).collect(),
        contractor: opt_text("a contractor", input.contractor.as_deref(), 200)?,
        on_duty,
    };
    crate::storage::identity::check_code("crew id", &crew.id)?;
    // An unknown home district would leave the crew out of every district's dispatch.
    // Skills are not checked against the services: a crew may be set up before its
    // services are, and a skill no service has only never matches.
    check_districts(db, std::slice::from_ref(&crew.district)).await?;
    for s in &crew.skills {
        crate::storage::identity::check_code("skill", s)?;
    }
    Ok(crew)
}

/// Creates a crew (off duty until its members go on duty); its id must be new.
pub async fn create(db: &Db, by: &Admin, input: &CrewInput) -> Result<AdminCrew, AdminError> {
    let crew = checked(db, input, false).await?;
    if find(db, &crew.id).await?.is_some() {
        return Err(AdminError::Conflict(format!(
            "a crew {:?} exists already",
            crew.id
        )));
    }
    db.upsert_crew(&crew).await?;
    by.record(db, "crew_create", &crew.id, detail(&crew)).await;
    found(db, &crew.id).await
}

/// Creates or replaces a crew, keeping its duty (`tarmim-server crew add`, which may set
/// the duty outright).
pub async fn save(
    db: &Db,
    by: &Admin,
    input: &CrewInput,
    on_duty: Option<bool>,
) -> Result<AdminCrew, AdminError> {
    let before = find(db, input.id.trim()).await?;
    if before.as_ref().is_some_and(|c| c.retired_at.is_some()) {
        return Err(AdminError::Conflict(format!(
            "crew {:?} is retired",
            input.id
        )));
    }
    let duty = on_duty.unwrap_or_else(|| before.as_ref().is_some_and(|c| c.on_duty));
    let crew = checked(db, input, duty).await?;
    db.upsert_crew(&crew).await?;
    let what = if before.is_some() {
        "crew_edit"
    } else {
        "crew_create"
    };
    by.record(db, what, &crew.id, detail(&crew)).await;
    found(db, &crew.id).await
}

/// Edits a crew in use (its id cannot change).
pub async fn edit(
    db: &Db,
    by: &Admin,
    id: &str,
    input: &CrewInput,
) -> Result<AdminCrew, AdminError> {
    in_use(db, id).await?;
    if input.id.trim() != id {
        return Err(AdminError::Invalid(format!(
            "a crew's id cannot change ({id:?} to {:?})",
            input.id
        )));
    }
    save(db, by, input, None).await
}

fn detail(c: &Crew) -> serde_json::Value {
    json!({"name": c.name, "district": c.district, "skills": c.skills, "contractor": c.contractor})
}

async fn found(db: &Db, id: &str) -> Result<AdminCrew, AdminError> {
    find(db, id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no crew {id:?}")))
}

async fn in_use(db: &Db, id: &str) -> Result<AdminCrew, AdminError> {
    let c = found(db, id).await?;
    if c.retired_at.is_some() {
        return Err(AdminError::Conflict(format!("crew {id:?} is retired")));
    }
    Ok(c)
}

/// Retires a crew holding no open task; its members are disabled.
pub async fn retire(db: &Db, by: &Admin, id: &str) -> Result<AdminCrew, AdminError> {
    let crew = in_use(db, id).await?;
    let open = store::open_tasks_of_crew(db, id).await?;
    if open > 0 {
        return Err(AdminError::Conflict(format!(
            "crew {id:?} holds {open} open task(s): reassign them before retiring it"
        )));
    }
    store::retire_crew(db, id, crate::base::time::now_millis()).await?;
    by.record(db, "crew_retire", id, json!({"members": crew.members}))
        .await;
    for login in &crew.members {
        super::users::set_disabled(db, by, login, true).await?;
    }
    found(db, id).await
}

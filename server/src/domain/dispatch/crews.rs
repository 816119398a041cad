//! Crews as dispatch sees them: a crew member's own duty switch, and the crews of a
//! dispatcher's or manager's districts with their duty, load and latest position.
//!
//! [`CrewMember`] is the caller admitted as a member of a crew; duty and position reports
//! ([`super::position::record`]) take one, so only a crew's own members change its duty
//! or say where it is.

use super::DispatchError;
use crate::domain::identity::{Identity, UserRole};
use crate::storage::Db;
use crate::storage::dispatch::{self as store, CrewStatus};
use crate::storage::roster as roster_store;
use sync_core::DeviceId;

/// A caller admitted as a member of a crew, on one of their devices.
#[derive(Debug, Clone)]
pub struct CrewMember {
    crew: String,
    user: String,
    device: DeviceId,
}

impl CrewMember {
    /// Admits `who`, or refuses a caller who is not a crew member.
    pub fn admit(who: &Identity) -> Result<CrewMember, DispatchError> {
        match (who.role, who.crew.as_deref()) {
            (UserRole::Crew, Some(crew)) => Ok(CrewMember {
                crew: crew.to_owned(),
                user: who.user_id.clone(),
                device: who.device.clone(),
            }),
            _ => Err(DispatchError::Forbidden(
                "only crew members report duty and position".into(),
            )),
        }
    }

    /// The member's crew.
    pub fn crew(&self) -> &str {
        &self.crew
    }

    /// The member's user id.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The device the member is calling from.
    pub fn device(&self) -> &DeviceId {
        &self.device
    }
}

/// Puts the member's crew on duty or off (kept with who, device and when; it holds over
/// the roster until the roster's next shift start or end: `domain::roster::duty`);
/// [`DispatchError::NotFound`] once the crew no longer exists.
pub async fn set_duty(db: &Db, member: &CrewMember, on_duty: bool) -> Result<(), DispatchError> {
    let crew = member.crew();
    let at = crate::base::time::now_millis();
    let device = member.device.to_string();
    if !roster_store::toggle(db, crew, on_duty, &member.user, Some(&device), at).await? {
        return Err(DispatchError::NotFound(format!("no crew {crew}")));
    }
    tracing::info!(crew, on_duty, device = %member.device, "duty changed");
    Ok(())
}

/// The crews of the caller's districts, for dispatchers and managers.
pub async fn of_districts(db: &Db, who: &Identity) -> Result<Vec<CrewStatus>, DispatchError> {
    if !matches!(who.role, UserRole::Dispatcher | UserRole::Manager) {
        return Err(DispatchError::Forbidden(
            "only dispatchers and managers list crews".into(),
        ));
    }
    let mut crews = store::crews_of(db, &who.districts).await?;
    // On duty as the roster and toggles say, not the bare switch.
    let facts: std::collections::HashMap<String, _> =
        roster_store::duty_facts(db, crate::base::time::now_millis())
            .await?
            .into_iter()
            .collect();
    for c in &mut crews {
        if let Some(f) = facts.get(&c.id) {
            c.on_duty = crate::domain::roster::duty::on_duty(f);
        }
    }
    Ok(crews)
}

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

/// Puts the member's crew on duty or off; [`DispatchError::NotFound`] once the crew no
/// longer exists.
pub async fn set_duty(db: &Db, member: &CrewMember, on_duty: bool) -> Result<(), DispatchError> {
    let crew = member.crew();
    if !store::set_on_duty(db, crew, on_duty).await? {
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
    Ok(store::crews_of(db, &who.districts).await?)
}

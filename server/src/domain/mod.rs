//! The domain layer: the city's rules. Dispatch, intake, citizens, Open311, photos, the
//! integrity channel, analytics, districts and the sync host. Functions here take the
//! narrow things they use (the [`crate::storage::Store`], the [`hub::Hub`], their own
//! settings), never the HTTP layer's state; nothing here knows HTTP.

pub mod admin;
pub mod analytics;
pub mod audit;
pub mod callcentre;
pub mod citizen;
pub mod compaction;
pub mod dispatch;
pub mod districts;
pub mod gis;
pub mod hub;
pub mod identity;
pub mod intake;
pub mod integrity;
pub mod notify;
pub mod open311;
pub mod outbox;
pub mod penalties;
pub mod phone;
pub mod photo;
pub mod places;
pub mod push;
pub mod roster;
pub mod schema;
pub mod sessions;
pub mod sync;
pub mod sync_admission;
pub mod sync_work;
pub mod throttle;

/// The domain's rules every commit runs in its transaction: a task's analytics facts,
/// and the outbox rows (routing, citizens' notifications) the commit causes.
pub fn commit_hooks() -> crate::storage::outbox::CommitHooks {
    commit_hooks_for(&crate::base::config::push::PushConfig::default())
}

/// [`commit_hooks`] with the configured wake-up coalescing interval.
pub fn commit_hooks_for(
    push: &crate::base::config::push::PushConfig,
) -> crate::storage::outbox::CommitHooks {
    crate::storage::outbox::CommitHooks {
        facts: analytics::facts::derive,
        effects: outbox::effects,
        wake_every_ms: i64::try_from(push.coalesce_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
    }
}

/// Opens the configured store with the domain's commit hooks ([`commit_hooks`]), running
/// its migrations.
pub async fn open_store(
    config: &crate::base::config::Config,
) -> Result<crate::storage::Db, crate::storage::DbError> {
    crate::storage::Db::open(config, commit_hooks_for(&config.push)).await
}

#[cfg(test)]
mod tests {
    /// `[push] coalesce_secs` reaches the commit hooks' interval between wake-ups (here
    /// rather than in `base::config`, which may not import the domain).
    #[test]
    fn the_coalescing_interval_reaches_the_commit_hooks() {
        let c = crate::base::config::push::PushConfig {
            coalesce_secs: 5,
            ..Default::default()
        };
        assert_eq!(super::commit_hooks_for(&c).wake_every_ms, 5000);
    }
}

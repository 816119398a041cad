//! The call log: every call the desk takes — who answered, the caller (hashed, once the
//! operator found them), start, end and outcome — and the managers' figures over it.
//!
//! A call is started when the operator picks up and ended with its outcome. One that is
//! never ended (a closed browser, a dropped line) is closed by the timeout
//! (`[desk] call_timeout_secs`) as abandoned, ending at its start plus the timeout:
//! [`sweep`] runs before every start, every end and every read of the figures, so
//! whatever reads the log sees such calls closed, on any replica, after any restart.
//!
//! Figures (city-wide, in the city's time zone): calls per local day and per hour of the
//! day; average handling time over the calls an operator ended (abandoned ones left
//! out: their length says nothing about handling); the share resolved at first contact
//! — of the calls an operator answered and ended, those that ended with a new report, a
//! follow-up answered or information given, rather than a transfer to a district; and
//! reports by channel (call centre, citizen page, Open311, crew field report, dispatcher).

use super::{Desk, DeskError, Operator};
use crate::base::time::now_millis;
use crate::domain::analytics::period::{self, Range};
use crate::domain::citizen::codes;
use crate::domain::identity::{Identity, UserRole};
use crate::storage::DistrictStore;
use crate::storage::callcentre::{self as records, CallRow};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A new report was filed (or the caller added as a supporter).
    NewReport,
    /// The caller asked about an earlier report (`about`: its code or task id).
    FollowUp,
    /// Information only.
    Information,
    /// Transferred to a district (`about`: its code).
    Transferred,
    /// The caller hung up, or the line dropped.
    Abandoned,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::NewReport => "new_report",
            Outcome::FollowUp => "follow_up",
            Outcome::Information => "information",
            Outcome::Transferred => "transferred",
            Outcome::Abandoned => "abandoned",
        }
    }
}

/// A call as the desk shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Call {
    /// `C-` and 12 hex digits.
    pub id: String,
    /// When it started (ms).
    pub started_at: i64,
    /// When it ended (ms).
    pub ended_at: Option<i64>,
    /// How it ended (`new_report`, `follow_up`, `information`, `transferred`, `abandoned`).
    pub outcome: Option<String>,
    /// What it was about (a tracking code, a task, a district).
    pub about: Option<String>,
    /// Whether the caller was found (their hash is logged).
    pub caller_known: bool,
    /// `operator`, or `timeout` for a call nobody ended.
    pub closed_by: Option<String>,
}

impl From<CallRow> for Call {
    fn from(r: CallRow) -> Call {
        Call {
            id: r.id,
            started_at: r.started_at,
            ended_at: r.ended_at,
            outcome: r.outcome,
            about: r.about,
            caller_known: r.caller.is_some(),
            closed_by: r.closed_by,
        }
    }
}

/// How a call ends.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndCall {
    /// The outcome.
    pub outcome: Outcome,
    /// What it was about: required for `follow_up` (a tracking code or task id) and
    /// `transferred` (a district code); optional otherwise (the new report's code).
    #[serde(default)]
    pub about: Option<String>,
}

/// Closes calls nobody ended within the timeout, as abandoned; returns how many.
pub async fn sweep(desk: &Desk<'_>, now: i64) -> Result<u64, DeskError> {
    let n = records::close_stale(
        &desk.citizens.dispatch.store,
        now.saturating_sub(desk.call_timeout_ms),
        desk.call_timeout_ms,
    )
    .await?;
    if n > 0 {
        tracing::info!(calls = n, "calls nobody ended closed as abandoned");
        metrics::counter!("tarmim_desk_calls_timed_out_total").increment(n);
    }
    Ok(n)
}

/// Starts a call answered by `op`.
pub async fn start(desk: &Desk<'_>, op: &Operator) -> Result<Call, DeskError> {
    let now = now_millis();
    sweep(desk, now).await?;
    let row = CallRow {
        id: format!("C-{:012X}", rand::random::<u64>() & 0xFFFF_FFFF_FFFF),
        operator: op.user_id.clone(),
        caller: None,
        started_at: now,
        ended_at: None,
        outcome: None,
        about: None,
        closed_by: None,
    };
    records::insert_call(&desk.citizens.dispatch.store, &row).await?;
    metrics::counter!("tarmim_desk_calls_total").increment(1);
    Ok(row.into())
}

/// A call id as typed; `None` when it cannot be one.
fn call_id(id: &str) -> Option<String> {
    let hex = id.strip_prefix("C-")?;
    (hex.len() == 12 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| format!("C-{}", hex.to_ascii_uppercase()))
}

/// Loads `op`'s call `id`.
async fn own_call(desk: &Desk<'_>, op: &Operator, id: &str) -> Result<CallRow, DeskError> {
    let unknown = || DeskError::NotFound(format!("no call {id:?}"));
    let id = call_id(id).ok_or_else(unknown)?;
    let row = records::call(&desk.citizens.dispatch.store, &id)
        .await?
        .ok_or_else(unknown)?;
    if row.operator != op.user_id {
        return Err(DeskError::Forbidden(
            "this call was taken by another operator".into(),
        ));
    }
    Ok(row)
}

/// Reads `about` for `outcome`.
async fn about(
    desk: &Desk<'_>,
    outcome: Outcome,
    about: Option<&str>,
) -> Result<Option<String>, DeskError> {
    let about = about.map(str::trim).filter(|a| !a.is_empty());
    match outcome {
        Outcome::FollowUp => {
            let Some(a) = about else {
                return Err(DeskError::Invalid(
                    "a follow-up names the report asked about (its tracking code or task id)"
                        .into(),
                ));
            };
            match super::callers::parse(a)? {
                super::callers::Query::Code(c) => Ok(Some(codes::display(&c))),
                super::callers::Query::Task(t) => Ok(Some(t.to_string())),
                super::callers::Query::Phone(_) => Err(DeskError::Invalid(
                    "a follow-up names a tracking code or a task id, not a phone number".into(),
                )),
            }
        }
        Outcome::Transferred => {
            let Some(a) = about else {
                return Err(DeskError::Invalid(
                    "a transfer names the district the caller was transferred to".into(),
                ));
            };
            let code = a.to_uppercase();
            let known = desk
                .citizens
                .dispatch
                .store
                .districts()
                .await?
                .iter()
                .any(|d| d.code == code);
            if !known {
                return Err(DeskError::Invalid(format!("no district {a:?}")));
            }
            Ok(Some(code))
        }
        Outcome::NewReport | Outcome::Information | Outcome::Abandoned => match about {
            None => Ok(None),
            Some(a) if a.chars().count() <= 100 && !a.contains(['<', '>']) => {
                Ok(Some(a.to_owned()))
            }
            Some(_) => Err(DeskError::Invalid(
                "`about` is at most 100 characters of plain text".into(),
            )),
        },
    }
}

/// Ends `op`'s call `id`.
pub async fn end(desk: &Desk<'_>, op: &Operator, id: &str, e: EndCall) -> Result<Call, DeskError> {
    let now = now_millis();
    sweep(desk, now).await?;
    let row = own_call(desk, op, id).await?;
    let about = about(desk, e.outcome, e.about.as_deref()).await?;
    let db = &desk.citizens.dispatch.store;
    let ended = records::end_call(
        db,
        &row.id,
        e.outcome.as_str(),
        about.as_deref(),
        now.max(row.started_at),
        "operator",
    )
    .await?;
    let row = records::call(db, &row.id)
        .await?
        .ok_or_else(|| DeskError::NotFound(format!("no call {id:?}")))?;
    if !ended {
        let how = match row.closed_by.as_deref() {
            Some("timeout") => "closed by the timeout as abandoned",
            _ => "ended",
        };
        return Err(DeskError::Conflict(format!(
            "call {} was already {how}",
            row.id
        )));
    }
    Ok(row.into())
}

/// Notes the caller found during `op`'s open call `id` (a lookup by phone).
pub async fn found_caller(
    desk: &Desk<'_>,
    op: &Operator,
    id: &str,
    caller: &str,
) -> Result<(), DeskError> {
    let row = own_call(desk, op, id).await?;
    records::set_caller(&desk.citizens.dispatch.store, &row.id, caller).await?;
    Ok(())
}

/// Calls of one local day.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Day {
    /// `YYYY-MM-DD`, local.
    pub day: String,
    /// Calls started that day.
    pub calls: u64,
    /// Of them, abandoned.
    pub abandoned: u64,
}

/// Reports of one channel.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Channel {
    /// `call_centre`, `web`, `open311`, `crew`, `dispatcher` or `other`.
    pub channel: String,
    /// Reports (tasks and messages) created in the range.
    pub reports: u64,
}

/// The managers' call figures over a local date range.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallFigures {
    /// First day.
    pub from: String,
    /// Last day (included).
    pub to: String,
    /// The city's time zone the days are counted in.
    pub timezone: String,
    /// Calls started in the range.
    pub calls: u64,
    /// Of them, abandoned (by the caller or the timeout).
    pub abandoned: u64,
    /// Calls per local day, every day of the range.
    pub days: Vec<Day>,
    /// Calls per local hour of the day (0–23), over the range.
    pub hours: Vec<u64>,
    /// Average handling time of the calls an operator ended, seconds (none: no such call).
    pub avg_handling_secs: Option<f64>,
    /// Share (0–1) of answered calls resolved at first contact (none: no such call).
    pub first_contact_share: Option<f64>,
    /// Calls by outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// Reports created in the range, by channel.
    pub by_channel: Vec<Channel>,
}

/// Who reads the call figures: managers and admins (the figures are the whole city's).
pub fn check_reader(who: &Identity) -> Result<(), DeskError> {
    match who.role {
        UserRole::Manager | UserRole::Admin => Ok(()),
        _ => Err(DeskError::Forbidden(
            "the call centre's figures are for managers and admins".into(),
        )),
    }
}

/// The figures from `from` to `to` (local dates; defaults as the other analytics).
pub async fn figures(
    desk: &Desk<'_>,
    who: &Identity,
    from: Option<&str>,
    to: Option<&str>,
    timezone: &str,
) -> Result<CallFigures, DeskError> {
    check_reader(who)?;
    let tz = desk.citizens.zone;
    let r: Range = period::range(from, to, tz).map_err(|e| DeskError::Invalid(e.to_string()))?;
    sweep(desk, now_millis()).await?;
    let db = &desk.citizens.dispatch.store;
    let rows = records::calls_between(db, r.start_ms, r.end_ms).await?;
    let mut days: BTreeMap<String, Day> = BTreeMap::new();
    let mut d = r.from;
    while d <= r.to {
        days.insert(
            d.to_string(),
            Day {
                day: d.to_string(),
                calls: 0,
                abandoned: 0,
            },
        );
        d = match d.tomorrow() {
            Ok(n) => n,
            Err(_) => break,
        };
    }
    let mut hours = vec![0u64; 24];
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let (mut handled, mut handled_ms, mut answered, mut resolved, mut abandoned) =
        (0u64, 0i64, 0u64, 0u64, 0u64);
    for c in &rows {
        let Ok(ts) = jiff::Timestamp::from_millisecond(c.started_at) else {
            continue;
        };
        let local = ts.to_zoned(tz.clone());
        let is_abandoned = c.outcome.as_deref() == Some("abandoned");
        if let Some(day) = days.get_mut(&local.date().to_string()) {
            day.calls += 1;
            day.abandoned += u64::from(is_abandoned);
        }
        if let Some(h) = usize::try_from(local.hour())
            .ok()
            .and_then(|h| hours.get_mut(h))
        {
            *h += 1;
        }
        if let Some(o) = &c.outcome {
            *outcomes.entry(o.clone()).or_default() += 1;
        }
        abandoned += u64::from(is_abandoned);
        if c.closed_by.as_deref() == Some("operator") && !is_abandoned {
            answered += 1;
            if let Some(end) = c.ended_at {
                handled += 1;
                handled_ms += end.saturating_sub(c.started_at).max(0);
            }
            if matches!(
                c.outcome.as_deref(),
                Some("new_report" | "follow_up" | "information")
            ) {
                resolved += 1;
            }
        }
    }
    let by_channel = records::reports_by_channel(db, r.start_ms, r.end_ms)
        .await?
        .into_iter()
        .map(|(channel, n)| Channel {
            channel,
            reports: u64::try_from(n).unwrap_or(0),
        })
        .collect();
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    Ok(CallFigures {
        from: r.from.to_string(),
        to: r.to.to_string(),
        timezone: timezone.to_owned(),
        calls: rows.len() as u64,
        abandoned,
        days: days.into_values().collect(),
        hours,
        avg_handling_secs: (handled > 0)
            .then(|| round(handled_ms as f64 / handled as f64 / 1000.0)),
        first_contact_share: (answered > 0).then(|| round(resolved as f64 / answered as f64)),
        outcomes,
        by_channel,
    })
}

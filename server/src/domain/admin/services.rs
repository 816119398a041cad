//! Services as admins manage them: create and edit (code, names in Persian and English,
//! category, description, default priority, SLA terms for every priority and per-priority
//! overrides, Open311 attributes of every datatype), and retire.
//!
//! Retiring a service that still has open tasks is **refused** (409): its open tasks
//! would otherwise belong to a category no one can file, dispatch by skill or see in the
//! Open311 list. Close or recategorise them first. A retired service keeps its row, so
//! closed tasks, statements and analytics still name it; it is no longer offered
//! (`IdentityStore::services` lists services in use only) and its code is not reused.

use super::{Admin, AdminError, opt_text, text};
use crate::domain::penalties::sla;
use crate::storage::admin as store;
use crate::storage::identity::{Service, check_code};
use crate::storage::open311::{self as o311, Attribute, Datatype};
use crate::storage::{Db, IdentityStore};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeSet;
use sync_core::task::Priority;

/// Most attributes a service may ask for, and most values a list attribute may offer.
const MAX_ATTRIBUTES: usize = 50;
const MAX_VALUES: usize = 200;

/// One priority's SLA override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaTerm {
    /// `urgent`, `high`, `normal` or `low`.
    pub priority: String,
    /// Acknowledge within this many minutes (1 to a year; none: the service's term).
    pub ack_minutes: Option<i64>,
    /// Complete within this many minutes (1 to a year; none: the service's term).
    pub complete_minutes: Option<i64>,
}

/// One allowed value of a list attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributeValue {
    /// The key sent by apps.
    pub key: String,
    /// The name shown.
    pub name: String,
}

/// One Open311 attribute of a service definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributeInput {
    /// Its code (`attribute[<code>]`): letters, digits, `_` or `-`, unique in the service.
    pub code: String,
    /// `string`, `number`, `datetime`, `text`, `singlevaluelist` or `multivaluelist`.
    pub datatype: String,
    /// False for an informational attribute that takes no answer (default true).
    #[serde(default = "yes")]
    pub variable: bool,
    /// Whether an answer is required.
    #[serde(default)]
    pub required: bool,
    /// The question.
    pub description: String,
    /// How to answer.
    #[serde(default)]
    pub datatype_description: String,
    /// Allowed values (list datatypes only, at least one).
    #[serde(default)]
    pub values: Vec<AttributeValue>,
}

fn yes() -> bool {
    true
}

/// A service to create, or its new state.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceInput {
    /// `service_code` (a new service's; on an edit, the same as the path's).
    pub code: String,
    /// The name in Persian (Open311's `service_name`).
    pub name: String,
    /// The name in English.
    #[serde(default)]
    pub name_en: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Category (Open311 `group`).
    #[serde(default)]
    pub group: String,
    /// Priority of new requests: `urgent`, `high`, `normal` or `low`.
    pub default_priority: String,
    /// Acknowledge within, for every priority (minutes).
    #[serde(default)]
    pub ack_minutes: Option<i64>,
    /// Complete within, for every priority (minutes).
    #[serde(default)]
    pub complete_minutes: Option<i64>,
    /// Per-priority overrides (a priority not listed has none).
    #[serde(default)]
    pub sla: Vec<SlaTerm>,
    /// Open311 attributes (replace the service's).
    #[serde(default)]
    pub attributes: Vec<AttributeInput>,
}

/// A service as the admin page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AdminService {
    /// Code.
    pub code: String,
    /// Persian name.
    pub name: String,
    /// English name.
    pub name_en: Option<String>,
    /// Description.
    pub description: String,
    /// Category.
    pub group: String,
    /// Default priority.
    pub default_priority: String,
    /// Acknowledge within (minutes, every priority).
    pub ack_minutes: Option<i64>,
    /// Complete within (minutes, every priority).
    pub complete_minutes: Option<i64>,
    /// Per-priority overrides.
    pub sla: Vec<SlaTerm>,
    /// Open311 attributes.
    pub attributes: Vec<AttributeInput>,
    /// When it was retired (ms since the epoch).
    pub retired_at: Option<i64>,
}

fn priority(p: &str) -> Result<Priority, AdminError> {
    Priority::parse(p).ok_or_else(|| {
        AdminError::Invalid(format!(
            "unknown priority {p:?}: urgent, high, normal or low"
        ))
    })
}

/// Checks a pair of SLA terms (1 minute to a year; acknowledging no later than
/// completing).
pub fn check_terms(ack: Option<i64>, complete: Option<i64>) -> Result<(), AdminError> {
    sla::check_minutes("acknowledge within", ack)?;
    sla::check_minutes("complete within", complete)?;
    if let (Some(a), Some(c)) = (ack, complete)
        && a > c
    {
        return Err(AdminError::Invalid(format!(
            "acknowledge within ({a} min) cannot be longer than complete within ({c} min)"
        )));
    }
    Ok(())
}

/// Checks attributes and turns them into their stored form: unique codes, a known
/// datatype, values for lists only (unique keys).
pub fn check_attributes(attrs: &[AttributeInput]) -> Result<Vec<Attribute>, AdminError> {
    if attrs.len() > MAX_ATTRIBUTES {
        return Err(AdminError::Invalid(format!(
            "at most {MAX_ATTRIBUTES} attributes"
        )));
    }
    let mut codes = BTreeSet::new();
    let mut out = Vec::with_capacity(attrs.len());
    for (i, a) in attrs.iter().enumerate() {
        let code = a.code.trim();
        if code.is_empty()
            || code.len() > 64
            || !code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(AdminError::Invalid(format!(
                "attribute code {code:?} must be 1 to 64 letters, digits, _ or -"
            )));
        }
        if !codes.insert(code.to_owned()) {
            return Err(AdminError::Invalid(format!(
                "two attributes have the code {code:?}"
            )));
        }
        let datatype = Datatype::parse(a.datatype.trim()).map_err(|_| {
            AdminError::Invalid(format!(
                "attribute {code:?}: datatype {:?} is not string, number, datetime, text, \
                 singlevaluelist or multivaluelist",
                a.datatype
            ))
        })?;
        let list = matches!(
            datatype,
            Datatype::SingleValueList | Datatype::MultiValueList
        );
        if list && a.values.is_empty() {
            return Err(AdminError::Invalid(format!(
                "attribute {code:?}: a list needs at least one value"
            )));
        }
        if !list && !a.values.is_empty() {
            return Err(AdminError::Invalid(format!(
                "attribute {code:?}: only list datatypes have values"
            )));
        }
        if a.values.len() > MAX_VALUES {
            return Err(AdminError::Invalid(format!(
                "attribute {code:?}: at most {MAX_VALUES} values"
            )));
        }
        let mut keys = BTreeSet::new();
        let mut values = Vec::with_capacity(a.values.len());
        for v in &a.values {
            let key = text(
                &format!("attribute {code:?}: a value's key"),
                &v.key,
                1,
                100,
            )?;
            if !keys.insert(key.clone()) {
                return Err(AdminError::Invalid(format!(
                    "attribute {code:?}: two values have the key {key:?}"
                )));
            }
            values.push((
                key,
                text(
                    &format!("attribute {code:?}: a value's name"),
                    &v.name,
                    1,
                    200,
                )?,
            ));
        }
        out.push(Attribute {
            code: code.to_owned(),
            variable: a.variable,
            datatype,
            required: a.required && a.variable,
            datatype_description: text(
                "an attribute's datatype description",
                &a.datatype_description,
                0,
                500,
            )?,
            order: i64::try_from(i).unwrap_or(i64::MAX) + 1,
            description: text(
                &format!("attribute {code:?}: the question"),
                &a.description,
                1,
                500,
            )?,
            values,
        });
    }
    Ok(out)
}

/// An input, checked: the row, the English name, the overrides and the attributes.
struct Checked {
    service: Service,
    name_en: Option<String>,
    sla: Vec<(Priority, Option<i64>, Option<i64>)>,
    attributes: Vec<Attribute>,
}

fn check(input: &ServiceInput) -> Result<Checked, AdminError> {
    let code = input.code.trim();
    check_code("service code", code)?;
    check_terms(input.ack_minutes, input.complete_minutes)?;
    let mut seen = BTreeSet::new();
    let mut overrides = Vec::new();
    for t in &input.sla {
        let p = priority(&t.priority)?;
        if !seen.insert(p.as_str()) {
            return Err(AdminError::Invalid(format!(
                "two SLA overrides for priority {}",
                p.as_str()
            )));
        }
        check_terms(t.ack_minutes, t.complete_minutes)?;
        overrides.push((p, t.ack_minutes, t.complete_minutes));
    }
    Ok(Checked {
        service: Service {
            code: code.to_owned(),
            name: text("the Persian name", &input.name, 1, 200)?,
            description: text("the description", &input.description, 0, 2000)?,
            group: text("the category", &input.group, 0, 100)?,
            default_priority: priority(&input.default_priority)?,
            ack_minutes: input.ack_minutes,
            complete_minutes: input.complete_minutes,
        },
        name_en: opt_text("the English name", input.name_en.as_deref(), 200)?,
        sla: overrides,
        attributes: check_attributes(&input.attributes)?,
    })
}

/// Every service, retired ones too, with overrides and attributes.
pub async fn list(db: &Db) -> Result<Vec<AdminService>, AdminError> {
    let rows = store::services(db).await?;
    let overrides = store::sla_overrides(db).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let attributes = o311::attributes(db, &r.code)
            .await?
            .into_iter()
            .map(|a| AttributeInput {
                code: a.code,
                datatype: a.datatype.as_str().to_owned(),
                variable: a.variable,
                required: a.required,
                description: a.description,
                datatype_description: a.datatype_description,
                values: a
                    .values
                    .into_iter()
                    .map(|(key, name)| AttributeValue { key, name })
                    .collect(),
            })
            .collect();
        out.push(AdminService {
            sla: overrides
                .iter()
                .filter(|o| o.0 == r.code && (o.2.is_some() || o.3.is_some()))
                .map(|o| SlaTerm {
                    priority: o.1.clone(),
                    ack_minutes: o.2,
                    complete_minutes: o.3,
                })
                .collect(),
            attributes,
            code: r.code,
            name: r.name,
            name_en: r.name_en,
            description: r.description,
            group: r.grp,
            default_priority: r.default_priority,
            ack_minutes: r.ack_minutes,
            complete_minutes: r.complete_minutes,
            retired_at: r.retired_at,
        });
    }
    Ok(out)
}

async fn find(db: &Db, code: &str) -> Result<Option<AdminService>, AdminError> {
    Ok(list(db).await?.into_iter().find(|s| s.code == code))
}

/// Stores a checked service: the row, its English name, every priority's override (a
/// priority not given is cleared) and its attributes.
async fn store_checked(db: &Db, c: &Checked) -> Result<(), AdminError> {
    let code = &c.service.code;
    db.upsert_service(&c.service).await?;
    store::set_service_name_en(db, code, c.name_en.as_deref()).await?;
    for p in [
        Priority::Urgent,
        Priority::High,
        Priority::Normal,
        Priority::Low,
    ] {
        let (a, done) = c
            .sla
            .iter()
            .find(|o| o.0 == p)
            .map_or((None, None), |o| (o.1, o.2));
        crate::storage::penalties::set_sla(db, code, Some(p.as_str()), a, done).await?;
    }
    o311::set_attributes(db, code, &c.attributes).await?;
    Ok(())
}

/// Creates a service; its code must be new (a retired service's code is not reused).
pub async fn create(db: &Db, by: &Admin, input: &ServiceInput) -> Result<AdminService, AdminError> {
    let c = check(input)?;
    if find(db, &c.service.code).await?.is_some() {
        return Err(AdminError::Conflict(format!(
            "a service {:?} exists already",
            c.service.code
        )));
    }
    store_checked(db, &c).await?;
    by.record(db, "service_create", &c.service.code, json!(summary(&c)))
        .await;
    find(db, &c.service.code)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no service {:?}", c.service.code)))
}

/// Replaces a service in use with `input` (whose code must be the same).
pub async fn edit(
    db: &Db,
    by: &Admin,
    code: &str,
    input: &ServiceInput,
) -> Result<AdminService, AdminError> {
    let existing = in_use(db, code).await?;
    let c = check(input)?;
    if c.service.code != existing.code {
        return Err(AdminError::Invalid(format!(
            "a service's code cannot change ({:?} to {:?})",
            existing.code, c.service.code
        )));
    }
    store_checked(db, &c).await?;
    by.record(db, "service_edit", code, json!(summary(&c)))
        .await;
    in_use(db, code).await
}

async fn in_use(db: &Db, code: &str) -> Result<AdminService, AdminError> {
    match find(db, code).await? {
        Some(s) if s.retired_at.is_none() => Ok(s),
        Some(_) => Err(AdminError::Conflict(format!("service {code:?} is retired"))),
        None => Err(AdminError::NotFound(format!("no service {code:?}"))),
    }
}

fn summary(c: &Checked) -> serde_json::Value {
    json!({
        "name": c.service.name, "name_en": c.name_en, "group": c.service.group,
        "default_priority": c.service.default_priority.as_str(),
        "ack_minutes": c.service.ack_minutes, "complete_minutes": c.service.complete_minutes,
        "sla": c.sla.iter().map(|o| json!([o.0.as_str(), o.1, o.2])).collect::<Vec<_>>(),
        "attributes": c.attributes.iter().map(|a| json!([a.code, a.datatype.as_str()])).collect::<Vec<_>>(),
    })
}

/// Sets a service's SLA terms for every priority (`priority` none) or one priority's
/// override; an omitted term is cleared (`tarmim-server service sla`).
pub async fn set_sla(
    db: &Db,
    by: &Admin,
    code: &str,
    priority_name: Option<&str>,
    ack_minutes: Option<i64>,
    complete_minutes: Option<i64>,
) -> Result<AdminService, AdminError> {
    let p = priority_name.map(priority).transpose()?;
    check_terms(ack_minutes, complete_minutes)?;
    in_use(db, code).await?;
    sla::set(db, code, p, ack_minutes, complete_minutes).await?;
    by.record(
        db,
        "service_sla",
        code,
        json!({"priority": p.map(|p| p.as_str()), "ack_minutes": ack_minutes,
            "complete_minutes": complete_minutes}),
    )
    .await;
    in_use(db, code).await
}

/// Replaces a service's Open311 attributes.
pub async fn set_attributes(
    db: &Db,
    by: &Admin,
    code: &str,
    attrs: &[AttributeInput],
) -> Result<AdminService, AdminError> {
    let checked = check_attributes(attrs)?;
    in_use(db, code).await?;
    o311::set_attributes(db, code, &checked).await?;
    by.record(
        db,
        "service_attributes",
        code,
        json!(
            checked
                .iter()
                .map(|a| json!([a.code, a.datatype.as_str()]))
                .collect::<Vec<_>>()
        ),
    )
    .await;
    in_use(db, code).await
}

/// Retires a service with no open task (see the module docs).
pub async fn retire(db: &Db, by: &Admin, code: &str) -> Result<AdminService, AdminError> {
    in_use(db, code).await?;
    let open = store::open_tasks_of_service(db, code).await?;
    if open > 0 {
        return Err(AdminError::Conflict(format!(
            "service {code:?} has {open} open task(s): close or recategorise them before \
             retiring it"
        )));
    }
    store::retire_service(db, code, crate::base::time::now_millis()).await?;
    by.record(db, "service_retire", code, json!({})).await;
    find(db, code)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no service {code:?}")))
}

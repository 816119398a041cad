//! Services and their definitions: the `services` table (shared with the console) and,
//! per service, the attributes a citizen is asked for (`open311_attributes`,
//! `open311_attribute_values`), of every GeoReport v2 datatype: `string`, `number`,
//! `datetime`, `text`, `singlevaluelist`, `multivaluelist`. Answers are checked here
//! against the definition.

use super::format::{Node, parse_datetime};
use super::{Open311Error, looks_like_html};
use crate::domain::intake::Kind;
use crate::storage::open311 as records;
use crate::storage::{Db, DbError, IdentityStore, Service};
use std::collections::BTreeMap;

pub use crate::storage::open311::{Attribute, Datatype};

/// One answer, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// One value.
    One(String),
    /// Several values (multivaluelist).
    Many(Vec<String>),
}

/// The prefix of the services that stand for citizens' non-field messages
/// (`msg_complaint`, `msg_criticism`, `msg_suggestion`, `msg_idea`, `msg_thanks`): type
/// `realtime`, no attributes, no location required; filed as messages for a department
/// inbox, never as tasks.
pub const MESSAGE_PREFIX: &str = "msg_";

/// The message kind a service code stands for, if it is a message service.
pub fn message_kind(code: &str) -> Option<Kind> {
    code.strip_prefix(MESSAGE_PREFIX)
        .and_then(Kind::parse)
        .filter(|k| !k.is_field())
}

/// The `services` answer: every service with its `metadata` flag, then the message
/// services.
pub async fn list(db: &Db) -> Result<Node, DbError> {
    let services = db.services().await?;
    let meta = records::services_with_attributes(db).await?;
    let mut items: Vec<Node> = services
        .iter()
        .map(|s| service_node(s, meta.contains(&s.code)))
        .collect();
    for kind in Kind::ALL.into_iter().filter(|k| !k.is_field()) {
        let code = format!("{MESSAGE_PREFIX}{}", kind.as_str());
        items.push(service_node(
            &Service {
                code,
                name: kind.name().to_owned(),
                description: format!(
                    "{}: no location required (lat/long optional); read and answered by staff, \
                     never sent to a field crew",
                    kind.name()
                ),
                group: "messages".to_owned(),
                default_priority: sync_core::task::Priority::Normal,
                ack_minutes: None,
                complete_minutes: None,
            },
            false,
        ));
    }
    Ok(Node::List {
        item: "service",
        items,
    })
}

fn service_node(s: &Service, metadata: bool) -> Node {
    Node::obj([
        ("service_code", Node::text(&s.code)),
        ("service_name", Node::text(&s.name)),
        ("description", Node::text(&s.description)),
        ("metadata", Node::Bool(metadata)),
        ("type", Node::text("realtime")),
        ("keywords", Node::text(s.group.clone())),
        ("group", Node::text(&s.group)),
    ])
}

/// The `service_definition` answer for `code`.
pub async fn definition(db: &Db, code: &str) -> Result<Node, Open311Error> {
    let attrs = if message_kind(code).is_some() {
        Vec::new()
    } else {
        let services = db.services().await?;
        if !services.iter().any(|s| s.code == code) {
            return Err(Open311Error::NotFound(format!("no service {code:?}")));
        }
        records::attributes(db, code).await?
    };
    Ok(Node::obj([
        ("service_code", Node::text(code)),
        (
            "attributes",
            Node::List {
                item: "attribute",
                items: attrs.iter().map(attribute_node).collect(),
            },
        ),
    ]))
}

fn attribute_node(a: &Attribute) -> Node {
    let mut n = Node::obj([
        ("variable", Node::Bool(a.variable)),
        ("code", Node::text(&a.code)),
        ("datatype", Node::text(a.datatype.as_str())),
        ("required", Node::Bool(a.required)),
        (
            "datatype_description",
            Node::opt_text((!a.datatype_description.is_empty()).then_some(&a.datatype_description)),
        ),
        ("order", Node::Int(a.order)),
        ("description", Node::text(&a.description)),
    ]);
    if matches!(
        a.datatype,
        Datatype::SingleValueList | Datatype::MultiValueList
    ) {
        n.push(
            "values",
            Node::List {
                item: "value",
                items: a
                    .values
                    .iter()
                    .map(|(k, v)| Node::obj([("key", Node::text(k)), ("name", Node::text(v))]))
                    .collect(),
            },
        );
    }
    n
}

/// Checks the answers given (`attribute[code]` → values) against the definition: every
/// required variable attribute answered, each answer of its datatype. Answers to codes
/// the service does not define are ignored (clients such as FixMyStreet send extra ones).
pub fn check_answers(
    attrs: &[Attribute],
    given: &BTreeMap<String, Vec<String>>,
    city: &jiff::tz::TimeZone,
) -> Result<BTreeMap<String, Answer>, Open311Error> {
    let bad = |m: String| Err(Open311Error::BadRequest(m));
    let mut out = BTreeMap::new();
    for a in attrs.iter().filter(|a| a.variable) {
        let vals: Vec<&str> = given
            .get(&a.code)
            .map(|v| {
                v.iter()
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if vals.is_empty() {
            if a.required {
                return bad(format!(
                    "attribute[{}] is required: {}",
                    a.code, a.description
                ));
            }
            continue;
        }
        if a.datatype != Datatype::MultiValueList && vals.len() > 1 {
            return bad(format!("attribute[{}] takes one value", a.code));
        }
        let one = vals[0];
        match a.datatype {
            Datatype::String | Datatype::Text => {
                let max = if a.datatype == Datatype::String {
                    1000
                } else {
                    4000
                };
                if one.chars().count() > max {
                    return bad(format!("attribute[{}] is at most {max} characters", a.code));
                }
                if looks_like_html(one) {
                    return bad(format!(
                        "attribute[{}] must be plain text, not HTML",
                        a.code
                    ));
                }
            }
            Datatype::Number => {
                if !one.parse::<f64>().is_ok_and(f64::is_finite) {
                    return bad(format!("attribute[{}] must be a number", a.code));
                }
            }
            Datatype::Datetime => {
                if parse_datetime(one, city).is_none() {
                    return bad(format!(
                        "attribute[{}] must be an ISO 8601 datetime (2026-11-29T10:00:00+03:30)",
                        a.code
                    ));
                }
            }
            Datatype::SingleValueList | Datatype::MultiValueList => {
                for v in &vals {
                    if !a.values.iter().any(|(k, _)| k == v) {
                        let keys: Vec<&str> = a.values.iter().map(|(k, _)| k.as_str()).collect();
                        return bad(format!(
                            "attribute[{}]: {v:?} is not one of {}",
                            a.code,
                            keys.join(", ")
                        ));
                    }
                }
            }
        }
        let answer = if a.datatype == Datatype::MultiValueList {
            Answer::Many(vals.iter().map(|s| (*s).to_owned()).collect())
        } else {
            Answer::One(one.to_owned())
        };
        out.insert(a.code.clone(), answer);
    }
    Ok(out)
}

/// The demo services' definitions: together they use every datatype.
pub fn demo_attributes() -> Vec<(&'static str, Vec<Attribute>)> {
    let attr =
        |code: &str, dt: Datatype, required: bool, order: i64, q: &str, values: &[(&str, &str)]| {
            Attribute {
                code: code.into(),
                variable: true,
                datatype: dt,
                required,
                datatype_description: String::new(),
                order,
                description: q.into(),
                values: values
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            }
        };
    vec![
        (
            "pothole",
            vec![
                attr(
                    "size",
                    Datatype::SingleValueList,
                    true,
                    1,
                    "How big is the pothole?",
                    &[
                        ("small", "Smaller than a plate"),
                        ("medium", "Up to a wheel"),
                        ("large", "Larger than a wheel"),
                    ],
                ),
                attr(
                    "depth_cm",
                    Datatype::Number,
                    false,
                    2,
                    "About how deep is it, in centimetres?",
                    &[],
                ),
                attr(
                    "hazards",
                    Datatype::MultiValueList,
                    false,
                    3,
                    "Is anything else wrong there?",
                    &[
                        ("water", "Standing water"),
                        ("traffic", "Cars swerve"),
                        ("cyclists", "Dangerous for cyclists"),
                    ],
                ),
            ],
        ),
        (
            "streetlight",
            vec![
                attr(
                    "pole_number",
                    Datatype::String,
                    false,
                    1,
                    "The number on the pole, if any",
                    &[],
                ),
                attr(
                    "noticed_at",
                    Datatype::Datetime,
                    false,
                    2,
                    "Since when has it been out?",
                    &[],
                ),
            ],
        ),
        (
            "violation",
            vec![attr(
                "details",
                Datatype::Text,
                false,
                1,
                "What is being built, and since when?",
                &[],
            )],
        ),
        (
            "garbage",
            vec![Attribute {
                code: "notice".into(),
                variable: false,
                datatype: Datatype::String,
                required: false,
                datatype_description: String::new(),
                order: 0,
                description: "Bins are emptied every night between 21:00 and 02:00.".into(),
                values: vec![],
            }],
        ),
    ]
}

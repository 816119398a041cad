//! Services and their definitions: the `services` table (shared with the console) and,
//! per service, the attributes a citizen is asked for (`open311_attributes`,
//! `open311_attribute_values`), of every GeoReport v2 datatype: `string`, `number`,
//! `datetime`, `text`, `singlevaluelist`, `multivaluelist`. Answers are checked here
//! against the definition.

use super::format::{Node, parse_datetime};
use super::{Open311Error, looks_like_html};
use crate::storage::{Db, DbError, IdentityStore, Service, on_pool};
use std::collections::BTreeMap;

/// An attribute's datatype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datatype {
    /// A line of text.
    String,
    /// A number.
    Number,
    /// An ISO 8601 datetime.
    Datetime,
    /// Longer text.
    Text,
    /// One key of the listed values.
    SingleValueList,
    /// Any keys of the listed values.
    MultiValueList,
}

impl Datatype {
    /// The GeoReport name.
    pub fn as_str(self) -> &'static str {
        match self {
            Datatype::String => "string",
            Datatype::Number => "number",
            Datatype::Datetime => "datetime",
            Datatype::Text => "text",
            Datatype::SingleValueList => "singlevaluelist",
            Datatype::MultiValueList => "multivaluelist",
        }
    }

    fn parse(s: &str) -> Result<Datatype, DbError> {
        Ok(match s {
            "string" => Datatype::String,
            "number" => Datatype::Number,
            "datetime" => Datatype::Datetime,
            "text" => Datatype::Text,
            "singlevaluelist" => Datatype::SingleValueList,
            "multivaluelist" => Datatype::MultiValueList,
            other => return Err(DbError::Corrupt(format!("attribute datatype {other:?}"))),
        })
    }
}

/// One attribute of a service definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    /// Its code (`attribute[<code>]`).
    pub code: String,
    /// False for an informational attribute that takes no answer.
    pub variable: bool,
    /// Its datatype.
    pub datatype: Datatype,
    /// Whether an answer is required.
    pub required: bool,
    /// How to answer.
    pub datatype_description: String,
    /// Display order.
    pub order: i64,
    /// The question.
    pub description: String,
    /// Allowed values for lists: (key, name).
    pub values: Vec<(String, String)>,
}

/// One answer, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// One value.
    One(String),
    /// Several values (multivaluelist).
    Many(Vec<String>),
}

/// The attributes of `service`, in order.
pub async fn attributes(db: &Db, service: &str) -> Result<Vec<Attribute>, DbError> {
    type Row = (String, bool, String, bool, String, i64, String);
    let rows: Vec<Row> = on_pool!(db, pool => sqlx::query_as(
        "SELECT code, variable, datatype, required, datatype_description, CAST(ord AS BIGINT), \
         description FROM open311_attributes WHERE service_code = $1 ORDER BY ord, code",
    )
    .bind(service)
    .fetch_all(pool)
    .await?);
    let values: Vec<(String, String, String)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT attribute, key, name FROM open311_attribute_values WHERE service_code = $1 \
         ORDER BY attribute, ord, key",
    )
    .bind(service)
    .fetch_all(pool)
    .await?);
    rows.into_iter()
        .map(
            |(code, variable, datatype, required, dd, order, description)| {
                Ok(Attribute {
                    values: values
                        .iter()
                        .filter(|v| v.0 == code)
                        .map(|v| (v.1.clone(), v.2.clone()))
                        .collect(),
                    code,
                    variable,
                    datatype: Datatype::parse(&datatype)?,
                    required,
                    datatype_description: dd,
                    order,
                    description,
                })
            },
        )
        .collect()
}

/// Services that have at least one attribute (their `metadata` is true).
pub async fn with_metadata(db: &Db) -> Result<Vec<String>, DbError> {
    let rows: Vec<(String,)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT DISTINCT service_code FROM open311_attributes ORDER BY service_code",
    )
    .fetch_all(pool)
    .await?);
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Replaces the attributes of `service`.
pub async fn set_attributes(db: &Db, service: &str, attrs: &[Attribute]) -> Result<(), DbError> {
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query("DELETE FROM open311_attribute_values WHERE service_code = $1")
            .bind(service)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM open311_attributes WHERE service_code = $1")
            .bind(service)
            .execute(&mut *tx)
            .await?;
        for a in attrs {
            sqlx::query(
                "INSERT INTO open311_attributes (service_code, code, variable, datatype, \
                 required, datatype_description, ord, description) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(service)
            .bind(&a.code)
            .bind(a.variable)
            .bind(a.datatype.as_str())
            .bind(a.required)
            .bind(&a.datatype_description)
            .bind(a.order as i32)
            .bind(&a.description)
            .execute(&mut *tx)
            .await?;
            for (i, (key, name)) in a.values.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO open311_attribute_values (service_code, attribute, key, name, \
                     ord) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(service)
                .bind(&a.code)
                .bind(key)
                .bind(name)
                .bind(i as i32)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
    });
    Ok(())
}

/// The `services` answer: every service with its `metadata` flag.
pub async fn list(db: &Db) -> Result<Node, DbError> {
    let services = db.services().await?;
    let meta = with_metadata(db).await?;
    Ok(Node::List {
        item: "service",
        items: services
            .iter()
            .map(|s| service_node(s, meta.contains(&s.code)))
            .collect(),
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
    let services = db.services().await?;
    if !services.iter().any(|s| s.code == code) {
        return Err(Open311Error::NotFound(format!("no service {code:?}")));
    }
    let attrs = attributes(db, code).await?;
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

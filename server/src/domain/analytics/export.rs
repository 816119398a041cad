//! CSV export (RFC 4180) of the very rows the JSON answers carry: each row is serialised
//! to JSON and flattened, so the CSV cannot drift from the JSON. Nested objects become
//! `parent_child` columns (`sla_urgent_pct`), arrays `name_1`, `name_2`, … (`rating_counts_1`
//! is the number of 1-star ratings), null an empty cell, `true`/`false` as such.

use csv::{Terminator, WriterBuilder};
use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;

/// A JSON value that keeps object fields in the order they were written (the struct's
/// field order), so CSV columns come out in the JSON's order.
enum Node {
    Leaf(String),
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Leaf(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Leaf(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Leaf(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Leaf(
            serde_json::Number::from_f64(v)
                .map(|n| n.to_string())
                .unwrap_or_default(),
        ))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Leaf(v.to_owned()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Leaf(String::new()))
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Leaf(String::new()))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
        let mut out = Vec::new();
        while let Some(n) = a.next_element::<Node>()? {
            out.push(n);
        }
        Ok(Node::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = a.next_entry::<String, Node>()? {
            out.push((k, v));
        }
        Ok(Node::Map(out))
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

fn flatten(prefix: &str, v: &Node, out: &mut Vec<(String, String)>) {
    let name = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}_{k}")
        }
    };
    match v {
        Node::Map(m) => {
            for (k, v) in m {
                flatten(&name(k), v, out);
            }
        }
        Node::Seq(a) => {
            for (i, v) in a.iter().enumerate() {
                flatten(&name(&(i + 1).to_string()), v, out);
            }
        }
        Node::Leaf(s) => out.push((prefix.to_owned(), s.clone())),
    }
}

/// One flattened row: (column, cell) in the JSON's field order.
pub fn flat_row<T: Serialize>(row: &T) -> Vec<(String, String)> {
    let node = serde_json::to_string(row)
        .ok()
        .and_then(|s| serde_json::from_str::<Node>(&s).ok())
        .unwrap_or(Node::Leaf(String::new()));
    let mut out = Vec::new();
    flatten("", &node, &mut out);
    out
}

/// A cell as a spreadsheet may safely open it: a leading `=`, `+`, `@` or `-` is
/// prefixed with `'` so it is not run as a formula (numbers, negative ones too, are left
/// alone). Quoting is the CSV writer's.
fn guard(s: &str) -> Cow<'_, str> {
    let risky = s.starts_with(['=', '+', '@']) || (s.starts_with('-') && s.parse::<f64>().is_err());
    if risky {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// The CSV of `rows`; `template` gives the header when there are no rows.
pub fn csv<T: Serialize>(rows: &[T], template: &T) -> String {
    let header = flat_row(rows.first().unwrap_or(template))
        .into_iter()
        .map(|(k, _)| k);
    let lines = rows
        .iter()
        .map(|r| flat_row(r).into_iter().map(|(_, v)| v).collect::<Vec<_>>());
    let mut out = WriterBuilder::new()
        .terminator(Terminator::CRLF)
        // Rows are as wide as their own arrays.
        .flexible(true)
        .from_writer(Vec::new());
    for line in std::iter::once(header.collect()).chain(lines) {
        if out
            .write_record(line.iter().map(|c| guard(c).into_owned()))
            .is_err()
        {
            break;
        }
    }
    // Into memory, from UTF-8 cells: neither step can fail.
    out.into_inner()
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Default)]
    struct R {
        key: String,
        n: Option<f64>,
        counts: [i64; 2],
        sla: S,
    }
    #[derive(Serialize, Default)]
    struct S {
        urgent: i64,
    }

    #[test]
    fn nested_fields_flatten_and_cells_are_quoted() {
        let rows = [R {
            key: "a,\"b\"".into(),
            n: None,
            counts: [1, 2],
            sla: S { urgent: 3 },
        }];
        assert_eq!(
            csv(&rows, &R::default()),
            "key,n,counts_1,counts_2,sla_urgent\r\n\"a,\"\"b\"\"\",,1,2,3\r\n"
        );
        assert_eq!(
            csv::<R>(&[], &R::default()),
            "key,n,counts_1,counts_2,sla_urgent\r\n"
        );
        assert_eq!(guard("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(guard("-3.5"), "-3.5");
        assert_eq!(guard("-x"), "'-x");
        let risky = [R {
            key: "=1+1\nb".into(),
            ..R::default()
        }];
        assert_eq!(csv(&risky, &R::default()).lines().nth(1), Some("\"'=1+1"));
    }
}

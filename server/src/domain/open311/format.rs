//! Writing Open311 answers as XML or JSON from one tree, so both formats always carry
//! the same fields.
//!
//! A [`Node`] is text, a number, a boolean, nothing, an object (ordered fields) or a list
//! (whose XML items are named by the list). JSON: objects, arrays, `null`. XML: the
//! declaration `<?xml version="1.0" encoding="UTF-8"?>`, one element per field, list
//! items as repeated child elements, nothing as an empty element; text is escaped (by
//! `quick-xml`'s writer) and characters XML 1.0 cannot carry (control characters) are
//! replaced by U+FFFD, so the output is always well-formed whatever a citizen typed.
//!
//! Datetimes are ISO 8601 in the city's zone (`TARMIM_TIMEZONE`), with the offset in
//! force at that instant (`2026-11-29T21:30:00+03:30`; in a zone with daylight saving
//! the offset changes with the season), by `crate::base::time`.

use jiff::tz::TimeZone;
use quick_xml::Writer;
use quick_xml::events::BytesText;
use std::borrow::Cow;
use std::io;
use sync_core::Millis;

/// The two formats, chosen by the path's suffix (`.xml`, `.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/xml`.
    Xml,
    /// `application/json`.
    Json,
}

impl Format {
    /// The format of a suffix (`xml`, `json`), if known.
    pub fn from_suffix(s: &str) -> Option<Format> {
        match s {
            "xml" => Some(Format::Xml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    /// Splits `name.format` (the last dot); `None` when there is no known suffix.
    pub fn split(file: &str) -> Option<(&str, Format)> {
        let (name, suffix) = file.rsplit_once('.')?;
        Some((name, Format::from_suffix(suffix)?))
    }

    /// The media type of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Xml => "text/xml; charset=utf-8",
            Format::Json => "application/json; charset=utf-8",
        }
    }
}

/// One value of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Text (a JSON string).
    Text(String),
    /// An integer.
    Int(i64),
    /// A number.
    Num(f64),
    /// A boolean.
    Bool(bool),
    /// Nothing: JSON `null`, an empty XML element.
    Null,
    /// Named fields, in order.
    Obj(Vec<(String, Node)>),
    /// A list; in XML each item is an element named `item`.
    List {
        /// The XML name of each item.
        item: &'static str,
        /// The items.
        items: Vec<Node>,
    },
}

impl Node {
    /// Text.
    pub fn text(s: impl Into<String>) -> Node {
        Node::Text(s.into())
    }

    /// Text, or nothing.
    pub fn opt_text(s: Option<impl Into<String>>) -> Node {
        s.map_or(Node::Null, |s| Node::Text(s.into()))
    }

    /// An object from `(name, value)` pairs.
    pub fn obj<const N: usize>(fields: [(&str, Node); N]) -> Node {
        Node::Obj(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// Adds a field to an object (no-op on other nodes).
    pub fn push(&mut self, name: &str, value: Node) {
        if let Node::Obj(f) = self {
            f.push((name.to_owned(), value));
        }
    }

    /// The spec's error body: one `error` with its `code` (the HTTP status) and
    /// `description`.
    pub fn error(code: u16, description: String) -> Node {
        Node::List {
            item: "error",
            items: vec![Node::obj([
                ("code", Node::Int(i64::from(code))),
                ("description", Node::Text(description)),
            ])],
        }
    }

    /// The JSON value.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Node::Text(s) => Value::String(s.clone()),
            Node::Int(i) => Value::from(*i),
            Node::Num(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
            Node::Bool(b) => Value::Bool(*b),
            Node::Null => Value::Null,
            Node::Obj(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            Node::List { items, .. } => Value::Array(items.iter().map(Node::to_json).collect()),
        }
    }

    /// The XML document with `root` as its root element.
    pub fn to_xml(&self, root: &str) -> String {
        let head = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n".to_vec();
        let mut w = Writer::new(head);
        // Into memory, from UTF-8 text: neither step can fail.
        if write_element(&mut w, root, self).is_err() {
            return String::new();
        }
        let mut out = String::from_utf8(w.into_inner()).unwrap_or_default();
        out.push('\n');
        out
    }

    /// The body in `format` (`root` names the XML root element).
    pub fn render(&self, format: Format, root: &str) -> String {
        match format {
            Format::Xml => self.to_xml(root),
            Format::Json => self.to_json().to_string(),
        }
    }
}

fn write_element(w: &mut Writer<Vec<u8>>, name: &str, node: &Node) -> io::Result<()> {
    // Names come from our code, never from input; still, keep them XML names.
    let name = if is_xml_name(name) { name } else { "value" };
    let element = w.create_element(name);
    match node {
        Node::Null => element.write_empty(),
        Node::Obj(fields) => element
            .write_inner_content(|w| fields.iter().try_for_each(|(k, v)| write_element(w, k, v))),
        Node::List { item, items } => element
            .write_inner_content(|w| items.iter().try_for_each(|v| write_element(w, item, v))),
        Node::Text(s) => element.write_text_content(BytesText::new(&xml_chars(s))),
        Node::Int(i) => element.write_text_content(BytesText::new(&i.to_string())),
        Node::Num(n) if n.is_finite() => element.write_text_content(BytesText::new(&n.to_string())),
        Node::Num(_) => element.write_text_content(BytesText::new("")),
        Node::Bool(b) => {
            element.write_text_content(BytesText::new(if *b { "true" } else { "false" }))
        }
    }
    .map(|_| ())
}

fn is_xml_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Text XML 1.0 can carry: control characters (but tab and line ends) and the
/// non-characters U+FFFE and U+FFFF become U+FFFD. Escaping is the writer's.
fn xml_chars(s: &str) -> Cow<'_, str> {
    let forbidden = |c: char| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    };
    if s.contains(forbidden) {
        Cow::Owned(s.replace(forbidden, "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// A time as ISO 8601 in the city's zone (`…T21:30:00+03:30`).
pub fn datetime(ms: Millis, city: &TimeZone) -> String {
    crate::base::time::rfc3339(ms, city)
}

/// A datetime node, or nothing.
pub fn opt_datetime(ms: Option<Millis>, city: &TimeZone) -> Node {
    ms.map_or(Node::Null, |ms| Node::Text(datetime(ms, city)))
}

/// Parses an ISO 8601 / W3C datetime as Open311 clients send it: RFC 3339 with an offset
/// or `Z`; a date and time without an offset (local time in the city's zone); or a bare
/// date (its midnight in the city's zone). Milliseconds since the epoch.
pub fn parse_datetime(s: &str, city: &TimeZone) -> Option<Millis> {
    let s = s.trim();
    if let Some(ms) = crate::base::time::parse_rfc3339(s) {
        return Some(ms);
    }
    // A civil datetime parses from a bare date too (its midnight).
    let local = s.parse::<jiff::civil::DateTime>().ok()?;
    crate::base::time::from_local(local, city)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_carry_the_offset_and_read_back() {
        let utc = TimeZone::UTC;
        let tehran = crate::base::time::zone("Asia/Tehran").unwrap();
        let new_york = crate::base::time::zone("America/New_York").unwrap();
        assert_eq!(datetime(0, &utc), "1970-01-01T00:00:00+00:00");
        assert_eq!(
            datetime(1_795_000_000_000, &tehran),
            "2026-11-18T14:36:40+03:30"
        );
        assert_eq!(datetime(1_000, &new_york), "1969-12-31T19:00:01-05:00");
        // Summer time in New York: the offset follows the date.
        assert_eq!(
            datetime(1_784_000_000_000, &new_york),
            "2026-07-13T23:33:20-04:00"
        );
        let ms = 1_795_000_123_000;
        for z in [&utc, &tehran, &new_york] {
            assert_eq!(parse_datetime(&datetime(ms, z), &utc), Some(ms));
        }
        assert_eq!(
            parse_datetime("2026-05-24T00:00:00Z", &tehran),
            Some(1_779_580_800_000)
        );
        assert_eq!(
            parse_datetime("2026-05-24T03:30:00", &tehran),
            Some(1_779_580_800_000)
        );
        // Without an offset, local time in the zone at that date (summer: -04:00).
        assert_eq!(
            parse_datetime("2026-05-23T20:00:00", &new_york),
            Some(1_779_580_800_000)
        );
        assert_eq!(parse_datetime("2026-05-24", &utc), Some(1_779_580_800_000));
        assert_eq!(parse_datetime("yesterday", &utc), None);
    }

    #[test]
    fn xml_is_escaped_and_control_characters_replaced() {
        let n = Node::List {
            item: "request",
            items: vec![Node::obj([
                (
                    "description",
                    Node::text("a < b & \"c\" 'd' \u{1}\t\u{FFFF}"),
                ),
                ("lat", Node::Num(35.5)),
                ("media_url", Node::Null),
            ])],
        };
        assert_eq!(
            n.to_xml("service_requests"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<service_requests><request>\
             <description>a &lt; b &amp; &quot;c&quot; &apos;d&apos; \u{FFFD}\t\u{FFFD}</description>\
             <lat>35.5</lat>\
             <media_url/></request></service_requests>\n"
        );
        assert_eq!(
            n.to_json().to_string(),
            "[{\"description\":\"a < b & \\\"c\\\" 'd' \\u0001\\t\u{FFFF}\",\"lat\":35.5,\"media_url\":null}]"
        );
    }
}

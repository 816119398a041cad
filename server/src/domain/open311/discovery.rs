//! Service discovery (`discovery.xml`/`.json`): where this endpoint is, which
//! specification it follows and which formats it speaks.

use super::format::Node;

/// When the endpoint's description last changed.
const CHANGESET: &str = "2026-11-29T00:00:00+00:00";

/// The `discovery` answer; `base` is the server's public base URL
/// ([`crate::base::public_url`]).
pub fn discovery(base: &str) -> Node {
    Node::obj([
        ("changeset", Node::text(CHANGESET)),
        ("contact", Node::text("The city's 137 call centre")),
        (
            "key_service",
            Node::text("API keys are issued by the city (tarmim-server open311 key create <name>)"),
        ),
        (
            "endpoints",
            Node::List {
                item: "endpoint",
                items: vec![Node::obj([
                    (
                        "specification",
                        Node::text("http://wiki.open311.org/GeoReport_v2"),
                    ),
                    ("url", Node::Text(format!("{base}/open311/v2"))),
                    ("changeset", Node::text(CHANGESET)),
                    ("type", Node::text("production")),
                    (
                        "formats",
                        Node::List {
                            item: "format",
                            items: vec![Node::text("text/xml"), Node::text("application/json")],
                        },
                    ),
                ])],
            },
        ),
    ])
}

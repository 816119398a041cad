//! The public GIS endpoints on a real server, on both backends: GeoJSON download and OGC
//! API – Features (landing page, conformance, collections, items with bbox, datetime,
//! status, category and paging, single features), public fields only, and every bad
//! parameter answered 400 with a body that says what is wrong.

use reqwest::StatusCode;
use serde_json::Value;
use server::domain::districts::{PropertyNames, parse_geojson};
use server::http::{AppState, RunningServer};
use server::storage::{DistrictStore, IdentityStore};
use std::collections::BTreeSet;
use sync_core::session::{DocCommit, ServerStore};
use sync_core::task::Status;
use tarmim_testing::on_both_backends;
use tarmim_testing::{Fixture, dev, doc, scope, view};

const T0: i64 = 1_780_000_000_000; // 2026-05-28T20:26:40Z
const HOUR: i64 = 3_600_000;

/// Commits a task's projection with a known point, time, status and category.
async fn task(
    f: &Fixture,
    id: &str,
    (lat, lon): (f64, f64),
    created: i64,
    status: Status,
    category: &str,
) {
    let mut v = view(id, Some("D01"), status, Some("C-SECRET-CREW"));
    v.point.lat = lat;
    v.point.lon = lon;
    v.created_at = created;
    v.category = category.into();
    v.description = "private description".into();
    f.db.commit(DocCommit {
        doc: doc(id),
        base_seq: None,
        changes: vec![b"c".to_vec()],
        snapshot: b"s".to_vec(),
        view: v,
        scopes: vec![scope("district:D01")],
        origin: dev("p1"),
    })
    .await
    .unwrap();
}

/// A: in the centre; B: closed tree job north-east; C: south-west; D: by the
/// antimeridian; E00..E19: twenty more far south-west, later.
async fn city(f: &Fixture) {
    let props = PropertyNames {
        code: "code".into(),
        name: "name".into(),
        name_en: Some("name_en".into()),
        region: Some("region".into()),
    };
    f.db.import_districts(&parse_geojson(&server::demo::demo_districts_geojson(), &props).unwrap())
        .await
        .unwrap();
    for s in server::demo::demo_services() {
        f.db.upsert_service(&s).await.unwrap();
    }
    task(f, "T-A", (35.70, 51.40), T0, Status::Queued, "pothole").await;
    task(
        f,
        "T-B",
        (35.75, 51.50),
        T0 + HOUR,
        Status::Completed,
        "tree",
    )
    .await;
    task(
        f,
        "T-C",
        (35.60, 51.30),
        T0 + 2 * HOUR,
        Status::InProgress,
        "pothole",
    )
    .await;
    task(
        f,
        "T-D",
        (-10.0, 179.5),
        T0 + 3 * HOUR,
        Status::Queued,
        "pothole",
    )
    .await;
    for i in 0..20 {
        let id = format!("T-E{i:02}");
        task(
            f,
            &id,
            (35.55, 51.25),
            T0 + 4 * HOUR + i,
            Status::Assigned,
            "garbage",
        )
        .await;
    }
}

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    async fn get(&self, path: &str) -> (StatusCode, String, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        (status, ct, body)
    }

    async fn ids(&self, path: &str) -> Vec<String> {
        let (s, ct, b) = self.get(path).await;
        assert_eq!(s, StatusCode::OK, "{path}: {b}");
        assert_eq!(ct, "application/geo+json", "{path}");
        b["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn es() -> Vec<String> {
    (0..20).map(|i| format!("T-E{i:02}")).collect()
}

async fn start(f: &Fixture) -> (RunningServer, Client) {
    city(f).await;
    let state = AppState::new(f.db.clone(), f.config.clone());
    let server = RunningServer::start(state, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let c = Client {
        base: format!("http://{}", server.addr),
        http: tarmim_testing::http(),
    };
    (server, c)
}

async fn filters(f: &Fixture) {
    let (server, c) = start(f).await;
    let items = "/ogc/collections/tasks/items";

    // bbox (edges included), antimeridian, no bbox.
    assert_eq!(
        c.ids(&format!("{items}?bbox=51.35,35.65,51.45,35.72"))
            .await,
        ids(&["T-A"])
    );
    assert_eq!(
        c.ids(&format!("{items}?bbox=51.40,35.70,51.50,35.75"))
            .await,
        ids(&["T-A", "T-B"])
    );
    assert_eq!(
        c.ids(&format!("{items}?bbox=179,-11,-179,-9")).await,
        ids(&["T-D"])
    );
    assert_eq!(
        c.ids(&format!("{items}?bbox=0,0,1,1")).await,
        Vec::<String>::new()
    );
    assert_eq!(c.ids(&format!("{items}?limit=100")).await.len(), 24);

    // datetime: instant, closed interval, open ends both ways (`..` and empty).
    let t = |ms: i64| jiff::Timestamp::from_millisecond(ms).unwrap().to_string();
    assert_eq!(
        c.ids(&format!("{items}?datetime={}", t(T0))).await,
        ids(&["T-A"])
    );
    assert_eq!(
        c.ids(&format!(
            "{items}?datetime={}/{}",
            t(T0 + HOUR),
            t(T0 + 2 * HOUR)
        ))
        .await,
        ids(&["T-B", "T-C"])
    );
    assert_eq!(
        c.ids(&format!("{items}?datetime=../{}", t(T0 + HOUR)))
            .await,
        ids(&["T-A", "T-B"])
    );
    let mut later = ids(&["T-D"]);
    later.extend(es());
    assert_eq!(
        c.ids(&format!("{items}?datetime={}/..", t(T0 + 3 * HOUR)))
            .await,
        later
    );
    assert_eq!(
        c.ids(&format!("{items}?datetime={}/", t(T0 + 3 * HOUR)))
            .await,
        later
    );
    // An offset in the time: the same instant.
    let tehran = "2026-05-28T23:56:40%2B03:30";
    assert_eq!(
        c.ids(&format!("{items}?datetime={tehran}")).await,
        ids(&["T-A"])
    );

    // Status and category (the GeoJSON download takes the same filters).
    assert_eq!(
        c.ids(&format!("{items}?status=closed")).await,
        ids(&["T-B"])
    );
    assert_eq!(
        c.ids(&format!("{items}?status=open&limit=1000"))
            .await
            .len(),
        23
    );
    assert_eq!(
        c.ids(&format!("{items}?status=in_progress,completed"))
            .await,
        ids(&["T-B", "T-C"])
    );
    assert_eq!(
        c.ids(&format!("{items}?category=tree")).await,
        ids(&["T-B"])
    );
    assert_eq!(
        c.ids("/api/v1/gis/tasks.geojson?category=pothole&bbox=51,35,52,36")
            .await,
        ids(&["T-A", "T-C"])
    );
    assert_eq!(c.ids("/api/v1/gis/tasks.geojson").await.len(), 24);

    server.shutdown().await.unwrap();
}

async fn paging(f: &Fixture) {
    let (server, c) = start(f).await;
    let mut all = ids(&["T-A", "T-B", "T-C", "T-D"]);
    all.extend(es());

    let (s, _, first) = c.get("/ogc/collections/tasks/items?limit=10").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(first["numberMatched"], 24);
    assert_eq!(first["numberReturned"], 10);
    assert!(first["timeStamp"].as_str().unwrap().ends_with('Z'));
    let link = |page: &Value, rel: &str| -> Option<String> {
        page["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == rel)
            .map(|l| l["href"].as_str().unwrap().to_owned())
    };
    assert!(link(&first, "prev").is_none());
    assert!(link(&first, "self").unwrap().starts_with(&c.base));

    // Follow `next` to the end: every task once, in order.
    let mut seen = Vec::new();
    let mut page = first;
    let mut pages = 1;
    loop {
        for f in page["features"].as_array().unwrap() {
            seen.push(f["id"].as_str().unwrap().to_owned());
        }
        let Some(next) = link(&page, "next") else {
            break;
        };
        let path = next.strip_prefix(&c.base).unwrap().to_owned();
        let (s, _, p) = c.get(&path).await;
        assert_eq!(s, StatusCode::OK);
        assert!(link(&p, "prev").is_some());
        page = p;
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(page["numberReturned"], 4);
    assert_eq!(seen, all);

    // Filters survive in the links.
    let (_, _, p) = c
        .get("/ogc/collections/tasks/items?limit=5&category=garbage")
        .await;
    assert_eq!(p["numberMatched"], 20);
    let next = link(&p, "next").unwrap();
    assert!(
        next.contains("category=garbage") && next.contains("offset=5"),
        "{next}"
    );
    let (_, _, p2) = c.get(next.strip_prefix(&c.base).unwrap()).await;
    assert_eq!(p2["features"][0]["id"], "T-E05");

    server.shutdown().await.unwrap();
}

async fn bad_input(f: &Fixture) {
    let (server, c) = start(f).await;
    for (query, words) in [
        ("bbox=1,2,3", "bbox"),
        ("bbox=a,b,c,d", "bbox"),
        ("bbox=0,10,1,0", "bbox"),
        ("bbox=0,0,200,1", "longitude"),
        ("bbox=0,-95,1,1", "latitude"),
        ("datetime=yesterday", "datetime"),
        ("datetime=2026-01-01", "datetime"),
        (
            "datetime=2026-02-01T00:00:00Z/2026-01-01T00:00:00Z",
            "ends before",
        ),
        ("datetime=../..", "datetime"),
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
        ("limit=ten", "limit"),
        ("limit=-5", "limit"),
        ("offset=-1", "offset"),
        ("status=lost", "status"),
        ("f=html", "f="),
        ("limit=1&limit=2", "limit"),
    ] {
        for path in ["/ogc/collections/tasks/items", "/api/v1/gis/tasks.geojson"] {
            let (s, ct, b) = c.get(&format!("{path}?{query}")).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{path}?{query}: {b}");
            assert!(ct.starts_with("application/json"), "{path}?{query}");
            assert_eq!(b["error"], "bad_request", "{path}?{query}");
            let message = b["message"].as_str().unwrap();
            assert!(message.contains(words), "{path}?{query}: {message}");
        }
    }
    let (s, _, b) = c.get("/ogc/collections/districts/items?bbox=1,2").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, _, _) = c.get("/ogc?f=xml").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Unknown features: the handler's 404, not the router's.
    for path in [
        "/ogc/collections/tasks/items/T-NOPE",
        "/ogc/collections/tasks/items/not%20an%20id",
        "/ogc/collections/districts/items/D99",
    ] {
        let (s, _, b) = c.get(path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(b["error"], "not_found", "{path}");
    }
    server.shutdown().await.unwrap();
}

async fn service(f: &Fixture) {
    let (server, c) = start(f).await;

    let (s, ct, landing) = c.get("/ogc").await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("application/json"));
    let rels: BTreeSet<&str> = landing["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap())
        .collect();
    assert_eq!(
        rels,
        BTreeSet::from(["self", "service-desc", "conformance", "data"])
    );
    let desc = landing["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "service-desc")
        .unwrap();
    let (s, _, api) = c
        .get(
            desc["href"]
                .as_str()
                .unwrap()
                .strip_prefix(&c.base)
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(api["paths"]["/ogc/collections/tasks/items"]["get"].is_object());

    let (_, _, conf) = c.get("/ogc/conformance").await;
    let classes: Vec<&str> = conf["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(classes.contains(&"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"));
    assert!(classes.contains(&"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson"));

    let (_, _, cols) = c.get("/ogc/collections?f=json").await;
    let names: Vec<&str> = cols["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["tasks", "districts"]);
    let (_, _, tasks) = c.get("/ogc/collections/tasks").await;
    assert_eq!(
        tasks["extent"]["spatial"]["bbox"][0],
        serde_json::json!([51.25, -10.0, 179.5, 35.75])
    );
    assert_eq!(
        tasks["extent"]["temporal"]["interval"][0][0],
        "2026-05-28T20:26:40Z"
    );

    // One feature: public fields only.
    let (s, ct, feature) = c.get("/ogc/collections/tasks/items/T-B").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ct, "application/geo+json");
    assert_eq!(
        feature["geometry"]["coordinates"],
        serde_json::json!([51.5, 35.75])
    );
    let keys: BTreeSet<&str> = feature["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "service_request_id",
            "service_code",
            "service_name",
            "status",
            "detailed_status",
            "priority",
            "district",
            "title",
            "requested_datetime",
            "updated_datetime",
        ])
    );
    assert_eq!(feature["properties"]["status"], "closed");
    assert_eq!(feature["properties"]["detailed_status"], "completed");
    assert_eq!(
        feature["properties"]["requested_datetime"],
        "2026-05-28T21:26:40Z"
    );
    let (_, _, a) = c.get("/ogc/collections/tasks/items/T-A").await;
    assert_eq!(a["properties"]["service_name"], "Pothole");
    assert_eq!(a["properties"]["status"], "open");
    // Nothing private anywhere in a full listing.
    let r = c
        .http
        .get(format!("{}/api/v1/gis/tasks.geojson?limit=10000", c.base))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("public")
    );
    let text = r.text().await.unwrap();
    for private in ["C-SECRET-CREW", "private description", "assignee"] {
        assert!(!text.contains(private), "{private} is public");
    }

    // Districts.
    let (_, _, d) = c.get("/ogc/collections/districts/items").await;
    assert_eq!(d["numberMatched"], 12);
    assert_eq!(d["features"][0]["geometry"]["type"], "MultiPolygon");
    let (_, _, d) = c
        .get("/ogc/collections/districts/items?bbox=51.33,35.71,51.34,35.72")
        .await;
    let codes: Vec<&str> = d["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["D01"]);
    let (s, _, d1) = c.get("/ogc/collections/districts/items/D01").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d1["properties"]["code"], "D01");

    server.shutdown().await.unwrap();
}

on_both_backends!(filters, paging, bad_input, service);

/// OGC API's links and Open311's discovery URL come from the same public-base rule:
/// the addressed host, `https` only when a trusted proxy says so, else the setting.
#[tokio::test]
async fn open311_and_ogc_share_the_public_base() {
    let f = Fixture::sqlite().await;
    for (trusted_proxy, public_url, want) in [
        (false, None, "http://city.example:8080"),
        (true, None, "https://city.example:8080"),
        (
            true,
            Some("https://tarmim.example/city"),
            "https://tarmim.example/city",
        ),
    ] {
        let mut config = f.config.clone();
        config.trusted_proxy = trusted_proxy;
        config.public_url = public_url.map(str::to_owned);
        let state = AppState::new(f.db.clone(), config);
        let server = RunningServer::start(state, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let http = tarmim_testing::http();
        let get = |path: &str| {
            http.get(format!("http://{}{path}", server.addr))
                .header("host", "city.example:8080")
                .header("x-forwarded-proto", "https")
                .send()
        };
        let ogc: Value = get("/ogc").await.unwrap().json().await.unwrap();
        let open311: Value = get("/open311/v2/discovery.json")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ogc["links"][0]["href"], format!("{want}/ogc"));
        assert_eq!(open311["endpoints"][0]["url"], format!("{want}/open311/v2"));
        server.shutdown().await.unwrap();
    }
    f.close().await;
}

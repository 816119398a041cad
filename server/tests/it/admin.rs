//! Administration without SQL (issue 18 point 5), on both backends, through the real
//! server's admin routes and the real binary's commands: services (names in Persian and
//! English, SLA terms, Open311 attributes of every datatype, retirement refused with open
//! tasks), districts (GeoJSON import refused for a self-intersecting polygon, region,
//! auto-assignment), crews, users (disable, password, role and districts — tokens
//! revoked; the last admin kept), contractors' schedules, Open311 keys; every change in
//! the staff audit log, whose chain stays intact.

use reqwest::StatusCode;
use serde_json::{Value, json};
use server::domain::identity::{UserRole, hash_password};
use server::storage::DistrictStore;
use std::process::Output;
use tarmim_testing::{Api, Fixture, ok, on_both_backends};

const PASSWORD: &str = "pass-word-1";

fn run(f: &Fixture, args: &[&str], stdin: Option<&str>) -> Output {
    tarmim_testing::cli(env!("CARGO_BIN_EXE_tarmim-server"), f, args, stdin, &[])
}

/// The demo map and services, an admin, a dispatcher of D01 and a call taker.
async fn seed(f: &Fixture) {
    tarmim_testing::demo_map(&f.db).await;
    let hash = hash_password(PASSWORD).unwrap();
    for (id, login, role, districts) in [
        ("u-admin", "admin", UserRole::Admin, vec![]),
        (
            "u-disp",
            "disp",
            UserRole::Dispatcher,
            vec!["D01".to_owned()],
        ),
        ("u-cc", "cc", UserRole::CallCentre, vec![]),
    ] {
        tarmim_testing::add_user(&f.db, id, login, &hash, role, None, districts).await;
    }
}

/// The admin actions recorded so far, oldest first.
async fn audited(f: &Fixture) -> Vec<(String, Option<String>)> {
    server::storage::audit::list(&f.db, 0, 10_000, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action.starts_with("admin."))
        .map(|r| (r.action, r.target))
        .collect()
}

fn has(rows: &[(String, Option<String>)], action: &str, target: &str) -> bool {
    rows.iter()
        .any(|(a, t)| a == action && t.as_deref() == Some(target))
}

fn every_datatype() -> Value {
    json!([
        {"code": "depth", "datatype": "number", "description": "How deep (cm)?", "required": true},
        {"code": "seen_at", "datatype": "datetime", "description": "When was it seen?"},
        {"code": "plate", "datatype": "string", "description": "Vehicle plate"},
        {"code": "notes", "datatype": "text", "description": "Anything else"},
        {"code": "side", "datatype": "singlevaluelist", "description": "Which side?",
         "values": [{"key": "n", "name": "شمال"}, {"key": "s", "name": "جنوب"}]},
        {"code": "kinds", "datatype": "multivaluelist", "description": "What is broken?",
         "values": [{"key": "pipe", "name": "لوله"}, {"key": "valve", "name": "شیر"}]},
        {"code": "info", "datatype": "string", "variable": false, "description": "Photos help"}
    ])
}

fn service(code: &str) -> Value {
    json!({
        "code": code, "name": "چاله‌ی آب", "name_en": "Water hole", "group": "streets",
        "description": "A hole full of water", "default_priority": "high",
        "ack_minutes": 30, "complete_minutes": 600,
        "sla": [{"priority": "urgent", "ack_minutes": 5, "complete_minutes": 120}],
        "attributes": every_datatype(),
    })
}

async fn services_through_the_api(f: &Fixture) {
    seed(f).await;
    let srv = tarmim_testing::start(f.db.clone(), f.config.clone()).await;
    let admin = Api::login(srv.addr, "admin", PASSWORD).await;
    let disp = Api::login(srv.addr, "disp", PASSWORD).await;

    // Only admins.
    let (s, _) = disp.get("/api/v1/admin/services").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = disp.post("/api/v1/admin/services", service("hole")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Create with every datatype and a per-priority override.
    let (s, v) = admin.post("/api/v1/admin/services", service("hole")).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["name_en"], "Water hole");
    assert_eq!(v["attributes"].as_array().unwrap().len(), 7, "{v}");
    assert_eq!(
        v["sla"],
        json!([{"priority": "urgent", "ack_minutes": 5, "complete_minutes": 120}])
    );
    // Open311 offers it with its definition.
    let def = tarmim_testing::http()
        .get(format!("http://{}/open311/v2/services/hole.json", srv.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(def.status(), StatusCode::OK);
    let def: Value = def.json().await.unwrap();
    let kinds: Vec<&str> = def["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["datatype"].as_str().unwrap())
        .collect();
    for d in [
        "number",
        "datetime",
        "string",
        "text",
        "singlevaluelist",
        "multivaluelist",
    ] {
        assert!(kinds.contains(&d), "{d} missing: {def}");
    }
    // Its terms are what intake uses: an urgent task of it is due for acknowledgement in 5 min.
    let (s, t) = admin.get("/api/v1/admin/services").await;
    assert_eq!(s, StatusCode::OK);
    assert!(t.as_array().unwrap().iter().any(|x| x["code"] == "hole"));

    // Taken code.
    let (s, v) = admin.post("/api/v1/admin/services", service("hole")).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");

    // Bad input, each refused with words and nothing stored.
    let bad = |patch: Value| {
        let mut b = service("bad");
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    for (why, body) in [
        ("a negative SLA", bad(json!({"ack_minutes": -5}))),
        (
            "an absurd SLA",
            bad(json!({"complete_minutes": 10_000_000})),
        ),
        (
            "a negative override",
            bad(json!({"sla": [{"priority": "low", "ack_minutes": -1}]})),
        ),
        (
            "acknowledging after completing",
            bad(json!({"ack_minutes": 700, "complete_minutes": 600})),
        ),
        (
            "two attributes of one code",
            bad(json!({"attributes": [
            {"code": "x", "datatype": "string", "description": "one"},
            {"code": "x", "datatype": "number", "description": "two"}]})),
        ),
        (
            "a list without values",
            bad(json!({"attributes": [
            {"code": "x", "datatype": "singlevaluelist", "description": "one"}]})),
        ),
        (
            "an unknown datatype",
            bad(json!({"attributes": [
            {"code": "x", "datatype": "colour", "description": "one"}]})),
        ),
        (
            "an unknown priority",
            bad(json!({"default_priority": "whenever"})),
        ),
        ("no Persian name", bad(json!({"name": "  "}))),
    ] {
        let (s, v) = admin.post("/api/v1/admin/services", body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{why}: {v}");
        assert!(
            !v["message"].as_str().unwrap_or("").is_empty(),
            "{why}: {v}"
        );
    }
    let (_, all) = admin.get("/api/v1/admin/services").await;
    assert!(!all.as_array().unwrap().iter().any(|x| x["code"] == "bad"));
    let (s, v) = admin
        .put(
            "/api/v1/admin/services/hole/sla",
            json!({"priority": "normal", "ack_minutes": -3}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = admin
        .put(
            "/api/v1/admin/services/hole/sla",
            json!({"ack_minutes": 600_000}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = admin
        .put(
            "/api/v1/admin/services/hole/attributes",
            json!([{"code": "a", "datatype": "text", "description": "q"},
                   {"code": "a", "datatype": "text", "description": "q"}]),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, _) = admin
        .put("/api/v1/admin/services/nope/sla", json!({"ack_minutes": 5}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Edit: the English name and one priority's terms.
    let mut edited = service("hole");
    edited["name_en"] = json!("Flooded pothole");
    let (s, v) = admin.put("/api/v1/admin/services/hole", edited).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["name_en"], "Flooded pothole");
    let (s, v) = admin
        .put(
            "/api/v1/admin/services/hole/sla",
            json!({"priority": "low", "ack_minutes": 60, "complete_minutes": 1440}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["sla"].as_array().unwrap().len(), 2, "{v}");

    // Retiring a service with an open task is refused; the task stays as it was.
    let cc = Api::login(srv.addr, "cc", PASSWORD).await;
    let (s, task) = cc
        .post(
            "/api/v1/console/tasks",
            json!({"category": "hole", "title": "hole", "lat": 35.72, "lon": 51.3375, "priority": "urgent"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{task}");
    let id = task["task"]["id"].as_str().unwrap().to_owned();
    // The service's urgent override (5 min) gave the acknowledgement deadline.
    let sla = &task["task"]["sla"];
    let ack = sla["ack_due"].as_i64().unwrap() - task["task"]["created_at"].as_i64().unwrap();
    assert_eq!(ack, 5 * 60_000, "{task}");
    let (s, v) = admin
        .post("/api/v1/admin/services/hole/retire", json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(v["message"].as_str().unwrap().contains("open task"), "{v}");
    let (s, _) = disp.get(&format!("/api/v1/console/tasks/{id}")).await;
    assert_eq!(s, StatusCode::OK);

    // A service without open tasks retires: no longer offered, still listed for admins.
    let (s, v) = admin.post("/api/v1/admin/services", service("old")).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = admin
        .post("/api/v1/admin/services/old/retire", json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["retired_at"].is_i64(), "{v}");
    let list: Value = tarmim_testing::http()
        .get(format!("http://{}/open311/v2/services.json", srv.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let codes: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service_code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"hole") && !codes.contains(&"old"),
        "{codes:?}"
    );
    let (s, v) = cc
        .post(
            "/api/v1/console/tasks",
            json!({"category": "old", "title": "old", "lat": 35.72, "lon": 51.3375}),
        )
        .await;
    assert!(s.is_client_error(), "{s} {v}");
    let (s, _) = admin.post("/api/v1/admin/services", service("old")).await;
    assert_eq!(s, StatusCode::CONFLICT, "a retired code is not reused");
    let (s, _) = admin
        .put("/api/v1/admin/services/old", service("old"))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "a retired service is not edited");

    let rows = audited(f).await;
    for (a, t) in [
        ("admin.service_create", "hole"),
        ("admin.service_edit", "hole"),
        ("admin.service_sla", "hole"),
        ("admin.service_retire", "old"),
    ] {
        assert!(has(&rows, a, t), "{a} {t} not audited: {rows:?}");
    }
    assert!(
        !rows.iter().any(|(_, t)| t.as_deref() == Some("bad")),
        "{rows:?}"
    );
    srv.shutdown().await.unwrap();
}

/// A square and a self-intersecting "bow tie" as GeoJSON features.
fn square(code: &str, x: f64) -> Value {
    json!({"type": "Feature", "properties": {"code": code, "name": format!("منطقه {code}"), "en": format!("Zone {code}"), "zone": "R9"},
        "geometry": {"type": "Polygon", "coordinates": [[[x, 36.0], [x + 0.1, 36.0], [x + 0.1, 36.1], [x, 36.1], [x, 36.0]]]}})
}

async fn districts_crews_users_keys(f: &Fixture) {
    seed(f).await;
    let srv = tarmim_testing::start(f.db.clone(), f.config.clone()).await;
    let admin = Api::login(srv.addr, "admin", PASSWORD).await;

    // The pages' language is the user's: none until chosen; a language the pages do not
    // speak is refused; the choice is answered by `me` and at the next login.
    assert_eq!(admin.ok("/api/v1/me").await["lang"], Value::Null);
    let (s, v) = admin.put("/api/v1/me/lang", json!({"lang": "de"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = admin.put("/api/v1/me/lang", json!({"lang": "en"})).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(admin.ok("/api/v1/me").await["lang"], "en");
    let again = tarmim_testing::login(srv.addr, "admin", PASSWORD, "dev-admin-2").await;
    assert_eq!(again["me"]["lang"], "en", "{again}");
    let (s, _) = Api::anonymous(srv.addr)
        .put("/api/v1/me/lang", json!({"lang": "fa"}))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Districts: import two touching squares; a bow tie is refused and nothing imported.
    let (s, v) = admin
        .post(
            "/api/v1/admin/districts/import",
            json!({"geojson": {"type": "FeatureCollection", "features": [square("N1", 51.0), square("N2", 51.1)]},
                   "region_property": "zone", "name_en_property": "en"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["districts"], 2);
    let bow = json!({"type": "Feature", "properties": {"code": "BOW", "name": "bow"},
        "geometry": {"type": "Polygon", "coordinates": [[[51.0, 36.0], [51.1, 36.1], [51.1, 36.0], [51.0, 36.1], [51.0, 36.0]]]}});
    let (s, v) = admin
        .post("/api/v1/admin/districts/import", json!({"geojson": bow}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("invalid polygon"),
        "{v}"
    );
    let (s, v) = admin
        .post(
            "/api/v1/admin/districts/import",
            json!({"geojson": {"type": "Feature", "properties": {"code": "L", "name": "l"},
            "geometry": {"type": "LineString", "coordinates": [[51.0, 36.0], [51.1, 36.1]]}}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (_, all) = admin.get("/api/v1/admin/districts").await;
    let n1 = all
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "N1")
        .unwrap()
        .clone();
    assert_eq!(n1["region"], "R9");
    assert_eq!(
        (&n1["name"], &n1["name_en"]),
        (&json!("منطقه N1"), &json!("Zone N1"))
    );
    assert_eq!(n1["neighbours"], json!(["N2"]));
    assert!(!all.as_array().unwrap().iter().any(|d| d["code"] == "BOW"));
    let (s, v) = admin
        .put(
            "/api/v1/admin/districts/N1",
            json!({"region": "شمال", "auto_assign": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["region"].as_str(), v["auto_assign"].as_bool()),
        (Some("شمال"), Some(true))
    );
    assert!(
        server::storage::dispatch::auto_assign_normal(&f.db, "N1")
            .await
            .unwrap()
    );
    // Both names edited; a blank Persian name refused, a blank English one removed.
    let (s, v) = admin
        .put(
            "/api/v1/admin/districts/N1",
            json!({"name": " شمال یک ", "name_en": "North One", "region": "شمال", "auto_assign": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (&v["name"], &v["name_en"]),
        (&json!("شمال یک"), &json!("North One"))
    );
    let (s, v) = admin
        .put(
            "/api/v1/admin/districts/N1",
            json!({"name": " ", "region": "شمال", "auto_assign": true}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = admin
        .put(
            "/api/v1/admin/districts/N1",
            json!({"name_en": "", "region": "شمال", "auto_assign": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (&v["name"], &v["name_en"]),
        (&json!("شمال یک"), &Value::Null)
    );
    // The staff pages read both names from the districts' GeoJSON features.
    let feature = server::domain::districts::feature(
        &f.db
            .districts()
            .await
            .unwrap()
            .into_iter()
            .find(|d| d.code == "N2")
            .unwrap(),
    );
    assert_eq!(
        (
            &feature["properties"]["name"],
            &feature["properties"]["name_en"]
        ),
        (&json!("منطقه N2"), &json!("Zone N2"))
    );
    let (s, _) = admin
        .put("/api/v1/admin/districts/NOPE", json!({"auto_assign": true}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Crews: an unknown district is refused; create, edit, members, retire.
    let crew = |district: &str| {
        json!({"id": "C-N1", "name": "اکیپ یک", "district": district,
        "skills": ["pothole", "water_leak"], "contractor": "Pars Asphalt"})
    };
    let (s, v) = admin.post("/api/v1/admin/crews", crew("NOPE")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = admin.post("/api/v1/admin/crews", crew("N1")).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["on_duty"], false);
    let (s, v) = admin.put("/api/v1/admin/crews/C-N1", crew("N2")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["district"], "N2");
    let (s, _) = admin.put("/api/v1/admin/crews/C-NONE", crew("N2")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Users: a crew member; an unknown crew or district is refused.
    let (s, v) = admin
        .post(
            "/api/v1/admin/users",
            json!({"login": "ali", "password": PASSWORD, "role": "crew", "crew": "C-NONE"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = admin
        .post("/api/v1/admin/users", json!({"login": "sara", "password": PASSWORD, "role": "dispatcher", "districts": ["N1", "ZZ"]}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = admin
        .post(
            "/api/v1/admin/users",
            json!({"login": "ali", "password": "short", "role": "crew", "crew": "C-N1"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = admin
        .post(
            "/api/v1/admin/users",
            json!({"login": "ali", "password": PASSWORD, "role": "crew", "crew": "C-N1"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, crews) = admin.get("/api/v1/admin/crews").await;
    let c = crews
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "C-N1")
        .unwrap();
    assert_eq!(c["members"], json!(["ali"]));

    // Role and district change: the user's tokens stop working at once.
    let (s, v) = admin
        .post("/api/v1/admin/users", json!({"login": "sara", "password": PASSWORD, "role": "dispatcher", "districts": ["N1"]}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let sara = Api::login(srv.addr, "sara", PASSWORD).await;
    assert_eq!(sara.get("/api/v1/me").await.0, StatusCode::OK);
    let (s, v) = admin
        .put(
            "/api/v1/admin/users/sara/access",
            json!({"role": "manager", "districts": ["N1", "N2"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["districts"], json!(["N1", "N2"]));
    assert_eq!(sara.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
    let sara = Api::login(srv.addr, "sara", PASSWORD).await;
    assert_eq!(sara.ok("/api/v1/me").await["role"], "manager");
    let (s, _) = admin
        .put("/api/v1/admin/users/sara/access", json!({"role": "crew"}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a crew member needs a crew");
    let (s, _) = admin
        .put(
            "/api/v1/admin/users/nobody/access",
            json!({"role": "manager"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Password reset: old tokens revoked, the new password works, the old one not.
    let (s, _) = admin
        .post(
            "/api/v1/admin/users/sara/password",
            json!({"password": "a-new-pass-2"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(sara.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
    let sara = Api::login(srv.addr, "sara", "a-new-pass-2").await;
    // Disable: tokens refused, login refused; enable again.
    let (s, v) = admin
        .post("/api/v1/admin/users/sara/disable", json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["disabled"], true);
    assert_eq!(sara.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
    let r = tarmim_testing::http()
        .post(format!("http://{}/api/v1/login", srv.addr))
        .json(&json!({"login": "sara", "password": "a-new-pass-2", "device_id": "dev-sara2"}))
        .send()
        .await
        .unwrap();
    // The right password of a disabled user is told so (a wrong one is not).
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "account_disabled");
    let (s, _) = admin
        .post("/api/v1/admin/users/sara/enable", json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    Api::login(srv.addr, "sara", "a-new-pass-2").await;

    // The last enabled admin cannot disable or demote itself.
    let (s, v) = admin
        .post("/api/v1/admin/users/admin/disable", json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("last enabled admin"),
        "{v}"
    );
    let (s, v) = admin
        .put(
            "/api/v1/admin/users/admin/access",
            json!({"role": "manager", "districts": ["N1"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(
        admin.get("/api/v1/me").await.0,
        StatusCode::OK,
        "a refused change revokes nothing"
    );
    // With a second admin, the first may go.
    let (s, _) = admin
        .post(
            "/api/v1/admin/users",
            json!({"login": "root2", "password": PASSWORD, "role": "admin"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let root2 = Api::login(srv.addr, "root2", PASSWORD).await;
    let (s, _) = root2
        .post("/api/v1/admin/users/admin/disable", json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(admin.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
    let (s, _) = root2
        .post("/api/v1/admin/users/root2/disable", json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let admin = root2;

    // Retiring a crew: its members are disabled.
    let ali = Api::login(srv.addr, "ali", PASSWORD).await;
    let (s, v) = admin
        .post("/api/v1/admin/crews/C-N1/retire", json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["retired_at"].is_i64());
    assert_eq!(ali.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
    let (s, _) = admin.put("/api/v1/admin/crews/C-N1", crew("N1")).await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Contractors' schedules: bad amounts refused; saved and listed.
    let terms = json!({"unit": "rial", "per_late_hour": 100_000, "per_rejection": 500_000,
        "per_not_fixed": 300_000, "per_complaint": 200_000, "cap_per_month": 9_000_000});
    let mut negative = terms.clone();
    negative["per_late_hour"] = json!(-1);
    let (s, _) = admin
        .put("/api/v1/admin/contractors/Pars%20Asphalt/terms", negative)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) = admin
        .put("/api/v1/admin/contractors/Pars%20Asphalt/terms", terms)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, cons) = admin.get("/api/v1/admin/contractors").await;
    let pars = cons
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Pars Asphalt")
        .unwrap();
    assert_eq!(pars["terms"]["per_rejection"], 500_000);
    assert_eq!(pars["crews"], json!(["C-N1"]));

    // Open311 keys: issued once, posts with it work, revoked ones are refused.
    let (s, v) = admin
        .post("/api/v1/admin/open311-keys", json!({"name": "fms"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let key = v["key"].as_str().unwrap().to_owned();
    assert_eq!(
        server::domain::open311::keys::check(&f.db, &key)
            .await
            .unwrap()
            .as_deref(),
        Some("fms")
    );
    let (s, _) = admin
        .post("/api/v1/admin/open311-keys", json!({"name": "fms"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = admin
        .post("/api/v1/admin/open311-keys/fms/revoke", json!({}))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(
        server::domain::open311::keys::check(&f.db, &key)
            .await
            .unwrap()
            .is_none()
    );
    let (s, _) = admin
        .post("/api/v1/admin/open311-keys/fms/revoke", json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, keys) = admin.get("/api/v1/admin/open311-keys").await;
    assert!(keys.to_string().contains("fms") && !keys.to_string().contains(&key));

    let rows = audited(f).await;
    for (a, t) in [
        ("admin.district_import", "N1,N2"),
        ("admin.district_region", "N1"),
        ("admin.district_names", "N1"),
        ("admin.district_auto_assign", "N1"),
        ("admin.crew_create", "C-N1"),
        ("admin.crew_edit", "C-N1"),
        ("admin.crew_retire", "C-N1"),
        ("admin.user_create", "sara"),
        ("admin.user_access", "sara"),
        ("admin.user_password", "sara"),
        ("admin.user_disable", "sara"),
        ("admin.user_enable", "sara"),
        ("admin.user_disable", "admin"),
        ("admin.user_disable", "ali"),
        ("admin.contractor_terms", "Pars Asphalt"),
        ("admin.open311_key_issue", "fms"),
        ("admin.open311_key_revoke", "fms"),
    ] {
        assert!(has(&rows, a, t), "{a} {t} not audited: {rows:?}");
    }
    let chain = server::domain::audit::verify(&f.db, &[]).await.unwrap();
    assert!(chain.broken.is_none(), "{:?}", chain.broken);
    srv.shutdown().await.unwrap();
}

/// The same domain through the binary's commands.
async fn admin_commands(f: &Fixture) {
    seed(f).await;
    let attrs = f.config.data_dir.join("attrs.json");
    std::fs::write(&attrs, every_datatype().to_string()).unwrap();
    let attrs = attrs.to_str().unwrap();
    let out = ok(&run(
        f,
        &[
            "service",
            "create",
            "--code",
            "fallen_tree",
            "--name",
            "درخت افتاده",
            "--name-en",
            "Fallen tree",
            "--group",
            "parks",
            "--priority",
            "high",
            "--ack-minutes",
            "30",
            "--complete-minutes",
            "600",
            "--attributes",
            attrs,
        ],
        None,
    ));
    assert!(
        out.contains("Fallen tree") && out.contains("7 attribute(s)"),
        "{out}"
    );
    let out = ok(&run(
        f,
        &[
            "service",
            "edit",
            "--code",
            "fallen_tree",
            "--name-en",
            "Tree down",
        ],
        None,
    ));
    assert!(
        out.contains("Tree down") && out.contains("7 attribute(s)"),
        "{out}"
    );
    for (why, args) in [
        (
            "negative SLA",
            vec![
                "service",
                "sla",
                "--service",
                "fallen_tree",
                "--ack-minutes",
                "-5",
            ],
        ),
        (
            "absurd SLA",
            vec![
                "service",
                "sla",
                "--service",
                "fallen_tree",
                "--complete-minutes",
                "99999999",
            ],
        ),
        (
            "unknown service",
            vec!["service", "retire", "--service", "nope"],
        ),
        (
            "unknown district",
            vec!["district", "region", "--district", "NOPE", "--region", "R"],
        ),
        (
            "crew in an unknown district",
            vec![
                "crew",
                "add",
                "--id",
                "C-X",
                "--name",
                "X",
                "--district",
                "NOPE",
            ],
        ),
        ("unknown crew", vec!["crew", "retire", "--id", "C-NOPE"]),
        (
            "the last admin",
            vec!["user", "disable", "--login", "admin"],
        ),
        (
            "demoting the last admin",
            vec!["user", "access", "--login", "admin", "--role", "manager"],
        ),
    ] {
        let out = run(f, &args, None);
        assert!(!out.status.success(), "{why}: {args:?} should fail");
        assert!(!out.stderr.is_empty(), "{why}: no words");
    }
    let dup = f.config.data_dir.join("dup.json");
    std::fs::write(
        &dup,
        r#"[{"code":"a","datatype":"text","description":"q"},{"code":"a","datatype":"number","description":"r"}]"#,
    )
    .unwrap();
    let out = run(
        f,
        &[
            "service",
            "attributes",
            "--service",
            "fallen_tree",
            "--file",
            dup.to_str().unwrap(),
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("two attributes"),
        "{out:?}"
    );

    ok(&run(
        f,
        &[
            "district",
            "region",
            "--district",
            "D01",
            "--region",
            "شمال",
        ],
        None,
    ));
    assert!(ok(&run(f, &["district", "list"], None)).contains("D01\t"));
    ok(&run(
        f,
        &[
            "crew",
            "add",
            "--id",
            "C-T",
            "--name",
            "T",
            "--district",
            "D01",
            "--skill",
            "fallen_tree",
        ],
        None,
    ));
    ok(&run(
        f,
        &[
            "user",
            "add",
            "--login",
            "tina",
            "--password-stdin",
            "--role",
            "crew",
            "--crew",
            "C-T",
        ],
        Some("long-enough-pw\n"),
    ));
    assert!(ok(&run(f, &["crew", "list"], None)).contains("tina"));
    ok(&run(
        f,
        &["user", "password", "--login", "tina", "--password-stdin"],
        Some("another-long-pw\n"),
    ));
    ok(&run(
        f,
        &[
            "user",
            "access",
            "--login",
            "disp",
            "--role",
            "manager",
            "--district",
            "D01",
            "--district",
            "D02",
        ],
        None,
    ));
    assert!(ok(&run(f, &["user", "list"], None)).contains("disp\tmanager\t\tD01,D02\tenabled"));
    ok(&run(f, &["crew", "retire", "--id", "C-T"], None));
    assert!(ok(&run(f, &["user", "list"], None)).contains("tina\tcrew\tC-T\t\tdisabled"));
    ok(&run(
        f,
        &["service", "retire", "--service", "fallen_tree"],
        None,
    ));
    assert!(ok(&run(f, &["service", "list"], None)).contains("retired"));
    let key = ok(&run(f, &["open311", "key", "create", "app1"], None));
    assert!(key.trim().starts_with("o311_"));
    ok(&run(f, &["open311", "key", "revoke", "app1"], None));
    assert!(
        !run(f, &["open311", "key", "revoke", "app1"], None)
            .status
            .success()
    );

    let rows = audited(f).await;
    for (a, t) in [
        ("admin.service_create", "fallen_tree"),
        ("admin.service_edit", "fallen_tree"),
        ("admin.service_retire", "fallen_tree"),
        ("admin.district_region", "D01"),
        ("admin.crew_create", "C-T"),
        ("admin.crew_retire", "C-T"),
        ("admin.user_create", "tina"),
        ("admin.user_password", "tina"),
        ("admin.user_access", "disp"),
        ("admin.open311_key_issue", "app1"),
        ("admin.open311_key_revoke", "app1"),
    ] {
        assert!(has(&rows, a, t), "{a} {t} not audited: {rows:?}");
    }
    assert!(ok(&run(f, &["audit", "verify"], None)).contains("audit log intact"));
}

/// Two admins disabling each other at the same moment: one wins, the other is refused as
/// the last admin — never both (the check is inside each change's transaction).
async fn two_admins_cannot_remove_each_other(f: &Fixture) {
    seed(f).await;
    let hash = hash_password(PASSWORD).unwrap();
    tarmim_testing::add_user(
        &f.db,
        "u-admin2",
        "admin2",
        &hash,
        UserRole::Admin,
        None,
        vec![],
    )
    .await;
    let srv = tarmim_testing::start(f.db.clone(), f.config.clone()).await;
    for round in 0..5 {
        let a = Api::login(srv.addr, "admin", PASSWORD).await;
        let b = Api::login(srv.addr, "admin2", PASSWORD).await;
        let ((sa, va), (sb, vb)) = tokio::join!(
            a.post("/api/v1/admin/users/admin2/disable", json!({})),
            b.post("/api/v1/admin/users/admin/disable", json!({})),
        );
        let mut got = [sa, sb];
        got.sort();
        // The loser is refused as the last admin (409) or, having lost already, is
        // signed out (401); never two successes.
        assert_eq!(got[0], StatusCode::OK, "round {round}: {va} {vb}");
        assert!(
            got[1] == StatusCode::CONFLICT || got[1] == StatusCode::UNAUTHORIZED,
            "round {round}: {sa} {va} / {sb} {vb}"
        );
        let enabled = server::storage::admin::users(&f.db)
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u.role == UserRole::Admin && !u.disabled)
            .count();
        assert_eq!(enabled, 1, "round {round}");
        // Enable the other again for the next round, through the domain as the CLI does.
        for login in ["admin", "admin2"] {
            server::domain::admin::users::set_disabled(
                &f.db,
                &server::domain::admin::Admin::cli(),
                login,
                false,
            )
            .await
            .unwrap();
        }
    }
    srv.shutdown().await.unwrap();
}

/// Disabling a user through the admin API closes the phone's open sync socket (close code
/// 4401, "revoked": do not reconnect with this token) within seconds, and the token no
/// longer opens one.
async fn disabling_a_user_closes_their_sync_socket(f: &Fixture) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    const WAIT: std::time::Duration = std::time::Duration::from_secs(15);

    seed(f).await;
    tarmim_testing::add_crew(&f.db, "C-S1", "D01", &["pothole"]).await;
    let hash = hash_password(PASSWORD).unwrap();
    tarmim_testing::add_user(
        &f.db,
        "u-sam",
        "sam",
        &hash,
        UserRole::Crew,
        Some("C-S1"),
        vec![],
    )
    .await;
    let srv = tarmim_testing::start(f.db.clone(), f.config.clone()).await;
    let admin = Api::login(srv.addr, "admin", PASSWORD).await;
    let (token, actor) = tarmim_testing::login_actor(srv.addr, "sam", PASSWORD, "phone-sam").await;
    let connect = |token: String| async move {
        let mut req = format!("ws://{}/api/v1/sync", srv.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        tokio_tungstenite::connect_async(req).await
    };
    let (mut ws, _) = connect(token.clone()).await.unwrap();
    let mut dev = sync_core::session::device::Device::new(
        sync_core::store::Store::open_in_memory().unwrap(),
        actor,
    );
    for frame in dev.connect().unwrap() {
        ws.send(Message::Binary(frame.into())).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while !dev.is_live() {
        assert!(tokio::time::Instant::now() < deadline, "not caught up");
        match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Binary(b))) => {
                for out in dev.on_frame(&b).unwrap().frames {
                    ws.send(Message::Binary(out.into())).await.unwrap();
                }
            }
            Some(Ok(_)) => {}
            other => panic!("closed while catching up: {other:?}"),
        }
    }

    let (s, v) = admin
        .post("/api/v1/admin/users/sam/disable", json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let code = loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Err(_) => panic!("the socket of a disabled user stayed open"),
            Ok(Some(Ok(Message::Close(c)))) => break c.map(|c| u16::from(c.code)),
            Ok(None | Some(Err(_))) => break None,
            Ok(Some(Ok(_))) => {}
        }
    };
    assert_eq!(code, Some(4401), "closed as revoked");
    assert!(connect(token).await.is_err(), "the token opens no socket");
    srv.shutdown().await.unwrap();
}

on_both_backends!(
    disabling_a_user_closes_their_sync_socket,
    two_admins_cannot_remove_each_other,
    services_through_the_api,
    districts_crews_users_keys,
    admin_commands
);

//! Districts on both backends: GeoJSON import (Polygon + MultiPolygon), point lookup
//! including shared borders and corners, outside points, adjacency, re-import.

use server::domain::districts::{GeoError, PropertyNames, parse_geojson, route_point};
use server::storage::DistrictStore;
use tarmim_testing::Fixture;
use tarmim_testing::on_both_backends;

/// Four districts: A | B on top (shared edge at lon 51.4), C below A, and D a MultiPolygon
/// below B with a detached island far east. Codes are deliberately not in file order.
const CITY: &str = r#"{
  "type": "FeatureCollection",
  "features": [
    {"type": "Feature", "properties": {"kod": "B", "nam": "Bee", "reg": "North"},
     "geometry": {"type": "Polygon", "coordinates": [[[51.4, 35.7], [51.5, 35.7], [51.5, 35.8], [51.4, 35.8], [51.4, 35.7]]]}},
    {"type": "Feature", "properties": {"kod": "A", "nam": "Ay", "reg": "North"},
     "geometry": {"type": "Polygon", "coordinates": [[[51.3, 35.7], [51.4, 35.7], [51.4, 35.8], [51.3, 35.8], [51.3, 35.7]]]}},
    {"type": "Feature", "properties": {"kod": "C", "nam": "See", "reg": "South"},
     "geometry": {"type": "Polygon", "coordinates": [[[51.3, 35.6], [51.4, 35.6], [51.4, 35.7], [51.3, 35.7], [51.3, 35.6]]]}},
    {"type": "Feature", "properties": {"kod": "D", "nam": "Dee", "reg": "South"},
     "geometry": {"type": "MultiPolygon", "coordinates": [
        [[[51.4, 35.6], [51.5, 35.6], [51.5, 35.7], [51.4, 35.7], [51.4, 35.6]]],
        [[[51.8, 35.6], [51.9, 35.6], [51.9, 35.7], [51.8, 35.7], [51.8, 35.6]]]
     ]}}
  ]
}"#;

fn props() -> PropertyNames {
    PropertyNames {
        code: "kod".into(),
        name: "nam".into(),
        name_en: Some("nam_en".into()),
        region: Some("reg".into()),
    }
}

async fn import_and_lookup(f: &Fixture) {
    let db = &f.db;
    let districts = parse_geojson(CITY, &props()).unwrap();
    let out = db.import_districts(&districts).await.unwrap();
    assert_eq!(out.districts, 4);
    // A-B, A-C, A-D (corner), B-C (corner), B-D, C-D: every pair touches.
    assert_eq!(out.adjacent_pairs, 6);

    let listed = db.districts().await.unwrap();
    assert_eq!(
        listed.iter().map(|d| d.code.as_str()).collect::<Vec<_>>(),
        ["A", "B", "C", "D"]
    );
    assert_eq!(listed[3].geometry.0.len(), 2, "D stays a MultiPolygon");
    assert_eq!(listed[0].region.as_deref(), Some("North"));

    // Twice: on PostgreSQL first with PostGIS, then from the catalogue cache's in-memory
    // index (used while a listening connection keeps it true); SQLite has its index.
    for cached in [false, true] {
        db.catalogue_listening(cached);
        let at = |lat: f64, lon: f64| async move { db.district_covering(lat, lon).await.unwrap() };
        // Inside.
        assert_eq!(at(35.75, 51.35).await.as_deref(), Some("A"));
        assert_eq!(at(35.75, 51.45).await.as_deref(), Some("B"));
        assert_eq!(at(35.65, 51.35).await.as_deref(), Some("C"));
        assert_eq!(at(35.65, 51.45).await.as_deref(), Some("D"));
        // The MultiPolygon's island.
        assert_eq!(at(35.65, 51.85).await.as_deref(), Some("D"));
        // Shared edges go to the lowest code, the same on every backend.
        assert_eq!(at(35.75, 51.4).await.as_deref(), Some("A"), "A|B edge");
        assert_eq!(at(35.65, 51.4).await.as_deref(), Some("C"), "C|D edge");
        assert_eq!(at(35.7, 51.45).await.as_deref(), Some("B"), "B|D edge");
        // The corner shared by all four.
        assert_eq!(
            at(35.7, 51.4).await.as_deref(),
            Some("A"),
            "four-way corner"
        );
        // Outer boundary counts as inside.
        assert_eq!(at(35.8, 51.35).await.as_deref(), Some("A"));
        // Outside: between the mainland and the island, and far away.
        assert_eq!(at(35.65, 51.7).await, None);
        assert_eq!(at(0.0, 0.0).await, None);

        // Routing: outside → typed error, or the configured default; bad points refused.
        assert_eq!(route_point(db, None, 35.75, 51.35).await.unwrap(), "A");
        assert!(matches!(
            route_point(db, None, 35.65, 51.7).await,
            Err(GeoError::OutsideDistricts { .. })
        ));
        assert_eq!(route_point(db, Some("C"), 35.65, 51.7).await.unwrap(), "C");
        assert!(matches!(
            route_point(db, Some("C"), 95.0, 51.0).await,
            Err(GeoError::InvalidPoint { .. })
        ));
        assert!(matches!(
            route_point(db, None, f64::NAN, 51.0).await,
            Err(GeoError::InvalidPoint { .. })
        ));
    }
    assert_eq!(db.neighbours("A").await.unwrap(), ["B", "C", "D"]);
    assert_eq!(db.neighbours("nope").await.unwrap(), Vec::<String>::new());
}

async fn reimport_replaces_and_refreshes(f: &Fixture) {
    let db = &f.db;
    // PostgreSQL: lookups from the in-memory index, which the import must refresh.
    db.catalogue_listening(true);
    db.import_districts(&parse_geojson(CITY, &props()).unwrap())
        .await
        .unwrap();
    // E appears east of B, A is renamed; lookups see the change at once.
    let more = r#"{"type": "FeatureCollection", "features": [
      {"type": "Feature", "properties": {"kod": "E", "nam": "Ee", "reg": "East"},
       "geometry": {"type": "Polygon", "coordinates": [[[51.5, 35.7], [51.6, 35.7], [51.6, 35.8], [51.5, 35.8], [51.5, 35.7]]]}},
      {"type": "Feature", "properties": {"kod": "A", "nam": "Ay renamed", "reg": "North"},
       "geometry": {"type": "Polygon", "coordinates": [[[51.3, 35.7], [51.4, 35.7], [51.4, 35.8], [51.3, 35.8], [51.3, 35.7]]]}}
    ]}"#;
    assert_eq!(db.district_covering(35.75, 51.55).await.unwrap(), None);
    let out = db
        .import_districts(&parse_geojson(more, &props()).unwrap())
        .await
        .unwrap();
    assert_eq!(out.districts, 2);
    assert_eq!(out.adjacent_pairs, 8, "6 before, plus B-E and D-E");
    assert_eq!(
        db.district_covering(35.75, 51.55).await.unwrap().as_deref(),
        Some("E")
    );
    assert_eq!(
        db.district_covering(35.75, 51.5).await.unwrap().as_deref(),
        Some("B"),
        "B|E edge"
    );
    let all = db.districts().await.unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(all[0].name, "Ay renamed");
    assert_eq!(db.neighbours("E").await.unwrap(), ["B", "D"]);
}

on_both_backends!(import_and_lookup, reimport_replaces_and_refreshes);

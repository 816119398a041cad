//! The demo city's map and catalogue: 12 synthetic districts, a 4 × 3 grid of cells
//! around Tehran's centre in 3 regions (`D12` a MultiPolygon with a small exclave), as
//! GeoJSON for the same import real districts go through; and the Open311-like services.

use crate::storage::Service;
use serde_json::json;
use sync_core::task::Priority;

const LAT_TOP: f64 = 35.735;
const LON_LEFT: f64 = 51.32;
const CELL_LAT: f64 = 0.03;
const CELL_LON: f64 = 0.035;
pub(super) const COLS: usize = 4;
pub(super) const ROWS: usize = 3;
pub(super) const NAMES: [&str; 12] = [
    "Tajrish",
    "Niavaran",
    "Pasdaran",
    "Tehranpars",
    "Saadat Abad",
    "Yusef Abad",
    "Haft-e Tir",
    "Narmak",
    "Azadi",
    "Enghelab",
    "Imam Ali",
    "Shahr-e Rey",
];
/// The districts' Persian names (their `name`; [`NAMES`] are their `name_en`).
pub(super) const NAMES_FA: [&str; 12] = [
    "تجریش",
    "نیاوران",
    "پاسداران",
    "تهرانپارس",
    "سعادت‌آباد",
    "یوسف‌آباد",
    "هفت تیر",
    "نارمک",
    "آزادی",
    "انقلاب",
    "امام علی",
    "شهر ری",
];

pub(super) fn cell(row: usize, col: usize) -> (f64, f64, f64, f64) {
    let top = LAT_TOP - CELL_LAT * row as f64;
    let bottom = LAT_TOP - CELL_LAT * (row + 1) as f64;
    let left = LON_LEFT + CELL_LON * col as f64;
    let right = LON_LEFT + CELL_LON * (col + 1) as f64;
    (left, bottom, right, top)
}

fn ring(left: f64, bottom: f64, right: f64, top: f64) -> serde_json::Value {
    json!([[
        [left, bottom],
        [right, bottom],
        [right, top],
        [left, top],
        [left, bottom]
    ]])
}

/// The demo districts as a GeoJSON FeatureCollection (properties `code`, `name` in
/// Persian, `name_en`, `region`).
pub fn demo_districts_geojson() -> String {
    let mut features = Vec::new();
    for row in 0..ROWS {
        for col in 0..COLS {
            let n = row * COLS + col + 1;
            let (l, b, r, t) = cell(row, col);
            let geometry = if n == 12 {
                json!({"type": "MultiPolygon", "coordinates": [
                    ring(l, b, r, t),
                    ring(51.40, 35.630, 51.41, 35.640),
                ]})
            } else {
                json!({"type": "Polygon", "coordinates": ring(l, b, r, t)})
            };
            features.push(json!({
                "type": "Feature",
                "properties": {"code": format!("D{n:02}"), "name": NAMES_FA[n - 1], "name_en": NAMES[n - 1], "region": format!("R{}", row + 1)},
                "geometry": geometry,
            }));
        }
    }
    json!({"type": "FeatureCollection", "features": features}).to_string()
}

/// The demo services.
pub fn demo_services() -> Vec<Service> {
    let s = |code: &str, name: &str, group: &str, p: Priority, ack: i64, done: i64| Service {
        code: code.into(),
        name: name.into(),
        description: format!("{name} (demo service)"),
        group: group.into(),
        default_priority: p,
        ack_minutes: Some(ack),
        complete_minutes: Some(done),
    };
    vec![
        s("pothole", "Pothole", "streets", Priority::Normal, 240, 4320),
        s(
            "garbage",
            "Uncollected garbage",
            "sanitation",
            Priority::Normal,
            120,
            1440,
        ),
        s(
            "streetlight",
            "Broken street light",
            "lighting",
            Priority::Low,
            480,
            7200,
        ),
        s(
            "graffiti",
            "Graffiti",
            "sanitation",
            Priority::Low,
            1440,
            10080,
        ),
        s(
            "violation",
            "Building violation",
            "enforcement",
            Priority::Normal,
            1440,
            20160,
        ),
        s(
            "tree",
            "Fallen or dangerous tree",
            "parks",
            Priority::High,
            60,
            1440,
        ),
        s(
            "water_leak",
            "Water leak",
            "utilities",
            Priority::Urgent,
            15,
            240,
        ),
        s(
            "traffic_signal",
            "Traffic signal fault",
            "streets",
            Priority::Urgent,
            15,
            180,
        ),
    ]
}

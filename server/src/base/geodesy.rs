//! Distances on the Earth: the one great-circle distance every part measures with (a
//! photo far from its task, a crew's impossible jump, nearby duplicate reports) and the
//! radius it assumes, which the SQLite nearby search also sizes its bounding box with.
//!
//! The formula is `geo`'s haversine on a sphere of the mean Earth radius: within a
//! fraction of a percent of the spheroid at a city's distances.

use geo::{Distance, Haversine, Point};

/// Mean Earth radius in metres (GRS80's R1, 6,371,008.8 m): the sphere [`distance_m`]
/// measures on.
pub const EARTH_RADIUS_M: f64 = Haversine.radius();

/// Great-circle distance in metres between two `(lat, lon)` points in degrees.
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    Haversine.distance(Point::new(a.1, a.0), Point::new(b.1, b.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_are_metres_on_the_mean_sphere() {
        assert_eq!(EARTH_RADIUS_M, 6_371_008.8);
        // A thousandth of a degree of latitude is about 111 m; a tenth, 11.1 km.
        let d = distance_m((35.7, 51.4), (35.701, 51.4));
        assert!((d - 111.2).abs() < 0.5, "{d}");
        let d = distance_m((35.7, 51.4), (35.8, 51.4));
        assert!((d - 11_119.5).abs() < 5.0, "{d}");
        // Longitude shrinks with the cosine of the latitude.
        let d = distance_m((60.0, 10.0), (60.0, 10.001));
        assert!((d - 55.6).abs() < 0.5, "{d}");
        assert_eq!(distance_m((35.7, 51.4), (35.7, 51.4)), 0.0);
    }
}

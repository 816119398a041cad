//! What a photo's EXIF block says about where and when it was taken: the original time
//! (`DateTimeOriginal`, with `OffsetTimeOriginal` when the camera wrote one) and the GPS
//! position. Read with `kamadak-exif` from the uploaded bytes (JPEG, PNG, WebP containers);
//! a photo without EXIF, or with fields that do not parse, simply has none of them: EXIF
//! is a claim by the camera, used only to flag, never to refuse.

use exif::{In, Reader, Tag, Value};
use sync_core::Millis;

/// Time and place from a photo's EXIF block.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ExifFacts {
    /// When it was taken, ms since the epoch (UTC).
    pub taken_at: Option<Millis>,
    /// Where it was taken: (latitude, longitude) in degrees.
    pub point: Option<(f64, f64)>,
}

/// Reads the facts from a whole image file. `local_offset_min` is the city's offset from
/// UTC in minutes, used for a time without `OffsetTimeOriginal` (cameras record local time).
pub fn read(bytes: &[u8], local_offset_min: i32) -> ExifFacts {
    let Ok(exif) = Reader::new().read_from_container(&mut std::io::Cursor::new(bytes)) else {
        return ExifFacts::default();
    };
    ExifFacts {
        taken_at: taken_at(&exif, local_offset_min),
        point: gps(&exif),
    }
}

fn ascii(exif: &exif::Exif, tag: Tag) -> Option<Vec<u8>> {
    match &exif.get_field(tag, In::PRIMARY)?.value {
        Value::Ascii(v) => v.first().cloned(),
        _ => None,
    }
}

fn taken_at(exif: &exif::Exif, local_offset_min: i32) -> Option<Millis> {
    let raw = ascii(exif, Tag::DateTimeOriginal).or_else(|| ascii(exif, Tag::DateTime))?;
    let mut dt = exif::DateTime::from_ascii(&raw).ok()?;
    if let Some(off) = ascii(exif, Tag::OffsetTimeOriginal) {
        // A malformed offset leaves the city's offset in force.
        let _ = dt.parse_offset(&off);
    }
    let (m, d, h, mi, s) = (dt.month, dt.day, dt.hour, dt.minute, dt.second);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(i64::from(dt.year), u32::from(m), u32::from(d));
    let local = ((days * 24 + i64::from(h)) * 60 + i64::from(mi)) * 60 + i64::from(s);
    let offset = dt.offset.map_or(i64::from(local_offset_min), i64::from);
    Some((local - offset * 60) * 1000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn degrees(exif: &exif::Exif, tag: Tag, reference: Tag, negative: u8) -> Option<f64> {
    let Value::Rational(r) = &exif.get_field(tag, In::PRIMARY)?.value else {
        return None;
    };
    if r.len() < 3 || r.iter().take(3).any(|x| x.denom == 0) {
        return None;
    }
    let v = r[0].to_f64() + r[1].to_f64() / 60.0 + r[2].to_f64() / 3600.0;
    let sign = match ascii(exif, reference) {
        Some(s) if s.first() == Some(&negative) => -1.0,
        _ => 1.0,
    };
    Some(sign * v).filter(|v| v.is_finite())
}

fn gps(exif: &exif::Exif) -> Option<(f64, f64)> {
    let lat = degrees(exif, Tag::GPSLatitude, Tag::GPSLatitudeRef, b'S')?;
    let lon = degrees(exif, Tag::GPSLongitude, Tag::GPSLongitudeRef, b'W')?;
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)).then_some((lat, lon))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 11, 29), 20_786);
    }

    #[test]
    fn no_exif_no_facts() {
        assert_eq!(read(b"not an image", 0), ExifFacts::default());
    }
}

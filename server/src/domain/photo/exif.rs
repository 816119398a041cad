//! What a photo's EXIF block says about where and when it was taken: the original time
//! (`DateTimeOriginal`, with `OffsetTimeOriginal` when the camera wrote one) and the GPS
//! position. Read with `kamadak-exif` from the uploaded bytes (JPEG, PNG, WebP containers);
//! a photo without EXIF, or with fields that do not parse, simply has none of them: EXIF
//! is a claim by the camera, used only to flag, never to refuse.

use exif::{In, Reader, Tag, Value};
use jiff::tz::TimeZone;
use sync_core::Millis;

/// Time and place from a photo's EXIF block.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ExifFacts {
    /// When it was taken, ms since the epoch (UTC).
    pub taken_at: Option<Millis>,
    /// Where it was taken: (latitude, longitude) in degrees.
    pub point: Option<(f64, f64)>,
}

/// Reads the facts from a whole image file. A time without `OffsetTimeOriginal` is read
/// as local time in the city's zone (cameras record local time), with the offset in
/// force on that date (`crate::base::time`).
pub fn read(bytes: &[u8], city: &TimeZone) -> ExifFacts {
    let Ok(exif) = Reader::new().read_from_container(&mut std::io::Cursor::new(bytes)) else {
        return ExifFacts::default();
    };
    ExifFacts {
        taken_at: taken_at(&exif, city),
        point: gps(&exif),
    }
}

fn ascii(exif: &exif::Exif, tag: Tag) -> Option<Vec<u8>> {
    match &exif.get_field(tag, In::PRIMARY)?.value {
        Value::Ascii(v) => v.first().cloned(),
        _ => None,
    }
}

fn taken_at(exif: &exif::Exif, city: &TimeZone) -> Option<Millis> {
    let raw = ascii(exif, Tag::DateTimeOriginal).or_else(|| ascii(exif, Tag::DateTime))?;
    let mut dt = exif::DateTime::from_ascii(&raw).ok()?;
    if let Some(off) = ascii(exif, Tag::OffsetTimeOriginal) {
        // A malformed offset leaves the city's zone in force.
        let _ = dt.parse_offset(&off);
    }
    // A leap second (60) is read as the last second of the minute.
    let local = crate::base::time::civil(
        i32::from(dt.year),
        u32::from(dt.month),
        u32::from(dt.day),
        u32::from(dt.hour),
        u32::from(dt.minute),
        u32::from(dt.second.min(59)),
    )?;
    match dt.offset {
        Some(minutes) => {
            let offset = jiff::tz::Offset::from_seconds(i32::from(minutes) * 60).ok()?;
            crate::base::time::from_local(local, &TimeZone::fixed(offset))
        }
        None => crate::base::time::from_local(local, city),
    }
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
    fn no_exif_no_facts() {
        assert_eq!(read(b"not an image", &TimeZone::UTC), ExifFacts::default());
    }
}

//! Attachments: images decoded under limits and re-encoded from their pixels alone, so
//! nothing of the original file — EXIF (camera, GPS position, time), XMP, IPTC, comments,
//! ICC profiles, thumbnails, trailing data — survives. The EXIF orientation is applied
//! first, so the picture still looks as it did.
//!
//! Decoding is the photo pipeline's ([`crate::domain::photo::verify`]: type sniffed from the
//! bytes, JPEG completeness, dimensions checked from the header before any pixel buffer
//! exists); only the re-encoding is this module's. Only JPEG, PNG and WebP are taken
//! (JPEG out as JPEG, the others as PNG). Anything else is refused: no general way exists
//! to be sure a PDF or an office file carries nothing that identifies its author, so
//! reporters are asked for a photo or screenshot of such a document instead.

use crate::domain::photo::PhotoError;
use crate::domain::photo::verify::{self, DecodeLimits, PhotoFormat};
use image::{DynamicImage, ImageFormat};
use std::io::Cursor;

/// A stripped attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stripped {
    /// `image/jpeg` or `image/png`.
    pub content_type: &'static str,
    /// The re-encoded file.
    pub bytes: Vec<u8>,
}

/// Why an attachment is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachmentError {
    /// Not a JPEG, PNG or WebP file.
    #[error(
        "attachment {0}: only JPEG, PNG and WebP images are accepted (other files can carry \
         identifying metadata that cannot be removed reliably; attach a photo or screenshot)"
    )]
    NotAnImage(usize),
    /// Over the byte or pixel limit.
    #[error("attachment {index}: {why}")]
    TooLarge {
        /// Which attachment (0-based).
        index: usize,
        /// Which limit.
        why: String,
    },
    /// Corrupt or truncated.
    #[error("attachment {index}: the image cannot be decoded: {why}")]
    Undecodable {
        /// Which attachment (0-based).
        index: usize,
        /// The decoder's words.
        why: String,
    },
}

/// Decodes attachment `index` under the limits and re-encodes it without metadata.
pub fn strip(
    index: usize,
    bytes: &[u8],
    max_bytes: usize,
    max_pixels: u64,
) -> Result<Stripped, AttachmentError> {
    if bytes.len() > max_bytes {
        return Err(AttachmentError::TooLarge {
            index,
            why: format!("{} bytes, the limit is {max_bytes}", bytes.len()),
        });
    }
    let refused = |e: PhotoError| match e {
        PhotoError::Unsupported(_) => AttachmentError::NotAnImage(index),
        PhotoError::TooLarge(why) => AttachmentError::TooLarge { index, why },
        PhotoError::Invalid(why) | PhotoError::Internal(why) => {
            AttachmentError::Undecodable { index, why }
        }
        PhotoError::Busy => AttachmentError::Undecodable {
            index,
            why: "busy".into(),
        },
    };
    // A file that is no image at all is "not an image", not "undecodable".
    let format = verify::sniff(bytes).map_err(|e| match e {
        PhotoError::Invalid(_) => AttachmentError::NotAnImage(index),
        other => refused(other),
    })?;
    let limits = DecodeLimits {
        max_pixels,
        max_side: u32::try_from(max_pixels.min(u64::from(u32::MAX))).unwrap_or(u32::MAX),
    };
    let img = verify::verify(bytes, format, &limits)
        .map_err(refused)?
        .image;
    let undecodable = |e: image::ImageError| AttachmentError::Undecodable {
        index,
        why: e.to_string(),
    };
    let mut out = Cursor::new(Vec::new());
    let content_type = if format == PhotoFormat::Jpeg {
        let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
        rgb.write_with_encoder(encoder).map_err(undecodable)?;
        "image/jpeg"
    } else {
        img.write_to(&mut out, ImageFormat::Png)
            .map_err(undecodable)?;
        "image/png"
    };
    Ok(Stripped {
        content_type,
        bytes: out.into_inner(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JPEG with an EXIF segment naming a camera owner and a comment, both canaries.
    pub(crate) fn jpeg_with_exif() -> Vec<u8> {
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_fn(32, 16, |x, y| {
            image::Rgb([(x * 8) as u8, (y * 16) as u8, 90])
        }));
        let mut plain = Cursor::new(Vec::new());
        img.write_to(&mut plain, ImageFormat::Jpeg).unwrap();
        let plain = plain.into_inner();
        // APP1 "Exif\0\0" + a little-endian TIFF header with no IFD entries, then the canary.
        let mut payload = b"Exif\0\0II*\0\x08\0\0\0\0\0\0\0\0\0".to_vec();
        payload.extend_from_slice(b"OWNER=CANARY-EXIF-OWNER GPS=35.7N,51.4E");
        let mut seg = vec![0xFF, 0xE1];
        seg.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
        seg.extend_from_slice(&payload);
        let mut com = vec![0xFF, 0xFE];
        let text = b"CANARY-JPEG-COMMENT";
        com.extend_from_slice(&u16::try_from(text.len() + 2).unwrap().to_be_bytes());
        com.extend_from_slice(text);
        let mut out = plain[..2].to_vec();
        out.extend_from_slice(&seg);
        out.extend_from_slice(&com);
        out.extend_from_slice(&plain[2..]);
        out
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn metadata_is_gone() {
        let original = jpeg_with_exif();
        assert!(contains(&original, b"CANARY-EXIF-OWNER"));
        let s = strip(0, &original, 1 << 20, 1 << 20).unwrap();
        assert_eq!(s.content_type, "image/jpeg");
        assert!(!contains(&s.bytes, b"CANARY"));
        assert!(!contains(&s.bytes, b"Exif"));
        let back = image::load_from_memory(&s.bytes).unwrap();
        assert_eq!((back.width(), back.height()), (32, 16));
    }

    #[test]
    fn png_and_webp_come_out_as_png() {
        let img = DynamicImage::ImageRgba8(image::RgbaImage::new(4, 4));
        for f in [ImageFormat::Png, ImageFormat::WebP] {
            let mut c = Cursor::new(Vec::new());
            img.write_to(&mut c, f).unwrap();
            let s = strip(0, &c.into_inner(), 1 << 20, 1 << 20).unwrap();
            assert_eq!(s.content_type, "image/png");
        }
    }

    #[test]
    fn bad_files_are_refused() {
        assert_eq!(
            strip(2, b"%PDF-1.7 hello", 1 << 20, 1 << 20),
            Err(AttachmentError::NotAnImage(2))
        );
        let original = jpeg_with_exif();
        assert!(matches!(
            strip(0, &original, 100, 1 << 20),
            Err(AttachmentError::TooLarge { .. })
        ));
        assert!(matches!(
            strip(0, &original, 1 << 20, 100),
            Err(AttachmentError::TooLarge { .. })
        ));
        assert!(matches!(
            strip(0, &original[..original.len() / 2], 1 << 20, 1 << 20),
            Err(AttachmentError::Undecodable { .. })
        ));
        // A PNG header claiming 100000 × 100000 pixels: refused before any allocation.
        let mut bomb = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        bomb.extend_from_slice(&100_000u32.to_be_bytes());
        bomb.extend_from_slice(&100_000u32.to_be_bytes());
        bomb.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        assert!(strip(0, &bomb, 1 << 20, 1 << 20).is_err());
    }
}

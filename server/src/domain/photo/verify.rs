//! Verification of an uploaded blob: is it really an image of the declared, allowed type,
//! whole, and small enough to decode? Decoding happens under limits (bytes, pixel count,
//! allocation), and the dimensions are checked from the header **before** any pixel buffer
//! is allocated, so a decompression bomb costs a header read, not gigabytes.
//!
//! The result is the decoded image with its EXIF orientation applied (so derivatives are
//! upright without carrying an orientation tag).

use super::PhotoError;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// Formats a photo may have. HEIC is not among them: no maintained pure-Rust HEIC decoder
/// exists (the crates wrap libheif, a C library), so it is refused as unsupported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoFormat {
    /// `image/jpeg`.
    Jpeg,
    /// `image/png`.
    Png,
    /// `image/webp`.
    Webp,
}

impl PhotoFormat {
    /// From a content type; [`PhotoError::Unsupported`] for anything else.
    pub fn from_mime(mime: &str) -> Result<PhotoFormat, PhotoError> {
        match mime.trim().to_ascii_lowercase().as_str() {
            "image/jpeg" | "image/jpg" => Ok(PhotoFormat::Jpeg),
            "image/png" => Ok(PhotoFormat::Png),
            "image/webp" => Ok(PhotoFormat::Webp),
            other => Err(PhotoError::Unsupported(format!(
                "{other:?} is not a supported photo type (JPEG, PNG or WebP; HEIC is not supported)"
            ))),
        }
    }

    /// The content type.
    pub fn mime(self) -> &'static str {
        match self {
            PhotoFormat::Jpeg => "image/jpeg",
            PhotoFormat::Png => "image/png",
            PhotoFormat::Webp => "image/webp",
        }
    }

    fn image_format(self) -> ImageFormat {
        match self {
            PhotoFormat::Jpeg => ImageFormat::Jpeg,
            PhotoFormat::Png => ImageFormat::Png,
            PhotoFormat::Webp => ImageFormat::WebP,
        }
    }
}

/// What the bytes are, by their magic numbers (never by what the client said).
pub fn sniff(bytes: &[u8]) -> Result<PhotoFormat, PhotoError> {
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        let brand = &bytes[8..12];
        if [
            &b"heic"[..],
            b"heix",
            b"hevc",
            b"mif1",
            b"msf1",
            b"heim",
            b"heis",
            b"avif",
        ]
        .contains(&brand)
        {
            return Err(PhotoError::Unsupported(
                "HEIC/HEIF photos are not supported: send JPEG, PNG or WebP".into(),
            ));
        }
    }
    match image::guess_format(bytes) {
        Ok(ImageFormat::Jpeg) => Ok(PhotoFormat::Jpeg),
        Ok(ImageFormat::Png) => Ok(PhotoFormat::Png),
        Ok(ImageFormat::WebP) => Ok(PhotoFormat::Webp),
        Ok(other) => Err(PhotoError::Unsupported(format!(
            "{other:?} images are not supported: send JPEG, PNG or WebP"
        ))),
        Err(_) => Err(PhotoError::Invalid("the bytes are not an image".into())),
    }
}

/// Decode limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest width × height.
    pub max_pixels: u64,
    /// Largest side.
    pub max_side: u32,
}

/// A verified photo.
#[derive(Debug)]
pub struct Verified {
    /// The upright image.
    pub image: DynamicImage,
    /// What it is.
    pub format: PhotoFormat,
    /// Stored width and height (before orientation).
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// Verifies `bytes` as a photo of type `declared` and decodes it, upright.
pub fn verify(
    bytes: &[u8],
    declared: PhotoFormat,
    limits: &DecodeLimits,
) -> Result<Verified, PhotoError> {
    if bytes.is_empty() {
        return Err(PhotoError::Invalid("the photo is empty".into()));
    }
    let format = sniff(bytes)?;
    if format != declared {
        return Err(PhotoError::Invalid(format!(
            "the bytes are {} but were declared {}",
            format.mime(),
            declared.mime()
        )));
    }
    if format == PhotoFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(PhotoError::Invalid(
            "the JPEG is truncated (no end-of-image marker after its scans)".into(),
        ));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.image_format());
    let mut l = Limits::default();
    l.max_image_width = Some(limits.max_side);
    l.max_image_height = Some(limits.max_side);
    // RGBA8 of the largest allowed image, plus the decoder's own working memory.
    l.max_alloc = Some(limits.max_pixels.saturating_mul(4).saturating_add(64 << 20));
    reader.limits(l);
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels || width > limits.max_side || height > limits.max_side {
        return Err(PhotoError::TooLarge(format!(
            "{width} × {height} pixels is over the limit of {} pixels ({} per side)",
            limits.max_pixels, limits.max_side
        )));
    }
    if width == 0 || height == 0 {
        return Err(PhotoError::Invalid("the image has no pixels".into()));
    }
    let orientation = decoder.orientation().map_err(decode_error)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    image.apply_orientation(orientation);
    Ok(Verified {
        image,
        format,
        width,
        height,
    })
}

fn decode_error(e: image::ImageError) -> PhotoError {
    match e {
        image::ImageError::Limits(l) => {
            PhotoError::TooLarge(format!("the image is over the decoding limits: {l}"))
        }
        image::ImageError::Unsupported(u) => {
            PhotoError::Unsupported(format!("unsupported image variant: {u}"))
        }
        other => PhotoError::Invalid(format!("the image does not decode: {other}")),
    }
}

/// Whether a JPEG's marker structure ends with an end-of-image marker after its scans.
/// JPEG decoders pad a truncated scan with grey instead of failing, so a photo cut off in
/// transit would pass decoding; this walks the segments and the entropy-coded data
/// (byte stuffing `FF 00`, restart markers) to the `EOI`. Bytes after it (some phones
/// append data) are allowed.
pub fn jpeg_is_complete(b: &[u8]) -> bool {
    if b.len() < 4 || b[0] != 0xFF || b[1] != 0xD8 {
        return false;
    }
    let mut i = 2;
    let mut seen_scan = false;
    while i + 1 < b.len() {
        if b[i] != 0xFF {
            return false;
        }
        let marker = b[i + 1];
        i += 2;
        match marker {
            0xFF => i -= 1, // fill byte
            0xD9 => return seen_scan,
            0x01 | 0xD0..=0xD7 => {}
            _ => {
                if i + 1 >= b.len() {
                    return false;
                }
                let len = usize::from(u16::from_be_bytes([b[i], b[i + 1]]));
                if len < 2 {
                    return false;
                }
                i += len;
                if i > b.len() {
                    return false;
                }
                if marker == 0xDA {
                    seen_scan = true;
                    // Entropy-coded data: up to the next marker that is not stuffing or RST.
                    loop {
                        let Some(p) = b[i..].iter().position(|&x| x == 0xFF) else {
                            return false;
                        };
                        i += p;
                        match b.get(i + 1) {
                            None => return false,
                            Some(0x00) | Some(0xD0..=0xD7) => i += 2,
                            Some(0xFF) => i += 1,
                            Some(_) => break,
                        }
                    }
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/photos")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn jpeg_completeness() {
        let whole = fixture("near.jpg");
        assert!(jpeg_is_complete(&whole));
        // Trailing bytes after the end marker (some phones append data) are allowed.
        let mut trailer = whole.clone();
        trailer.extend_from_slice(b"SEFT trailer");
        assert!(jpeg_is_complete(&trailer));
        for cut in [2, 20, whole.len() / 2, whole.len() - 2, whole.len() - 1] {
            assert!(!jpeg_is_complete(&whole[..cut]), "cut at {cut}");
        }
        assert!(!jpeg_is_complete(b""));
        assert!(!jpeg_is_complete(b"\xFF\xD8\xFF\xD9"), "no scan");
    }

    #[test]
    fn sniffing_ignores_what_the_client_says() {
        assert_eq!(sniff(&fixture("near.jpg")).unwrap(), PhotoFormat::Jpeg);
        assert_eq!(sniff(&fixture("plain.png")).unwrap(), PhotoFormat::Png);
        assert_eq!(sniff(&fixture("plain.webp")).unwrap(), PhotoFormat::Webp);
        assert!(matches!(
            sniff(b"GIF89a......"),
            Err(PhotoError::Unsupported(_))
        ));
        assert!(matches!(sniff(b"hello"), Err(PhotoError::Invalid(_))));
        assert!(PhotoFormat::from_mime("image/heic").is_err());
    }

    #[test]
    fn orientation_is_applied() {
        let limits = DecodeLimits {
            max_pixels: 1_000_000,
            max_side: 10_000,
        };
        let v = verify(&fixture("rotated.jpg"), PhotoFormat::Jpeg, &limits).unwrap();
        assert_eq!((v.width, v.height), (64, 48), "as stored");
        assert_eq!((v.image.width(), v.image.height()), (48, 64), "upright");
    }
}

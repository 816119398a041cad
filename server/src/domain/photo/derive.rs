//! Public derivatives of a verified photo: a thumbnail and a display-size image, JPEG,
//! with **no metadata at all** (no EXIF, XMP, IPTC or ICC segment: the encoder writes only
//! the JFIF header and the pixels, and the pixels are already upright). Resizing uses
//! `fast_image_resize` (SIMD convolution), the display image is made from the original and
//! the thumbnail from the display image, which is both faster and as sharp.

use super::PhotoError;
use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ExtendedColorType, ImageEncoder};

/// A public size of a photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// 320 px on the long side: lists and galleries.
    Thumb,
    /// 1280 px on the long side: the tracking page.
    Display,
}

impl Variant {
    /// Both variants.
    pub const ALL: [Variant; 2] = [Variant::Thumb, Variant::Display];

    /// The long side in pixels.
    pub fn long_side(self) -> u32 {
        match self {
            Variant::Thumb => 320,
            Variant::Display => 1280,
        }
    }

    /// The URL segment and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Thumb => "thumb",
            Variant::Display => "display",
        }
    }

    /// From a URL segment.
    pub fn parse(s: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// JPEG quality of the derivatives (libvips' default is 75; 82 keeps text on signs legible).
pub const JPEG_QUALITY: u8 = 82;

/// An RGB8 image.
struct Rgb {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

/// The size fitting `w × h` into a `long` box, keeping the aspect ratio (never enlarging).
pub fn fit(w: u32, h: u32, long: u32) -> (u32, u32) {
    if w.max(h) <= long {
        return (w, h);
    }
    if w >= h {
        let nh = (u64::from(h) * u64::from(long) + u64::from(w) / 2) / u64::from(w);
        (long, u32::try_from(nh).unwrap_or(1).max(1))
    } else {
        let nw = (u64::from(w) * u64::from(long) + u64::from(h) / 2) / u64::from(h);
        (u32::try_from(nw).unwrap_or(1).max(1), long)
    }
}

fn resize(src: &Rgb, long: u32, resizer: &mut Resizer) -> Result<Rgb, PhotoError> {
    let (w, h) = fit(src.width, src.height, long);
    if (w, h) == (src.width, src.height) {
        return Ok(Rgb {
            width: w,
            height: h,
            pixels: src.pixels.clone(),
        });
    }
    let from = fast_image_resize::images::ImageRef::new(
        src.width,
        src.height,
        &src.pixels,
        PixelType::U8x3,
    )
    .map_err(|e| PhotoError::Internal(format!("resize source: {e}")))?;
    let mut to = Image::new(w, h, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    resizer
        .resize(&from, &mut to, &options)
        .map_err(|e| PhotoError::Internal(format!("resize: {e}")))?;
    Ok(Rgb {
        width: w,
        height: h,
        pixels: to.into_vec(),
    })
}

fn encode(img: &Rgb) -> Result<Vec<u8>, PhotoError> {
    let mut out = Vec::with_capacity(img.pixels.len() / 8);
    JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .write_image(&img.pixels, img.width, img.height, ExtendedColorType::Rgb8)
        .map_err(|e| PhotoError::Internal(format!("JPEG encoding: {e}")))?;
    Ok(out)
}

/// Makes every variant of an upright image: `(variant, JPEG bytes)`, display first.
pub fn derive(image: DynamicImage) -> Result<Vec<(Variant, Vec<u8>)>, PhotoError> {
    // Alpha (PNG, WebP) is dropped: photos are opaque, and JPEG has none.
    let rgb = image.into_rgb8();
    let src = Rgb {
        width: rgb.width(),
        height: rgb.height(),
        pixels: rgb.into_raw(),
    };
    let mut resizer = Resizer::new();
    let display = resize(&src, Variant::Display.long_side(), &mut resizer)?;
    drop(src);
    let thumb = resize(&display, Variant::Thumb.long_side(), &mut resizer)?;
    Ok(vec![
        (Variant::Display, encode(&display)?),
        (Variant::Thumb, encode(&thumb)?),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting() {
        assert_eq!(fit(4000, 3000, 1280), (1280, 960));
        assert_eq!(fit(3000, 4000, 320), (240, 320));
        assert_eq!(fit(100, 50, 320), (100, 50));
        assert_eq!(fit(10_000, 1, 320), (320, 1));
    }
}

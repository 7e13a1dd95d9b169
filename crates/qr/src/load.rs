//! Image bytes to greyscale, with hard caps on size so that a tiny file declaring huge
//! dimensions cannot make us allocate gigabytes.

use std::io::Cursor;

use image::{ImageError, ImageFormat, ImageReader, Limits};

use crate::{QrError, gray::Gray};

/// Most pixels an image may declare: 8192×8192 (an 8K-square screenshot). Checked from the
/// header, before any pixel buffer is allocated.
pub const MAX_PIXELS: u64 = 8192 * 8192;
/// Longest side an image may declare (a 16384×4096 multi-monitor strip is fine).
const MAX_SIDE: u32 = 16_384;
/// Most bytes the format decoder may allocate: an 8192×8192 RGBA8 image is 256 MiB.
pub const MAX_DECODER_ALLOC: u64 = 320 * 1024 * 1024;

/// Decodes PNG, JPEG, BMP, GIF (first frame) or WebP bytes to greyscale, compositing any
/// transparency onto white (QR images with a transparent background would otherwise turn
/// black). `budget` is the caller's pixel limit, checked from the header like [`MAX_PIXELS`].
pub(crate) fn load(bytes: &[u8], budget: u64) -> Result<Gray, QrError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| QrError::UnknownFormat)?;
    let format = match reader.format() {
        Some(
            f @ (ImageFormat::Png
            | ImageFormat::Jpeg
            | ImageFormat::Bmp
            | ImageFormat::Gif
            | ImageFormat::WebP),
        ) => f,
        _ => return Err(QrError::UnknownFormat),
    };
    let name = format.extensions_str().first().copied().unwrap_or("image");
    let unreadable = |e: ImageError| QrError::Unreadable {
        format: name,
        reason: e.to_string(),
    };
    // Header first: refuse an oversized image before any decoder buffer exists.
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(unreadable)?;
    if u64::from(width) * u64::from(height) > MAX_PIXELS || width > MAX_SIDE || height > MAX_SIDE {
        return Err(QrError::TooLarge {
            width,
            height,
            max_pixels: MAX_PIXELS,
        });
    }
    if u64::from(width) * u64::from(height) > budget {
        return Err(QrError::OverBudget {
            width,
            height,
            max_pixels: budget,
        });
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODER_ALLOC);
    let mut reader = reader;
    reader.limits(limits);
    let too_large = |e: ImageError| match e {
        ImageError::Limits(_) => QrError::TooLarge {
            width,
            height,
            max_pixels: MAX_PIXELS,
        },
        e => unreadable(e),
    };
    let image = reader.decode().map_err(too_large)?;
    let pixels = if image.color().has_alpha() {
        image
            .into_luma_alpha8()
            .pixels()
            .map(|p| {
                let [l, a] = p.0;
                let (l, a) = (u32::from(l), u32::from(a));
                ((l * a + 255 * (255 - a)) / 255) as u8
            })
            .collect()
    } else {
        // Rec. 601 luma in fixed point; image's own conversion goes through f32 per channel
        // and was a quarter of the time for a 1080p screenshot.
        image
            .into_rgb8()
            .into_raw()
            .chunks_exact(3)
            .map(|p| {
                let (r, g, b) = match *p {
                    [r, g, b] => (u32::from(r), u32::from(g), u32::from(b)),
                    _ => (255, 255, 255),
                };
                ((77 * r + 150 * g + 29 * b + 128) >> 8) as u8
            })
            .collect()
    };
    Gray::from_pixels(width as usize, height as usize, pixels).ok_or(QrError::Unreadable {
        format: name,
        reason: "pixel count does not match the declared size".into(),
    })
}

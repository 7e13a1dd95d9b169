//! Draws QR codes onto synthetic screenshots with the damage screen shares cause.

use std::io::Cursor;

use image::{GrayImage, ImageFormat, Luma};
use qrcode::{Color, EcLevel, QrCode};

/// How to draw one code.
#[derive(Clone, Copy)]
pub struct Style {
    /// Pixels per module (fractional: 1.5 means modules alternate 1 and 2 px wide).
    pub module_px: f32,
    /// Quarter turns clockwise: 0, 1, 2 or 3.
    pub quarter_turns: u8,
    /// Light modules on a dark background (dark-mode pages).
    pub inverted: bool,
    /// Amplitude of uniform noise added to every pixel.
    pub noise: u8,
    /// Box-blur radius in pixels (0 = sharp).
    pub blur: u32,
    /// Dark and light grey levels (low contrast when close).
    pub dark: u8,
    pub light: u8,
}

impl Default for Style {
    fn default() -> Self {
        Self {
            module_px: 3.0,
            quarter_turns: 0,
            inverted: false,
            noise: 0,
            blur: 0,
            dark: 20,
            light: 235,
        }
    }
}

/// Module matrix of `payload` (true = dark), with a 4-module quiet zone.
pub fn modules(payload: &str) -> Vec<Vec<bool>> {
    let code = QrCode::with_error_correction_level(payload, EcLevel::M).unwrap();
    let w = code.width();
    let colors = code.to_colors();
    let quiet = 4;
    let n = w + 2 * quiet;
    (0..n)
        .map(|y| {
            (0..n)
                .map(|x| {
                    x >= quiet
                        && y >= quiet
                        && x < w + quiet
                        && y < w + quiet
                        && colors[(y - quiet) * w + (x - quiet)] == Color::Dark
                })
                .collect()
        })
        .collect()
}

/// A `width`×`height` mock screenshot: a mid-grey page with a few text-like bars, and the
/// codes of `payloads` at the given top-left positions.
pub fn screenshot(width: u32, height: u32, codes: &[(&str, u32, u32)], style: Style) -> GrayImage {
    let page = if style.inverted { 40 } else { 225 };
    let mut img = GrayImage::from_pixel(width, height, Luma([page]));
    // Text-like clutter: short dark bars in rows, away from the codes.
    for row in 0..4 {
        for i in 0..30 {
            let (x0, y0) = (20 + i * 17, 20 + row * 14);
            for y in y0..(y0 + 8).min(height) {
                for x in x0..(x0 + 9 + (i % 3)).min(width) {
                    img.put_pixel(x, y, Luma([255 - page]));
                }
            }
        }
    }
    for &(payload, left, top) in codes {
        draw(&mut img, &modules(payload), left, top, style);
    }
    if style.blur > 0 {
        img = image::imageops::blur(&img, style.blur as f32 * 0.6);
    }
    if style.noise > 0 {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for p in img.pixels_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let n = (state % (2 * u64::from(style.noise) + 1)) as i32 - i32::from(style.noise);
            p.0[0] = (i32::from(p.0[0]) + n).clamp(0, 255) as u8;
        }
    }
    img
}

fn draw(img: &mut GrayImage, m: &[Vec<bool>], left: u32, top: u32, style: Style) {
    let n = m.len();
    let side = (n as f32 * style.module_px).round() as u32;
    let (dark, light) = if style.inverted {
        (style.light, style.dark)
    } else {
        (style.dark, style.light)
    };
    for py in 0..side {
        for px in 0..side {
            let (mx, my) = (
                ((px as f32 / style.module_px) as usize).min(n - 1),
                ((py as f32 / style.module_px) as usize).min(n - 1),
            );
            // Rotate the module grid, not the pixels, so fractional sizes stay exact.
            let (rx, ry) = match style.quarter_turns % 4 {
                0 => (mx, my),
                1 => (my, n - 1 - mx),
                2 => (n - 1 - mx, n - 1 - my),
                _ => (n - 1 - my, mx),
            };
            let v = if m[ry][rx] { dark } else { light };
            if left + px < img.width() && top + py < img.height() {
                img.put_pixel(left + px, top + py, Luma([v]));
            }
        }
    }
}

/// Encodes as PNG, or as JPEG at `quality` when given.
pub fn encode(img: &GrayImage, jpeg_quality: Option<u8>) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    match jpeg_quality {
        None => img.write_to(&mut out, ImageFormat::Png).unwrap(),
        Some(q) => {
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q);
            img.write_with_encoder(enc).unwrap();
        }
    }
    out.into_inner()
}

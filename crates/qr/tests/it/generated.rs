//! Generated screenshots: sizes, quarter turns, inversion, noise, blur, JPEG, low contrast,
//! several codes, other formats. Each case must decode to exactly the payloads drawn.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgba, RgbaImage};

use crate::render::{Style, encode, modules, screenshot};

const URI: &str =
    "otpauth://totp/Microsoft%3Aalice%40contoso.com?secret=2sk2tsmkjp7kdbck&issuer=Microsoft";
const URI2: &str =
    "otpauth://totp/Contoso:bob@contoso.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Contoso";

fn payloads(bytes: &[u8]) -> Vec<String> {
    let mut v: Vec<String> = tokendesk_qr::decode_image(bytes)
        .unwrap()
        .iter()
        .map(|c| c.expose_payload().to_owned())
        .collect();
    v.sort();
    v
}

fn check(style: Style, jpeg: Option<u8>) {
    let img = screenshot(1280, 720, &[(URI, 300, 180)], style);
    assert_eq!(payloads(&encode(&img, jpeg)), vec![URI.to_owned()]);
}

macro_rules! case {
    ($name:ident, $jpeg:expr, $($field:ident: $value:expr),*) => {
        #[test]
        fn $name() {
            check(Style { $($field: $value,)* ..Style::default() }, $jpeg);
        }
    };
}

case!(modules_of_1_5_px, None, module_px: 1.5);
case!(modules_of_2_px, None, module_px: 2.0);
case!(modules_of_3_px, None, module_px: 3.0);
case!(modules_of_6_px, None, module_px: 6.0);
case!(modules_of_10_px, None, module_px: 10.0);
case!(turned_90, None, module_px: 2.5, quarter_turns: 1);
case!(turned_180, None, module_px: 2.5, quarter_turns: 2);
case!(turned_270, None, module_px: 2.5, quarter_turns: 3);
case!(inverted_dark_mode, None, module_px: 2.5, inverted: true);
case!(inverted_small_modules, None, module_px: 2.0, inverted: true);
case!(noisy, None, module_px: 2.5, noise: 16);
case!(blurred, None, module_px: 3.0, blur: 1);
case!(jpeg_quality_50, Some(50), module_px: 2.0);
case!(low_contrast, None, module_px: 3.0, dark: 95, light: 165);
case!(dark_blurred_jpeg, Some(60), module_px: 2.5, inverted: true, blur: 1);
case!(turned_noisy_jpeg, Some(70), module_px: 2.0, quarter_turns: 1, noise: 12);

#[test]
fn two_codes_in_one_screenshot_are_both_found() {
    let img = screenshot(
        1280,
        720,
        &[(URI, 100, 150), (URI2, 700, 250)],
        Style::default(),
    );
    let mut want = vec![URI.to_owned(), URI2.to_owned()];
    want.sort();
    assert_eq!(payloads(&encode(&img, None)), want);
}

#[test]
fn small_code_on_a_4k_screenshot_is_found() {
    // About 2% of a 3840x2160 screen: a 400x400 px code... here 53 modules at 3 px = 159 px,
    // about 0.3%, which is harder.
    let img = screenshot(3840, 2160, &[(URI, 2900, 1500)], Style::default());
    assert_eq!(payloads(&encode(&img, Some(80))), vec![URI.to_owned()]);
}

#[test]
fn tightly_cropped_code_is_found() {
    let m = modules(URI);
    let side = (m.len() * 4) as u32;
    let img = screenshot(
        side,
        side,
        &[(URI, 0, 0)],
        Style {
            module_px: 4.0,
            ..Style::default()
        },
    );
    assert_eq!(payloads(&encode(&img, None)), vec![URI.to_owned()]);
}

#[test]
fn transparent_background_counts_as_white() {
    // Dark modules on fully transparent pixels, as QR generators often write PNGs.
    let m = modules(URI);
    let scale = 4;
    let side = (m.len() * scale) as u32;
    let img = RgbaImage::from_fn(side, side, |x, y| {
        if m[y as usize / scale][x as usize / scale] {
            Rgba([0, 0, 0, 255])
        } else {
            Rgba([0, 0, 0, 0])
        }
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).unwrap();
    assert_eq!(payloads(&out.into_inner()), vec![URI.to_owned()]);
}

#[test]
fn bmp_gif_and_webp_are_read() {
    let img = DynamicImage::ImageLuma8(screenshot(640, 400, &[(URI, 200, 100)], Style::default()))
        .to_rgba8();
    for format in [ImageFormat::Bmp, ImageFormat::Gif, ImageFormat::WebP] {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        assert_eq!(
            payloads(&out.into_inner()),
            vec![URI.to_owned()],
            "{format:?}"
        );
    }
}

#[test]
fn page_without_code_gives_nothing() {
    let img = screenshot(
        1280,
        720,
        &[],
        Style {
            noise: 20,
            ..Style::default()
        },
    );
    assert!(payloads(&encode(&img, Some(70))).is_empty());
}

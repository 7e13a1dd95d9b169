//! Finds and decodes every QR code in a screenshot: image bytes in, payload strings out.
//!
//! Owns: image decoding under size caps ([`MAX_PIXELS`], [`MAX_DECODER_ALLOC`]), the search
//! for codes damaged by screen sharing (scaled to 1.5–3 px per module, blurred, JPEG-compressed,
//! low contrast, dark mode / inverted, several per image), and QR decoding through `rqrr`.
//! Does not own: what a payload means. Classifying `otpauth://`, `phonefactor://` and friends
//! is `tokendesk-otp`'s job; this crate never interprets payload text.
//!
//! Invariants: no I/O beyond the bytes it is given; no clock (a caller's time budget reaches
//! the search only through [`Budget::should_stop`]); no panic on any input (rqrr is called
//! under `catch_unwind` as a second line of defence); payloads are never formatted by
//! `Debug` or put into errors.
//!
//! ```
//! let png = std::fs::read("tests/fixtures/screens/007.png").unwrap();
//! let codes = tokendesk_qr::decode_image(&png).unwrap();
//! assert!(codes[0].expose_payload().starts_with("otpauth://totp/"));
//! ```

mod binarize;
mod code;
mod error;
mod gray;
mod load;
mod proposal;
mod resample;
mod scan;

pub use code::QrCode;
pub use error::QrError;
pub use load::{MAX_DECODER_ALLOC, MAX_PIXELS};

/// Whether `bytes` start like an image this crate decodes (PNG, JPEG, GIF, BMP or WebP), by
/// their magic bytes only: a cheap check before a decode, to tell a screenshot from a text file.
#[must_use]
pub fn is_image(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x89PNG")
        || bytes.starts_with(&[0xff, 0xd8, 0xff])
        || bytes.starts_with(b"GIF8")
        || bytes.starts_with(b"BM")
        || (bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP"))
}

/// Decodes an encoded image (PNG, JPEG, BMP, GIF, WebP) and returns every QR code found,
/// each payload once, in no particular order. An image without a readable code gives an
/// empty list, not an error.
///
/// # Errors
/// [`QrError::UnknownFormat`] for other formats, [`QrError::TooLarge`] when the header
/// declares more than [`MAX_PIXELS`], [`QrError::Unreadable`] for damaged files.
pub fn decode_image(bytes: &[u8]) -> Result<Vec<QrCode>, QrError> {
    decode_image_within(
        bytes,
        &Budget {
            max_pixels: MAX_PIXELS,
            should_stop: &|| false,
        },
    )
}

/// What a caller (a server decoding uploads) allows one decode to cost.
pub struct Budget<'a> {
    /// Most pixels the image may declare, checked from the header before any pixel buffer
    /// exists. [`MAX_PIXELS`] applies whatever this says.
    pub max_pixels: u64,
    /// Asked between the steps of the search (after loading, before each region, scale and
    /// threshold variant); once it answers `true` the search stops within one step. The crate
    /// has no clock: a deadline is the caller's closure, e.g. `&|| Instant::now() >= deadline`.
    pub should_stop: &'a dyn Fn() -> bool,
}

/// [`decode_image`] within a caller's [`Budget`]: the pixel count is checked against
/// `budget.max_pixels` from the header, and `budget.should_stop` can end the search early.
/// Codes found before a stop are returned; a stop with nothing found is an error.
///
/// # Errors
/// As [`decode_image`], plus [`QrError::OverBudget`] when the header declares more than
/// `budget.max_pixels` and [`QrError::Stopped`] when `should_stop` ended the search before a
/// code was found.
pub fn decode_image_within(bytes: &[u8], budget: &Budget<'_>) -> Result<Vec<QrCode>, QrError> {
    let gray = load::load(bytes, budget.max_pixels)?;
    let mut search = scan::Search::new(budget.should_stop);
    let codes = scan::scan(&gray, &mut search);
    if codes.is_empty() && search.stopped() {
        return Err(QrError::Stopped);
    }
    Ok(codes)
}

/// Scans an 8-bit greyscale raster (row-major, 0 = black) that the caller already has,
/// e.g. a screen capture. Returns an empty list when `pixels.len() != width * height`.
pub fn decode_luma(width: usize, height: usize, pixels: Vec<u8>) -> Vec<QrCode> {
    match gray::Gray::from_pixels(width, height, pixels) {
        Some(g) => scan::scan(&g, &mut scan::Search::new(&|| false)),
        None => Vec::new(),
    }
}

//! Finds and decodes every QR code in a screenshot: image bytes in, payload strings out.
//!
//! Owns: image decoding under size caps ([`MAX_PIXELS`], [`MAX_DECODER_ALLOC`]), the search
//! for codes damaged by screen sharing (scaled to 1.5–3 px per module, blurred, JPEG-compressed,
//! low contrast, dark mode / inverted, several per image), and QR decoding through `rqrr`.
//! Does not own: what a payload means. Classifying `otpauth://`, `phonefactor://` and friends
//! is `tokendesk-otp`'s job; this crate never interprets payload text.
//!
//! Invariants: no I/O beyond the bytes it is given; no panic on any input (rqrr is called
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

/// Decodes an encoded image (PNG, JPEG, BMP, GIF, WebP) and returns every QR code found,
/// each payload once, in no particular order. An image without a readable code gives an
/// empty list, not an error.
///
/// # Errors
/// [`QrError::UnknownFormat`] for other formats, [`QrError::TooLarge`] when the header
/// declares more than [`MAX_PIXELS`], [`QrError::Unreadable`] for damaged files.
pub fn decode_image(bytes: &[u8]) -> Result<Vec<QrCode>, QrError> {
    let gray = load::load(bytes)?;
    Ok(scan::scan(&gray))
}

/// Scans an 8-bit greyscale raster (row-major, 0 = black) that the caller already has,
/// e.g. a screen capture. Returns an empty list when `pixels.len() != width * height`.
pub fn decode_luma(width: usize, height: usize, pixels: Vec<u8>) -> Vec<QrCode> {
    match gray::Gray::from_pixels(width, height, pixels) {
        Some(g) => scan::scan(&g),
        None => Vec::new(),
    }
}

//! Why an image could not be scanned.

/// Why an image could not be read. Messages name the problem and the limit, never pixel
/// data or payload text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QrError {
    /// The bytes are not in a format we read.
    #[error("the file is not a PNG, JPEG, BMP, GIF or WebP image")]
    UnknownFormat,
    /// The header declares more pixels than we decode.
    #[error(
        "the image is {width}x{height} pixels, more than the {max_pixels} pixels (8192x8192) \
         this tool decodes; crop or scale the screenshot"
    )]
    TooLarge {
        /// Declared width in pixels.
        width: u32,
        /// Declared height in pixels.
        height: u32,
        /// The cap, [`crate::MAX_PIXELS`].
        max_pixels: u64,
    },
    /// The header declares more pixels than the caller's budget ([`crate::Budget::max_pixels`]).
    #[error(
        "the image is too large ({width}x{height}, {} megapixels; the limit is {} megapixels); \
         crop the screenshot to the QR code",
        megapixels(u64::from(*.width) * u64::from(*.height)),
        megapixels(*.max_pixels)
    )]
    OverBudget {
        /// Declared width in pixels.
        width: u32,
        /// Declared height in pixels.
        height: u32,
        /// The caller's budget in pixels.
        max_pixels: u64,
    },
    /// The caller's `should_stop` hook asked the search to stop before any code was found.
    #[error("decoding was stopped before a QR code was found; crop the screenshot to the QR code")]
    Stopped,
    /// The image is damaged or uses an unsupported variant of its format.
    #[error("the {format} image could not be decoded ({reason}); save the screenshot again as PNG")]
    Unreadable {
        /// The detected format, e.g. "png".
        format: &'static str,
        /// The decoder's explanation.
        reason: String,
    },
}

/// Pixels as megapixels with one decimal ("12.6"), for messages.
pub(crate) fn megapixels(pixels: u64) -> String {
    let tenths = (pixels + 50_000) / 100_000;
    format!("{}.{}", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    #[test]
    fn megapixels_round_to_one_decimal() {
        for (pixels, text) in [
            (0, "0.0"),
            (40_000_000, "40.0"),
            (1_249_999, "1.2"),
            (67_108_864, "67.1"),
        ] {
            assert_eq!(super::megapixels(pixels), text);
        }
    }
}

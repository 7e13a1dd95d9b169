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
    /// The image is damaged or uses an unsupported variant of its format.
    #[error("the {format} image could not be decoded ({reason}); save the screenshot again as PNG")]
    Unreadable {
        /// The detected format, e.g. "png".
        format: &'static str,
        /// The decoder's explanation.
        reason: String,
    },
}

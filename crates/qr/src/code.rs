//! A decoded QR code: its payload text and where it was found.

use std::fmt;

use zeroize::Zeroizing;

/// One QR code found in an image.
///
/// The payload may be a TOTP seed (`otpauth://…`), so it is wiped on drop and `Debug`
/// shows only its length; read it with [`QrCode::expose_payload`] and hand it straight
/// to the classifier.
pub struct QrCode {
    payload: Zeroizing<String>,
    corners: [(i32, i32); 4],
}

impl QrCode {
    pub(crate) fn new(payload: String, corners: [(i32, i32); 4]) -> Self {
        Self {
            payload: Zeroizing::new(payload),
            corners,
        }
    }

    /// The decoded text. It may hold a seed: do not log or store it.
    pub fn expose_payload(&self) -> &str {
        &self.payload
    }

    /// Corners in image pixels (top-left, top-right, bottom-right, bottom-left of the code
    /// as printed; rotated codes give rotated corners).
    pub fn corners(&self) -> [(i32, i32); 4] {
        self.corners
    }
}

impl fmt::Debug for QrCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QrCode")
            .field(
                "payload",
                &format_args!("<{} bytes redacted>", self.payload.len()),
            )
            .field("corners", &self.corners)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_payload() {
        let c = QrCode::new(
            "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP".into(),
            [(0, 0); 4],
        );
        let d = format!("{c:?}");
        assert!(
            !d.contains("JBSWY3DPEHPK3PXP") && !d.contains("otpauth"),
            "{d}"
        );
        assert!(d.contains("40 bytes redacted"), "{d}");
    }
}

//! Fuzzes image bytes → QR payloads: any PNG/JPEG/BMP/GIF/WebP (or garbage) must give a
//! result or an error, never a panic, and never a huge allocation (run with
//! `-malloc_limit_mb=512`: an 8192x8192 RGBA8 image needs 256 MiB, the decoder cap is 320 MiB).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(codes) = tokendesk_qr::decode_image(data) {
        for code in codes {
            // Touch the payload so the whole path is exercised.
            let _ = code.expose_payload().len();
        }
    }
});

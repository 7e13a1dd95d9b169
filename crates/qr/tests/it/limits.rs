//! Hostile inputs: unknown formats, truncated files, and tiny files that declare huge
//! dimensions must be refused with an error, quickly and without large allocations.

use proptest::prelude::*;
use tokendesk_qr::{MAX_PIXELS, QrError, decode_image};

/// A PNG chunk: length, type, data, CRC.
fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
    out
}

/// A complete, 60-byte PNG declaring `w`×`h` RGBA8 whose pixel data is an empty zlib stream.
pub fn tiny_png(w: u32, h: u32) -> Vec<u8> {
    let mut out = png_header(w, h);
    out.extend(chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    out.extend(chunk(b"IEND", &[]));
    out
}

/// A valid PNG signature + IHDR chunk declaring `w`×`h` RGBA8, and nothing else.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(chunk(b"IHDR", &ihdr));
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A BMP header declaring `w`×`h` 24-bit pixels, with no pixel data.
fn bmp_header(w: i32, h: i32) -> Vec<u8> {
    let mut out = b"BM".to_vec();
    out.extend_from_slice(&54u32.to_le_bytes()); // file size (a lie)
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&54u32.to_le_bytes());
    out.extend_from_slice(&40u32.to_le_bytes());
    out.extend_from_slice(&w.to_le_bytes());
    out.extend_from_slice(&h.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&24u16.to_le_bytes());
    out.extend_from_slice(&[0; 24]);
    out
}

#[test]
fn huge_declared_png_is_refused_as_too_large() {
    for (w, h) in [
        (100_000, 100_000),
        (16_000, 16_000),
        (9000, 8192),
        (1, 20_000),
    ] {
        match decode_image(&tiny_png(w, h)) {
            Err(QrError::TooLarge { max_pixels, .. }) => assert_eq!(max_pixels, MAX_PIXELS),
            other => panic!("{w}x{h}: expected TooLarge, got {other:?}"),
        }
    }
}

#[test]
fn huge_declared_bmp_is_refused() {
    // Either the pixel cap or the decoder's own checks must refuse it; never a multi-GB buffer.
    assert!(decode_image(&bmp_header(60_000, 60_000)).is_err());
    assert!(decode_image(&bmp_header(8192, -8192)).is_err());
}

#[test]
fn allowed_size_but_missing_data_is_unreadable_not_a_panic() {
    for bytes in [png_header(4000, 3000), tiny_png(8192, 8192), tiny_png(0, 0)] {
        assert!(matches!(
            decode_image(&bytes),
            Err(QrError::Unreadable { .. })
        ));
    }
}

#[test]
fn unknown_and_empty_inputs_are_refused() {
    assert!(matches!(decode_image(b""), Err(QrError::UnknownFormat)));
    assert!(matches!(
        decode_image(b"otpauth://totp/x?secret=AAAA"),
        Err(QrError::UnknownFormat)
    ));
    assert!(matches!(
        decode_image(b"II*\0\x08\0\0\0"),
        Err(QrError::UnknownFormat)
    )); // TIFF
}

#[test]
fn error_messages_name_the_limit_not_the_content() {
    let err = decode_image(&tiny_png(100_000, 100_000))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("100000x100000") && err.contains("8192x8192"),
        "{err}"
    );
}

#[test]
fn heap_cap_is_in_force() {
    // Guards the guard: the allocator cap that turns a huge allocation into a failure.
    assert_eq!(crate::ALLOCATOR.limit(), 1 << 30);
    assert!(crate::ALLOCATOR.allocated() < 1 << 30);
}

#[test]
fn raw_luma_with_wrong_length_gives_nothing() {
    assert!(tokendesk_qr::decode_luma(100, 100, vec![0; 10]).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_declared_png_size_is_handled(w in 0u32.., h in 0u32..) {
        // Either refused or decoded (nothing to decode here): never a panic or an abort.
        let r = decode_image(&tiny_png(w, h));
        // Refused, by our pixel cap or by the PNG decoder's own limits, before any pixel
        // buffer is allocated.
        if u64::from(w) * u64::from(h) > MAX_PIXELS {
            prop_assert!(r.is_err(), "{w}x{h}: {r:?}");
        }
    }

    #[test]
    fn corrupted_png_bytes_never_panic(flips in proptest::collection::vec((0usize..4096, any::<u8>()), 1..16)) {
        let img = crate::render::screenshot(120, 90, &[("hello", 10, 5)], crate::render::Style::default());
        let mut bytes = crate::render::encode(&img, None);
        for (i, b) in flips {
            let len = bytes.len();
            bytes[i % len] ^= b;
        }
        let _ = decode_image(&bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode_image(&bytes);
    }
}

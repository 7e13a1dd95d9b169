//! Issue 13, item 4: a server decoding uploads bounds each decode by a pixel budget (checked
//! from the header) and a stop hook (its time budget), and the search really ends when asked.

use std::cell::Cell;

use image::{GrayImage, Luma};
use tokendesk_qr::{Budget, MAX_PIXELS, QrError, decode_image_within};

use crate::render;

/// Pseudo-random grey noise: busy everywhere, so the whole image is one large region
/// proposal and the search tries every scale and threshold (the expensive case).
fn noise(width: u32, height: u32) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let img = GrayImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        Luma([(state >> 56) as u8])
    });
    render::encode(&img, None)
}

fn never() -> bool {
    false
}

#[test]
fn issue_13_pixel_budget_is_checked_from_the_header() {
    // Why: a caller-supplied pixel budget must refuse an image before any pixel is decoded.
    // The IDAT here is empty, so only the header can have been read.
    let header_only = crate::limits::tiny_png(5000, 5000);
    let err = decode_image_within(
        &header_only,
        &Budget {
            max_pixels: 1_000_000,
            should_stop: &never,
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            QrError::OverBudget {
                width: 5000,
                height: 5000,
                max_pixels: 1_000_000
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("25.0 megapixels") && text.contains("the limit is 1.0 megapixels"),
        "{text}"
    );
    // The crate's own cap still applies to a budget above it.
    let err = decode_image_within(
        &crate::limits::tiny_png(10_000, 10_000),
        &Budget {
            max_pixels: u64::MAX,
            should_stop: &never,
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, QrError::TooLarge { max_pixels, .. } if max_pixels == MAX_PIXELS),
        "{err:?}"
    );
}

#[test]
fn issue_13_a_code_within_budget_still_decodes() {
    // Why: the budget must not break ordinary screenshots.
    let uri = "otpauth://totp/Contoso:jane@contoso.com?secret=GEZDGNBVGY3TQOJQ";
    let img = render::screenshot(800, 600, &[(uri, 200, 150)], render::Style::default());
    let codes = decode_image_within(
        &render::encode(&img, None),
        &Budget {
            max_pixels: 800 * 600,
            should_stop: &never,
        },
    )
    .unwrap();
    assert_eq!(codes.len(), 1);
    assert_eq!(codes[0].expose_payload(), uri);
}

#[test]
fn issue_13_should_stop_ends_the_search() {
    // Why: a time budget must stop the work, not only stop waiting for it. The hook is the
    // clock-free way in: count how often the search asks, then make it stop at the third
    // question and check it asked no more and gave the clear error.
    let png = noise(1200, 1200);
    let asked = Cell::new(0u32);
    let unbounded = decode_image_within(
        &png,
        &Budget {
            max_pixels: MAX_PIXELS,
            should_stop: &|| {
                asked.set(asked.get() + 1);
                false
            },
        },
    )
    .unwrap();
    assert!(unbounded.is_empty());
    let full_search = asked.get();
    assert!(
        full_search > 10,
        "the search asked only {full_search} times"
    );

    let asked = Cell::new(0u32);
    let err = decode_image_within(
        &png,
        &Budget {
            max_pixels: MAX_PIXELS,
            should_stop: &|| {
                asked.set(asked.get() + 1);
                asked.get() >= 3
            },
        },
    )
    .unwrap_err();
    assert!(matches!(err, QrError::Stopped), "{err:?}");
    assert_eq!(
        asked.get(),
        3,
        "the search went on after it was told to stop"
    );
    assert!(err.to_string().contains("crop the screenshot"), "{err}");
}

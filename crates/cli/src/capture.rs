//! Pixels from outside the process: every monitor (X11 root window) and the clipboard image,
//! as 8-bit greyscale for the QR decoder.

use anyhow::{Result, anyhow};

/// Rec. 601 luma in fixed point.
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((77 * u32::from(r) + 150 * u32::from(g) + 29 * u32::from(b) + 128) >> 8) as u8
}

/// The whole X11 screen (all monitors share the root window) as (width, height, luma).
///
/// # Errors
/// No `DISPLAY`, no X server, or a pixel format other than 24/32-bit true colour.
#[cfg(all(feature = "screen", unix, not(target_os = "macos")))]
pub(crate) fn screen() -> Result<(usize, usize, Vec<u8>)> {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{ConnectionExt, ImageFormat, ImageOrder};

    let (conn, screen_no) = x11rb::connect(None).map_err(|e| {
        anyhow!("cannot connect to the X display ({e}); set DISPLAY, or on Wayland save a screenshot and scan the file")
    })?;
    let setup = conn.setup();
    let screen = setup
        .roots
        .get(screen_no)
        .ok_or_else(|| anyhow!("the X server reported no screen {screen_no}"))?;
    let (w, h) = (screen.width_in_pixels, screen.height_in_pixels);
    let bpp = setup
        .pixmap_formats
        .iter()
        .find(|f| f.depth == screen.root_depth)
        .map(|f| f.bits_per_pixel);
    if screen.root_depth < 24 || bpp != Some(32) {
        return Err(anyhow!(
            "the X screen has depth {} ({:?} bits per pixel); only 24/32-bit true colour is supported",
            screen.root_depth,
            bpp
        ));
    }
    let reply = conn
        .get_image(ImageFormat::Z_PIXMAP, screen.root, 0, 0, w, h, !0)
        .map_err(|e| anyhow!("screen capture request failed: {e}"))?
        .reply()
        .map_err(|e| anyhow!("the X server refused the screen capture: {e}"))?;
    let lsb = setup.image_byte_order == ImageOrder::LSB_FIRST;
    let pixels: Vec<u8> = reply
        .data
        .chunks_exact(4)
        .map(|p| match (p, lsb) {
            (&[b, g, r, _], true) | (&[_, r, g, b], false) => luma(r, g, b),
            _ => 255,
        })
        .collect();
    let (w, h) = (usize::from(w), usize::from(h));
    if pixels.len() != w * h {
        return Err(anyhow!(
            "the X server sent {} pixels for a {w}x{h} screen",
            pixels.len()
        ));
    }
    Ok((w, h, pixels))
}

/// Screen capture is not built in on this platform or without the `screen` feature.
#[cfg(not(all(feature = "screen", unix, not(target_os = "macos"))))]
pub(crate) fn screen() -> Result<(usize, usize, Vec<u8>)> {
    Err(anyhow!(
        "this build captures the screen only on X11 (feature `screen`); save a screenshot and \
         run `tokendesk scan FILE`, or use --clipboard"
    ))
}

/// The image on the clipboard as (width, height, luma), transparency composited on white.
///
/// # Errors
/// No clipboard, or no image on it.
#[cfg(feature = "clipboard")]
pub(crate) fn clipboard() -> Result<(usize, usize, Vec<u8>)> {
    let mut cb =
        arboard::Clipboard::new().map_err(|e| anyhow!("cannot open the clipboard: {e}"))?;
    let img = cb
        .get_image()
        .map_err(|e| anyhow!("the clipboard holds no image ({e}); copy a screenshot snip first"))?;
    let pixels: Vec<u8> = img
        .bytes
        .chunks_exact(4)
        .map(|p| match *p {
            [r, g, b, a] => {
                let (l, a) = (u32::from(luma(r, g, b)), u32::from(a));
                ((l * a + 255 * (255 - a)) / 255) as u8
            }
            _ => 255,
        })
        .collect();
    Ok((img.width, img.height, pixels))
}

/// Clipboard access is not built in.
#[cfg(not(feature = "clipboard"))]
pub(crate) fn clipboard() -> Result<(usize, usize, Vec<u8>)> {
    Err(anyhow!(
        "this build has no clipboard support (feature `clipboard`); save the image and scan the file"
    ))
}

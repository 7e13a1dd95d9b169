//! X11 screen capture: `GetImage` of the root window through x11rb (pure Rust).

use anyhow::{Result, anyhow};

use super::{Grab, luma};

/// The whole X11 screen (all monitors share the root window).
///
/// # Errors
/// No `DISPLAY`, no X server, or a pixel format other than 24/32-bit true colour.
pub(crate) fn screen() -> Result<Grab> {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{ConnectionExt, ImageFormat, ImageOrder};

    let (conn, screen_no) = x11rb::connect(None).map_err(|e| {
        anyhow!("cannot connect to the X display ({e}); set DISPLAY (X11) or WAYLAND_DISPLAY (Wayland), or save a screenshot and run `tokendesk scan FILE`")
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
    Ok(Grab {
        width: w,
        height: h,
        luma: pixels,
    })
}

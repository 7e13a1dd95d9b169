//! Pixels from outside the process: every monitor and the clipboard image, as 8-bit greyscale
//! for the QR decoder.
//!
//! Screen backends, tried in this order:
//! - Linux with `WAYLAND_DISPLAY` (or `WAYLAND_SOCKET`) set: `wayland` (wlroots screencopy, pure
//!   Rust); on a compositor without it (GNOME, KDE), `portal` (xdg-desktop-portal's Screenshot
//!   over D-Bus). X11 is not used as a fallback there, because XWayland's root window shows only
//!   X clients' windows and would report "no QR code" for a code that is plainly on the screen.
//! - Linux otherwise, and other Unixes: `x11` (x11rb, pure Rust).
//! - Windows and macOS: `xcap_backend` (the `xcap` crate; not compiled or tested on Linux).

use anyhow::{Result, anyhow};

#[cfg(all(feature = "screen", target_os = "linux"))]
mod portal;
#[cfg(all(feature = "screen", target_os = "linux"))]
mod wayland;
#[cfg(all(feature = "screen", unix, not(target_os = "macos")))]
mod x11;
#[cfg(all(feature = "screen", any(windows, target_os = "macos")))]
mod xcap_backend;

/// One monitor's picture.
pub(crate) struct Grab {
    pub(crate) width: usize,
    pub(crate) height: usize,
    /// Row-major greyscale, 0 = black.
    pub(crate) luma: Vec<u8>,
}

/// One picture of the screen: pixels we read ourselves, or an image file a desktop service wrote.
/// (Only Linux builds with `screen` make both kinds; other builds leave a variant unused.)
#[cfg_attr(not(all(feature = "screen", target_os = "linux")), allow(dead_code))]
pub(crate) enum Shot {
    Raw(Grab),
    /// PNG (or another format `tokendesk-qr` reads) from the desktop portal, wiped on drop.
    Encoded(zeroize::Zeroizing<Vec<u8>>),
}

impl Shot {
    /// Every QR code in the picture; an encoded image that cannot be read is an error.
    pub(crate) fn decode(self) -> Result<Vec<tokendesk_qr::QrCode>> {
        match self {
            Self::Raw(g) => Ok(tokendesk_qr::decode_luma(g.width, g.height, g.luma)),
            Self::Encoded(bytes) => tokendesk_qr::decode_image(&bytes)
                .map_err(|e| anyhow!("cannot read the desktop portal's screenshot: {e}")),
        }
    }
}

/// Rec. 601 luma in fixed point.
#[cfg(any(feature = "screen", feature = "clipboard"))]
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((77 * u32::from(r) + 150 * u32::from(g) + 29 * u32::from(b) + 128) >> 8) as u8
}

/// Every monitor: one [`Shot`] each, or one for all of them from the desktop portal.
///
/// # Errors
/// No display server reachable, a compositor without a capture protocol we speak and no
/// desktop portal, or a pixel format we do not read; the message says what to do instead.
#[cfg(all(feature = "screen", unix, not(target_os = "macos")))]
pub(crate) fn screen() -> Result<Vec<Shot>> {
    #[cfg(target_os = "linux")]
    if std::env::var_os("WAYLAND_DISPLAY").is_some() || std::env::var_os("WAYLAND_SOCKET").is_some()
    {
        return match wayland::screen() {
            Ok(grabs) => Ok(grabs.into_iter().map(Shot::Raw).collect()),
            Err(wayland::WaylandError::Unsupported(why)) => match portal::screenshot() {
                Ok(png) => Ok(vec![Shot::Encoded(png)]),
                Err(portal) => Err(anyhow!(
                    "{why} (GNOME and KDE do not; wlroots compositors such as sway do), and the \
                     desktop portal did not help either: {portal:#}; capture from the screen \
                     share in the browser instead (web wizard: \"Capture from screen share\"), \
                     or take a screenshot (PrtScn), copy it and run `tokendesk scan \
                     --clipboard`, or save it and run `tokendesk scan FILE`"
                )),
            },
            Err(wayland::WaylandError::Failed(e)) => {
                Err(e.context("Wayland screen capture failed"))
            }
        };
    }
    x11::screen().map(|g| vec![Shot::Raw(g)])
}

/// Every monitor, one [`Shot`] each (xcap; untested: no Windows/macOS build here).
///
/// # Errors
/// xcap could not list or capture the monitors (on macOS: screen-recording permission).
#[cfg(all(feature = "screen", any(windows, target_os = "macos")))]
pub(crate) fn screen() -> Result<Vec<Shot>> {
    xcap_backend::screen().map(|g| g.into_iter().map(Shot::Raw).collect())
}

/// Screen capture is not built in on this platform or without the `screen` feature.
#[cfg(not(all(feature = "screen", any(unix, windows))))]
pub(crate) fn screen() -> Result<Vec<Shot>> {
    Err(anyhow!(
        "this build has no screen capture (feature `screen`); capture from the screen share \
         in the browser (web wizard), save a screenshot and run `tokendesk scan FILE`, or use \
         --clipboard"
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

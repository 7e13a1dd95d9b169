//! Windows and macOS screen capture through the `xcap` crate: every monitor as RGBA, turned into
//! greyscale for the decoder.
//!
//! UNTESTED: this module is compiled only for Windows and macOS, and the machine this project is
//! built and tested on has neither target. It is written against xcap 0.9.8's documented API
//! (`Monitor::all`, `Monitor::name`, `Monitor::capture_image` → `image::RgbaImage`).

use anyhow::{Result, anyhow};

use super::{Grab, luma};

/// Every monitor xcap lists, in its order.
pub(crate) fn screen() -> Result<Vec<Grab>> {
    let monitors = xcap::Monitor::all().map_err(|e| {
        anyhow!("cannot list the monitors ({e}); save a screenshot and run `tokendesk scan FILE`")
    })?;
    if monitors.is_empty() {
        return Err(anyhow!("the system reports no monitors"));
    }
    let mut grabs = Vec::with_capacity(monitors.len());
    let mut errors = Vec::new();
    for (i, monitor) in monitors.iter().enumerate() {
        let name = monitor
            .name()
            .unwrap_or_else(|_| format!("monitor {}", i + 1));
        match monitor.capture_image() {
            Ok(image) => {
                let (width, height) = (image.width() as usize, image.height() as usize);
                let pixels: Vec<u8> = image
                    .as_raw()
                    .chunks_exact(4)
                    .map(|p| match *p {
                        [r, g, b, _] => luma(r, g, b),
                        _ => 255,
                    })
                    .collect();
                if pixels.len() == width * height {
                    grabs.push(Grab {
                        width,
                        height,
                        luma: pixels,
                    });
                } else {
                    errors.push(format!("{name}: short image"));
                }
            }
            Err(e) => errors.push(format!("{name}: {e}")),
        }
    }
    if grabs.is_empty() {
        return Err(anyhow!(
            "could not capture any monitor ({}); on macOS allow screen recording for this \
             terminal in System Settings > Privacy & Security",
            errors.join("; ")
        ));
    }
    Ok(grabs)
}

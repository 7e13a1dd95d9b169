//! The search strategy: a coarse whole-image pass, then each region proposal cropped,
//! normalised in scale and thresholded several ways until it decodes.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rqrr::BitGrid;

use crate::{
    QrCode, binarize,
    gray::{Gray, Rect},
    proposal, resample,
};

/// Longest side of the coarse whole-image pass; large, clean codes decode here cheaply.
const COARSE_SIDE: usize = 1100;
/// Sides a proposal is resampled to, in turn: about 8, 5, then 11 px per module for a
/// version-6 code. Each sampling grid puts module edges elsewhere relative to pixels, which
/// often rescues a finder pattern or a grid fit that failed at the previous scale.
const TARGET_SIDES: [f32; 3] = [360.0, 250.0, 480.0];
/// Upscaling beyond this adds no detail, only cost.
const MAX_UPSCALE: f32 = 4.0;

/// How a crop is turned into dark/light pixels before rqrr looks for finder patterns.
#[derive(Clone, Copy)]
enum Threshold {
    /// rqrr's own running-average threshold.
    Rqrr,
    Otsu,
    LocalMean,
}

/// Pre-filter applied to a crop before thresholding.
#[derive(Clone, Copy)]
enum Filter {
    None,
    /// Unsharp mask against screen-share blur.
    Sharpen,
    /// Box blur against pixel noise.
    Smooth,
}

/// The caller's stop hook, asked between steps, and whether it has answered `true`.
pub(crate) struct Search<'a> {
    should_stop: &'a dyn Fn() -> bool,
    stopped: bool,
}

impl<'a> Search<'a> {
    pub(crate) fn new(should_stop: &'a dyn Fn() -> bool) -> Self {
        Self {
            should_stop,
            stopped: false,
        }
    }

    /// True once the hook asked to stop (it is not asked again after that).
    fn halted(&mut self) -> bool {
        if !self.stopped && (self.should_stop)() {
            self.stopped = true;
        }
        self.stopped
    }

    /// Whether the search ended early.
    pub(crate) fn stopped(&self) -> bool {
        self.stopped
    }
}

/// Maps crop coordinates back to the source image.
#[derive(Clone, Copy)]
struct Placement {
    x0: f32,
    y0: f32,
    scale: f32,
}

/// Every distinct QR payload in `img`: each region proposal first (cheap, and where the
/// small, damaged codes are), then, only if nothing was found, the whole image at a coarse
/// scale (a code too large or too clean to look like texture in 8-px blocks). Ends early,
/// with what it found so far, once `search` is halted.
pub(crate) fn scan(img: &Gray, search: &mut Search<'_>) -> Vec<QrCode> {
    let mut found: Vec<QrCode> = Vec::new();
    if search.halted() {
        return found;
    }
    for rect in proposal::propose(img) {
        if found.iter().any(|c| covers(c, rect)) {
            continue;
        }
        if search.halted() {
            return found;
        }
        scan_region(img, rect, &mut found, search);
    }
    if found.is_empty() && !search.halted() {
        let side = img.width().max(img.height());
        let factor = side.div_ceil(COARSE_SIDE).max(1);
        let coarse_owned;
        let coarse = if factor > 1 {
            coarse_owned = img.shrink(factor);
            &coarse_owned
        } else {
            img
        };
        let whole = Placement {
            x0: 0.0,
            y0: 0.0,
            scale: 1.0 / factor as f32,
        };
        for inverted in [false, true] {
            if search.halted() {
                break;
            }
            decode_into(coarse, Threshold::Rqrr, inverted, whole, &mut found);
        }
    }
    found
}

/// Tries the threshold/inversion variants on one normalised crop, stopping at the first
/// that yields a code.
fn scan_region(img: &Gray, rect: Rect, found: &mut Vec<QrCode>, search: &mut Search<'_>) {
    let side = rect.width().max(rect.height()).max(1) as f32;
    let mut tried: Vec<f32> = Vec::with_capacity(TARGET_SIDES.len());
    for target in TARGET_SIDES {
        let scale = (target / side).clamp(0.5, MAX_UPSCALE);
        // A large region clamps every target to the same scale: the same crop again would
        // only repeat the work (it was most of the cost of a huge noisy image).
        if tried.contains(&scale) {
            continue;
        }
        tried.push(scale);
        if search.halted() || scan_scaled(img, rect, scale, found, search) {
            return;
        }
    }
}

/// One scale of [`scan_region`]; true when a code decoded.
fn scan_scaled(
    img: &Gray,
    rect: Rect,
    scale: f32,
    found: &mut Vec<QrCode>,
    search: &mut Search<'_>,
) -> bool {
    let crop = img.crop_scaled(rect, scale);
    let place = Placement {
        x0: rect.x0 as f32,
        y0: rect.y0 as f32,
        scale,
    };
    // Variants in order of cost; the filtered ones are built only when needed.
    let steps: [(Filter, Threshold); 5] = [
        (Filter::None, Threshold::Rqrr),
        (Filter::Sharpen, Threshold::Rqrr),
        (Filter::None, Threshold::Otsu),
        (Filter::Sharpen, Threshold::LocalMean),
        (Filter::Smooth, Threshold::Otsu),
    ];
    let mut sharp = None;
    let mut smooth = None;
    // The likely polarity first, through every variant: a light border means dark modules
    // on a light quiet zone (the usual case), a dark one suggests a dark-mode inverted code.
    let likely_inverted = border_is_dark(&crop);
    for inverted in [likely_inverted, !likely_inverted] {
        for (filter, threshold) in steps {
            if search.halted() {
                return false;
            }
            let img = match filter {
                Filter::None => &crop,
                Filter::Sharpen => sharp.get_or_insert_with(|| {
                    binarize::sharpen(&crop, (crop.width().min(crop.height()) / 60).max(2), 2)
                }),
                Filter::Smooth => smooth.get_or_insert_with(|| {
                    binarize::smooth(&crop, (scale / 2.0).round().max(1.0) as usize)
                }),
            };
            if decode_into(img, threshold, inverted, place, found) {
                return true;
            }
        }
    }
    false
}

/// True when the crop's outermost rows and columns are darker than its Otsu threshold.
fn border_is_dark(img: &Gray) -> bool {
    let (w, h) = (img.width(), img.height());
    if w < 3 || h < 3 {
        return false;
    }
    let threshold = u64::from(binarize::otsu(img));
    let rows = img.row(0).iter().chain(img.row(h - 1));
    let cols = (1..h - 1).flat_map(|y| [img.at(0, y), img.at(w - 1, y)]);
    let (sum, n) = rows
        .copied()
        .chain(cols)
        .fold((0u64, 0u64), |(s, n), p| (s + u64::from(p), n + 1));
    sum < threshold * n
}

/// Runs rqrr on one variant; adds new payloads to `found`. True when a code decoded here.
fn decode_into(
    img: &Gray,
    threshold: Threshold,
    inverted: bool,
    place: Placement,
    found: &mut Vec<QrCode>,
) -> bool {
    let mut any = false;
    for (text, corners) in rqrr_decode(img, threshold, inverted) {
        any = true;
        if found.iter().any(|c| c.expose_payload() == text) {
            continue;
        }
        let corners = corners.map(|(x, y)| {
            (
                (place.x0 + x as f32 / place.scale).round() as i32,
                (place.y0 + y as f32 / place.scale).round() as i32,
            )
        });
        found.push(QrCode::new(text, corners));
    }
    any
}

/// Payloads and corner points rqrr decodes from one thresholded variant. rqrr has had
/// panics on odd inputs (e.g. WanzenBug/rqrr#39), so it runs under `catch_unwind`.
fn rqrr_decode(img: &Gray, threshold: Threshold, inverted: bool) -> Vec<(String, [(i32, i32); 4])> {
    let (w, h) = (img.width(), img.height());
    if w == 0 || h == 0 {
        return Vec::new();
    }
    let run = || {
        let mut prepared = match threshold {
            Threshold::Rqrr => rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
                let p = img.at(x, y);
                if inverted { 255 - p } else { p }
            }),
            Threshold::Otsu | Threshold::LocalMean => {
                let mask = match threshold {
                    Threshold::Otsu => binarize::global(img, binarize::otsu(img)),
                    _ => binarize::local_mean(img, (w.min(h) / 12).max(4)),
                };
                rqrr::PreparedImage::prepare_from_bitmap(w, h, |x, y| {
                    mask.get(y * w + x).copied().unwrap_or(false) != inverted
                })
            }
        };
        let grids = prepared.detect_grids();
        grids
            .into_iter()
            .filter_map(|grid| {
                let bounds = grid.bounds.map(|p| (p.x, p.y));
                let text = match grid.decode() {
                    Ok((_, text)) => text,
                    Err(_) => resample::decode(img, bounds, grid.grid.size(), inverted)?,
                };
                Some((text, bounds))
            })
            .collect::<Vec<_>>()
    };
    catch_unwind(AssertUnwindSafe(run)).unwrap_or_default()
}

/// True when the code's corners lie inside `rect` grown by a quarter: the region was
/// already decoded by an earlier pass.
fn covers(code: &QrCode, rect: Rect) -> bool {
    let (gx, gy) = (rect.width() as i32 / 4, rect.height() as i32 / 4);
    code.corners().iter().all(|&(x, y)| {
        x >= rect.x0 as i32 - gx
            && x <= rect.x1 as i32 + gx
            && y >= rect.y0 as i32 - gy
            && y <= rect.y1 as i32 + gy
    })
}

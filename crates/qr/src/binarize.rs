//! Thresholding a greyscale crop into dark/light modules.
//!
//! rqrr's own thresholding is a running row average; on blurred, JPEG-compressed crops with
//! uneven background a global Otsu threshold (per crop) or a local mean over a square
//! window often separates modules better, so the scanner tries them in turn.

use crate::gray::Gray;

/// Otsu's threshold: the grey level that best splits the histogram into two classes.
pub(crate) fn otsu(img: &Gray) -> u8 {
    let mut hist = [0u64; 256];
    for &p in img.pixels() {
        if let Some(h) = hist.get_mut(usize::from(p)) {
            *h += 1;
        }
    }
    let total: u64 = hist.iter().sum();
    let sum_all: u64 = hist.iter().zip(0u64..).map(|(&n, v)| n * v).sum();
    let (mut w_back, mut sum_back) = (0u64, 0u64);
    let (mut best, mut best_var) = (128u8, 0f64);
    for (level, &n) in (0u8..=255).zip(hist.iter()) {
        w_back += n;
        sum_back += n * u64::from(level);
        let w_fore = total - w_back;
        if w_back == 0 || w_fore == 0 {
            continue;
        }
        let m_back = sum_back as f64 / w_back as f64;
        let m_fore = (sum_all - sum_back) as f64 / w_fore as f64;
        let var = w_back as f64 * w_fore as f64 * (m_back - m_fore).powi(2);
        if var > best_var {
            best_var = var;
            best = level;
        }
    }
    best
}

/// Dark-module mask from a global threshold: `true` where the pixel is at or below it.
pub(crate) fn global(img: &Gray, threshold: u8) -> Vec<bool> {
    img.pixels().iter().map(|&p| p <= threshold).collect()
}

/// Mean grey value of the (2r+1)² window around every pixel (clipped at the edges).
fn box_mean(img: &Gray, radius: usize) -> Vec<u8> {
    let (w, h) = (img.width(), img.height());
    let stride = w + 1;
    let mut integral = vec![0u64; stride * (h + 1)];
    for y in 0..h {
        let mut acc = 0u64;
        let row = img.row(y);
        for (x, &p) in row.iter().enumerate() {
            acc += u64::from(p);
            let above = integral.get(y * stride + x + 1).copied().unwrap_or(0);
            if let Some(cell) = integral.get_mut((y + 1) * stride + x + 1) {
                *cell = above + acc;
            }
        }
    }
    let at = |x: usize, y: usize| integral.get(y * stride + x).copied().unwrap_or(0);
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        let (ya, yb) = (y.saturating_sub(radius), (y + radius + 1).min(h));
        for x in 0..w {
            let (xa, xb) = (x.saturating_sub(radius), (x + radius + 1).min(w));
            let n = ((xb - xa) * (yb - ya)) as u64;
            let sum = (at(xb, yb) + at(xa, ya)).saturating_sub(at(xa, yb) + at(xb, ya));
            out.push((sum / n.max(1)).min(255) as u8);
        }
    }
    out
}

/// Dark-module mask from the mean of a (2r+1)² window: a pixel is dark when it is darker
/// than its surroundings by a margin, so a shaded background does not swallow modules.
pub(crate) fn local_mean(img: &Gray, radius: usize) -> Vec<bool> {
    let mean = box_mean(img, radius);
    img.pixels()
        .iter()
        .zip(&mean)
        // Dark when below 95% of the local mean, minus 2 levels against flat noise.
        .map(|(&p, &m)| u32::from(p) * 100 + 200 < u32::from(m) * 95)
        .collect()
}

/// Box blur: averages away pixel noise (within one module after upscaling).
pub(crate) fn smooth(img: &Gray, radius: usize) -> Gray {
    Gray::from_pixels(img.width(), img.height(), box_mean(img, radius))
        .unwrap_or_else(|| img.clone())
}

/// Unsharp mask: adds back `amount` times the difference from a box blur, undoing part of
/// the blur that screen-share scaling puts on module edges.
pub(crate) fn sharpen(img: &Gray, radius: usize, amount: i32) -> Gray {
    let mean = box_mean(img, radius);
    let pixels = img
        .pixels()
        .iter()
        .zip(&mean)
        .map(|(&p, &m)| {
            let (p, m) = (i32::from(p), i32::from(m));
            (p + amount * (p - m)).clamp(0, 255) as u8
        })
        .collect();
    Gray::from_pixels(img.width(), img.height(), pixels).unwrap_or_else(|| img.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otsu_splits_two_levels() {
        let mut px = vec![30u8; 50];
        px.extend(vec![200u8; 50]);
        let g = Gray::from_pixels(10, 10, px).unwrap();
        let t = otsu(&g);
        assert!((30..200).contains(&t), "threshold {t}");
        let mask = global(&g, t);
        assert_eq!(mask.iter().filter(|&&d| d).count(), 50);
    }

    #[test]
    fn local_mean_finds_dark_spot_on_shaded_background() {
        // Background ramps from 100 to 250; one dark pixel is 40 below its neighbours.
        let w = 40;
        let mut px: Vec<u8> = (0..w * w)
            .map(|i| 100 + ((i % w) * 150 / w) as u8)
            .collect();
        px[20 * w + 30] -= 40;
        let g = Gray::from_pixels(w, w, px).unwrap();
        let mask = local_mean(&g, 4);
        assert!(mask[20 * w + 30]);
        assert_eq!(mask.iter().filter(|&&d| d).count(), 1);
    }

    #[test]
    fn sharpen_steepens_an_edge_and_keeps_flat_areas() {
        let px: Vec<u8> = (0..20).map(|x| if x < 10 { 60 } else { 180 }).collect();
        let g = Gray::from_pixels(20, 1, px).unwrap();
        let s = sharpen(&g, 2, 2);
        assert_eq!(s.pixels()[0], 60);
        assert_eq!(s.pixels()[19], 180);
        assert!(
            s.pixels()[9] < 60 && s.pixels()[10] > 180,
            "{:?}",
            s.pixels()
        );
    }

    #[test]
    fn empty_image_is_fine() {
        let g = Gray::from_pixels(0, 0, vec![]).unwrap();
        assert!(local_mean(&g, 3).is_empty());
        let _ = otsu(&g);
    }
}

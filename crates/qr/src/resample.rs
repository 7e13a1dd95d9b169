//! A second reading of a located code: sample the greyscale at every module centre
//! through the code's perspective, threshold the module values together, and decode.
//!
//! rqrr reads each module as one pixel of its own thresholded image. On blurred 2-px
//! modules that single pixel is often on the wrong side of an edge. Averaging a few
//! greyscale samples per module and choosing the threshold from the module values
//! themselves (Otsu) recovers many such codes; small shifts of the grid absorb the
//! rounding of the corner points.

use crate::gray::Gray;

/// Projective map from the unit square to a quadrilateral (Heckbert's square-to-quad).
struct Homography {
    a: f64,
    b: f64,
    c: f64,
    d: f64,
    e: f64,
    f: f64,
    g: f64,
    h: f64,
}

impl Homography {
    /// Corners in the order top-left, top-right, bottom-right, bottom-left.
    fn square_to_quad(q: [(f64, f64); 4]) -> Option<Self> {
        let [(x0, y0), (x1, y1), (x2, y2), (x3, y3)] = q;
        let (dx1, dx2, dx3) = (x1 - x2, x3 - x2, x0 - x1 + x2 - x3);
        let (dy1, dy2, dy3) = (y1 - y2, y3 - y2, y0 - y1 + y2 - y3);
        let det = dx1 * dy2 - dx2 * dy1;
        if det.abs() < 1e-9 {
            return None;
        }
        let g = (dx3 * dy2 - dx2 * dy3) / det;
        let h = (dx1 * dy3 - dx3 * dy1) / det;
        Some(Self {
            a: x1 - x0 + g * x1,
            b: x3 - x0 + h * x3,
            c: x0,
            d: y1 - y0 + g * y1,
            e: y3 - y0 + h * y3,
            f: y0,
            g,
            h,
        })
    }

    fn map(&self, u: f64, v: f64) -> (f64, f64) {
        let w = self.g * u + self.h * v + 1.0;
        (
            (self.a * u + self.b * v + self.c) / w,
            (self.d * u + self.e * v + self.f) / w,
        )
    }
}

/// Bilinear grey value at a sub-pixel position (white outside the image).
fn sample(img: &Gray, x: f64, y: f64) -> f64 {
    if !(x.is_finite() && y.is_finite()) || x < 0.0 || y < 0.0 {
        return 255.0;
    }
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (xi, yi) = (x0 as usize, y0 as usize);
    let p = |dx: usize, dy: usize| f64::from(img.at(xi + dx, yi + dy));
    let top = p(0, 0) * (1.0 - fx) + p(1, 0) * fx;
    let bottom = p(0, 1) * (1.0 - fx) + p(1, 1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Grid offsets tried, in modules: the fitted grid first, then small shifts.
const SHIFTS: [(f64, f64); 5] = [
    (0.0, 0.0),
    (0.25, 0.0),
    (-0.25, 0.0),
    (0.0, 0.25),
    (0.0, -0.25),
];

/// Decodes the code whose rqrr `bounds` span `size + 1` modules (that is how rqrr reports
/// them); `inverted` reads light modules as dark.
pub(crate) fn decode(
    img: &Gray,
    bounds: [(i32, i32); 4],
    size: usize,
    inverted: bool,
) -> Option<String> {
    if !(21..=177).contains(&size) {
        return None;
    }
    let quad = bounds.map(|(x, y)| (f64::from(x), f64::from(y)));
    let hom = Homography::square_to_quad(quad)?;
    let span = (size + 1) as f64;
    for (du, dv) in SHIFTS {
        let values: Vec<f64> = (0..size * size)
            .map(|i| {
                let (mx, my) = ((i % size) as f64, (i / size) as f64);
                let mut sum = 0.0;
                for (ox, oy) in [(0.5, 0.5), (0.3, 0.3), (0.7, 0.3), (0.3, 0.7), (0.7, 0.7)] {
                    let (x, y) = hom.map((mx + ox + du) / span, (my + oy + dv) / span);
                    sum += sample(img, x, y);
                }
                let v = sum / 5.0;
                if inverted { 255.0 - v } else { v }
            })
            .collect();
        let threshold = otsu_f64(&values);
        let grid = rqrr::SimpleGrid::from_func(size, |x, y| {
            values.get(y * size + x).is_some_and(|&v| v <= threshold)
        });
        if let Ok((_, text)) = rqrr::Grid::new(grid).decode() {
            return Some(text);
        }
    }
    None
}

/// Otsu threshold over module values in 0..=255.
fn otsu_f64(values: &[f64]) -> f64 {
    let mut hist = [0u32; 256];
    for &v in values {
        if let Some(h) = hist.get_mut(v.clamp(0.0, 255.0) as usize) {
            *h += 1;
        }
    }
    let total = values.len() as f64;
    let sum_all: f64 = hist
        .iter()
        .zip(0u32..)
        .map(|(&n, v)| f64::from(n * v))
        .sum();
    let (mut w_back, mut sum_back, mut best, mut best_var) = (0.0, 0.0, 127.0, 0.0);
    for (level, &n) in (0u32..).zip(hist.iter()) {
        w_back += f64::from(n);
        sum_back += f64::from(n * level);
        let w_fore = total - w_back;
        if w_back == 0.0 || w_fore == 0.0 {
            continue;
        }
        let diff = sum_back / w_back - (sum_all - sum_back) / w_fore;
        let var = w_back * w_fore * diff * diff;
        if var > best_var {
            best_var = var;
            best = f64::from(level);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homography_maps_corners() {
        let q = [(10.0, 20.0), (110.0, 25.0), (105.0, 130.0), (5.0, 120.0)];
        let h = Homography::square_to_quad(q).unwrap();
        for ((u, v), (x, y)) in [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
            .into_iter()
            .zip(q)
        {
            let (mx, my) = h.map(u, v);
            assert!(
                (mx - x).abs() < 1e-6 && (my - y).abs() < 1e-6,
                "{u},{v} -> {mx},{my}"
            );
        }
    }

    #[test]
    fn degenerate_quad_is_refused() {
        assert!(Homography::square_to_quad([(0.0, 0.0); 4]).is_none());
    }

    #[test]
    fn nonsense_sizes_and_bounds_decode_to_nothing() {
        let g = Gray::from_pixels(50, 50, vec![255; 2500]).unwrap();
        assert!(decode(&g, [(0, 0), (40, 0), (40, 40), (0, 40)], 25, false).is_none());
        assert!(decode(&g, [(0, 0), (40, 0), (40, 40), (0, 40)], 3, false).is_none());
        assert!(decode(&g, [(0, 0); 4], 25, false).is_none());
    }
}

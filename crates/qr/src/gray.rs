//! The 8-bit greyscale raster every stage works on, with cropping and resampling.

/// A row-major 8-bit greyscale image; 0 is black, 255 is white.
#[derive(Clone)]
pub(crate) struct Gray {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

/// An axis-aligned rectangle in pixel coordinates, `x0..x1` × `y0..y1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rect {
    pub(crate) x0: usize,
    pub(crate) y0: usize,
    pub(crate) x1: usize,
    pub(crate) y1: usize,
}

impl Rect {
    pub(crate) fn width(&self) -> usize {
        self.x1.saturating_sub(self.x0)
    }

    pub(crate) fn height(&self) -> usize {
        self.y1.saturating_sub(self.y0)
    }
}

impl Gray {
    /// Wraps `pixels`; `None` when the length does not match the dimensions.
    pub(crate) fn from_pixels(width: usize, height: usize, pixels: Vec<u8>) -> Option<Self> {
        (width.checked_mul(height)? == pixels.len()).then_some(Self {
            width,
            height,
            pixels,
        })
    }

    pub(crate) fn width(&self) -> usize {
        self.width
    }

    pub(crate) fn height(&self) -> usize {
        self.height
    }

    pub(crate) fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The pixel at (x, y), or white outside the image (QR codes need a light quiet zone).
    pub(crate) fn at(&self, x: usize, y: usize) -> u8 {
        if x >= self.width {
            return 255;
        }
        self.pixels
            .get(y.saturating_mul(self.width).saturating_add(x))
            .copied()
            .unwrap_or(255)
    }

    pub(crate) fn row(&self, y: usize) -> &[u8] {
        let start = y.saturating_mul(self.width);
        self.pixels
            .get(start..start.saturating_add(self.width))
            .unwrap_or(&[])
    }

    /// Cuts `rect` (clamped to the image) out and resamples it by `scale` with bilinear
    /// interpolation; scale > 1 turns 1.5-px modules into several pixels so that finder
    /// patterns survive thresholding.
    pub(crate) fn crop_scaled(&self, rect: Rect, scale: f32) -> Self {
        let x1 = rect.x1.min(self.width);
        let y1 = rect.y1.min(self.height);
        let x0 = rect.x0.min(x1);
        let y0 = rect.y0.min(y1);
        let (cw, ch) = (x1 - x0, y1 - y0);
        let ow = ((cw as f32) * scale).round().max(1.0) as usize;
        let oh = ((ch as f32) * scale).round().max(1.0) as usize;
        if cw == 0 || ch == 0 {
            return Self {
                width: ow,
                height: oh,
                pixels: vec![255; ow.saturating_mul(oh)],
            };
        }
        let inv = 1.0 / scale;
        // Per output column: left source column and its 8-bit weight, computed once.
        let cols: Vec<(usize, usize, u32)> = (0..ow)
            .map(|ox| {
                let sx = ((ox as f32 + 0.5) * inv - 0.5).clamp(0.0, (cw - 1) as f32);
                let left = sx.floor() as usize;
                let right = (left + 1).min(cw - 1);
                let w = ((sx - left as f32) * 256.0) as u32;
                (x0 + left, x0 + right, w)
            })
            .collect();
        let mut pixels = Vec::with_capacity(ow.saturating_mul(oh));
        for oy in 0..oh {
            let sy = ((oy as f32 + 0.5) * inv - 0.5).clamp(0.0, (ch - 1) as f32);
            let top = sy.floor() as usize;
            let wy = ((sy - top as f32) * 256.0) as u32;
            let r0 = self.row(y0 + top);
            let r1 = self.row(y0 + (top + 1).min(ch - 1));
            for &(l, r, wx) in &cols {
                let p = |row: &[u8], i: usize| u32::from(row.get(i).copied().unwrap_or(255));
                let a = p(r0, l) * (256 - wx) + p(r0, r) * wx;
                let b = p(r1, l) * (256 - wx) + p(r1, r) * wx;
                let v = (a * (256 - wy) + b * wy) >> 16;
                pixels.push(v.min(255) as u8);
            }
        }
        Self {
            width: ow,
            height: oh,
            pixels,
        }
    }

    /// Shrinks by an integer factor with a box filter (area average), for the coarse pass
    /// that finds large codes cheaply.
    pub(crate) fn shrink(&self, factor: usize) -> Self {
        let f = factor.max(1);
        let (ow, oh) = (self.width / f, self.height / f);
        let mut sums = vec![0u32; ow];
        let mut pixels = Vec::with_capacity(ow.saturating_mul(oh));
        let area = (f * f) as u32;
        for oy in 0..oh {
            sums.iter_mut().for_each(|s| *s = 0);
            for y in oy * f..oy * f + f {
                let row = self.row(y);
                for (sum, chunk) in sums.iter_mut().zip(row.chunks_exact(f)) {
                    *sum += chunk.iter().map(|&p| u32::from(p)).sum::<u32>();
                }
            }
            pixels.extend(sums.iter().map(|s| (s / area) as u8));
        }
        Self {
            width: ow,
            height: oh,
            pixels,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: usize, h: usize) -> Gray {
        let px = (0..w * h).map(|i| (i % 256) as u8).collect();
        Gray::from_pixels(w, h, px).unwrap()
    }

    #[test]
    fn from_pixels_rejects_wrong_length() {
        assert!(Gray::from_pixels(3, 3, vec![0; 8]).is_none());
        assert!(Gray::from_pixels(usize::MAX, 2, vec![]).is_none());
    }

    #[test]
    fn crop_scaled_doubles_size_and_keeps_flat_values() {
        let g = Gray::from_pixels(4, 4, vec![77; 16]).unwrap();
        let c = g.crop_scaled(
            Rect {
                x0: 1,
                y0: 1,
                x1: 3,
                y1: 4,
            },
            2.0,
        );
        assert_eq!((c.width(), c.height()), (4, 6));
        assert!(c.pixels().iter().all(|&p| p == 77));
    }

    #[test]
    fn crop_outside_image_is_white_not_a_panic() {
        let g = ramp(5, 5);
        let c = g.crop_scaled(
            Rect {
                x0: 10,
                y0: 10,
                x1: 20,
                y1: 20,
            },
            3.0,
        );
        assert!(c.pixels().iter().all(|&p| p == 255));
        assert_eq!(g.at(99, 0), 255);
        assert_eq!(g.at(0, 99), 255);
    }

    #[test]
    fn shrink_averages_blocks() {
        let g = Gray::from_pixels(4, 2, vec![0, 100, 200, 200, 100, 200, 200, 200]).unwrap();
        let s = g.shrink(2);
        assert_eq!((s.width(), s.height()), (2, 1));
        assert_eq!(s.pixels(), &[100, 200]);
    }
}

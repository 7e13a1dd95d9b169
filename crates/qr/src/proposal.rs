//! Region proposals: where in a screenshot a QR code may be, found from block texture.
//!
//! A QR code is a dense, roughly square patch with strong light/dark transitions in both
//! directions. Flat UI areas have none; text lines are wide. Marking 8×8 blocks with high
//! contrast and high total variation and grouping them gives a few candidate rectangles
//! that are then decoded at a normalised scale, which is what makes 1.5–3 px modules and
//! a code covering 2% of a 4K screenshot readable.

use crate::gray::{Gray, Rect};

/// Side of a texture block in pixels.
const BLOCK: usize = 8;
/// Minimum max−min grey difference inside a block for it to count as busy.
const MIN_CONTRAST: u16 = 40;
/// Minimum mean absolute neighbour difference, as a fraction of the block contrast (×1/64).
const MIN_VARIATION_64THS: u32 = 5;
/// At most this many proposals per image, best first.
pub(crate) const MAX_PROPOSALS: usize = 12;

struct BlockStats {
    min: u8,
    max: u8,
    var_h: u32,
    var_v: u32,
}

/// Candidate rectangles (pixel coordinates, with margin), most QR-like first.
pub(crate) fn propose(img: &Gray) -> Vec<Rect> {
    let (bw, bh) = (img.width() / BLOCK, img.height() / BLOCK);
    if bw < 3 || bh < 3 {
        return Vec::new();
    }
    let core = busy_blocks(img, bw, bh);
    let busy = dilate(&core, bw, bh);
    let mut rects = components(&busy, &core, bw, bh);
    rects.sort_by(|a, b| b.0.total_cmp(&a.0));
    rects
        .into_iter()
        .take(MAX_PROPOSALS)
        .map(|(_, r)| Rect {
            x0: r.x0 * BLOCK,
            y0: r.y0 * BLOCK,
            x1: (r.x1 * BLOCK).min(img.width()),
            y1: (r.y1 * BLOCK).min(img.height()),
        })
        .collect()
}

fn busy_blocks(img: &Gray, bw: usize, bh: usize) -> Vec<bool> {
    let mut busy = Vec::with_capacity(bw * bh);
    let mut stats: Vec<BlockStats> = Vec::with_capacity(bw);
    for by in 0..bh {
        stats.clear();
        stats.extend((0..bw).map(|_| BlockStats {
            min: 255,
            max: 0,
            var_h: 0,
            var_v: 0,
        }));
        for y in by * BLOCK..(by + 1) * BLOCK {
            let row = img.row(y);
            let below = img.row(y + 1);
            for (s, (chunk, under)) in stats
                .iter_mut()
                .zip(row.chunks_exact(BLOCK).zip(below.chunks_exact(BLOCK)))
            {
                accumulate(s, chunk, under);
            }
        }
        busy.extend(stats.iter().map(is_busy));
    }
    busy
}

fn accumulate(s: &mut BlockStats, chunk: &[u8], under: &[u8]) {
    let (mut min, mut max, mut var_h, mut var_v) = (s.min, s.max, 0u32, 0u32);
    for (&p, &q) in chunk.iter().zip(under) {
        min = min.min(p);
        max = max.max(p);
        var_v += u32::from(p.abs_diff(q));
    }
    for pair in chunk.windows(2) {
        if let [a, b] = pair {
            var_h += u32::from(a.abs_diff(*b));
        }
    }
    s.min = min;
    s.max = max;
    s.var_h += var_h;
    s.var_v += var_v;
}

fn is_busy(s: &BlockStats) -> bool {
    let contrast = u16::from(s.max.saturating_sub(s.min));
    if contrast < MIN_CONTRAST {
        return false;
    }
    let need = u32::from(contrast) * (BLOCK * BLOCK) as u32 * MIN_VARIATION_64THS / 64;
    s.var_h >= need && s.var_v >= need
}

/// Grows the busy set by one block in every direction, so that the flat insides of large
/// modules and finder patterns do not split one code into fragments.
fn dilate(busy: &[bool], bw: usize, bh: usize) -> Vec<bool> {
    let mut out = vec![false; busy.len()];
    for (i, _) in busy.iter().enumerate().filter(|(_, b)| **b) {
        let (x, y) = (i % bw, i / bw);
        for ny in y.saturating_sub(1)..(y + 2).min(bh) {
            for nx in x.saturating_sub(1)..(x + 2).min(bw) {
                if let Some(o) = out.get_mut(ny * bw + nx) {
                    *o = true;
                }
            }
        }
    }
    out
}

/// 8-connected groups of (dilated) busy blocks that are big, dense and square enough, with
/// a score; `count` is of undilated busy blocks, so an isolated speck does not qualify.
fn components(busy: &[bool], core: &[bool], bw: usize, bh: usize) -> Vec<(f32, Rect)> {
    let mut seen = vec![false; busy.len()];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..busy.len() {
        if !busy.get(start).copied().unwrap_or(false) || seen.get(start).copied().unwrap_or(true) {
            continue;
        }
        let mut rect = Rect {
            x0: usize::MAX,
            y0: usize::MAX,
            x1: 0,
            y1: 0,
        };
        let (mut count, mut area) = (0usize, 0usize);
        stack.push(start);
        if let Some(s) = seen.get_mut(start) {
            *s = true;
        }
        while let Some(i) = stack.pop() {
            let (x, y) = (i % bw, i / bw);
            count += usize::from(core.get(i).copied().unwrap_or(false));
            area += 1;
            rect.x0 = rect.x0.min(x);
            rect.y0 = rect.y0.min(y);
            rect.x1 = rect.x1.max(x + 1);
            rect.y1 = rect.y1.max(y + 1);
            for ny in y.saturating_sub(1)..(y + 2).min(bh) {
                for nx in x.saturating_sub(1)..(x + 2).min(bw) {
                    let j = ny * bw + nx;
                    if busy.get(j).copied().unwrap_or(false)
                        && let Some(s) = seen.get_mut(j)
                        && !*s
                    {
                        *s = true;
                        stack.push(j);
                    }
                }
            }
        }
        if let Some(score) = score(&rect, count, area) {
            out.push((score, rect));
        }
    }
    out
}

fn score(rect: &Rect, count: usize, area: usize) -> Option<f32> {
    let (w, h) = (rect.width(), rect.height());
    // A version-1 code at 1.5 px per module spans 4×4 blocks before dilation.
    if w < 5 || h < 5 || count < 12 {
        return None;
    }
    let aspect = w.max(h) as f32 / w.min(h) as f32;
    let fill = area as f32 / (w * h) as f32;
    (aspect <= 3.0 && fill >= 0.5).then(|| fill * (count as f32).sqrt() / aspect)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker(w: usize, h: usize, cell: usize, area: Rect) -> Gray {
        let mut px = vec![240u8; w * h];
        for y in area.y0..area.y1 {
            for x in area.x0..area.x1 {
                if ((x / cell) + (y / cell)).is_multiple_of(2) {
                    px[y * w + x] = 20;
                }
            }
        }
        Gray::from_pixels(w, h, px).unwrap()
    }

    #[test]
    fn flat_image_has_no_proposal() {
        let g = Gray::from_pixels(200, 100, vec![128; 20_000]).unwrap();
        assert!(propose(&g).is_empty());
    }

    #[test]
    fn textured_square_is_proposed_around_its_area() {
        let area = Rect {
            x0: 96,
            y0: 48,
            x1: 160,
            y1: 112,
        };
        let g = checker(320, 200, 2, area);
        let p = propose(&g);
        assert_eq!(p.len(), 1);
        let r = p[0];
        assert!(r.x0 <= area.x0 && r.y0 <= area.y0 && r.x1 >= area.x1 && r.y1 >= area.y1);
        assert!(r.width() <= area.width() + 4 * BLOCK);
    }

    #[test]
    fn thin_line_of_texture_is_not_proposed() {
        let g = checker(
            400,
            100,
            2,
            Rect {
                x0: 8,
                y0: 40,
                x1: 392,
                y1: 56,
            },
        );
        assert!(propose(&g).is_empty());
    }

    #[test]
    fn tiny_image_is_not_a_panic() {
        let g = Gray::from_pixels(5, 3, vec![0; 15]).unwrap();
        assert!(propose(&g).is_empty());
    }
}

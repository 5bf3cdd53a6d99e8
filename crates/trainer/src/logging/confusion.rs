//! The confusion matrix of an evaluation as a heat map, logged as the TensorBoard image
//! `val/confusion_matrix` (`val_ema/…`, `val_swa/…` for averaged weights).
//!
//! Layout: row `t` (top to bottom) is the true class `t`, column `p` (left to right) the
//! predicted class `p`, class 0 first; each cell is a square of [`cell_size`] pixels inside a
//! 1-pixel [`GRID`] line, so a `k`-class matrix is `k · cell + 1` pixels square (about
//! [`TARGET_SIDE`] pixels, never under [`MIN_CELL`] pixels a cell). A cell's colour is its
//! count divided by its row's total, the fraction of true class `t` predicted as `p` (recall on
//! the diagonal), from white ([`colour`]`(0)`) to dark blue ([`DARKEST`], all of the row). A
//! class with no example in the split has its whole row [`EMPTY_ROW`] grey. No labels are
//! drawn: classes are in index order.

use super::LogError;
use super::image::Image;

/// The tag of the raw weights' matrix (averaged weights: `val_ema/confusion_matrix`, …).
pub const TAG: &str = "val/confusion_matrix";
/// The side the image aims at, in pixels.
pub const TARGET_SIDE: usize = 384;
/// The smallest cell, in pixels (with many classes the image grows past [`TARGET_SIDE`]).
pub const MIN_CELL: usize = 3;
/// Above this many classes no image is made (it would be over 3000 pixels square).
pub const MAX_CLASSES: usize = 1024;
/// The colour of a whole row: every example of the class predicted as that column's class.
pub const DARKEST: [u8; 3] = [8, 48, 107];
/// The cells of a class with no example in the split.
pub const EMPTY_ROW: [u8; 3] = [224, 224, 224];
/// The lines between cells and around the matrix.
pub const GRID: [u8; 3] = [160, 160, 160];

/// The side of one cell, in pixels, for `k` classes: `TARGET_SIDE / k`, at least [`MIN_CELL`].
pub fn cell_size(k: usize) -> usize {
    (TARGET_SIDE / k.max(1)).max(MIN_CELL)
}

/// The colour of a row fraction: white at 0, [`DARKEST`] at 1, linear in between per channel
/// (so darker means more, monotonically); out of range or NaN is clamped (NaN as 0).
pub fn colour(fraction: f64) -> [u8; 3] {
    let f = if fraction.is_nan() { 0.0 } else { fraction.clamp(0.0, 1.0) };
    DARKEST.map(|d| (255.0 + (f64::from(d) - 255.0) * f).round() as u8)
}

/// The cell colours of the `k × k` matrix `counts` (row-major, `counts[t * k + p]`; missing
/// entries count 0), row by row.
fn cell_colours(counts: &[f64], k: usize) -> Vec<[u8; 3]> {
    let at = |t: usize, p: usize| counts.get(t * k + p).copied().unwrap_or(0.0);
    let mut out = Vec::with_capacity(k * k);
    for t in 0..k {
        let total: f64 = (0..k).map(|p| at(t, p)).sum();
        if total > 0.0 {
            out.extend((0..k).map(|p| colour(at(t, p) / total)));
        } else {
            out.extend(std::iter::repeat_n(EMPTY_ROW, k));
        }
    }
    out
}

/// The heat map of the `k × k` confusion matrix `counts` (row = true class, column =
/// predicted, `counts[t * k + p]`) as a PNG, laid out as the module says. `None` for no class
/// or more than [`MAX_CLASSES`].
pub fn confusion_image(counts: &[f64], k: usize) -> Result<Option<Image>, LogError> {
    if k == 0 || k > MAX_CLASSES {
        return Ok(None);
    }
    let cell = cell_size(k);
    let side = k * cell + 1;
    let colours = cell_colours(counts, k);
    let mut pixels = Vec::with_capacity(side * side * 3);
    for y in 0..side {
        for x in 0..side {
            let c = if x % cell == 0 || y % cell == 0 { GRID } else { colours[(y / cell) * k + x / cell] };
            pixels.extend_from_slice(&c);
        }
    }
    let side = side as u32;
    Image::rgb(side, side, &pixels, "the confusion matrix").map(Some)
}

#[cfg(test)]
mod tests {
    use super::super::image::decode;
    use super::*;

    /// The colour of pixel `(x, y)` of decoded RGB `pixels` of width `w`.
    fn pixel(pixels: &[u8], w: u32, x: usize, y: usize) -> [u8; 3] {
        let i = (y * w as usize + x) * 3;
        [pixels[i], pixels[i + 1], pixels[i + 2]]
    }

    #[test]
    fn a_three_class_matrix_as_pixels() {
        // Class 0 always right; class 1: 1 predicted 0, 3 right; class 2 has no example.
        let counts = [5.0, 0.0, 0.0, 1.0, 3.0, 0.0, 0.0, 0.0, 0.0];
        let image = confusion_image(&counts, 3).unwrap().unwrap();
        assert_eq!(cell_size(3), 128);
        assert_eq!((image.width, image.height), (385, 385));
        let (w, h, colour_type, pixels) = decode(&image.png);
        assert_eq!((w, h, colour_type), (385, 385, png::ColorType::Rgb));
        // The centre of the cell (row t, column p).
        let cell = |t: usize, p: usize| pixel(&pixels, w, p * 128 + 64, t * 128 + 64);
        assert_eq!(cell(0, 0), DARKEST, "a perfect row's diagonal is the darkest colour");
        assert_eq!(cell(0, 1), [255, 255, 255]);
        assert_eq!(cell(0, 2), [255, 255, 255]);
        // 1/4 and 3/4 of the way from white to [8, 48, 107], rounded.
        assert_eq!(cell(1, 0), [193, 203, 218]);
        assert_eq!(cell(1, 1), [70, 100, 144]);
        assert_eq!(cell(1, 2), [255, 255, 255]);
        for p in 0..3 {
            assert_eq!(cell(2, p), EMPTY_ROW, "an empty row: no NaN, its own grey");
        }
        // Grid lines at multiples of 128, the frame included; a cell's own pixels next to them.
        for (x, y) in [(0, 0), (128, 64), (64, 256), (384, 384), (200, 0)] {
            assert_eq!(pixel(&pixels, w, x, y), GRID, "({x}, {y})");
        }
        assert_eq!(pixel(&pixels, w, 1, 1), DARKEST);
        assert_eq!(pixel(&pixels, w, 127, 127), DARKEST);
        assert_eq!(pixel(&pixels, w, 129, 129), colour(0.75));
    }

    #[test]
    fn colours_darken_monotonically_and_clamp() {
        assert_eq!(colour(0.0), [255, 255, 255]);
        assert_eq!(colour(1.0), DARKEST);
        assert_eq!(colour(f64::NAN), colour(0.0));
        assert_eq!(colour(2.0), DARKEST);
        let steps: Vec<[u8; 3]> = (0..=10).map(|i| colour(f64::from(i) / 10.0)).collect();
        for pair in steps.windows(2) {
            assert!((0..3).all(|c| pair[1][c] <= pair[0][c]) && pair[1] != pair[0], "{pair:?}");
        }
    }

    #[test]
    fn image_size_follows_the_class_count() {
        assert_eq!(cell_size(10), 38);
        assert_eq!(confusion_image(&[], 10).unwrap().unwrap().width, 381);
        assert_eq!(cell_size(200), MIN_CELL);
        assert_eq!(confusion_image(&[1.0], 200).unwrap().unwrap().width, 601);
        assert_eq!(confusion_image(&[], 0).unwrap(), None);
        assert_eq!(confusion_image(&[], MAX_CLASSES + 1).unwrap(), None);
    }
}

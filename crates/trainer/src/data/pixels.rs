//! Images given to `eval --data-path` and `predict --input` for the built-in image data sets
//! (`digits`, `mnist`), in place of the validation split: an IDX image file (MNIST's own format,
//! `*-images-idx3-ubyte`, gzipped or not), or a text file with one image per line, its pixel
//! values (separated by commas or white space, row-major, on the data set's own scale: 0–16
//! for digits, 0–255 for MNIST), optionally followed by its class label. Empty lines and lines
//! starting with `#` are skipped.

use std::path::Path;

use super::DataError;
use super::mnist::parse_idx;

/// Image files standing in for a run's validation split. Not a config field: set by
/// [`crate::run::evaluator::validate_on`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageFiles {
    /// The files, read in order.
    pub paths: Vec<String>,
    /// Whether images may come without a label (for predictions; a placeholder 0 stands for it).
    pub unlabelled: bool,
}

/// How a data set's images look.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Images are `side × side` pixels.
    pub side: usize,
    /// The largest pixel value.
    pub max: f32,
    /// Whether pixel values are whole numbers (MNIST's bytes).
    pub whole: bool,
}

/// The images of some [`ImageFiles`]: raw pixel values, row-major, and one label per image.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Images {
    /// `side²` values per image, on the data set's scale.
    pub pixels: Vec<f32>,
    /// Each image's label (0 for an unlabelled one).
    pub labels: Vec<u32>,
}

/// Reads every file of `files` as images of `shape`; any bad line or file is an error naming it.
pub fn read(files: &ImageFiles, shape: Shape, classes: u32) -> Result<Images, DataError> {
    let mut out = Images::default();
    for path in &files.paths {
        let bad = |m: String| DataError::Invalid(format!("{path}: {m}"));
        let bytes = super::capped::read(Path::new(path)).map_err(|e| DataError::Invalid(e.to_string()))?;
        let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
            super::capped::read_all(flate2::read::GzDecoder::new(bytes.as_slice()), super::capped::MAX_DATA_BYTES)
                .map_err(|e| bad(format!("not a gzip file: {e}")))?
        } else {
            bytes
        };
        if bytes.starts_with(&[0, 0, 8, 3]) {
            from_idx(&bytes, path, shape, files.unlabelled, &mut out).map_err(bad)?;
        } else {
            let text = String::from_utf8(bytes).map_err(|_| bad("neither an IDX image file nor UTF-8 text".into()))?;
            from_text(&text, shape, classes, files.unlabelled, &mut out).map_err(bad)?;
        }
    }
    if out.labels.is_empty() {
        let list = files.paths.join(", ");
        return Err(DataError::Invalid(format!("{list}: no images")));
    }
    Ok(out)
}

/// The images of an IDX file (no labels: only when `unlabelled`).
fn from_idx(bytes: &[u8], path: &str, shape: Shape, unlabelled: bool, out: &mut Images) -> Result<(), String> {
    let idx = parse_idx(bytes, 3, path)?;
    if idx.dims[1..] != [shape.side, shape.side] {
        let (s, d) = (shape.side, &idx.dims);
        return Err(format!("images are {}×{}, this model's are {s}×{s}", d[1], d[2]));
    }
    if !unlabelled {
        return Err("an IDX image file has no labels; to measure, give a text file with each image's label last".into());
    }
    if let Some(v) = idx.data.iter().find(|&&b| f32::from(b) > shape.max) {
        return Err(format!("pixel value {v} is above this data set's largest, {}", shape.max));
    }
    out.pixels.extend(idx.data.iter().map(|&b| f32::from(b)));
    out.labels.extend(std::iter::repeat_n(0, idx.dims[0]));
    Ok(())
}

/// The images of a text file, one per line.
fn from_text(text: &str, shape: Shape, classes: u32, unlabelled: bool, out: &mut Images) -> Result<(), String> {
    let width = shape.side * shape.side;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |m: String| format!("line {}: {m}", i + 1);
        let values: Vec<&str> = line.split(|c: char| c == ',' || c.is_whitespace()).filter(|v| !v.is_empty()).collect();
        let label = match values.len() {
            n if n == width && unlabelled => 0,
            n if n == width => return Err(at(format!("no label after the {width} pixel values; eval needs one"))),
            n if n == width + 1 => values[width]
                .parse::<u32>()
                .ok()
                .filter(|l| *l < classes)
                .ok_or_else(|| at(format!("label `{}` is not a class 0..{}", values[width], classes - 1)))?,
            n => return Err(at(format!("{n} values; want {width} pixel values, optionally then the label"))),
        };
        for v in &values[..width] {
            let p: f32 = v.parse().map_err(|_| at(format!("`{v}` is not a number")))?;
            if !(0.0..=shape.max).contains(&p) || (shape.whole && p.fract() != 0.0) {
                let kind = if shape.whole { "a whole number" } else { "a value" };
                return Err(at(format!("pixel `{v}` is not {kind} in 0..={}", shape.max)));
            }
            out.pixels.push(p);
        }
        out.labels.push(label);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: Shape = Shape { side: 2, max: 16.0, whole: false };

    fn files(dir: &Path, content: &[u8], unlabelled: bool) -> ImageFiles {
        let path = dir.join("images.txt");
        std::fs::write(&path, content).unwrap();
        ImageFiles { paths: vec![path.display().to_string()], unlabelled }
    }

    #[test]
    fn text_rows_with_and_without_labels() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(dir.path(), b"# pixels, then the label\n0,1,2,16,3\n\n4 5 6 7 9\n", false);
        let got = read(&f, SHAPE, 10).unwrap();
        assert_eq!(got.pixels, [0.0, 1.0, 2.0, 16.0, 4.0, 5.0, 6.0, 7.0]);
        assert_eq!(got.labels, [3, 9]);
        let f = files(dir.path(), b"0,1,2,16\n", true);
        assert_eq!(read(&f, SHAPE, 10).unwrap().labels, [0]);
    }

    #[test]
    fn bad_rows_are_errors_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        for (content, unlabelled, says) in [
            (&b"0,1,2\n"[..], true, "line 1: 3 values; want 4 pixel values"),
            (b"0,1,2,3\n", false, "line 1: no label after the 4 pixel values"),
            (b"\n0,1,2,17,1\n", false, "line 2: pixel `17` is not a value in 0..=16"),
            (b"0,1,2,x,1\n", false, "line 1: `x` is not a number"),
            (b"0,1,2,3,10\n", false, "line 1: label `10` is not a class 0..9"),
            (b"# nothing\n", true, "no images"),
        ] {
            let e = read(&files(dir.path(), content, unlabelled), SHAPE, 10).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
        let whole = Shape { side: 2, max: 255.0, whole: true };
        let e = read(&files(dir.path(), b"0,1,2.5,3\n", true), whole, 10).unwrap_err().to_string();
        assert!(e.contains("pixel `2.5` is not a whole number in 0..=255"), "{e}");
    }

    #[test]
    fn idx_files_gzipped_or_not_need_no_label_only_for_predictions() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2];
        idx.extend([1, 2, 3, 4, 5, 6, 7, 8]);
        let got = read(&files(dir.path(), &idx, true), SHAPE, 10).unwrap();
        assert_eq!((got.pixels.len(), got.labels.clone()), (8, vec![0, 0]));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &idx).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(read(&files(dir.path(), &gz, true), SHAPE, 10).unwrap(), got);
        let e = read(&files(dir.path(), &idx, false), SHAPE, 10).unwrap_err().to_string();
        assert!(e.contains("an IDX image file has no labels"), "{e}");
        let three = Shape { side: 3, ..SHAPE };
        let e = read(&files(dir.path(), &idx, true), three, 10).unwrap_err().to_string();
        assert!(e.contains("images are 2×2, this model's are 3×3"), "{e}");
    }
}

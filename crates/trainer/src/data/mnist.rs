//! `data: {kind: mnist}`: MNIST from its four raw IDX files (LeCun's format), 60k training and
//! 10k test images of 28×28 handwritten digits. The test set is the validation split unless
//! `val_fraction` holds out part of the training set instead.
//!
//! The reader is the project's own (IDX is a 4-byte magic, big-endian dimensions, then the
//! bytes): candle-datasets has one, but depending on it pulls ~217 crates (parquet, arrow,
//! image, a C build of aws-lc) and about 60 % of the whole build's compile work, for these
//! ~40 lines. Files come from a folder (`dir`); fetching MNIST from the hub is not supported.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::dense::{DenseData, Features, Targets};
use super::pixels::{self, ImageFiles, Shape};
use super::{DataError, Labels, check_fraction, split_indices};

/// `kind: mnist`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MnistConfig {
    /// Folder holding `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
    /// `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte` (each also found as
    /// `….idx3-ubyte` or gzipped with `.gz`).
    pub dir: std::path::PathBuf,
    /// Hold out this fraction of the 60k training images for validation, in `(0, 1)` (default:
    /// validate on the 10k test images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_fraction: Option<f64>,
    /// Seed of the split when `val_fraction` is given (default 0).
    #[serde(default)]
    pub split_seed: u64,
    /// Images that replace the validation split (`eval --data-path`, `predict --input`). Not a
    /// config field.
    #[serde(skip)]
    #[schemars(skip)]
    pub images: Option<ImageFiles>,
}

impl MnistConfig {
    /// Problems found without reading the files.
    pub fn issues(&self) -> Vec<crate::FieldIssue> {
        let mut out = Vec::new();
        if self.dir.to_string_lossy().trim().is_empty() {
            out.push(crate::FieldIssue::new("data.dir", "must not be empty"));
        }
        if let Some(f) = self.val_fraction {
            check_fraction(&mut out, f);
        }
        out
    }
}

/// Pixels per image.
const PIXELS: usize = 28 * 28;

/// An IDX file's content: its dimensions and its unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idx {
    /// The dimensions (`[n, 28, 28]` for images, `[n]` for labels).
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

/// Parses an IDX file of unsigned bytes (type code 0x08) with `ndims` dimensions: magic
/// `0x0000_08NN` (`0x00000803` for images, `0x00000801` for labels), each dimension a
/// big-endian u32, then exactly the product of the dimensions in bytes. `what` names the file
/// in errors.
pub fn parse_idx(bytes: &[u8], ndims: u8, what: &str) -> Result<Idx, String> {
    let magic =
        bytes.get(..4).ok_or_else(|| format!("{what}: truncated: {} bytes, not even an IDX header", bytes.len()))?;
    if magic != [0, 0, 0x08, ndims] {
        return Err(format!(
            "{what}: not an IDX file of unsigned bytes with {ndims} dimension(s): magic {:02x}{:02x}{:02x}{:02x}, want 000008{ndims:02x}",
            magic[0], magic[1], magic[2], magic[3]
        ));
    }
    let header = 4 + 4 * usize::from(ndims);
    let dim_bytes =
        bytes.get(4..header).ok_or_else(|| format!("{what}: truncated in its header ({} bytes)", bytes.len()))?;
    let dims: Vec<usize> =
        dim_bytes.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    let want = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("{what}: dimensions {dims:?} overflow"))?;
    let have = bytes.len() - header;
    if have != want {
        let dims_text = dims.iter().map(usize::to_string).collect::<Vec<_>>().join("×");
        let how = if have < want { "truncated" } else { "too long" };
        return Err(format!("{what}: {how}: the header says {dims_text} = {want} bytes of data, the file has {have}"));
    }
    Ok(Idx { dims, data: bytes[header..].to_vec() })
}

/// Finds `<stem>-<kind>-ubyte` (or `<stem>.<kind>-ubyte`, either optionally `.gz`) in `dir`.
fn find(dir: &Path, stem: &str, kind: &str) -> Result<PathBuf, DataError> {
    let names = [format!("{stem}-{kind}-ubyte"), format!("{stem}.{kind}-ubyte")];
    let candidates: Vec<PathBuf> = names.iter().flat_map(|n| [dir.join(n), dir.join(format!("{n}.gz"))]).collect();
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        DataError::field(
            "data.dir",
            format!(
                "{}: no {} (looked for {}); put the MNIST IDX files there (scripts/fetch-assets.sh fetches them into assets/mnist)",
                dir.display(),
                names[0],
                candidates.iter().map(|p| p.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())).collect::<Vec<_>>().join(", ")
            ),
        )
    })
}

/// Reads (and un-gzips) an IDX file.
fn read_idx(path: &Path, ndims: u8) -> Result<Idx, DataError> {
    let raw = crate::data::capped::read(path).map_err(|e| DataError::field("data.dir", e))?;
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        crate::data::capped::read_all(flate2::read::GzDecoder::new(raw.as_slice()), crate::data::capped::MAX_DATA_BYTES)
            .map_err(|e| DataError::field("data.dir", format!("{}: not a gzip file: {e}", path.display())))?
    } else {
        raw
    };
    parse_idx(&bytes, ndims, &path.display().to_string()).map_err(|m| DataError::field("data.dir", m))
}

/// Reads one split's images and labels and checks they agree.
fn read_split(dir: &Path, stem: &str) -> Result<(Vec<u8>, Vec<u8>), DataError> {
    let (ip, lp) = (find(dir, stem, "images-idx3")?, find(dir, stem, "labels-idx1")?);
    let (images, labels) = (read_idx(&ip, 3)?, read_idx(&lp, 1)?);
    if images.dims[1..] != [28, 28] {
        return Err(DataError::field(
            "data.dir",
            format!("{}: images are {}×{}, MNIST's are 28×28", ip.display(), images.dims[1], images.dims[2]),
        ));
    }
    if images.dims[0] != labels.dims[0] {
        return Err(DataError::field(
            "data.dir",
            format!(
                "{} holds {} images but {} holds {} labels",
                ip.display(),
                images.dims[0],
                lp.display(),
                labels.dims[0]
            ),
        ));
    }
    if let Some(i) = labels.data.iter().position(|&l| l > 9) {
        return Err(DataError::field(
            "data.dir",
            format!("{}: label {} of item {i} is not a digit 0..9", lp.display(), labels.data[i]),
        ));
    }
    Ok((images.data, labels.data))
}

/// MNIST: pixels kept as bytes (batches scale them to `[0, 1]`), as `[1, 28, 28]` images.
pub struct Mnist;

impl Mnist {
    /// Reads the four files and splits them.
    pub fn load(c: &MnistConfig) -> Result<DenseData, DataError> {
        let dir = Path::new(&c.dir);
        if !dir.is_dir() {
            return Err(DataError::field(
                "data.dir",
                format!(
                    "{} is not a folder; put the MNIST IDX files there (scripts/fetch-assets.sh fetches them into assets/mnist)",
                    dir.display()
                ),
            ));
        }
        let (mut pixels, mut labels) = read_split(dir, "train")?;
        let n_train = labels.len();
        let (train, val) = match (c.val_fraction, &c.images) {
            (_, Some(files)) => {
                let given = pixels::read(files, Shape { side: 28, max: 255.0, whole: true }, 10)?;
                // Whole numbers in 0..=255, checked by the reader: exact as bytes.
                pixels.extend(given.pixels.iter().map(|&p| p as u8));
                labels.extend(given.labels.iter().map(|&l| l as u8));
                ((0..n_train).collect(), (n_train..labels.len()).collect())
            }
            (Some(f), None) => split_indices(n_train, f, c.split_seed),
            (None, None) => {
                let (test_pixels, test_labels) = read_split(dir, "t10k")?;
                pixels.extend(test_pixels);
                labels.extend(test_labels);
                ((0..n_train).collect(), (n_train..labels.len()).collect())
            }
        };
        let held_out = match (c.val_fraction, &c.images) {
            (_, Some(_)) => "images given",
            (Some(_), None) => "val images held out of the training set",
            (None, None) => "test images as validation",
        };
        let description = format!("MNIST 28×28: {} train / {} {held_out}, 10 classes", train.len(), val.len());
        DenseData::new(
            Features::Bytes { data: pixels, divisor: 255.0 },
            PIXELS,
            Some([1, 28, 28]),
            Targets::Classes(labels.into_iter().map(u32::from).collect()),
            Labels::Classification { num_classes: 10 },
            (train, val),
            description,
        )
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;
    use crate::data::{Dataset, Inputs, Split};

    fn idx(ndims: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 8, ndims];
        dims.iter().for_each(|d| b.extend(d.to_be_bytes()));
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn parses_headers_and_rejects_bad_files() {
        let ok = parse_idx(&idx(3, &[2, 28, 28], &[7; 2 * 784]), 3, "x").unwrap();
        assert_eq!(ok.dims, [2, 28, 28]);
        assert_eq!(ok.data.len(), 1568);
        let e = parse_idx(&idx(3, &[2, 28, 28], &[7; 100]), 3, "imgs").unwrap_err();
        assert!(e.contains("imgs: truncated: the header says 2×28×28 = 1568 bytes of data, the file has 100"), "{e}");
        assert!(parse_idx(&idx(1, &[3], &[1, 2, 3]), 3, "x").unwrap_err().contains("magic 00000801, want 00000803"));
        assert!(parse_idx(&[0, 0], 1, "x").unwrap_err().contains("truncated"));
        assert!(parse_idx(&[0, 0, 8, 1, 0], 1, "x").unwrap_err().contains("truncated in its header"));
        assert!(parse_idx(&idx(1, &[2], &[1, 2, 3]), 1, "x").unwrap_err().contains("too long"));
    }

    fn write_set(dir: &Path, stem: &str, n: u32, gz: bool) {
        let images = idx(3, &[n, 28, 28], &vec![255; n as usize * 784]);
        let labels = idx(1, &[n], &(0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>());
        for (name, bytes) in
            [(format!("{stem}-images-idx3-ubyte"), images), (format!("{stem}-labels-idx1-ubyte"), labels)]
        {
            if gz {
                let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                std::io::Write::write_all(&mut enc, &bytes).unwrap();
                std::fs::write(dir.join(format!("{name}.gz")), enc.finish().unwrap()).unwrap();
            } else {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
    }

    #[test]
    fn loads_a_folder_with_the_test_set_as_validation() {
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), "train", 20, false);
        write_set(dir.path(), "t10k", 5, true);
        let c = MnistConfig { dir: dir.path().to_path_buf(), val_fraction: None, split_seed: 0, images: None };
        let d = Mnist::load(&c).unwrap();
        assert_eq!((d.len(Split::Train), d.len(Split::Val)), (20, 5));
        let b = d.batch(Split::Val, &[0, 4], &Device::Cpu).unwrap();
        let Inputs::Dense(x) = &b.inputs else { panic!("dense") };
        assert_eq!(x.dims(), &[2, 784]);
        assert_eq!(d.image_shape(), Some([1, 28, 28]));
        assert_eq!(x.max_all().unwrap().to_scalar::<f32>().unwrap(), 1.0);
        assert_eq!(b.targets.to_vec1::<u32>().unwrap(), [0, 4]);
        let d = Mnist::load(&MnistConfig { val_fraction: Some(0.25), ..c.clone() }).unwrap();
        assert_eq!((d.len(Split::Train), d.len(Split::Val)), (15, 5));
        assert_eq!(d.input_shape(), &[784]);
    }

    #[test]
    fn mismatched_or_missing_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), "train", 3, false);
        std::fs::write(dir.path().join("train-labels-idx1-ubyte"), idx(1, &[2], &[1, 2])).unwrap();
        let c = MnistConfig { dir: dir.path().to_path_buf(), val_fraction: Some(0.5), split_seed: 0, images: None };
        let e = Mnist::load(&c).err().unwrap().to_string();
        assert!(e.starts_with("data.dir: ") && e.contains("holds 3 images but") && e.contains("holds 2 labels"), "{e}");
        write_set(dir.path(), "train", 3, false);
        let e = Mnist::load(&MnistConfig { val_fraction: None, ..c.clone() }).err().unwrap().to_string();
        assert!(e.contains("no t10k-images-idx3-ubyte"), "{e}");
        let e = Mnist::load(&MnistConfig { dir: "/nonexistent/mnist".into(), ..c }).err().unwrap().to_string();
        assert!(e.contains("/nonexistent/mnist is not a folder"), "{e}");
    }
}

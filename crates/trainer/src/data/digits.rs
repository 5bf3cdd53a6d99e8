//! `data: {kind: digits}`: scikit-learn's copy of the UCI 8×8 handwritten digits (1797 images,
//! 10 classes, CC BY 4.0), compiled into the binary so runs work offline on a fresh clone.

use std::io::Read;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::dense::{DenseData, Features, Targets};
use super::pixels::{self, ImageFiles, Shape};
use super::{DataError, Labels, split_indices};

/// The gzipped CSV (64 pixel values 0..16, then the label; no header). See `data/README.md`.
const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../data/digits.csv.gz");

/// `kind: digits`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DigitsConfig {
    /// Fraction of the 1797 images held out for validation, in `(0, 1)` (default 0.2).
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
    /// Seed of the train/validation split (default 0; independent of the run's `seed`, so runs
    /// with different seeds are evaluated on the same images).
    #[serde(default)]
    pub split_seed: u64,
    /// Images that replace the validation split (`eval --data-path`, `predict --input`). Not a
    /// config field.
    #[serde(skip)]
    #[schemars(skip)]
    pub images: Option<ImageFiles>,
}

fn default_val_fraction() -> f64 {
    0.2
}

impl Default for DigitsConfig {
    fn default() -> Self {
        Self { val_fraction: default_val_fraction(), split_seed: 0, images: None }
    }
}

/// scikit-learn's digits, pixels scaled to `[0, 1]`, as `[1, 8, 8]` images.
pub struct Digits;

/// Number of pixels per image.
const PIXELS: usize = 64;

impl Digits {
    /// Decodes the embedded file and splits it.
    pub fn load(config: &DigitsConfig) -> Result<DenseData, DataError> {
        if !(config.val_fraction > 0.0 && config.val_fraction < 1.0) {
            return Err(DataError::Invalid(format!(
                "data.val_fraction must be in (0, 1) (got {})",
                config.val_fraction
            )));
        }
        let mut text = String::new();
        flate2::read::GzDecoder::new(DIGITS_CSV_GZ)
            .read_to_string(&mut text)
            .map_err(|e| DataError::Invalid(format!("embedded digits data: {e}")))?;
        let (mut images, mut labels) = (Vec::new(), Vec::new());
        for (row, line) in text.lines().enumerate() {
            let values: Vec<&str> = line.split(',').collect();
            if values.len() != PIXELS + 1 {
                return Err(DataError::Invalid(format!("digits row {}: {} values, want 65", row + 1, values.len())));
            }
            for v in &values[..PIXELS] {
                let p: f32 =
                    v.trim().parse().map_err(|_| DataError::Invalid(format!("digits row {}: `{v}`", row + 1)))?;
                images.push(p / 16.0);
            }
            let label: u32 = values[PIXELS]
                .trim()
                .parse()
                .map_err(|_| DataError::Invalid(format!("digits row {}: label", row + 1)))?;
            labels.push(label);
        }
        let (train, mut val) = split_indices(labels.len(), config.val_fraction, config.split_seed);
        let mut held_out = "val images";
        if let Some(files) = &config.images {
            let given = pixels::read(files, Shape { side: 8, max: 16.0, whole: false }, 10)?;
            val = (labels.len()..labels.len() + given.labels.len()).collect();
            images.extend(given.pixels.iter().map(|p| p / 16.0));
            labels.extend(given.labels);
            held_out = "images given";
        }
        let description = format!("digits 8×8: {} train / {} {held_out}, 10 classes", train.len(), val.len());
        DenseData::new(
            Features::F32(images),
            PIXELS,
            Some([1, 8, 8]),
            Targets::Classes(labels),
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

    #[test]
    fn embedded_file_is_the_pinned_one_and_decodes() {
        let d = Digits::load(&DigitsConfig::default()).unwrap();
        let (Features::F32(pixels), Targets::Classes(labels)) = (d.features(), d.targets()) else {
            panic!("f32, classes")
        };
        assert_eq!(labels.len(), 1797);
        assert_eq!((d.rows(Split::Train).len(), d.rows(Split::Val).len()), (1438, 359));
        // First row of the file: label 0, first pixels 0,0,5,13.
        assert_eq!(labels[0], 0);
        assert_eq!(&pixels[..4], &[0.0, 0.0, 5.0 / 16.0, 13.0 / 16.0]);
        let mut counts = [0usize; 10];
        labels.iter().for_each(|&l| counts[l as usize] += 1);
        assert!(counts.iter().all(|&c| (174..=183).contains(&c)), "{counts:?}");
        assert!(pixels.iter().all(|p| (0.0..=1.0).contains(p)));
    }

    #[test]
    fn batches_have_the_right_shape_and_split_is_disjoint() {
        let d = Digits::load(&DigitsConfig::default()).unwrap();
        let b = d.batch(Split::Train, &[0, 5, 7], &Device::Cpu).unwrap();
        let Inputs::Dense(x) = &b.inputs else { panic!("digits are dense") };
        assert_eq!(x.dims(), &[3, 64]);
        assert_eq!(d.image_shape(), Some([1, 8, 8]));
        assert_eq!(b.targets.dims(), &[3]);
        let mut all: Vec<usize> = d.rows(Split::Train).iter().chain(d.rows(Split::Val)).copied().collect();
        all.sort();
        assert_eq!(all, (0..1797).collect::<Vec<_>>());
        assert!(d.batch(Split::Val, &[10_000], &Device::Cpu).is_err());
    }
}

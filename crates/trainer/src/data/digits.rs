//! `data: {kind: digits}`: scikit-learn's copy of the UCI 8×8 handwritten digits (1797 images,
//! 10 classes, CC BY 4.0), compiled into the binary so runs work offline on a fresh clone.

use std::io::Read;

use candle_core::{Device, Tensor};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Batch, DataError, Dataset, Inputs, Labels, Split, split_indices};

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
}

fn default_val_fraction() -> f64 {
    0.2
}

impl Default for DigitsConfig {
    fn default() -> Self {
        Self { val_fraction: default_val_fraction(), split_seed: 0 }
    }
}

/// The digits, pixels scaled to `[0, 1]`.
pub struct Digits {
    pixels: Vec<f32>,
    labels: Vec<u32>,
    train: Vec<usize>,
    val: Vec<usize>,
    shape: Vec<usize>,
}

/// Number of pixels per image.
const PIXELS: usize = 64;

impl Digits {
    /// Decodes the embedded file and splits it; `images` presents each example as a `[1, 8, 8]`
    /// image (for convolutional models) instead of a flat vector of 64.
    pub fn load(config: &DigitsConfig, images: bool) -> Result<Self, DataError> {
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
        let (mut pixels, mut labels) = (Vec::new(), Vec::new());
        for (row, line) in text.lines().enumerate() {
            let values: Vec<&str> = line.split(',').collect();
            if values.len() != PIXELS + 1 {
                return Err(DataError::Invalid(format!("digits row {}: {} values, want 65", row + 1, values.len())));
            }
            for v in &values[..PIXELS] {
                let p: f32 =
                    v.trim().parse().map_err(|_| DataError::Invalid(format!("digits row {}: `{v}`", row + 1)))?;
                pixels.push(p / 16.0);
            }
            let label: u32 = values[PIXELS]
                .trim()
                .parse()
                .map_err(|_| DataError::Invalid(format!("digits row {}: label", row + 1)))?;
            labels.push(label);
        }
        let (train, val) = split_indices(labels.len(), config.val_fraction, config.split_seed);
        let shape = if images { vec![1, 8, 8] } else { vec![PIXELS] };
        Ok(Self { pixels, labels, train, val, shape })
    }
}

impl Dataset for Digits {
    fn labels(&self) -> Labels {
        Labels::Classification { num_classes: 10 }
    }

    fn input_shape(&self) -> &[usize] {
        &self.shape
    }

    fn len(&self, split: Split) -> usize {
        match split {
            Split::Train => self.train.len(),
            Split::Val => self.val.len(),
        }
    }

    fn batch(&self, split: Split, indices: &[usize], device: &Device) -> Result<Batch, DataError> {
        let rows = match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
        };
        let mut x = Vec::with_capacity(indices.len() * PIXELS);
        let mut y = Vec::with_capacity(indices.len());
        for &i in indices {
            let r = *rows.get(i).ok_or_else(|| DataError::Invalid(format!("example {i} out of range")))?;
            x.extend_from_slice(&self.pixels[r * PIXELS..(r + 1) * PIXELS]);
            y.push(self.labels[r]);
        }
        let mut shape = vec![indices.len()];
        shape.extend_from_slice(&self.shape);
        Ok(Batch {
            inputs: Inputs::Dense(Tensor::from_vec(x, shape, device)?),
            targets: Tensor::from_vec(y, indices.len(), device)?,
        })
    }

    fn describe(&self) -> String {
        format!("digits 8×8: {} train / {} val images, 10 classes", self.train.len(), self.val.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_file_is_the_pinned_one_and_decodes() {
        let d = Digits::load(&DigitsConfig::default(), false).unwrap();
        assert_eq!(d.labels.len(), 1797);
        assert_eq!((d.train.len(), d.val.len()), (1438, 359));
        // First row of the file: label 0, first pixels 0,0,5,13.
        assert_eq!(d.labels[0], 0);
        assert_eq!(&d.pixels[..4], &[0.0, 0.0, 5.0 / 16.0, 13.0 / 16.0]);
        let mut counts = [0usize; 10];
        d.labels.iter().for_each(|&l| counts[l as usize] += 1);
        assert!(counts.iter().all(|&c| (174..=183).contains(&c)), "{counts:?}");
        assert!(d.pixels.iter().all(|p| (0.0..=1.0).contains(p)));
    }

    #[test]
    fn batches_have_the_right_shape_and_split_is_disjoint() {
        let d = Digits::load(&DigitsConfig::default(), true).unwrap();
        let b = d.batch(Split::Train, &[0, 5, 7], &Device::Cpu).unwrap();
        let Inputs::Dense(x) = &b.inputs else { panic!("digits are dense") };
        assert_eq!(x.dims(), &[3, 1, 8, 8]);
        assert_eq!(b.targets.dims(), &[3]);
        let mut all: Vec<usize> = d.train.iter().chain(&d.val).copied().collect();
        all.sort();
        assert_eq!(all, (0..1797).collect::<Vec<_>>());
        assert!(d.batch(Split::Val, &[10_000], &Device::Cpu).is_err());
    }
}

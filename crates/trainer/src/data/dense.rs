//! [`DenseData`]: the one in-memory dataset of numeric examples — dense features, targets and the
//! train/validation split — that digits, MNIST and tabular files parse into. Batches are
//! `[batch, width]` f32 features; examples that are images carry their `[c, h, w]` shape, which
//! convolutional models read back ([`Dataset::image_shape`]).

use candle_core::{Device, Tensor};

use super::{Batch, DataError, Dataset, Inputs, Labels, Split};

/// The features of every example, row-major, `width` values each.
#[derive(Debug, Clone, PartialEq)]
pub enum Features {
    /// Values as they are.
    F32(Vec<f32>),
    /// Bytes (e.g. pixels), divided by `divisor` when batched: a quarter of the memory of f32.
    Bytes {
        /// The bytes.
        data: Vec<u8>,
        /// Each byte becomes `byte as f32 / divisor`.
        divisor: f32,
    },
}

impl Features {
    fn extend_row(&self, out: &mut Vec<f32>, row: usize, width: usize) {
        let range = row * width..(row + 1) * width;
        match self {
            Features::F32(v) => out.extend_from_slice(&v[range]),
            Features::Bytes { data, divisor } => out.extend(data[range].iter().map(|&b| f32::from(b) / divisor)),
        }
    }

    fn len(&self) -> usize {
        match self {
            Features::F32(v) => v.len(),
            Features::Bytes { data, .. } => data.len(),
        }
    }
}

/// The target of every example.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// Class indices (classification).
    Classes(Vec<u32>),
    /// `outputs` values per example, row-major (regression).
    Values(Vec<f32>),
}

impl Targets {
    fn examples(&self, labels: Labels) -> usize {
        match (self, labels) {
            (Targets::Classes(c), _) => c.len(),
            (Targets::Values(v), Labels::Regression { outputs }) => v.len() / outputs.max(1),
            (Targets::Values(v), Labels::Classification { .. } | Labels::NextToken { .. }) => v.len(),
        }
    }
}

/// Dense examples in memory, split into train and validation.
#[derive(Debug, Clone)]
pub struct DenseData {
    features: Features,
    shape: [usize; 1],
    image: Option<[usize; 3]>,
    targets: Targets,
    labels: Labels,
    train: Vec<usize>,
    val: Vec<usize>,
    description: String,
}

impl DenseData {
    /// Examples of `width` features with their `targets` labelled as `labels`; `train` and
    /// `val` index the examples. `image` is the `[c, h, w]` shape of an example when it is an
    /// image (`c · h · w = width`). Errors when the sizes disagree.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        features: Features,
        width: usize,
        image: Option<[usize; 3]>,
        targets: Targets,
        labels: Labels,
        (train, val): (Vec<usize>, Vec<usize>),
        description: String,
    ) -> Result<Self, DataError> {
        let n = targets.examples(labels);
        let bad = |what: String| Err(DataError::Invalid(format!("{description}: {what}")));
        if features.len() != n * width {
            return bad(format!("{} feature values for {n} examples of width {width}", features.len()));
        }
        if image.is_some_and(|[c, h, w]| c * h * w != width) {
            return bad(format!("image shape {image:?} does not hold {width} values"));
        }
        if let Some(i) = train.iter().chain(&val).find(|&&i| i >= n) {
            return bad(format!("example {i} of a split is out of range ({n} examples)"));
        }
        Ok(Self { features, shape: [width], image, targets, labels, train, val, description })
    }

    /// The features of every example.
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// The target of every example.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// The examples of `split`.
    pub fn rows(&self, split: Split) -> &[usize] {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
        }
    }
}

impl Dataset for DenseData {
    fn labels(&self) -> Labels {
        self.labels
    }

    fn input_shape(&self) -> &[usize] {
        &self.shape
    }

    fn image_shape(&self) -> Option<[usize; 3]> {
        self.image
    }

    fn len(&self, split: Split) -> usize {
        self.rows(split).len()
    }

    fn batch(&self, split: Split, indices: &[usize], device: &Device) -> Result<Batch, DataError> {
        let rows = self.rows(split);
        let [w] = self.shape;
        let n = indices.len();
        let mut x = Vec::with_capacity(n * w);
        let mut rows_of_batch = Vec::with_capacity(n);
        for &i in indices {
            let r = *rows.get(i).ok_or_else(|| DataError::Invalid(format!("example {i} out of range")))?;
            self.features.extend_row(&mut x, r, w);
            rows_of_batch.push(r);
        }
        let targets = match (&self.targets, self.labels) {
            (Targets::Classes(c), _) => Tensor::from_vec(rows_of_batch.iter().map(|&r| c[r]).collect(), n, device)?,
            (Targets::Values(v), Labels::Regression { outputs }) => {
                let y: Vec<f32> =
                    rows_of_batch.iter().flat_map(|&r| &v[r * outputs..(r + 1) * outputs]).copied().collect();
                Tensor::from_vec(y, (n, outputs), device)?
            }
            (Targets::Values(v), Labels::Classification { .. } | Labels::NextToken { .. }) => {
                Tensor::from_vec(rows_of_batch.iter().map(|&r| v[r] as u32).collect(), n, device)?
            }
        };
        Ok(Batch { inputs: Inputs::Dense(Tensor::from_vec(x, (n, w), device)?), targets })
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images() -> DenseData {
        let pixels: Vec<u8> = (0..4 * 4).map(|i| i as u8 * 10).collect();
        DenseData::new(
            Features::Bytes { data: pixels, divisor: 255.0 },
            4,
            Some([1, 2, 2]),
            Targets::Classes(vec![0, 1, 2, 3]),
            Labels::Classification { num_classes: 4 },
            (vec![3, 1, 0], vec![2]),
            "four images".into(),
        )
        .unwrap()
    }

    #[test]
    fn batches_gather_the_split_rows_and_scale_bytes() {
        let d = images();
        assert_eq!((d.len(Split::Train), d.len(Split::Val), d.image_shape()), (3, 1, Some([1, 2, 2])));
        let b = d.batch(Split::Train, &[0, 2], &Device::Cpu).unwrap();
        let Inputs::Dense(x) = &b.inputs else { panic!("dense") };
        assert_eq!(x.dims(), &[2, 4]);
        let x = x.to_vec2::<f32>().unwrap();
        assert_eq!(x[0], [120.0 / 255.0, 130.0 / 255.0, 140.0 / 255.0, 150.0 / 255.0]);
        assert_eq!(x[1][0], 0.0);
        assert_eq!(b.targets.to_vec1::<u32>().unwrap(), [3, 0]);
        assert!(d.batch(Split::Val, &[1], &Device::Cpu).is_err());
    }

    #[test]
    fn regression_targets_have_one_row_per_example() {
        let d = DenseData::new(
            Features::F32(vec![1.0, 2.0, 3.0]),
            1,
            None,
            Targets::Values(vec![0.5, 1.5, 2.5]),
            Labels::Regression { outputs: 1 },
            (vec![0, 1], vec![2]),
            "three rows".into(),
        )
        .unwrap();
        let b = d.batch(Split::Train, &[1, 0], &Device::Cpu).unwrap();
        assert_eq!(b.targets.to_vec2::<f32>().unwrap(), [[1.5], [0.5]]);
    }

    #[test]
    fn inconsistent_sizes_are_refused() {
        let new = |width, image, split: (Vec<usize>, Vec<usize>)| {
            DenseData::new(
                Features::F32(vec![0.0; 6]),
                width,
                image,
                Targets::Classes(vec![0, 1, 0]),
                Labels::Classification { num_classes: 2 },
                split,
                "t".into(),
            )
        };
        assert!(new(2, None, (vec![0], vec![1])).is_ok());
        assert!(new(3, None, (vec![0], vec![1])).is_err());
        assert!(new(2, Some([1, 1, 3]), (vec![0], vec![1])).is_err());
        assert!(new(2, None, (vec![0], vec![3])).is_err());
    }
}

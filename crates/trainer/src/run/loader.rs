//! The order of training micro-batches: each epoch a fresh permutation drawn from the run's seed
//! and the epoch number, so the position `(epoch, batch)` alone restores the order on resume.

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// Where the loader is: the next micro-batch is batch `batch` of epoch `epoch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DataPosition {
    /// Epoch, from 0.
    pub epoch: u64,
    /// Micro-batch index within the epoch, from 0.
    pub batch: u64,
}

/// Yields the example indices of successive micro-batches.
#[derive(Debug, Clone)]
pub struct Loader {
    seed: u64,
    examples: usize,
    batch_size: usize,
    position: DataPosition,
    order: Vec<usize>,
}

impl Loader {
    /// A loader over `examples` training examples at `position`.
    pub fn new(seed: u64, examples: usize, batch_size: usize, position: DataPosition) -> Self {
        let order = Rng::derived(seed, position.epoch).permutation(examples);
        Self { seed, examples, batch_size: batch_size.max(1), position, order }
    }

    /// Micro-batches per epoch (the last one may be short).
    pub fn batches_per_epoch(&self) -> u64 {
        self.examples.div_ceil(self.batch_size) as u64
    }

    /// The current position (of the next micro-batch).
    pub fn position(&self) -> DataPosition {
        self.position
    }

    /// The indices of the next micro-batch; advances, reshuffling at each new epoch.
    pub fn next_batch(&mut self) -> &[usize] {
        if self.position.batch >= self.batches_per_epoch() {
            self.position = DataPosition { epoch: self.position.epoch + 1, batch: 0 };
            self.order = Rng::derived(self.seed, self.position.epoch).permutation(self.examples);
        }
        let start = self.position.batch as usize * self.batch_size;
        let end = (start + self.batch_size).min(self.examples);
        self.position.batch += 1;
        &self.order[start..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_each_epoch_once_and_resumes_exactly() {
        let mut a = Loader::new(3, 10, 4, DataPosition::default());
        assert_eq!(a.batches_per_epoch(), 3);
        let mut seen: Vec<usize> = (0..3).flat_map(|_| a.next_batch().to_vec()).collect();
        seen.sort();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        let epoch1: Vec<Vec<usize>> = (0..2).map(|_| a.next_batch().to_vec()).collect();
        let mut b = Loader::new(3, 10, 4, DataPosition { epoch: 1, batch: 0 });
        let again: Vec<Vec<usize>> = (0..2).map(|_| b.next_batch().to_vec()).collect();
        assert_eq!(epoch1, again);
        assert_eq!(b.position(), DataPosition { epoch: 1, batch: 2 });
    }
}

//! The KV cache of incremental decoding: each layer's rotated keys and values of the positions
//! seen so far, so each new token costs one position.

use candle_core::Tensor;

/// Keys and values `[b, kv_heads, len, head_dim]` per layer, and the number of positions held.
#[derive(Default, Clone)]
pub struct KvCache {
    pub(super) layers: Vec<Option<(Tensor, Tensor)>>,
    pub(super) len: usize,
}

impl KvCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Positions held (the position of the next token).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no position is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every position.
    pub fn clear(&mut self) {
        self.layers.clear();
        self.len = 0;
    }
}

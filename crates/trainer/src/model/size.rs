//! The size of a model from its config's shapes, counted without allocating anything, so that
//! an absurd `model: {hidden: [100000, 100000]}` is refused with the number instead of aborting
//! on a 40 GB allocation.
//!
//! The rule: at most [`MAX_PARAMETERS`] (2^31) parameters — beyond what a CPU trainer in f32
//! can hold with its gradients and optimizer state — and, on Linux, weights + gradients + two
//! optimizer moments (16 bytes a parameter) must fit in the memory available now.
//! Pretrained models (`bert_classifier`, `causal_lm`) are sized by their files, not counted here.

use super::{ModelConfig, ModelSpec};
use crate::FieldIssue;

/// The most parameters a config may ask for.
pub const MAX_PARAMETERS: u128 = 1 << 31;

/// Bytes a trained parameter costs: f32 weight, gradient and two optimizer moments.
const BYTES_PER_PARAMETER: u128 = 16;

/// `(in · out + out)`: a linear layer's weights and biases.
fn linear(inputs: u128, outputs: u128) -> u128 {
    inputs.saturating_mul(outputs).saturating_add(outputs)
}

/// Parameters of the model for `spec` (the data's shapes), or a lower bound from the config alone
/// (input width and classes taken as 1) when `spec` is `None`; `None` for pretrained models.
pub fn parameters(config: &ModelConfig, spec: Option<&ModelSpec>) -> Option<u128> {
    let outputs = spec.map_or(1, |s| s.outputs as u128);
    match config {
        ModelConfig::Mlp(c) => {
            let mut width: u128 = spec.map_or(1, |s| s.input_shape.iter().map(|&d| d as u128).product());
            let mut total = 0u128;
            for &h in &c.hidden {
                total = total.saturating_add(linear(width, h as u128));
                width = h as u128;
            }
            Some(total.saturating_add(linear(width, outputs)))
        }
        ModelConfig::Cnn(c) => {
            let [mut channels, mut h, mut w] = spec.and_then(|s| s.image).map_or([1u128; 3], |i| i.map(|d| d as u128));
            let mut total = 0u128;
            for &out in &c.channels {
                total = total.saturating_add(linear(channels.saturating_mul(9), out as u128));
                channels = out as u128;
                (h, w) = ((h / 2).max(1), (w / 2).max(1));
            }
            let fc = linear(channels.saturating_mul(h).saturating_mul(w), c.hidden as u128);
            Some(total.saturating_add(fc).saturating_add(linear(c.hidden as u128, outputs)))
        }
        _ => None,
    }
}

/// The issue when the model is too large: its parameter count and memory, against the limits.
pub fn issue(config: &ModelConfig, spec: Option<&ModelSpec>) -> Option<FieldIssue> {
    let n = parameters(config, spec)?;
    let bytes = n.saturating_mul(BYTES_PER_PARAMETER);
    let gib = bytes as f64 / (1u64 << 30) as f64;
    let at_least = if spec.is_none() { "at least " } else { "" };
    if n > MAX_PARAMETERS {
        return Some(FieldIssue::new(
            "model",
            format!(
                "the model has {at_least}{n} parameters ({gib:.1} GiB to train), more than the {MAX_PARAMETERS} (2^31) accepted"
            ),
        ));
    }
    let available = available_memory()?;
    (bytes > available).then(|| {
        FieldIssue::new(
            "model",
            format!(
                "the model has {at_least}{n} parameters: {gib:.1} GiB to train (weights, gradients, optimizer state), more than the {:.1} GiB of memory available",
                available as f64 / (1u64 << 30) as f64
            ),
        )
    })
}

/// `MemAvailable` of `/proc/meminfo` in bytes (Linux), else `None`.
fn available_memory() -> Option<u128> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u128 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(yaml: &str) -> ModelConfig {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn counts_match_the_built_shapes() {
        let spec = ModelSpec { input_shape: vec![1, 8, 8], image: Some([1, 8, 8]), outputs: 10 };
        // 64·16 + 16 + 16·10 + 10
        assert_eq!(parameters(&model("{kind: mlp, hidden: [16]}"), Some(&spec)), Some(1210));
        // conv 1→4: 36 + 4; pool to 4×4; fc 4·16 → 8: 512 + 8; head 8 → 10: 90
        assert_eq!(parameters(&model("{kind: cnn, channels: [4], hidden: 8}"), Some(&spec)), Some(650));
    }

    #[test]
    fn absurd_sizes_are_refused_with_the_number_before_any_data() {
        let e = issue(&model("{kind: mlp, hidden: [100000, 100000]}"), None).unwrap();
        assert_eq!(e.path, "model");
        assert!(e.message.contains("at least 10000400001 parameters") && e.message.contains("2^31"), "{e}");
        assert!(issue(&model("{kind: mlp, hidden: [128]}"), None).is_none());
        // Within the bound from the config alone, beyond it with the data's 64 inputs.
        let spec = ModelSpec { input_shape: vec![64], image: None, outputs: 10 };
        assert_eq!(parameters(&model("{kind: mlp, hidden: [33554432, 10]}"), None), Some(402_653_205));
        let e = issue(&model("{kind: mlp, hidden: [33554432, 10]}"), Some(&spec)).unwrap();
        assert!(e.message.contains("2516582520 parameters"), "{e}");
        let e = issue(&model("{kind: mlp, hidden: [18446744073709551615, 18446744073709551615]}"), None).unwrap();
        assert!(e.message.contains("parameters"), "{e}");
    }
}

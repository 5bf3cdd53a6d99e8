//! Choosing the next token from logits (greedy, or temperature with nucleus / top-p
//! filtering, drawn from the run's seeded [`Rng`]), and [`generate`]: KV-cached decoding.

use candle_core::Tensor;

use super::cache::KvCache;
use super::model::Llama;
use crate::rng::Rng;

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// 0: greedy (the most likely token); otherwise logits are divided by it before softmax.
    pub temperature: f64,
    /// Nucleus filtering: draw only from the smallest set of most likely tokens whose
    /// probabilities reach `top_p` (1: no filtering).
    pub top_p: f64,
}

impl Default for Sampling {
    /// Greedy.
    fn default() -> Self {
        Self { temperature: 0.0, top_p: 1.0 }
    }
}

/// The index of the largest logit (the first one on ties).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, l) in logits.iter().enumerate() {
        if l.total_cmp(&logits[best]).is_gt() {
            best = i;
        }
    }
    best as u32
}

/// The tokens kept by nucleus filtering with their probabilities (`softmax(logits / T)`),
/// most likely first: the smallest prefix whose probabilities sum to at least `top_p` (at
/// least one token).
pub fn nucleus(logits: &[f32], temperature: f64, top_p: f64) -> Vec<(u32, f64)> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f64> = logits.iter().map(|&l| ((f64::from(l) - f64::from(max)) / temperature).exp()).collect();
    let total: f64 = weights.iter().sum();
    let mut order: Vec<(u32, f64)> = weights.iter().enumerate().map(|(i, w)| (i as u32, w / total)).collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut sum = 0.0;
    let keep = order
        .iter()
        .position(|&(_, p)| {
            sum += p;
            sum >= top_p
        })
        .map_or(order.len(), |i| i + 1);
    order.truncate(keep.max(1));
    order
}

/// The next token: [`argmax`] when `temperature <= 0`, else one draw from the [`nucleus`]
/// (renormalised) with one uniform from `rng`.
pub fn sample(logits: &[f32], sampling: &Sampling, rng: &mut Rng) -> u32 {
    if sampling.temperature <= 0.0 || logits.is_empty() {
        return argmax(logits);
    }
    let kept = nucleus(logits, sampling.temperature, sampling.top_p);
    let total: f64 = kept.iter().map(|k| k.1).sum();
    let mut u = rng.next_f64() * total;
    for &(id, p) in &kept {
        if u < p {
            return id;
        }
        u -= p;
    }
    kept.last().map_or(0, |k| k.0)
}

/// Continues `prompt` by up to `max_new_tokens` tokens with a KV cache (the prompt in one
/// pass, then one position per token), stopping before any id in `eos`; returns the new tokens
/// (without the EOS).
pub fn generate(
    model: &Llama,
    prompt: &[u32],
    max_new_tokens: usize,
    sampling: &Sampling,
    eos: &[u32],
    rng: &mut Rng,
) -> candle_core::Result<Vec<u32>> {
    if prompt.is_empty() {
        return Err(candle_core::Error::Msg("generate needs a prompt of at least one token".into()));
    }
    let mut cache = KvCache::new();
    let mut out = Vec::with_capacity(max_new_tokens);
    let mut next: Vec<u32> = prompt.to_vec();
    while out.len() < max_new_tokens {
        let ids = Tensor::new(next.as_slice(), model.device())?.unsqueeze(0)?;
        let logits = model.forward_cached(&ids, &mut cache)?;
        let last = logits.squeeze(0)?.get(next.len() - 1)?.to_vec1::<f32>()?;
        let token = sample(&last, sampling, rng);
        if eos.contains(&token) {
            break;
        }
        out.push(token);
        next = vec![token];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_is_argmax_and_draws_nothing() {
        let mut rng = Rng::new(3);
        let before = rng.clone();
        assert_eq!(sample(&[0.1, 2.0, -1.0, 2.0], &Sampling::default(), &mut rng), 1);
        assert_eq!(rng, before);
    }

    #[test]
    fn top_p_keeps_the_smallest_set_reaching_p() {
        // Probabilities 0.5, 0.3, 0.15, 0.05 (logits = their logs, temperature 1).
        let logits: Vec<f32> = [0.05f64, 0.5, 0.15, 0.3].iter().map(|p| p.ln() as f32).collect();
        let ids = |p| nucleus(&logits, 1.0, p).into_iter().map(|k| k.0).collect::<Vec<_>>();
        assert_eq!(ids(0.5), [1]);
        assert_eq!(ids(0.51), [1, 3]);
        assert_eq!(ids(0.8), [1, 3]);
        assert_eq!(ids(0.9), [1, 3, 2]);
        assert_eq!(ids(1.0), [1, 3, 2, 0]);
        assert_eq!(ids(0.0), [1]);
        let probs: Vec<f64> = nucleus(&logits, 1.0, 1.0).into_iter().map(|k| k.1).collect();
        assert!((probs[0] - 0.5).abs() < 1e-6 && (probs[3] - 0.05).abs() < 1e-6, "{probs:?}");
        // A draw never leaves the nucleus.
        let mut rng = Rng::new(9);
        let s = Sampling { temperature: 1.0, top_p: 0.8 };
        let draws: Vec<u32> = (0..400).map(|_| sample(&logits, &s, &mut rng)).collect();
        assert!(draws.iter().all(|d| [1, 3].contains(d)));
        let ones = draws.iter().filter(|&&d| d == 1).count() as f64 / 400.0;
        assert!((ones - 0.625).abs() < 0.08, "{ones}"); // 0.5 / 0.8
    }

    #[test]
    fn same_seed_same_draws_and_temperature_flattens() {
        let logits = [1.0f32, 0.5, 0.0, -0.5, 2.0];
        let s = Sampling { temperature: 1.0, top_p: 1.0 };
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..50).map(|_| sample(&logits, &s, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let hot = nucleus(&logits, 100.0, 1.0);
        assert!(hot.iter().all(|k| (k.1 - 0.2).abs() < 0.01), "{hot:?}");
    }
}

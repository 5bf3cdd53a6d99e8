//! Fused CPU kernels with a hand-written backward pass for the ops that dominate a BERT or Llama
//! step when composed from candle's primitives: layer norm, RMSNorm, softmax (plain and
//! attention's masked, scaled form), the exact (erf) GELU, SwiGLU's `silu(gate) · up`, rotary
//! position embeddings, the language model's masked cross-entropy, and a linear layer's bias.
//!
//! Each op is a candle `CustomOp` (`cpu_fwd` + `bwd`, no change to candle). The fused kernel runs
//! when every input is an f32, contiguous, non-empty tensor on the CPU; anything else (CUDA,
//! Metal, f16/bf16, strided views) takes the composed version, the same function built from
//! differentiable primitives, so every device and dtype keeps working. The backward kernels are
//! themselves custom ops without a backward (no second derivatives).

use candle_core::{CpuStorage, DType, Layout, Result, Tensor, bail};

pub mod bias;
pub mod gelu;
pub mod layer_norm;
pub mod masked_softmax;
mod math;
pub mod nll;
pub mod rms_norm;
pub mod rope;
pub mod softmax;
pub mod swiglu;

pub use bias::add_bias;
pub use gelu::gelu_erf;
pub use layer_norm::layer_norm;
pub use masked_softmax::masked_softmax;
pub use nll::masked_nll;
pub use rms_norm::rms_norm;
pub use rope::rope;
pub use softmax::softmax_last;
pub use swiglu::silu_mul;

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod timing;

#[cfg(test)]
thread_local! {
    static COMPOSED_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with every op of this module on its composed path (on this thread): the model tests
/// compare a whole step both ways.
#[cfg(test)]
pub(crate) fn composed_only<T>(f: impl FnOnce() -> T) -> T {
    COMPOSED_ONLY.with(|c| c.set(true));
    let out = f();
    COMPOSED_ONLY.with(|c| c.set(false));
    out
}

/// Whether every tensor can take a fused kernel: f32, contiguous, non-empty, on the CPU.
fn fusable(tensors: &[&Tensor]) -> bool {
    #[cfg(test)]
    if COMPOSED_ONLY.with(std::cell::Cell::get) {
        return false;
    }
    tensors.iter().all(|t| {
        t.device().is_cpu() && t.dtype() == DType::F32 && t.is_contiguous() && t.rank() > 0 && t.elem_count() > 0
    })
}

/// The f32 elements a contiguous layout covers (the kernels never see anything else).
fn as_f32<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else { bail!("fused op: f32 storage expected") };
    let Some((start, end)) = layout.contiguous_offsets() else { bail!("fused op: contiguous input expected") };
    match data.get(start..end) {
        Some(slice) => Ok(slice),
        None => bail!("fused op: layout {start}..{end} outside storage of {}", data.len()),
    }
}

/// The width of the last dimension (the row the kernels work on), refusing an empty one.
fn row_width(layout: &Layout) -> Result<usize> {
    match layout.dims().last() {
        Some(&n) if n > 0 => Ok(n),
        _ => bail!("fused op: a non-empty last dimension expected"),
    }
}

/// Output values per thread below which an expensive kernel (the GELU's forward, ~4 ns a value)
/// keeps to the calling thread.
const HEAVY: usize = 1 << 13;

/// The same for kernels of a few arithmetic operations a value (layer norm, softmax, the GELU's
/// backward). Work is handed to candle's persistent barrier pool (a wake-up of its spinning
/// workers, ~µs), not to new threads: spawning scoped threads cost ~50 µs each and made these
/// kernels 2× slower at MiniLM shapes on the 2-core VM.
const LIGHT: usize = 1 << 15;

/// `dst += src` elementwise: one thread's partial sums (a weight or bias gradient) added into the
/// total.
fn add_into(dst: &mut [f32], src: &[f32]) {
    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
}

/// Splits `out` into chunks of whole rows (`n` values each), at most one per thread of candle's
/// count (`candle_core::utils::get_num_threads`) and none under `min_per_thread` values, and runs
/// `f(first_row, chunk)` on each on candle's barrier pool (the calling thread takes part).
/// Returns each chunk's result in order.
fn for_row_chunks<T: Send>(
    out: &mut [f32],
    n: usize,
    min_per_thread: usize,
    f: impl Fn(usize, &mut [f32]) -> T + Sync,
) -> Vec<T> {
    use std::sync::{Mutex, PoisonError};
    let rows = out.len() / n.max(1);
    let threads = candle_core::utils::get_num_threads().min(out.len() / min_per_thread.max(1)).min(rows).max(1);
    if threads == 1 {
        return vec![f(0, out)];
    }
    let per = rows.div_ceil(threads);
    // One lock per chunk (never contended: the pool hands each index to one thread) keeps the
    // disjoint mutable chunks safe to reach from the pool's `Fn` without `unsafe`.
    type Slot<'a, T> = Mutex<(usize, &'a mut [f32], Option<T>)>;
    let chunks: Vec<Slot<T>> =
        out.chunks_mut(per * n).enumerate().map(|(i, chunk)| Mutex::new((i * per, chunk, None))).collect();
    let run = |slot: &Slot<T>| {
        let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let (first, chunk, result) = &mut *guard;
        if result.is_none() {
            *result = Some(f(*first, chunk));
        }
    };
    candle_core::utils::barrier_pool().execute_chunked(chunks.len(), |range| range.for_each(|c| run(&chunks[c])));
    chunks
        .into_iter()
        .filter_map(|slot| {
            // Every chunk ran above; a chunk the pool skipped would run here, on this thread.
            run(&slot);
            slot.into_inner().unwrap_or_else(PoisonError::into_inner).2
        })
        .collect()
}

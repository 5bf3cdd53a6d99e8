//! `ema.safetensors` / `swa.safetensors`: one average's tensors by variable name, with its kind
//! and its count of averaged weights (`n_averaged`, as PyTorch's `AveragedModel` buffer) in the
//! safetensors metadata.

use std::collections::HashMap;

use candle_core::{Device, Tensor, Var};

use super::Weights;

/// The EMA's file in a checkpoint directory.
pub const EMA_FILE: &str = "ema.safetensors";
/// The SWA average's file in a checkpoint directory.
pub const SWA_FILE: &str = "swa.safetensors";

const KIND_KEY: &str = "average";
const COUNT_KEY: &str = "n_averaged";

/// The file of average `which`.
pub(super) fn name(which: Weights) -> &'static str {
    match which {
        Weights::Swa => SWA_FILE,
        _ => EMA_FILE,
    }
}

/// Serializes an average (its tensors moved to the CPU first, so serializing cannot fail).
pub(super) fn to_bytes(which: Weights, n: u64, tensors: Vec<(String, Tensor)>) -> candle_core::Result<Vec<u8>> {
    let tensors: Vec<(String, Tensor)> =
        tensors.into_iter().map(|(k, t)| Ok((k, t.to_device(&Device::Cpu)?))).collect::<candle_core::Result<_>>()?;
    let metadata =
        HashMap::from([(KIND_KEY.to_owned(), which.name().to_owned()), (COUNT_KEY.to_owned(), n.to_string())]);
    safetensors::serialize(tensors, Some(metadata)).map_err(candle_core::Error::from)
}

/// The tensor names of an average file.
pub(super) fn names(bytes: &[u8]) -> Result<Vec<String>, String> {
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
    Ok(header.tensors().into_keys().collect())
}

/// Reads an average of kind `which` written by [`to_bytes`]: its count and every tensor by
/// name, on the CPU.
pub(super) fn read_all(bytes: &[u8], which: Weights) -> Result<(u64, HashMap<String, Tensor>), String> {
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
    let meta = header.metadata().clone().unwrap_or_default();
    match meta.get(KIND_KEY) {
        Some(k) if k == which.name() => {}
        other => return Err(format!("metadata `{KIND_KEY}` is {other:?}, expected \"{}\"", which.name())),
    }
    let n: u64 = meta
        .get(COUNT_KEY)
        .and_then(|n| n.parse().ok())
        .filter(|&n| n >= 1)
        .ok_or_else(|| format!("metadata `{COUNT_KEY}` missing or not a count >= 1"))?;
    let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu).map_err(|e| e.to_string())?;
    Ok((n, tensors))
}

/// Reads an average of kind `which` written by [`to_bytes`]: its count and one tensor per
/// variable (`names[i]` for `vars[i]`, on its device, of its shape and dtype).
pub(super) fn read(bytes: &[u8], which: Weights, names: &[String], vars: &[Var]) -> Result<(u64, Vec<Tensor>), String> {
    let (n, mut tensors) = read_all(bytes, which)?;
    let mut out = Vec::with_capacity(vars.len());
    for (name, var) in names.iter().zip(vars) {
        let t = tensors.remove(name).ok_or_else(|| format!("no tensor `{name}`"))?;
        if t.shape() != var.shape() || t.dtype() != var.dtype() {
            return Err(format!(
                "`{name}` is {:?} {:?}, the model's is {:?} {:?}",
                t.dtype(),
                t.dims(),
                var.dtype(),
                var.dims()
            ));
        }
        out.push(t.to_device(var.device()).map_err(|e| e.to_string())?);
    }
    if let Some(extra) = tensors.keys().min() {
        return Err(format!("tensor `{extra}` matches no trainable parameter"));
    }
    Ok((n, out))
}

//! Writing an export folder: files go into a temporary folder next to the target, which is
//! renamed into place once complete (a failed export leaves nothing behind).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use candle_core::Tensor;
use serde_json::Value;

use crate::error::TrainError;

fn io_err(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Tensor(format!("{}: {e}", path.display()))
}

/// Creates the folder `out` (which must not exist, or be empty) with what `write` puts into the
/// temporary folder it is given; returns what `write` returns (the file names).
pub(crate) fn write_folder(
    out: &Path,
    write: impl FnOnce(&Path) -> Result<Vec<String>, TrainError>,
) -> Result<Vec<String>, TrainError> {
    let tmp = staging_dir(out)?;
    match write(&tmp) {
        Ok(files) => {
            if out.exists() {
                fs::remove_dir(out).map_err(|e| io_err(out, e))?;
            }
            fs::rename(&tmp, out).map_err(|e| io_err(out, e))?;
            Ok(files)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

/// A new temporary folder next to `out`; `out` itself must not exist or be empty.
fn staging_dir(out: &Path) -> Result<PathBuf, TrainError> {
    if out.exists() {
        let empty = fs::read_dir(out).map_err(|e| io_err(out, e))?.next().is_none();
        if !out.is_dir() || !empty {
            return Err(TrainError::Tensor(format!(
                "{} exists and is not an empty folder: choose a new --out",
                out.display()
            )));
        }
    }
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = out.file_name().map_or_else(|| "export".into(), |n| n.to_string_lossy().into_owned());
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
    }
    fs::create_dir(&tmp).map_err(|e| io_err(&tmp, e))?;
    Ok(tmp)
}

pub(crate) fn write_json(path: &Path, value: &Value) -> Result<(), TrainError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| io_err(path, e))?;
    fs::write(path, text + "\n").map_err(|e| io_err(path, e))
}

/// Writes `tensors` (contiguous f32 on the CPU) with the metadata PyTorch's loaders expect.
pub(crate) fn write_safetensors(path: &Path, tensors: Vec<(String, Tensor)>) -> Result<(), TrainError> {
    let mut map = HashMap::with_capacity(tensors.len());
    for (name, t) in tensors {
        map.insert(name, t.to_device(&candle_core::Device::Cpu)?.contiguous()?);
    }
    let metadata = Some(HashMap::from([("format".to_owned(), "pt".to_owned())]));
    safetensors::serialize_to_file(map, metadata, path).map_err(|e| io_err(path, e))
}

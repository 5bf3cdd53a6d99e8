//! Pretrained weights as trainable variables: a [`VarBuilder`] backend that reads a
//! safetensors file and turns each tensor a model asks for into a [`Var`] registered in the
//! run's [`VarMap`] under the file's own name, so checkpoints keep the original (e.g. Hugging
//! Face) names. Only the tensors the model asks for are kept (a truncated encoder loads only
//! its layers). A frozen tensor is still registered (it is saved in checkpoints) but the model
//! gets a detached view of it: no gradient flows into it and the optimizer never sees it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use candle_core::safetensors::BufferedSafetensors;
use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder, VarMap};

use super::ModelError;

/// Which tensors are frozen, by name.
pub type FrozenFn = dyn Fn(&str) -> bool + Send + Sync;

/// A safetensors file, read into memory, handing out tensors as variables.
pub struct Pretrained {
    file: BufferedSafetensors,
    path: PathBuf,
    taken: Arc<Mutex<BTreeMap<String, Var>>>,
    frozen: Arc<FrozenFn>,
}

impl Pretrained {
    /// Reads `path`; a file that is not valid safetensors is a [`ModelError::File`].
    pub fn open(path: &Path, frozen: Arc<FrozenFn>) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path)
            .map_err(|e| ModelError::File { path: path.to_owned(), message: format!("cannot read: {e}") })?;
        let file = BufferedSafetensors::new(bytes).map_err(|e| ModelError::File {
            path: path.to_owned(),
            message: format!(
                "not a valid safetensors file ({}); delete it from the cache (or re-download it) and run again",
                crate::device::first_line(&e)
            ),
        })?;
        Ok(Self { file, path: path.to_owned(), taken: Arc::default(), frozen })
    }

    /// Names of the tensors in the file.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.file.tensors().into_iter().map(|(n, _)| n).collect();
        names.sort();
        names
    }

    /// A [`VarBuilder`] over the file (f32, on `device`); what a model takes from it can then be
    /// moved into a [`VarMap`] with the returned [`Taken`].
    pub fn builder(self, device: &Device) -> (VarBuilder<'static>, Taken) {
        let taken = Taken { vars: self.taken.clone(), path: self.path.clone() };
        (VarBuilder::from_backend(Box::new(self), DType::F32, device.clone()), taken)
    }

    fn take(&self, name: &str, dtype: DType, device: &Device, shape: Option<&Shape>) -> candle_core::Result<Tensor> {
        self.file.get(name).map_err(|_| {
            candle_core::Error::Msg(format!(
                "{}: has no tensor `{name}` that the model (its config.json) needs",
                self.path.display()
            ))
        })?;
        let t = self.file.load(name, device)?.to_dtype(dtype)?;
        if let Some(s) = shape.filter(|s| t.shape() != *s) {
            return Err(candle_core::Error::Msg(format!(
                "{}: tensor `{name}` has shape {:?}, but the model (its config.json) needs {:?}",
                self.path.display(),
                t.dims(),
                s.dims()
            )));
        }
        let var = Var::from_tensor(&t)?;
        let tensor = if (self.frozen)(name) { var.as_tensor().detach() } else { var.as_tensor().clone() };
        self.taken
            .lock()
            .map_err(|_| candle_core::Error::Msg("pretrained variables lock poisoned".into()))?
            .insert(name.to_owned(), var);
        Ok(tensor)
    }
}

impl SimpleBackend for Pretrained {
    fn get(&self, s: Shape, name: &str, _: Init, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.take(name, dtype, dev, Some(&s))
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.take(name, dtype, dev, None)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.file.get(name).is_ok()
    }
}

/// The variables a model took from a [`Pretrained`] file.
pub struct Taken {
    vars: Arc<Mutex<BTreeMap<String, Var>>>,
    path: PathBuf,
}

impl Taken {
    /// Moves them into `varmap` under their file names; returns their names.
    pub fn into_varmap(self, varmap: &VarMap) -> Result<Vec<String>, ModelError> {
        let vars = std::mem::take(
            &mut *self.vars.lock().map_err(|_| ModelError::Tensor("pretrained variables lock poisoned".into()))?,
        );
        let mut data = varmap.data().lock().map_err(|_| ModelError::Tensor("variable map lock poisoned".into()))?;
        let mut names = Vec::with_capacity(vars.len());
        for (name, var) in vars {
            if data.insert(name.clone(), var).is_some() {
                return Err(ModelError::File {
                    path: self.path.clone(),
                    message: format!("tensor `{name}` clashes with a parameter of the model"),
                });
            }
            names.push(name);
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Module;

    fn file(dir: &Path) -> PathBuf {
        let p = dir.join("model.safetensors");
        let w = Tensor::new(&[[1.0f32, 2.0], [3.0, 4.0]], &Device::Cpu).unwrap();
        let b = Tensor::new(&[0.5f32, -0.5], &Device::Cpu).unwrap();
        let extra = Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap();
        let map = std::collections::HashMap::from([
            ("l.weight".to_owned(), w),
            ("l.bias".to_owned(), b),
            ("unused".to_owned(), extra),
        ]);
        candle_core::safetensors::save(&map, &p).unwrap();
        p
    }

    #[test]
    fn loads_what_the_model_asks_for_as_named_variables() {
        let dir = tempfile::tempdir().unwrap();
        let frozen: Arc<FrozenFn> = Arc::new(|n: &str| n.ends_with("bias"));
        let p = Pretrained::open(&file(dir.path()), frozen).unwrap();
        assert_eq!(p.names(), ["l.bias", "l.weight", "unused"]);
        let (vb, taken) = p.builder(&Device::Cpu);
        let l = candle_nn::linear(2, 2, vb.pp("l")).unwrap();
        let varmap = VarMap::new();
        assert_eq!(taken.into_varmap(&varmap).unwrap(), ["l.bias", "l.weight"]);
        let x = Tensor::new(&[[1.0f32, 1.0]], &Device::Cpu).unwrap();
        assert_eq!(l.forward(&x).unwrap().to_vec2::<f32>().unwrap(), [[3.5, 6.5]]);
        // The model sees updates of the variables (shared storage), frozen ones included.
        let data = varmap.data().lock().unwrap();
        data["l.weight"].set(&Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap()).unwrap();
        assert_eq!(l.forward(&x).unwrap().to_vec2::<f32>().unwrap(), [[0.5, -0.5]]);
        // Gradients reach the trainable weight, not the frozen bias.
        let grads = l.forward(&x).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(grads.get(data["l.weight"].as_tensor()).is_some());
        assert!(grads.get(data["l.bias"].as_tensor()).is_none());
    }

    #[test]
    fn missing_misshapen_and_corrupt_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path());
        let (vb, _) = Pretrained::open(&path, Arc::new(|_: &str| false)).unwrap().builder(&Device::Cpu);
        let e = candle_nn::linear(2, 3, vb.pp("l")).err().unwrap().to_string();
        assert!(e.contains("tensor `l.weight` has shape [2, 2], but the model (its config.json) needs [3, 2]"), "{e}");
        let e = candle_nn::linear(2, 2, vb.pp("m")).err().unwrap().to_string();
        assert!(e.contains("has no tensor `m.weight`"), "{e}");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 7]).unwrap();
        let e = Pretrained::open(&path, Arc::new(|_: &str| false)).err().unwrap().to_string();
        assert!(e.contains("model.safetensors: not a valid safetensors file"), "{e}");
        std::fs::write(&path, b"garbage").unwrap();
        assert!(Pretrained::open(&path, Arc::new(|_: &str| false)).is_err());
    }
}

//! Pretrained weights as trainable variables: a [`VarBuilder`] backend that reads a
//! safetensors file (or the shards a `model.safetensors.index.json` names, or tensors already in
//! memory, such as a GGUF file's dequantized ones) and turns each tensor a model asks for into a
//! [`Var`] registered in the run's [`VarMap`] under the source's own name, so checkpoints keep the
//! original (e.g. Hugging Face) names. Only the tensors the model asks for are kept (a truncated
//! encoder loads only its layers). A frozen tensor is still registered (it is saved in
//! checkpoints) but the model gets a detached view of it: no gradient flows into it and the
//! optimizer never sees it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use candle_core::safetensors::BufferedSafetensors;
use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder, VarMap};

use super::ModelError;

/// Which tensors are frozen, by name.
pub type FrozenFn = dyn Fn(&str) -> bool + Send + Sync;

/// Where the tensors come from.
enum Source {
    /// One safetensors file.
    File(BufferedSafetensors),
    /// Safetensors shards (path, contents) and, per tensor name, the index of its shard.
    Sharded { shards: Vec<(PathBuf, BufferedSafetensors)>, map: HashMap<String, usize> },
    /// Tensors in memory; each leaves the map when taken (its variable holds a copy).
    Memory(Mutex<HashMap<String, Tensor>>),
}

/// Pretrained tensors (a safetensors file, its shards, or tensors in memory), handing them out
/// as variables.
pub struct Pretrained {
    source: Source,
    path: PathBuf,
    /// Who needs the tensors, in the error messages: `the model (its config.json)`.
    needed_by: &'static str,
    taken: Arc<Mutex<BTreeMap<String, Var>>>,
    frozen: Arc<FrozenFn>,
}

/// What `model.safetensors.index.json` holds that matters here.
#[derive(serde::Deserialize)]
struct ShardIndex {
    weight_map: BTreeMap<String, String>,
}

const CONFIG_JSON: &str = "the model (its config.json)";

fn read_safetensors(path: &Path) -> Result<BufferedSafetensors, ModelError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ModelError::File { path: path.to_owned(), message: format!("cannot read: {e}") })?;
    BufferedSafetensors::new(bytes).map_err(|e| ModelError::File {
        path: path.to_owned(),
        message: format!(
            "not a valid safetensors file ({}); delete it from the cache (or re-download it) and run again",
            crate::device::first_line(&e)
        ),
    })
}

impl Pretrained {
    /// Reads `path`: a safetensors file, or a sharded checkpoint's `*.index.json` (see
    /// [`Pretrained::open_sharded`]); a file that is not valid safetensors is a
    /// [`ModelError::File`].
    pub fn open(path: &Path, frozen: Arc<FrozenFn>) -> Result<Self, ModelError> {
        if path.to_string_lossy().ends_with(".index.json") {
            return Self::open_sharded(path, frozen);
        }
        let source = Source::File(read_safetensors(path)?);
        Ok(Self { source, path: path.to_owned(), needed_by: CONFIG_JSON, taken: Arc::default(), frozen })
    }

    /// Reads a sharded checkpoint: `index` is its `model.safetensors.index.json`, whose
    /// `weight_map` maps each tensor name to a shard file in the same folder. Every shard is read
    /// (an unreadable or invalid one is a [`ModelError::File`] naming it).
    pub fn open_sharded(index: &Path, frozen: Arc<FrozenFn>) -> Result<Self, ModelError> {
        let file_error = |message: String| ModelError::File { path: index.to_owned(), message };
        let text = std::fs::read_to_string(index).map_err(|e| file_error(format!("cannot read: {e}")))?;
        let parsed: ShardIndex = serde_json::from_str(&text)
            .map_err(|e| file_error(format!("not a safetensors index (a `weight_map` of tensor → file): {e}")))?;
        let dir = index.parent().unwrap_or(Path::new("."));
        let mut shards: Vec<(PathBuf, BufferedSafetensors)> = Vec::new();
        let mut map = HashMap::with_capacity(parsed.weight_map.len());
        for (name, file) in parsed.weight_map {
            if file.contains('/') || file.contains('\\') || file == ".." {
                return Err(file_error(format!("shard `{file}` of tensor `{name}` is not a file name in its folder")));
            }
            let path = dir.join(&file);
            let i = match shards.iter().position(|(p, _)| *p == path) {
                Some(i) => i,
                None => {
                    shards.push((path.clone(), read_safetensors(&path)?));
                    shards.len() - 1
                }
            };
            map.insert(name, i);
        }
        let source = Source::Sharded { shards, map };
        Ok(Self { source, path: index.to_owned(), needed_by: CONFIG_JSON, taken: Arc::default(), frozen })
    }

    /// Tensors already in memory (e.g. a GGUF file's, dequantized and renamed), read from
    /// `origin` (named in the error messages).
    pub fn from_tensors(tensors: HashMap<String, Tensor>, origin: &Path, frozen: Arc<FrozenFn>) -> Self {
        Self {
            source: Source::Memory(Mutex::new(tensors)),
            path: origin.to_owned(),
            needed_by: "the model (the file's metadata)",
            taken: Arc::default(),
            frozen,
        }
    }

    /// Names of the tensors in the source (those not taken yet, for tensors in memory).
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = match &self.source {
            Source::File(file) => file.tensors().into_iter().map(|(n, _)| n).collect(),
            Source::Sharded { map, .. } => map.keys().cloned().collect(),
            Source::Memory(map) => map.lock().map(|m| m.keys().cloned().collect()).unwrap_or_default(),
        };
        names.sort();
        names
    }

    /// A [`VarBuilder`] over the source (f32, on `device`); what a model takes from it can then
    /// be moved into a [`VarMap`] with the returned [`Taken`].
    pub fn builder(self, device: &Device) -> (VarBuilder<'static>, Taken) {
        let taken = Taken { vars: self.taken.clone(), path: self.path.clone() };
        (VarBuilder::from_backend(Box::new(self), DType::F32, device.clone()), taken)
    }

    fn missing(&self, name: &str) -> candle_core::Error {
        candle_core::Error::Msg(format!(
            "{}: has no tensor `{name}` that {} needs",
            self.path.display(),
            self.needed_by
        ))
    }

    /// The tensor `name` from the source, on `device`.
    fn load(&self, name: &str, device: &Device) -> candle_core::Result<Tensor> {
        match &self.source {
            Source::File(file) => {
                file.get(name).map_err(|_| self.missing(name))?;
                file.load(name, device)
            }
            Source::Sharded { shards, map } => {
                let (path, shard) = map.get(name).and_then(|&i| shards.get(i)).ok_or_else(|| self.missing(name))?;
                shard.get(name).map_err(|_| {
                    candle_core::Error::Msg(format!(
                        "{}: has no tensor `{name}`, though {} says it is there",
                        path.display(),
                        self.path.display()
                    ))
                })?;
                shard.load(name, device)
            }
            Source::Memory(map) => {
                let map = map.lock().map_err(|_| candle_core::Error::Msg("pretrained tensors lock poisoned".into()))?;
                map.get(name).ok_or_else(|| self.missing(name))?.to_device(device)
            }
        }
    }

    fn check_shape(&self, name: &str, dims: &[usize], shape: Option<&Shape>) -> candle_core::Result<()> {
        match shape.filter(|s| s.dims() != dims) {
            Some(s) => Err(candle_core::Error::Msg(format!(
                "{}: tensor `{name}` has shape {dims:?}, but {} needs {:?}",
                self.path.display(),
                self.needed_by,
                s.dims()
            ))),
            None => Ok(()),
        }
    }

    fn take(&self, name: &str, dtype: DType, device: &Device, shape: Option<&Shape>) -> candle_core::Result<Tensor> {
        let poisoned = || candle_core::Error::Msg("pretrained variables lock poisoned".into());
        let mut taken = self.taken.lock().map_err(|_| poisoned())?;
        // Asked twice (e.g. tied weights): the same variable.
        let var = match taken.get(name) {
            Some(var) => var.clone(),
            None => {
                let t = self.load(name, device)?;
                self.check_shape(name, t.dims(), shape)?;
                let var = Var::from_tensor(&t.to_dtype(dtype)?)?;
                if let Source::Memory(map) = &self.source {
                    map.lock().map_err(|_| poisoned())?.remove(name);
                }
                taken.insert(name.to_owned(), var.clone());
                var
            }
        };
        self.check_shape(name, var.dims(), shape)?;
        Ok(if (self.frozen)(name) { var.as_tensor().detach() } else { var.as_tensor().clone() })
    }

    fn has(&self, name: &str) -> bool {
        let taken = self.taken.lock().is_ok_and(|t| t.contains_key(name));
        taken
            || match &self.source {
                Source::File(file) => file.get(name).is_ok(),
                Source::Sharded { map, .. } => map.contains_key(name),
                Source::Memory(map) => map.lock().is_ok_and(|m| m.contains_key(name)),
            }
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
        self.has(name)
    }
}

/// The variables a model took from a [`Pretrained`] source.
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

    fn tensors() -> std::collections::HashMap<String, Tensor> {
        std::collections::HashMap::from([
            ("l.weight".to_owned(), Tensor::new(&[[1.0f32, 2.0], [3.0, 4.0]], &Device::Cpu).unwrap()),
            ("l.bias".to_owned(), Tensor::new(&[0.5f32, -0.5], &Device::Cpu).unwrap()),
        ])
    }

    /// Builds `l` (2 → 2) from `p` and checks the output, the names taken and the frozen bias.
    fn check_linear(p: Pretrained) {
        let (vb, taken) = p.builder(&Device::Cpu);
        let l = candle_nn::linear(2, 2, vb.pp("l")).unwrap();
        let varmap = VarMap::new();
        assert_eq!(taken.into_varmap(&varmap).unwrap(), ["l.bias", "l.weight"]);
        let x = Tensor::new(&[[1.0f32, 1.0]], &Device::Cpu).unwrap();
        assert_eq!(l.forward(&x).unwrap().to_vec2::<f32>().unwrap(), [[3.5, 6.5]]);
        let grads = l.forward(&x).unwrap().sum_all().unwrap().backward().unwrap();
        let data = varmap.data().lock().unwrap();
        assert!(grads.get(data["l.weight"].as_tensor()).is_some());
        assert!(grads.get(data["l.bias"].as_tensor()).is_none());
    }

    #[test]
    fn sharded_checkpoints_load_through_their_index() {
        let dir = tempfile::tempdir().unwrap();
        let t = tensors();
        for (name, file) in
            [("l.weight", "model-00001-of-00002.safetensors"), ("l.bias", "model-00002-of-00002.safetensors")]
        {
            let one = std::collections::HashMap::from([(name.to_owned(), t[name].clone())]);
            candle_core::safetensors::save(&one, dir.path().join(file)).unwrap();
        }
        let index = dir.path().join("model.safetensors.index.json");
        let map = r#"{"metadata": {"total_size": 24}, "weight_map": {
            "l.weight": "model-00001-of-00002.safetensors", "l.bias": "model-00002-of-00002.safetensors"}}"#;
        std::fs::write(&index, map).unwrap();
        let frozen: Arc<FrozenFn> = Arc::new(|n: &str| n.ends_with("bias"));
        let p = Pretrained::open(&index, frozen.clone()).unwrap();
        assert_eq!(p.names(), ["l.bias", "l.weight"]);
        check_linear(p);
        // A name the index lacks, and one the index puts in a shard that lacks it.
        let (vb, _) = Pretrained::open_sharded(&index, frozen.clone()).unwrap().builder(&Device::Cpu);
        let e = candle_nn::linear(2, 2, vb.pp("m")).err().unwrap().to_string();
        assert!(
            e.contains("model.safetensors.index.json: has no tensor `m.weight` that the model (its config.json) needs"),
            "{e}"
        );
        std::fs::write(&index, map.replace("00002-of-00002.safetensors", "00001-of-00002.safetensors")).unwrap();
        let (vb, _) = Pretrained::open_sharded(&index, frozen.clone()).unwrap().builder(&Device::Cpu);
        let e = candle_nn::linear(2, 2, vb.pp("l")).err().unwrap().to_string();
        assert!(e.contains("model-00001-of-00002.safetensors: has no tensor `l.bias`, though"), "{e}");
        // A missing shard, a corrupt index.
        std::fs::write(&index, map.replace("00002-of-00002.safetensors", "00003-of-00002.safetensors")).unwrap();
        let e = Pretrained::open_sharded(&index, frozen.clone()).err().unwrap().to_string();
        assert!(e.contains("model-00003-of-00002.safetensors: cannot read"), "{e}");
        std::fs::write(&index, "{\"weight_map\": 3}").unwrap();
        let e = Pretrained::open_sharded(&index, frozen).err().unwrap().to_string();
        assert!(e.contains("model.safetensors.index.json: not a safetensors index"), "{e}");
    }

    #[test]
    fn tensors_in_memory_are_taken_once_and_shared() {
        let origin = Path::new("/models/x.gguf");
        let p = Pretrained::from_tensors(tensors(), origin, Arc::new(|n: &str| n.ends_with("bias")));
        assert_eq!(p.names(), ["l.bias", "l.weight"]);
        check_linear(p);
        // Asked twice (tied weights): one variable; a taken tensor leaves the map.
        let p = Pretrained::from_tensors(tensors(), origin, Arc::new(|_: &str| false));
        let (vb, taken) = p.builder(&Device::Cpu);
        let a = vb.get((2, 2), "l.weight").unwrap();
        assert!(vb.contains_tensor("l.weight"));
        let b = vb.get((2, 2), "l.weight").unwrap();
        let varmap = VarMap::new();
        assert_eq!(taken.into_varmap(&varmap).unwrap(), ["l.weight"]);
        varmap.data().lock().unwrap()["l.weight"]
            .set(&Tensor::ones((2, 2), DType::F32, &Device::Cpu).unwrap())
            .unwrap();
        assert_eq!(a.to_vec2::<f32>().unwrap(), [[1.0, 1.0], [1.0, 1.0]]);
        assert_eq!(b.to_vec2::<f32>().unwrap(), [[1.0, 1.0], [1.0, 1.0]]);
        let e = vb.get(3, "l.bias").err().unwrap().to_string();
        assert!(
            e.contains("x.gguf: tensor `l.bias` has shape [2], but the model (the file's metadata) needs [3]"),
            "{e}"
        );
        let e = vb.get(3, "nope").err().unwrap().to_string();
        assert!(e.contains("x.gguf: has no tensor `nope` that the model (the file's metadata) needs"), "{e}");
    }
}

//! The working copy of `train.precision: bf16 | f16`: the model built a second time with its
//! variables in the low dtype. Before each step the f32 master weights are rounded into it
//! ([`LowPrecision::sync`]); forward and backward run on it (inputs cast to the low dtype, the
//! loss computed in f32 from f32-cast outputs); its gradients are cast to f32, unscaled and
//! keyed by the master variables ([`LowPrecision::backward`]), which the optimizer updates.
//! This is candle's backward through `to_dtype` made explicit: d loss / d master =
//! f32(d loss / d working copy).

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;

use crate::TrainError;
use crate::config::{RunConfig, TrainConfig};
use crate::data::{Batch, Dataset, Inputs};
use crate::model::{Prepared, init};
use crate::optim::loss_scale::LossScaler;
use crate::precision::Precision;
use crate::rng::Rng;
use crate::task::Task;

/// The low-precision working model and its variables, paired with the master ones.
pub(crate) struct LowPrecision {
    dtype: DType,
    task: Box<dyn Task>,
    /// `(master, working)` of every trainable parameter, synced before every step.
    trainable: Vec<(Var, Var)>,
    /// `(master, working)` of the frozen parameters, synced before the first step of a session
    /// (a resume loads the masters after the build).
    frozen: Vec<(Var, Var)>,
    frozen_synced: bool,
}

impl LowPrecision {
    /// Builds the working copy of `config.model` in `dtype`, paired by name with the master
    /// variables `trainable` and `frozen`. An error names `train.precision` when the model
    /// creates a variable the working copy cannot hold in `dtype`.
    pub(crate) fn build(
        config: &RunConfig,
        dtype: DType,
        (data, prepared, device): (&dyn Dataset, &Prepared, &Device),
        trainable: &[(String, Var)],
        frozen: &[(String, Var)],
    ) -> Result<Self, TrainError> {
        let varmap = VarMap::new();
        // Its initial values are overwritten by the masters' before the first step.
        let task = init::with_dtype(dtype, || {
            config.model.build(data, prepared, &varmap, &mut Rng::new(config.seed), device)
        })?;
        let working = varmap.data().lock().map_or_else(|e| e.into_inner().clone(), |d| d.clone());
        let pair = |list: &[(String, Var)]| -> Result<Vec<(Var, Var)>, TrainError> {
            list.iter()
                .map(|(name, master)| match working.get(name) {
                    Some(w) if w.dtype() == dtype && w.shape() == master.shape() => Ok((master.clone(), w.clone())),
                    _ => Err(super::one_issue(
                        "train.precision",
                        format!(
                            "{} is not available for this model: its parameter `{name}` is not built in {dtype:?}",
                            config.train.precision.name()
                        ),
                    )),
                })
                .collect()
        };
        Ok(Self { dtype, task, trainable: pair(trainable)?, frozen: pair(frozen)?, frozen_synced: false })
    }

    /// The working model's task (forward and backward of training steps).
    pub(crate) fn task(&self) -> &dyn Task {
        self.task.as_ref()
    }

    /// Rounds the master weights into the working copy: the trainable ones every step, the
    /// frozen ones once.
    pub(crate) fn sync(&mut self) -> candle_core::Result<()> {
        let frozen = if self.frozen_synced { &[][..] } else { &self.frozen[..] };
        for (master, working) in self.trainable.iter().chain(frozen) {
            working.set(&master.as_tensor().to_dtype(self.dtype)?)?;
        }
        self.frozen_synced = true;
        Ok(())
    }

    /// `batch` with its float features in the low dtype (token ids stay integers).
    pub(crate) fn cast(&self, batch: Batch) -> candle_core::Result<Batch> {
        let inputs = match batch.inputs {
            Inputs::Dense(x) => Inputs::Dense(x.to_dtype(self.dtype)?),
            other => other,
        };
        Ok(Batch { inputs, targets: batch.targets })
    }

    /// Backward of `loss` (f32, from the working model) multiplied by `scale`; returns the
    /// gradients as f32, divided by `scale`, keyed by the master variables.
    pub(crate) fn backward(&self, loss: &Tensor, scale: f64) -> candle_core::Result<GradStore> {
        let scaled = if scale == 1.0 { loss.clone() } else { (loss * scale)? };
        let grads = scaled.backward()?;
        let mut out = GradStore::default();
        for (master, working) in &self.trainable {
            if let Some(g) = grads.get(working.as_tensor()) {
                let g = g.to_dtype(DType::F32)?;
                let g = if scale == 1.0 { g } else { (g * (1.0 / scale))? };
                out.insert(master.as_tensor(), g);
            }
        }
        Ok(out)
    }
}

/// The loss scaler of a run with `train`'s settings: `saved` (a resumed checkpoint's) or a new
/// one for f16, none otherwise (a resume may change the precision: the device may change).
pub(crate) fn scaler(train: &TrainConfig, saved: Option<LossScaler>) -> Option<LossScaler> {
    (train.precision == Precision::F16)
        .then(|| saved.unwrap_or_else(|| LossScaler::new(&train.loss_scale.unwrap_or_default())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backward_unscales_and_keys_the_gradients_by_the_masters() {
        let dev = Device::Cpu;
        let master = Var::new(&[1.5f32, -2.0, 0.25], &dev).unwrap();
        let working = Var::new(&[0.0f32, 0.0, 0.0], &dev).unwrap().to_dtype(DType::F16).unwrap();
        let working = Var::from_tensor(&working).unwrap();
        let mut low = LowPrecision {
            dtype: DType::F16,
            task: Box::new(crate::task::Supervised::new(
                Box::new(NoModel),
                crate::data::Labels::Regression { outputs: 1 },
            )),
            trainable: vec![(master.clone(), working.clone())],
            frozen: Vec::new(),
            frozen_synced: false,
        };
        low.sync().unwrap();
        assert_eq!(working.as_tensor().to_dtype(DType::F32).unwrap().to_vec1::<f32>().unwrap(), [1.5, -2.0, 0.25]);
        // loss = Σ w² in f32: gradient 2w, whatever the scale.
        let loss = working.as_tensor().to_dtype(DType::F32).unwrap().sqr().unwrap().sum_all().unwrap();
        for scale in [1.0, 1024.0] {
            let grads = low.backward(&loss, scale).unwrap();
            let g = grads.get(master.as_tensor()).unwrap();
            assert_eq!(g.dtype(), DType::F32);
            assert_eq!(g.to_vec1::<f32>().unwrap(), [3.0, -4.0, 0.5], "scale {scale}");
            assert!(grads.get(working.as_tensor()).is_none());
        }
        // A scale that overflows f16 in the backward: non-finite gradients after unscaling.
        let grads = low.backward(&loss, 1e9).unwrap();
        let g = grads.get(master.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
        assert!(g.iter().any(|x| !x.is_finite()), "{g:?}");
    }

    struct NoModel;
    impl crate::model::Model for NoModel {
        fn forward(&self, _: &Inputs, _: bool, _: &mut Rng) -> candle_core::Result<Tensor> {
            Err(candle_core::Error::Msg("unused".into()))
        }
    }
}

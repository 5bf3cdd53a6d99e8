//! Unit tests of the optimizers: config, groups, update rules, steps, state.

mod config;
mod groups;
mod rule;
mod state;
mod step;

use candle_core::{DType, Device, Tensor, Var};

use super::{Optimizer, OptimizerConfig};

/// Parses an `optimizer:` section written in JSON.
pub(super) fn config(json: &str) -> OptimizerConfig {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

/// A small two-layer linear model with named parameters (deterministic values).
pub(super) struct Model {
    pub params: Vec<(String, Var)>,
}

impl Model {
    /// Parameters `encoder.layer.0.weight` (3×2), `encoder.layer.0.bias` (3), `head.weight`
    /// (1×3), `head.bias` (1) in `dtype`.
    pub(super) fn new(dtype: DType) -> Self {
        let shapes: [(&str, &[usize]); 4] = [
            ("encoder.layer.0.weight", &[3, 2]),
            ("encoder.layer.0.bias", &[3]),
            ("head.weight", &[1, 3]),
            ("head.bias", &[1]),
        ];
        let params = shapes
            .iter()
            .enumerate()
            .map(|(k, (name, shape))| {
                let n: usize = shape.iter().product();
                let values: Vec<f64> = (0..n).map(|i| ((i * 7 + k * 3) % 11) as f64 / 11.0 - 0.4).collect();
                let t = Tensor::from_vec(values, *shape, &Device::Cpu).unwrap().to_dtype(dtype).unwrap();
                (name.to_string(), Var::from_tensor(&t).unwrap())
            })
            .collect();
        Self { params }
    }

    /// A deep copy (fresh variables with the same values).
    pub(super) fn copy(&self) -> Self {
        let params = self
            .params
            .iter()
            .map(|(n, v)| (n.clone(), Var::from_tensor(&v.as_tensor().copy().unwrap()).unwrap()))
            .collect();
        Self { params }
    }

    pub(super) fn var(&self, name: &str) -> &Var {
        &self.params.iter().find(|(n, _)| n == name).unwrap().1
    }

    /// `sum((head(encoder(x)) − y)²)` on a fixed batch of 4 (varies with `t` so that the
    /// gradients change from step to step).
    pub(super) fn loss(&self, t: u64) -> Tensor {
        let dtype = self.var("head.bias").dtype();
        let x: Vec<f64> = (0..8).map(|i| ((i as u64 * 5 + t) % 7) as f64 / 7.0 - 0.5).collect();
        let x = Tensor::from_vec(x, (4, 2), &Device::Cpu).unwrap().to_dtype(dtype).unwrap();
        let y = Tensor::from_vec(vec![0.3, -0.2, 0.5, 0.1], (4, 1), &Device::Cpu).unwrap().to_dtype(dtype).unwrap();
        let h = x.matmul(&self.var("encoder.layer.0.weight").t().unwrap()).unwrap();
        let h = h.broadcast_add(self.var("encoder.layer.0.bias")).unwrap();
        let out = h.matmul(&self.var("head.weight").t().unwrap()).unwrap();
        let out = out.broadcast_add(self.var("head.bias")).unwrap();
        (out - y).unwrap().sqr().unwrap().sum_all().unwrap()
    }

    /// All parameter values as f64 bit patterns, in parameter order.
    pub(super) fn bits(&self) -> Vec<u64> {
        self.params
            .iter()
            .flat_map(|(_, v)| {
                v.as_tensor().to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap()
            })
            .map(f64::to_bits)
            .collect()
    }

    pub(super) fn optimizer(&self, config: &OptimizerConfig) -> Optimizer {
        Optimizer::new(config, self.params.clone()).unwrap()
    }
}

/// Runs steps `from..to` on `model` with `opt`, driven by `schedule`.
pub(super) fn train(model: &Model, opt: &mut Optimizer, schedule: &sched::Schedule, from: u64, to: u64) {
    for t in from..to {
        let grads = model.loss(t).backward().unwrap();
        opt.step_scheduled(&grads, schedule, t).unwrap();
    }
}

/// A schedule from JSON, for base LR `lr`.
pub(super) fn schedule(json: &str, lr: f64) -> sched::Schedule {
    sched::Schedule::new(&serde_json::from_str(json).unwrap(), lr).unwrap()
}

//! The [`Rule`] trait: each rule's kind and momentum range, and a rule of the test's own driven
//! through the generic bank (steps, state view, state file names and kind check).

use candle_core::{DType, Device, Tensor, Var};

use super::{Model, config};
use crate::optim::adam::Adam;
use crate::optim::bank::{Bank, Engine};
use crate::optim::groups::assign;
use crate::optim::rule::{MomentumRange, Rule};
use crate::optim::sgd::Sgd;
use crate::optim::state::Saved;
use crate::optim::{GroupStep, OptimError, OptimizerConfig, StateError};

#[test]
fn rules_name_their_config_kind() {
    for json in [r#"{"kind": "sgd"}"#, r#"{"kind": "adam"}"#, r#"{"kind": "adamw"}"#] {
        let c = config(json);
        let (kind, range) = match &c {
            OptimizerConfig::Sgd(s) => (Sgd::from(s).kind(), Sgd::from(s).momentum_range()),
            OptimizerConfig::Adam(a) => (Adam::from(a).kind(), Adam::from(a).momentum_range()),
            OptimizerConfig::AdamW(a) => (Adam::from(a).kind(), Adam::from(a).momentum_range()),
        };
        assert_eq!(kind, c.kind_name());
        assert_eq!(range == MomentumRange::UpToOne, kind == "sgd");
        assert_eq!(Model::new(DType::F64).optimizer(&c).kind(), kind);
    }
    let OptimizerConfig::AdamW(c) = config(r#"{"kind": "adamw", "betas": [0.8, 0.99], "eps": 1e-6}"#) else {
        panic!("not adamw")
    };
    assert_eq!(Adam::from(&c), Adam { betas: [0.8, 0.99], eps: 1e-6, decoupled: true });
}

#[test]
fn momentum_ranges() {
    for (m, up_to_one, below_one) in [(0.0, true, true), (0.99, true, true), (1.0, true, false), (-0.1, false, false)] {
        assert_eq!((MomentumRange::UpToOne.contains(m), MomentumRange::BelowOne.contains(m)), (up_to_one, below_one));
    }
    assert!(!MomentumRange::UpToOne.contains(f64::NAN) && !MomentumRange::BelowOne.contains(f64::NAN));
    assert_eq!((MomentumRange::UpToOne.as_str(), MomentumRange::BelowOne.as_str()), ("[0, 1]", "[0, 1)"));
}

/// Plain gradient descent that remembers the last gradient: a rule the optimizer knows nothing of.
#[derive(Debug)]
struct LastGrad;

impl Rule for LastGrad {
    type State = Option<Tensor>;
    type Hyper = f64;

    fn kind(&self) -> &'static str {
        "last_grad"
    }

    fn momentum_range(&self) -> MomentumRange {
        MomentumRange::BelowOne
    }

    fn init(&self, _param: &Var) -> candle_core::Result<Option<Tensor>> {
        Ok(None)
    }

    fn hyper(&self, setting: &GroupStep, _weight_decay: f64) -> f64 {
        setting.lr
    }

    fn update(&self, p: &Var, g: &Tensor, state: &mut Option<Tensor>, _step: u64, lr: &f64) -> candle_core::Result<()> {
        p.set(&(p.as_tensor() - (g * *lr)?)?)?;
        *state = Some(g.copy()?);
        Ok(())
    }

    fn buffers<'s>(&self, state: &'s Option<Tensor>) -> Vec<(&'static str, &'s Tensor)> {
        state.iter().map(|t| ("last", t)).collect()
    }

    fn load(&self, saved: &mut Saved<'_>) -> Result<Option<Tensor>, OptimError> {
        saved.optional("last")
    }
}

#[test]
fn a_rule_of_its_own_through_the_bank() {
    let model = Model::new(DType::F64);
    let mut params = model.params.clone();
    params.push(("frozen".to_string(), Var::new(&[1.0f64], &Device::Cpu).unwrap()));
    let two_groups = config(r#"{"kind": "sgd", "groups": [{"name": "head", "prefix": "head."}]}"#);
    let (groups, params): (Vec<_>, Vec<_>) = assign(&two_groups, params).unwrap().into_iter().unzip();
    let mut bank = Bank::new(LastGrad, params.clone()).unwrap();
    assert_eq!(bank.kind(), "last_grad");
    assert!(bank.param_state("head.bias").unwrap().buffers().is_empty());
    assert!(bank.param_state("nothing").is_none());

    let grads = model.loss(0).backward().unwrap();
    let setting = GroupStep { lr: 0.1, momentum: None };
    bank.step(&groups, &grads, &[setting, setting]).unwrap();
    let s = bank.param_state("head.bias").unwrap();
    assert_eq!(s.step(), 1);
    let last = s.buffer("last").unwrap().to_vec1::<f64>().unwrap();
    assert_eq!(last, grads.get(model.var("head.bias").as_tensor()).unwrap().to_vec1::<f64>().unwrap());
    assert!(s.exp_avg().is_none() && s.momentum_buffer().is_none());
    assert_eq!(bank.param_state("frozen").unwrap().step(), 0, "no gradient, no step");

    // The state file: `<param>.step` for every parameter, `<param>.last` where it exists.
    let bytes = bank.state_bytes().unwrap();
    let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).unwrap();
    assert_eq!(tensors.len(), 4 + 4 + 1, "{:?}", tensors.keys());
    assert!(tensors.contains_key("head.weight.last") && tensors.contains_key("frozen.step"));
    let mut fresh = Bank::new(LastGrad, params).unwrap();
    fresh.load_state_bytes(&bytes).unwrap();
    assert_eq!(fresh.state_bytes().unwrap(), bytes);
    fresh.reset().unwrap();
    assert_eq!(fresh.param_state("head.bias").unwrap().step(), 0);

    // Its kind is checked like any other.
    let mut sgd = model.optimizer(&config(r#"{"kind": "sgd"}"#));
    match sgd.load_state_bytes(&bytes) {
        Err(OptimError::State(StateError::KindMismatch { saved, expected: "sgd" })) => assert_eq!(saved, "last_grad"),
        other => panic!("expected a kind mismatch, got {other:?}"),
    }
}

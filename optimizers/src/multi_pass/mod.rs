//! Multi-pass optimizers: several gradient evaluations per step, driven through a closure.
//!
//! Burn's per-parameter [`Optimizer`](burn::optim::Optimizer) sees one gradient per step, so
//! flat-minimum methods that evaluate the loss at several points cannot be written with it.
//! [`ClosureOptimizer`] takes the shape of burn-optim's `LBFGS::step(lr, module, closure)`: the
//! closure evaluates loss and gradients at the module it is given, and the optimizer decides
//! where to evaluate and how often. The closure also decides the batch: [`Sam`] and [`Gam`]
//! [`OptAmsGrad`] need the same batch for every call of one step, [`EntropySgd`] a fresh one per call.
//!
//! ```
//! use burn::module::Module;
//! use burn::nn::{Linear, LinearConfig};
//! use burn::optim::{GradientsParams, SgdConfig};
//! use burn::tensor::{Device, Tensor};
//! use tempering_optim::{ClosureOptimizer, SamConfig};
//!
//! let device = Device::default().autodiff();
//! let model: Linear = LinearConfig::new(3, 1).init(&device);
//! let x = Tensor::<2>::ones([4, 3], &device);
//! let mut sam = SamConfig::new().build(SgdConfig::new().build());
//! // One batch, evaluated wherever SAM asks.
//! let closure = |m: Linear| {
//!     let loss = m.forward(x.clone()).square().mean();
//!     let grads = GradientsParams::from_grads(loss.backward(), &m);
//!     (loss.into_scalar::<f64>(), grads)
//! };
//! let (model, loss) = sam.step(0.1, model, closure);
//! # let _ = (model, loss);
//! ```

mod entropy_sgd;
pub mod flat;
mod flat_base;
mod gam;
mod opt_amsgrad;
pub mod running_stats;
mod sam;

pub use entropy_sgd::{EntropySgd, EntropySgdConfig, EntropySgdSemantics, EntropySgdState};
pub use flat_base::ElementwiseOptimizer;
pub use gam::{Gam, GamConfig};
pub use opt_amsgrad::{OptAmsGrad, OptAmsGradConfig, OptAmsGradPrediction, OptAmsGradState};
pub use running_stats::RunningStatistics;
pub use sam::{Sam, SamConfig};

use std::collections::BTreeMap;

use burn::module::Module;
use burn::optim::{GradientsParams, LearningRate};
use burn::tensor::{Bytes, Device, TensorData};
use burn_pack::Scalar;

use crate::{RecordState, StateSink, StateSource};

/// An optimizer that evaluates loss and gradients through a closure, as often as it needs.
pub trait ClosureOptimizer {
    /// Calls of the closure one step makes (the gradient-evaluation budget per step).
    fn evaluations_per_step(&self) -> usize;

    /// Whether each call of one step should see a fresh minibatch (Entropy-SGD's Langevin loop)
    /// rather than the same one (SAM, GAM, OPT-AMSGrad). Training loops read this to decide what
    /// the closure evaluates.
    fn fresh_batch_per_evaluation(&self) -> bool {
        false
    }

    /// One step from `module`: calls `closure(module_at_some_point)` for `(loss, gradients)`
    /// [`evaluations_per_step`](Self::evaluations_per_step) times and returns the updated
    /// module and the loss of the first evaluation (at the incoming parameters).
    fn step<M, F>(&mut self, lr: LearningRate, module: M, closure: F) -> (M, f64)
    where
        M: Module + Clone,
        F: FnMut(M) -> (f64, GradientsParams);

    /// The optimizer's state as a record (burnpack bytes with [`StateRecord::into_bytes`]).
    fn to_record(&self) -> StateRecord;

    /// Restores the state saved by [`to_record`](Self::to_record) (tensors on the default
    /// device; moved to the parameters' device on the next step).
    fn load_record(&mut self, record: StateRecord);
}

/// The state of a [`ClosureOptimizer`]: named tensors and scalars, stored as burnpack.
///
/// burn-optim's `OptimizerRecord` cannot be built outside burn-optim, so this is its
/// counterpart for the multi-pass optimizers; it uses the same `RecordState` flattening.
#[derive(Clone, Debug, Default)]
pub struct StateRecord {
    tensors: BTreeMap<String, TensorData>,
    scalars: BTreeMap<String, Scalar>,
}

impl StateRecord {
    /// Burnpack bytes of the record.
    pub fn into_bytes(self) -> Result<Bytes, burn_pack::Error> {
        let tensors = self
            .tensors
            .into_iter()
            .map(|(name, data)| {
                let (shape, dtype) = (data.shape().clone(), data.dtype());
                burn_pack::Tensor::new(name, dtype, shape, None, data.into_bytes())
            })
            .collect();
        let mut writer = burn_pack::Writer::new(tensors);
        for (key, value) in self.scalars {
            writer = writer.with_scalar(&key, value);
        }
        writer.into_bytes()
    }

    /// A record from burnpack bytes written by [`into_bytes`](Self::into_bytes).
    pub fn from_bytes(bytes: Bytes) -> Result<Self, burn_pack::Error> {
        let reader = burn_pack::Reader::from_bytes(bytes)?;
        let scalars = reader.scalars().clone();
        let mut tensors = BTreeMap::new();
        for tensor in reader.into_tensors()? {
            let (name, dtype, shape, _, bytes) = tensor.into_parts()?;
            tensors.insert(name, TensorData::from_bytes(bytes, shape, dtype));
        }
        Ok(Self { tensors, scalars })
    }

    /// How many tensors and scalars the record holds.
    pub fn len(&self) -> usize {
        self.tensors.len() + self.scalars.len()
    }

    /// Whether the record holds nothing (an optimizer that has not stepped yet).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tensor saved under `name`.
    pub(crate) fn tensor(&self, name: &str) -> Option<&TensorData> {
        self.tensors.get(name)
    }

    /// The unsigned integer saved under `name`.
    pub(crate) fn scalar_u64(&self, name: &str) -> Option<u64> {
        match self.scalars.get(name)? {
            Scalar::UInt(v) => Some(*v),
            Scalar::Int(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }

    /// Saves `data` under `name`.
    pub(crate) fn insert_tensor(&mut self, name: &str, data: TensorData) {
        self.tensors.insert(name.to_string(), data);
    }

    /// Saves `value` under `name`.
    pub(crate) fn insert_u64(&mut self, name: &str, value: u64) {
        self.scalars.insert(name.to_string(), Scalar::UInt(value));
    }
}

/// A record holding `state` (if any) under `prefix`.
pub(crate) fn record_of<S: RecordState>(prefix: &str, state: Option<&S>) -> StateRecord {
    let mut sink = StateSink::default();
    if let Some(state) = state {
        state.state_flatten(prefix, &mut sink);
    }
    StateRecord {
        tensors: sink.tensors.into_iter().collect(),
        scalars: sink.scalars.into_iter().collect(),
    }
}

/// Reads the state saved under `prefix` from a record made by [`record_of`].
pub(crate) fn state_from<S: RecordState>(record: &StateRecord, prefix: &str) -> Option<S> {
    let mut source = StateSource::new(record.scalars.clone());
    for (name, data) in &record.tensors {
        source.insert_tensor(name.clone(), data.clone());
    }
    if !source.has_under(prefix) {
        return None;
    }
    S::state_unflatten(prefix, &mut source, &Device::default())
}

//! The per-parameter optimizer SAM and GAM step with, seeing all parameters as one flat vector.

use burn::optim::{LearningRate, Optimizer};
use burn::tensor::Tensor;

use super::{StateRecord, record_of, state_from};

/// A per-parameter `Optimizer` and its state over the flat parameter vector. Exact for
/// elementwise rules (SGD, Adam, the optimizers of this crate).
pub(crate) struct FlatBase<O: Optimizer> {
    base: O,
    state: Option<O::State<1>>,
}

impl<O: Optimizer> FlatBase<O> {
    pub(crate) fn new(base: O) -> Self {
        Self { base, state: None }
    }

    /// One step of the base optimizer, with its state moved to the vector's device.
    pub(crate) fn step(&mut self, lr: LearningRate, x: Tensor<1>, grad: Tensor<1>) -> Tensor<1> {
        let device = x.device();
        let current = self.state.take().map(|s| O::to_device(s, &device));
        let (x, next) = self.base.step(lr, x, grad, current);
        self.state = next;
        x
    }

    /// The base state as a record (under `base`).
    pub(crate) fn to_record(&self) -> StateRecord {
        record_of("base", self.state.as_ref())
    }

    /// Restores the base state saved by [`to_record`](Self::to_record).
    pub(crate) fn load_record(&mut self, record: &StateRecord) {
        self.state = state_from(record, "base");
    }
}

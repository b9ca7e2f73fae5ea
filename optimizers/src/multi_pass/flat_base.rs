//! The per-parameter optimizer SAM and GAM step with, seeing all parameters as one flat vector.

use burn::optim::{AdaGrad, Adam, AdamW, Adan, LearningRate, Lion, Optimizer, RmsProp, Sgd};
use burn::tensor::Tensor;

use super::{StateRecord, record_of, state_from};
use crate::adaptive::AdaptiveOptimizer;

/// A per-parameter optimizer whose rule is elementwise: each coordinate's update depends only on
/// that coordinate's gradient and state. SAM and GAM step their base over all parameters as
/// one flat vector, which is exact for these and only these.
///
/// Rules that look at a whole tensor are refused at compile time, by name: `Cautious`
/// (its `n/(k+1)` rescaling would count over every parameter at once), the learned optimizer
/// (its factored statistics and μLO's per-tensor scales need each tensor's shape), `LrScaled`
/// (muP's per-tensor learning rates), and Burn's `Lamb`, `Adafactor` and `Muon`.
///
/// ```
/// use burn::optim::SgdConfig;
/// use tempering_optim::{AmsGradConfig, SamConfig};
/// let sam = SamConfig::new().build(AmsGradConfig::new().build());
/// let gam = tempering_optim::GamConfig::new().build(SgdConfig::new().build());
/// ```
///
/// ```compile_fail
/// use tempering_optim::{AmsGradConfig, CautiousConfig, SamConfig};
/// // Cautious normalizes over each tensor: not a base SAM can flatten.
/// let sam = SamConfig::new().build(CautiousConfig::new().build(AmsGradConfig::new().build()));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the base of SAM or GAM: its rule is not elementwise",
    label = "this optimizer looks at whole tensors",
    note = "SAM and GAM step their base over all parameters as one flat vector, which changes \
            the meaning of a rule that normalizes, factors or scales per tensor; use an \
            elementwise base (SGD, Adam, AdamW, Lion, AMSGrad, AdaBound, PAdam, Grams, ...)"
)]
pub trait ElementwiseOptimizer: Optimizer {}

impl ElementwiseOptimizer for Sgd {}
impl ElementwiseOptimizer for Adam {}
impl ElementwiseOptimizer for AdamW {}
impl ElementwiseOptimizer for AdaGrad {}
impl ElementwiseOptimizer for RmsProp {}
impl ElementwiseOptimizer for Lion {}
impl ElementwiseOptimizer for Adan {}
/// AMSGrad, AdamW-AMSGrad, AdaBound, AMSBound, PAdam and Grams.
impl ElementwiseOptimizer for AdaptiveOptimizer {}

/// A per-parameter `Optimizer` and its state over the flat parameter vector. Exact for
/// elementwise rules ([`ElementwiseOptimizer`]), the only bases SAM and GAM accept.
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

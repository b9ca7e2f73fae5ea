//! Learned optimizers: AdafacMLPLOpt (Metz et al. 2022, arXiv:2203.11860) and μLO, the same
//! network meta-trained and applied under muP (Therien et al. 2024, "μLO: Compute-Efficient
//! Meta-Generalization of Learned Optimizers", arXiv:2405.14658).
//!
//! For each parameter tensor the optimizer keeps momenta at 3 decays, a second moment and
//! Adafactor-style row and column statistics at 3 decays; it builds 28 features per element
//! (gradient, parameter, momenta, preconditioned momenta, factored statistics), normalizes each
//! over the tensor, appends 11 step-count features `tanh(t/τ − 1)`, and runs a small MLP
//! (39 → 32 → 32 → 2) over every element in one batched pass. Its outputs, direction `d` and
//! magnitude `m`, give the update `p ← p − lr · d · exp(0.001·m) · step_mult`.
//!
//! Under μLO the step of each tensor is scaled by its muP role (hidden weights 1/fan_in):
//! [`learned_module_optimizer`] builds the `ModuleOptimizer` with those scales from any
//! weights; step it with learning rate 1.
//!
//! A non-finite gradient skips the step and leaves parameter and state untouched (counted in
//! [`SkipCounter`]). The step runs on host memory (zero-copy on Flex, one copy each way on other
//! devices).
//!
//! Meta-trained weights ship with the crate ([`pretrained`]): [`mulo_optimizer`] for a muP
//! network, [`splo_optimizer`] for a standard one.
//!
//! ```
//! use tempering_optim::learned::{LearnedOptimizerConfig, LoptWeights};
//! let weights = LoptWeights::init(0); // untrained; LoptWeights::splo() ships trained
//! let optimizer = LearnedOptimizerConfig::new().init(weights); // step it with lr 1.0
//! # let _ = optimizer;
//! ```

mod element_layout;
mod features;
mod for_model;
pub mod host_update;
mod mlp_kernel;
pub mod pretrained;
#[cfg(test)]
mod straightforward;
#[cfg(test)]
mod tests;
pub mod weights;

use std::sync::Arc;

use burn::config::Config;
use burn::optim::{LearningRate, ModuleOptimizer, Optimizer};
use burn::tensor::{DType, Device, Tensor, TensorData};

use crate::RecordState;
use crate::config_error::{Check, OptimConfigError};
use crate::finite_guard::{SkipCounter, finite_or_skip};
use crate::host_step::StepPath;
pub use for_model::learned_module_optimizer;
use host_update::{Accumulators, Factored, UpdateScales, factored_dims, reduced_shape, update};
pub use pretrained::{mulo_optimizer, mulo_optimizer_for_roles, splo_optimizer};
pub use weights::{LoptWeights, WeightsError};

/// Multiply-adds the reference MLP spends per parameter element: `39·32 + 32·32 + 32·2`.
pub const REFERENCE_MACS_PER_ELEMENT: usize =
    weights::INPUTS * weights::HIDDEN + weights::HIDDEN * weights::HIDDEN + weights::HIDDEN * 2;

/// Multiply-adds the step's MLP runs per element of a parameter of rank ≥ 2: the step features
/// and the row and column features are folded out of the per-element product (see
/// `mlp_kernel.rs`), leaving 16 inputs: `16·32 + 32·32 + 32·2`.
pub const FACTORED_MACS_PER_ELEMENT: usize = features::FACTORED_ROWS.len() * weights::HIDDEN
    + weights::HIDDEN * weights::HIDDEN
    + weights::HIDDEN * 2;

/// Configuration of a [`LearnedOptimizer`].
#[derive(Config, Debug)]
pub struct LearnedOptimizerConfig {
    /// Scale of every step: 0.001 for the standard-parametrization optimizer, 0.01 for μLO.
    #[config(default = 0.001)]
    pub step_mult: f32,
    /// Scale of the magnitude output inside the exponential.
    #[config(default = 0.001)]
    pub exp_mult: f32,
}

impl LearnedOptimizerConfig {
    /// μLO's settings (`step_mult` 0.01).
    pub fn mu() -> Self {
        Self::new().with_step_mult(0.01)
    }

    /// Checks the settings, naming a bad field.
    pub fn validate(&self) -> Result<(), OptimConfigError> {
        let check = Check("LearnedOptimizer");
        check.positive("step_mult", self.step_mult.into())?;
        check.positive("exp_mult", self.exp_mult.into())
    }

    /// The bare optimizer with `weights`.
    ///
    /// # Panics
    /// If the settings are invalid (see [`validate`](Self::validate)).
    pub fn build(&self, weights: LoptWeights) -> LearnedOptimizer {
        if let Err(e) = self.validate() {
            panic!("{e}");
        }
        LearnedOptimizer {
            weights: Arc::new(weights),
            step_mult: self.step_mult,
            exp_mult: self.exp_mult,
            skips: SkipCounter::default(),
        }
    }

    /// The optimizer with `weights` for a whole module (one step scale for every parameter; see
    /// the module docs for μLO's per-role scales).
    pub fn init(&self, weights: LoptWeights) -> ModuleOptimizer {
        ModuleOptimizer::from(self.build(weights))
    }
}

/// A learned optimizer with fixed meta-parameters; see the module docs.
#[derive(Clone, Debug)]
pub struct LearnedOptimizer {
    weights: Arc<LoptWeights>,
    step_mult: f32,
    exp_mult: f32,
    skips: SkipCounter,
}

impl LearnedOptimizer {
    /// The meta-parameters.
    pub fn weights(&self) -> &LoptWeights {
        &self.weights
    }

    /// Steps skipped because a gradient held NaN or infinity.
    pub fn skip_counter(&self) -> SkipCounter {
        self.skips.clone()
    }
}

/// The learned optimizer's state for one parameter.
#[derive(RecordState, Clone)]
pub struct LearnedOptimizerState<const D: usize> {
    /// Steps taken.
    pub step: usize,
    /// Momenta at the 3 momentum decays.
    pub momenta: Vec<Tensor<D>>,
    /// The second moment.
    pub second_moment: Tensor<D>,
    /// Row statistics (the parameter's shape with its largest axis reduced to 1), per
    /// Adafactor decay; empty below rank 2.
    pub rows: Vec<Tensor<D>>,
    /// Column statistics (the second-largest axis reduced to 1); empty below rank 2.
    pub cols: Vec<Tensor<D>>,
    /// Elementwise statistics below rank 2; empty otherwise.
    pub full: Vec<Tensor<D>>,
}

impl<const D: usize> LearnedOptimizerState<D> {
    /// The zero state of a parameter of `shape`.
    fn zeros(shape: [usize; D], device: &Device) -> Self {
        let zeros =
            |s: &[usize]| Tensor::<D>::zeros(<[usize; D]>::try_from(s).expect("rank D"), device);
        let three = |s: &[usize]| (0..3).map(|_| zeros(s)).collect::<Vec<_>>();
        let (rows, cols, full) = match factored_dims(&shape) {
            Some((d0, d1)) => (
                three(&reduced_shape(&shape, d0)),
                three(&reduced_shape(&shape, d1)),
                Vec::new(),
            ),
            None => (Vec::new(), Vec::new(), three(&shape)),
        };
        Self {
            step: 0,
            momenta: three(&shape),
            second_moment: zeros(&shape),
            rows,
            cols,
            full,
        }
    }
}

/// A tensor's data, to be edited on the host.
fn host<const D: usize>(tensor: Tensor<D>) -> TensorData {
    tensor.into_data().convert::<f32>()
}

fn slices(data: &mut [TensorData]) -> Vec<&mut [f32]> {
    data.iter_mut()
        .map(|d| d.as_mut_slice::<f32>().expect("converted to f32"))
        .collect()
}

impl Optimizer for LearnedOptimizer {
    type State<const D: usize> = LearnedOptimizerState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let host_path = StepPath::Auto.fused(&grad);
        let Some(grad) = finite_or_skip(grad, host_path, &self.skips, "LearnedOptimizer") else {
            return (tensor, state);
        };
        let device = tensor.device();
        let dtype = tensor.dtype();
        let shape = tensor.dims();
        let state = state.unwrap_or_else(|| LearnedOptimizerState::zeros(shape, &device));
        let dims = factored_dims(&shape);
        // Everything on the host: parameter, gradient, momenta ×3, second moment, statistics.
        let mut data: Vec<TensorData> = [tensor, grad]
            .into_iter()
            .chain(state.momenta)
            .chain([state.second_moment])
            .chain(state.rows)
            .chain(state.cols)
            .chain(state.full)
            .map(host)
            .collect();
        let mut parts = slices(&mut data).into_iter();
        let mut next = || parts.next().expect("state has every accumulator");
        let p = next();
        let g: &[f32] = next();
        let momenta = [next(), next(), next()];
        let second = next();
        let factored = if let Some(dims) = dims {
            let rows = [next(), next(), next()];
            let cols = [next(), next(), next()];
            Factored::Factored { dims, rows, cols }
        } else {
            Factored::Full([next(), next(), next()])
        };
        update(
            &self.weights,
            UpdateScales {
                step_mult: self.step_mult,
                exp_mult: self.exp_mult,
                lr: lr as f32,
            },
            &shape,
            state.step,
            p,
            g,
            Accumulators {
                momenta,
                second,
                factored,
            },
        );
        let mut tensors = data
            .into_iter()
            .map(|d| Tensor::<D>::from_data(d, (&device, DType::F32)));
        let mut take = || tensors.next().expect("as many tensors as went in");
        let tensor = take().cast(dtype);
        let _gradient = take();
        let momenta = vec![take(), take(), take()];
        let second_moment = take();
        let (rows, cols, full) = if dims.is_some() {
            (
                vec![take(), take(), take()],
                vec![take(), take(), take()],
                Vec::new(),
            )
        } else {
            (Vec::new(), Vec::new(), vec![take(), take(), take()])
        };
        let state = LearnedOptimizerState {
            step: state.step + 1,
            momenta,
            second_moment,
            rows,
            cols,
            full,
        };
        (tensor, Some(state))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        let move_all = |v: Vec<Tensor<D>>| v.into_iter().map(|t| t.to_device(device)).collect();
        LearnedOptimizerState {
            step: state.step,
            momenta: move_all(state.momenta),
            second_moment: state.second_moment.to_device(device),
            rows: move_all(state.rows),
            cols: move_all(state.cols),
            full: move_all(state.full),
        }
    }
}

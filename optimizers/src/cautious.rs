//! Cautious optimizers (Liang, Chen, Liu & Liu, "Cautious Optimizers: Improving Training with One
//! Line of Code", 2024; official code kyleliang919/C-Optim): keep only the update components whose
//! sign agrees with the current gradient, and rescale the rest.
//!
//! [`Cautious<O>`] wraps any per-parameter optimizer `O`: it applies decoupled weight decay
//! itself (`x ← x(1 - lr·λ)`, never masked), lets `O` step from the decayed point, reads the
//! inner update `u = x_decayed - x_inner`, and applies `u ⊙ mask · s` with
//! `mask = 1[u·g > 0]` and the scale `s` of the chosen [`CautiousNormalization`]. Because the
//! inner step's direction has the sign of `m` (AdamW: `m/denominator`, Lion: `sign(interp)`),
//! this is exactly C-AdamW's `1[m·g > 0]` and C-Lion's `1[u·g > 0]`.
//!
//! Give the inner optimizer **no** weight decay (decay belongs to the wrapper, so it is not
//! masked). C-Lion is `Cautious<Lion>` with [`CautiousNormalization::CountPlusOne`]; C-AdamW is
//! `Cautious` over AdamW-style moments with [`CautiousNormalization::Mean`].
//!
//! ```
//! use burn::optim::LionConfig;
//! use tempering_optim::{CautiousConfig, CautiousNormalization};
//! // C-Lion: Burn's Lion inside, decay handled by the wrapper.
//! let c_lion = CautiousConfig::new()
//!     .with_weight_decay(0.1)
//!     .with_normalization(CautiousNormalization::CountPlusOne)
//!     .init(LionConfig::new().build());
//! # let _ = c_lion;
//! ```

use std::any::Any;

use burn::config::Config;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{LearningRate, Lion, LionConfig, LionState, ModuleOptimizer, Optimizer};
use burn::tensor::{Device, Tensor};

use crate::adaptive::{AdaptiveOptimizer, CautiousMask};
use crate::cautious_lion_kernel::CautiousLion;
pub use crate::cautious_normalization::CautiousNormalization;
use crate::config_error::{Check, OptimConfigError};
use crate::deferred_release::release_tensor;
use crate::finite_guard::{SkipCounter, finite_or_skip, report_skip};
use crate::host_step::{StepPath, with_host_slices};

/// Configuration of the [`Cautious`] wrapper.
#[derive(Config, Debug)]
pub struct CautiousConfig {
    /// Decoupled weight decay λ applied before the inner step, never masked.
    #[config(default = 0.0)]
    pub weight_decay: f32,
    /// The rescaling of the kept components.
    #[config(default = "CautiousNormalization::Mean")]
    pub normalization: CautiousNormalization,
    /// Gradient clipping applied by [`init`](Self::init).
    pub grad_clipping: Option<GradientClippingConfig>,
}

impl CautiousConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptimConfigError> {
        Check("Cautious").non_negative("weight_decay", self.weight_decay.into())
    }

    /// Wraps `inner`, or reports the first invalid field. Around this crate's own optimizers the
    /// host step is fused (two passes); around any other it masks after the inner step.
    pub fn try_build<O: Optimizer>(&self, inner: O) -> Result<Cautious<O>, OptimConfigError> {
        self.validate()?;
        let kernel = (&inner as &dyn Any)
            .downcast_ref::<AdaptiveOptimizer>()
            .map(|a| FusedKernel::Adaptive(a.clone()));
        Ok(Cautious {
            inner,
            weight_decay: self.weight_decay,
            normalization: self.normalization,
            path: StepPath::Auto,
            skips: SkipCounter::default(),
            kernel,
        })
    }

    /// C-Lion with Burn's Lion: Burn's `Lion` (built from `lion`) runs the tensor-operation path
    /// and its `LionState` is the state, so checkpoints match plain Lion's; on host devices the
    /// same rule runs fused in two passes. `lion` must have no weight decay (give it to this
    /// config, where it is not masked).
    pub fn try_build_lion(&self, lion: &LionConfig) -> Result<Cautious<Lion>, OptimConfigError> {
        // Burn's `LionConfig` keeps its fields private and has no getters; its serialized form
        // is the one public view of them. A field missing from it is an error, never a default.
        let json = serde_json::to_value(lion).expect("LionConfig serializes");
        let field = |name: &'static str| -> Result<f64, OptimConfigError> {
            json[name].as_f64().ok_or(OptimConfigError {
                optimizer: "Cautious Lion",
                field: name,
                value: f64::NAN,
                problem: "Burn's LionConfig does not serialize this field as a number",
            })
        };
        let check = Check("Cautious Lion");
        check.within(
            "weight_decay",
            field("weight_decay")?,
            0.0,
            0.0,
            "the inner Lion must not decay: set the decay on CautiousConfig",
        )?;
        let (beta_1, beta_2) = (field("beta_1")? as f32, field("beta_2")? as f32);
        check.beta("beta_1", beta_1)?;
        check.beta("beta_2", beta_2)?;
        let mut cautious = self.try_build(lion.build())?;
        cautious.kernel = Some(FusedKernel::Lion { beta_1, beta_2 });
        Ok(cautious)
    }

    /// C-Lion as a `ModuleOptimizer` (see [`try_build_lion`](Self::try_build_lion)). Panics
    /// with the field's error if a config is invalid.
    pub fn init_lion(&self, lion: &LionConfig) -> ModuleOptimizer {
        let cautious = self.try_build_lion(lion).unwrap_or_else(|e| panic!("{e}"));
        crate::module_optimizer(cautious, &self.grad_clipping)
    }

    /// Wraps `inner`. Panics with the field's error if the config is invalid.
    pub fn build<O: Optimizer>(&self, inner: O) -> Cautious<O> {
        self.try_build(inner).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A `ModuleOptimizer` of the wrapped `inner`, with the configured gradient clipping.
    pub fn init<O: Optimizer>(&self, inner: O) -> ModuleOptimizer {
        crate::module_optimizer(self.build(inner), &self.grad_clipping)
    }
}

/// The inner rules whose cautious step runs fused on host memory.
#[derive(Clone, Debug)]
enum FusedKernel {
    Adaptive(AdaptiveOptimizer),
    Lion { beta_1: f32, beta_2: f32 },
}

/// Moves a value between two spellings of the same type (`O::State<D>` and the concrete state of
/// a [`FusedKernel`]); `None` if the types differ.
fn cast<A: 'static, B: 'static>(value: A) -> Option<B> {
    (Box::new(value) as Box<dyn Any>)
        .downcast::<B>()
        .ok()
        .map(|b| *b)
}

/// Any per-parameter optimizer with cautious masking; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct Cautious<O> {
    inner: O,
    weight_decay: f32,
    normalization: CautiousNormalization,
    path: StepPath,
    skips: SkipCounter,
    kernel: Option<FusedKernel>,
}

impl<O> Cautious<O> {
    /// Returns a copy that always uses tensor operations for the masking.
    pub fn with_step_path(mut self, path: StepPath) -> Self {
        self.path = path;
        self
    }

    /// Steps skipped because a gradient held NaN or infinity.
    pub fn skip_counter(&self) -> SkipCounter {
        self.skips.clone()
    }

    /// The wrapped optimizer.
    pub fn inner(&self) -> &O {
        &self.inner
    }
}

impl<O: Optimizer> Cautious<O> {
    /// The fused two-pass step of a known inner rule: a read-only pass counts the agreeing
    /// components and checks the gradient is finite, then one pass decays (by `decay`), steps
    /// and masks. A non-finite gradient leaves parameter and state untouched.
    fn step_kernel<const D: usize>(
        &self,
        kernel: &FusedKernel,
        lr: LearningRate,
        decay: f32,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<O::State<D>>,
    ) -> (Tensor<D>, Option<O::State<D>>) {
        let wrong = "the fused kernel matches the wrapped optimizer's state type";
        let shape = tensor.dims();
        match kernel {
            FusedKernel::Adaptive(adaptive) => {
                let state = state.map(|s| cast(s).expect(wrong));
                let mask = CautiousMask {
                    pre_decay: decay,
                    normalization: self.normalization,
                };
                let (x, state, applied) = adaptive.cautious_fused(lr, tensor, grad, state, mask);
                if !applied {
                    report_skip(&self.skips, "Cautious", &shape);
                }
                (x, state.map(|s| cast(s).expect(wrong)))
            }
            &FusedKernel::Lion { beta_1, beta_2 } => {
                let fresh = state.is_none();
                let momentum = state
                    .map(|s| cast::<_, LionState<D>>(s).expect(wrong).momentum)
                    .unwrap_or_else(|| Tensor::zeros(tensor.shape(), &tensor.device()));
                let kernel = CautiousLion {
                    beta_1,
                    beta_2,
                    decay,
                    lr: lr as f32,
                    normalization: self.normalization,
                };
                let mut applied = false;
                let [x, g, m] = with_host_slices([tensor, grad, momentum], |[x, g, m]| {
                    applied = kernel.step(x, g, m);
                });
                // A step leaves the new momentum in the gradient's memory; the old is freed.
                let (m, garbage) = if applied { (g, m) } else { (m, g) };
                release_tensor(garbage);
                if !applied {
                    report_skip(&self.skips, "Cautious", &shape);
                }
                // A skipped first step leaves no state, as there was none.
                let state = (applied || !fresh).then(|| cast(LionState::new(m)).expect(wrong));
                (x, state)
            }
        }
    }
}

impl<O: Optimizer> Optimizer for Cautious<O> {
    type State<const D: usize> = O::State<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let fused = self.path.fused(&tensor);
        let decay = (1.0 - lr * self.weight_decay as f64) as f32;
        if fused && let Some(kernel) = &self.kernel {
            // The kernel checks finiteness in its counting pass and decays inside its loop.
            return self.step_kernel(kernel, lr, decay, tensor, grad, state);
        }
        let Some(grad) = finite_or_skip(grad, fused, &self.skips, "Cautious") else {
            return (tensor, state);
        };
        let decayed = if decay != 1.0 {
            tensor.mul_scalar(decay)
        } else {
            tensor
        };
        let (inner, state) = self.inner.step(lr, decayed.clone(), grad.clone(), state);
        let n = decayed.shape().num_elements();
        let tensor = if fused {
            let [decayed, g, inner] = with_host_slices([decayed, grad, inner], |[x, g, inner]| {
                let kept = x
                    .iter()
                    .zip(inner.iter())
                    .zip(g.iter())
                    .filter(|&((x, i), g)| (x - i) * g > 0.0)
                    .count();
                let scale = self.normalization.scale(kept, n);
                for ((x, i), g) in x.iter_mut().zip(inner.iter()).zip(g.iter()) {
                    let u = *x - *i;
                    if u * g > 0.0 {
                        *x -= u * scale;
                    }
                }
            });
            release_tensor(g);
            release_tensor(inner);
            decayed
        } else {
            let update = decayed.clone() - inner;
            let mask = update.clone().mul(grad).greater_elem(0.0).float();
            let kept = mask.clone().sum().into_scalar::<f64>().round() as usize;
            let scale = self.normalization.scale(kept, n);
            decayed - update.mul(mask).mul_scalar(scale)
        };
        (tensor, state)
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        O::to_device(state, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizations_by_hand() {
        // C-AdamW: 4 of 8 kept → 8/4; none kept → 8/(1e-3·8) = 1000.
        assert_eq!(CautiousNormalization::Mean.scale(4, 8), 2.0);
        assert_eq!(CautiousNormalization::Mean.scale(0, 8), 1000.0);
        // C-Lion: all 3 kept → 3/4.
        assert_eq!(CautiousNormalization::CountPlusOne.scale(3, 3), 0.75);
    }
}

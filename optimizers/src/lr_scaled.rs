//! Per-group learning-rate multipliers: [`LrScaled`] runs any per-parameter optimizer at a fixed
//! multiple of the learning rate it is given, and [`mup_module_optimizer`] applies muP's
//! multipliers (Yang et al. 2022, "Tensor Programs V", arXiv:2203.03466) to a model's parameter
//! groups, so that a learning rate tuned at a small width transfers to a wide model.
//!
//! Burn's `ModuleOptimizer` takes one optimizer per `ParamGroup`; the learning rate reaching each
//! group comes from one scheduler. Scaling inside the optimizer keeps every scheduler, gradient
//! clipping and burn-train's `Learner` working unchanged, and the state is the inner optimizer's
//! (it saves and loads like it). Decoupled weight decay (AdamW's `lr · λ · θ`) scales with it, as
//! in the reference `mup` package's `MuAdamW`.
//!
//! ```
//! use burn::optim::AdamWConfig;
//! use burn::module::ParamId;
//! use tempering_core::mup::{MupGroups, MupRole, MupTensorRole};
//! use tempering_optim::lr_scaled::mup_module_optimizer;
//! // The roles come from the model (`MupModule::mup_roles`); one made up here.
//! let roles = [MupTensorRole { id: ParamId::new(), role: MupRole::Hidden, fan_in: 1024 }];
//! let optimizer = mup_module_optimizer(&MupGroups::adam(&roles, 64), AdamWConfig::new().build(), None);
//! # let _ = optimizer;
//! ```

use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{LearningRate, ModuleOptimizer, Optimizer};
use burn::tensor::{Device, Tensor};
use tempering_core::mup::MupGroups;

/// An optimizer stepping at `scale` times the learning rate it is given.
#[derive(Clone, Debug)]
pub struct LrScaled<O> {
    inner: O,
    scale: f64,
}

impl<O> LrScaled<O> {
    /// Wraps `inner` to step at `scale` × the learning rate.
    ///
    /// # Panics
    /// If `scale` is not positive and finite.
    pub fn new(inner: O, scale: f64) -> Self {
        assert!(
            scale.is_finite() && scale > 0.0,
            "LrScaled: scale must be positive and finite, got {scale}"
        );
        Self { inner, scale }
    }

    /// The learning-rate multiplier.
    pub fn scale(&self) -> f64 {
        self.scale
    }
}

impl<O: Optimizer> Optimizer for LrScaled<O> {
    type State<const D: usize> = O::State<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        self.inner.step(lr * self.scale, tensor, grad, state)
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        O::to_device(state, device)
    }
}

/// A `ModuleOptimizer` running `optimizer` on every parameter, at each group's multiplier of the
/// learning rate (parameters in no group step at the learning rate itself), with optional
/// gradient clipping in every group.
pub fn mup_module_optimizer<O: Optimizer>(
    groups: &MupGroups,
    optimizer: O,
    grad_clipping: Option<GradientClippingConfig>,
) -> ModuleOptimizer {
    let clipping = || grad_clipping.as_ref().map(GradientClippingConfig::init);
    let mut module_optimizer = ModuleOptimizer::from(optimizer.clone());
    if let Some(clip) = clipping() {
        module_optimizer = module_optimizer.with_grad_clipping(clip);
    }
    for (group, scale) in groups.groups() {
        if *scale != 1.0 {
            module_optimizer = module_optimizer.with_group(
                group.clone(),
                LrScaled::new(optimizer.clone(), *scale),
                clipping(),
            );
        }
    }
    module_optimizer
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::{Module, Param};
    use burn::optim::{GradientsParams, SgdConfig};
    use burn::tensor::{Device, TensorData};
    use tempering_core::mup::{MupRole, MupTensorRole};

    #[derive(Module, Debug)]
    struct Pair {
        hidden: Param<Tensor<1>>,
        output: Param<Tensor<1>>,
    }

    #[test]
    fn each_group_steps_at_its_multiple_of_the_learning_rate() {
        let device = Device::default().autodiff();
        let pair = Pair {
            hidden: Param::from_tensor(Tensor::from_data([1.0f32, 2.0], &device)),
            output: Param::from_tensor(Tensor::from_data([3.0f32], &device)),
        };
        let roles = [
            MupTensorRole {
                id: pair.hidden.id,
                role: MupRole::Hidden,
                fan_in: 256,
            },
            MupTensorRole {
                id: pair.output.id,
                role: MupRole::Output,
                fan_in: 256,
            },
        ];
        let mut optimizer =
            mup_module_optimizer(&MupGroups::adam(&roles, 64), SgdConfig::new().build(), None);
        // Loss = Σ hidden + Σ output: every gradient is 1, so plain SGD moves each entry by its
        // learning rate: 0.1 · 64/256 for the hidden weights, 0.1 for the output (worked by hand).
        let loss = pair.hidden.val().sum() + pair.output.val().sum();
        let grads = GradientsParams::from_grads(loss.backward(), &pair);
        let pair = optimizer.step(0.1, pair, grads);
        pair.hidden
            .val()
            .into_data()
            .assert_approx_eq::<f32>(&TensorData::from([0.975f32, 1.975]), Default::default());
        pair.output
            .val()
            .into_data()
            .assert_approx_eq::<f32>(&TensorData::from([2.9f32]), Default::default());
    }

    #[test]
    #[should_panic(expected = "scale must be positive")]
    fn a_zero_scale_is_refused() {
        LrScaled::new(SgdConfig::new().build(), 0.0);
    }
}

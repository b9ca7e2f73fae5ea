//! The inner problem of learned-optimizer meta-training: a small network trained by the learned
//! optimizer whose meta-parameters are θ, one minibatch per step.

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;
use tempering_optim::learned::LoptWeights;

use super::pes::Unroll;

/// A training task for the inner loop: how to build the network, its minibatch loss, and the
/// learned optimizer around given weights (with μLO's per-role scales or without).
pub trait InnerTask: Sync {
    /// The network (on an autodiff device).
    type Model: Module + Send;
    /// A freshly initialized network; `seed` fixes it.
    fn init(&self, seed: u64) -> Self::Model;
    /// The training loss of the minibatch of step `t` of the run seeded `seed`.
    fn loss(&self, model: &Self::Model, seed: u64, t: usize) -> Tensor<1>;
    /// The learned optimizer with `weights` for `model` (step with learning rate 1).
    fn optimizer(&self, weights: LoptWeights, model: &Self::Model) -> ModuleOptimizer;
    /// Number of classes `C`: the meta-loss is clipped to `[0, 1.5·ln C]`.
    fn classes(&self) -> usize;
}

/// [`Unroll`] for an [`InnerTask`]: the state is the network and its optimizer.
pub struct LoptUnroll<T: InnerTask>(pub T);

/// A network mid-training and its learned optimizer.
pub struct InnerState<M> {
    model: Option<M>,
    optimizer: Option<ModuleOptimizer>,
}

impl<T: InnerTask> Unroll for LoptUnroll<T> {
    type State = InnerState<T::Model>;

    fn start(&self, seed: u64) -> Self::State {
        InnerState {
            model: Some(self.0.init(seed)),
            optimizer: None,
        }
    }

    fn begin(&self, theta: &[f32], state: &mut Self::State) {
        let model = state.model.as_ref().expect("a model");
        let fresh = self.0.optimizer(LoptWeights::from_flat(theta), model);
        // Keep the accumulators (momenta, statistics, step count) across truncations.
        state.optimizer = Some(match state.optimizer.take() {
            Some(previous) => fresh.load_record(previous.to_record()),
            None => fresh,
        });
    }

    fn step(&self, state: &mut Self::State, seed: u64, t: usize) -> f64 {
        let clip = 1.5 * (self.0.classes() as f64).ln();
        let model = state.model.take().expect("a model");
        let loss = self.0.loss(&model, seed, t);
        let value = loss.clone().into_scalar::<f32>() as f64;
        let optimizer = state.optimizer.as_mut().expect("begin() before step()");
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        state.model = Some(optimizer.step(1.0, model, grads));
        if value.is_finite() {
            value.clamp(0.0, clip)
        } else {
            clip
        }
    }
}

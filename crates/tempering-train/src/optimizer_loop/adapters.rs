//! The optimizers the loop drives: closure (multi-pass) optimizers and burn's per-parameter
//! `ModuleOptimizer`, behind one trait so that every optimizer is compared in the same loop.

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Bytes;
use tempering_optim::{ClosureOptimizer, StateRecord};

use super::LoopError;

/// The closure a step evaluates: loss and gradients at the module it is given.
pub type Evaluate<'a, M> = dyn FnMut(M) -> (f64, GradientsParams) + 'a;

/// An optimizer [`OptimizerLoop`](super::OptimizerLoop) can drive, with its state as bytes.
pub trait LoopOptimizer<M: Module + Clone> {
    /// Gradient evaluations one step uses.
    fn evaluations_per_step(&self) -> usize;
    /// Whether every evaluation of a step should get a fresh minibatch.
    fn fresh_batch_per_evaluation(&self) -> bool;
    /// One step; returns the module and the loss at the incoming parameters.
    fn step(&mut self, lr: f64, module: M, evaluate: &mut Evaluate<'_, M>) -> (M, f64);
    /// The optimizer state, burnpack bytes.
    fn state_bytes(&self) -> Result<Bytes, LoopError>;
    /// Restores [`state_bytes`](Self::state_bytes).
    fn load_state_bytes(&mut self, bytes: Bytes) -> Result<(), LoopError>;
}

/// A boxed loop optimizer is one too, so runs can choose their optimizer at run time
/// (`Box<dyn LoopOptimizer<M>>`).
impl<M: Module + Clone, O: LoopOptimizer<M> + ?Sized> LoopOptimizer<M> for Box<O> {
    fn evaluations_per_step(&self) -> usize {
        (**self).evaluations_per_step()
    }

    fn fresh_batch_per_evaluation(&self) -> bool {
        (**self).fresh_batch_per_evaluation()
    }

    fn step(&mut self, lr: f64, module: M, evaluate: &mut Evaluate<'_, M>) -> (M, f64) {
        (**self).step(lr, module, evaluate)
    }

    fn state_bytes(&self) -> Result<Bytes, LoopError> {
        (**self).state_bytes()
    }

    fn load_state_bytes(&mut self, bytes: Bytes) -> Result<(), LoopError> {
        (**self).load_state_bytes(bytes)
    }
}

/// A [`ClosureOptimizer`] (SAM, GAM, Entropy-SGD, OPT-AMSGrad) for the loop.
pub struct MultiPass<O>(pub O);

impl<M: Module + Clone, O: ClosureOptimizer> LoopOptimizer<M> for MultiPass<O> {
    fn evaluations_per_step(&self) -> usize {
        self.0.evaluations_per_step()
    }

    fn fresh_batch_per_evaluation(&self) -> bool {
        self.0.fresh_batch_per_evaluation()
    }

    fn step(&mut self, lr: f64, module: M, evaluate: &mut Evaluate<'_, M>) -> (M, f64) {
        self.0.step(lr, module, evaluate)
    }

    fn state_bytes(&self) -> Result<Bytes, LoopError> {
        self.0
            .to_record()
            .into_bytes()
            .map_err(|e| LoopError::OptimizerState(e.to_string()))
    }

    fn load_state_bytes(&mut self, bytes: Bytes) -> Result<(), LoopError> {
        let record =
            StateRecord::from_bytes(bytes).map_err(|e| LoopError::OptimizerState(e.to_string()))?;
        self.0.load_record(record);
        Ok(())
    }
}

/// A per-parameter optimizer (`AdamConfig::new().init()`, `GramsConfig::new().init()`, …) for
/// the loop: one evaluation per step, then `ModuleOptimizer::step`.
pub struct PerParameter(pub ModuleOptimizer);

impl<M: Module + Clone> LoopOptimizer<M> for PerParameter {
    fn evaluations_per_step(&self) -> usize {
        1
    }

    fn fresh_batch_per_evaluation(&self) -> bool {
        false
    }

    fn step(&mut self, lr: f64, module: M, evaluate: &mut Evaluate<'_, M>) -> (M, f64) {
        let (loss, grads) = evaluate(module.clone());
        (self.0.step(lr, module, grads), loss)
    }

    fn state_bytes(&self) -> Result<Bytes, LoopError> {
        self.0
            .into_bytes()
            .map_err(|e| LoopError::OptimizerState(e.to_string()))
    }

    fn load_state_bytes(&mut self, bytes: Bytes) -> Result<(), LoopError> {
        self.0 = self
            .0
            .clone()
            .from_bytes(bytes)
            .map_err(|e| LoopError::OptimizerState(e.to_string()))?;
        Ok(())
    }
}

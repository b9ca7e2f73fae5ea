//! Keeping batch-norm running statistics at the values of one evaluation while the closure is
//! called again at other points (GAM's passes 2–4, SAM's ascent pass, OPT-AMSGrad's predicted
//! point, Entropy-SGD's Langevin passes).
//!
//! Burn's `RunningState` is shared between clones of a module, and a forward pass does not write
//! its value directly: it queues the new value per thread and merges the queue on the next
//! synchronization. Capturing with `into_record` alone would read the value from *before* the
//! first evaluation, and loading a record back would leave later passes' values queued, to be
//! merged on the next forward. So both ends synchronize first (`Module::valid` merges every
//! queue; its result is dropped).

use burn::module::Module;
use burn::store::ModuleRecord;

/// The module's values, running statistics included, as of the evaluations made so far.
///
/// Restoring writes through the running-state handles the module shares with its clones, so
/// the caller's copy of the module sees the restored statistics too.
pub struct RunningStatistics(ModuleRecord);

impl RunningStatistics {
    /// Captures the module after the evaluation whose statistics should be kept.
    pub fn capture<M: Module + Clone>(module: &M) -> Self {
        let _ = module.valid();
        Self(module.clone().into_record())
    }

    /// The module with the captured values back, and no later update still queued.
    pub fn restore<M: Module>(self, module: M) -> M {
        let _ = module.valid();
        module.load_record(self.0)
    }
}

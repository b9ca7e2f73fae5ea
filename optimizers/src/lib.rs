//! tempering-optim: optimizers of recent papers as Burn optimizer plugins.
//!
//! Per-parameter optimizers (Grams, the AMSGrad family, cautious masking over Lion and the
//! others) will implement `burn::optim::Optimizer`, so they drop into `ModuleOptimizer`,
//! parameter groups and burn-train's `Learner`; multi-pass optimizers (SAM, GAM, Entropy-SGD,
//! OPT-AMSGrad) will take a closure the way Burn's `LBFGS::step` does; learned optimizers
//! under muP follow. Empty until the optimizer issues land.

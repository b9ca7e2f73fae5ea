//! Second-order optimizers: steps preconditioned by an approximation of the inverse Hessian.
//!
//! [`Mfac`] (M-FAC, Frantar, Kurtic & Alistarh, NeurIPS 2021) multiplies the whole model's
//! gradient by the inverse empirical Fisher of its last `m` gradients. It sees every parameter
//! at once, so it is not a per-parameter `burn::optim::Optimizer`; it implements
//! [`ClosureOptimizer`](crate::ClosureOptimizer) with one evaluation per step and also takes
//! ready gradients through [`Mfac::step_with`].

mod dynamic_inverse;
mod mfac;

pub use mfac::{Mfac, MfacConfig};

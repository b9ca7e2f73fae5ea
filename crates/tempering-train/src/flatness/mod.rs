//! Flatness diagnostics of a trained module: how sharp is the minimum an optimizer found?
//!
//! - [`top_hessian_eigenvalue`]: the largest Hessian eigenvalue by power iteration on
//!   finite-difference Hessian-vector products (two gradient evaluations per iteration, no
//!   second-order autodiff).
//! - [`first_order_flatness`]: GAM's first-order flatness `ρ · max_{‖θ'-θ‖≤ρ} ‖∇L(θ')‖` (Zhang,
//!   Xu, Li, Xu & Wang, "Gradient norm aware minimization seeks first-order flatness and improves
//!   generalization", CVPR 2023), estimated by projected ascent on the gradient norm.
//! - [`loss_along_line`]: the loss at `(1-α)·start + α·end` (Goodfellow, Vinyals & Saxe,
//!   "Qualitatively characterizing neural network optimization problems", ICLR 2015).
//!
//! All of them evaluate through a closure of the shape the multi-pass optimizers use,
//! `FnMut(M) -> (loss, gradients)`, which should evaluate **the same batch** every call. They
//! leave the module as it was: batch-norm running statistics are restored after the last
//! evaluation.
//!
//! ```
//! use burn::module::Module;
//! use burn::nn::{Linear, LinearConfig};
//! use burn::optim::GradientsParams;
//! use burn::tensor::{Device, Tensor};
//! use tempering_train::flatness::{PowerIterationConfig, top_hessian_eigenvalue};
//!
//! let device = Device::default().autodiff();
//! let model: Linear = LinearConfig::new(3, 1).init(&device);
//! let x = Tensor::<2>::ones([4, 3], &device);
//! let closure = |m: Linear| {
//!     let loss = m.forward(x.clone()).square().mean();
//!     let grads = GradientsParams::from_grads(loss.backward(), &m);
//!     (loss.into_scalar::<f64>(), grads)
//! };
//! let top = top_hessian_eigenvalue(&model, closure, &PowerIterationConfig::new())?;
//! println!("λ_max ≈ {:.3} after {} iterations", top.eigenvalue, top.iterations);
//! # Ok::<(), tempering_train::flatness::FlatnessError>(())
//! ```

mod first_order;
mod hessian;
mod line;

pub use first_order::{FirstOrderFlatness, FirstOrderFlatnessConfig, first_order_flatness};
pub use hessian::{EigenEstimate, PowerIterationConfig, top_hessian_eigenvalue};
pub use line::{evenly_spaced, loss_along_line};

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use tempering_optim::RunningStatistics;
use tempering_optim::multi_pass::flat::{flatten_grads, flatten_params, load_flat_params, norm};

/// Why a diagnostic could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum FlatnessError {
    /// The module has no parameter that requires gradients.
    #[error(
        "the module has no trainable parameters (are they frozen, or not on an autodiff device?)"
    )]
    NoParameters,
    /// A loss or gradient was NaN or infinite.
    #[error("the {what} at {point} is not finite")]
    NonFinite {
        /// `loss` or `gradient`.
        what: &'static str,
        /// Where it was evaluated.
        point: String,
    },
    /// Two parameter vectors of different lengths.
    #[error("parameter vectors differ in length: {left} and {right} (different models?)")]
    LengthMismatch {
        /// Length of the first vector.
        left: usize,
        /// Length of the second.
        right: usize,
    },
    /// A configuration value out of range.
    #[error("{field} {reason}")]
    BadConfig {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

/// `Ok` if `value` is a positive finite number, else the error naming `field`.
pub(crate) fn check_positive(field: &'static str, value: f64) -> Result<(), FlatnessError> {
    if value > 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(FlatnessError::BadConfig {
            field,
            reason: "must be positive",
        })
    }
}

/// Evaluates the closure at flat parameter vectors of one module, counting evaluations, and
/// restores the module's running statistics when dropped.
pub(crate) struct Probe<'a, M: Module + Clone, F> {
    module: &'a M,
    /// The module's trainable parameters, flat (flattened once: it copies every parameter).
    params: Tensor<1>,
    closure: F,
    saved: Option<RunningStatistics>,
    pub(crate) evaluations: usize,
}

impl<'a, M, F> Probe<'a, M, F>
where
    M: Module + Clone,
    F: FnMut(M) -> (f64, GradientsParams),
{
    pub(crate) fn new(module: &'a M, closure: F) -> Result<Self, FlatnessError> {
        let params = flatten_params(module);
        if params.dims()[0] == 0 {
            return Err(FlatnessError::NoParameters);
        }
        Ok(Self {
            module,
            params,
            closure,
            saved: Some(RunningStatistics::capture(module)),
            evaluations: 0,
        })
    }

    /// The module's trainable parameters, flat.
    pub(crate) fn params(&self) -> Tensor<1> {
        self.params.clone()
    }

    /// Loss and flat gradient at `point`; `at` names the point in errors.
    pub(crate) fn eval(
        &mut self,
        point: &Tensor<1>,
        at: &str,
    ) -> Result<(f64, Tensor<1>), FlatnessError> {
        self.evaluations += 1;
        let (loss, grads) = (self.closure)(load_flat_params(self.module.clone(), point));
        let grad = flatten_grads(self.module, &grads);
        if !loss.is_finite() {
            return Err(FlatnessError::NonFinite {
                what: "loss",
                point: at.to_string(),
            });
        }
        if !norm(&grad).is_finite() {
            return Err(FlatnessError::NonFinite {
                what: "gradient",
                point: at.to_string(),
            });
        }
        Ok((loss, grad))
    }
}

impl<M: Module + Clone, F> Drop for Probe<'_, M, F> {
    fn drop(&mut self) {
        if let Some(saved) = self.saved.take() {
            // Writes through the handles the caller's module shares.
            let _ = saved.restore(self.module.clone());
        }
    }
}

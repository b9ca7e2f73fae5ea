//! The loss along the straight line between two parameter vectors.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

use super::{FlatnessError, Probe};

/// `n` evenly spaced values from `from` to `to`, both included (`n ≥ 2`; `n = 1` gives `from`).
pub fn evenly_spaced(from: f64, to: f64, n: usize) -> Vec<f64> {
    match n {
        0 => Vec::new(),
        1 => vec![from],
        _ => (0..n)
            .map(|i| from + (to - from) * i as f64 / (n - 1) as f64)
            .collect(),
    }
}

/// `(α, loss)` at `(1-α)·start + α·end` for each α (α outside [0, 1] extrapolates), with the
/// parameter vectors in the layout of
/// [`flatten_params`](tempering_optim::multi_pass::flat::flatten_params) of `module`, which
/// supplies the architecture. Gradients the closure returns are ignored.
pub fn loss_along_line<M, F>(
    module: &M,
    start: &Tensor<1>,
    end: &Tensor<1>,
    alphas: &[f64],
    closure: F,
) -> Result<Vec<(f64, f64)>, FlatnessError>
where
    M: Module + Clone,
    F: FnMut(M) -> (f64, GradientsParams),
{
    let mut probe = Probe::new(module, closure)?;
    let params = probe.params();
    let n = params.dims()[0];
    for v in [start, end] {
        if v.dims()[0] != n {
            return Err(FlatnessError::LengthMismatch {
                left: v.dims()[0],
                right: n,
            });
        }
    }
    let device = params.device();
    let (start, end) = (
        start.clone().to_device(&device),
        end.clone().to_device(&device),
    );
    alphas
        .iter()
        .map(|&alpha| {
            let point = start.clone().mul_scalar(1.0 - alpha) + end.clone().mul_scalar(alpha);
            let (loss, _) = probe.eval(&point, &format!("α = {alpha}"))?;
            Ok((alpha, loss))
        })
        .collect()
}

//! A Burn `Linear`'s weight (stored `[d_in, d_out]`) seen in PyTorch's `[out, in]` row order,
//! the order the official SparseGPT and Wanda code works in.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Tensor, TensorData};

use crate::PruneError;
use tempering_core::compression::linear_units::host_values;

/// The weight of `linear` as row-major `[outputs, d_in]` values.
pub(super) fn weight_rows(linear: &Linear) -> Vec<f32> {
    let [d_in, d_out] = linear.weight.dims();
    let stored = host_values(linear.weight.val());
    (0..d_out * d_in)
        .map(|k| stored[(k % d_in) * d_out + k / d_in])
        .collect()
}

/// Runs `edit` on the weight of `linear` as row-major `[outputs, d_in]` values with the two
/// counts, and stores the edited values back (the bias is untouched). Nothing is stored when
/// `edit` fails.
pub(super) fn edit_rows<R>(
    linear: &mut Linear,
    edit: impl FnOnce(&mut [f32], usize, usize) -> Result<R, PruneError>,
) -> Result<R, PruneError> {
    let [d_in, d_out] = linear.weight.dims();
    let device = linear.weight.device();
    let mut rows = weight_rows(linear);
    let result = edit(&mut rows, d_out, d_in)?;
    let back: Vec<f32> = (0..d_in * d_out)
        .map(|k| rows[(k % d_out) * d_in + k / d_out])
        .collect();
    // A weight being trained (an autodiff device) stays one.
    let require_grad = linear.weight.val().is_require_grad();
    let tensor = Tensor::<2>::from_data(TensorData::new(back, [d_in, d_out]), &device)
        .set_require_grad(require_grad);
    linear.weight = Param::initialized(linear.weight.id, tensor);
    Ok(result)
}

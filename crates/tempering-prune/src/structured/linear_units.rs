//! Unit-level reads and cuts of a Burn `Linear` (weight `[d_in, d_out]`): a unit is a block of
//! `width` consecutive output columns (with their bias entries) or input rows.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Int, Tensor, TensorData};

use super::UnitImportance;
use crate::element::host_f32;

/// Per output unit, the importance's sum over its weight columns and bias entries.
pub(crate) fn output_unit_scores(
    linear: &Linear,
    width: usize,
    importance: UnitImportance,
) -> Vec<f64> {
    let [_, d_out] = linear.weight.dims();
    let weight = host_f32(linear.weight.val().into_data());
    let mut scores = vec![0.0; d_out / width];
    for row in weight.chunks_exact(d_out) {
        for (column, &w) in row.iter().enumerate() {
            scores[column / width] += importance.term(w);
        }
    }
    if let Some(bias) = &linear.bias {
        for (column, &b) in host_f32(bias.val().into_data()).iter().enumerate() {
            scores[column / width] += importance.term(b);
        }
    }
    scores
}

/// Per input unit, the importance's sum over its weight rows.
pub(crate) fn input_unit_scores(
    linear: &Linear,
    width: usize,
    importance: UnitImportance,
) -> Vec<f64> {
    let [d_in, d_out] = linear.weight.dims();
    let weight = host_f32(linear.weight.val().into_data());
    let mut scores = vec![0.0; d_in / width];
    for (row, values) in weight.chunks_exact(d_out).enumerate() {
        scores[row / width] += values.iter().map(|&w| importance.term(w)).sum::<f64>();
    }
    scores
}

/// The layer with only the output units `keep` (sorted unit indices).
pub(crate) fn keep_output_units(linear: Linear, keep: &[usize], width: usize) -> Linear {
    let device = linear.weight.device();
    let indices = expanded(keep, width, &device);
    Linear {
        weight: Param::from_tensor(linear.weight.val().select(1, indices.clone()).detach()),
        bias: linear
            .bias
            .map(|b| Param::from_tensor(b.val().select(0, indices).detach())),
    }
}

/// The layer with only the input units `keep` (sorted unit indices); the bias is unchanged.
pub(crate) fn keep_input_units(linear: Linear, keep: &[usize], width: usize) -> Linear {
    let device = linear.weight.device();
    let indices = expanded(keep, width, &device);
    Linear {
        weight: Param::from_tensor(linear.weight.val().select(0, indices).detach()),
        bias: linear.bias,
    }
}

/// Element indices of the kept units.
fn expanded(keep: &[usize], width: usize, device: &burn::tensor::Device) -> Tensor<1, Int> {
    let indices: Vec<i64> = keep
        .iter()
        .flat_map(|&unit| (unit * width..(unit + 1) * width).map(|i| i as i64))
        .collect();
    Tensor::from_data(TensorData::from(indices.as_slice()), device)
}

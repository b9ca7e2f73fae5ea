//! Unit-level reads and cuts of a Burn `Linear` (weight `[d_in, d_out]`): a unit is a block of
//! `width` consecutive output columns (with their bias entries) or input rows. Models use these
//! to implement [`ShrinkUnits`](super::ShrinkUnits) for their layers.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Int, Tensor, TensorData};

use super::UnitImportance;

/// A float tensor's values on the host, as `f32`.
pub fn host_values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("float tensor data converts to f32")
}

/// Per output unit, the importance's sum over its weight columns and bias entries.
pub fn output_unit_scores(linear: &Linear, width: usize, importance: UnitImportance) -> Vec<f64> {
    let [_, d_out] = linear.weight.dims();
    let weight = host_values(linear.weight.val());
    let mut scores = vec![0.0; d_out / width];
    for row in weight.chunks_exact(d_out) {
        for (column, &w) in row.iter().enumerate() {
            scores[column / width] += importance.term(w);
        }
    }
    if let Some(bias) = &linear.bias {
        for (column, &b) in host_values(bias.val()).iter().enumerate() {
            scores[column / width] += importance.term(b);
        }
    }
    scores
}

/// Per input unit, the importance's sum over its weight rows.
pub fn input_unit_scores(linear: &Linear, width: usize, importance: UnitImportance) -> Vec<f64> {
    let [d_in, d_out] = linear.weight.dims();
    let weight = host_values(linear.weight.val());
    let mut scores = vec![0.0; d_in / width];
    for (row, values) in weight.chunks_exact(d_out).enumerate() {
        scores[row / width] += values.iter().map(|&w| importance.term(w)).sum::<f64>();
    }
    scores
}

/// The layer with only the output units `keep` (sorted unit indices).
pub fn keep_output_units(linear: Linear, keep: &[usize], width: usize) -> Linear {
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
pub fn keep_input_units(linear: Linear, keep: &[usize], width: usize) -> Linear {
    let device = linear.weight.device();
    let indices = expanded(keep, width, &device);
    Linear {
        weight: Param::from_tensor(linear.weight.val().select(0, indices).detach()),
        bias: linear.bias,
    }
}

/// The layer widened to `d_out` outputs by zero columns (and zero bias entries) after its
/// own: the inverse of [`keep_output_units`] up to the order of the units, where a format needs
/// a width the layer no longer has. The added outputs are exactly zero for every input.
///
/// # Panics
/// If the layer already has more than `d_out` outputs.
pub fn pad_output_units(linear: Linear, d_out: usize) -> Linear {
    let [d_in, has] = linear.weight.dims();
    assert!(has <= d_out, "{has} outputs cannot be padded to {d_out}");
    if has == d_out {
        return linear;
    }
    let device = linear.weight.device();
    let weight = Tensor::cat(
        vec![
            linear.weight.val(),
            Tensor::zeros([d_in, d_out - has], &device),
        ],
        1,
    );
    Linear {
        weight: Param::from_tensor(weight.detach()),
        bias: linear.bias.map(|b| {
            let padded = Tensor::cat(vec![b.val(), Tensor::zeros([d_out - has], &device)], 0);
            Param::from_tensor(padded.detach())
        }),
    }
}

/// The layer widened to `d_in` inputs by zero rows after its own (the bias unchanged): inputs
/// added this way never reach the output. The inverse of [`keep_input_units`] up to order.
///
/// # Panics
/// If the layer already has more than `d_in` inputs.
pub fn pad_input_units(linear: Linear, d_in: usize) -> Linear {
    let [has, d_out] = linear.weight.dims();
    assert!(has <= d_in, "{has} inputs cannot be padded to {d_in}");
    if has == d_in {
        return linear;
    }
    let device = linear.weight.device();
    let weight = Tensor::cat(
        vec![
            linear.weight.val(),
            Tensor::zeros([d_in - has, d_out], &device),
        ],
        0,
    );
    Linear {
        weight: Param::from_tensor(weight.detach()),
        bias: linear.bias,
    }
}

/// Sums `more` into `scores` element by element (two coupled layers' shares of one unit).
pub fn add_scores(scores: &mut [f64], more: Vec<f64>) {
    scores.iter_mut().zip(more).for_each(|(s, t)| *s += t);
}

/// Element indices of the kept units.
pub(crate) fn expanded(
    keep: &[usize],
    width: usize,
    device: &burn::tensor::Device,
) -> Tensor<1, Int> {
    let indices: Vec<i64> = keep
        .iter()
        .flat_map(|&unit| (unit * width..(unit + 1) * width).map(|i| i as i64))
        .collect();
    Tensor::from_data(TensorData::from(indices.as_slice()), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn layer() -> Linear {
        // Weight [d_in 2, d_out 4] = [[1, 2, 3, 4], [5, 6, 7, 8]], bias [1, 1, 1, 1].
        let device = Device::default();
        let weight = Tensor::from_data(
            TensorData::new(vec![1.0f32, 2., 3., 4., 5., 6., 7., 8.], [2, 4]),
            &device,
        );
        Linear {
            weight: Param::from_tensor(weight),
            bias: Some(Param::from_tensor(Tensor::ones([4], &device))),
        }
    }

    #[test]
    fn padding_adds_zero_units_that_change_no_output() {
        let device = Device::default();
        let wide = pad_output_units(layer(), 6);
        assert_eq!(wide.weight.dims(), [2, 6]);
        let values = host_values(wide.weight.val());
        assert_eq!(values, [1., 2., 3., 4., 0., 0., 5., 6., 7., 8., 0., 0.]);
        assert_eq!(
            host_values(wide.bias.as_ref().unwrap().val()),
            [1., 1., 1., 1., 0., 0.]
        );
        let deep = pad_input_units(layer(), 3);
        assert_eq!(deep.weight.dims(), [3, 4]);
        // An input through the added row is multiplied by zero: outputs equal the layer's on
        // the first two inputs.
        let x = Tensor::<2>::from_data(TensorData::new(vec![0.5f32, -1.0, 7.0], [1, 3]), &device);
        let narrow = Tensor::<2>::from_data(TensorData::new(vec![0.5f32, -1.0], [1, 2]), &device);
        assert_eq!(
            host_values(deep.forward(x)),
            host_values(layer().forward(narrow))
        );
        assert_eq!(pad_output_units(layer(), 4).weight.dims(), [2, 4]);
    }

    #[test]
    fn unit_scores_sum_the_coupled_weights() {
        // Worked by hand, L1: output unit 0 of width 2 is columns 0-1 = 1+2+5+6 + bias 1+1 = 16,
        // unit 1 is 3+4+7+8 + 2 = 24; input rows sum to 10 and 26.
        let out = output_unit_scores(&layer(), 2, UnitImportance::L1);
        assert_eq!(out, vec![16.0, 24.0]);
        let inp = input_unit_scores(&layer(), 1, UnitImportance::L1);
        assert_eq!(inp, vec![10.0, 26.0]);
    }

    #[test]
    fn cuts_keep_the_selected_slices() {
        let out = keep_output_units(layer(), &[1], 2);
        assert_eq!(out.weight.dims(), [2, 2]);
        assert_eq!(host_values(out.weight.val()), vec![3.0, 4.0, 7.0, 8.0]);
        assert_eq!(out.bias.unwrap().dims(), [2]);
        let inp = keep_input_units(layer(), &[1], 1);
        assert_eq!(host_values(inp.weight.val()), vec![5.0, 6.0, 7.0, 8.0]);
        assert_eq!(inp.bias.unwrap().dims(), [4]);
    }
}

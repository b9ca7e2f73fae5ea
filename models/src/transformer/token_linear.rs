//! A `Linear` applied to every token of a `[batch, time, features]` tensor as one 2-D matrix
//! product. Burn's `Linear` on a 3-D input broadcasts its weight over the batch: its backward
//! pass then multiplies per batch element and sums the weight gradients (12 small products
//! and a reduction for the LM's batch of 12), which measured 1.7× slower for the feed-forward
//! layers of `train_char_lm` than one `[batch·time, in] × [in, out]` product
//! (`bench_char_lm --breakdown`). The 2-D product is [`linear_rows`]: on Flex, tempering's
//! host kernels.

use burn::tensor::Tensor;

use super::projection::Projection;

/// `layer(x)` for `x` of shape `[batch, time, in]`, computed on `[batch·time, in]`.
pub fn token_linear<P: Projection>(layer: &P, x: Tensor<3>) -> Tensor<3> {
    let [batch, time, features] = x.dims();
    let y = layer.rows(x.reshape([batch * time, features]));
    let out = y.dims()[1];
    y.reshape([batch, time, out])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::{Device, Distribution, Tolerance};

    #[test]
    fn equals_burns_broadcast_linear_forward_and_backward() {
        let device = Device::default().autodiff();
        let layer = LinearConfig::new(6, 5).init(&device);
        let x0 = Tensor::<3>::random([3, 4, 6], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<3>::random([3, 4, 5], Distribution::Normal(0.0, 1.0), &device);
        let run = |f: &dyn Fn(Tensor<3>) -> Tensor<3>| {
            let x = x0.clone().require_grad();
            let y = f(x.clone());
            let grads = (y.clone() * w.clone()).sum().backward();
            (
                y.inner(),
                x.grad(&grads).unwrap(),
                layer.weight.grad(&grads).unwrap(),
                layer.bias.as_ref().unwrap().grad(&grads).unwrap(),
            )
        };
        let ours = run(&|x| token_linear(&layer, x));
        let burns = run(&|x| layer.forward(x));
        let tol = Tolerance::<f32>::absolute(1e-5);
        ours.0
            .into_data()
            .assert_approx_eq(&burns.0.into_data(), tol);
        ours.1
            .into_data()
            .assert_approx_eq(&burns.1.into_data(), tol);
        ours.2
            .into_data()
            .assert_approx_eq(&burns.2.into_data(), tol);
        ours.3
            .into_data()
            .assert_approx_eq(&burns.3.into_data(), tol);
    }
}

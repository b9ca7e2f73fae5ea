//! Burn's `LayerNorm` applied as one operation with its own autodiff node; on Flex the host
//! kernels of [`layer_norm_kernel`](super::layer_norm_kernel), elsewhere `LayerNorm::forward`.
//!
//! Burn's `LayerNorm` keeps its ε private, so the caller passes the ε it configured the layer
//! with: the transformer's layers are all built with [`NORM_EPSILON`].

#[cfg(feature = "flex")]
use crate::host_op::*;
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Tensor};

/// The ε of every layer norm in tempering's transformers: `LayerNormConfig`'s default (and
/// PyTorch's).
pub const NORM_EPSILON: f64 = 1e-5;

/// A layer norm over `d_model` features with [`NORM_EPSILON`].
pub fn layer_norm(d_model: usize, device: &Device) -> LayerNorm {
    LayerNormConfig::new(d_model)
        .with_epsilon(NORM_EPSILON)
        .init(device)
}

/// Backends with layer normalization over the last dimension as their own operation (built with
/// the `flex` feature: Flex is the one backend that runs it).
#[cfg(feature = "flex")]
#[backend_extension(Flex, Autodiff)]
pub trait HostLayerNormBackend: Backend {
    /// The normalized, scaled and shifted tensor, and each row's `[mean, 1/std]` (`[rows, 2]`).
    fn host_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// The gradients of `x`, `gamma` and `beta`.
    fn host_layer_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Flex, TensorMetadata};
    use burn::tensor::Shape;

    use super::super::layer_norm_kernel::{layer_norm_backward, layer_norm_forward};
    use super::HostLayerNormBackend;
    use crate::host_op::host_tensor;

    fn slice(x: &FloatTensor<Flex>) -> &[f32] {
        x.as_slice::<f32>()
            .expect("host layer norm runs on f32 tensors")
    }

    fn width(x: &FloatTensor<Flex>) -> usize {
        *x.shape()
            .last()
            .expect("host layer norm: the input has a feature dimension")
    }

    impl HostLayerNormBackend for Flex {
        fn host_layer_norm(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            epsilon: f64,
        ) -> (FloatTensor<Self>, FloatTensor<Self>) {
            let (shape, d) = (x.shape(), width(&x));
            let [x, gamma, beta] = [x, gamma, beta].map(|t| t.to_contiguous());
            let (y, stats) =
                layer_norm_forward(slice(&x), slice(&gamma), Some(slice(&beta)), d, epsilon);
            let rows = stats.len() / 2;
            (
                host_tensor(y, shape),
                host_tensor(stats, Shape::new([rows, 2])),
            )
        }

        fn host_layer_norm_backward(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            stats: FloatTensor<Self>,
            output_grad: FloatTensor<Self>,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            let (shape, d) = (x.shape(), width(&x));
            let [x, gamma, stats, dy] = [x, gamma, stats, output_grad].map(|t| t.to_contiguous());
            let [dx, dgamma, dbeta] =
                layer_norm_backward(slice(&x), slice(&gamma), slice(&stats), slice(&dy), d);
            (
                host_tensor(dx, shape),
                host_tensor(dgamma, Shape::new([d])),
                host_tensor(dbeta, Shape::new([d])),
            )
        }
    }
}

#[cfg(feature = "flex")]
impl<B: HostLayerNormBackend, C: CheckpointStrategy> HostLayerNormBackend for Autodiff<B, C> {
    fn host_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        #[derive(Debug)]
        struct HostLayerNorm;

        impl<B: HostLayerNormBackend> Backward<B, 3> for HostLayerNorm {
            /// The input, gamma and the rows' statistics.
            type State = [B::FloatTensorPrimitive; 3];

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_gamma, node_beta] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let [x, gamma, stats] = ops.state;
                let (dx, dgamma, dbeta) = B::host_layer_norm_backward(x, gamma, stats, grad);
                for (node, d) in [(node_x, dx), (node_gamma, dgamma), (node_beta, dbeta)] {
                    if let Some(node) = node {
                        grads.register::<B>(node.id, d);
                    }
                }
            }
        }

        match HostLayerNorm
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let [x, gamma, beta] = [x, gamma, beta].map(|t| t.into_primitive());
                let (y, stats) = B::host_layer_norm(x.clone(), gamma.clone(), beta, epsilon);
                let stats_untracked = <Self as AutodiffBackend>::from_inner(stats.clone());
                (prep.finish([x, gamma, stats], y), stats_untracked)
            }
            OpsKind::UnTracked(prep) => {
                let (y, stats) = B::host_layer_norm(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                );
                (prep.finish(y), <Self as AutodiffBackend>::from_inner(stats))
            }
        }
    }

    fn host_layer_norm_backward(
        _x: FloatTensor<Self>,
        _gamma: FloatTensor<Self>,
        _stats: FloatTensor<Self>,
        _output_grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        panic!("host_layer_norm_backward: second derivatives of layer norm are not supported")
    }
}

/// `norm(x)`, normalizing over the last dimension, for a `norm` built with ε = `epsilon`: on
/// `f32` Flex tensors with a shift (β), one host operation forward and one backward; otherwise
/// `LayerNorm::forward`.
pub fn apply_layer_norm<const D: usize>(norm: &LayerNorm, x: Tensor<D>, epsilon: f64) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if let Some(beta) = &norm.beta
        && host_kernel_applies(&x)
    {
        let (y, _) = <Dispatch as HostLayerNormBackend>::host_layer_norm(
            x.into_dispatch(),
            norm.gamma.val().into_dispatch(),
            beta.val().into_dispatch(),
            epsilon,
        );
        return Tensor::from_dispatch(y);
    }
    let _ = epsilon;
    norm.forward(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::tensor::{Distribution, Tolerance};

    /// Output and the gradients of input, γ and β equal Burn's `LayerNorm` (with γ and β away
    /// from their initial ones and zeros).
    #[test]
    fn equals_burns_layer_norm_forward_and_backward() {
        let device = Device::default().autodiff();
        let mut norm = layer_norm(24, &device);
        let random = |mean| Tensor::<1>::random([24], Distribution::Normal(mean, 0.5), &device);
        norm.gamma = Param::from_tensor(random(1.0));
        norm.beta = Some(Param::from_tensor(random(0.0)));
        let x0 = Tensor::<3>::random([5, 7, 24], Distribution::Normal(1.0, 2.0), &device);
        let w = Tensor::<3>::random([5, 7, 24], Distribution::Normal(0.0, 1.0), &device);
        assert_eq!(host_kernel_applies(&x0), cfg!(feature = "flex"));
        let run = |f: &dyn Fn(Tensor<3>) -> Tensor<3>| {
            let x = x0.clone().require_grad();
            let y = f(x.clone());
            let grads = (y.clone() * w.clone()).sum().backward();
            [
                y.inner().flatten::<1>(0, 2),
                x.grad(&grads).unwrap().flatten::<1>(0, 2),
                norm.gamma.grad(&grads).unwrap(),
                norm.beta.as_ref().unwrap().grad(&grads).unwrap(),
            ]
        };
        let ours = run(&|x| apply_layer_norm(&norm, x, NORM_EPSILON));
        let burns = run(&|x| norm.forward(x));
        for (a, b) in ours.into_iter().zip(burns) {
            a.into_data()
                .assert_approx_eq(&b.into_data(), Tolerance::<f32>::absolute(1e-4));
        }
    }
}

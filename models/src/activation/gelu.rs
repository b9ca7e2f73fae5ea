//! The exact GELU (Hendrycks & Gimpel 2016) as a layer, with a fused CPU kernel for its forward
//! and backward passes. Burn's `Gelu` on Flex calls `libm::erff` once per element on one thread
//! (and again in the backward pass): in the character LM's training step that was 27 % of the
//! time (`bench_char_lm --breakdown`). This layer runs [`gelu_kernel`](super::gelu_kernel) in
//! parallel, vectorized chunks on Flex, with its own autodiff node, and Burn's `gelu` on every
//! other backend (GPUs fuse it there).

use crate::host_op::*;
use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::activation;

/// Backends that run the exact GELU and its input gradient as their own operations.
///
/// The default bodies are Burn's (`gelu`, `gelu_backward`); Flex overrides them with the
/// vectorized kernel, and the autodiff backend records one node whose backward pass calls the
/// inner backend's [`GeluBackend::gelu_input_gradient`].
#[backend_extension(Flex: cfg(feature = "flex"), Autodiff)]
pub trait GeluBackend: Backend {
    /// `GELU(x) = x · Φ(x)` elementwise.
    fn gelu_exact(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::gelu(x)
    }

    /// `grad · GELU'(x)` elementwise.
    fn gelu_input_gradient(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::gelu_backward(x, grad)
    }
}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::ops::ActivationOps;
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Flex, TensorMetadata};

    use super::super::gelu_kernel::{gelu_backward_slice, gelu_slice};
    use super::GeluBackend;
    use crate::host_op::host_tensor;

    impl GeluBackend for Flex {
        fn gelu_exact(x: FloatTensor<Self>) -> FloatTensor<Self> {
            let contiguous = x.to_contiguous();
            let Some(input) = contiguous.as_slice::<f32>() else {
                return Self::gelu(x); // f64 and half precision: Burn's own loop
            };
            let mut out = vec![0.0f32; input.len()];
            gelu_slice(input, &mut out);
            host_tensor(out, x.shape())
        }

        fn gelu_input_gradient(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
            let (xc, gc) = (x.to_contiguous(), grad.to_contiguous());
            let (Some(input), Some(g)) = (xc.as_slice::<f32>(), gc.as_slice::<f32>()) else {
                return Self::gelu_backward(x, grad);
            };
            if input.len() != g.len() {
                return Self::gelu_backward(x, grad); // broadcasting: Burn's loop handles it
            }
            let mut out = vec![0.0f32; input.len()];
            gelu_backward_slice(input, g, &mut out);
            host_tensor(out, x.shape())
        }
    }
}

impl<B: GeluBackend, C: CheckpointStrategy> GeluBackend for Autodiff<B, C> {
    fn gelu_exact(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ExactGelu;

        impl<B: GeluBackend> Backward<B, 1> for ExactGelu {
            type State = NodeId;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let input = checkpointer.retrieve_node_output(ops.state);
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    B::gelu_input_gradient(input, grad)
                });
            }
        }

        match ExactGelu
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state = prep.checkpoint(&x);
                prep.finish(state, B::gelu_exact(x.primitive().clone()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::gelu_exact(x.into_primitive())),
        }
    }
}

/// Applies the exact GELU, `x · Φ(x)`, elementwise: the same function as `burn::nn::Gelu`
/// (within 2e-7·(1 + |x|), the erf approximation's error), several times faster on Flex.
#[derive(Module, Debug, Default)]
pub struct Gelu;

impl Gelu {
    /// The layer (it has no parameters).
    pub fn new() -> Self {
        Self
    }

    /// Applies GELU to `x` of any shape.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        if host_kernel_applies(&x) {
            Tensor::from_dispatch(<Dispatch as GeluBackend>::gelu_exact(x.into_dispatch()))
        } else {
            activation::gelu(x)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution, TensorData};

    /// Largest `|a - b| / (1 + |x|)` over the elements: the erf approximation's error grows with
    /// `|x|` (GELU multiplies it by `x / 2`).
    fn worst_scaled(a: Tensor<2>, b: Tensor<2>, x: Tensor<2>) -> f32 {
        let [a, b, x] = [a, b, x].map(|t| t.into_data().try_to_vec::<f32>().unwrap());
        a.iter()
            .zip(&b)
            .zip(&x)
            .map(|((a, b), x)| (a - b).abs() / (1.0 + x.abs()))
            .fold(0.0, f32::max)
    }

    fn inputs(device: &Device) -> Tensor<2> {
        Tensor::<2>::random([96, 700], Distribution::Normal(0.0, 3.0), device)
    }

    #[test]
    fn forward_matches_burns_gelu_contiguous_or_not() {
        let device = Device::default();
        let x = inputs(&device);
        assert!(host_kernel_applies(&x) == cfg!(feature = "flex"));
        let worst = worst_scaled(
            Gelu::new().forward(x.clone()),
            activation::gelu(x.clone()),
            x.clone(),
        );
        assert!(worst < 2e-7, "contiguous: {worst:e}");
        let t = x.clone().transpose();
        let worst = worst_scaled(
            Gelu::new().forward(t.clone()).transpose(),
            activation::gelu(t.clone()).transpose(),
            x,
        );
        assert!(worst < 2e-7, "transposed: {worst:e}");
    }

    /// The gradient of `Σ w·GELU(2x)` reaches the leaf `x` through the layer's own node and
    /// equals the one through Burn's GELU.
    #[test]
    fn gradient_matches_burns_through_a_chain() {
        let device = Device::default().autodiff();
        let x0 = inputs(&device);
        let w = Tensor::<2>::random([96, 700], Distribution::Uniform(-1.0, 1.0), &device);
        let grad_of = |f: &dyn Fn(Tensor<2>) -> Tensor<2>| {
            let x = x0.clone().require_grad();
            let grads = (f(x.clone() * 2.0) * w.clone()).sum().backward();
            x.grad(&grads).unwrap()
        };
        assert!(host_kernel_applies(&x0) == cfg!(feature = "flex"));
        let ours = grad_of(&|x| Gelu::new().forward(x));
        let burns = grad_of(&|x| activation::gelu(x));
        let worst = worst_scaled(ours.clone(), burns, x0.inner() * 2.0);
        assert!(worst < 1e-6, "{worst:e}");
        assert_eq!(ours.dims(), [96, 700]);
    }

    #[test]
    fn untracked_autodiff_and_hand_made_values() {
        let device = Device::default().autodiff();
        let x = Tensor::<2>::from_data(
            TensorData::new(vec![-3.0f32, -1.0, 0.0, 1.0, 3.0, 40.0], [2, 3]),
            &device,
        );
        let y = Gelu::new()
            .forward(x)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        // x · Φ(x) from tables of Φ: Φ(1) = 0.841344746, Φ(3) = 0.998650102.
        let want = [
            -3.0 * (1.0 - 0.998_650_1),
            -(1.0 - 0.841_344_8),
            0.0,
            0.841_344_8,
            3.0 * 0.998_650_1,
            40.0,
        ];
        for (y, w) in y.iter().zip(want) {
            assert!((y - w).abs() < 1e-6, "{y} vs {w}");
        }
    }
}

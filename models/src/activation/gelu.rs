//! The exact GELU (Hendrycks & Gimpel 2016) as a layer, with a fused CPU kernel for its forward
//! and backward passes. Burn's `Gelu` on Flex calls `libm::erff` once per element on one thread
//! (and again in the backward pass): in the character LM's training step that was 27 % of the
//! time (`bench_char_lm --breakdown`). This layer runs [`gelu_kernel`](super::gelu_kernel) in
//! parallel, vectorized chunks on Flex, with its own autodiff node, and Burn's `gelu` on every
//! other backend (GPUs fuse it there).

use crate::host_op::*;
use burn::config::Config;
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

/// Which GELU a layer computes.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum GeluApproximation {
    /// The exact `x · Φ(x)` (Hendrycks & Gimpel 2016), with the fused host kernel on Flex.
    Exact,
    /// `x/2 · (1 + tanh(√(2/π) · (x + 0.044715·x³)))`, the approximation GPT-2 was trained
    /// with (Hugging Face's `gelu_new`, PyTorch's `gelu(approximate="tanh")`); Burn's
    /// `gelu_approximate` on every backend.
    Tanh,
}

/// Applies GELU elementwise: by default the exact `x · Φ(x)`, the same function as
/// `burn::nn::Gelu` (within 2e-7·(1 + |x|), the erf approximation's error), several times
/// faster on Flex; or GPT-2's tanh approximation ([`Gelu::tanh`]).
#[derive(Module, Debug)]
pub struct Gelu {
    #[module(skip)]
    approximation: GeluApproximation,
}

impl Default for Gelu {
    fn default() -> Self {
        Self::new()
    }
}

impl Gelu {
    /// The exact GELU (it has no parameters).
    pub fn new() -> Self {
        Self::with(GeluApproximation::Exact)
    }

    /// GPT-2's tanh approximation.
    pub fn tanh() -> Self {
        Self::with(GeluApproximation::Tanh)
    }

    /// The GELU `approximation` says.
    pub fn with(approximation: GeluApproximation) -> Self {
        Self { approximation }
    }

    /// Which GELU this layer computes.
    pub fn approximation(&self) -> GeluApproximation {
        self.approximation
    }

    /// Applies GELU to `x` of any shape.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        if self.approximation == GeluApproximation::Tanh {
            activation::gelu_approximate(x)
        } else if host_kernel_applies(&x) {
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

    /// GPT-2's tanh approximation, against its formula in f64 and apart from the exact GELU
    /// (they differ by about 1e-4 near |x| = 2, which is what a checkpoint trained with one
    /// and run with the other would see).
    #[test]
    fn the_tanh_approximation_is_gpt2s_formula() {
        let device = Device::default();
        let xs = [-4.0f32, -2.0, -0.5, 0.0, 0.7, 2.0, 5.0];
        let x = Tensor::<1>::from_floats(xs, &device);
        let tanh: Vec<f32> = Gelu::tanh()
            .forward(x.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let exact: Vec<f32> = Gelu::new()
            .forward(x)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let mut largest_gap = 0.0f32;
        for ((&x, &t), &e) in xs.iter().zip(&tanh).zip(&exact) {
            let x = f64::from(x);
            let inner = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
            let want = 0.5 * x * (1.0 + inner.tanh());
            assert!((f64::from(t) - want).abs() < 1e-6, "{t} vs {want} at {x}");
            largest_gap = largest_gap.max((t - e).abs());
        }
        assert!(
            largest_gap > 5e-5,
            "tanh and exact GELU agree to {largest_gap}"
        );
        assert_eq!(Gelu::tanh().approximation(), GeluApproximation::Tanh);
    }
}

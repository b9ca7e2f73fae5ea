//! The softmax of attention scores (Vaswani et al., "Attention Is All You Need", 2017) over the
//! keys, optionally causal, as one operation with its own autodiff node and a fused Flex kernel
//! ([`softmax_kernel`](super::softmax_kernel)). Burn's `attention` op on Flex computes it as
//! about ten tensor operations (scale, causal mask, max, subtract, exp, sum, divide, with two
//! clamps), each with its own backward pass.

#[cfg(feature = "flex")]
use crate::host_op::*;
use burn::tensor::Tensor;

/// Backends with a row softmax over the last dimension of `[.., t, t]` attention scores (built
/// with the `flex` feature: Flex is the one backend that runs it).
#[cfg(feature = "flex")]
#[backend_extension(Flex, Autodiff)]
pub trait SoftmaxBackend: Backend {
    /// Softmax over the last dimension; when `causal`, query `i` (second-to-last index) gives
    /// probability 0 to keys after `i`.
    fn scores_softmax(scores: FloatTensor<Self>, causal: bool) -> FloatTensor<Self>;

    /// The scores' gradient from the softmax output `probs` and its gradient `grad`.
    fn scores_softmax_backward(
        probs: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Flex, TensorMetadata};

    use super::super::softmax_kernel::{softmax_rows, softmax_rows_backward};
    use super::SoftmaxBackend;
    use crate::host_op::host_tensor;

    fn last_dim(x: &FloatTensor<Flex>) -> usize {
        *x.shape()
            .last()
            .expect("attention scores have at least one dimension")
    }

    impl SoftmaxBackend for Flex {
        fn scores_softmax(scores: FloatTensor<Self>, causal: bool) -> FloatTensor<Self> {
            let shape = scores.shape();
            let t = last_dim(&scores);
            let contiguous = scores.to_contiguous();
            let x = contiguous
                .as_slice::<f32>()
                .expect("scores_softmax runs on f32 tensors");
            let mut out = vec![0.0f32; x.len()];
            softmax_rows(x, &mut out, t, causal);
            host_tensor(out, shape)
        }

        fn scores_softmax_backward(
            probs: FloatTensor<Self>,
            grad: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            let shape = probs.shape();
            let t = last_dim(&probs);
            let (pc, gc) = (probs.to_contiguous(), grad.to_contiguous());
            let y = pc.as_slice::<f32>().expect("f32 probabilities");
            let g = gc.as_slice::<f32>().expect("f32 gradient");
            let mut out = vec![0.0f32; y.len()];
            softmax_rows_backward(y, g, &mut out, t);
            host_tensor(out, shape)
        }
    }
}

#[cfg(feature = "flex")]
impl<B: SoftmaxBackend, C: CheckpointStrategy> SoftmaxBackend for Autodiff<B, C> {
    fn scores_softmax(scores: FloatTensor<Self>, causal: bool) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ScoresSoftmax;

        impl<B: SoftmaxBackend> Backward<B, 1> for ScoresSoftmax {
            type State = B::FloatTensorPrimitive;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let probs = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    B::scores_softmax_backward(probs, grad)
                });
            }
        }

        match ScoresSoftmax
            .prepare::<C>([scores.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let probs = B::scores_softmax(scores.primitive().clone(), causal);
                prep.finish(probs.clone(), probs)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::scores_softmax(scores.into_primitive(), causal))
            }
        }
    }

    fn scores_softmax_backward(
        _probs: FloatTensor<Self>,
        _grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        panic!(
            "scores_softmax_backward: second derivatives of the attention softmax are not supported"
        )
    }
}

/// Softmax of `scores` (`[batch, heads, queries, keys]`, queries = keys when `causal`) over
/// the keys, query `i` seeing keys `0..=i` when `causal`. On `f32` Flex tensors this is one fused
/// operation forward and backward; elsewhere, Burn's masked softmax.
pub fn attention_softmax(scores: Tensor<4>, causal: bool) -> Tensor<4> {
    let [_, _, queries, keys] = scores.dims();
    assert!(
        !causal || queries == keys,
        "attention_softmax: a causal softmax needs as many queries as keys, not {queries} and {keys}"
    );
    #[cfg(feature = "flex")]
    if host_kernel_applies(&scores) {
        return Tensor::from_dispatch(<Dispatch as SoftmaxBackend>::scores_softmax(
            scores.into_dispatch(),
            causal,
        ));
    }
    masked_softmax(scores, causal)
}

/// The same softmax as Burn's tensor operations: future keys filled with −∞ when `causal`,
/// then `burn::tensor::activation::softmax` over the keys.
fn masked_softmax(scores: Tensor<4>, causal: bool) -> Tensor<4> {
    let [_, _, queries, keys] = scores.dims();
    let scores = if causal {
        let device = scores.device();
        let future = Tensor::<2, burn::tensor::Bool>::tril_mask([queries, keys], 0, &device);
        scores.mask_fill(future.unsqueeze::<4>(), f32::NEG_INFINITY)
    } else {
        scores
    };
    burn::tensor::activation::softmax(scores, 3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_op::host_kernel_applies;
    use burn::tensor::{Device, Distribution, Tolerance};

    #[test]
    fn forward_and_gradient_match_burns_masked_softmax() {
        let device = Device::default().autodiff();
        let x0 = Tensor::<4>::random([3, 2, 9, 9], Distribution::Normal(0.0, 3.0), &device);
        let w = Tensor::<4>::random([3, 2, 9, 9], Distribution::Normal(0.0, 1.0), &device);
        assert!(host_kernel_applies(&x0) == cfg!(feature = "flex"));
        for causal in [true, false] {
            let run = |f: &dyn Fn(Tensor<4>) -> Tensor<4>| {
                let x = x0.clone().require_grad();
                let y = f(x.clone());
                let grads = (y.clone() * w.clone()).sum().backward();
                (y.inner(), x.grad(&grads).unwrap())
            };
            let ours = run(&|x| attention_softmax(x, causal));
            let theirs = run(&|x| masked_softmax(x, causal));
            let tol = Tolerance::<f32>::absolute(1e-6);
            ours.0
                .into_data()
                .assert_approx_eq(&theirs.0.into_data(), tol);
            ours.1
                .into_data()
                .assert_approx_eq(&theirs.1.into_data(), tol);
        }
    }

    #[test]
    fn a_causal_softmax_needs_square_scores() {
        let device = Device::default();
        let x = Tensor::<4>::zeros([1, 1, 3, 4], &device);
        let caught = std::panic::catch_unwind(|| attention_softmax(x.clone(), true));
        assert!(caught.is_err());
        let rows = attention_softmax(x, false).sum_dim(3).into_data();
        rows.assert_approx_eq(
            &Tensor::<4>::ones([1, 1, 3, 1], &device).into_data(),
            Tolerance::<f32>::absolute(1e-6),
        );
    }
}

//! Scaled dot-product attention on `[batch, time, heads, d_head]` queries, keys and values as
//! one operation with its own autodiff node; on Flex it is the host kernel of
//! [`attention_kernel`](super::attention_kernel), elsewhere Burn's `attention` op (which GPU
//! backends fuse).

use burn::tensor::Tensor;

use super::scaled_dot_product::scaled_dot_product_attention;
#[cfg(feature = "flex")]
use crate::host_op::*;

/// Backends with attention over `[batch, time, heads, d_head]` tensors as their own operation
/// (built with the `flex` feature: Flex is the one backend that runs it).
#[cfg(feature = "flex")]
#[backend_extension(Flex, Autodiff)]
pub trait HostAttentionBackend: Backend {
    /// The attention output (same layout as the inputs) and its probabilities
    /// `[batch, heads, time, time]`.
    fn host_attention(
        query: FloatTensor<Self>,
        key: FloatTensor<Self>,
        value: FloatTensor<Self>,
        causal: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// The gradients of query, key and value.
    fn host_attention_backward(
        query: FloatTensor<Self>,
        key: FloatTensor<Self>,
        value: FloatTensor<Self>,
        probs: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Flex, TensorMetadata};
    use burn::tensor::Shape;

    use super::super::attention_kernel::{AttentionShape, attention_backward, attention_forward};
    use super::HostAttentionBackend;
    use crate::host_op::host_tensor;

    fn layout(query: &FloatTensor<Flex>) -> AttentionShape {
        let shape = query.shape();
        assert_eq!(
            shape.num_dims(),
            4,
            "host attention: queries must be [batch, time, heads, d_head]"
        );
        AttentionShape {
            batch: shape[0],
            time: shape[1],
            heads: shape[2],
            d_head: shape[3],
        }
    }

    fn slice(x: &FloatTensor<Flex>) -> &[f32] {
        x.as_slice::<f32>()
            .expect("host attention runs on f32 tensors")
    }

    fn probs_shape(s: &AttentionShape) -> Shape {
        Shape::new([s.batch, s.heads, s.time, s.time])
    }

    impl HostAttentionBackend for Flex {
        fn host_attention(
            query: FloatTensor<Self>,
            key: FloatTensor<Self>,
            value: FloatTensor<Self>,
            causal: bool,
        ) -> (FloatTensor<Self>, FloatTensor<Self>) {
            let s = layout(&query);
            for (x, name) in [(&key, "keys"), (&value, "values")] {
                assert_eq!(
                    x.shape(),
                    query.shape(),
                    "host attention: {name} differ in shape from the queries"
                );
            }
            let [q, k, v] = [query, key, value].map(|x| x.to_contiguous());
            let (out, probs) = attention_forward(slice(&q), slice(&k), slice(&v), s, causal);
            (
                host_tensor(out, q.shape()),
                host_tensor(probs, probs_shape(&s)),
            )
        }

        fn host_attention_backward(
            query: FloatTensor<Self>,
            key: FloatTensor<Self>,
            value: FloatTensor<Self>,
            probs: FloatTensor<Self>,
            output_grad: FloatTensor<Self>,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            let s = layout(&query);
            let shape = query.shape();
            let [q, k, v, p, g] =
                [query, key, value, probs, output_grad].map(|x| x.to_contiguous());
            let [dq, dk, dv] =
                attention_backward(slice(&q), slice(&k), slice(&v), slice(&p), slice(&g), s)
                    .map(|d| host_tensor(d, shape.clone()));
            (dq, dk, dv)
        }
    }
}

#[cfg(feature = "flex")]
impl<B: HostAttentionBackend, C: CheckpointStrategy> HostAttentionBackend for Autodiff<B, C> {
    fn host_attention(
        query: FloatTensor<Self>,
        key: FloatTensor<Self>,
        value: FloatTensor<Self>,
        causal: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        #[derive(Debug)]
        struct HostAttention;

        impl<B: HostAttentionBackend> Backward<B, 3> for HostAttention {
            /// Query, key, value and the probabilities.
            type State = [B::FloatTensorPrimitive; 4];

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_q, node_k, node_v] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let [q, k, v, probs] = ops.state;
                let (dq, dk, dv) = B::host_attention_backward(q, k, v, probs, grad);
                for (node, d) in [(node_q, dq), (node_k, dk), (node_v, dv)] {
                    if let Some(node) = node {
                        grads.register::<B>(node.id, d);
                    }
                }
            }
        }

        let probs_of = |q, k, v| B::host_attention(q, k, v, causal);
        match HostAttention
            .prepare::<C>([query.node(), key.node(), value.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let [q, k, v] = [query, key, value].map(|x| x.into_primitive());
                let (out, probs) = probs_of(q.clone(), k.clone(), v.clone());
                let probs_untracked = <Self as AutodiffBackend>::from_inner(probs.clone());
                (prep.finish([q, k, v, probs], out), probs_untracked)
            }
            OpsKind::UnTracked(prep) => {
                let (out, probs) = probs_of(
                    query.into_primitive(),
                    key.into_primitive(),
                    value.into_primitive(),
                );
                (
                    prep.finish(out),
                    <Self as AutodiffBackend>::from_inner(probs),
                )
            }
        }
    }

    fn host_attention_backward(
        _query: FloatTensor<Self>,
        _key: FloatTensor<Self>,
        _value: FloatTensor<Self>,
        _probs: FloatTensor<Self>,
        _output_grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        panic!("host_attention_backward: second derivatives of attention are not supported")
    }
}

/// `softmax(q·kᵀ / √d_head) · v` per head for queries, keys and values of shape
/// `[batch, time, heads, d_head]` (the projections' layout), output in the same layout; query
/// `i` sees keys `0..=i` when `causal`. On `f32` Flex tensors one host operation forward and
/// one backward; elsewhere [`scaled_dot_product_attention`] on the heads' transposes.
pub fn attention_by_position(
    query: Tensor<4>,
    key: Tensor<4>,
    value: Tensor<4>,
    causal: bool,
) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if host_kernel_applies(&query) {
        let (out, _) = <Dispatch as HostAttentionBackend>::host_attention(
            query.into_dispatch(),
            key.into_dispatch(),
            value.into_dispatch(),
            causal,
        );
        return Tensor::from_dispatch(out);
    }
    let heads_first = |x: Tensor<4>| x.swap_dims(1, 2);
    scaled_dot_product_attention(
        heads_first(query),
        heads_first(key),
        heads_first(value),
        causal,
    )
    .swap_dims(1, 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::module::attention;
    use burn::tensor::ops::AttentionModuleOptions;
    use burn::tensor::{Device, Distribution, Tolerance};

    /// Output and the three input gradients equal Burn's `attention` op (on the heads'
    /// transposes), causal or not, at a shape whose sizes are not multiples of gemm's tiles.
    #[test]
    fn equals_burns_attention_forward_and_backward() {
        let device = Device::default().autodiff();
        let shape = [3, 13, 2, 5];
        let normal = || Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let (q0, k0, v0, w) = (normal(), normal(), normal(), normal());
        assert_eq!(host_kernel_applies(&q0), cfg!(feature = "flex"));
        for causal in [true, false] {
            let run = |f: &dyn Fn(Tensor<4>, Tensor<4>, Tensor<4>) -> Tensor<4>| {
                let [q, k, v] = [&q0, &k0, &v0].map(|x| x.clone().require_grad());
                let y = f(q.clone(), k.clone(), v.clone());
                let grads = (y.clone() * w.clone()).sum().backward();
                [
                    y.inner(),
                    q.grad(&grads).unwrap(),
                    k.grad(&grads).unwrap(),
                    v.grad(&grads).unwrap(),
                ]
            };
            let ours = run(&|q, k, v| attention_by_position(q, k, v, causal));
            let burns = run(&|q, k, v| {
                let options = AttentionModuleOptions {
                    is_causal: causal,
                    ..Default::default()
                };
                let t = |x: Tensor<4>| x.swap_dims(1, 2);
                attention(t(q), t(k), t(v), None, None, options).swap_dims(1, 2)
            });
            for (a, b) in ours.into_iter().zip(burns) {
                a.into_data()
                    .assert_approx_eq(&b.into_data(), Tolerance::<f32>::absolute(1e-5));
            }
        }
    }

    /// A query sees only itself and earlier keys: changing the last position's key and value
    /// leaves every earlier output as it was.
    #[test]
    fn causal_outputs_ignore_later_positions() {
        let device = Device::default();
        let shape = [2, 6, 3, 4];
        let normal = || Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let (q, k, v) = (normal(), normal(), normal());
        let before = attention_by_position(q.clone(), k.clone(), v.clone(), true);
        let bump = |x: Tensor<4>| {
            x.slice_assign(
                [0..2, 5..6, 0..3, 0..4],
                Tensor::ones([2, 1, 3, 4], &device),
            )
        };
        let after = attention_by_position(q, bump(k), bump(v), true);
        after
            .slice([0..2, 0..5, 0..3, 0..4])
            .into_data()
            .assert_approx_eq(
                &before.slice([0..2, 0..5, 0..3, 0..4]).into_data(),
                Tolerance::<f32>::absolute(1e-6),
            );
    }
}

//! A linear layer on `[rows, inputs]` as one operation with its own autodiff node and, on
//! Flex, the host kernels of [`linear_kernel`](super::linear_kernel): the product writes its
//! output once, starting from the bias, instead of Flex's zero-fill, aligned copy and separate
//! bias addition. `bench_char_lm --breakdown` times the layers of the character LM with it.

#[cfg(feature = "flex")]
use crate::host_op::*;
use burn::nn::Linear;
use burn::tensor::Tensor;

/// Backends with a linear layer (`x · weight + bias`, Burn's `[inputs, outputs]` weight) and
/// its three gradients as their own operations (built with the `flex` feature: Flex is the one
/// backend that runs them).
#[cfg(feature = "flex")]
#[backend_extension(Flex, Autodiff)]
pub trait HostLinearBackend: Backend {
    /// `x [rows, inputs] · weight [inputs, outputs] + bias [outputs]`.
    fn host_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// `output_grad · weightᵀ`.
    fn host_linear_input_gradient(
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// `xᵀ · output_grad`.
    fn host_linear_weight_gradient(
        x: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// The sum of `output_grad`'s rows.
    fn host_linear_bias_gradient(output_grad: FloatTensor<Self>) -> FloatTensor<Self>;
}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Flex, TensorMetadata};
    use burn::tensor::Shape;

    use super::super::linear_kernel::{
        linear_bias_gradient, linear_forward, linear_input_gradient, linear_weight_gradient,
    };
    use super::HostLinearBackend;
    use crate::host_op::host_tensor;

    fn dims2(x: &FloatTensor<Flex>, what: &str) -> [usize; 2] {
        let shape = x.shape();
        assert_eq!(shape.num_dims(), 2, "host linear: {what} must be 2-D");
        [shape[0], shape[1]]
    }

    impl HostLinearBackend for Flex {
        fn host_linear(
            x: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            bias: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            let [rows, inputs] = dims2(&x, "x");
            let [weight_inputs, outputs] = dims2(&weight, "the weight");
            assert_eq!(
                weight_inputs, inputs,
                "host linear: x has {inputs} features, the weight takes {weight_inputs}"
            );
            let (x, weight, bias) = (
                x.to_contiguous(),
                weight.to_contiguous(),
                bias.to_contiguous(),
            );
            let y = linear_forward(
                x.as_slice::<f32>().expect("f32 input"),
                weight.as_slice::<f32>().expect("f32 weight"),
                Some(bias.as_slice::<f32>().expect("f32 bias")),
                rows,
                inputs,
                outputs,
            );
            host_tensor(y, Shape::new([rows, outputs]))
        }

        fn host_linear_input_gradient(
            weight: FloatTensor<Self>,
            output_grad: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            let [inputs, outputs] = dims2(&weight, "the weight");
            let [rows, _] = dims2(&output_grad, "the output gradient");
            let (weight, grad) = (weight.to_contiguous(), output_grad.to_contiguous());
            let dx = linear_input_gradient(
                weight.as_slice::<f32>().expect("f32 weight"),
                grad.as_slice::<f32>().expect("f32 gradient"),
                rows,
                inputs,
                outputs,
            );
            host_tensor(dx, Shape::new([rows, inputs]))
        }

        fn host_linear_weight_gradient(
            x: FloatTensor<Self>,
            output_grad: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            let [rows, inputs] = dims2(&x, "x");
            let [_, outputs] = dims2(&output_grad, "the output gradient");
            let (x, grad) = (x.to_contiguous(), output_grad.to_contiguous());
            let dw = linear_weight_gradient(
                x.as_slice::<f32>().expect("f32 input"),
                grad.as_slice::<f32>().expect("f32 gradient"),
                rows,
                inputs,
                outputs,
            );
            host_tensor(dw, Shape::new([inputs, outputs]))
        }

        fn host_linear_bias_gradient(output_grad: FloatTensor<Self>) -> FloatTensor<Self> {
            let [rows, outputs] = dims2(&output_grad, "the output gradient");
            let grad = output_grad.to_contiguous();
            let db =
                linear_bias_gradient(grad.as_slice::<f32>().expect("f32 gradient"), rows, outputs);
            host_tensor(db, Shape::new([outputs]))
        }
    }
}

#[cfg(feature = "flex")]
impl<B: HostLinearBackend, C: CheckpointStrategy> HostLinearBackend for Autodiff<B, C> {
    fn host_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct HostLinear;

        impl<B: HostLinearBackend> Backward<B, 3> for HostLinear {
            /// The input (kept when the weight needs its gradient) and the weight (kept when
            /// the input does), as Burn's own linear node keeps them.
            type State = (Option<NodeId>, Option<NodeId>);

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_weight, node_bias] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x_state, weight_state) = ops.state;
                let x = x_state.map(|id| checkpointer.retrieve_node_output(id));
                let weight = weight_state.map(|id| checkpointer.retrieve_node_output(id));
                if let (Some(node), Some(weight)) = (node_x, weight) {
                    grads.register::<B>(
                        node.id,
                        B::host_linear_input_gradient(weight, grad.clone()),
                    );
                }
                if let (Some(node), Some(x)) = (node_weight, x) {
                    grads.register::<B>(node.id, B::host_linear_weight_gradient(x, grad.clone()));
                }
                if let Some(node) = node_bias {
                    grads.register::<B>(node.id, B::host_linear_bias_gradient(grad));
                }
            }
        }

        let x_tracked = x.is_tracked();
        let weight_tracked = weight.is_tracked();
        match HostLinear
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = weight_tracked.then(|| prep.checkpoint(&x));
                let weight_state = x_tracked.then(|| prep.checkpoint(&weight));
                prep.finish(
                    (x_state, weight_state),
                    B::host_linear(
                        x.into_primitive(),
                        weight.into_primitive(),
                        bias.into_primitive(),
                    ),
                )
            }
            OpsKind::UnTracked(prep) => prep.finish(B::host_linear(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
            )),
        }
    }

    fn host_linear_input_gradient(
        _weight: FloatTensor<Self>,
        _output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        panic!(
            "host_linear_input_gradient: second derivatives of the linear layer are not supported"
        )
    }

    fn host_linear_weight_gradient(
        _x: FloatTensor<Self>,
        _output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        panic!(
            "host_linear_weight_gradient: second derivatives of the linear layer are not supported"
        )
    }

    fn host_linear_bias_gradient(_output_grad: FloatTensor<Self>) -> FloatTensor<Self> {
        panic!(
            "host_linear_bias_gradient: second derivatives of the linear layer are not supported"
        )
    }
}

/// `layer(x)` for `x` of shape `[rows, inputs]`: on `f32` Flex tensors, with a bias, the host
/// kernels above (one operation forward, three gradients backward); otherwise Burn's
/// `Linear::forward`.
pub fn linear_rows(layer: &Linear, x: Tensor<2>) -> Tensor<2> {
    #[cfg(feature = "flex")]
    if let Some(bias) = &layer.bias
        && host_kernel_applies(&x)
    {
        return Tensor::from_dispatch(<Dispatch as HostLinearBackend>::host_linear(
            x.into_dispatch(),
            layer.weight.val().into_dispatch(),
            bias.val().into_dispatch(),
        ));
    }
    layer.forward(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::{Device, Distribution, Tolerance};

    /// Output and all three gradients equal Burn's `Linear`, with the input tracked or not
    /// (the first layer of a model gets an untracked input) and read through a transpose.
    #[test]
    fn equals_burns_linear_forward_and_backward() {
        let device = Device::default().autodiff();
        let layer = LinearConfig::new(67, 45).init(&device);
        let x0 = Tensor::<2>::random([67, 30], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<2>::random([30, 45], Distribution::Normal(0.0, 1.0), &device);
        for track_input in [true, false] {
            let run = |f: &dyn Fn(Tensor<2>) -> Tensor<2>| {
                let x = x0.clone().transpose();
                let x = if track_input { x.require_grad() } else { x };
                let y = f(x.clone());
                let grads = (y.clone() * w.clone()).sum().backward();
                (
                    y.inner(),
                    x.grad(&grads),
                    layer.weight.grad(&grads).unwrap(),
                    layer.bias.as_ref().unwrap().grad(&grads).unwrap(),
                )
            };
            let ours = run(&|x| linear_rows(&layer, x));
            let burns = run(&|x| layer.forward(x));
            assert_eq!(host_kernel_applies(&x0), cfg!(feature = "flex"));
            let tol = Tolerance::<f32>::absolute(1e-4);
            ours.0
                .into_data()
                .assert_approx_eq(&burns.0.into_data(), tol);
            assert_eq!(ours.1.is_some(), track_input);
            if let (Some(a), Some(b)) = (ours.1, burns.1) {
                a.into_data().assert_approx_eq(&b.into_data(), tol);
            }
            ours.2
                .into_data()
                .assert_approx_eq(&burns.2.into_data(), tol);
            ours.3
                .into_data()
                .assert_approx_eq(&burns.3.into_data(), tol);
        }
    }

    #[test]
    fn a_layer_without_bias_is_burns_linear() {
        let device = Device::default();
        let layer = LinearConfig::new(3, 2).with_bias(false).init(&device);
        let x = Tensor::<2>::random([4, 3], Distribution::Normal(0.0, 1.0), &device);
        linear_rows(&layer, x.clone()).into_data().assert_approx_eq(
            &layer.forward(x).into_data(),
            Tolerance::<f32>::absolute(1e-6),
        );
    }
}

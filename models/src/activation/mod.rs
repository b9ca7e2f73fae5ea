//! Activation layers and attention's softmax with their own CPU kernels where Burn's are slow.

pub mod gelu;
pub mod gelu_kernel;
pub mod softmax;
pub mod softmax_kernel;

pub use gelu::{Gelu, GeluBackend};
#[cfg(feature = "flex")]
pub use softmax::SoftmaxBackend;
pub use softmax::attention_softmax;

use burn::tensor::Tensor;

/// A Flex tensor of `shape` holding `values` (moved, not copied).
#[cfg(feature = "flex")]
pub(crate) fn host_tensor(
    values: Vec<f32>,
    shape: burn::tensor::Shape,
) -> burn::backend::tensor::FloatTensor<burn::backend::Flex> {
    use burn::backend::ops::FloatTensorOps;
    burn::backend::Flex::float_from_data(
        burn::tensor::TensorData::new(values, shape),
        &Default::default(),
    )
}

/// True for `f32` Flex tensors, with or without autodiff: where the host kernels here run.
pub(crate) fn host_kernel_applies<const D: usize>(x: &Tensor<D>) -> bool {
    #[cfg(feature = "flex")]
    {
        use burn::tensor::DType;
        fn flex(device: &burn_dispatch::DispatchDevice) -> bool {
            match device {
                burn_dispatch::DispatchDevice::Flex(_) => true,
                burn_dispatch::DispatchDevice::Autodiff(inner) => flex(&inner.clone().inner()),
                #[allow(unreachable_patterns)]
                _ => false,
            }
        }
        x.dtype() == DType::F32 && flex(x.device().as_dispatch())
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = x;
        false
    }
}

//! What tempering's host operations share. A host operation is a Burn backend extension
//! (`backend_extension`) that Flex runs as host loops or `gemm` calls and that records one node
//! of its own in the autodiff graph: the GELU, the attention softmax, and the transformer's
//! linear layers, attention and layer norm. This module re-exports the Burn items each of them
//! implements against, and tells when the host kernels apply.

/// Used by the operations that exist on Flex only.
#[cfg(feature = "flex")]
pub(crate) use burn::backend::AutodiffBackend;
pub(crate) use burn::backend::autodiff::NodeId;
pub(crate) use burn::backend::autodiff::checkpoint::base::Checkpointer;
pub(crate) use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
pub(crate) use burn::backend::autodiff::grads::Gradients;
pub(crate) use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
pub(crate) use burn::backend::tensor::FloatTensor;
pub(crate) use burn::backend::{Autodiff, Backend, Dispatch, backend_extension};
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
        use tempering_core::host_device::{HostBackend, host_backend};
        x.dtype() == burn::tensor::DType::F32
            && host_backend(&x.device()) == Some(HostBackend::Flex)
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = x;
        false
    }
}

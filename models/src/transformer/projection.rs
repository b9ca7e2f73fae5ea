//! What a transformer block needs of its linear layers: a product over rows. Burn's dense
//! `Linear` is one (through tempering's host kernels on Flex); so is [`LinearLayer`], which
//! is dense or an ALDS factorization (Liebenwein et al., NeurIPS 2021), so a compressed
//! transformer is the same model with another projection type.

use burn::module::{Module, ModuleDisplay};
use burn::nn::Linear;
use burn::tensor::Tensor;

use super::host_linear::linear_rows;
use crate::low_rank_linear::LinearLayer;

/// A linear map applied to rows `[n, d_in] → [n, d_out]`.
pub trait Projection: Module + ModuleDisplay {
    /// `x` `[n, d_in]` through the layer.
    fn rows(&self, x: Tensor<2>) -> Tensor<2>;
    /// Output features.
    fn d_output(&self) -> usize;
}

impl Projection for Linear {
    fn rows(&self, x: Tensor<2>) -> Tensor<2> {
        linear_rows(self, x)
    }

    fn d_output(&self) -> usize {
        self.weight.dims()[1]
    }
}

impl Projection for LinearLayer {
    fn rows(&self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Dense(linear) => linear_rows(linear, x),
            Self::LowRank(factors) => factors.forward(x),
        }
    }

    fn d_output(&self) -> usize {
        match self {
            Self::Dense(linear) => linear.weight.dims()[1],
            Self::LowRank(factors) => factors.chunks[0].decoder.weight.dims()[1],
        }
    }
}

//! Scaled dot-product attention over heads, the operation both attention paths end in (a leaf:
//! the module and the host path each call it).

use burn::tensor::Tensor;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use crate::activation::attention_softmax;
use crate::host_op::host_kernel_applies;

/// `softmax(q·kᵀ / √d_head) · v` per head (`[batch, heads, time, d_head]`), masked when
/// `causal`. On Flex the softmax is tempering's fused operation ([`attention_softmax`]),
/// measured 1.7× faster forward and backward than Burn's `attention` op there; elsewhere it is
/// Burn's `attention` op, which GPU backends fuse.
pub fn scaled_dot_product_attention(
    query: Tensor<4>,
    key: Tensor<4>,
    value: Tensor<4>,
    causal: bool,
) -> Tensor<4> {
    if host_kernel_applies(&query) {
        let d_head = query.dims()[3];
        let scale = 1.0 / (d_head as f64).sqrt();
        let scores = query.matmul(key.swap_dims(2, 3)) * scale;
        return attention_softmax(scores, causal).matmul(value);
    }
    let options = AttentionModuleOptions {
        is_causal: causal,
        ..Default::default()
    };
    attention(query, key, value, None, None, options)
}

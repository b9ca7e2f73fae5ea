//! The matcher's layers: SuperGlue's keypoint encoder and attentional message passing (Sarlin
//! et al., CVPR 2020), GIMS's GraphSAGE-mean stack (Hamilton et al., NeurIPS 2017, as GIMS uses
//! it), and LightGlue's self-attention with rotary encodings of 2-D keypoints (Lindenberger et
//! al., ICCV 2023). The non-rotary attention is burn-nn's `MultiHeadAttention`.

use burn::module::Module;
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Bool, Device, Tensor, TensorData};

/// `layer` with its bias set to zero (SuperGlue's init of a residual branch's last layer).
fn zero_bias(mut layer: Linear) -> Linear {
    layer.bias = layer.bias.map(|b| b.map(|t| t.zeros_like()));
    layer
}

/// SuperGlue's keypoint encoder: an MLP from `(x, y)` to the descriptor width, ReLU between
/// layers, the last bias zero (so positions start as a small perturbation).
#[derive(Module, Debug)]
pub struct KeypointEncoder {
    /// The layers, `2 → hidden… → d_model`.
    pub layers: Vec<Linear>,
}

impl KeypointEncoder {
    /// Layers `2 → hidden[0] → … → d_model`.
    pub fn new(hidden: &[usize], d_model: usize, device: &Device) -> Self {
        let widths: Vec<usize> = std::iter::once(2)
            .chain(hidden.iter().copied())
            .chain(std::iter::once(d_model))
            .collect();
        let last = widths.len() - 2;
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                let layer = LinearConfig::new(w[0], w[1]).init(device);
                if i == last { zero_bias(layer) } else { layer }
            })
            .collect();
        Self { layers }
    }

    /// `[B, N, 2]` keypoints to `[B, N, d_model]`.
    pub fn forward(&self, keypoints: Tensor<3>) -> Tensor<3> {
        let last = self.layers.len() - 1;
        self.layers
            .iter()
            .enumerate()
            .fold(keypoints, |x, (i, layer)| {
                let y = layer.forward(x);
                if i == last { y } else { relu(y) }
            })
    }
}

/// One GraphSAGE-mean layer: `h' = W_self·h + W_neigh·mean_{N(i)} h + b`.
#[derive(Module, Debug)]
pub struct SageLayer {
    /// `W_self` and the bias.
    pub self_weight: Linear,
    /// `W_neigh` (no bias).
    pub neighbour_weight: Linear,
}

impl SageLayer {
    /// A layer `d_in → d_out`.
    pub fn new(d_in: usize, d_out: usize, device: &Device) -> Self {
        Self {
            self_weight: LinearConfig::new(d_in, d_out).init(device),
            neighbour_weight: LinearConfig::new(d_in, d_out).with_bias(false).init(device),
        }
    }

    /// `h` `[B, N, d_in]`, `mean` the mean-aggregation matrices `[B, N, N]`.
    pub fn forward(&self, h: Tensor<3>, mean: Tensor<3>) -> Tensor<3> {
        self.self_weight.forward(h.clone()) + self.neighbour_weight.forward(mean.matmul(h))
    }
}

/// The message update shared by every attention layer: `x + MLP([x ‖ message])`, the MLP
/// `2d → 2d → d` with a LayerNorm and ReLU inside (SuperGlue has a BatchNorm there, LightGlue a
/// LayerNorm; batch statistics over a few pairs are noisy, so LayerNorm for all), last bias 0.
#[derive(Module, Debug)]
pub struct MessageUpdate {
    /// `2d → 2d`.
    pub expand: Linear,
    /// Norm of the expanded message.
    pub norm: LayerNorm,
    /// `2d → d`.
    pub contract: Linear,
}

impl MessageUpdate {
    /// For width `d`.
    pub fn new(d: usize, device: &Device) -> Self {
        Self {
            expand: LinearConfig::new(2 * d, 2 * d).init(device),
            norm: LayerNormConfig::new(2 * d).init(device),
            contract: zero_bias(LinearConfig::new(2 * d, d).init(device)),
        }
    }

    /// `x + MLP([x ‖ message])`.
    pub fn forward(&self, x: Tensor<3>, message: Tensor<3>) -> Tensor<3> {
        let hidden = relu(
            self.norm.forward(
                self.expand
                    .forward(Tensor::cat(vec![x.clone(), message], 2)),
            ),
        );
        x + self.contract.forward(hidden)
    }
}

/// SuperGlue's attentional propagation: multi-head attention from `x` to `source` (itself for
/// a self layer, the other image for a cross layer), then the [`MessageUpdate`].
#[derive(Module, Debug)]
pub struct AttentionalPropagation {
    /// burn-nn's multi-head attention.
    pub attention: MultiHeadAttention,
    /// The update.
    pub update: MessageUpdate,
}

impl AttentionalPropagation {
    /// Width `d`, `heads` heads.
    pub fn new(d: usize, heads: usize, device: &Device) -> Self {
        Self {
            attention: MultiHeadAttentionConfig::new(d, heads)
                .with_dropout(0.0)
                .init(device),
            update: MessageUpdate::new(d, device),
        }
    }

    /// `x` `[B, M, d]` attends to `source` `[B, N, d]`.
    pub fn forward(&self, x: Tensor<3>, source: Tensor<3>) -> Tensor<3> {
        self.forward_masked(x, source, None)
    }

    /// [`forward`](Self::forward) where the `source` points marked in `dropped` `[B, N]` are
    /// not attended to (GIMS's dropped keypoints).
    pub fn forward_masked(
        &self,
        x: Tensor<3>,
        source: Tensor<3>,
        dropped: Option<Tensor<2, Bool>>,
    ) -> Tensor<3> {
        let mut input = MhaInput::new(x.clone(), source.clone(), source);
        if let Some(dropped) = dropped {
            input = input.mask_pad(dropped);
        }
        let message = self.attention.forward(input).context;
        self.update.forward(x, message)
    }
}

/// LightGlue's self-attention: queries and keys rotated by a learned Fourier encoding of the
/// 2-D keypoints (`cos`/`sin` of a linear map of `(x, y)`, one frequency per pair of channels,
/// the same for every head), then the [`MessageUpdate`].
#[derive(Module, Debug)]
pub struct RotarySelfAttention {
    /// `d → 3d`: queries, keys, values.
    pub qkv: Linear,
    /// `d → d`.
    pub output: Linear,
    /// The update.
    pub update: MessageUpdate,
    heads: usize,
}

/// The rotation of LightGlue's positional encoding, `[B, 1, N, d_head]` each.
#[derive(Clone, Debug)]
pub struct Rotation {
    /// Cosines, each frequency repeated for its pair of channels.
    pub cos: Tensor<4>,
    /// Sines, likewise.
    pub sin: Tensor<4>,
}

impl Rotation {
    /// From the projected keypoints `[B, N, d_head / 2]` (the frequencies times the position).
    pub fn new(phases: Tensor<3>) -> Self {
        let [batch, n, half] = phases.dims();
        let pairwise = |t: Tensor<3>| {
            t.reshape([batch, 1, n, half, 1])
                .expand([batch, 1, n, half, 2])
                .reshape([batch, 1, n, 2 * half])
        };
        Self {
            cos: pairwise(phases.clone().cos()),
            sin: pairwise(phases.sin()),
        }
    }

    /// Rotates each pair of channels `(a, b)` of `x` `[B, H, N, d_head]` by its phase:
    /// `(a·cos − b·sin, b·cos + a·sin)`. The pair swap `(a, b) ↦ (−b, a)` is a product with a
    /// fixed signed permutation, cheaper than reshaping and concatenating halves.
    pub fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, _, d_head] = x.dims();
        let mut swap = vec![0.0f32; d_head * d_head];
        for pair in 0..d_head / 2 {
            let (a, b) = (2 * pair, 2 * pair + 1);
            swap[b * d_head + a] = -1.0;
            swap[a * d_head + b] = 1.0;
        }
        let swap = Tensor::<2>::from_data(TensorData::new(swap, [d_head, d_head]), &x.device())
            .reshape([1, 1, d_head, d_head]);
        let rotated = x.clone().matmul(swap);
        x * self.cos.clone() + rotated * self.sin.clone()
    }
}

impl RotarySelfAttention {
    /// Width `d`, `heads` heads (`d / heads` must be even).
    pub fn new(d: usize, heads: usize, device: &Device) -> Self {
        Self {
            qkv: LinearConfig::new(d, 3 * d).init(device),
            output: LinearConfig::new(d, d).init(device),
            update: MessageUpdate::new(d, device),
            heads,
        }
    }

    /// `x` `[B, N, d]` attends to itself with queries and keys rotated by `rotation`.
    pub fn forward(&self, x: Tensor<3>, rotation: &Rotation) -> Tensor<3> {
        self.forward_masked(x, rotation, None)
    }

    /// [`forward`](Self::forward) where the points marked in `dropped` `[B, N]` are not
    /// attended to (their scores are burn-nn attention's padding value, -10⁴).
    pub fn forward_masked(
        &self,
        x: Tensor<3>,
        rotation: &Rotation,
        dropped: Option<Tensor<2, Bool>>,
    ) -> Tensor<3> {
        let [batch, n, d] = x.dims();
        let d_head = d / self.heads;
        let qkv = self.qkv.forward(x.clone());
        let part = |i: usize| {
            qkv.clone()
                .slice([0..batch, 0..n, i * d..(i + 1) * d])
                .reshape([batch, n, self.heads, d_head])
                .swap_dims(1, 2)
        };
        let (q, k, v) = (rotation.apply(part(0)), rotation.apply(part(1)), part(2));
        let mut scores = q.matmul(k.swap_dims(2, 3)) / (d_head as f64).sqrt();
        if let Some(dropped) = dropped {
            scores = scores.mask_fill(dropped.reshape([batch, 1, 1, n]), -1.0e4);
        }
        let weights = softmax(scores, 3);
        let message = weights.matmul(v).swap_dims(1, 2).reshape([batch, n, d]);
        self.update.forward(x, self.output.forward(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, Tolerance};

    #[test]
    fn rotation_preserves_norms_and_is_relative() {
        let device = Device::default();
        let phases = Tensor::<3>::random([1, 5, 4], Distribution::Normal(0.0, 1.0), &device);
        let rotation = Rotation::new(phases.clone());
        let x = Tensor::<4>::random([1, 2, 5, 8], Distribution::Normal(0.0, 1.0), &device);
        // A rotation keeps each pair's length.
        let norms = |t: Tensor<4>| t.powi_scalar(2).sum_dim(3).into_data();
        norms(rotation.apply(x.clone()))
            .assert_approx_eq::<f32>(&norms(x.clone()), Tolerance::absolute(1e-4));
        // Rotating queries and keys makes their product depend on phase differences only:
        // shifting every phase by the same amount leaves q·kᵀ unchanged.
        let shifted = Rotation::new(phases + 0.7);
        let scores = |r: &Rotation| {
            let q = r.apply(x.clone());
            q.clone().matmul(q.swap_dims(2, 3)).into_data()
        };
        scores(&rotation).assert_approx_eq::<f32>(&scores(&shifted), Tolerance::absolute(1e-4));
    }

    #[test]
    fn sage_mean_uses_the_aggregation_matrix() {
        let device = Device::default();
        let layer = SageLayer::new(3, 2, &device);
        let h = Tensor::<3>::random([1, 3, 3], Distribution::Normal(0.0, 1.0), &device);
        // Node 0 averages nodes 1 and 2; nodes 1 and 2 have no neighbours.
        let mean = Tensor::<3>::from_data(
            TensorData::new(
                vec![0.0f32, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                [1, 3, 3],
            ),
            &device,
        );
        let out = layer.forward(h.clone(), mean);
        let alone = layer.self_weight.forward(h.clone());
        out.clone()
            .slice([0..1, 1..3, 0..2])
            .into_data()
            .assert_approx_eq::<f32>(
                &alone.clone().slice([0..1, 1..3, 0..2]).into_data(),
                Tolerance::absolute(1e-6),
            );
        let neighbours = (h.clone().slice([0..1, 1..2, 0..3]) + h.slice([0..1, 2..3, 0..3])) / 2.0;
        let expected = alone.slice([0..1, 0..1, 0..2]) + layer.neighbour_weight.forward(neighbours);
        out.slice([0..1, 0..1, 0..2])
            .into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::absolute(1e-5));
    }
}

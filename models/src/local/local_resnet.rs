//! A small residual network for 28×28 images cut into K gradient-isolated stages, each hidden
//! stage with an auxiliary network ([`AuxiliaryKind`]): the convolutional network AugLocal,
//! DGL and greedy local learning train, and the same network end to end as their baseline.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor};
use tempering_core::local_stages::LocalStages;

use super::auglocal_rule::decreasing_depths;
use super::auxiliary_heads::{AuxiliaryHead, AuxiliaryKind};
use super::cross_entropy;
use super::residual_layer::{ConvNorm, ResidualBlock, ResidualLayer};
use crate::low_rank_conv::ConvProjection;

/// Configuration of a [`LocalResNet`]. The defaults: a stem of 16 channels and six residual
/// blocks (16, 16, 32, 32, 64, 64 channels; stride 2 where the width doubles: 28 → 14 → 7),
/// every layer its own stage (K = 7), AugLocal heads of depth 2 with τ = 0.5.
#[derive(Config, Debug)]
pub struct LocalResNetConfig {
    /// Channels of each layer, the stem first; a layer whose width exceeds the one before
    /// halves the resolution.
    #[config(default = "vec![16, 16, 16, 32, 32, 64, 64]")]
    pub widths: Vec<usize>,
    /// Gradient-isolated stages K (1 ≤ K ≤ layers): consecutive layers, split as evenly as
    /// possible.
    #[config(default = 7)]
    pub stages: usize,
    /// The hidden stages' auxiliary networks.
    #[config(default = "AuxiliaryKind::AugLocal { depth: 2, tau: 0.5 }")]
    pub auxiliary: AuxiliaryKind,
    /// Image height and width.
    #[config(default = 28)]
    pub image_size: usize,
    /// Number of classes.
    #[config(default = 10)]
    pub classes: usize,
}

impl LocalResNetConfig {
    /// The first layer of each stage, then the layer count: stage `k` is
    /// `bounds[k]..bounds[k + 1]`.
    pub fn stage_bounds(&self) -> Vec<usize> {
        let (layers, stages) = (self.widths.len(), self.stages);
        (0..=stages).map(|k| k * layers / stages).collect()
    }

    /// An error naming the setting out of range.
    pub fn check(&self) -> Result<(), String> {
        if self.widths.is_empty() || self.widths.contains(&0) {
            return Err("widths must be non-empty and positive".into());
        }
        if self.image_size == 0 || self.classes == 0 {
            return Err(format!(
                "image_size and classes must be positive, got {} and {}",
                self.image_size, self.classes
            ));
        }
        if self.stages == 0 || self.stages > self.widths.len() {
            return Err(format!(
                "stages must be between 1 and the {} layers, got {}",
                self.widths.len(),
                self.stages
            ));
        }
        if let Some(w) = self
            .widths
            .windows(2)
            .find(|w| w[1] < w[0] || w[1] % w[0] != 0)
        {
            return Err(format!(
                "each width must be a multiple of the one before (got {} after {})",
                w[1], w[0]
            ));
        }
        if let AuxiliaryKind::AugLocal { depth, tau } = self.auxiliary
            && (depth == 0 || !(0.0..=1.0).contains(&tau))
        {
            return Err(format!(
                "AugLocal needs depth ≥ 1 and τ in [0, 1], got depth {depth}, τ {tau}"
            ));
        }
        Ok(())
    }

    /// `(c_in, c_out, stride, size)` of each layer: the stem (a 3×3 convolution from the one
    /// input channel), then each residual block, of stride 2 where the width grows; `size` is
    /// the side of the layer's output.
    fn layer_plan(&self) -> Vec<(usize, usize, usize, usize)> {
        let mut size = self.image_size;
        let mut c_in = 1;
        self.widths
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let stride = if i > 0 && w > self.widths[i - 1] {
                    2
                } else {
                    1
                };
                size = size.div_ceil(stride);
                let layer = (c_in, w, stride, size);
                c_in = w;
                layer
            })
            .collect()
    }

    /// The depth of each hidden stage's auxiliary network: AugLocal's decreasing rule with three
    /// stages or more, its depth throughout with fewer, 1 for the other heads.
    fn auxiliary_depths(&self) -> Vec<usize> {
        match self.auxiliary {
            AuxiliaryKind::AugLocal { depth, tau } if self.stages >= 3 => {
                decreasing_depths(depth, self.stages, tau)
            }
            AuxiliaryKind::AugLocal { depth, .. } => vec![depth; self.stages - 1],
            _ => vec![1; self.stages - 1],
        }
    }

    /// The backbone's convolutions, computed without building the network: each weight's
    /// module path, as [`LocalResNet::convs`] names them, and its shape `[out, in, kh, kw]`;
    /// the stem's, then each block's two and its projection shortcut where the width changes.
    pub fn conv_shapes(&self) -> Vec<(String, [usize; 4])> {
        let mut convs = Vec::new();
        for (i, (c_in, c_out, _, _)) in self.layer_plan().into_iter().enumerate() {
            if i == 0 {
                convs.push(("layers.0.Stem.conv.weight".to_string(), [c_out, c_in, 3, 3]));
                continue;
            }
            let path = |part| format!("layers.{i}.Block.{part}.conv.weight");
            convs.push((path("first"), [c_out, c_in, 3, 3]));
            convs.push((path("second"), [c_out, c_out, 3, 3]));
            if c_out != c_in {
                convs.push((path("shortcut"), [c_out, c_in, 1, 1]));
            }
        }
        convs
    }

    /// The module paths of the backbone's convolution weights, as [`conv_shapes`] lists them.
    ///
    /// [`conv_shapes`]: Self::conv_shapes
    pub fn conv_names(&self) -> Vec<String> {
        self.conv_shapes()
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    /// The number of parameters the network would have as Burn counts them (backbone,
    /// auxiliary networks, head; batch norms' running statistics included), computed without
    /// building it; `None` when it overflows `usize` or [`check`](Self::check) fails. A reader of an
    /// untrusted config compares this with what the checkpoint can hold before calling
    /// [`init`](Self::init).
    pub fn parameter_count(&self) -> Option<usize> {
        self.check().ok()?;
        let plan = self.layer_plan();
        let backbone = plan
            .iter()
            .enumerate()
            .try_fold(0usize, |total, (i, layer)| {
                let &(c_in, c_out, stride, _) = layer;
                total.checked_add(match i {
                    0 => ConvNorm::parameter_count(c_in, c_out, 3)?,
                    _ => ResidualBlock::parameter_count(c_in, c_out, stride)?,
                })
            })?;
        let bounds = self.stage_bounds();
        let auxiliary = self.auxiliary_depths().into_iter().enumerate().try_fold(
            0usize,
            |total, (k, depth)| {
                let last = bounds[k + 1] - 1;
                total.checked_add(AuxiliaryHead::parameter_count(
                    self.auxiliary,
                    last,
                    &self.widths,
                    plan[last].3,
                    depth,
                    self.classes,
                )?)
            },
        )?;
        let width = *self.widths.last()?;
        let head = width.checked_add(1)?.checked_mul(self.classes)?;
        backbone.checked_add(auxiliary)?.checked_add(head)
    }

    /// Builds the network on `device`.
    ///
    /// # Panics
    /// If [`check`](Self::check) fails.
    pub fn init(&self, device: &Device) -> LocalResNet {
        if let Err(e) = self.check() {
            panic!("LocalResNetConfig: {e}");
        }
        let widths = &self.widths;
        let plan = self.layer_plan();
        let layers = plan
            .iter()
            .enumerate()
            .map(|(i, &(c_in, c_out, stride, _))| match i {
                0 => ResidualLayer::Stem(ConvNorm::new(c_in, c_out, 3, 1, device)),
                _ => ResidualLayer::Block(ResidualBlock::new(c_in, c_out, stride, device)),
            })
            .collect();
        let bounds = self.stage_bounds();
        let auxiliary = self
            .auxiliary_depths()
            .into_iter()
            .enumerate()
            .map(|(k, depth)| {
                let last = bounds[k + 1] - 1;
                AuxiliaryHead::new(
                    self.auxiliary,
                    last,
                    widths,
                    plan[last].3,
                    depth,
                    self.classes,
                    device,
                )
            })
            .collect();
        LocalResNet {
            layers,
            auxiliary,
            head: LinearConfig::new(*widths.last().unwrap(), self.classes).init(device),
            bounds,
        }
    }
}

/// A residual network in gradient-isolated stages; see [`LocalResNetConfig`]. Its convolutions
/// are of type `C`: Burn's dense `Conv2d` as trained, [`ConvLayer`](crate::ConvLayer) once
/// compressed into ALDS factors.
#[derive(Module, Debug)]
pub struct LocalResNet<C = burn::nn::conv::Conv2d> {
    /// The stem and the residual blocks.
    pub layers: Vec<ResidualLayer<C>>,
    /// One auxiliary network per hidden stage.
    pub auxiliary: Vec<AuxiliaryHead>,
    /// The final classifier, after global average pooling.
    pub head: Linear,
    bounds: Vec<usize>,
}

impl<C: ConvProjection> LocalResNet<C> {
    /// The backbone's convolutions under their weights' module paths
    /// (`layers.0.Stem.conv.weight`, `layers.1.Block.first.conv.weight`, …), input side first;
    /// the auxiliary networks are not included.
    pub fn convs(&self) -> Vec<(String, &C)> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, layer)| layer.convs(&format!("layers.{i}")))
            .collect()
    }

    /// The same network with each backbone convolution replaced by `f(path, convolution)`,
    /// paths as in [`convs`](Self::convs); the auxiliary networks and the head are kept.
    pub fn map_convs<D>(self, mut f: impl FnMut(&str, C) -> D) -> LocalResNet<D> {
        LocalResNet {
            layers: self
                .layers
                .into_iter()
                .enumerate()
                .map(|(i, layer)| layer.map_convs(&format!("layers.{i}"), &mut f))
                .collect(),
            auxiliary: self.auxiliary,
            head: self.head,
            bounds: self.bounds,
        }
    }

    fn classify(&self, x: Tensor<4>) -> Tensor<2> {
        let [b, c, _, _] = x.dims();
        self.head.forward(x.mean_dims(&[2, 3]).reshape([b, c]))
    }
}

/// The network trained end to end as an image classifier: every layer, then the head.
impl<C: ConvProjection> crate::ImageClassifier for LocalResNet<C> {
    fn logits(&self, images: Tensor<3>) -> Tensor<2> {
        LocalStages::logits(self, images)
    }
}

impl<C: ConvProjection> LocalStages for LocalResNet<C> {
    type Input = Tensor<3>;
    type Features = Tensor<4>;

    fn stage_count(&self) -> usize {
        self.bounds.len() - 1
    }

    fn first_features(&self, images: Tensor<3>) -> Tensor<4> {
        let [b, h, w] = images.dims();
        images.reshape([b, 1, h, w])
    }

    fn stage(&self, k: usize, input: Tensor<4>) -> Tensor<4> {
        self.layers[self.bounds[k]..self.bounds[k + 1]]
            .iter()
            .fold(input, |x, layer| layer.forward(x))
    }

    fn local_loss(
        &self,
        k: usize,
        _input: &Tensor<4>,
        output: &Tensor<4>,
        targets: &Tensor<1, Int>,
    ) -> Tensor<1> {
        let logits = match self.auxiliary.get(k) {
            Some(head) => head.forward(output.clone()),
            None => self.classify(output.clone()),
        };
        cross_entropy(logits, targets)
    }

    fn logits(&self, images: Tensor<3>) -> Tensor<2> {
        let x = self.first_features(images);
        let x = self.layers.iter().fold(x, |x, layer| layer.forward(x));
        self.classify(x)
    }
}

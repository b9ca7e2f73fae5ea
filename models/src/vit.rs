//! A Vision Transformer classifier (Dosovitskiy et al., "An Image is Worth 16x16 Words:
//! Transformers for Image Recognition at Scale", ICLR 2021) for single-channel images: square
//! patches flattened and projected, a class token or mean pooling, learned positions, pre-norm
//! encoder blocks (the language model's blocks without the causal mask), a final norm and a
//! linear head.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{LayerNorm, Linear};
use burn::tensor::{Device, Tensor};

use crate::ImageClassifier;
use crate::activation::GeluApproximation;
use crate::transformer::block::{BlockSettings, BlockWidths, TransformerBlock};
use crate::transformer::gpt_init;
use crate::transformer::host_layer_norm::{NORM_EPSILON, apply_layer_norm, layer_norm};
use crate::transformer::projection::Projection;

/// How the encoder's tokens become one vector per image.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum VitPooling {
    /// A learned token prepended to the patches; its output is the image's (ViT's choice).
    ClassToken,
    /// The mean of the patch tokens' outputs.
    Mean,
}

/// Configuration of a [`VitClassifier`]; the defaults suit 28×28 Fashion-MNIST: 4×4 patches
/// (49 tokens), d 64, 4 blocks of 4 heads, feed-forward 2·d, class token.
#[derive(Config, Debug)]
pub struct VitClassifierConfig {
    /// Image height and width, in pixels.
    #[config(default = 28)]
    pub image_size: usize,
    /// Patch height and width; must divide `image_size`.
    #[config(default = 4)]
    pub patch_size: usize,
    /// Number of classes.
    #[config(default = 10)]
    pub classes: usize,
    /// Width of the token vectors.
    #[config(default = 64)]
    pub d_model: usize,
    /// Encoder blocks.
    #[config(default = 4)]
    pub n_layers: usize,
    /// Heads per block; must divide `d_model`.
    #[config(default = 4)]
    pub n_heads: usize,
    /// Feed-forward channels [default: `2 · d_model`].
    #[config(default = "None")]
    pub d_ff: Option<usize>,
    /// Dropout inside the blocks.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Class token or mean pooling.
    #[config(default = "VitPooling::ClassToken")]
    pub pooling: VitPooling,
    /// Standard deviation of the initial weights (0.02, as in ViT and GPT-2).
    #[config(default = 0.02)]
    pub init_std: f64,
}

impl VitClassifierConfig {
    /// Patches per image.
    pub fn patches(&self) -> usize {
        let side = self.image_size / self.patch_size.max(1);
        side * side
    }

    /// The number of parameters the model would have, computed without building it; `None`
    /// when it overflows `usize`. A reader of an untrusted config compares this with what the
    /// checkpoint can hold before calling [`init`](Self::init).
    pub fn parameter_count(&self) -> Option<usize> {
        let d = self.d_model;
        let side = self.image_size / self.patch_size.max(1);
        let class_token = usize::from(self.pooling == VitPooling::ClassToken);
        let tokens = side.checked_mul(side)?.checked_add(class_token)?;
        let d_ff = match self.d_ff {
            Some(d_ff) => d_ff,
            None => d.checked_mul(2)?,
        };
        let block =
            BlockWidths::new(self.n_heads, d_ff).parameter_count(d, d / self.n_heads.max(1))?;
        let patch_embedding = self
            .patch_size
            .checked_mul(self.patch_size)?
            .checked_add(1)?
            .checked_mul(d)?;
        // The class token and the positions, the blocks, the final norm, the head.
        let embeddings = tokens.checked_add(class_token)?.checked_mul(d)?;
        let head = d.checked_add(1)?.checked_mul(self.classes)?;
        patch_embedding
            .checked_add(embeddings)?
            .checked_add(block.checked_mul(self.n_layers)?)?
            .checked_add(d.checked_mul(2)?)?
            .checked_add(head)
    }

    /// Why this config cannot build a model, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        let sizes = [
            ("image_size", self.image_size),
            ("patch_size", self.patch_size),
            ("classes", self.classes),
            ("d_model", self.d_model),
            ("n_layers", self.n_layers),
            ("n_heads", self.n_heads),
        ];
        if let Some((name, _)) = sizes.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{name} must be positive"));
        }
        if !self.image_size.is_multiple_of(self.patch_size) {
            return Err(format!(
                "patch_size {} does not divide image_size {}",
                self.patch_size, self.image_size
            ));
        }
        if !self.d_model.is_multiple_of(self.n_heads) {
            return Err(format!(
                "n_heads {} does not divide d_model {}",
                self.n_heads, self.d_model
            ));
        }
        if self.d_ff == Some(0) {
            return Err("d_ff must be positive".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout {} is not in [0, 1)", self.dropout));
        }
        if !(self.init_std.is_finite() && self.init_std > 0.0) {
            return Err(format!("init_std must be positive, got {}", self.init_std));
        }
        Ok(())
    }

    /// Builds the model on `device`.
    ///
    /// # Panics
    /// If [`check`](Self::check) finds a problem; the message names it.
    pub fn init(&self, device: &Device) -> VitClassifier {
        if let Err(problem) = self.check() {
            panic!("VitClassifierConfig: {problem}");
        }
        let d = self.d_model;
        let tokens = self.patches() + usize::from(self.pooling == VitPooling::ClassToken);
        let widths = BlockWidths::new(self.n_heads, self.d_ff.unwrap_or(2 * d));
        let settings = BlockSettings {
            d_model: d,
            d_head: d / self.n_heads,
            dropout: self.dropout,
            init_std: self.init_std,
            output_init_std: gpt_init::residual_std(self.init_std, self.n_layers),
            causal: false,
            rotary_context: None,
            gelu: GeluApproximation::Exact,
        };
        let normal = gpt_init::normal(self.init_std);
        VitClassifier {
            patch_embedding: gpt_init::linear(
                self.patch_size * self.patch_size,
                d,
                self.init_std,
                device,
            ),
            class_token: (self.pooling == VitPooling::ClassToken)
                .then(|| normal.init([1, 1, d], device)),
            position_embedding: normal.init([1, tokens, d], device),
            blocks: (0..self.n_layers)
                .map(|_| TransformerBlock::new(&settings, &widths, device))
                .collect(),
            final_norm: layer_norm(d, device),
            head: gpt_init::linear(d, self.classes, self.init_std, device),
            patch_size: self.patch_size,
        }
    }
}

/// A Vision Transformer over single-channel images; see [`VitClassifierConfig`]. The blocks'
/// linear layers are of type `P`: Burn's dense `Linear` as trained,
/// [`LinearLayer`](crate::LinearLayer) once compressed into ALDS factors (see [`Projection`]).
#[derive(Module, Debug)]
pub struct VitClassifier<P = Linear> {
    /// `[patch², d_model]`: a flattened patch to a token.
    pub patch_embedding: Linear,
    /// `[1, 1, d_model]`, with class-token pooling.
    pub class_token: Option<Param<Tensor<3>>>,
    /// `[1, tokens, d_model]`.
    pub position_embedding: Param<Tensor<3>>,
    /// The encoder blocks.
    pub blocks: Vec<TransformerBlock<P>>,
    /// Norm after the last block.
    pub final_norm: LayerNorm,
    /// `[d_model, classes]`.
    pub head: Linear,
    patch_size: usize,
}

/// `[batch, h, w]` images as `[batch, (h/p)·(w/p), p·p]` patches, row-major over patches and
/// over the pixels inside each.
pub fn patchify(images: Tensor<3>, p: usize) -> Tensor<3> {
    let [batch, h, w] = images.dims();
    images
        .reshape([batch, h / p, p, w / p, p])
        .swap_dims(2, 3)
        .reshape([batch, (h / p) * (w / p), p * p])
}

impl<P: Projection> VitClassifier<P> {
    /// Class logits `[batch, classes]` for images `[batch, size, size]`.
    ///
    /// # Panics
    /// If the images are not the size the model was built for.
    pub fn forward(&self, images: Tensor<3>) -> Tensor<2> {
        let [_, h, w] = images.dims();
        let [_, tokens, _] = self.position_embedding.dims();
        let patches = (h / self.patch_size) * (w / self.patch_size);
        let expected = tokens - usize::from(self.class_token.is_some());
        assert!(
            h.is_multiple_of(self.patch_size)
                && w.is_multiple_of(self.patch_size)
                && patches == expected,
            "VitClassifier: {h}×{w} images do not make the {expected} patches of {} pixels the \
             model was built for",
            self.patch_size
        );
        self.classify_tokens(self.blocks.iter().fold(
            self.embed_patches(patchify(images, self.patch_size)),
            |x, block| block.forward(x),
        ))
    }

    /// Pixels per side of a patch.
    pub fn patch_size(&self) -> usize {
        self.patch_size
    }

    /// Tokens `[batch, tokens, d_model]` from patches `[batch, patches, patch²]`: the patch
    /// projection, the class token when there is one, and the positions.
    pub fn embed_patches(&self, patches: Tensor<3>) -> Tensor<3> {
        let [batch, _, _] = patches.dims();
        let [_, _, d] = self.position_embedding.dims();
        let x = self.patch_embedding.forward(patches);
        let x = match &self.class_token {
            Some(token) => Tensor::cat(vec![token.val().expand([batch, 1, d]), x], 1),
            None => x,
        };
        x + self.position_embedding.val()
    }

    /// Class logits from the last block's tokens: the final norm, pooling, the head.
    pub fn classify_tokens(&self, x: Tensor<3>) -> Tensor<2> {
        let [batch, _, d] = x.dims();
        let x = apply_layer_norm(&self.final_norm, x, NORM_EPSILON);
        let pooled = match &self.class_token {
            Some(_) => x.slice([0..batch, 0..1]).reshape([batch, d]),
            None => x.mean_dim(1).reshape([batch, d]),
        };
        self.head.forward(pooled)
    }

    /// The same model with each block linear layer replaced by `f(path, layer)`, the path
    /// being the layer's module path (`blocks.0.attention.query`); the patch projection, the
    /// embeddings, norms and the head are kept.
    pub fn map_projections<Q>(self, mut f: impl FnMut(&str, P) -> Q) -> VitClassifier<Q> {
        VitClassifier {
            patch_embedding: self.patch_embedding,
            class_token: self.class_token,
            position_embedding: self.position_embedding,
            blocks: TransformerBlock::map_all(self.blocks, &mut f),
            final_norm: self.final_norm,
            head: self.head,
            patch_size: self.patch_size,
        }
    }
}

impl<P: Projection> ImageClassifier for VitClassifier<P> {
    fn logits(&self, images: Tensor<3>) -> Tensor<2> {
        self.forward(images)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{TensorData, Tolerance};

    #[test]
    fn parameter_count_matches_the_built_model() {
        for pooling in [VitPooling::ClassToken, VitPooling::Mean] {
            for d_ff in [None, Some(5)] {
                let config = small(pooling).with_d_ff(d_ff);
                let built = config.init(&Device::default()).num_params();
                assert_eq!(
                    config.parameter_count(),
                    Some(built),
                    "{pooling:?} {d_ff:?}"
                );
            }
        }
    }

    fn small(pooling: VitPooling) -> VitClassifierConfig {
        VitClassifierConfig::new()
            .with_image_size(8)
            .with_patch_size(4)
            .with_classes(3)
            .with_d_model(8)
            .with_n_layers(2)
            .with_n_heads(2)
            .with_pooling(pooling)
    }

    /// Worked by hand: a 4×4 image 0..16 in 2×2 patches gives [0,1,4,5], [2,3,6,7],
    /// [8,9,12,13], [10,11,14,15].
    #[test]
    fn patches_are_row_major_squares() {
        let device = Device::default();
        let image = Tensor::<1, burn::tensor::Int>::arange(0..16, &device)
            .float()
            .reshape([1, 4, 4]);
        patchify(image, 2).into_data().assert_approx_eq::<f32>(
            &TensorData::new(
                vec![
                    0f32, 1., 4., 5., 2., 3., 6., 7., 8., 9., 12., 13., 10., 11., 14., 15.,
                ],
                [1, 4, 4],
            ),
            Tolerance::absolute(0.0),
        );
    }

    #[test]
    fn logits_have_one_row_per_image_for_both_poolings() {
        let device = Device::default();
        for pooling in [VitPooling::ClassToken, VitPooling::Mean] {
            let model = small(pooling).init(&device);
            let logits = model.forward(Tensor::ones([5, 8, 8], &device));
            assert_eq!(logits.dims(), [5, 3]);
            let tokens = model.position_embedding.dims()[1];
            assert_eq!(tokens, 4 + usize::from(pooling == VitPooling::ClassToken));
        }
    }

    /// Unlike the language model, every patch sees every other: changing the last patch
    /// changes the class token's output (it would not under a causal mask).
    #[test]
    fn attention_is_not_causal() {
        let device = Device::default();
        // Large weights, so attention is far from uniform and the effect is plain to see.
        let model = small(VitPooling::ClassToken)
            .with_init_std(0.5)
            .init(&device);
        let a = Tensor::<3>::zeros([1, 8, 8], &device);
        let b = a
            .clone()
            .slice_assign([0..1, 4..8, 4..8], Tensor::ones([1, 4, 4], &device));
        let diff = (model.forward(a) - model.forward(b))
            .abs()
            .sum()
            .into_scalar::<f32>();
        assert!(diff > 1e-2, "the class token ignored a patch: {diff}");
    }

    #[test]
    fn bad_configs_are_named() {
        let e = small(VitPooling::Mean)
            .with_patch_size(3)
            .check()
            .unwrap_err();
        assert!(e.contains("patch_size 3"), "{e}");
        let e = small(VitPooling::Mean).with_n_heads(3).check().unwrap_err();
        assert!(e.contains("n_heads 3"), "{e}");
        let e = small(VitPooling::Mean).with_classes(0).check().unwrap_err();
        assert!(e.contains("classes"), "{e}");
    }

    #[test]
    #[should_panic(expected = "do not make the 4 patches")]
    fn wrong_image_size_panics_with_the_sizes() {
        let device = Device::default();
        let model = small(VitPooling::Mean).init(&device);
        let _ = model.forward(Tensor::ones([1, 12, 12], &device));
    }

    /// Every parameter gets a gradient (the class token and positions included).
    #[test]
    fn gradients_reach_every_parameter() {
        let device = Device::default().autodiff();
        let model = small(VitPooling::ClassToken).init(&device);
        let images = Tensor::<1, burn::tensor::Int>::arange(0..128, &device)
            .float()
            .reshape([2, 8, 8])
            / 64.0;
        let loss = model.forward(images).powf_scalar(2.0).sum();
        let grads = loss.backward();
        let token = model.class_token.as_ref().unwrap().grad(&grads).unwrap();
        assert!(token.abs().sum().into_scalar::<f32>() > 0.0);
        let positions = model.position_embedding.grad(&grads).unwrap();
        assert!(positions.abs().sum().into_scalar::<f32>() > 0.0);
        let patch = model.patch_embedding.weight.grad(&grads).unwrap();
        assert!(patch.abs().sum().into_scalar::<f32>() > 0.0);
    }
}

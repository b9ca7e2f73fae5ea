//! The muP roles (tempering-core's [`MupModule`]) of this crate's classifiers and transformers,
//! so muP learning-rate groups and μLO's per-role step scales apply to them (Yang et al. 2022,
//! "Tensor Programs V", arXiv:2203.03466, Table 3; μLO's `mu_transformer.py`).
//!
//! - Embeddings (token, position, patch) are **input** weights: their fan-in (vocabulary,
//!   positions, patch pixels) does not grow with the width.
//! - Attention projections and feed-forward layers are **hidden** weights; their fan-in is the
//!   width feeding them (`d_model`, or heads × head width for the output projection, `d_ff`
//!   for the contraction).
//! - The classifier or LM head is the **output** weight. A head tied to the token embedding is
//!   the embedding's parameter, declared once, as an input weight.
//! - Biases, norm scales and shifts, class tokens are **vectors**.

use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::Tensor;
use tempering_core::mup::{MupModule, MupRole, MupTensorRole};

use crate::matcher::Matcher;
use crate::matcher::layers::{AttentionalPropagation, MessageUpdate};
use crate::mlp_classifier::MlpClassifier;
use crate::mup_mlp::MupMlp;
use crate::transformer::TransformerLm;
use crate::transformer::block::TransformerBlock;
use crate::vit::VitClassifier;

/// Collects roles in a module's visiting order.
#[derive(Default)]
struct Roles(Vec<MupTensorRole>);

impl Roles {
    fn tensor<const D: usize>(&mut self, param: &Param<Tensor<D>>, role: MupRole, fan_in: usize) {
        self.0.push(MupTensorRole {
            id: param.id,
            role,
            fan_in,
        });
    }

    fn vector<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.tensor(param, MupRole::Vector, 1);
    }

    /// A linear layer's weight `[d_in, d_out]` with `role`, and its bias.
    fn linear(&mut self, linear: &Linear, role: MupRole) {
        self.tensor(&linear.weight, role, linear.weight.dims()[0]);
        if let Some(bias) = &linear.bias {
            self.vector(bias);
        }
    }

    fn norm(&mut self, norm: &LayerNorm) {
        self.vector(&norm.gamma);
        if let Some(beta) = &norm.beta {
            self.vector(beta);
        }
    }

    /// A multilayer perceptron: the first layer takes the input, the others are hidden, then
    /// the head.
    fn mlp(&mut self, layers: &[Linear], head: &Linear) {
        for (i, layer) in layers.iter().enumerate() {
            self.linear(
                layer,
                if i == 0 {
                    MupRole::Input
                } else {
                    MupRole::Hidden
                },
            );
        }
        self.linear(head, MupRole::Output);
    }

    /// Linear layers that are all hidden (attention projections, feed-forward layers).
    fn hidden(&mut self, layers: &[&Linear]) {
        for layer in layers {
            self.linear(layer, MupRole::Hidden);
        }
    }

    fn block(&mut self, block: &TransformerBlock) {
        self.norm(&block.attention_norm);
        let a = &block.attention;
        self.hidden(&[&a.query, &a.key, &a.value, &a.output]);
        self.norm(&block.feed_forward_norm);
        self.linear(&block.feed_forward.expand, MupRole::Hidden);
        self.linear(&block.feed_forward.contract, MupRole::Hidden);
    }

    fn update(&mut self, update: &MessageUpdate) {
        self.linear(&update.expand, MupRole::Hidden);
        self.norm(&update.norm);
        self.linear(&update.contract, MupRole::Hidden);
    }

    fn attentional(&mut self, layer: &AttentionalPropagation) {
        let a = &layer.attention;
        self.hidden(&[&a.query, &a.key, &a.value, &a.output]);
        self.update(&layer.update);
    }
}

impl MupModule for MlpClassifier {
    fn mup_roles(&self) -> Vec<MupTensorRole> {
        let mut roles = Roles::default();
        roles.mlp(&self.hidden, &self.head);
        roles.0
    }
}

impl MupModule for MupMlp {
    fn mup_roles(&self) -> Vec<MupTensorRole> {
        let mut roles = Roles::default();
        roles.mlp(&self.layers, &self.head);
        roles.0
    }
}

impl MupModule for TransformerLm {
    fn mup_roles(&self) -> Vec<MupTensorRole> {
        let mut roles = Roles::default();
        let vocab = self.token_embedding.weight.dims()[0];
        roles.tensor(&self.token_embedding.weight, MupRole::Input, vocab);
        if let Some(positions) = &self.position_embedding {
            roles.tensor(
                &positions.weight,
                MupRole::Input,
                positions.weight.dims()[0],
            );
        }
        for block in &self.blocks {
            roles.block(block);
        }
        roles.norm(&self.final_norm);
        if let Some(head) = &self.head {
            roles.linear(head, MupRole::Output);
        }
        roles.0
    }
}

impl MupModule for VitClassifier {
    fn mup_roles(&self) -> Vec<MupTensorRole> {
        let mut roles = Roles::default();
        roles.linear(&self.patch_embedding, MupRole::Input);
        if let Some(token) = &self.class_token {
            roles.vector(token);
        }
        roles.vector(&self.position_embedding);
        for block in &self.blocks {
            roles.block(block);
        }
        roles.norm(&self.final_norm);
        roles.linear(&self.head, MupRole::Output);
        roles.0
    }
}

/// The matcher: layers reading descriptors or positions (fixed widths) are input weights,
/// everything of width `d` inside is hidden (attention, message updates, GraphSAGE past its first
/// layer, the final projection whose dot products score matches), the matchability head is the
/// output; the dustbin score is a vector.
impl MupModule for Matcher {
    fn mup_roles(&self) -> Vec<MupTensorRole> {
        let mut roles = Roles::default();
        if let Some(input) = &self.input {
            roles.linear(input, MupRole::Input);
        }
        for (i, layer) in self.sage.iter().enumerate() {
            let role = if i == 0 {
                MupRole::Input
            } else {
                MupRole::Hidden
            };
            roles.linear(&layer.self_weight, role);
            roles.linear(&layer.neighbour_weight, role);
        }
        if let Some(encoder) = &self.keypoint_encoder {
            for layer in &encoder.layers {
                roles.linear(layer, MupRole::Input);
            }
        }
        if let Some(frequencies) = &self.rotary_frequencies {
            roles.linear(frequencies, MupRole::Input);
        }
        for layer in &self.self_attention {
            roles.attentional(layer);
        }
        for layer in &self.rotary_attention {
            roles.linear(&layer.qkv, MupRole::Hidden);
            roles.linear(&layer.output, MupRole::Hidden);
            roles.update(&layer.update);
        }
        for layer in &self.cross_attention {
            roles.attentional(layer);
        }
        roles.linear(&self.final_projection, MupRole::Hidden);
        if let Some(head) = &self.matchability {
            roles.linear(head, MupRole::Output);
        }
        if let Some(dustbin) = &self.dustbin {
            roles.vector(dustbin);
        }
        roles.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::{Module, ModuleVisitor, ParamId};
    use burn::tensor::Device;
    use std::collections::BTreeSet;

    fn visited<M: Module>(model: &M) -> BTreeSet<u64> {
        struct Ids(BTreeSet<u64>);
        impl ModuleVisitor for Ids {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                self.0.insert(param.id.val());
            }
        }
        let mut ids = Ids(BTreeSet::new());
        model.visit(&mut ids);
        ids.0
    }

    /// Every float parameter is declared exactly once.
    fn declares_each_parameter_once<M: Module + MupModule>(model: &M) -> Vec<MupTensorRole> {
        let roles = model.mup_roles();
        let declared: Vec<u64> = roles.iter().map(|r| r.id.val()).collect();
        let unique: BTreeSet<u64> = declared.iter().copied().collect();
        assert_eq!(unique.len(), declared.len(), "a parameter declared twice");
        assert_eq!(unique, visited(model));
        roles
    }

    fn role_of(roles: &[MupTensorRole], id: ParamId) -> (MupRole, usize) {
        let r = roles.iter().find(|r| r.id == id).unwrap();
        (r.role, r.fan_in)
    }

    #[test]
    fn matcher_roles_cover_every_preset() {
        use crate::matcher::MatcherConfig;
        let device = Device::default();
        for config in [
            MatcherConfig::gims(),
            MatcherConfig::superglue(),
            MatcherConfig::lightglue(),
        ] {
            let model = config.init(&device);
            let roles = declares_each_parameter_once(&model);
            assert_eq!(
                role_of(&roles, model.final_projection.weight.id),
                (MupRole::Hidden, 64)
            );
            if let Some(sage) = model.sage.first() {
                assert_eq!(
                    role_of(&roles, sage.self_weight.weight.id),
                    (MupRole::Input, 32)
                );
            }
            if let Some(head) = &model.matchability {
                assert_eq!(role_of(&roles, head.weight.id), (MupRole::Output, 64));
            }
        }
    }

    #[test]
    fn mlp_classifier_roles() {
        let model = crate::MlpClassifierConfig::new().init(&Device::default());
        let roles = declares_each_parameter_once(&model);
        assert_eq!(
            role_of(&roles, model.hidden[0].weight.id),
            (MupRole::Input, 784)
        );
        assert_eq!(
            role_of(&roles, model.hidden[1].weight.id),
            (MupRole::Hidden, 512)
        );
        assert_eq!(
            role_of(&roles, model.head.weight.id),
            (MupRole::Output, 256)
        );
    }

    #[test]
    fn language_model_roles() {
        let device = Device::default();
        for tied in [false, true] {
            let model = crate::TransformerLmConfig::new(65)
                .with_tie_embeddings(tied)
                .init(&device);
            let roles = declares_each_parameter_once(&model);
            assert_eq!(
                role_of(&roles, model.token_embedding.weight.id),
                (MupRole::Input, 65)
            );
            let attention = &model.blocks[0].attention;
            let d_model = attention.query.weight.dims()[0];
            assert_eq!(
                role_of(&roles, attention.query.weight.id),
                (MupRole::Hidden, d_model)
            );
            let ff = &model.blocks[0].feed_forward;
            let d_ff = ff.contract.weight.dims()[0];
            assert_eq!(
                role_of(&roles, ff.contract.weight.id),
                (MupRole::Hidden, d_ff)
            );
            if let Some(head) = &model.head {
                assert_eq!(role_of(&roles, head.weight.id), (MupRole::Output, d_model));
            }
        }
    }

    #[test]
    fn vit_roles() {
        let model = crate::VitClassifierConfig::new().init(&Device::default());
        let roles = declares_each_parameter_once(&model);
        let patch_pixels = model.patch_embedding.weight.dims()[0];
        assert_eq!(
            role_of(&roles, model.patch_embedding.weight.id),
            (MupRole::Input, patch_pixels)
        );
        assert_eq!(role_of(&roles, model.head.weight.id).0, MupRole::Output);
        assert_eq!(
            role_of(&roles, model.position_embedding.id).0,
            MupRole::Vector
        );
    }
}

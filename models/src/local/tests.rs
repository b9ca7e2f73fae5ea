//! Shapes, the end-to-end path, and gradient isolation of every local-learning network.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Int, Tensor, TensorData, Tolerance};
use tempering_core::local_stages::{LocalStages, StageFeatures};

use super::*;
use crate::vit::VitClassifierConfig;

fn images(batch: usize, device: &Device) -> Tensor<3> {
    let values: Vec<f32> = (0..batch * 28 * 28)
        .map(|i| ((i * 7919) as f32 * 0.618).sin())
        .collect();
    Tensor::from_data(TensorData::new(values, [batch, 28, 28]), device)
}

fn targets(batch: usize, device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(
        TensorData::new(
            (0..batch as i64).map(|i| i % 10).collect::<Vec<_>>(),
            [batch],
        ),
        device,
    )
}

/// Counts the float parameters that have a gradient.
struct WithGradient<'a> {
    grads: &'a burn::tensor::Gradients,
    with: usize,
    total: usize,
}

impl ModuleVisitor for WithGradient<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.total += 1;
        if param.val().grad(self.grads).is_some() {
            self.with += 1;
        }
    }
}

fn parameters_with_gradient<M: Module>(module: &M, grads: &burn::tensor::Gradients) -> usize {
    let mut v = WithGradient {
        grads,
        with: 0,
        total: 0,
    };
    module.visit(&mut v);
    v.with
}

/// Each stage's local loss on a detached input reaches its own stage's body and no other
/// stage's; the logits have one row per image.
fn check_staged<M, P>(model: &M, device: &Device, stage_params: P)
where
    M: LocalStages<Input = Tensor<3>>,
    P: Fn(&M, usize, &burn::tensor::Gradients) -> (usize, usize),
{
    let (x, y) = (images(4, device), targets(4, device));
    let mut features = model.first_features(x.clone());
    for k in 0..model.stage_count() {
        let input = features.clone().detach();
        let output = model.stage(k, input.clone());
        let loss = model.local_loss(k, &input, &output, &y);
        assert_eq!(loss.dims(), [1]);
        let grads = loss.backward();
        let (own, others) = stage_params(model, k, &grads);
        assert!(own > 0, "stage {k}'s loss reached none of its parameters");
        assert_eq!(others, 0, "stage {k}'s loss reached another stage's body");
        features = output.detach();
    }
    assert_eq!(model.logits(x).dims(), [4, 10]);
}

#[test]
fn residual_networks_with_every_auxiliary_kind() {
    let device = Device::default().autodiff();
    let kinds = [
        AuxiliaryKind::Greedy,
        AuxiliaryKind::Dgl,
        AuxiliaryKind::AugLocal { depth: 2, tau: 0.5 },
    ];
    for kind in kinds {
        for stages in [1, 3, 7] {
            let config = LocalResNetConfig::new()
                .with_widths(vec![4, 4, 4, 8, 8, 16, 16])
                .with_stages(stages)
                .with_auxiliary(kind);
            let model = config.init(&device);
            assert_eq!(model.stage_count(), stages);
            assert_eq!(model.auxiliary.len(), stages - 1);
            let bounds = config.stage_bounds();
            check_staged(&model, &device, |m, k, grads| {
                let count = |range: std::ops::Range<usize>| {
                    m.layers[range]
                        .iter()
                        .map(|l| parameters_with_gradient(l, grads))
                        .sum::<usize>()
                };
                let own = count(bounds[k]..bounds[k + 1]);
                let others = count(0..bounds[k]) + count(bounds[k + 1]..m.layers.len());
                (own, others)
            });
        }
    }
}

/// AugLocal with 7 layers, one per stage, depth 3, τ 0.5: the rules give depths
/// round(3 − l/5) = [3, 3, 3, 2, 2, 2], capped by the layers left after each stage (one after
/// layer 5).
#[test]
fn auglocal_heads_copy_the_sampled_later_layers() {
    let device = Device::default();
    let model = LocalResNetConfig::new()
        .with_widths(vec![4, 4, 4, 8, 8, 16, 16])
        .with_auxiliary(AuxiliaryKind::AugLocal { depth: 3, tau: 0.5 })
        .init(&device);
    let depths: Vec<usize> = model
        .auxiliary
        .iter()
        .map(|h| match h {
            AuxiliaryHead::AugLocal(head) => head.depth(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(depths, vec![3, 3, 3, 2, 2, 1]);
}

#[test]
fn mono_forward_layers_are_isolated() {
    let device = Device::default().autodiff();
    let model = MonoForwardMlpConfig::new()
        .with_hidden_sizes(vec![16, 12, 8])
        .init(&device);
    check_staged(&model, &device, |m, k, grads| {
        let own = parameters_with_gradient(&m.layers[k], grads)
            + parameters_with_gradient(&m.projections[k], grads);
        let others = (0..m.layers.len())
            .filter(|&j| j != k)
            .map(|j| {
                parameters_with_gradient(&m.layers[j], grads)
                    + parameters_with_gradient(&m.projections[j], grads)
            })
            .sum();
        (own, others)
    });
    // Prediction is the last layer's goodness.
    let x = images(3, &device);
    let last = model.goodness(x.clone().reshape([3, 784])).pop().unwrap();
    last.into_data()
        .assert_approx_eq::<f32>(&model.logits(x).into_data(), Tolerance::absolute(1e-6));
}

#[test]
fn feature_reconstruction_vit_modules_are_isolated() {
    let device = Device::default().autodiff();
    for modules in [1, 2, 4] {
        let vit = VitClassifierConfig::new()
            .with_patch_size(7)
            .with_d_model(16)
            .with_n_heads(2);
        let model = FeatureReconstructionVitConfig::new(vit)
            .with_modules(modules)
            .init(&device);
        let per = 4 / modules;
        check_staged(&model, &device, |m, k, grads| {
            let count = |j: usize| parameters_with_gradient(&m.vit.blocks[j], grads);
            let own = (k * per..(k + 1) * per).map(count).sum();
            let others = (0..4).filter(|j| j / per != k).map(count).sum::<usize>()
                + if k > 0 {
                    parameters_with_gradient(&m.vit.patch_embedding, grads)
                } else {
                    0
                };
            (own, others)
        });
        // The stages chained give the ViT's logits.
        let x = images(2, &device);
        let mut f = model.first_features(x.clone());
        for k in 0..modules {
            f = model.stage(k, f);
        }
        model
            .vit
            .classify_tokens(f)
            .into_data()
            .assert_approx_eq::<f32>(&model.logits(x).into_data(), Tolerance::absolute(1e-5));
    }
}

#[test]
fn bad_configs_are_named() {
    let err = LocalResNetConfig::new().with_stages(9).check().unwrap_err();
    assert!(err.contains("stages"), "{err}");
    let err = LocalResNetConfig::new()
        .with_widths(vec![16, 24])
        .with_stages(2)
        .check()
        .unwrap_err();
    assert!(err.contains("multiple"), "{err}");
    let err = LocalResNetConfig::new()
        .with_auxiliary(AuxiliaryKind::AugLocal { depth: 0, tau: 0.5 })
        .check()
        .unwrap_err();
    assert!(err.contains("depth"), "{err}");
}

#[test]
fn resnet_parameter_count_matches_the_built_network() {
    let device = Device::default();
    let kinds = [
        AuxiliaryKind::Greedy,
        AuxiliaryKind::Dgl,
        AuxiliaryKind::AugLocal { depth: 2, tau: 0.5 },
        AuxiliaryKind::AugLocal { depth: 1, tau: 0.0 },
        AuxiliaryKind::AugLocal { depth: 9, tau: 0.5 },
    ];
    for widths in [vec![4, 4, 8, 8, 16], vec![2, 6, 6, 12]] {
        for stages in 1..=widths.len() {
            for kind in kinds {
                let config = LocalResNetConfig::new()
                    .with_widths(widths.clone())
                    .with_stages(stages)
                    .with_auxiliary(kind)
                    .with_image_size(12);
                let built = config.init(&device).num_params();
                assert_eq!(
                    config.parameter_count(),
                    Some(built),
                    "{widths:?}, {stages} stages, {kind:?}"
                );
            }
        }
    }
    // An invalid config counts as none.
    assert_eq!(
        LocalResNetConfig::new().with_stages(0).parameter_count(),
        None
    );
}

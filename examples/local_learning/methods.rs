//! The methods the comparison runs, and the network each trains.

use std::path::Path;

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::{Device, Int, Tensor};
use tempering_core::local_stages::LocalStages;
use tempering_models::VitClassifierConfig;
use tempering_models::local::{
    AuxiliaryKind, FeatureReconstructionVitConfig, LocalResNet, LocalResNetConfig,
    MonoForwardMlpConfig,
};
use tempering_models::saved_classifier::{ClassifierArchitecture, SavedClassifier};
use tempering_train::local_learning::{LocalLoop, LocalLoopConfig, LocalOutcome, Training};
use tempering_train::optimizer_loop::LoopError;

use crate::common::classifier_training::{save_config, save_model};

/// A training method and the network family it trains.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// The residual CNN end to end (the baseline of greedy, DGL, AugLocal).
    Backprop,
    /// The CNN in K stages, each with pooling and a linear classifier.
    Greedy,
    /// The CNN in K stages with DGL's small convolutional heads.
    Dgl,
    /// The CNN in K stages with AugLocal's auxiliary networks (depth `--auglocal-depth`, τ 0.5).
    Auglocal,
    /// The MLP end to end (the baseline of Mono-Forward).
    MlpBackprop,
    /// The MLP layer by layer with Mono-Forward's projections.
    MonoForward,
    /// The ViT end to end (the baseline of feature reconstruction).
    VitBackprop,
    /// The ViT in K modules with feature-reconstruction decoders.
    VitReconstruction,
}

impl Method {
    /// The name used in tables and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Method::Backprop => "backprop",
            Method::Greedy => "greedy",
            Method::Dgl => "dgl",
            Method::Auglocal => "auglocal",
            Method::MlpBackprop => "mlp-backprop",
            Method::MonoForward => "mono-forward",
            Method::VitBackprop => "vit-backprop",
            Method::VitReconstruction => "vit-reconstruction",
        }
    }

    /// The end-to-end method this one is compared with (itself for a baseline).
    pub fn baseline(self) -> Method {
        match self {
            Method::Backprop | Method::Greedy | Method::Dgl | Method::Auglocal => Method::Backprop,
            Method::MlpBackprop | Method::MonoForward => Method::MlpBackprop,
            Method::VitBackprop | Method::VitReconstruction => Method::VitBackprop,
        }
    }

    /// Whether it trains end to end.
    pub fn training(self) -> Training {
        if self.baseline() == self {
            Training::EndToEnd
        } else {
            Training::Local
        }
    }

    /// The stages it reports: 1 end to end; `cnn_stages` for the CNN methods, the MLP's layer
    /// count for Mono-Forward, `vit_modules` for feature reconstruction.
    pub fn stages(self, sizes: &Sizes) -> usize {
        match self {
            Method::Greedy | Method::Dgl | Method::Auglocal => sizes.cnn_stages,
            Method::MonoForward => sizes.mlp_hidden.len(),
            Method::VitReconstruction => sizes.vit_modules,
            _ => 1,
        }
    }
}

/// The networks' sizes.
#[derive(Clone, Debug)]
pub struct Sizes {
    /// Channels of the CNN's layers, the stem first.
    pub cnn_widths: Vec<usize>,
    /// Stages of the local CNN methods.
    pub cnn_stages: usize,
    /// AugLocal's auxiliary depth d (of the first stage; later stages decrease linearly).
    pub auglocal_depth: usize,
    /// The MLP's hidden widths (one Mono-Forward stage each).
    pub mlp_hidden: Vec<usize>,
    /// The ViT's settings.
    pub vit: VitClassifierConfig,
    /// Modules of feature reconstruction.
    pub vit_modules: usize,
}

impl Sizes {
    /// The networks of the measured comparison: the residual CNN the flags describe, a 3×1024
    /// MLP, a 4-block ViT of width 64 on 4×4 patches.
    pub fn standard(
        cnn_widths: Vec<usize>,
        cnn_stages: usize,
        auglocal_depth: usize,
        vit_modules: usize,
    ) -> Self {
        Self {
            cnn_widths,
            cnn_stages,
            auglocal_depth,
            mlp_hidden: vec![1024, 1024, 1024],
            vit: VitClassifierConfig::new(),
            vit_modules,
        }
    }

    /// Small networks for quick checks.
    pub fn small() -> Self {
        Self {
            cnn_widths: vec![4, 4, 8, 8],
            cnn_stages: 4,
            auglocal_depth: 2,
            mlp_hidden: vec![32, 32],
            vit: VitClassifierConfig::new()
                .with_patch_size(7)
                .with_d_model(16)
                .with_n_heads(2)
                .with_n_layers(2),
            vit_modules: 2,
        }
    }
}

/// What one training run returns: per-step losses (the last stage's is the last entry of each),
/// seconds, and test logits through `evaluate`.
pub struct Trained {
    /// The losses of each step.
    pub losses: Vec<Vec<f64>>,
    /// Seconds of training.
    pub seconds: f64,
    /// Test accuracy in percent, if test data was given.
    pub accuracy: Option<f64>,
}

/// How long a run trains and where it writes.
#[derive(Clone, Debug)]
pub struct RunPlan<'a> {
    /// Learning rate.
    pub lr: f64,
    /// Batches to train on.
    pub steps: usize,
    /// Where the loop writes its CSV, plot and checkpoint (none: silent, nothing written).
    pub out: Option<&'a std::path::Path>,
    /// Checkpoint every this many steps (0: only at the end).
    pub checkpoint_every: usize,
    /// Continue from the checkpoint in `out` when there is one.
    pub resume: bool,
}

/// Trains `method`'s network on `batches` with `optimizer` as `plan` says, calls
/// `after_training`, then measures accuracy on `test` (images, targets) batches.
#[allow(clippy::too_many_arguments)]
pub fn train_method<I>(
    method: Method,
    sizes: &Sizes,
    device: &Device,
    optimizer: &mut ModuleOptimizer,
    plan: &RunPlan,
    batches: I,
    after_training: &mut dyn FnMut(),
    test: &dyn Fn() -> Vec<(Tensor<3>, Tensor<1, Int>)>,
) -> Result<Trained, LoopError>
where
    I: IntoIterator<Item = (Tensor<3>, Tensor<1, Int>)>,
{
    let run = |label: &str| {
        let config =
            LocalLoopConfig::new(plan.lr, plan.steps).with_checkpoint_every(plan.checkpoint_every);
        let looped = LocalLoop::new(config, method.training()).label(label);
        match plan.out {
            Some(dir) => looped.output_dir(dir).resume(plan.resume),
            None => looped.progress(false),
        }
    };
    let label = format!("{} K={}", method.name(), method.stages(sizes));
    let cnn = |aux: AuxiliaryKind, stages: usize| {
        LocalResNetConfig::new()
            .with_widths(sizes.cnn_widths.clone())
            .with_stages(stages)
            .with_auxiliary(aux)
    };
    let cnn_auxiliary = match method {
        Method::Backprop => Some((AuxiliaryKind::Greedy, 1)),
        Method::Greedy => Some((AuxiliaryKind::Greedy, sizes.cnn_stages)),
        Method::Dgl => Some((AuxiliaryKind::Dgl, sizes.cnn_stages)),
        Method::Auglocal => Some((
            AuxiliaryKind::AugLocal {
                depth: sizes.auglocal_depth,
                tau: 0.5,
            },
            sizes.cnn_stages,
        )),
        _ => None,
    };
    if let Some((aux, stages)) = cnn_auxiliary {
        let config = cnn(aux, stages);
        let outcome = run(&label).run(config.init(device), optimizer, batches)?;
        if let Some(dir) = plan.out {
            save_cnn(dir, &outcome.model, config)?;
        }
        return finish(outcome, after_training, test);
    }
    if matches!(method, Method::MlpBackprop | Method::MonoForward) {
        let model = MonoForwardMlpConfig::new()
            .with_hidden_sizes(sizes.mlp_hidden.clone())
            .init(device);
        return finish(
            run(&label).run(model, optimizer, batches)?,
            after_training,
            test,
        );
    }
    let modules = if method == Method::VitBackprop {
        1
    } else {
        sizes.vit_modules
    };
    let model = FeatureReconstructionVitConfig::new(sizes.vit.clone())
        .with_modules(modules)
        .init(device);
    finish(
        run(&label).run(model, optimizer, batches)?,
        after_training,
        test,
    )
}

/// Writes the trained CNN as `model.bpk` and the config that rebuilds it as `model.json` in
/// `dir`, for `tempering compress` (its backbone convolutions).
fn save_cnn(dir: &Path, model: &LocalResNet, config: LocalResNetConfig) -> Result<(), LoopError> {
    let saved = SavedClassifier::dense(ClassifierArchitecture::LocalResNet(config));
    save_model(&model.valid(), &dir.join("model.bpk"))
        .and_then(|()| save_config(&saved, &dir.join("model.json")))
        .map_err(|e| LoopError::Checkpoint(e.to_string()))
}

fn finish<M: LocalStages<Input = Tensor<3>>>(
    outcome: LocalOutcome<M>,
    after_training: &mut dyn FnMut(),
    test: &dyn Fn() -> Vec<(Tensor<3>, Tensor<1, Int>)>,
) -> Result<Trained, LoopError> {
    after_training();
    let model = outcome.model.valid();
    let (mut correct, mut count) = (0i64, 0usize);
    for (images, targets) in test() {
        let images = images.to_device(&model.devices()[0]);
        let targets = targets.to_device(&model.devices()[0]);
        count += targets.dims()[0];
        let predicted = model.logits(images).argmax(1).flatten::<1>(0, 1);
        correct += predicted.equal(targets).int().sum().into_scalar::<i64>();
    }
    Ok(Trained {
        losses: outcome.steps.into_iter().map(|s| s.losses).collect(),
        seconds: outcome.seconds,
        accuracy: (count > 0).then(|| 100.0 * correct as f64 / count as f64),
    })
}

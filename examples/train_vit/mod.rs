//! `train_vit`: a Vision Transformer ([`VitClassifier`]) trained on Fashion-MNIST with
//! burn-train's `Learner`, through the same path as the quickstart ([`train_classifier`]).

use std::error::Error;

use tempering_core::mup::MupModule;
use tempering_data::ImageAugmentation;
use tempering_models::saved_classifier::{ClassifierArchitecture, SavedClassifier};
use tempering_models::{VitClassifierConfig, VitPooling};

use crate::common::classifier_training::{
    LrSchedule, TrainingPlan, TrainingReport, train_classifier,
};
use crate::common::common_args::{CommonArgs, ExampleDefaults};
use crate::common::optimizer_choice::OptimizerChoice;

/// train_vit's defaults of the common flags.
#[derive(Clone, Debug)]
pub struct TrainVit;

impl ExampleDefaults for TrainVit {
    const NAME: &'static str = "train_vit";
    const SEED: &'static str = "42";
    const OUT: &'static str = "runs/vit";
}

/// Command-line options of `train_vit`.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "train_vit",
    about = "Train a Vision Transformer on Fashion-MNIST, evaluate it on the test split, and \
             save a checkpoint, a metrics CSV and a PNG plot."
)]
pub struct VitArgs {
    /// Passes over the training data.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// The optimizer.
    #[arg(long, value_enum, default_value = "adam")]
    pub optimizer: OptimizerChoice,
    /// Learning rate [default: the optimizer's].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning-rate schedule (cosine: annealed to 0 over the run, usual for ViTs).
    #[arg(long, value_enum, default_value = "cosine")]
    pub schedule: LrSchedule,
    /// Patch side in pixels (must divide 28).
    #[arg(long, default_value_t = 4)]
    pub patch: usize,
    /// Token width.
    #[arg(long, default_value_t = 64)]
    pub d_model: usize,
    /// Encoder blocks.
    #[arg(long, default_value_t = 4)]
    pub layers: usize,
    /// Heads per block.
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    /// Pool with the mean of the patch tokens instead of a class token.
    #[arg(long)]
    pub mean_pool: bool,
    /// Shift each training image by a random offset of up to N pixels along each axis (the
    /// pad-and-crop of ViT recipes; validation and test images are unchanged).
    #[arg(long, default_value_t = 0)]
    pub shift: usize,
    /// Mirror each training image left-right with probability 1/2.
    #[arg(long)]
    pub flip: bool,
    /// Dropout inside the encoder blocks.
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f64,
    /// The flags every training example shares.
    #[command(flatten)]
    pub common: CommonArgs<TrainVit>,
}

impl VitArgs {
    /// The model the flags describe.
    pub fn model_config(&self) -> VitClassifierConfig {
        VitClassifierConfig::new()
            .with_patch_size(self.patch)
            .with_d_model(self.d_model)
            .with_n_layers(self.layers)
            .with_n_heads(self.heads)
            .with_dropout(self.dropout)
            .with_pooling(if self.mean_pool {
                VitPooling::Mean
            } else {
                VitPooling::ClassToken
            })
    }

    /// Rejects values that cannot train, naming the flag.
    pub fn validate(&self) -> Result<(), String> {
        self.common.validate()?;
        if self.epochs == 0 || self.batch_size == 0 {
            return Err("--epochs and --batch-size must be at least 1".into());
        }
        if let Some(lr) = self.lr.filter(|lr| !(lr.is_finite() && *lr > 0.0)) {
            return Err(format!("--lr must be a positive number, got {lr}"));
        }
        if self.shift > 8 {
            return Err(format!(
                "--shift must be at most 8 pixels, got {}",
                self.shift
            ));
        }
        if self.common.limit.is_some_and(|n| n < 24) {
            return Err("--limit must keep at least 24 images (22 to train, 2 to validate)".into());
        }
        self.model_config().check().map_err(|e| {
            let flag = if e.starts_with("patch_size") {
                "--patch"
            } else if e.starts_with("n_heads") {
                "--heads"
            } else if e.starts_with("dropout") {
                "--dropout"
            } else {
                "--d-model/--layers/--heads"
            };
            format!("{flag}: {e}")
        })
    }
}

/// Trains and evaluates the ViT the flags describe; progress goes to stderr.
pub fn run(args: &VitArgs) -> Result<TrainingReport, Box<dyn Error>> {
    args.validate()?;
    let device = args.common.device()?;
    device.seed(args.common.seed);
    let model = args.model_config().init(&device.clone().autodiff());
    let saved = SavedClassifier::dense(ClassifierArchitecture::Vit(args.model_config()));
    let lr = args.lr.unwrap_or(args.optimizer.default_lr());
    let plan = TrainingPlan {
        data: args.common.data.clone(),
        out: args.common.out.clone(),
        epochs: args.epochs,
        batch_size: args.batch_size,
        seed: args.common.seed,
        limit: args.common.limit,
        schedule: args.schedule,
        augmentation: Some(ImageAugmentation {
            max_shift: args.shift,
            horizontal_flip: args.flip,
        }),
    };
    let optimizer = args.optimizer.init(lr, Some(&model.mup_roles()), None)?;
    train_classifier(model, &saved, optimizer, lr, &plan, &device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> VitArgs {
        VitArgs::try_parse_from(std::iter::once("train_vit").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn bad_values_name_the_flag() {
        parse(&[]).validate().unwrap();
        for (args, flag) in [
            (&["--patch", "5"][..], "--patch"),
            (&["--heads", "3"], "--heads"),
            (&["--epochs", "0"], "--epochs"),
            (&["--lr", "0"], "--lr"),
            (&["--dropout", "1"], "--dropout"),
            (&["--shift", "9"], "--shift"),
        ] {
            let e = parse(args).validate().unwrap_err();
            assert!(e.contains(flag), "{args:?}: {e}");
        }
    }

    /// Two epochs of a small ViT on 600 augmented images of the shipped sample: the training
    /// loss falls and the files are written.
    #[test]
    fn a_short_run_learns() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("vit");
        let report = run(&parse(&[
            "--out",
            out.to_str().unwrap(),
            "--epochs",
            "2",
            "--limit",
            "600",
            "--batch-size",
            "32",
            "--patch",
            "7",
            "--d-model",
            "32",
            "--layers",
            "1",
            "--heads",
            "2",
            "--shift",
            "1",
            "--flip",
        ]))
        .unwrap();
        let losses = report.history.points("train", "Loss");
        assert_eq!(losses.len(), 2, "{losses:?}");
        assert!(losses[1].1 < losses[0].1, "{losses:?}");
        assert!(report.model_path.is_file() && report.plot_path.is_file());
    }
}

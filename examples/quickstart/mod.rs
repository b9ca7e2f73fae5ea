//! The quickstart: train a small MLP on Fashion-MNIST with burn-train's `Learner`, evaluate it on
//! the test split, and write a checkpoint, a per-epoch metrics CSV and a PNG of the curves.
//!
//! The binary `quickstart` is a thin command line over [`run`]; tests call [`run`] directly.

use std::error::Error;

use tempering_core::mup::MupModule;
use tempering_models::MlpClassifierConfig;
use tempering_models::saved_classifier::{ClassifierArchitecture, SavedClassifier};

use crate::common::classifier_training::{
    LrSchedule, TrainingPlan, TrainingReport, train_classifier,
};
use crate::common::common_args::{CommonArgs, ExampleDefaults};
use crate::common::optimizer_choice::OptimizerChoice;

/// The quickstart's defaults of the common flags.
#[derive(Clone, Debug)]
pub struct Quickstart;

impl ExampleDefaults for Quickstart {
    const NAME: &'static str = "quickstart";
    const SEED: &'static str = "42";
    const OUT: &'static str = "runs/quickstart";
}

/// Command-line options of the quickstart.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "quickstart",
    about = "Train a small MLP on Fashion-MNIST with burn-train's Learner and the optimizer of \
             your choice, evaluate it on the test split, and save a checkpoint, a metrics CSV \
             and a PNG plot."
)]
pub struct QuickstartArgs {
    /// Passes over the training data.
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// The optimizer.
    #[arg(long, value_enum, default_value = "adam")]
    pub optimizer: OptimizerChoice,
    /// Learning rate [default: the optimizer's: 1e-3, PAdam 0.1, Lion 1e-4].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Hidden layer widths, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "512,256")]
    pub hidden: Vec<usize>,
    /// The flags every training example shares.
    #[command(flatten)]
    pub common: CommonArgs<Quickstart>,
}

impl QuickstartArgs {
    /// Rejects values that cannot train, naming the flag.
    pub fn validate(&self) -> Result<(), String> {
        self.common.validate()?;
        if self.epochs == 0 {
            return Err("--epochs must be at least 1".into());
        }
        if self.batch_size == 0 {
            return Err("--batch-size must be at least 1".into());
        }
        if let Some(lr) = self.lr.filter(|lr| !(lr.is_finite() && *lr > 0.0)) {
            return Err(format!("--lr must be a positive number, got {lr}"));
        }
        if self.hidden.contains(&0) {
            return Err("--hidden widths must be positive".into());
        }
        if self.common.limit.is_some_and(|n| n < 24) {
            return Err("--limit must keep at least 24 images (22 to train, 2 to validate)".into());
        }
        Ok(())
    }
}

/// Trains, evaluates and writes the outputs; progress goes to stderr.
pub fn run(args: &QuickstartArgs) -> Result<TrainingReport, Box<dyn Error>> {
    args.validate()?;
    let device = args.common.device()?;
    device.seed(args.common.seed);
    let config = MlpClassifierConfig::new().with_hidden_sizes(args.hidden.clone());
    let model = config.init(&device.clone().autodiff());
    let saved = SavedClassifier::dense(ClassifierArchitecture::Mlp(config));
    let lr = args.lr.unwrap_or(args.optimizer.default_lr());
    let plan = TrainingPlan {
        data: args.common.data.clone(),
        out: args.common.out.clone(),
        epochs: args.epochs,
        batch_size: args.batch_size,
        seed: args.common.seed,
        limit: args.common.limit,
        schedule: LrSchedule::Constant,
        augmentation: None,
    };
    let optimizer = args.optimizer.init(lr, Some(&model.mup_roles()), None)?;
    train_classifier(model, &saved, optimizer, lr, &plan, &device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> QuickstartArgs {
        QuickstartArgs::try_parse_from(std::iter::once("quickstart").chain(args.iter().copied()))
            .unwrap()
    }

    #[test]
    fn defaults_parse_and_validate() {
        let args = parse(&[]);
        assert_eq!(args.hidden, vec![512, 256]);
        assert_eq!(args.epochs, 5);
        args.validate().unwrap();
    }

    #[test]
    fn bad_values_name_the_flag() {
        assert!(
            parse(&["--epochs", "0"])
                .validate()
                .unwrap_err()
                .contains("--epochs")
        );
        assert!(parse(&["--lr=-1"]).validate().unwrap_err().contains("--lr"));
        assert!(
            parse(&["--hidden", "64,0"])
                .validate()
                .unwrap_err()
                .contains("--hidden")
        );
        assert!(
            parse(&["--limit", "3"])
                .validate()
                .unwrap_err()
                .contains("--limit")
        );
        assert!(QuickstartArgs::try_parse_from(["quickstart", "--backend", "cuda"]).is_err());
        assert!(QuickstartArgs::try_parse_from(["quickstart", "--epochs", "x"]).is_err());
    }
}

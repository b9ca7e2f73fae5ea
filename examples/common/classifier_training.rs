//! Training any image classifier on Fashion-MNIST with burn-train's `Learner`: the loop the
//! quickstart, `train_vit` and the optimizer comparisons share, with its report and checkpoint
//! writer.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::config::Config;
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::Dataset;
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::optim::lr_scheduler::constant::ConstantLr;
use burn::optim::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::tensor::Device;
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::{Learner, SupervisedTraining};
use tempering_core::atomic_write::finish_atomically;
use tempering_data::{
    AugmentingBatcher, FashionMnist, FashionMnistBatcher, FashionMnistDataset, FashionMnistSource,
    ImageAugmentation,
};
use tempering_models::ImageClassifier;
use tempering_models::saved_classifier::SavedClassifier;
use tempering_train::{
    EpochHistory, EpochHistoryLogger, ProgressRenderer, plot_history, write_history_csv,
};

use super::fashion_classifier::FashionClassifier;
use super::test_evaluation::evaluate;

/// What a classifier run measured and wrote.
#[derive(Debug, Clone)]
pub struct TrainingReport {
    /// Where the data came from.
    pub source: FashionMnistSource,
    /// Training / validation / test images used.
    pub sizes: (usize, usize, usize),
    /// Per-epoch metrics of training and validation.
    pub history: EpochHistory,
    /// Test-split accuracy in percent.
    pub test_accuracy: f64,
    /// Mean test-split cross-entropy.
    pub test_loss: f64,
    /// Seconds from loading the data to the end of the test evaluation.
    pub seconds: f64,
    /// The saved model (burnpack).
    pub model_path: PathBuf,
    /// The config that rebuilds the model (`model.json`, read by `tempering compress`).
    pub config_path: PathBuf,
    /// The per-epoch metrics CSV.
    pub csv_path: PathBuf,
    /// The PNG of the curves.
    pub plot_path: PathBuf,
}

/// Splits off the last twelfth of the training split for validation (5,000 of 60,000 images).
fn train_valid_split(train: FashionMnistDataset) -> (FashionMnistDataset, FashionMnistDataset) {
    let n = train.len();
    let valid = (n / 12).max(1);
    (train.slice(0..n - valid), train.slice(n - valid..n))
}

/// What [`train_classifier`] trains on, for how long, and where it writes.
#[derive(Clone, Debug)]
pub struct TrainingPlan {
    /// Fashion-MNIST directory (see [`FashionMnist::load`]).
    pub data: Option<PathBuf>,
    /// Output directory.
    pub out: PathBuf,
    /// Passes over the training data.
    pub epochs: usize,
    /// Images per batch.
    pub batch_size: usize,
    /// Seed of the shuffling.
    pub seed: u64,
    /// Use only the first N training images.
    pub limit: Option<usize>,
    /// How the learning rate moves over the run.
    pub schedule: LrSchedule,
    /// Random changes to the training images (validation and test images are never changed).
    pub augmentation: Option<ImageAugmentation>,
}

/// The learning-rate schedule of a [`TrainingPlan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LrSchedule {
    /// The learning rate throughout.
    Constant,
    /// Cosine annealing from the learning rate to 0 over every iteration of the run
    /// (Loshchilov & Hutter, "SGDR", ICLR 2017, without restarts; burn-optim's scheduler).
    Cosine,
}

/// Trains any image classifier on Fashion-MNIST with burn-train's `Learner` under the plan's
/// learning-rate schedule (progress bars on stderr), evaluates it on the test split, and writes
/// `model.bpk`, `model.json` (`saved`, the config that rebuilds it), `metrics.csv` and
/// `curves.png` into `plan.out`.
pub fn train_classifier<M: ImageClassifier + 'static>(
    model: M,
    saved: &SavedClassifier,
    optimizer: ModuleOptimizer,
    lr: f64,
    plan: &TrainingPlan,
    device: &Device,
) -> Result<TrainingReport, Box<dyn Error>> {
    let started = Instant::now();
    let data = FashionMnist::load(plan.data.as_deref())?;
    let mut train = data.train();
    if let Some(limit) = plan.limit {
        train = train.slice(0..limit.min(train.len()));
    }
    let (train, valid) = train_valid_split(train);
    let test = data.test();
    let sizes = (train.len(), valid.len(), test.len());

    let scheduler: ModuleLrScheduler = match plan.schedule {
        LrSchedule::Constant => ConstantLr::new(lr).into(),
        LrSchedule::Cosine => CosineAnnealingLrSchedulerConfig::new(
            lr,
            (plan.epochs * train.len().div_ceil(plan.batch_size)).max(1),
        )
        .init()?,
    };
    // With no augmentation the batcher hands items straight to `FashionMnistBatcher`.
    let augmentation = plan.augmentation.unwrap_or_default();
    let loader_train = DataLoaderBuilder::new(AugmentingBatcher::new(augmentation, plan.seed))
        .batch_size(plan.batch_size)
        .shuffle(plan.seed)
        .build(train);
    let loader_valid = DataLoaderBuilder::new(FashionMnistBatcher)
        .batch_size(plan.batch_size)
        .build(valid);
    let learner = Learner::new(FashionClassifier::new(model), optimizer, scheduler);

    let history = EpochHistory::new();
    let result = SupervisedTraining::new(&plan.out, loader_train, loader_valid)
        .metric_train_numeric(AccuracyMetric::new())
        .metric_valid_numeric(AccuracyMetric::new())
        .metric_train_numeric(LossMetric::new())
        .metric_valid_numeric(LossMetric::new())
        .with_metric_logger(burn::train::logger::FileMetricLogger::new(&plan.out))
        .with_metric_logger(EpochHistoryLogger::new(history.clone()))
        .with_default_checkpointers()
        .renderer(Box::new(ProgressRenderer::new()))
        .num_epochs(plan.epochs)
        .launch(learner);
    let model = result.model;

    let test_metrics = evaluate(&model, test, plan.batch_size, device)?;
    let seconds = started.elapsed().as_secs_f64();

    let model_path = plan.out.join("model.bpk");
    let csv_path = plan.out.join("metrics.csv");
    let plot_path = plan.out.join("curves.png");
    // The classifier itself, not the training wrapper: its tensors are named as `model.json`'s
    // architecture names them (`hidden.0.weight`).
    save_model(&model.model, &model_path)?;
    let config_path = plan.out.join("model.json");
    save_config(saved, &config_path)?;
    write_history_csv(&csv_path, &history, &[])?;
    plot_history(&plot_path, &history)?;

    Ok(TrainingReport {
        source: data.source().clone(),
        sizes,
        history,
        test_accuracy: test_metrics.accuracy,
        test_loss: test_metrics.loss,
        seconds,
        model_path,
        config_path,
        csv_path,
        plot_path,
    })
}

/// Prints what a classifier run measured and wrote (the quickstart's and `train_vit`'s output).
pub fn print_report(report: &TrainingReport) {
    let (train, valid, test) = report.sizes;
    println!(
        "data: {} ({train} train / {valid} validation / {test} test images)",
        report.source
    );
    println!(
        "test accuracy {:.2} %  test loss {:.4}  in {:.1} s",
        report.test_accuracy, report.test_loss, report.seconds
    );
    println!("model checkpoint: {}", report.model_path.display());
    println!("model config: {}", report.config_path.display());
    println!("metrics per epoch: {}", report.csv_path.display());
    println!("loss and accuracy plot: {}", report.plot_path.display());
}

/// Saves a module as burnpack, atomically.
pub fn save_model<M: Module>(model: &M, path: &Path) -> Result<(), Box<dyn Error>> {
    finish_atomically(path, |tmp| {
        model.clone().save_file(tmp).map_err(std::io::Error::other)
    })
    .map_err(|e| format!("cannot save the model to {}: {e}", path.display()).into())
}

/// Saves a classifier's config (`model.json`), atomically.
pub fn save_config(saved: &SavedClassifier, path: &Path) -> Result<(), Box<dyn Error>> {
    finish_atomically(path, |tmp| saved.save(tmp))
        .map_err(|e| format!("cannot save the model config to {}: {e}", path.display()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_is_the_last_twelfth() {
        let data = FashionMnist::load_from(FashionMnistSource::EmbeddedSample).unwrap();
        let (train, valid) = train_valid_split(data.train());
        // 4000 / 12 = 333 (integer division).
        assert_eq!((train.len(), valid.len()), (3667, 333));
    }
}

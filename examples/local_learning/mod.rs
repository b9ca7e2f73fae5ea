//! The `local_learning` example: local learning against backprop on Fashion-MNIST — AugLocal,
//! DGL and greedy heads on a residual CNN, Mono-Forward on an MLP, feature reconstruction on a
//! ViT — with test accuracy, wall time and peak memory as a ratio to backprop on the same
//! network. Each configuration runs in its own process (this binary with `--only`), so that
//! its peak resident memory (`VmHWM`) is its own.

pub mod methods;
pub mod peak_memory;
pub mod report;
#[cfg(test)]
mod tests;

use std::error::Error;
use std::process::Command;

use std::sync::Arc;

use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::{Device, Int, Tensor};
use tempering_core::split_mix::{self, SplitMix64};
use tempering_data::{FashionMnist, FashionMnistBatcher, FashionMnistDataset};
use tempering_models::local::LocalResNetConfig;

use crate::common::common_args::{CommonArgs, ExampleDefaults};
use crate::common::optimizer_choice::OptimizerChoice;
use crate::common::train_split::train_split;
use methods::{Method, RunPlan, Sizes, train_method};
use report::RunRow;

/// local_learning's defaults of the common flags.
#[derive(Clone, Debug)]
pub struct LocalLearning;

impl ExampleDefaults for LocalLearning {
    const NAME: &'static str = "local_learning";
    const SEED: &'static str = "42";
    const OUT: &'static str = "runs/local_learning";
}

/// Command-line options of `local_learning`.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "local_learning",
    about = "Compare local learning (AugLocal, DGL, greedy, Mono-Forward, feature reconstruction) \
             with backprop on Fashion-MNIST: test accuracy, wall time, peak memory ratio."
)]
pub struct LocalLearningArgs {
    /// The methods to run (comma-separated) [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub methods: Vec<Method>,
    /// Passes over the training data.
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// The optimizer of every method (μLO needs muP roles, which these networks do not
    /// declare: splo is the learned optimizer here).
    #[arg(long, value_enum, default_value = "adam")]
    pub optimizer: OptimizerChoice,
    /// Learning rate of every method [default: the optimizer's: 1e-3 for Adam].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Stages K of the CNN's local methods, 1 to the number of layers [default: every layer
    /// its own stage, as in AugLocal].
    #[arg(long)]
    pub cnn_stages: Option<usize>,
    /// Channels of the CNN's layers (the stem, then residual blocks; a block wider than the
    /// one before halves the resolution), comma-separated, each a multiple of the one before.
    #[arg(long, value_delimiter = ',', default_value = "8,8,8,16,16,32,32")]
    pub cnn_widths: Vec<usize>,
    /// AugLocal's auxiliary depth d: layers sampled for the first stage's auxiliary network
    /// (later stages' depths decrease linearly with τ = 0.5, as in the paper).
    #[arg(long, default_value_t = 2)]
    pub auglocal_depth: usize,
    /// Modules K of the ViT's feature reconstruction (1, 2 or 4).
    #[arg(long, default_value_t = 2)]
    pub vit_modules: usize,
    /// Small networks (for quick checks).
    #[arg(long)]
    pub small: bool,
    /// Continue each run from its checkpoint (written every epoch) under `--out`.
    #[arg(long)]
    pub resume: bool,
    /// Run one method in this process and print its result line (what the comparison spawns).
    #[arg(long, value_enum)]
    pub only: Option<Method>,
    /// The flags every training example shares.
    #[command(flatten)]
    pub common: CommonArgs<LocalLearning>,
}

impl LocalLearningArgs {
    /// Rejects values that cannot run, naming the flag.
    pub fn validate(&self) -> Result<(), String> {
        self.common.validate()?;
        if self.epochs == 0 || self.batch_size == 0 {
            return Err("--epochs and --batch-size must be at least 1".into());
        }
        if let Some(lr) = self.lr.filter(|lr| !(lr.is_finite() && *lr > 0.0)) {
            return Err(format!("--lr must be a positive number, got {lr}"));
        }
        if self.optimizer.needs_mup_roles() {
            return Err(format!(
                "--optimizer {} scales each tensor's step by its muP role, and the \
                        local-learning networks declare none; try splo or adamw",
                self.optimizer.name()
            ));
        }
        LocalResNetConfig::new()
            .with_widths(self.cnn_widths.clone())
            .with_stages(self.cnn_stages())
            .check()
            .map_err(|e| format!("--cnn-widths / --cnn-stages: {e}"))?;
        if self.auglocal_depth == 0 {
            return Err("--auglocal-depth must be at least 1".into());
        }
        if ![1, 2, 4].contains(&self.vit_modules) {
            return Err(format!(
                "--vit-modules must be 1, 2 or 4, got {}",
                self.vit_modules
            ));
        }
        Ok(())
    }

    /// The learning rate: `--lr`, or the optimizer's default.
    pub fn lr(&self) -> f64 {
        self.lr.unwrap_or(self.optimizer.default_lr())
    }

    /// The CNN's stages: `--cnn-stages`, or one per layer of `--cnn-widths`.
    pub fn cnn_stages(&self) -> usize {
        self.cnn_stages.unwrap_or(self.cnn_widths.len())
    }

    fn sizes(&self) -> Sizes {
        if self.small {
            Sizes::small()
        } else {
            Sizes::standard(
                self.cnn_widths.clone(),
                self.cnn_stages(),
                self.auglocal_depth,
                self.vit_modules,
            )
        }
    }
}

/// `epochs` passes over `train` in batches built as they are drawn (only one batch of images is
/// alive at a time, so the data loader does not weigh on the memory being measured), shuffled
/// per epoch from `seed`.
pub fn epoch_batches(
    train: FashionMnistDataset,
    batch_size: usize,
    epochs: usize,
    seed: u64,
    device: Device,
) -> impl Iterator<Item = (Tensor<3>, Tensor<1, Int>)> {
    let train = Arc::new(train);
    (0..epochs as u64).flat_map(move |epoch| {
        let mut order: Vec<usize> = (0..train.len()).collect();
        let mut rng = SplitMix64::new(split_mix::at(seed, epoch));
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let chunks: Vec<Vec<usize>> = order.chunks(batch_size).map(<[usize]>::to_vec).collect();
        let (train, device) = (train.clone(), device.clone());
        chunks.into_iter().map(move |chunk| {
            let items = chunk.iter().filter_map(|&i| train.get(i).ok()).collect();
            let batch = FashionMnistBatcher.batch(items, &device);
            (batch.images, batch.targets)
        })
    })
}

/// Runs one method in this process and returns its row.
pub fn run_one(args: &LocalLearningArgs, method: Method) -> Result<RunRow, Box<dyn Error>> {
    args.validate()?;
    let device = args.common.device()?;
    let data = FashionMnist::load(args.common.data.as_deref())?;
    let train = train_split(&data, args.common.limit);
    let steps_per_epoch = train.len().div_ceil(args.batch_size);
    let steps = steps_per_epoch * args.epochs;
    let batches = epoch_batches(
        train,
        args.batch_size,
        args.epochs,
        args.common.seed,
        device.clone().autodiff(),
    );
    let test_loader = DataLoaderBuilder::new(FashionMnistBatcher)
        .batch_size(1000)
        .set_device(device.clone())
        .build(data.test());
    let test = || {
        test_loader
            .iter()
            .map_while(|b| b.ok())
            .map(|b| (b.images, b.targets))
            .collect::<Vec<_>>()
    };
    device.seed(args.common.seed);
    let sizes = args.sizes();
    let mut optimizer = args.optimizer.init(args.lr(), None, None)?;
    peak_memory::reset_peak();
    let before = peak_memory::status_kib("VmRSS")?;
    let mut peak = 0;
    let mut after = || peak = peak_memory::status_kib("VmHWM").unwrap_or(0);
    let out = args.common.out.join(method.name());
    let trained = train_method(
        method,
        &sizes,
        &device.clone().autodiff(),
        &mut optimizer,
        &RunPlan {
            lr: args.lr(),
            steps,
            out: Some(&out),
            checkpoint_every: steps_per_epoch,
            resume: args.resume,
        },
        batches,
        &mut after,
        &test,
    )?;
    let last = |k: usize| -> f64 {
        let tail = &trained.losses[trained.losses.len().saturating_sub(k)..];
        tail.iter().map(|l| *l.last().unwrap()).sum::<f64>() / tail.len() as f64
    };
    Ok(RunRow {
        method: method.name().into(),
        stages: method.stages(&sizes),
        accuracy: trained.accuracy.unwrap_or(f64::NAN),
        seconds: trained.seconds,
        peak_kib: peak,
        growth_kib: peak.saturating_sub(before),
        final_loss: last(50),
    })
}

/// Runs every chosen method in its own process, then writes and prints the comparison.
pub fn compare(args: &LocalLearningArgs) -> Result<Vec<RunRow>, Box<dyn Error>> {
    args.validate()?;
    let methods: Vec<Method> = if args.methods.is_empty() {
        <Method as clap::ValueEnum>::value_variants().to_vec()
    } else {
        args.methods.clone()
    };
    std::fs::create_dir_all(&args.common.out)?;
    let exe = std::env::current_exe()?;
    let forwarded: Vec<String> = std::env::args().skip(1).collect();
    let mut rows = Vec::new();
    for (i, method) in methods.iter().enumerate() {
        eprintln!("[{}/{}] {} …", i + 1, methods.len(), method.name());
        let output = Command::new(&exe)
            .args(&forwarded)
            .args(["--only", method.name()])
            .stderr(std::process::Stdio::inherit())
            .output()?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "the {} run failed ({}): {stdout}",
                method.name(),
                output.status
            )
            .into());
        }
        let row = stdout
            .lines()
            .find_map(RunRow::parse)
            .ok_or_else(|| format!("the {} run printed no result line: {stdout}", method.name()))?;
        eprintln!("    {}", row.line());
        rows.push(row);
    }
    report::write(&args.common.out, &rows)?;
    Ok(rows)
}

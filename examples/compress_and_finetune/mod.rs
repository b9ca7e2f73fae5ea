//! ALDS's comparison at CPU scale (Liebenwein et al., "Compressing Neural Networks: Towards
//! Determining the Optimal Layer-wise Decomposition", NeurIPS 2021): a trained Fashion-MNIST
//! MLP (`--model mlp`) or residual CNN (`--model cnn`, its convolutions compressed) compressed
//! to the same parameter budgets by ALDS (chunks searched per layer with the ranks), ALDS's
//! error-only ablation (3 chunks in every layer), plain truncated SVD (1 chunk) and global
//! magnitude pruning; each evaluated right after compression and after fine-tuning (the
//! factorized model as it is, the pruned one with its mask in force).
//!
//! The binary `compress_and_finetune` is a thin command line over [`run`]; tests call [`run`].

use std::error::Error;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use tempering_core::compression::LowRankExport;
use tempering_data::{FashionMnist, FashionMnistDataset, FashionMnistSource};
use tempering_models::local::LocalResNetConfig;
use tempering_models::{ImageClassifier, MlpClassifierConfig};
use tempering_prune::alds_search::AldsSearchConfig;
use tempering_prune::low_rank::LowRankConfig;
use tempering_prune::low_rank_export::factorize_model;
use tempering_prune::{Method, ModuleMasks, PruneConfig};

use crate::common::accuracy_panels::{MethodPoints, plot_accuracy_panels};
use crate::common::common_args::{CommonArgs, ExampleDefaults, shipped_sample};
use crate::common::fashion_classifier::FashionClassifier;
use crate::common::masked_training::train_epochs;
use crate::common::test_evaluation::evaluate;
use crate::common::train_split::train_split;
use crate::common::weight_counts::layer_counts;

/// The compression methods compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Compressor {
    /// ALDS: chunks and ranks searched per layer.
    Alds,
    /// ALDS's error-only ablation: 3 chunks in every layer, ranks allocated.
    AldsK3,
    /// Truncated SVD: 1 chunk, ranks allocated.
    Svd,
    /// Global magnitude pruning to the same count of non-zero weights.
    Magnitude,
}

impl Compressor {
    /// All of them, in table order.
    pub const ALL: [Compressor; 4] = [Self::Alds, Self::AldsK3, Self::Svd, Self::Magnitude];

    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Alds => "ALDS",
            Self::AldsK3 => "ALDS, k = 3",
            Self::Svd => "SVD, k = 1",
            Self::Magnitude => "Global MP",
        }
    }
}

/// The model trained and compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelKind {
    /// An MLP (`--hidden`); every weight matrix is compressed.
    Mlp,
    /// The residual CNN of `local_learning` trained end to end (`--widths`); its convolutions
    /// are compressed (the stem, the blocks' and the projection shortcuts'), the head is not.
    Cnn,
}

/// The CNN's weights the methods compress, by module path in the wrapped classifier.
const CNN_TARGETS: &str = r"^model\.layers\.[0-9]+\..*conv\.weight$";

/// compress_and_finetune's defaults of the common flags.
#[derive(Clone, Debug)]
pub struct CompressAndFinetune;

impl ExampleDefaults for CompressAndFinetune {
    const NAME: &'static str = "compress_and_finetune";
    const SEED: &'static str = "42";
    const OUT: &'static str = "runs/compress_and_finetune";
}

/// Command-line options of `compress_and_finetune`.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "compress_and_finetune",
    about = "Train an MLP on Fashion-MNIST, compress it to several parameter budgets by ALDS \
             (chunks searched), ALDS with 3 chunks, truncated SVD and global magnitude pruning, \
             fine-tune each, and print and plot test accuracy against the budget."
)]
pub struct CompressFinetuneArgs {
    /// Epochs of dense training.
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    /// Epochs of fine-tuning after compression.
    #[arg(long, default_value_t = 1)]
    pub finetune_epochs: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// The model: the MLP of `--hidden`, or the residual CNN of `--widths`.
    #[arg(long, value_enum, default_value_t = ModelKind::Mlp)]
    pub model: ModelKind,
    /// Hidden layer widths of the MLP, comma-separated (LeNet-300-100 by default).
    #[arg(long, value_delimiter = ',', default_value = "300,100")]
    pub hidden: Vec<usize>,
    /// Channels of the CNN's stem and residual blocks, comma-separated (a width larger than the
    /// one before halves the resolution).
    #[arg(long, value_delimiter = ',', default_value = "8,8,8,16,16,32,32")]
    pub widths: Vec<usize>,
    /// Adam's learning rate for training; fine-tuning uses a tenth of it.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Parameter budgets: fractions of the weight matrices' parameters kept, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.03,0.05,0.1,0.2")]
    pub budgets: Vec<f64>,
    /// Methods, comma-separated (default: all four).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Compressor>,
    /// The flags every training example shares.
    #[command(flatten)]
    pub common: CommonArgs<CompressAndFinetune>,
}

impl CompressFinetuneArgs {
    /// A toy-scale run on the Fashion-MNIST sample shipped with tempering-data (1,024 training
    /// images, MLP 784-64-32-10, batches of 32); the tests start from it.
    pub fn on_shipped_sample(out: PathBuf) -> Self {
        Self {
            epochs: 3,
            finetune_epochs: 1,
            batch_size: 32,
            model: ModelKind::Mlp,
            hidden: vec![64, 32],
            widths: vec![4, 4, 8],
            lr: 1e-3,
            budgets: vec![0.05, 0.2],
            only: Vec::new(),
            common: CommonArgs::default()
                .with_data(Some(shipped_sample()))
                .with_out(out)
                .with_limit(Some(1024)),
        }
    }

    /// Rejects values that cannot run, naming the flag.
    pub fn validate(&self) -> Result<(), String> {
        self.common.validate()?;
        if self.epochs == 0 || self.batch_size == 0 {
            return Err("--epochs and --batch-size must be at least 1".into());
        }
        if self.hidden.contains(&0) {
            return Err("--hidden widths must be positive".into());
        }
        if self.model == ModelKind::Cnn {
            LocalResNetConfig::new()
                .with_widths(self.widths.clone())
                .with_stages(1)
                .check()
                .map_err(|e| format!("--widths: {e}"))?;
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(format!("--lr must be a positive number, got {}", self.lr));
        }
        if self.budgets.is_empty() {
            return Err("--budgets needs at least one value".into());
        }
        if let Some(b) = self.budgets.iter().find(|b| !(**b > 0.0 && **b <= 1.0)) {
            return Err(format!(
                "--budgets: {b} is not a fraction in (0, 1] of the parameters to keep"
            ));
        }
        if self.common.limit.is_some_and(|n| n < self.batch_size) {
            return Err("--limit must keep at least one batch of training images".into());
        }
        Ok(())
    }
}

/// One compressed and fine-tuned model.
#[derive(Clone, Debug, PartialEq)]
pub struct CompressedResult {
    /// The method.
    pub compressor: Compressor,
    /// The budget asked for.
    pub budget: f64,
    /// Parameters of the weight matrices after compression (non-zero weights for magnitude
    /// pruning, factor entries for the low-rank methods).
    pub parameters: u64,
    /// The largest relative spectral error of a layer (low-rank methods).
    pub max_error: Option<f64>,
    /// Chunks per layer, input to output (low-rank methods).
    pub chunks: Vec<usize>,
    /// Test accuracy (%) right after compression.
    pub accuracy_compressed: f64,
    /// Test accuracy (%) after fine-tuning.
    pub accuracy_finetuned: f64,
    /// Seconds the compression took.
    pub seconds: f64,
}

/// What a run measured and wrote.
#[derive(Clone, Debug)]
pub struct CompressFinetuneReport {
    /// Where the data came from.
    pub source: FashionMnistSource,
    /// Test accuracy (%) of the dense model.
    pub dense_accuracy: f64,
    /// Parameters of the dense weights the methods compress (the MLP's weight matrices, the
    /// CNN's convolutions).
    pub dense_parameters: u64,
    /// One result per method and budget.
    pub results: Vec<CompressedResult>,
    /// The markdown table (also in `table.md`).
    pub table: String,
    /// The PNG of accuracy against budget.
    pub plot_path: PathBuf,
}

/// Trains, compresses, fine-tunes and writes the outputs; progress goes to stderr.
pub fn run(args: &CompressFinetuneArgs) -> Result<CompressFinetuneReport, Box<dyn Error>> {
    args.validate()?;
    let device = args.common.device()?;
    let autodiff = device.clone().autodiff();
    let data = FashionMnist::load(args.common.data.as_deref())?;
    autodiff.seed(args.common.seed);
    match args.model {
        ModelKind::Mlp => {
            let config = MlpClassifierConfig::new()
                .with_hidden_sizes(args.hidden.clone())
                .with_dropout(0.0);
            compare(config.init(&autodiff), &config, None, &data, args, &device)
        }
        ModelKind::Cnn => {
            // One stage: the network trained end to end, no auxiliary networks.
            let config = LocalResNetConfig::new()
                .with_widths(args.widths.clone())
                .with_stages(1);
            let model = config.init(&autodiff);
            compare(model, &config, Some(CNN_TARGETS), &data, args, &device)
        }
    }
}

/// Non-zero entries and entries of the weights `targets` selects (every weight matrix without
/// it).
fn target_counts<M: Module>(model: &M, targets: Option<&regex::Regex>) -> (u64, u64) {
    layer_counts(model)
        .iter()
        .filter(|(name, _, _)| targets.is_none_or(|re| re.is_match(name)))
        .fold((0, 0), |(k, t), (_, kept, n)| {
            (k + *kept as u64, t + *n as u64)
        })
}

/// [`run`] on `model` (its config `config`), compressing the weights `targets` selects (by
/// module path in the wrapped classifier; the methods' default targets without it).
fn compare<M>(
    model: M,
    config: &M::Config,
    targets: Option<&str>,
    data: &FashionMnist,
    args: &CompressFinetuneArgs,
    device: &Device,
) -> Result<CompressFinetuneReport, Box<dyn Error>>
where
    M: LowRankExport + ImageClassifier + 'static,
    M::Exported: ImageClassifier + 'static,
{
    let train = train_split(data, args.common.limit);
    let pattern = targets.map(regex::Regex::new).transpose()?;
    let dense = FashionClassifier::new(model);
    let started = Instant::now();
    let dense = train_epochs(
        dense,
        None,
        &train,
        args.batch_size,
        args.common.seed,
        args.epochs,
        args.lr,
    );
    let dense_accuracy = evaluate(&dense, data.test(), 1000, device)?.accuracy;
    eprintln!(
        "dense: {dense_accuracy:.2} % test accuracy after {} epochs ({:.1} s)",
        args.epochs,
        started.elapsed().as_secs_f64()
    );
    let dense_parameters = target_counts(&dense, pattern.as_ref()).1;
    let compressors = if args.only.is_empty() {
        Compressor::ALL.to_vec()
    } else {
        Compressor::ALL
            .into_iter()
            .filter(|c| args.only.contains(c))
            .collect()
    };
    let mut results = Vec::new();
    for &budget in &args.budgets {
        for &compressor in &compressors {
            let started = Instant::now();
            let result = match compressor {
                Compressor::Magnitude => {
                    let masks = ModuleMasks::compute(
                        &dense,
                        &PruneConfig::new(Method::GlobalMagnitude, 1.0 - budget)
                            .with_include(targets.map(str::to_string)),
                    )?;
                    let pruned = masks.apply(dense.clone());
                    let seconds = started.elapsed().as_secs_f64();
                    let parameters = target_counts(&pruned, pattern.as_ref()).0;
                    let (accuracy_compressed, accuracy_finetuned) = before_and_after_finetuning(
                        pruned,
                        Some(&masks),
                        &train,
                        data.test(),
                        args,
                        device,
                    )?;
                    CompressedResult {
                        compressor,
                        budget,
                        parameters,
                        max_error: None,
                        chunks: Vec::new(),
                        accuracy_compressed,
                        accuracy_finetuned,
                        seconds,
                    }
                }
                low_rank => {
                    let low_rank_config = LowRankConfig {
                        chunks: if low_rank == Compressor::Svd { 1 } else { 3 },
                        search: (low_rank == Compressor::Alds).then(|| AldsSearchConfig {
                            seed: args.common.seed,
                            ..AldsSearchConfig::default()
                        }),
                        ..LowRankConfig::new(budget)
                    };
                    let (factored, _, layers) =
                        factorize_model(dense.model.valid(), config, &low_rank_config)?;
                    let seconds = started.elapsed().as_secs_f64();
                    let factored = FashionClassifier::new(factored).train();
                    let (accuracy_compressed, accuracy_finetuned) = before_and_after_finetuning(
                        factored,
                        None,
                        &train,
                        data.test(),
                        args,
                        device,
                    )?;
                    CompressedResult {
                        compressor,
                        budget,
                        parameters: layers.iter().map(|l| l.parameters_after).sum(),
                        max_error: Some(
                            layers.iter().map(|l| l.relative_error).fold(0.0, f64::max),
                        ),
                        chunks: layers.iter().map(|l| l.chunks).collect(),
                        accuracy_compressed,
                        accuracy_finetuned,
                        seconds,
                    }
                }
            };
            eprintln!("{}", row(&result, dense_parameters));
            results.push(result);
        }
    }
    let table = table(dense_accuracy, dense_parameters, &results);
    std::fs::create_dir_all(&args.common.out)?;
    tempering_core::atomic_write::write_atomically(&args.common.out.join("table.md"), |w| {
        std::io::Write::write_all(w, table.as_bytes())
    })?;
    let plot_path = args.common.out.join("accuracy_vs_budget.png");
    plot(&plot_path, &compressors, &results, dense_accuracy)?;
    Ok(CompressFinetuneReport {
        source: data.source().clone(),
        dense_accuracy,
        dense_parameters,
        results,
        table,
        plot_path,
    })
}

/// Test accuracy (%) of `model` as it is, and after `--finetune-epochs` of Adam at a tenth
/// of `--lr` (masked by `masks` where given).
fn before_and_after_finetuning<M: ImageClassifier + 'static>(
    model: FashionClassifier<M>,
    masks: Option<&ModuleMasks>,
    train: &FashionMnistDataset,
    test: FashionMnistDataset,
    args: &CompressFinetuneArgs,
    device: &Device,
) -> Result<(f64, f64), Box<dyn Error>> {
    let before = evaluate(&model, test.clone(), 1000, device)?.accuracy;
    let tuned = train_epochs(
        model,
        masks,
        train,
        args.batch_size,
        args.common.seed,
        args.finetune_epochs,
        args.lr / 10.0,
    );
    let after = evaluate(&tuned, test, 1000, device)?.accuracy;
    Ok((before, after))
}

fn row(r: &CompressedResult, dense_parameters: u64) -> String {
    let chunks: Vec<String> = r.chunks.iter().map(usize::to_string).collect();
    format!(
        "| {:.0} % | {} | {} ({:.2} %) | {} | {} | {:.2} | {:.2} | {:.1} |",
        100.0 * r.budget,
        r.compressor.name(),
        r.parameters,
        100.0 * r.parameters as f64 / dense_parameters as f64,
        r.max_error.map_or("—".into(), |e| format!("{e:.4}")),
        if chunks.is_empty() {
            "—".into()
        } else {
            chunks.join(" / ")
        },
        r.accuracy_compressed,
        r.accuracy_finetuned,
        r.seconds
    )
}

fn table(dense_accuracy: f64, dense_parameters: u64, results: &[CompressedResult]) -> String {
    let mut t = format!(
        "dense model: {dense_accuracy:.2} % test accuracy, {dense_parameters} parameters in \
         the weights compressed\n\n"
    );
    t.push_str(
        "| budget | method | parameters | largest rel. error | chunks per layer | acc. \
         compressed % | acc. fine-tuned % | compress s |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        let _ = writeln!(t, "{}", row(r, dense_parameters));
    }
    t
}

fn plot(
    path: &std::path::Path,
    compressors: &[Compressor],
    results: &[CompressedResult],
    dense_accuracy: f64,
) -> std::io::Result<()> {
    let methods: Vec<MethodPoints> = compressors
        .iter()
        .map(|&c| MethodPoints {
            label: c.name().to_string(),
            points: results
                .iter()
                .filter(|r| r.compressor == c)
                .map(|r| {
                    (
                        100.0 * r.budget,
                        r.accuracy_compressed,
                        r.accuracy_finetuned,
                    )
                })
                .collect(),
        })
        .collect();
    plot_accuracy_panels(
        path,
        &methods,
        dense_accuracy,
        "parameters kept (% of the weights compressed)",
        ["right after compression", "after fine-tuning"],
    )
}

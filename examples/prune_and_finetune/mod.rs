//! Prune a trained Fashion-MNIST MLP at several sparsities with Global MP (with and without the
//! minimum threshold), layer-wise magnitude, random pruning, the data-aware Wanda and ECoFLaP
//! (calibrated on a few training batches) and M-FAC (second-order, from minibatch gradients),
//! fine-tune each with its mask in force, and print and plot test accuracy against sparsity.
//!
//! It checks the claims of Gupta et al., "Is complexity required for neural network pruning? A
//! case study on global magnitude pruning" (2022) at this scale: Global MP is at least as good
//! as layer-wise magnitude pruning at ≥ 90 % sparsity, and the minimum threshold (MT) prevents
//! layer collapse (a layer pruned away entirely) at the highest sparsity.
//!
//! The binary `prune_and_finetune` is a thin command line over [`run`]; tests call [`run`].

use std::error::Error;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use burn::data::dataloader::DataLoaderBuilder;
use burn::module::Module;
use burn::optim::GradientsParams;
use tempering_data::{FashionMnist, FashionMnistBatcher, FashionMnistDataset, FashionMnistSource};
use tempering_models::{MlpClassifier, MlpClassifierConfig};
use tempering_prune::data_aware::{
    InputNorms, LayerImportance, LinearInputs, ecoflap_sparsities, wanda_masks, wanda_uniform,
    zeroth_order_importance,
};
use tempering_prune::mfac::{MfacPruneConfig, mfac_prune};
use tempering_prune::{Method, ModuleMasks, PruneConfig, PruneError};

use crate::common::accuracy_panels::{MethodPoints, plot_accuracy_panels};
use crate::common::common_args::{CommonArgs, ExampleDefaults, shipped_sample};
use crate::common::fashion_classifier::FashionClassifier;
use crate::common::masked_training::train_epochs;
use crate::common::test_evaluation::evaluate;
use crate::common::train_split::train_split;
use crate::common::weight_counts::{layer_counts, total_counts};

type Model = FashionClassifier<MlpClassifier>;

/// The pruning methods compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Pruner {
    /// Global magnitude pruning, one threshold over all layers.
    Global,
    /// Global MP with the minimum threshold (`--min-keep` percent of all weights per layer).
    GlobalMt,
    /// The same sparsity in every layer, smallest magnitudes first.
    Layer,
    /// The same sparsity in every layer, at random (the control).
    Random,
    /// Wanda: |w|·‖x‖ on calibration inputs, the same sparsity for every output of every
    /// layer.
    Wanda,
    /// ECoFLaP: per-layer sparsity from zeroth-order layer importance, then Wanda.
    Ecoflap,
    /// M-FAC: Optimal Brain Surgeon with the inverse empirical Fisher of minibatch gradients,
    /// one threshold over all layers, the survivors corrected.
    Mfac,
}

impl Pruner {
    /// All of them, in table order.
    pub const ALL: [Pruner; 7] = [
        Self::Global,
        Self::GlobalMt,
        Self::Layer,
        Self::Random,
        Self::Wanda,
        Self::Ecoflap,
        Self::Mfac,
    ];

    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Global => "Global MP",
            Self::GlobalMt => "Global MP + MT",
            Self::Layer => "layer-wise magnitude",
            Self::Random => "random",
            Self::Wanda => "Wanda",
            Self::Ecoflap => "ECoFLaP + Wanda",
            Self::Mfac => "M-FAC",
        }
    }

    /// The masks of this method at `sparsity` over the dense model, and the pruned model (the
    /// masks applied; M-FAC also moves the weights it keeps).
    fn prune(
        self,
        dense: &Model,
        sparsity: f64,
        args: &PruneArgs,
        calibration: &Calibration,
        train: &FashionMnistDataset,
    ) -> Result<(ModuleMasks, Model), PruneError> {
        if self == Self::Mfac {
            return prune_mfac(dense, sparsity, args, train);
        }
        let masks = self.masks(dense, sparsity, args, calibration)?;
        let pruned = masks.apply(dense.clone());
        Ok((masks, pruned))
    }

    /// The masks of a method that only masks, at `sparsity` over the dense model.
    fn masks(
        self,
        dense: &Model,
        sparsity: f64,
        args: &PruneArgs,
        calibration: &Calibration,
    ) -> Result<ModuleMasks, PruneError> {
        let magnitude = |config: PruneConfig| ModuleMasks::compute(dense, &config);
        match self {
            Self::Global => magnitude(PruneConfig::new(Method::GlobalMagnitude, sparsity)),
            Self::GlobalMt => magnitude(
                PruneConfig::new(Method::GlobalMagnitude, sparsity)
                    .with_min_keep(Some(args.min_keep)),
            ),
            Self::Layer => magnitude(PruneConfig::new(Method::LayerMagnitude, sparsity)),
            Self::Random => {
                magnitude(PruneConfig::new(Method::Random, sparsity).with_seed(args.common.seed))
            }
            Self::Wanda => wanda_uniform(dense, &calibration.norms, sparsity),
            Self::Ecoflap => {
                let sparsities = ecoflap_sparsities(&calibration.importance, sparsity, None)?;
                wanda_masks(dense, &calibration.norms, &sparsities)
            }
            Self::Mfac => unreachable!("M-FAC moves weights; `prune` handles it"),
        }
    }
}

/// M-FAC over the weight matrices, with gradients of shuffled training batches of
/// `--mfac-batch-size` images (the official script's pruning loader).
fn prune_mfac(
    dense: &Model,
    sparsity: f64,
    args: &PruneArgs,
    train: &FashionMnistDataset,
) -> Result<(ModuleMasks, Model), PruneError> {
    let device = dense.devices()[0].clone();
    let loader = DataLoaderBuilder::new(FashionMnistBatcher)
        .batch_size(args.mfac_batch_size)
        .shuffle(args.common.seed)
        .set_device(device)
        .build(train.clone());
    let mut batches = std::iter::repeat_with(|| loader.iter())
        .flatten()
        .map_while(Result::ok);
    let config = MfacPruneConfig {
        gradients: args.mfac_gradients,
        block_size: Some(args.mfac_block),
        recomputations: args.mfac_recomputations,
        ..MfacPruneConfig::default()
    };
    let gradient = |m: &Model| {
        let batch = batches.next().ok_or_else(|| PruneError::BadConfig {
            field: "training data",
            reason: "no batch to take a gradient on".into(),
        })?;
        let loss = m.classify(batch).loss;
        Ok(GradientsParams::from_grads(loss.backward(), m))
    };
    let (pruned, masks, _) = mfac_prune(dense.clone(), None, sparsity, &config, gradient)?;
    Ok((masks, pruned))
}

/// What the data-aware methods learn from the calibration batches (the first
/// `--calibration-batches` training batches, unshuffled), once per run.
struct Calibration {
    /// Input norms of every layer (Wanda).
    norms: InputNorms,
    /// Zeroth-order importance of every weight matrix (ECoFLaP).
    importance: Vec<LayerImportance>,
}

impl Calibration {
    fn measure(
        dense: &Model,
        train: &FashionMnistDataset,
        args: &PruneArgs,
    ) -> Result<Self, Box<dyn Error>> {
        let model = dense.valid();
        let device = model.devices()[0].clone();
        let loader = DataLoaderBuilder::new(FashionMnistBatcher)
            .batch_size(args.batch_size)
            .set_device(device)
            .build(train.clone());
        let batches: Vec<_> = loader
            .iter()
            .take(args.calibration_batches)
            .collect::<Result<_, _>>()?;
        let mut norms = InputNorms::new();
        for batch in &batches {
            let [n, h, w] = batch.images.dims();
            let flat = batch.images.clone().reshape([n, h * w]);
            model.model.record_linear_inputs(flat, &mut norms);
        }
        let norms = norms.prefixed("model.");
        let names: Vec<String> = norms.names().map(str::to_string).collect();
        // The paper's ε = 1e-3, one direction per calibration batch.
        let importance = zeroth_order_importance(
            &model,
            &names,
            1e-3,
            batches.len(),
            args.common.seed,
            |m, s| m.classify(batches[s].clone()).loss.into_scalar::<f64>(),
        )?;
        Ok(Self { norms, importance })
    }
}

/// prune_and_finetune's defaults of the common flags.
#[derive(Clone, Debug)]
pub struct PruneAndFinetune;

impl ExampleDefaults for PruneAndFinetune {
    const NAME: &'static str = "prune_and_finetune";
    const SEED: &'static str = "42";
    const OUT: &'static str = "runs/prune";
}

/// Command-line options of `prune_and_finetune`.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "prune_and_finetune",
    about = "Train an MLP on Fashion-MNIST, prune it at several sparsities with Global MP (± the \
             minimum threshold), layer-wise magnitude, random, Wanda, ECoFLaP and M-FAC, fine-tune \
             each with its mask in force, and print and plot test accuracy against sparsity."
)]
pub struct PruneArgs {
    /// Epochs of dense training.
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    /// Epochs of masked fine-tuning after each pruning.
    #[arg(long, default_value_t = 1)]
    pub finetune_epochs: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Hidden layer widths, comma-separated (LeNet-300-100 by default).
    #[arg(long, value_delimiter = ',', default_value = "300,100")]
    pub hidden: Vec<usize>,
    /// Adam's learning rate for training; fine-tuning uses a tenth of it.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Target sparsities, comma-separated fractions (99 % is where the minimum threshold
    /// starts to bind on LeNet-300-100).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.5,0.8,0.9,0.95,0.98,0.99"
    )]
    pub sparsities: Vec<f64>,
    /// Methods, comma-separated (default: all seven).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Pruner>,
    /// The minimum threshold of Global MP + MT: percent of all weights every layer keeps
    /// (the paper's default 0.05).
    #[arg(long, default_value_t = 0.05)]
    pub min_keep: f64,
    /// Training batches that calibrate Wanda and ECoFLaP.
    #[arg(long, default_value_t = 8)]
    pub calibration_batches: usize,
    /// M-FAC's window `m` (m − 1 gradients per recomputation; the official default 64).
    #[arg(long, default_value_t = 64)]
    pub mfac_gradients: usize,
    /// M-FAC's block of weights sharing one Fisher (the official default 128).
    #[arg(long, default_value_t = 128)]
    pub mfac_block: usize,
    /// M-FAC's recomputations: steps to the target, each with fresh gradients (official 16).
    #[arg(long, default_value_t = 16)]
    pub mfac_recomputations: usize,
    /// Images per M-FAC gradient (the official default 32).
    #[arg(long, default_value_t = 32)]
    pub mfac_batch_size: usize,
    /// The flags every training example shares.
    #[command(flatten)]
    pub common: CommonArgs<PruneAndFinetune>,
}

impl PruneArgs {
    /// A toy-scale run on the Fashion-MNIST sample shipped with tempering-data (1,024 training
    /// images, MLP 784-64-32-10, batches of 32, M-FAC with 16 gradients and 2 recomputations);
    /// the tests start from it.
    pub fn on_shipped_sample(out: PathBuf) -> Self {
        Self {
            epochs: 3,
            finetune_epochs: 1,
            batch_size: 32,
            hidden: vec![64, 32],
            lr: 1e-3,
            sparsities: vec![0.5, 0.9, 0.98],
            only: Vec::new(),
            min_keep: 0.05,
            calibration_batches: 4,
            mfac_gradients: 16,
            mfac_block: 128,
            mfac_recomputations: 2,
            mfac_batch_size: 32,
            common: CommonArgs::default()
                .with_data(Some(shipped_sample()))
                .with_out(out)
                .with_limit(Some(1024)),
        }
    }

    /// Rejects values that cannot run, naming the flag.
    pub fn validate(&self) -> Result<(), String> {
        self.common.validate()?;
        if self.epochs == 0 {
            return Err("--epochs must be at least 1".into());
        }
        if self.batch_size == 0 {
            return Err("--batch-size must be at least 1".into());
        }
        if self.hidden.contains(&0) {
            return Err("--hidden widths must be positive".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(format!("--lr must be a positive number, got {}", self.lr));
        }
        if let Some(s) = self.sparsities.iter().find(|s| !(0.0..1.0).contains(*s)) {
            return Err(format!(
                "--sparsities: {s} is not a fraction in [0, 1) (0.9 means 90 %)"
            ));
        }
        if self.sparsities.is_empty() {
            return Err("--sparsities needs at least one value".into());
        }
        if !(0.0..100.0).contains(&self.min_keep) {
            return Err(format!(
                "--min-keep {} is not a percentage in [0, 100)",
                self.min_keep
            ));
        }
        if self.mfac_gradients < 2 {
            return Err("--mfac-gradients must be at least 2 (a step uses m − 1)".into());
        }
        if self.mfac_block == 0 || self.mfac_recomputations == 0 || self.mfac_batch_size == 0 {
            return Err(
                "--mfac-block, --mfac-recomputations and --mfac-batch-size must be at least 1"
                    .into(),
            );
        }
        if self.calibration_batches == 0 {
            return Err("--calibration-batches must be at least 1".into());
        }
        if self.common.limit.is_some_and(|n| n < self.batch_size) {
            return Err("--limit must keep at least one batch of training images".into());
        }
        Ok(())
    }
}

/// One pruned and fine-tuned model.
#[derive(Clone, Debug, PartialEq)]
pub struct PrunedResult {
    /// The method.
    pub pruner: Pruner,
    /// Requested sparsity over the weight matrices.
    pub sparsity: f64,
    /// Test accuracy (%) right after pruning.
    pub accuracy_pruned: f64,
    /// Test accuracy (%) after masked fine-tuning.
    pub accuracy_finetuned: f64,
    /// Fraction of the weight matrices' entries that are zero after fine-tuning, measured on
    /// the model itself.
    pub measured_sparsity: f64,
    /// Each weight matrix after fine-tuning: name, non-zero entries, entries.
    pub layers: Vec<(String, usize, usize)>,
}

impl PrunedResult {
    /// Whether a weight matrix lost every entry (the network is cut in two).
    pub fn collapsed(&self) -> bool {
        self.layers.iter().any(|(_, kept, _)| *kept == 0)
    }

    /// Each weight matrix's name and fraction of non-zero entries.
    pub fn layer_density(&self) -> Vec<(String, f64)> {
        self.layers
            .iter()
            .map(|(name, kept, n)| (name.clone(), *kept as f64 / *n as f64))
            .collect()
    }

    /// The fewest non-zero weights left in one matrix (what MT's minimum keeps up).
    pub fn fewest_kept(&self) -> usize {
        self.layers
            .iter()
            .map(|(_, kept, _)| *kept)
            .min()
            .unwrap_or(0)
    }
}

/// What a run measured and wrote.
#[derive(Clone, Debug)]
pub struct PruneRunReport {
    /// Where the data came from.
    pub source: FashionMnistSource,
    /// Test accuracy (%) of the dense model.
    pub dense_accuracy: f64,
    /// One result per method and sparsity.
    pub results: Vec<PrunedResult>,
    /// The markdown table (also in `table.md`).
    pub table: String,
    /// The paper's two claims, checked on these results (also in `table.md`).
    pub claims: String,
    /// The PNG of accuracy against sparsity.
    pub plot_path: PathBuf,
}

/// Trains, prunes, fine-tunes and writes the outputs; progress goes to stderr.
pub fn run(args: &PruneArgs) -> Result<PruneRunReport, Box<dyn Error>> {
    args.validate()?;
    let device = args.common.device()?;
    let autodiff = device.clone().autodiff();
    let data = FashionMnist::load(args.common.data.as_deref())?;
    let train = train_split(&data, args.common.limit);
    autodiff.seed(args.common.seed);
    let dense = FashionClassifier::new(
        MlpClassifierConfig::new()
            .with_hidden_sizes(args.hidden.clone())
            .with_dropout(0.0)
            .init(&autodiff),
    );
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
    let dense_accuracy = evaluate(&dense, data.test(), 1000, &device)?.accuracy;
    eprintln!(
        "dense: {:.2} % test accuracy after {} epochs ({:.1} s)",
        dense_accuracy,
        args.epochs,
        started.elapsed().as_secs_f64()
    );
    let pruners = if args.only.is_empty() {
        Pruner::ALL.to_vec()
    } else {
        Pruner::ALL
            .into_iter()
            .filter(|p| args.only.contains(p))
            .collect()
    };
    let calibration = if pruners
        .iter()
        .any(|p| matches!(p, Pruner::Wanda | Pruner::Ecoflap))
    {
        Calibration::measure(&dense, &train, args)?
    } else {
        Calibration {
            norms: InputNorms::new(),
            importance: Vec::new(),
        }
    };
    let mut results = Vec::new();
    let mut skipped = Vec::new();
    for &sparsity in &args.sparsities {
        for &pruner in &pruners {
            let (masks, pruned) = match pruner.prune(&dense, sparsity, args, &calibration, &train) {
                Ok(pruned) => pruned,
                // The minimum threshold can make a target unreachable: say so and go on.
                Err(e @ PruneError::BadConfig { .. }) => {
                    let note = format!("{} at {}: {e}", pruner.name(), percent(sparsity));
                    eprintln!("skipped: {note}");
                    skipped.push(note);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let accuracy_pruned = evaluate(&pruned, data.test(), 1000, &device)?.accuracy;
            // A fresh optimizer for fine-tuning, at a tenth of the training rate.
            let tuned = train_epochs(
                pruned,
                Some(&masks),
                &train,
                args.batch_size,
                args.common.seed,
                args.finetune_epochs,
                args.lr / 10.0,
            );
            let accuracy_finetuned = evaluate(&tuned, data.test(), 1000, &device)?.accuracy;
            let result = PrunedResult {
                pruner,
                sparsity,
                accuracy_pruned,
                accuracy_finetuned,
                measured_sparsity: overall_sparsity(&tuned),
                layers: layer_counts(&tuned),
            };
            eprintln!("{}", row(&result));
            results.push(result);
        }
    }
    let mut table = table(dense_accuracy, &results);
    for note in &skipped {
        let _ = writeln!(table, "\nskipped: {note}");
    }
    let claims = claims(&results);
    std::fs::create_dir_all(&args.common.out)?;
    tempering_core::atomic_write::write_atomically(&args.common.out.join("table.md"), |w| {
        std::io::Write::write_all(w, format!("{table}\n{claims}").as_bytes())
    })?;
    tempering_core::atomic_write::write_atomically(&args.common.out.join("results.csv"), |w| {
        std::io::Write::write_all(w, csv(&results).as_bytes())
    })?;
    let plot_path = args.common.out.join("accuracy_vs_sparsity.png");
    plot(&plot_path, &pruners, &results, dense_accuracy)?;
    Ok(PruneRunReport {
        source: data.source().clone(),
        dense_accuracy,
        results,
        table,
        claims,
        plot_path,
    })
}

fn overall_sparsity(model: &Model) -> f64 {
    let (kept, n) = total_counts(model);
    1.0 - kept as f64 / n.max(1) as f64
}

fn row(r: &PrunedResult) -> String {
    let densities: Vec<String> = r
        .layer_density()
        .iter()
        .map(|(_, d)| format!("{:.2}", 100.0 * d))
        .collect();
    format!(
        "| {} | {} | {:.2} | {:.2} | {:.2} | {} | {} |",
        percent(r.sparsity),
        r.pruner.name(),
        r.accuracy_pruned,
        r.accuracy_finetuned,
        100.0 * r.measured_sparsity,
        densities.join(" / "),
        if r.collapsed() { "yes" } else { "no" }
    )
}

/// A fraction as a percentage with as many decimals as it needs (0.995 → "99.5 %").
fn percent(fraction: f64) -> String {
    format!("{} %", (fraction * 1e4).round() / 1e2)
}

fn table(dense_accuracy: f64, results: &[PrunedResult]) -> String {
    let mut t = format!("dense model: {dense_accuracy:.2} % test accuracy\n\n");
    t.push_str(
        "| sparsity | method | acc. pruned % | acc. fine-tuned % | measured sparsity % | \
         layer density % (input → output) | collapsed |\n|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        t.push_str(&row(r));
        t.push('\n');
    }
    t
}

/// The paper's claims, checked on the fine-tuned accuracies.
fn claims(results: &[PrunedResult]) -> String {
    let find = |p: Pruner, s: f64| results.iter().find(|r| r.pruner == p && r.sparsity == s);
    let mut text = String::from("Claims (Gupta et al. 2022), on fine-tuned test accuracy:\n");
    let mut sparsities: Vec<f64> = results.iter().map(|r| r.sparsity).collect();
    sparsities.dedup();
    for &s in sparsities.iter().filter(|&&s| s >= 0.9) {
        if let (Some(g), Some(l)) = (find(Pruner::Global, s), find(Pruner::Layer, s)) {
            let _ = writeln!(
                text,
                "- {}: Global MP {:.2} vs layer-wise {:.2}: {}",
                percent(s),
                g.accuracy_finetuned,
                l.accuracy_finetuned,
                if g.accuracy_finetuned >= l.accuracy_finetuned {
                    "Global MP at least as good (holds)"
                } else {
                    "layer-wise better (does not hold)"
                }
            );
        }
    }
    if let Some(&top) = sparsities.iter().max_by(|a, b| a.total_cmp(b))
        && let (Some(g), Some(mt)) = (find(Pruner::Global, top), find(Pruner::GlobalMt, top))
    {
        let _ = writeln!(
            text,
            "- {}: a layer pruned away without MT: {}, with MT: {}; fewest weights left in a \
             layer {} without, {} with MT; fine-tuned accuracy {:.2} without, {:.2} with MT",
            percent(top),
            if g.collapsed() { "yes" } else { "no" },
            if mt.collapsed() { "yes" } else { "no" },
            g.fewest_kept(),
            mt.fewest_kept(),
            g.accuracy_finetuned,
            mt.accuracy_finetuned,
        );
    }
    text
}

fn csv(results: &[PrunedResult]) -> String {
    let mut out = String::from(
        "method,sparsity,accuracy_pruned,accuracy_finetuned,measured_sparsity,layer,kept,weights\n",
    );
    for r in results {
        for (layer, kept, n) in &r.layers {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{}",
                r.pruner.name(),
                r.sparsity,
                r.accuracy_pruned,
                r.accuracy_finetuned,
                r.measured_sparsity,
                layer,
                kept,
                n
            );
        }
    }
    out
}

fn plot(
    path: &std::path::Path,
    pruners: &[Pruner],
    results: &[PrunedResult],
    dense_accuracy: f64,
) -> std::io::Result<()> {
    let methods: Vec<MethodPoints> = pruners
        .iter()
        .map(|&p| MethodPoints {
            label: p.name().to_string(),
            points: results
                .iter()
                .filter(|r| r.pruner == p)
                .map(|r| (100.0 * r.sparsity, r.accuracy_pruned, r.accuracy_finetuned))
                .collect(),
        })
        .collect();
    plot_accuracy_panels(
        path,
        &methods,
        dense_accuracy,
        "sparsity of the weight matrices (%)",
        ["right after pruning", "after masked fine-tuning"],
    )
}

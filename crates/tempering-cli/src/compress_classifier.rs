//! `tempering compress model.bpk --config model.json --method low-rank --budget B -o DIR`:
//! ALDS (Liebenwein et al., NeurIPS 2021) on the project's image classifiers with their code:
//! the MLP's linear layers (the quickstart), the ViT's block linear layers (`train_vit`) and the
//! local-learning ResNet's backbone convolutions (`local_learning`). The ranks (and, with
//! `--search`, the input chunks) are allocated under the budget, the layers are factorized,
//! and the run directory written holds the factorized `model.bpk` and a `model.json` whose
//! `factorized` list rebuilds it. With `--fashion-mnist`, the test split's accuracy before and
//! after.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use burn::config::Config;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use tempering_core::compression::LowRankExport;
use tempering_data::{FashionMnist, FashionMnistBatcher, FashionMnistDataset};
use tempering_models::ImageClassifier;
use tempering_models::saved_classifier::{ClassifierArchitecture, SavedClassifier};
use tempering_models::transformer::FactorizedLayer;
use tempering_prune::low_rank::{LayerAllocation, LowRankConfig};
use tempering_prune::low_rank_export::factorize_model;
use tempering_prune::module_load::load_module;

use crate::render::{low_rank_summary, low_rank_table, print_json};
use crate::run_directory::{check_fits, check_run_outputs, print_written, write_run_files};

/// The config file of a classifier's run directory.
pub(crate) const CLASSIFIER_CONFIG: &str = "model.json";

/// Test images per forward pass.
const BATCH: usize = 250;

/// What the classifier path of `compress` needs from the command line.
pub struct ClassifierCompressRequest<'a> {
    pub checkpoint: &'a Path,
    pub config: &'a Path,
    pub low_rank: LowRankConfig,
    pub output: Option<&'a Path>,
    /// `--fashion-mnist`: absent, or present with an optional directory.
    pub fashion_mnist: Option<Option<&'a Path>>,
    pub force: bool,
    pub json: bool,
}

#[derive(serde::Serialize)]
struct Report<'a> {
    method: &'static str,
    architecture: &'static str,
    budget: f64,
    search: bool,
    layers: &'a [LayerAllocation],
    model_parameters_before: usize,
    model_parameters_after: usize,
    test_images: Option<usize>,
    dense_accuracy: Option<f64>,
    compressed_accuracy: Option<f64>,
    seconds: f64,
    output: Option<PathBuf>,
}

/// What factorizing one classifier gave.
struct Outcome {
    layers: Vec<LayerAllocation>,
    before: usize,
    after: usize,
    accuracy: Option<(f64, f64)>,
}

pub fn run(request: &ClassifierCompressRequest<'_>) -> Result<ExitCode, String> {
    let started = Instant::now();
    let saved = load_classifier(request.checkpoint, request.config)?;
    check_run_outputs(
        request.output,
        CLASSIFIER_CONFIG,
        (request.checkpoint, request.config),
        request.force,
    )?;
    let test = request
        .fashion_mnist
        .map(|dir| test_split(&saved.classifier, dir))
        .transpose()?;
    let device = Device::default();
    let test = test.as_ref();
    let (outcome, written) = match &saved.classifier {
        ClassifierArchitecture::Mlp(config) => {
            compress(config.init(&device), config, request, (&saved, test), |c| {
                c.factorized_layers()
            })?
        }
        ClassifierArchitecture::Vit(config) => {
            compress(config.init(&device), config, request, (&saved, test), |c| {
                c.factorized
            })?
        }
        ClassifierArchitecture::LocalResNet(config) => {
            compress(config.init(&device), config, request, (&saved, test), |c| {
                c.factorized
            })?
        }
    };
    let report = Report {
        method: "low-rank",
        architecture: saved.classifier.name(),
        budget: request.low_rank.budget,
        search: request.low_rank.search.is_some(),
        layers: &outcome.layers,
        model_parameters_before: outcome.before,
        model_parameters_after: outcome.after,
        test_images: test.map(Dataset::len),
        dense_accuracy: outcome.accuracy.map(|(dense, _)| dense),
        compressed_accuracy: outcome.accuracy.map(|(_, compressed)| compressed),
        seconds: started.elapsed().as_secs_f64(),
        output: written,
    };
    if request.json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    print_report(&report);
    Ok(ExitCode::SUCCESS)
}

/// The classifier's config (`model.json`) of a dense checkpoint, checked for its own
/// consistency and against the checkpoint's size before anything is built from it.
pub(crate) fn load_classifier(checkpoint: &Path, config: &Path) -> Result<SavedClassifier, String> {
    let saved =
        SavedClassifier::load(config).map_err(|e| format!("--config {}: {e}", config.display()))?;
    let name = saved.classifier.name();
    if let Some(layers) = &saved.factorized {
        return Err(format!(
            "--config {}: the {name} is already factorized ({} low-rank layers, written by \
             `tempering compress`); compress the dense checkpoint it came from",
            config.display(),
            layers.len()
        ));
    }
    // Checking allocates nothing by the config's sizes; building does, so the model must fit
    // in the checkpoint first.
    saved
        .check()
        .map_err(|e| format!("--config {}: {name}: {e}", config.display()))?;
    check_fits(saved.parameter_count(), name, (checkpoint, config))?;
    Ok(saved)
}

/// The Fashion-MNIST test split from `dir` (or the examples' lookup: `$TEMPERING_DATA`,
/// Debian's package, the shipped sample), refused when the classifier takes other images.
fn test_split(
    classifier: &ClassifierArchitecture,
    dir: Option<&Path>,
) -> Result<FashionMnistDataset, String> {
    let side = match classifier {
        ClassifierArchitecture::Mlp(config) => (config.input_size != 28 * 28)
            .then_some(format!("{} input features", config.input_size)),
        ClassifierArchitecture::Vit(config) => {
            (config.image_size != 28).then(|| format!("{0}×{0} images", config.image_size))
        }
        ClassifierArchitecture::LocalResNet(config) => {
            (config.image_size != 28).then(|| format!("{0}×{0} images", config.image_size))
        }
    };
    if let Some(takes) = side {
        return Err(format!(
            "--fashion-mnist: the {} takes {takes}; Fashion-MNIST's are 28×28",
            classifier.name()
        ));
    }
    FashionMnist::load(dir)
        .map(|data| data.test())
        .map_err(|e| format!("--fashion-mnist: {e}"))
}

/// Loads the checkpoint into `dense` (built from `config`), factorizes it as `request` asks,
/// scores it before and after on `test`, and writes the run when `-o` was given (`model.bpk`
/// and `saved` with the factorized layers `list` reads from the exported config); the outcome
/// and the directory written.
fn compress<M>(
    dense: M,
    config: &M::Config,
    request: &ClassifierCompressRequest<'_>,
    (saved, test): (&SavedClassifier, Option<&FashionMnistDataset>),
    list: impl FnOnce(M::ExportedConfig) -> Vec<FactorizedLayer>,
) -> Result<(Outcome, Option<PathBuf>), String>
where
    M: LowRankExport + ImageClassifier,
    M::Exported: ImageClassifier,
{
    let model = load_module(dense, request.checkpoint).map_err(|e| e.to_string())?;
    let before = Module::num_params(&model);
    let dense_accuracy = test.map(|split| accuracy(&model, split)).transpose()?;
    let (small, small_config, layers) =
        factorize_model(model, config, &request.low_rank).map_err(|e| e.to_string())?;
    let accuracy = dense_accuracy.zip(test.map(|split| accuracy(&small, split)).transpose()?);
    let factorized = list(small_config);
    let written = match request.output {
        Some(dir) => {
            let compressed = saved.clone().with_factorized(Some(factorized));
            write_run_files(
                dir,
                &small,
                (CLASSIFIER_CONFIG, &compressed),
                request.checkpoint,
                request.force,
            )?;
            Some(dir.to_path_buf())
        }
        None => None,
    };
    let outcome = Outcome {
        layers,
        before,
        after: Module::num_params(&small),
        accuracy,
    };
    Ok((outcome, written))
}

/// Percent of `split` that `model` classifies right, in batches of [`BATCH`].
fn accuracy<M: ImageClassifier>(model: &M, split: &FashionMnistDataset) -> Result<f64, String> {
    let device = Device::default();
    let (mut correct, mut count) = (0i64, 0usize);
    let indices: Vec<usize> = (0..split.len()).collect();
    for chunk in indices.chunks(BATCH) {
        let items = chunk
            .iter()
            .map(|&i| split.get(i))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("--fashion-mnist: {e}"))?;
        let batch = FashionMnistBatcher.batch(items, &device);
        let predicted: Tensor<1, Int> = model.logits(batch.images).argmax(1).flatten(0, 1);
        count += batch.targets.dims()[0];
        correct += predicted
            .equal(batch.targets)
            .int()
            .sum()
            .into_scalar::<i64>();
    }
    Ok(100.0 * correct as f64 / count.max(1) as f64)
}

fn print_report(report: &Report<'_>) {
    print!("{}", low_rank_table(report.layers));
    let what = format!(
        "the {}'s {} selected layers",
        report.architecture,
        report.layers.len()
    );
    println!(
        "\n{}; the model {} → {} parameters",
        low_rank_summary(report.layers, report.search, report.budget, &what),
        report.model_parameters_before,
        report.model_parameters_after,
    );
    if let (Some(images), Some(dense), Some(compressed)) = (
        report.test_images,
        report.dense_accuracy,
        report.compressed_accuracy,
    ) {
        println!(
            "Fashion-MNIST test accuracy ({images} images): {dense:.2} % dense, {compressed:.2} \
             % compressed (before any fine-tuning)"
        );
    }
    println!("took {:.1} s", report.seconds);
    print_written(report.output.as_deref(), CLASSIFIER_CONFIG);
}

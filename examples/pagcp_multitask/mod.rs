//! PAGCP at CPU scale (Ye et al., "Performance-aware Approximation of Global Channel Pruning
//! for Multitask CNNs", TPAMI 2023): a multitask CNN on Fashion-MNIST (task 1: the 10 classes;
//! task 2: 4 coarse groups, tops / trousers / footwear / bags, from the same images) has its
//! filters removed physically by PAGCP's performance-aware layer-wise search
//! (`tempering_prune::structured::pagcp`), against uniform L1 filter pruning (Li et al., ICLR
//! 2017) at the same FLOPs; both tasks' test accuracy before and after a short fine-tune.
//!
//! The binary `pagcp_multitask` is a thin command line over [`run`]; tests call [`run`].

use std::error::Error;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::Dataset;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor};
use tempering_data::{
    FashionMnist, FashionMnistBatch, FashionMnistBatcher, FashionMnistDataset, FashionMnistSource,
};
use tempering_models::{MultitaskCnn, MultitaskCnnConfig};
use tempering_prune::structured::pagcp::{PagcpConfig, PagcpReport, pagcp_prune};
use tempering_prune::structured::{StructuredConfig, UnitImportance, shrink_structured};
use tempering_train::{Panel, Series, plot_panels};

use crate::common::common_args::{CommonArgs, ExampleDefaults, shipped_sample};
use crate::common::train_split::train_split;

/// pagcp_multitask's defaults of the common flags.
#[derive(Clone, Debug)]
pub struct PagcpMultitask;

impl ExampleDefaults for PagcpMultitask {
    const NAME: &'static str = "pagcp_multitask";
    const SEED: &'static str = "0";
    const OUT: &'static str = "runs/pagcp_multitask";
}

/// Command-line options of `pagcp_multitask`.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "pagcp_multitask",
    about = "Prune a two-task Fashion-MNIST CNN by PAGCP and by uniform L1 filter pruning at \
             equal FLOPs, fine-tune both, and compare both tasks' accuracy."
)]
pub struct PagcpArgs {
    /// Channels of the convolutions, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64")]
    pub widths: Vec<usize>,
    /// Epochs of dense training.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Epochs of fine-tuning after pruning.
    #[arg(long, default_value_t = 1)]
    pub finetune_epochs: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Adam's learning rate (fine-tuning: a tenth).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Training images the search evaluates the task losses on.
    #[arg(long, default_value_t = 1024)]
    pub calibration_images: usize,
    /// PAGCP's first-layer thresholds (`--initial_rate`), comma-separated: one pruned model each.
    #[arg(long, value_delimiter = ',', default_value = "0.05,0.5,1")]
    pub rates: Vec<f64>,
    /// PAGCP's global threshold (`--initial_thres`).
    #[arg(long, default_value_t = 30.0)]
    pub global_threshold: f64,
    /// Share of the layers whose ratios PAGCP keeps (`--topk`).
    #[arg(long, default_value_t = 0.8)]
    pub topk: f64,
    /// The flags every training example shares.
    #[command(flatten)]
    pub common: CommonArgs<PagcpMultitask>,
}

impl PagcpArgs {
    /// A toy-scale run on the shipped Fashion-MNIST sample; the tests start from it.
    pub fn on_shipped_sample(out: PathBuf) -> Self {
        Self {
            widths: vec![4, 8],
            epochs: 1,
            finetune_epochs: 1,
            batch_size: 64,
            lr: 1e-3,
            calibration_images: 128,
            rates: vec![0.2],
            global_threshold: 30.0,
            topk: 0.8,
            common: CommonArgs::default()
                .with_data(Some(shipped_sample()))
                .with_out(out)
                .with_limit(Some(512)),
        }
    }

    /// Rejects values that cannot run, naming the flag.
    pub fn validate(&self) -> Result<(), String> {
        self.common.validate()?;
        MultitaskCnnConfig::new()
            .with_widths(self.widths.clone())
            .check()
            .map_err(|e| format!("--widths: {e}"))?;
        if self.epochs == 0 || self.batch_size == 0 || self.calibration_images == 0 {
            return Err(
                "--epochs, --batch-size and --calibration-images must be at least 1".into(),
            );
        }
        if self.rates.is_empty() || self.rates.iter().any(|r| r.is_nan() || *r <= 0.0) {
            return Err("--rates: give positive thresholds".into());
        }
        Ok(())
    }
}

/// The coarse group of a Fashion-MNIST class: tops (T-shirt, pullover, dress, coat, shirt),
/// trousers, footwear (sandal, sneaker, ankle boot), bags.
pub fn coarse_group(class: i64) -> i64 {
    match class {
        1 => 1,
        5 | 7 | 9 => 2,
        8 => 3,
        _ => 0,
    }
}

/// The two tasks' targets of a batch.
fn targets(batch: &FashionMnistBatch) -> [Tensor<1, Int>; 2] {
    let device = batch.targets.device();
    let classes: Vec<i64> = batch
        .targets
        .clone()
        .into_data()
        .convert::<i64>()
        .try_into_vec()
        .expect("int targets");
    let coarse: Vec<i64> = classes.iter().map(|&c| coarse_group(c)).collect();
    [
        batch.targets.clone(),
        Tensor::from_ints(coarse.as_slice(), &device),
    ]
}

/// The two tasks' mean cross-entropies of `model` on `batch`.
fn task_losses(model: &MultitaskCnn, batch: &FashionMnistBatch) -> Vec<Tensor<1>> {
    let logits = model.forward(batch.images.clone());
    let device = batch.images.device();
    logits
        .into_iter()
        .zip(targets(batch))
        .map(|(l, t)| CrossEntropyLossConfig::new().init(&device).forward(l, t))
        .collect()
}

/// `epochs` of Adam at `lr` on the sum of both tasks' losses.
fn train(
    model: MultitaskCnn,
    data: &FashionMnistDataset,
    args: &PagcpArgs,
    epochs: usize,
    lr: f64,
    device: &Device,
) -> MultitaskCnn {
    let mut model = model.train();
    let mut optimizer = AdamConfig::new().init();
    for epoch in 0..epochs {
        let loader = DataLoaderBuilder::new(FashionMnistBatcher)
            .batch_size(args.batch_size)
            .shuffle(args.common.seed.wrapping_add(epoch as u64))
            .set_device(device.clone().autodiff())
            .build(data.clone());
        for batch in loader.iter().map_while(Result::ok) {
            let [a, b]: [Tensor<1>; 2] = task_losses(&model, &batch).try_into().expect("two tasks");
            let grads = GradientsParams::from_grads((a + b).backward(), &model);
            model = optimizer.step(lr, model, grads);
        }
    }
    model.valid()
}

/// Test accuracy (%) of each task.
fn accuracies(
    model: &MultitaskCnn,
    test: &FashionMnistDataset,
    device: &Device,
) -> Result<[f64; 2], Box<dyn Error>> {
    let loader = DataLoaderBuilder::new(FashionMnistBatcher)
        .batch_size(1000)
        .set_device(device.clone())
        .build(test.clone());
    let (mut correct, mut count) = ([0i64; 2], 0usize);
    for batch in loader.iter() {
        let batch = batch?;
        let logits = model.forward(batch.images.clone());
        for (t, (l, y)) in logits.into_iter().zip(targets(&batch)).enumerate() {
            correct[t] += l
                .argmax(1)
                .flatten::<1>(0, 1)
                .equal(y)
                .int()
                .sum()
                .into_scalar::<i64>();
        }
        count += batch.targets.dims()[0];
    }
    Ok(correct.map(|c| 100.0 * c as f64 / count.max(1) as f64))
}

/// One pruned model's numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Pruned {
    /// `pagcp (rate r)` or `uniform L1 (ratio ρ)`.
    pub method: String,
    /// Filters per layer.
    pub widths: Vec<usize>,
    /// FLOPs kept (fraction of the dense model's).
    pub flops_kept: f64,
    /// Parameters.
    pub parameters: usize,
    /// Test accuracy of each task (%), right after pruning.
    pub pruned: [f64; 2],
    /// After fine-tuning.
    pub finetuned: [f64; 2],
}

/// What a run measured and wrote.
#[derive(Clone, Debug)]
pub struct PagcpRunReport {
    /// Where the data came from.
    pub source: FashionMnistSource,
    /// The dense model's accuracies and parameters.
    pub dense: ([f64; 2], usize),
    /// PAGCP, then uniform at its FLOPs, for each rate.
    pub rows: Vec<Pruned>,
    /// PAGCP's report for each rate.
    pub searches: Vec<PagcpReport>,
    /// The Markdown table (also in `table.md`).
    pub table: String,
    /// The PNG of each task's accuracy against the FLOPs kept.
    pub plot_path: PathBuf,
}

/// Trains, prunes both ways, fine-tunes and writes the table; progress goes to stderr.
pub fn run(args: &PagcpArgs) -> Result<PagcpRunReport, Box<dyn Error>> {
    args.validate()?;
    let device = args.common.device()?;
    let data = FashionMnist::load(args.common.data.as_deref())?;
    let train_set = train_split(&data, args.common.limit);
    let test = data.test();
    device.seed(args.common.seed);
    let config = MultitaskCnnConfig::new().with_widths(args.widths.clone());
    let started = Instant::now();
    let dense = train(
        config.init(&device),
        &train_set,
        args,
        args.epochs,
        args.lr,
        &device,
    );
    let dense_accuracy = accuracies(&dense, &test, &device)?;
    eprintln!(
        "dense: {:.2} % / {:.2} % after {} epochs ({:.1} s)",
        dense_accuracy[0],
        dense_accuracy[1],
        args.epochs,
        started.elapsed().as_secs_f64()
    );
    let calibration = train_set.slice(0..args.calibration_images.min(train_set.len()));
    let calibration_batch = DataLoaderBuilder::new(FashionMnistBatcher)
        .batch_size(calibration.len())
        .set_device(device.clone())
        .build(calibration)
        .iter()
        .next()
        .ok_or("no calibration images")??;
    let losses = |m: &MultitaskCnn| -> Vec<f64> {
        task_losses(m, &calibration_batch)
            .into_iter()
            .map(|l| l.into_scalar::<f64>())
            .collect()
    };
    let flops = |m: &MultitaskCnn| m.flops(config.image_size) as f64;
    let dense_flops = flops(&dense);
    let mut rows = Vec::new();
    let mut searches = Vec::new();
    let measure = |method: String, model: MultitaskCnn| -> Result<Pruned, Box<dyn Error>> {
        let widths = model
            .layers
            .iter()
            .map(|l| l.conv.weight.dims()[0])
            .collect();
        let pruned = accuracies(&model, &test, &device)?;
        let flops_kept = flops(&model) / dense_flops;
        let parameters = model.num_params();
        let tuned = train(
            model,
            &train_set,
            args,
            args.finetune_epochs,
            args.lr / 10.0,
            &device,
        );
        let row = Pruned {
            method,
            widths,
            flops_kept,
            parameters,
            pruned,
            finetuned: accuracies(&tuned, &test, &device)?,
        };
        eprintln!("{}", table_row(&row));
        Ok(row)
    };
    for &rate in &args.rates {
        let pagcp = PagcpConfig {
            initial_rate: rate,
            global_threshold: args.global_threshold,
            topk: args.topk,
            ..PagcpConfig::default()
        };
        let (small, _, report) = pagcp_prune(dense.clone(), &config, &pagcp, losses, flops)?;
        let target = flops(&small);
        rows.push(measure(format!("PAGCP (rate {rate})"), small)?);
        // Uniform L1 filter pruning at the ratio whose FLOPs come closest to PAGCP's.
        let mut best: Option<(f64, f64, MultitaskCnn)> = None;
        for step in 0..100 {
            let ratio = step as f64 / 100.0;
            let structured = StructuredConfig {
                importance: UnitImportance::L1,
                ..StructuredConfig::new(ratio)
            };
            let (uniform, _, _) = shrink_structured(dense.clone(), &config, &structured)?;
            let gap = (flops(&uniform) - target).abs();
            if best.as_ref().is_none_or(|(g, _, _)| gap < *g) {
                best = Some((gap, ratio, uniform));
            }
        }
        let (_, ratio, uniform) = best.expect("a ratio was tried");
        rows.push(measure(format!("uniform L1 (ratio {ratio:.2})"), uniform)?);
        searches.push(report);
    }
    let table = table(dense_accuracy, dense.num_params(), &rows);
    std::fs::create_dir_all(&args.common.out)?;
    tempering_core::atomic_write::write_atomically(&args.common.out.join("table.md"), |w| {
        std::io::Write::write_all(w, table.as_bytes())
    })?;
    let plot_path = args.common.out.join("accuracy_vs_flops.png");
    plot(&plot_path, dense_accuracy, &rows)?;
    Ok(PagcpRunReport {
        source: data.source().clone(),
        dense: (dense_accuracy, dense.num_params()),
        rows,
        searches,
        table,
        plot_path,
    })
}

/// One panel per task: accuracy against the FLOPs kept, PAGCP and uniform, pruned and
/// fine-tuned, with the dense level.
fn plot(path: &std::path::Path, dense: [f64; 2], rows: &[Pruned]) -> std::io::Result<()> {
    let panels: Vec<Panel> = ["10 classes", "4 coarse groups"]
        .iter()
        .enumerate()
        .map(|(task, title)| {
            let mut series: Vec<Series> = [("PAGCP", true), ("uniform", false)]
                .iter()
                .flat_map(|&(label, pagcp)| {
                    let points = |tuned: bool| -> Vec<(f64, f64)> {
                        let mut p: Vec<(f64, f64)> = rows
                            .iter()
                            .filter(|r| r.method.starts_with("PAGCP") == pagcp)
                            .map(|r| {
                                let accuracy = if tuned { r.finetuned } else { r.pruned };
                                (100.0 * r.flops_kept, accuracy[task])
                            })
                            .collect();
                        p.sort_by(|a, b| a.0.total_cmp(&b.0));
                        p
                    };
                    [
                        Series {
                            label: format!("{label}, pruned"),
                            points: points(false),
                        },
                        Series {
                            label: format!("{label}, fine-tuned"),
                            points: points(true),
                        },
                    ]
                })
                .collect();
            let xs = rows.iter().map(|r| 100.0 * r.flops_kept);
            let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                (lo.min(x), hi.max(x))
            });
            series.push(Series {
                label: "dense".into(),
                points: vec![(lo, dense[task]), (hi, dense[task])],
            });
            Panel {
                title: format!("multitask CNN: {title}"),
                x_label: "FLOPs kept (%)".into(),
                y_label: "test accuracy (%)".into(),
                series,
            }
        })
        .collect();
    plot_panels(path, &panels, (1400, 560))
}

fn table_row(r: &Pruned) -> String {
    let widths: Vec<String> = r.widths.iter().map(usize::to_string).collect();
    format!(
        "| {} | {} | {:.1} % | {} | {:.2} / {:.2} | {:.2} / {:.2} |",
        r.method,
        widths.join(" / "),
        100.0 * r.flops_kept,
        r.parameters,
        r.pruned[0],
        r.pruned[1],
        r.finetuned[0],
        r.finetuned[1]
    )
}

fn table(dense: [f64; 2], parameters: usize, rows: &[Pruned]) -> String {
    let mut t = format!(
        "dense: {:.2} % (10 classes) / {:.2} % (4 groups), {parameters} parameters\n\n",
        dense[0], dense[1]
    );
    t.push_str(
        "| method | filters per layer | FLOPs kept | parameters | pruned: classes / groups % | \
         fine-tuned: classes / groups % |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let _ = writeln!(t, "{}", table_row(r));
    }
    t
}

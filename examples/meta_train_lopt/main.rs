//! Meta-train the learned optimizer (μLO, or its standard-parametrization twin) on small MLPs
//! over Fashion-MNIST pooled to 7×7, by antithetic persistent evolution strategies; writes the
//! weights file, `meta_loss.csv`, `meta_loss.png` and checkpoints; see `--help`.
//!
//! `cargo run -p tempering-examples --bin meta_train_lopt -- --parametrization mup`

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use tempering_core::mup::Parametrization;
use tempering_examples::common::lopt_lm_task::{CharLmTask, MetaTask, TrainingText};
use tempering_examples::common::lopt_tasks::{MlpTask, PooledImages};
use tempering_optim::learned::LoptWeights;
use tempering_train::meta_training::{MetaTrainConfig, MetaTrainer};

use tempering_examples::common::common_args::{CommonArgs, ExampleDefaults};

/// Which learned optimizer to meta-train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Which {
    /// μLO: muP networks, per-role step scales.
    Mup,
    /// SP-LO: standard-parametrization networks.
    Sp,
}

/// A kind of inner task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum TaskKind {
    /// 3-layer ReLU MLPs on Fashion-MNIST pooled to 7×7, one per `--widths`.
    Mlp,
    /// A small character-level transformer on the Shakespeare plays.
    CharLm,
}

/// meta_train_lopt's defaults of the common flags.
#[derive(Clone, Debug)]
pub struct MetaTrainLopt;

impl ExampleDefaults for MetaTrainLopt {
    const NAME: &'static str = "meta_train_lopt";
    const SEED: &'static str = "0";
    const OUT: &'static str = "runs/meta_train_lopt";
}

/// Command-line options of `meta_train_lopt`.
#[derive(Parser, Debug)]
#[command(
    name = "meta_train_lopt",
    about = "Meta-train a learned optimizer (μLO or SP-LO) by persistent evolution strategies."
)]
struct Args {
    /// μLO (muP) or its SP twin.
    #[arg(long, value_enum, default_value = "mup")]
    parametrization: Which,
    /// The inner tasks: `mlp` (one MLP per `--widths`), `char-lm` (one small char LM of
    /// `--lm-width` on the Shakespeare plays), or both (`mlp,char-lm`); one PES estimator each.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "mlp")]
    tasks: Vec<TaskKind>,
    /// Widths of the meta-training MLPs (one PES estimator each).
    #[arg(long, value_delimiter = ',', default_value = "32,64")]
    widths: Vec<usize>,
    /// Width of the char LM task (2 layers, heads of width 16, context 32, 8 windows a step).
    #[arg(long, default_value_t = 32)]
    lm_width: usize,
    /// Hidden layers of the MLPs.
    #[arg(long, default_value_t = 3)]
    hidden_layers: usize,
    /// Images per inner step.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Outer steps (the shipped weights: 600).
    #[arg(long, default_value_t = 600)]
    outer_steps: usize,
    /// Antithetic pairs per width.
    #[arg(long, default_value_t = 4)]
    pairs: usize,
    /// Inner steps per truncation.
    #[arg(long, default_value_t = 20)]
    truncation: usize,
    /// Shortest inner horizon (log-uniform; the paper's range is 100–1000).
    #[arg(long, default_value_t = 100)]
    min_horizon: usize,
    /// Longest inner horizon.
    #[arg(long, default_value_t = 1000)]
    max_horizon: usize,
    /// Where to write the weights [default: OUT/mulo.json or OUT/splo.json].
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Continue from the checkpoint in OUT.
    #[arg(long)]
    resume: bool,
    /// Instead of training: time N outer steps with everything on one thread, then the same N
    /// with the widths' estimators, their pairs and each pair's two signs in parallel, and print
    /// both (the meta-losses must agree exactly). Writes nothing.
    #[arg(long, value_name = "N")]
    time_parallel: Option<usize>,
    /// The flags every training example shares.
    #[command(flatten)]
    common: CommonArgs<MetaTrainLopt>,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("meta_train_lopt: {e}");
        std::process::exit(2);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    args.common.validate()?;
    if args.widths.is_empty()
        || args.widths.contains(&0)
        || args.hidden_layers == 0
        || args.batch == 0
    {
        return Err("--widths, --hidden-layers and --batch must be positive".into());
    }
    let (parametrization, name) = match args.parametrization {
        Which::Mup => (Parametrization::Mup, "mulo"),
        Which::Sp => (Parametrization::Standard, "splo"),
    };
    if args.tasks.is_empty() || args.lm_width == 0 || !args.lm_width.is_multiple_of(16) {
        return Err("--tasks needs a task and --lm-width a positive multiple of 16".into());
    }
    let (device, images) = PooledImages::from_common(&args.common)?;
    let mut tasks: Vec<MetaTask> = Vec::new();
    if args.tasks.contains(&TaskKind::Mlp) {
        tasks.extend(args.widths.iter().map(|&width| {
            MetaTask::Mlp(MlpTask {
                data: images.clone(),
                device: device.clone(),
                width,
                hidden_layers: args.hidden_layers,
                batch: args.batch,
                parametrization,
            })
        }));
    }
    if args.tasks.contains(&TaskKind::CharLm) {
        tasks.push(MetaTask::CharLm(CharLmTask {
            text: TrainingText::shakespeare()?,
            device: device.clone(),
            d_model: args.lm_width,
            layers: 2,
            heads: args.lm_width / 16,
            context: 32,
            batch: 8,
            parametrization,
        }));
    }
    let config = MetaTrainConfig::new()
        .with_outer_steps(args.outer_steps)
        .with_pairs(args.pairs)
        .with_truncation(args.truncation)
        .with_min_horizon(args.min_horizon)
        .with_max_horizon(args.max_horizon)
        .with_seed(args.common.seed);
    if let Some(steps) = args.time_parallel {
        return time_parallel(config, tasks, steps, args.common.seed);
    }
    let outcome = MetaTrainer::new(config, tasks)
        .output_dir(&args.common.out)
        .resume(args.resume)
        .run(LoptWeights::init(args.common.seed))?;
    let path = args
        .weights
        .clone()
        .unwrap_or_else(|| args.common.out.join(format!("{name}.json")));
    let command: Vec<String> = std::env::args().collect();
    let provenance = format!(
        "{}; {} outer steps, tasks {:?}, MLP widths {:?}, {} pairs, truncation {}; {:.0} s on \
         this run",
        command.join(" "),
        outcome.meta_losses.len(),
        args.tasks,
        args.widths,
        args.pairs,
        args.truncation,
        outcome.seconds
    );
    outcome.weights.save(&path, &provenance)?;
    let first =
        outcome.meta_losses.iter().take(10).sum::<f64>() / outcome.meta_losses.len().min(10) as f64;
    let tail = outcome.meta_losses.len().min(10);
    let last = outcome.meta_losses[outcome.meta_losses.len() - tail..]
        .iter()
        .sum::<f64>()
        / tail as f64;
    println!(
        "meta-loss {first:.3} (first 10 outer steps) → {last:.3} (last 10); {} inner steps in {:.0} s; weights: {}",
        outcome.inner_steps,
        outcome.seconds,
        path.display()
    );
    Ok(())
}

/// `--time-parallel`: the same `steps` outer steps serial, then parallel, from the same seed.
fn time_parallel(
    config: MetaTrainConfig,
    tasks: Vec<MetaTask>,
    steps: usize,
    seed: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    if steps == 0 {
        return Err("--time-parallel needs at least 1 outer step".into());
    }
    let mut runs = Vec::new();
    for parallel in [false, true] {
        let outcome = MetaTrainer::new(
            config
                .clone()
                .with_outer_steps(steps)
                .with_parallel(parallel),
            tasks.clone(),
        )
        .progress(false)
        .run(LoptWeights::init(seed))?;
        let per_step = outcome.seconds / steps as f64;
        println!(
            "{}: {per_step:.2} s per outer step ({steps} steps, {} threads available)",
            if parallel { "parallel" } else { "serial" },
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        runs.push((per_step, outcome.meta_losses));
    }
    println!("speedup: {:.2}×", runs[0].0 / runs[1].0);
    if runs[0].1 != runs[1].1 {
        return Err("the serial and parallel meta-losses differ".into());
    }
    println!("meta-losses identical");
    Ok(())
}

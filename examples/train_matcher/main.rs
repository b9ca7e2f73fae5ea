//! Trains the keypoint matchers (GIMS, SuperGlue, LightGlue-style) on synthetic pairs in the
//! ambiguous setting of `tempering_data::keypoint_pairs` and compares them with mutual nearest
//! neighbour: precision, recall, F1, corner-error AUC; writes `results.md`, `losses.csv` and
//! `losses.png`; see `--help`.
//!
//! `cargo run -p tempering-examples --bin train_matcher`

use burn::module::Module;
use clap::{Parser, ValueEnum};
use tempering_core::atomic_write::write_atomically;
use tempering_data::{KeypointPairConfig, KeypointPairDataset};
use tempering_examples::train_matcher::{
    ComparisonRow, evaluate, evaluate_mutual_nearest_neighbour, plot_losses, table, train,
};
use tempering_models::matcher::{AdaptiveGraphConfig, MatcherConfig};

use tempering_examples::common::common_args::{CommonArgs, ExampleDefaults};
use tempering_examples::common::optimizer_choice::OptimizerChoice;

/// A matcher configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Variant {
    /// Adaptive graph + GraphSAGE, attentional GNN, Sinkhorn.
    Gims,
    /// Keypoint encoder, attentional GNN, Sinkhorn.
    Superglue,
    /// Rotary positional attention, dual softmax with matchability.
    Lightglue,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Gims => "GIMS",
            Variant::Superglue => "SuperGlue",
            Variant::Lightglue => "LightGlue-style",
        }
    }

    fn config(self) -> MatcherConfig {
        match self {
            Variant::Gims => MatcherConfig::gims(),
            Variant::Superglue => MatcherConfig::superglue(),
            Variant::Lightglue => MatcherConfig::lightglue(),
        }
    }
}

/// train_matcher's defaults of the common flags.
#[derive(Clone, Debug)]
pub struct TrainMatcher;

impl ExampleDefaults for TrainMatcher {
    const NAME: &'static str = "train_matcher";
    const SEED: &'static str = "0";
    const OUT: &'static str = "runs/train_matcher";
    const DATA_HELP: Option<&'static str> = None;
    const LIMIT_HELP: Option<&'static str> = None;
    const NOT_APPLICABLE: &'static str = "its keypoint pairs are generated";
}

/// Command-line options of `train_matcher`.
#[derive(Parser, Debug)]
#[command(
    name = "train_matcher",
    about = "Train GIMS, SuperGlue and LightGlue-style matchers on synthetic keypoint pairs and \
             compare them with mutual nearest neighbour."
)]
struct Args {
    /// Matchers to train.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "gims,superglue,lightglue"
    )]
    variants: Vec<Variant>,
    /// Training steps per matcher.
    #[arg(long, default_value_t = 800)]
    steps: usize,
    /// Pairs per step.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// The optimizer.
    #[arg(long, value_enum, default_value = "adam")]
    optimizer: OptimizerChoice,
    /// Learning rate [default: the optimizer's: 1e-3 for Adam, 1.0 for the learned ones].
    #[arg(long)]
    lr: Option<f64>,
    /// Width inside the matchers.
    #[arg(long, default_value_t = 64)]
    d_model: usize,
    /// (self, cross) attention layer pairs.
    #[arg(long, default_value_t = 3)]
    layers: usize,
    /// GIMS's graph: candidate edges join keypoints closer than this (keypoint units).
    #[arg(long, default_value_t = 0.35)]
    graph_radius: f32,
    /// GIMS's graph: percentile of descriptor similarity an edge must reach.
    #[arg(long, default_value_t = 7.0)]
    graph_percentile: f64,
    /// GIMS's graph: components smaller than this leave the graph and their keypoints the
    /// matching (unmatched).
    #[arg(long, default_value_t = 8)]
    graph_min_size: usize,
    /// Held-out pairs for evaluation.
    #[arg(long, default_value_t = 256)]
    eval_pairs: usize,
    /// Keypoints per view.
    #[arg(long, default_value_t = 64)]
    points: usize,
    /// The flags every training example shares.
    #[command(flatten)]
    common: CommonArgs<TrainMatcher>,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("train_matcher: {e}");
        std::process::exit(2);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    args.common.validate()?;
    if args.steps == 0 || args.batch == 0 || args.eval_pairs == 0 {
        return Err("--steps, --batch and --eval-pairs must be positive".into());
    }
    let lr = args.lr.unwrap_or(args.optimizer.default_lr());
    if !(lr > 0.0 && lr.is_finite()) {
        return Err(format!("--lr must be positive, got {lr}").into());
    }
    let device = args.common.device()?;
    let pairs = KeypointPairConfig::new().with_num_points(args.points);
    let training =
        KeypointPairDataset::new(pairs.clone(), args.common.seed, args.steps * args.batch)?;
    let held_out =
        KeypointPairDataset::new(pairs, args.common.seed.wrapping_add(1), args.eval_pairs)?;
    std::fs::create_dir_all(&args.common.out)?;

    let mut rows = vec![ComparisonRow {
        name: "mutual NN".into(),
        evaluation: evaluate_mutual_nearest_neighbour(&held_out)?,
        training: None,
    }];
    let mut curves = Vec::new();
    for &variant in &args.variants {
        let mut config = variant
            .config()
            .with_d_model(args.d_model)
            .with_layers(args.layers);
        if config.graph.is_some() {
            config.graph = Some(
                AdaptiveGraphConfig::new()
                    .with_radius(args.graph_radius)
                    .with_percentile(args.graph_percentile)
                    .with_min_size(args.graph_min_size),
            );
        }
        config.validate()?;
        let trained = train(
            variant.name(),
            &config,
            &training,
            (args.optimizer, args.steps, args.batch, lr),
            &device,
            true,
        )?;
        let evaluation = evaluate(&trained.matcher, &held_out, 32, &device)?;
        eprintln!(
            "{}: precision {:.3}, recall {:.3}, F1 {:.3} ({:.0} s)",
            variant.name(),
            evaluation.counts.precision(),
            evaluation.counts.recall(),
            evaluation.counts.f1(),
            trained.seconds
        );
        rows.push(ComparisonRow {
            name: variant.name().into(),
            evaluation,
            training: Some((trained.seconds, trained.matcher.num_params())),
        });
        curves.push((variant.name().to_string(), trained.losses));
    }

    let results = format!(
        "{} training steps of {} pairs ({} {}), d {}, {} (self, cross) layers; {} held-out \
         pairs of {} keypoints; AUC of the corner error in keypoint units ([-1, 1]² frame).\n\n{}",
        args.steps,
        args.batch,
        args.optimizer.name(),
        lr,
        args.d_model,
        args.layers,
        args.eval_pairs,
        args.points,
        table(&rows)
    );
    println!("{results}");
    write_atomically(&args.common.out.join("results.md"), |f| {
        std::io::Write::write_all(f, results.as_bytes())
    })?;
    let mut csv = String::from("step");
    for (name, _) in &curves {
        csv.push(',');
        csv.push_str(name);
    }
    csv.push('\n');
    for step in 0..args.steps {
        csv.push_str(&step.to_string());
        for (_, losses) in &curves {
            csv.push_str(&format!(",{}", losses[step]));
        }
        csv.push('\n');
    }
    write_atomically(&args.common.out.join("losses.csv"), |f| {
        std::io::Write::write_all(f, csv.as_bytes())
    })?;
    if !curves.is_empty() {
        plot_losses(&args.common.out.join("losses.png"), &curves, 20)?;
    }
    eprintln!("wrote {}", args.common.out.display());
    Ok(())
}

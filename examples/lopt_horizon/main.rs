//! How learned optimizers behave past their meta-training horizon (μLO, Therien et al. 2024,
//! arXiv:2405.14658, claims generalization to 25× longer training): one MLP trained for many
//! times the horizon by μLO, by its SP twin and by muP AdamW at a fixed learning rate; prints
//! the training loss averaged over windows of steps and plots it. See `--help`.
//!
//! `cargo run -p tempering-examples --bin lopt_horizon` (the shipped weights, 10,000 steps at
//! width 32; about 2 minutes on 2 cores)

use std::path::PathBuf;

use burn::optim::ModuleOptimizer;
use clap::Parser;
use tempering_core::mup::Parametrization;
use tempering_examples::common::lopt_tasks::{
    MlpTask, PooledImages, adamw_for, train_curve, weights_or_shipped, window_means,
};
use tempering_models::MupMlp;
use tempering_optim::learned::LoptWeights;
use tempering_train::curves_plot::{Panel, Series, plot_panels};
use tempering_train::meta_training::lopt_unroll::InnerTask;

use tempering_examples::common::common_args::{CommonArgs, ExampleDefaults};

/// lopt_horizon's defaults of the common flags.
#[derive(Clone, Debug)]
pub struct LoptHorizon;

impl ExampleDefaults for LoptHorizon {
    const NAME: &'static str = "lopt_horizon";
    const SEED: &'static str = "99";
    const OUT: &'static str = "runs/lopt_horizon";
}

/// Command-line options of `lopt_horizon`.
#[derive(Parser, Debug)]
#[command(
    name = "lopt_horizon",
    about = "Training loss over many times the meta-training horizon: μLO, SP-LO and muP AdamW."
)]
struct Args {
    /// μLO's weights (from meta_train_lopt --parametrization mup) [default: the shipped ones].
    #[arg(long)]
    mulo: Option<PathBuf>,
    /// SP-LO's weights (from meta_train_lopt --parametrization sp) [default: the shipped ones].
    #[arg(long)]
    splo: Option<PathBuf>,
    /// Hidden width.
    #[arg(long, default_value_t = 32)]
    width: usize,
    /// Hidden layers.
    #[arg(long, default_value_t = 3)]
    hidden_layers: usize,
    /// Inner steps per run.
    #[arg(long, default_value_t = 10_000)]
    steps: usize,
    /// Steps per reported window.
    #[arg(long, default_value_t = 500)]
    window: usize,
    /// The longest meta-training horizon, for the report (the shipped weights': 1,000).
    #[arg(long, default_value_t = 1000)]
    horizon: usize,
    /// muP AdamW's learning rate as a power of two (2^-5 is best at width 32 in
    /// `lopt_width_transfer`); leave AdamW out with --no-adamw.
    #[arg(long, default_value_t = -5, allow_hyphen_values = true)]
    adamw_exponent: i32,
    /// Do not train the AdamW baseline.
    #[arg(long)]
    no_adamw: bool,
    /// Images per step.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// The flags every training example shares.
    #[command(flatten)]
    common: CommonArgs<LoptHorizon>,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("lopt_horizon: {e}");
        std::process::exit(2);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    args.common.validate()?;
    if args.width == 0
        || args.hidden_layers == 0
        || args.steps == 0
        || args.window == 0
        || args.horizon == 0
    {
        return Err(
            "--width, --hidden-layers, --steps, --window and --horizon must be positive".into(),
        );
    }
    let mulo = weights_or_shipped(args.mulo.as_deref(), LoptWeights::mulo)?;
    let splo = weights_or_shipped(args.splo.as_deref(), LoptWeights::splo)?;
    let (device, images) = PooledImages::from_common(&args.common)?;
    let task = |parametrization| MlpTask {
        data: images.clone(),
        device: device.clone(),
        width: args.width,
        hidden_layers: args.hidden_layers,
        batch: args.batch,
        parametrization,
    };
    // Trains `t` and reports how long it took.
    let timed =
        |name: String, t: &MlpTask, optimizer_for: &dyn Fn(&MupMlp) -> ModuleOptimizer, lr: f64| {
            let started = std::time::Instant::now();
            let (_, losses) = train_curve(t, optimizer_for, lr, args.steps, args.common.seed);
            eprintln!(
                "{name}: {} steps in {:.0} s",
                losses.len(),
                started.elapsed().as_secs_f64()
            );
            (name, losses)
        };
    let mut runs: Vec<(String, Vec<f64>)> = Vec::new();
    for (name, parametrization, weights) in [
        ("μLO", Parametrization::Mup, &mulo),
        ("SP-LO", Parametrization::Standard, &splo),
    ] {
        let t = task(parametrization);
        let optimizer_for = |model: &_| t.optimizer(weights.clone(), model);
        runs.push(timed(name.to_string(), &t, &optimizer_for, 1.0));
    }
    if !args.no_adamw {
        let t = task(Parametrization::Mup);
        let optimizer_for = |model: &_| adamw_for(&t, model, args.width);
        let name = format!("AdamW (muP, lr 2^{})", args.adamw_exponent);
        runs.push(timed(
            name,
            &t,
            &optimizer_for,
            2f64.powi(args.adamw_exponent),
        ));
    }
    let windows: Vec<Vec<f64>> = runs
        .iter()
        .map(|(_, losses)| window_means(losses, args.window))
        .collect();
    // The last step of each window.
    let window_ends: Vec<usize> = (1..=args.steps.div_ceil(args.window))
        .map(|k| (k * args.window).min(args.steps))
        .collect();
    let mut md = format!(
        "Training loss, mean over each window of {} steps; width {}, {} hidden layers, \
         Fashion-MNIST 7×7, batch {}, seed {}; meta-training horizon {} steps\n\n\
         | steps | × horizon |",
        args.window, args.width, args.hidden_layers, args.batch, args.common.seed, args.horizon
    );
    for (name, _) in &runs {
        md += &format!(" {name} |");
    }
    md += "\n|---|---|";
    md += &"---|".repeat(runs.len());
    md += "\n";
    for (row, &end) in window_ends.iter().enumerate() {
        md += &format!(
            "| {}–{end} | {:.1} |",
            row * args.window + 1,
            end as f64 / args.horizon as f64
        );
        for w in &windows {
            match w.get(row) {
                Some(v) if v.is_finite() => md += &format!(" {v:.3} |"),
                // The run stopped: its loss was no longer finite.
                _ => md += " diverged |",
            }
        }
        md += "\n";
    }
    println!("{md}");
    std::fs::create_dir_all(&args.common.out)?;
    tempering_core::atomic_write::write_atomically(&args.common.out.join("results.md"), |w| {
        std::io::Write::write_all(w, md.as_bytes())
    })?;
    let mut csv = String::from("step");
    for (name, _) in &runs {
        csv += &format!(",{name}");
    }
    csv += "\n";
    for t in 0..args.steps {
        csv += &format!("{}", t + 1);
        for (_, losses) in &runs {
            match losses.get(t) {
                Some(v) => csv += &format!(",{v}"),
                None => csv += ",",
            }
        }
        csv += "\n";
    }
    tempering_core::atomic_write::write_atomically(&args.common.out.join("losses.csv"), |w| {
        std::io::Write::write_all(w, csv.as_bytes())
    })?;
    let panel = Panel {
        title: format!(
            "training loss, mean of {}-step windows (meta-training horizon {})",
            args.window, args.horizon
        ),
        x_label: "step / meta-training horizon".into(),
        y_label: "training loss".into(),
        series: runs
            .iter()
            .zip(&windows)
            .map(|((name, _), w)| Series {
                label: name.clone(),
                points: window_ends
                    .iter()
                    .zip(w)
                    .filter(|(_, v)| v.is_finite())
                    .map(|(&end, &v)| (end as f64 / args.horizon as f64, v))
                    .collect(),
            })
            .collect(),
    };
    let png = args.common.out.join("horizon.png");
    plot_panels(&png, &[panel], (900, 500))?;
    eprintln!(
        "wrote {}, {} and {}",
        args.common.out.join("results.md").display(),
        args.common.out.join("losses.csv").display(),
        png.display()
    );
    Ok(())
}

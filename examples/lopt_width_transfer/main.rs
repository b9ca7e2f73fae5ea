//! μLO's width-transfer experiment at this machine's scale: MLPs of growing width trained longer
//! than the meta-training horizon by μLO, by its SP twin, and by AdamW under muP with the
//! learning rate tuned at the base width only; prints the final training loss per width and
//! optimizer and plots it. See `--help`.
//!
//! `cargo run -p tempering-examples --bin lopt_width_transfer` (the shipped weights; about 25
//! minutes on 2 cores, most of it the learned optimizers at width 1024)

use std::path::PathBuf;

use clap::Parser;
use tempering_core::mup::Parametrization;
use tempering_examples::common::lopt_tasks::{
    MlpTask, PooledImages, adamw_for, final_loss, train_curve, weights_or_shipped,
};
use tempering_optim::learned::LoptWeights;
use tempering_train::curves_plot::{Panel, Series, plot_panels};
use tempering_train::meta_training::lopt_unroll::InnerTask;

use tempering_examples::common::common_args::{CommonArgs, ExampleDefaults};

/// lopt_width_transfer's defaults of the common flags.
#[derive(Clone, Debug)]
pub struct LoptWidthTransfer;

impl ExampleDefaults for LoptWidthTransfer {
    const NAME: &'static str = "lopt_width_transfer";
    const SEED: &'static str = "1234";
    const OUT: &'static str = "runs/lopt_width_transfer";
}

/// Command-line options of `lopt_width_transfer`.
#[derive(Parser, Debug)]
#[command(
    name = "lopt_width_transfer",
    about = "Final training loss against width: μLO, SP-LO and muP AdamW tuned at the base width."
)]
struct Args {
    /// μLO's weights (from meta_train_lopt --parametrization mup) [default: the shipped ones].
    #[arg(long)]
    mulo: Option<PathBuf>,
    /// SP-LO's weights (from meta_train_lopt --parametrization sp) [default: the shipped ones].
    #[arg(long)]
    splo: Option<PathBuf>,
    /// Widths; the first is the base width where AdamW's learning rate is tuned.
    #[arg(long, value_delimiter = ',', default_value = "32,64,128,256,512,1024")]
    widths: Vec<usize>,
    /// Hidden layers.
    #[arg(long, default_value_t = 3)]
    hidden_layers: usize,
    /// Also train a deeper network of this many hidden layers at the base width ×4 (0: none).
    #[arg(long, default_value_t = 6)]
    deep_layers: usize,
    /// Inner steps per run (the shipped weights' meta-training horizons were at most 1,000).
    #[arg(long, default_value_t = 1500)]
    steps: usize,
    /// Images per step.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// AdamW learning rates tried at the base width, as powers of two.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "-12,-11,-10,-9,-8,-7,-6,-5,-4"
    )]
    adamw_exponents: Vec<i32>,
    /// The flags every training example shares.
    #[command(flatten)]
    common: CommonArgs<LoptWidthTransfer>,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("lopt_width_transfer: {e}");
        std::process::exit(2);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    args.common.validate()?;
    if args.widths.is_empty()
        || args.widths.contains(&0)
        || args.steps == 0
        || args.hidden_layers == 0
    {
        return Err("--widths, --steps and --hidden-layers must be positive".into());
    }
    let mulo = weights_or_shipped(args.mulo.as_deref(), LoptWeights::mulo)?;
    let splo = weights_or_shipped(args.splo.as_deref(), LoptWeights::splo)?;
    let (device, images) = PooledImages::from_common(&args.common)?;
    let base = args.widths[0];
    let task = |width: usize, layers: usize, parametrization| MlpTask {
        data: images.clone(),
        device: device.clone(),
        width,
        hidden_layers: layers,
        batch: args.batch,
        parametrization,
    };
    // AdamW's learning rate, tuned at the base width under muP.
    let base_task = task(base, args.hidden_layers, Parametrization::Mup);
    let mut best = (f64::INFINITY, 0);
    for &e in &args.adamw_exponents {
        let (_, losses) = train_curve(
            &base_task,
            |model| adamw_for(&base_task, model, base),
            2f64.powi(e),
            args.steps,
            args.common.seed,
        );
        let loss = final_loss(&losses);
        eprintln!("AdamW (muP) at width {base}, lr 2^{e}: final loss {loss:.4}");
        if loss < best.0 {
            best = (loss, e);
        }
    }
    let adamw_lr = 2f64.powi(best.1);
    eprintln!("AdamW: best lr at width {base} is 2^{}", best.1);
    let mut configs: Vec<(String, usize, usize)> = args
        .widths
        .iter()
        .map(|&w| (format!("{w}"), w, args.hidden_layers))
        .collect();
    if args.deep_layers > 0 {
        configs.push((
            format!("{}×{} layers", 4 * base, args.deep_layers),
            4 * base,
            args.deep_layers,
        ));
    }
    let names = ["μLO", "SP-LO", "AdamW (muP, lr from base width)"];
    let mut table: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for (label, width, layers) in &configs {
        for (k, name) in names.iter().enumerate() {
            let started = std::time::Instant::now();
            let (t, weights) = match k {
                0 => (task(*width, *layers, Parametrization::Mup), Some(&mulo)),
                1 => (
                    task(*width, *layers, Parametrization::Standard),
                    Some(&splo),
                ),
                _ => (task(*width, *layers, Parametrization::Mup), None),
            };
            let lr = if weights.is_some() { 1.0 } else { adamw_lr };
            let optimizer_for = |model: &_| match weights {
                Some(w) => t.optimizer(w.clone(), model),
                None => adamw_for(&t, model, base),
            };
            let (_, losses) = train_curve(&t, optimizer_for, lr, args.steps, args.common.seed);
            let loss = final_loss(&losses);
            eprintln!(
                "{name} at width {label}: final loss {loss:.4} ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
            table[k].push(loss);
        }
    }
    let mut md = format!(
        "Final training loss (mean of the last {} of {} steps), Fashion-MNIST 7×7, batch {}, seed {}\n\n| optimizer |",
        (args.steps / 10).max(1),
        args.steps,
        args.batch,
        args.common.seed
    );
    for (label, _, _) in &configs {
        md += &format!(" {label} |");
    }
    md += "\n|---|";
    md += &"---|".repeat(configs.len());
    md += "\n";
    for (name, row) in names.iter().zip(&table) {
        md += &format!("| {name} |");
        for v in row {
            md += &format!(" {v:.3} |");
        }
        md += "\n";
    }
    println!("{md}");
    std::fs::create_dir_all(&args.common.out)?;
    tempering_core::atomic_write::write_atomically(&args.common.out.join("results.md"), |w| {
        std::io::Write::write_all(w, md.as_bytes())
    })?;
    let widths = args.widths.len();
    let panel = Panel {
        title: format!("final training loss after {} steps", args.steps),
        x_label: "log2 width".into(),
        y_label: "training loss".into(),
        series: names
            .iter()
            .zip(&table)
            .map(|(name, row)| Series {
                label: name.to_string(),
                points: args
                    .widths
                    .iter()
                    .zip(&row[..widths])
                    .filter(|(_, v)| v.is_finite())
                    .map(|(&w, &v)| ((w as f64).log2(), v))
                    .collect(),
            })
            .collect(),
    };
    let png = args.common.out.join("width_transfer.png");
    plot_panels(&png, &[panel], (900, 500))?;
    eprintln!(
        "wrote {} and {}",
        args.common.out.join("results.md").display(),
        png.display()
    );
    Ok(())
}

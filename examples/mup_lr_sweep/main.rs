//! muP's learning-rate transfer with AdamW, measured: a grid of learning rates at several
//! widths, in muP and in the standard parametrization; see `--help`.
//!
//! `cargo run -p tempering-examples --bin mup_lr_sweep`

use clap::Parser;
use tempering_core::mup::Parametrization;
use tempering_data::{TeacherStudentConfig, TeacherStudentDataset};
use tempering_examples::mup_lr_sweep::{SweepTask, best_lr, name, plot, table};

use tempering_examples::common::common_args::{CommonArgs, ExampleDefaults};

/// mup_lr_sweep's defaults of the common flags.
#[derive(Clone, Debug)]
pub struct MupLrSweep;

impl ExampleDefaults for MupLrSweep {
    const NAME: &'static str = "mup_lr_sweep";
    const SEED: &'static str = "0";
    const OUT: &'static str = "runs/mup_lr_sweep";
    const DATA_HELP: Option<&'static str> = None;
    const LIMIT_HELP: Option<&'static str> = None;
    const NOT_APPLICABLE: &'static str = "its teacher network generates the data";
}

/// Command-line options of `mup_lr_sweep`.
#[derive(Parser, Debug)]
#[command(
    name = "mup_lr_sweep",
    about = "AdamW's best learning rate against width, under muP and the standard \
             parametrization, on a teacher-student task."
)]
struct Args {
    /// Hidden widths (the first is muP's base width).
    #[arg(long, value_delimiter = ',', default_value = "64,256,1024")]
    widths: Vec<usize>,
    /// Learning rates as powers of two, from..to (inclusive).
    #[arg(long, default_value_t = -13)]
    lr_from: i32,
    /// Largest learning rate as a power of two.
    #[arg(long, default_value_t = -2)]
    lr_to: i32,
    /// Step between the powers of two of the grid.
    #[arg(long, default_value_t = 1)]
    lr_step: usize,
    /// Steps per run.
    #[arg(long, default_value_t = 200)]
    steps: usize,
    /// Examples per step.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Hidden layers.
    #[arg(long, default_value_t = 2)]
    hidden_layers: usize,
    /// The flags every training example shares.
    #[command(flatten)]
    common: CommonArgs<MupLrSweep>,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("mup_lr_sweep: {e}");
        std::process::exit(2);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    args.common.validate()?;
    if args.widths.is_empty() || args.widths.contains(&0) || args.lr_from > args.lr_to {
        return Err("--widths must be positive and --lr-from at most --lr-to".into());
    }
    if args.lr_step == 0 || args.steps == 0 || args.batch == 0 || args.hidden_layers == 0 {
        return Err("--lr-step, --steps, --batch and --hidden-layers must be at least 1".into());
    }
    let device = args.common.device()?;
    let data = TeacherStudentDataset::new(
        TeacherStudentConfig::new().with_seed(args.common.seed),
        args.steps * args.batch,
    )?;
    eprintln!(
        "teacher-student task: best possible loss {:.3} nats, uniform {:.3}",
        data.bayes_loss(2000),
        (data.config().classes as f64).ln()
    );
    let task = SweepTask {
        data,
        hidden_layers: args.hidden_layers,
        batch: args.batch,
        steps: args.steps,
        base_width: args.widths[0],
        seed: args.common.seed,
    };
    let mut runs = Vec::new();
    let exponents: Vec<i32> = (args.lr_from..=args.lr_to).step_by(args.lr_step).collect();
    let total = 2 * args.widths.len() * exponents.len();
    for parametrization in [Parametrization::Standard, Parametrization::Mup] {
        for &width in &args.widths {
            for &exponent in &exponents {
                let start = std::time::Instant::now();
                let run = task.run(parametrization, width, 2f64.powi(exponent), &device);
                eprintln!(
                    "[{}/{total}] {} width {width} lr 2^{exponent}: loss {:.4} ({:.1} s)",
                    runs.len() + 1,
                    name(parametrization),
                    run.loss,
                    start.elapsed().as_secs_f64()
                );
                runs.push(run);
            }
        }
    }
    println!("{}", table(&runs));
    for parametrization in [Parametrization::Standard, Parametrization::Mup] {
        let best: Vec<String> = args
            .widths
            .iter()
            .map(|&w| {
                format!(
                    "{:.0}",
                    best_lr(&runs, parametrization, w)
                        .unwrap_or(f64::NAN)
                        .log2()
                )
            })
            .collect();
        println!(
            "{}: best log2 lr per width: {}",
            name(parametrization),
            best.join(", ")
        );
    }
    std::fs::create_dir_all(&args.common.out)?;
    let png = args.common.out.join("sweep.png");
    plot(&png, &runs)?;
    eprintln!("wrote {}", png.display());
    Ok(())
}

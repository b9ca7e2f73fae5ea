//! Time per step of the learned optimizer against Burn's Adam on the same parameters, in one
//! run (a ratio, not an absolute claim); see `--help`.
//!
//! `cargo run -p tempering-examples --bin bench_lopt`

use std::time::Instant;

use burn::optim::{AdamConfig, Optimizer};
use burn::tensor::{Device, Distribution, Tensor};
use clap::Parser;
use tempering_optim::learned::{LearnedOptimizerConfig, LoptWeights};

/// Command-line options of `bench_lopt`.
#[derive(Parser, Debug)]
#[command(
    name = "bench_lopt",
    about = "Learned-optimizer step time against Burn's Adam."
)]
struct Args {
    /// Parameter counts (a [n/1000, 1000] matrix each).
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
    sizes: Vec<usize>,
    /// Timed steps per measurement (after one warm-up step).
    #[arg(long, default_value_t = 5)]
    steps: usize,
}

fn time_steps<O: Optimizer>(optimizer: &O, rows: usize, steps: usize, device: &Device) -> f64 {
    let mut p = Tensor::<2>::random([rows, 1000], Distribution::Normal(0.0, 0.1), device);
    let mut state = None;
    let mut seconds = 0.0;
    for step in 0..=steps {
        let g = Tensor::<2>::random([rows, 1000], Distribution::Normal(0.0, 1.0), device);
        let started = Instant::now();
        let (next, next_state) = optimizer.step(1e-3, p, g, state);
        let _ = next.clone().slice([0..1, 0..1]).into_scalar::<f32>();
        if step > 0 {
            seconds += started.elapsed().as_secs_f64();
        }
        p = next;
        state = next_state;
    }
    seconds / steps as f64
}

fn main() {
    let args = Args::parse();
    let device = Device::default();
    let lopt = LearnedOptimizerConfig::new().build(LoptWeights::init(0));
    let adam = AdamConfig::new().build();
    println!("| parameters | Adam (Burn) ms | learned optimizer ms | ratio | ns per element |");
    println!("|---|---|---|---|---|");
    for &n in &args.sizes {
        let rows = (n / 1000).max(1);
        let adam_s = time_steps(&adam, rows, args.steps, &device);
        let lopt_s = time_steps(&lopt, rows, args.steps, &device);
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.0} |",
            rows * 1000,
            adam_s * 1e3,
            lopt_s * 1e3,
            lopt_s / adam_s,
            lopt_s * 1e9 / (rows * 1000) as f64
        );
    }
}

//! The learned optimizer's step: time against Burn's Adam on the same parameters, parameters per
//! second, and floating-point throughput as a fraction of this machine's matrix multiply
//! measured in the same run; see `--help`.
//!
//! `cargo run --release -p tempering-examples --bin bench_lopt`

use std::time::Instant;

use burn::optim::{AdamConfig, Optimizer};
use burn::tensor::{Device, Distribution, Tensor};
use clap::Parser;
use tempering_examples::common::median::median;
use tempering_optim::learned::{
    FACTORED_MACS_PER_ELEMENT, LearnedOptimizerConfig, LoptWeights, REFERENCE_MACS_PER_ELEMENT,
};

/// Command-line options of `bench_lopt`.
#[derive(Parser, Debug)]
#[command(
    name = "bench_lopt",
    about = "Learned-optimizer step: time against Burn's Adam, parameters per second, and \
             FLOP/s against a matrix multiply of the MLP's shape in the same run."
)]
struct Args {
    /// Parameter counts (a [n/1000, 1000] matrix each).
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
    sizes: Vec<usize>,
    /// Timed steps per measurement (after one warm-up step); the median is reported.
    #[arg(long, default_value_t = 7)]
    steps: usize,
    /// Rows of the reference matrix multiply `[rows, 32] · [32, 32]` (the MLP's hidden layer
    /// over a block of elements).
    #[arg(long, default_value_t = 262_144)]
    gemm_rows: usize,
}

/// Median seconds per step of `optimizer` on a `[rows, 1000]` parameter, a fresh gradient each
/// step.
fn step_seconds<O: Optimizer>(optimizer: &O, rows: usize, steps: usize, device: &Device) -> f64 {
    let mut p = Tensor::<2>::random([rows, 1000], Distribution::Normal(0.0, 0.1), device);
    let mut state = None;
    let mut times = Vec::with_capacity(steps);
    for step in 0..=steps {
        let g = Tensor::<2>::random([rows, 1000], Distribution::Normal(0.0, 1.0), device);
        let _ = g.clone().slice([0..1, 0..1]).into_scalar::<f32>();
        let started = Instant::now();
        let (next, next_state) = optimizer.step(1e-3, p, g, state);
        let _ = next.clone().slice([0..1, 0..1]).into_scalar::<f32>();
        if step > 0 {
            times.push(started.elapsed().as_secs_f64());
        }
        p = next;
        state = next_state;
    }
    median(times)
}

/// Median FLOP/s of Burn's matrix multiply `[m, k] · [k, n]` on `device` (`2·m·k·n` each).
fn gemm_flops(m: usize, k: usize, n: usize, reps: usize, device: &Device) -> f64 {
    let a = Tensor::<2>::random([m, k], Distribution::Normal(0.0, 1.0), device);
    let b = Tensor::<2>::random([k, n], Distribution::Normal(0.0, 1.0), device);
    let mut times = Vec::with_capacity(reps);
    for rep in 0..=reps {
        let started = Instant::now();
        let c = a.clone().matmul(b.clone());
        let _ = c.slice([0..1, 0..1]).into_scalar::<f32>();
        if rep > 0 {
            times.push(started.elapsed().as_secs_f64());
        }
    }
    2.0 * (m * k * n) as f64 / median(times)
}

fn main() {
    let args = Args::parse();
    let device = Device::default();
    let lopt = LearnedOptimizerConfig::new().build(LoptWeights::init(0));
    let adam = AdamConfig::new().build();
    let gemm = gemm_flops(args.gemm_rows, 32, 32, args.steps, &device);
    let square = gemm_flops(1024, 1024, 1024, args.steps, &device);
    println!(
        "matrix multiply (Burn, f32, {} cores): [{}, 32]·[32, 32] {:.1} GFLOP/s; \
         [1024, 1024]·[1024, 1024] {:.1} GFLOP/s",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        args.gemm_rows,
        gemm / 1e9,
        square / 1e9
    );
    println!(
        "FLOP per element: {} executed (the folded MLP on a matrix), {} in the reference MLP",
        2 * FACTORED_MACS_PER_ELEMENT,
        2 * REFERENCE_MACS_PER_ELEMENT
    );
    println!();
    println!(
        "| parameters | Adam (Burn) ms | learned ms | ratio | ns per element | \
         M parameters/s | executed GFLOP/s | ÷ [n, 32] multiply | ÷ square multiply | \
         reference-MLP GFLOP/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for &n in &args.sizes {
        let rows = (n / 1000).max(1);
        let elements = (rows * 1000) as f64;
        let adam_s = step_seconds(&adam, rows, args.steps, &device);
        let lopt_s = step_seconds(&lopt, rows, args.steps, &device);
        let per_second = elements / lopt_s;
        let executed = per_second * 2.0 * FACTORED_MACS_PER_ELEMENT as f64;
        let reference = per_second * 2.0 * REFERENCE_MACS_PER_ELEMENT as f64;
        println!(
            "| {} | {:.2} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} % | {:.0} % | {:.1} |",
            rows * 1000,
            adam_s * 1e3,
            lopt_s * 1e3,
            lopt_s / adam_s,
            lopt_s * 1e9 / elements,
            per_second / 1e6,
            executed / 1e9,
            100.0 * executed / gemm,
            100.0 * executed / square,
            reference / 1e9,
        );
    }
}

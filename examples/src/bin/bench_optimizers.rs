//! Time per optimizer step on 1M and 10M parameters, as a ratio to the memory bound.
//!
//! `cargo run -p tempering-examples --bin bench_optimizers [-- --sizes 1000000,10000000]`
//!
//! For each size, in one run: every per-parameter optimizer of tempering-optim (fused host path
//! and, for comparison, its tensor-operation path), burn-optim's `Lion` and `Adam` (tensor
//! operations) as baselines, and single-pass loops over plain `Vec<f32>` that read and write the
//! same arrays as each optimizer (the memory bound). Each step gets a fresh, uniquely owned
//! gradient (as in training); only the `step` call is timed; the median of the timed steps is
//! reported.

use std::time::Instant;

use burn::optim::{AdamConfig, LionConfig, Optimizer};
use burn::tensor::{Device, Tensor, TensorData};
use clap::Parser;
use tempering_optim::host_step::par_chunks;
use tempering_optim::{
    AdaBoundConfig, AmsGradConfig, AmsGradConvention, CautiousConfig, CautiousNormalization,
    GramsConfig, PAdamConfig, StepPath,
};

#[derive(Parser, Debug)]
#[command(about = "Optimizer step time against the memory bound, on the default device")]
struct Args {
    /// Parameter counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000000,10000000")]
    sizes: Vec<usize>,
    /// Timed steps per optimizer and size (after 2 warm-up steps).
    #[arg(long, default_value_t = 15)]
    steps: usize,
    /// Measure only the optimizers whose name contains this text (case-insensitive); burn's
    /// Lion, the baseline, always runs.
    #[arg(long)]
    only: Option<String>,
}

/// Median of timed `step` calls, in milliseconds.
fn time_optimizer<O: Optimizer>(optimizer: &O, n: usize, steps: usize) -> f64 {
    let device = Device::default();
    let values: Vec<f32> = (0..n).map(|i| ((i % 1000) as f32 - 500.0) * 1e-3).collect();
    let grad_data = TensorData::new(values.clone(), [n]);
    let mut x = Tensor::<1>::from_data(TensorData::new(values, [n]), &device);
    let mut state = None;
    let mut times = Vec::with_capacity(steps);
    for i in 0..steps + 2 {
        let grad = Tensor::<1>::from_data(grad_data.clone(), &device);
        let start = Instant::now();
        let (next, s) = optimizer.step(1e-3, x, grad, state);
        // Wait for the device (a no-op for eager CPU backends; makes lazy backends finish).
        next.device().sync().expect("device sync");
        let elapsed = start.elapsed().as_secs_f64() * 1e3;
        x = next;
        state = s;
        if i >= 2 {
            times.push(elapsed);
        }
    }
    median(times)
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// The memory bound: one pass over the arrays of an optimizer step, writing `writes` of them
/// (parameter and state) and reading one more (the gradient); on one thread, or split across
/// rayon's threads the way the fused steps are.
fn time_bound(n: usize, writes: usize, parallel: bool, steps: usize) -> f64 {
    // Five arrays; the kernel touches the gradient and the `writes` it updates, no others.
    let mut arrays: [Vec<f32>; 5] = std::array::from_fn(|k| vec![k as f32 * 0.5 + 1.0; n]);
    let kernel = |_: usize, chunk: [&mut [f32]; 5]| {
        let [g, x, m, v, w] = chunk;
        match writes {
            2 => {
                for j in 0..x.len() {
                    m[j] = 0.9 * m[j] + g[j];
                    x[j] -= 1e-3 * m[j];
                }
            }
            3 => {
                for j in 0..x.len() {
                    m[j] = 0.9 * m[j] + g[j];
                    v[j] = 0.999 * v[j] + g[j] * g[j];
                    x[j] -= 1e-3 * m[j] * v[j];
                }
            }
            _ => {
                for j in 0..x.len() {
                    m[j] = 0.9 * m[j] + g[j];
                    v[j] = 0.999 * v[j] + g[j] * g[j];
                    w[j] = w[j].max(v[j]);
                    x[j] -= 1e-3 * m[j] * w[j];
                }
            }
        }
    };
    let mut times = Vec::with_capacity(steps);
    for i in 0..steps + 2 {
        let start = Instant::now();
        let chunk = arrays.each_mut().map(|a| a.as_mut_slice());
        if parallel {
            par_chunks(chunk, &kernel);
        } else {
            kernel(0, chunk);
        }
        std::hint::black_box(&arrays);
        if i >= 2 {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    median(times)
}

struct Row {
    name: &'static str,
    /// Arrays written (parameter and state); one more (the gradient) is read.
    writes: usize,
    time: Box<dyn Fn(usize, usize) -> f64>,
}

fn row<O: Optimizer>(name: &'static str, writes: usize, optimizer: O) -> Row {
    Row {
        name,
        writes,
        time: Box::new(move |n, steps| time_optimizer(&optimizer, n, steps)),
    }
}

fn main() {
    let args = Args::parse();
    let ams = AmsGradConfig::new().build();
    let rows = vec![
        row("burn Lion (tensor ops)", 2, LionConfig::new().build()),
        row("burn Adam (tensor ops)", 3, AdamConfig::new().build()),
        row(
            "burn Adam+AMSGrad (tensor ops)",
            4,
            AdamConfig::new().with_amsgrad(true).build(),
        ),
        row("AMSGrad torch", 4, ams.clone()),
        row(
            "AMSGrad torch (tensor ops)",
            4,
            ams.clone().with_step_path(StepPath::TensorOps),
        ),
        row(
            "AMSGrad optax",
            4,
            AmsGradConfig::new()
                .with_convention(AmsGradConvention::Optax)
                .build(),
        ),
        row(
            "AdamW + AMSGrad",
            4,
            AmsGradConfig::new()
                .with_weight_decay(1e-2)
                .with_decoupled_weight_decay(true)
                .build(),
        ),
        row("AdaBound", 3, AdaBoundConfig::new().build()),
        row(
            "AMSBound",
            4,
            AdaBoundConfig::new().with_amsbound(true).build(),
        ),
        row("PAdam", 4, PAdamConfig::new().build()),
        row("Grams", 3, GramsConfig::new().build()),
        row(
            "C-Lion (fused)",
            2,
            CautiousConfig::new()
                .with_normalization(CautiousNormalization::CountPlusOne)
                .try_build_lion(&LionConfig::new())
                .expect("valid C-Lion config"),
        ),
        row(
            "C-Lion (generic, burn Lion step)",
            2,
            CautiousConfig::new()
                .with_normalization(CautiousNormalization::CountPlusOne)
                .build(LionConfig::new().build()),
        ),
        row("C-AdamW + AMSGrad", 4, CautiousConfig::new().build(ams)),
    ];
    println!(
        "device: {:?}; median of {} steps; ratio = time / memory bound with the same arrays",
        Device::default(),
        args.steps
    );
    for &n in &args.sizes {
        // The bound is the faster of one thread and all threads (the fused steps use all).
        let bounds: Vec<(f64, f64)> = (2..=4)
            .map(|w| {
                (
                    time_bound(n, w, false, args.steps),
                    time_bound(n, w, true, args.steps),
                )
            })
            .collect();
        let lion = (rows[0].time)(n, args.steps);
        println!("\n{n} parameters");
        println!(
            "{:<32} {:>10} {:>9} {:>12}",
            "optimizer", "ms/step", "÷ bound", "burn Lion ÷"
        );
        for (w, &(one, all)) in (2..=4).zip(&bounds) {
            for (threads, b) in [("1 thread", one), ("all threads", all)] {
                println!(
                    "{:<32} {:>10.2} {:>9.2} {:>12.1}",
                    format!("bound {}r/{w}w, {threads}", w + 1),
                    b,
                    b / one.min(all),
                    lion / b
                );
            }
        }
        let selected = |name: &str| {
            args.only
                .as_ref()
                .is_none_or(|only| name.to_lowercase().contains(&only.to_lowercase()))
        };
        for r in rows
            .iter()
            .filter(|r| r.name == rows[0].name || selected(r.name))
        {
            let t = if r.name == rows[0].name {
                lion
            } else {
                (r.time)(n, args.steps)
            };
            let (one, all) = bounds[r.writes - 2];
            let bound = one.min(all);
            println!(
                "{:<32} {:>10.2} {:>9.2} {:>12.1}",
                r.name,
                t,
                t / bound,
                lion / t
            );
        }
    }
}

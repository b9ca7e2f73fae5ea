//! Time per optimizer step on 1M and 10M parameters, as a ratio to the memory bound.
//!
//! `cargo run --release -p tempering-examples --bin bench_optimizers [-- --sizes 1000000,10000000]`
//!
//! For each size, in one run: every per-parameter optimizer of tempering-optim (fused host path
//! and, for comparison, its tensor-operation path), burn-optim's `Lion` and `Adam` (tensor
//! operations) as baselines, and single-pass loops over plain `Vec<f32>` that read and write the
//! same arrays as each optimizer (the memory bound). Only the `step` call (or the bound's loop)
//! is timed; the median of the timed steps is reported. The bound is measured again beside
//! every optimizer (just before and just after its steps, the faster kept), so a ratio compares
//! two measurements taken moments apart: on a shared machine the bound alone moved by 2–3×
//! between runs.
//!
//! Both get their gradient the same way: before each timed step, a fresh, uniquely owned
//! gradient is computed into new memory (as a backward pass writes it), outside the timing. The
//! "hot bound" column is the same loop with the gradient left in place from the step before
//! (every array already in cache), for comparison: it is faster than any optimizer can be, whose
//! gradient is new memory each step. On a machine with a 300 MiB L3 the two bounds agreed at 1M
//! parameters, while at 10M a gradient copied with `memcpy` (non-temporal stores, past the
//! cache) made every step wait on DRAM and the hot bound was 2–3× too optimistic for C-Lion.

use std::time::Instant;

use burn::optim::{AdamConfig, LionConfig, Optimizer};
use burn::tensor::{Device, Tensor, TensorData};
use clap::Parser;
use tempering_examples::common::median::median;
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
    /// Timed steps per optimizer and size (after 2 warm-up steps) [default: 2×10⁸ / size,
    /// between 15 and 1000: 200 at 1M parameters, 20 at 10M].
    #[arg(long)]
    steps: Option<usize>,
    /// Measure only the optimizers whose name contains this text (case-insensitive); burn's
    /// Lion, the baseline, always runs.
    #[arg(long)]
    only: Option<String>,
}

/// A gradient of `n` values in newly allocated memory, written by a computing loop (regular
/// stores, as a backward pass's kernels write it) rather than copied.
fn fresh_gradient(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i % 1000) as f32 - 500.0) * 1e-3).collect()
}

/// Median of timed `step` calls, in milliseconds.
fn time_optimizer<O: Optimizer>(optimizer: &O, n: usize, steps: usize) -> f64 {
    let device = Device::default();
    let mut x = Tensor::<1>::from_data(TensorData::new(fresh_gradient(n), [n]), &device);
    let mut state = None;
    let mut times = Vec::with_capacity(steps);
    for i in 0..steps + 2 {
        let grad = Tensor::<1>::from_data(TensorData::new(fresh_gradient(n), [n]), &device);
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

/// The memory bound: one pass over the arrays of an optimizer step, writing `writes` of them
/// (parameter and state) and reading one more (the gradient); on one thread, or split across
/// rayon's threads the way the fused steps are. With `fresh`, each pass gets a new gradient
/// from [`fresh_gradient`] (as the optimizers do); otherwise it reuses the last one, in cache.
fn time_bound(n: usize, writes: usize, parallel: bool, fresh: bool, steps: usize) -> f64 {
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
        if fresh {
            arrays[0] = fresh_gradient(n);
        }
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
    tempering_examples::common::release_build::require_release_build("bench_optimizers");
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
        "device: {:?}; median of the timed steps; ratio = time / memory bound with the same \
         arrays, measured beside each row",
        Device::default(),
    );
    let selected = |name: &str| {
        args.only
            .as_ref()
            .is_none_or(|only| name.to_lowercase().contains(&only.to_lowercase()))
    };
    for &n in &args.sizes {
        let steps = args
            .steps
            .unwrap_or((200_000_000 / n.max(1)).clamp(15, 1000));
        // Burn's Lion is the first row, so every later row has its time to compare with.
        let mut lion = f64::NAN;
        println!("\n{n} parameters, {steps} timed steps");
        println!(
            "{:<32} {:>10} {:>10} {:>9} {:>12} {:>15}",
            "optimizer", "ms/step", "bound ms", "÷ bound", "burn Lion ÷", "hot bound ms"
        );
        for r in rows
            .iter()
            .filter(|r| r.name == rows[0].name || selected(r.name))
        {
            let before = bound(n, r.writes, true, steps);
            let t = (r.time)(n, steps);
            if r.name == rows[0].name {
                lion = t;
            }
            let bound = before.min(bound(n, r.writes, true, steps));
            let hot = bound_hot(n, r.writes, steps);
            println!(
                "{:<32} {:>10.2} {:>10.2} {:>9.2} {:>12.1} {:>15.2}",
                r.name,
                t,
                bound,
                t / bound,
                lion / t,
                hot
            );
        }
    }
}

/// The memory bound for `writes` written arrays: the faster of one thread and all threads (the
/// fused steps use all), with a fresh gradient each pass or (`fresh` false) a hot one.
fn bound(n: usize, writes: usize, fresh: bool, steps: usize) -> f64 {
    time_bound(n, writes, false, fresh, steps).min(time_bound(n, writes, true, fresh, steps))
}

/// [`bound`] with every array hot in cache.
fn bound_hot(n: usize, writes: usize, steps: usize) -> f64 {
    bound(n, writes, false, steps)
}

//! Time per optimizer step on 1M and 10M parameters, against the machine's memory bound and,
//! with `--python`, against PyTorch's fused steps measured in the same run.
//!
//! `cargo run --release -p tempering-examples --bin bench_optimizers [-- --sizes 1000000,10000000
//! --python PATH/TO/python]`
//!
//! For each size, in `--rounds` alternating rounds: every per-parameter optimizer of
//! tempering-optim (fused host path and, for comparison, its tensor-operation path) and
//! burn-optim's `Lion` and `Adam` (tensor operations), each followed by its PyTorch counterpart
//! (`bench_optimizers.py`: the same rule where PyTorch has it, else the fused step moving the
//! same arrays); and two bounds per round:
//! - the STREAM-style bound (`stream_bound.rs`): the fastest of a vectorized loop that reads and
//!   writes exactly the step's arrays with one addition per element, on every thread count, with
//!   regular and with streaming stores;
//! - the old bound: a loop of optimizer-like arithmetic over the same arrays as the compiler
//!   vectorizes it (what earlier versions printed).
//!
//! Every side gets its gradient the same way: before each timed step, a fresh gradient is
//! computed into new memory by the side's own threads (as a backward pass writes it; rayon's
//! pool here, `torch.randn` in PyTorch), outside the timing. Only the step (or the loop) is
//! timed; each reports the median of its timed steps, and the tables the medians over the rounds
//! (the ratio to PyTorch: the median of the rounds' ratios).

mod stream_bound;
mod torch_side;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use burn::optim::{AdamConfig, LionConfig, Optimizer};
use burn::tensor::{Device, Tensor, TensorData};
use clap::Parser;
use rayon::{ThreadPool, ThreadPoolBuilder};
use stream_bound::{StreamBound, stream_bound};
use tempering_examples::common::median::median;
use tempering_optim::host_step::par_chunks;
use tempering_optim::{
    AdaBoundConfig, AdaptiveOptimizer, AmsGradConfig, AmsGradConvention, CautiousConfig,
    CautiousNormalization, GradientCheck, GramsConfig, PAdamConfig, StepPath,
};
use torch_side::{TorchRule, TorchSide};

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
    /// Rounds; each measures the bounds, then every row, each followed by its PyTorch
    /// counterpart the first time that counterpart comes up. Medians over the rounds.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// A Python interpreter that can import torch: also time PyTorch's fused Adam, Adam +
    /// AMSGrad and AdamW + AMSGrad, and cautious Lion with foreach operations, on all cores.
    #[arg(long)]
    python: Option<String>,
}

/// A gradient of `n` values in newly allocated memory, written by a computing loop on rayon's
/// pool (regular stores from the pool's threads, as a backward pass's kernels write it on the
/// host backends) rather than copied. Written on one thread instead, it left the pool's threads
/// asleep, and every step paid for waking them: at 1M parameters AMSGrad's step took 1.2 ms
/// instead of 0.55 on the 2-core VM.
fn fresh_gradient(n: usize) -> Vec<f32> {
    use rayon::prelude::*;
    (0..n)
        .into_par_iter()
        .map(|i| ((i % 1000) as f32 - 500.0) * 1e-3)
        .collect()
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

/// The old bound: one pass of optimizer-like arithmetic over the arrays of a step, writing
/// `writes` of them (parameter and state) and reading one more (the gradient), as the compiler
/// vectorizes it; on one thread, or split across rayon's threads the way the fused steps are.
/// Each pass gets a new gradient from [`fresh_gradient`], as the optimizers do.
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
        arrays[0] = fresh_gradient(n);
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

/// One optimizer measured.
struct Row {
    name: &'static str,
    /// Arrays written (parameter and state); one more (the gradient) is read.
    writes: usize,
    /// The PyTorch step it is compared with: the same rule, or the one moving the same arrays.
    torch: Option<TorchRule>,
    time: Box<dyn Fn(usize, usize) -> f64>,
}

fn row<O: Optimizer>(
    name: &'static str,
    writes: usize,
    torch: Option<TorchRule>,
    optimizer: O,
) -> Row {
    Row {
        name,
        writes,
        torch,
        time: Box::new(move |n, steps| time_optimizer(&optimizer, n, steps)),
    }
}

/// The rows, Burn's Lion (the baseline) first.
fn rows() -> Vec<Row> {
    use TorchRule::*;
    let ams = AmsGradConfig::new().build();
    let optax = AmsGradConfig::new()
        .with_convention(AmsGradConvention::Optax)
        .build();
    let adamw_ams = AmsGradConfig::new()
        .with_weight_decay(1e-2)
        .with_decoupled_weight_decay(true)
        .build();
    let adabound = AdaBoundConfig::new().build();
    let amsbound = AdaBoundConfig::new().with_amsbound(true).build();
    let padam = PAdamConfig::new().build();
    let grams = GramsConfig::new().build();
    let mut rows = vec![
        row("burn Lion (tensor ops)", 2, None, LionConfig::new().build()),
        row(
            "burn Adam (tensor ops)",
            3,
            Some(Adam),
            AdamConfig::new().build(),
        ),
        row(
            "burn Adam+AMSGrad (tensor ops)",
            4,
            Some(AdamAmsgrad),
            AdamConfig::new().with_amsgrad(true).build(),
        ),
        row("AMSGrad torch", 4, Some(AdamAmsgrad), ams.clone()),
        row(
            "AMSGrad torch (tensor ops)",
            4,
            Some(AdamAmsgrad),
            ams.clone().with_step_path(StepPath::TensorOps),
        ),
        row("AMSGrad optax", 4, Some(AdamAmsgrad), optax.clone()),
        row("AdamW + AMSGrad", 4, Some(AdamwAmsgrad), adamw_ams.clone()),
        row("AdaBound", 3, Some(Adam), adabound.clone()),
        row("AMSBound", 4, Some(AdamAmsgrad), amsbound.clone()),
        row("PAdam", 4, Some(AdamAmsgrad), padam.clone()),
        row("Grams", 3, Some(Adam), grams.clone()),
        row(
            "C-Lion (fused)",
            2,
            Some(CautiousLion),
            CautiousConfig::new()
                .with_normalization(CautiousNormalization::CountPlusOne)
                .try_build_lion(&LionConfig::new())
                .expect("valid C-Lion config"),
        ),
        row(
            "C-Lion (generic, burn Lion step)",
            2,
            Some(CautiousLion),
            CautiousConfig::new()
                .with_normalization(CautiousNormalization::CountPlusOne)
                .build(LionConfig::new().build()),
        ),
        row(
            "C-AdamW + AMSGrad",
            4,
            Some(CautiousAdamAmsgrad),
            CautiousConfig::new().build(ams.clone()),
        ),
    ];
    // The same fused steps without the NaN check (`GradientCheck::Unchecked`), PyTorch's
    // contract: what the check costs, and the rule alone against PyTorch's.
    let unchecked = |o: AdaptiveOptimizer| o.with_gradient_check(GradientCheck::Unchecked);
    rows.extend([
        row(
            "AMSGrad torch, unchecked",
            4,
            Some(AdamAmsgrad),
            unchecked(ams),
        ),
        row(
            "AMSGrad optax, unchecked",
            4,
            Some(AdamAmsgrad),
            unchecked(optax),
        ),
        row(
            "AdamW + AMSGrad, unchecked",
            4,
            Some(AdamwAmsgrad),
            unchecked(adamw_ams),
        ),
        row("AdaBound, unchecked", 3, Some(Adam), unchecked(adabound)),
        row(
            "AMSBound, unchecked",
            4,
            Some(AdamAmsgrad),
            unchecked(amsbound),
        ),
        row("PAdam, unchecked", 4, Some(AdamAmsgrad), unchecked(padam)),
        row("Grams, unchecked", 3, Some(Adam), unchecked(grams)),
    ]);
    rows
}

/// What one round measured for one row.
struct Measured {
    ms: f64,
    torch_ms: Option<f64>,
}

fn main() {
    let args = Args::parse();
    tempering_examples::common::release_build::require_release_build("bench_optimizers");
    if args.rounds == 0 {
        eprintln!("bench_optimizers: --rounds must be at least 1");
        std::process::exit(2);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pools: Vec<ThreadPool> = (1..=cores)
        .map(|t| {
            ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .expect("a thread pool")
        })
        .collect();
    let mut torch = args.python.as_deref().and_then(|python| {
        TorchSide::start(python, cores)
            .map_err(|e| eprintln!("PyTorch not measured: {e}"))
            .ok()
    });
    let rows = rows();
    let selected: Vec<&Row> = rows
        .iter()
        .enumerate()
        .filter(|(i, r)| {
            *i == 0
                || args
                    .only
                    .as_ref()
                    .is_none_or(|only| r.name.to_lowercase().contains(&only.to_lowercase()))
        })
        .map(|(_, r)| r)
        .collect();
    println!(
        "device: {:?}; {cores} cores; {}; medians over {} alternating rounds",
        Device::default(),
        torch
            .as_ref()
            .map_or("PyTorch not measured (--python)", |t| t.label.as_str()),
        args.rounds
    );
    for &n in &args.sizes {
        let steps = args
            .steps
            .unwrap_or((200_000_000 / n.max(1)).clamp(15, 1000));
        let mut stream: BTreeMap<usize, Vec<StreamBound>> = BTreeMap::new();
        let mut old_bound: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
        let mut measured: Vec<Vec<Measured>> = selected.iter().map(|_| Vec::new()).collect();
        for round in 1..=args.rounds {
            eprintln!("{n} parameters, round {round}/{}", args.rounds);
            for writes in selected.iter().map(|r| r.writes).collect::<BTreeSet<_>>() {
                stream
                    .entry(writes)
                    .or_default()
                    .push(stream_bound(n, writes, steps, &pools));
                old_bound
                    .entry(writes)
                    .or_default()
                    .push(bound(n, writes, steps));
            }
            // PyTorch's step is timed right after the first row compared with it, each round.
            let mut torch_round: HashMap<TorchRule, Option<f64>> = HashMap::new();
            for (r, row) in selected.iter().enumerate() {
                let ms = (row.time)(n, steps);
                let torch_ms = match (row.torch, torch.as_mut()) {
                    (Some(rule), Some(side)) => *torch_round.entry(rule).or_insert_with(|| {
                        side.time(rule, n, steps)
                            .map_err(|e| eprintln!("PyTorch {}: {e}", rule.label()))
                            .ok()
                    }),
                    _ => None,
                };
                measured[r].push(Measured { ms, torch_ms });
            }
        }
        println!("\n{n} parameters, {steps} timed steps per row and round");
        print_stream_table(&stream);
        print_rows(&selected, &measured, &stream, &old_bound);
    }
}

/// Every variant of the STREAM-style loop: threads × stores, medians over the rounds.
fn print_stream_table(stream: &BTreeMap<usize, Vec<StreamBound>>) {
    println!(
        "STREAM-style loop (ms per pass): {:>8} {:>10} {:>10} {:>10}",
        "written", "threads", "stores", "ms"
    );
    for (writes, rounds) in stream {
        for (k, &(threads, stores, _)) in rounds[0].variants.iter().enumerate() {
            let ms = median(rounds.iter().map(|b| b.variants[k].2).collect());
            println!(
                "{:>32} {writes:>8} {threads:>10} {:>10} {ms:>10.2}",
                "",
                stores.name()
            );
        }
    }
}

/// The main table: each row against the STREAM bound, the old bound, PyTorch and Burn's Lion.
fn print_rows(
    rows: &[&Row],
    measured: &[Vec<Measured>],
    stream: &BTreeMap<usize, Vec<StreamBound>>,
    old_bound: &BTreeMap<usize, Vec<f64>>,
) {
    println!(
        "{:<32} {:>8} {:>8} {:>8} {:>8} {:>8} {:>20} {:>8} {:>8} {:>7}",
        "optimizer",
        "ms/step",
        "STREAM",
        "÷ STREAM",
        "old bnd",
        "÷ old",
        "PyTorch counterpart",
        "its ms",
        "÷ torch",
        "Lion ÷"
    );
    let lion = median(measured[0].iter().map(|m| m.ms).collect());
    for (row, rounds) in rows.iter().zip(measured) {
        let ms = median(rounds.iter().map(|m| m.ms).collect());
        let bound = median(
            stream[&row.writes]
                .iter()
                .map(StreamBound::best_ms)
                .collect(),
        );
        let old = median(old_bound[&row.writes].clone());
        let torch_ms: Vec<f64> = rounds.iter().filter_map(|m| m.torch_ms).collect();
        let ratios: Vec<f64> = rounds
            .iter()
            .filter_map(|m| m.torch_ms.map(|t| m.ms / t))
            .collect();
        let (torch_col, ratio_col) = if ratios.is_empty() {
            ("-".to_string(), "-".to_string())
        } else {
            (
                format!("{:.2}", median(torch_ms)),
                format!("{:.2}", median(ratios)),
            )
        };
        println!(
            "{:<32} {ms:>8.2} {bound:>8.2} {:>8.2} {old:>8.2} {:>8.2} {:>20} {torch_col:>8} \
             {ratio_col:>8} {:>7.1}",
            row.name,
            ms / bound,
            ms / old,
            row.torch.map_or("-", TorchRule::label),
            lion / ms
        );
    }
}

/// The old bound for `writes` written arrays: the optimizer-like loop above, the faster of one
/// thread and all threads, with a fresh gradient each pass.
fn bound(n: usize, writes: usize, steps: usize) -> f64 {
    time_bound(n, writes, false, steps).min(time_bound(n, writes, true, steps))
}

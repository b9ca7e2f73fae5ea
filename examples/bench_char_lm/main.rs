//! Training throughput of `train_char_lm`'s model (tokens per second of optimizer steps) on the
//! default CPU backend, and of the same PyTorch model in the same run where `--python` (default
//! `python3`) can import torch, with their ratio. The two sides alternate for `--rounds` rounds
//! and the ratio printed is the median of the rounds' ratios.
//!
//! ```sh
//! cargo run -p tempering-examples --bin bench_char_lm -- --timed-steps 30 --rounds 5
//! ```

use clap::Parser;
use tempering_examples::train_char_lm::CharLmArgs;
use tempering_examples::train_char_lm::breakdown::step_breakdown;
use tempering_examples::train_char_lm::throughput::{
    Round, TorchThroughput, burn_tokens_per_second, median_ratio, rounds_table,
    torch_tokens_per_second,
};

/// Options of `bench_char_lm`.
#[derive(Parser, Debug)]
#[command(about = "Training tokens per second of the character LM, Burn against PyTorch")]
struct Args {
    /// Timed training steps per side and round (after 3 untimed ones).
    #[arg(long, default_value_t = 30)]
    timed_steps: usize,
    /// Rounds of Burn then PyTorch; the ratio printed is the median of the rounds' ratios.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The Python interpreter that runs the PyTorch twin (a virtual environment's, say).
    #[arg(long, default_value = "python3")]
    python: String,
    /// Also time each kind of layer alone (forward and backward at the step's shapes) and print
    /// its share of a training step.
    #[arg(long)]
    breakdown: bool,
    /// The model and recipe (train_char_lm's flags).
    #[command(flatten)]
    model: CharLmArgs,
}

fn fail(e: impl std::fmt::Display) -> ! {
    eprintln!("bench_char_lm: {e}");
    std::process::exit(2);
}

fn main() {
    let args = Args::parse();
    if args.rounds == 0 {
        fail("--rounds must be at least 1");
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if args.breakdown {
        match step_breakdown(&args.model, args.timed_steps) {
            Ok(b) => println!("Where a Burn training step goes:\n\n{}", b.table()),
            Err(e) => fail(e),
        }
    }
    let mut rounds = Vec::with_capacity(args.rounds);
    let mut torch_label = "PyTorch".to_string();
    let mut unavailable = None;
    for round in 1..=args.rounds {
        let burn =
            burn_tokens_per_second(&args.model, args.timed_steps).unwrap_or_else(|e| fail(e));
        let torch = if unavailable.is_some() {
            None
        } else {
            match torch_tokens_per_second(&args.python, &args.model, args.timed_steps, threads) {
                TorchThroughput::Measured {
                    tokens_per_second,
                    version,
                    threads,
                } => {
                    torch_label = format!("PyTorch {version} ({threads} threads)");
                    Some(tokens_per_second)
                }
                TorchThroughput::Unavailable(why) => {
                    unavailable = Some(why);
                    None
                }
            }
        };
        let r = Round { burn, torch };
        eprintln!(
            "round {round}/{}: Burn {burn:.0} tokens/s{}",
            args.rounds,
            torch.map_or(String::new(), |t| format!(", PyTorch {t:.0}"))
        );
        rounds.push(r);
    }
    let m = &args.model;
    println!(
        "model: {} layers, {} heads, d {}, context {}, batch {}; {} timed steps per side and \
         round, {} rounds, {threads} cores",
        m.layers, m.heads, m.d_model, m.context, m.batch_size, args.timed_steps, args.rounds
    );
    println!("{}", rounds_table(&rounds, &torch_label));
    match (median_ratio(&rounds), unavailable) {
        (Some(ratio), _) => println!("Burn / PyTorch = {ratio:.2} (median over the rounds)"),
        (None, Some(why)) => println!("PyTorch side not measured: {why}."),
        (None, None) => println!("PyTorch side not measured."),
    }
}

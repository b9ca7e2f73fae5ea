//! Training throughput of `train_char_lm`'s model (tokens per second of optimizer steps) on the
//! default CPU backend, and of the same PyTorch model in the same run where `--python` (default
//! `python3`) can import torch, with their ratio.
//!
//! ```sh
//! cargo run -p tempering-examples --bin bench_char_lm -- --timed-steps 30
//! ```

use clap::Parser;
use tempering_examples::char_lm::CharLmArgs;
use tempering_examples::char_lm::breakdown::step_breakdown;
use tempering_examples::char_lm::throughput::{
    TorchThroughput, burn_tokens_per_second, torch_tokens_per_second,
};

/// Options of `bench_char_lm`.
#[derive(Parser, Debug)]
#[command(about = "Training tokens per second of the character LM, Burn against PyTorch")]
struct Args {
    /// Timed training steps per side (after 3 untimed ones).
    #[arg(long, default_value_t = 30)]
    timed_steps: usize,
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

fn main() {
    let args = Args::parse();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let burn = match burn_tokens_per_second(&args.model, args.timed_steps) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bench_char_lm: {e}");
            std::process::exit(2);
        }
    };
    if args.breakdown {
        match step_breakdown(&args.model, args.timed_steps) {
            Ok(b) => println!("Where a Burn training step goes:\n\n{}", b.table()),
            Err(e) => {
                eprintln!("bench_char_lm: {e}");
                std::process::exit(2);
            }
        }
    }
    let m = &args.model;
    println!(
        "model: {} layers, {} heads, d {}, context {}, batch {}; {} timed steps, {threads} cores",
        m.layers, m.heads, m.d_model, m.context, m.batch_size, args.timed_steps
    );
    println!("| implementation | tokens/s |");
    println!("|---|---|");
    println!("| Burn 0.22.1 (default backend) | {burn:.0} |");
    match torch_tokens_per_second(&args.python, &args.model, args.timed_steps, threads) {
        TorchThroughput::Measured {
            tokens_per_second,
            version,
            threads,
        } => {
            println!("| PyTorch {version} ({threads} threads) | {tokens_per_second:.0} |");
            println!("\nBurn / PyTorch = {:.2}", burn / tokens_per_second);
        }
        TorchThroughput::Unavailable(why) => {
            println!("\nPyTorch side not measured: {why}.");
        }
    }
}

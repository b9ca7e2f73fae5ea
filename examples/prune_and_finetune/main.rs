//! Prune a trained Fashion-MNIST MLP with Global MP (± MT), layer-wise magnitude and random
//! pruning, fine-tune with masks, and compare accuracy against sparsity; see `--help`.
//!
//! `cargo run --release -p tempering-examples --bin prune_and_finetune`

use clap::Parser;
use tempering_examples::prune_and_finetune::{PruneArgs, run};

fn main() {
    let args = PruneArgs::parse();
    match run(&args) {
        Ok(report) => {
            println!("data: {}\n", report.source);
            print!("{}\n{}", report.table, report.claims);
            println!("\nplot: {}", report.plot_path.display());
        }
        Err(e) => {
            eprintln!("prune_and_finetune: {e}");
            std::process::exit(2);
        }
    }
}

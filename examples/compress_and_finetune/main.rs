//! Compress a trained Fashion-MNIST MLP by ALDS (chunks searched or fixed), truncated SVD and
//! global magnitude pruning at equal parameter budgets, fine-tune each, and compare; see
//! `--help`.
//!
//! `cargo run -p tempering-examples --bin compress_and_finetune`

use clap::Parser;
use tempering_examples::compress_and_finetune::{CompressFinetuneArgs, run};

fn main() {
    let args = CompressFinetuneArgs::parse();
    match run(&args) {
        Ok(report) => {
            println!("data: {}\n", report.source);
            print!("{}", report.table);
            println!("\nplot: {}", report.plot_path.display());
        }
        Err(e) => {
            eprintln!("compress_and_finetune: {e}");
            std::process::exit(2);
        }
    }
}

//! Compare optimizers on Fashion-MNIST under one gradient-evaluation budget; see `--help`.
//!
//! `cargo run -p tempering-examples --bin compare_optimizers -- --epochs 3`

use clap::Parser;
use tempering_examples::compare_optimizers::{CompareArgs, run};

fn main() {
    let args = CompareArgs::parse();
    match run(&args) {
        Ok(report) => {
            println!(
                "data: {} ({} training images)\n",
                report.source, report.train_images
            );
            print!("{}", report.table);
            println!("\nloss curves: {}", report.plot_path.display());
        }
        Err(e) => {
            eprintln!("compare_optimizers: {e}");
            std::process::exit(2);
        }
    }
}

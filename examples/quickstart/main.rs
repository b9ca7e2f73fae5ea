//! Train a small MLP on Fashion-MNIST with burn-train's `Learner`; see `--help`.
//!
//! `cargo run -p tempering-examples --bin quickstart` (the README's main command).

use clap::Parser;
use tempering_examples::common::classifier_training::print_report;
use tempering_examples::quickstart::{QuickstartArgs, run};

fn main() {
    let args = QuickstartArgs::parse();
    match run(&args) {
        Ok(report) => print_report(&report),
        Err(e) => {
            eprintln!("quickstart: {e}");
            std::process::exit(2);
        }
    }
}

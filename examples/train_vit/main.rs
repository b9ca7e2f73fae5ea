//! Train a Vision Transformer on Fashion-MNIST; see `--help`.
//!
//! `cargo run -p tempering-examples --bin train_vit`

use clap::Parser;
use tempering_examples::common::classifier_training::print_report;
use tempering_examples::train_vit::{VitArgs, run};

fn main() {
    let args = VitArgs::parse();
    match run(&args) {
        Ok(report) => print_report(&report),
        Err(e) => {
            eprintln!("train_vit: {e}");
            std::process::exit(2);
        }
    }
}

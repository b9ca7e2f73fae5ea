//! Compare local learning with backprop on Fashion-MNIST; see `--help`.
//!
//! `cargo run -p tempering-examples --bin local_learning`

use clap::Parser;
use tempering_examples::local_learning::{LocalLearningArgs, compare, run_one};

fn main() {
    let args = LocalLearningArgs::parse();
    let result = match args.only {
        Some(method) => run_one(&args, method).map(|row| println!("{}", row.line())),
        None => compare(&args).map(|_| ()),
    };
    if let Err(e) = result {
        eprintln!("local_learning: {e}");
        std::process::exit(2);
    }
}

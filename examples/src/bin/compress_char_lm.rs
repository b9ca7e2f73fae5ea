//! Compare magnitude, Wanda and SparseGPT pruning and structured shrinking of the trained
//! character language model; see `--help`.
//!
//! `cargo run --release -p tempering-examples --bin compress_char_lm`

use clap::Parser;
use tempering_examples::compress_char_lm::{CompressArgs, results_table, run};

fn main() {
    let args = CompressArgs::parse();
    match run(&args) {
        Ok(rows) => {
            print!("{}", results_table(&rows));
            println!(
                "wrote results.csv, results.md and sparsity.png to {}",
                args.out.display()
            );
        }
        Err(e) => {
            eprintln!("compress_char_lm: {e}");
            std::process::exit(2);
        }
    }
}

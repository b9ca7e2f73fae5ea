//! Compare calibrated pruning (magnitude, Wanda, ECoFLaP, SparseGPT, SparseLLM, ProxSparse) and
//! structured shrinking (uniform L2, Týr-the-Pruner) of the trained character language model;
//! see `--help` and this folder's README.
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
                args.common.out.display()
            );
        }
        Err(e) => {
            eprintln!("compress_char_lm: {e}");
            std::process::exit(2);
        }
    }
}

//! train_char_lm's transformer at several widths with each optimizer: validation loss against
//! width, resumable; see `--help`.
//!
//! `cargo run --release -p tempering-examples --bin char_lm_width_sweep`

use clap::Parser;
use tempering_examples::char_lm_width_sweep::{SweepArgs, run, table};

fn main() {
    let args = SweepArgs::parse();
    match run(&args) {
        Ok(rows) => {
            println!("{}", table(&rows, &args.widths));
            println!(
                "wrote sweep.csv, sweep.png and a directory per run to {}",
                args.out.display()
            );
        }
        Err(e) => {
            eprintln!("char_lm_width_sweep: {e}");
            std::process::exit(2);
        }
    }
}

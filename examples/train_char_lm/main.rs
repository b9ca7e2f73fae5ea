//! Train a character-level transformer on Shakespeare, or generate from a trained one; see
//! `--help`.
//!
//! `cargo run -p tempering-examples --bin train_char_lm` trains nanoGPT's CPU-scale model;
//! `cargo run -p tempering-examples --bin train_char_lm -- --generate` samples from it.

use clap::Parser;
use tempering_examples::train_char_lm::{CharLmArgs, bits, generate, train};

fn main() {
    let args = CharLmArgs::parse();
    if args.generate {
        match generate(&args) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("train_char_lm: {e}");
                std::process::exit(2);
            }
        }
        return;
    }
    match train(&args) {
        Ok(report) => {
            let (name, chars, vocab) = &report.corpus;
            println!("corpus: {name} ({chars} characters, {vocab} distinct)");
            if let Some(e) = report.evaluations.last() {
                println!(
                    "after {} steps: train {:.4} nats/char ({:.3} bits/char), validation {:.4} \
                     nats/char ({:.3} bits/char)",
                    e.step,
                    e.train_loss,
                    bits(e.train_loss),
                    e.valid_loss,
                    bits(e.valid_loss)
                );
            }
            println!(
                "training throughput: {:.0} tokens/s",
                report.tokens_per_second
            );
            println!("sample:\n{}", report.sample);
            println!(
                "wrote run.json, model.bpk, metrics.csv, curves.png and sample.txt to {}",
                report.out.display()
            );
        }
        Err(e) => {
            eprintln!("train_char_lm: {e}");
            std::process::exit(2);
        }
    }
}

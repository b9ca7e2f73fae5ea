//! Lottery tickets in evolution strategies: iterative magnitude pruning with rewinding of a
//! Fashion-MNIST classifier, tickets trained by OpenAI-ES and by Adam, against random masks
//! and against each other; see `--help`.
//!
//! `cargo run --release -p tempering-examples --bin es_lottery_tickets`

use clap::Parser;
use tempering_examples::es_lottery_tickets::{EsLotteryArgs, run};

fn main() {
    let args = EsLotteryArgs::parse();
    match run(&args) {
        Ok(report) => {
            println!("data: {}\n", report.source);
            print!("{}", report.table);
            println!("\nplot: {}", report.plot_path.display());
        }
        Err(e) => {
            eprintln!("es_lottery_tickets: {e}");
            std::process::exit(2);
        }
    }
}

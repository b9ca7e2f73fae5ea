//! PAGCP on a two-task Fashion-MNIST CNN against uniform L1 filter pruning at equal FLOPs; see
//! `--help`.
//!
//! `cargo run --release -p tempering-examples --bin pagcp_multitask`

use clap::Parser;
use tempering_examples::pagcp_multitask::{PagcpArgs, run};

fn main() {
    let args = PagcpArgs::parse();
    match run(&args) {
        Ok(report) => {
            println!("data: {}\n", report.source);
            print!("{}", report.table);
            println!("\nplot: {}", report.plot_path.display());
        }
        Err(e) => {
            eprintln!("pagcp_multitask: {e}");
            std::process::exit(2);
        }
    }
}

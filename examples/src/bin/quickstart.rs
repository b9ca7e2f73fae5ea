//! Train a small MLP on Fashion-MNIST with burn-train's `Learner`; see `--help`.
//!
//! `cargo run -p tempering-examples --bin quickstart` (the README's main command).

use clap::Parser;
use tempering_examples::quickstart::{QuickstartArgs, run};

fn main() {
    let args = QuickstartArgs::parse();
    match run(&args) {
        Ok(report) => {
            let (train, valid, test) = report.sizes;
            println!(
                "data: {} ({train} train / {valid} validation / {test} test images)",
                report.source
            );
            println!(
                "test accuracy {:.2} %  test loss {:.4}  in {:.1} s",
                report.test_accuracy, report.test_loss, report.seconds
            );
            println!("model checkpoint: {}", report.model_path.display());
            println!("metrics per epoch: {}", report.csv_path.display());
            println!("loss and accuracy plot: {}", report.plot_path.display());
        }
        Err(e) => {
            eprintln!("quickstart: {e}");
            std::process::exit(2);
        }
    }
}

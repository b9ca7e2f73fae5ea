//! Train a Vision Transformer on Fashion-MNIST; see `--help`.
//!
//! `cargo run -p tempering-examples --bin train_vit`

use clap::Parser;
use tempering_examples::vit_training::{VitArgs, run};

fn main() {
    let args = VitArgs::parse();
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
            eprintln!("train_vit: {e}");
            std::process::exit(2);
        }
    }
}

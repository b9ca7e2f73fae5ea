//! `tempering`: inspect, prune, compress and verify Burn checkpoints (burnpack `.bpk` and safetensors)
//! by tensor name, without the model's code; and calibrated pruning (SparseGPT, Wanda, …),
//! shrinking and evaluation of transformer language models with their code: the project's
//! character models and Hugging Face GPT-2 directories.
//!
//! ```text
//! tempering inspect model.bpk
//! tempering prune model.bpk -o pruned.bpk --method global-magnitude --sparsity 0.9 --min-keep 0.05
//! tempering compress model.bpk --method low-rank --budget 0.5
//! tempering compress runs/char_lm/model.bpk --config runs/char_lm/run.json \
//!     --method low-rank --budget 0.5 --search -o runs/char_lm_alds
//! tempering verify model.bpk pruned.bpk
//! tempering prune runs/char_lm/model.bpk --config runs/char_lm/run.json \
//!     --calibration input.txt --method sparsegpt --sparsity 0.5 -o runs/char_lm_sparse
//! tempering shrink runs/char_lm/model.bpk --config runs/char_lm/run.json \
//!     --calibration input.txt --method tyr --ratio 0.25 -o runs/char_lm_small
//! tempering prune gpt2/ --calibration train.txt --method sparsegpt --sparsity 0.5 -o gpt2-sparse
//! tempering evaluate gpt2-sparse/ --text test.txt
//! ```
//!
//! Outputs are written beside their destination under an unguessable temporary name and moved
//! into place when complete (an interrupt removes the temporary file); the input is never
//! overwritten, an existing output only with `--force`. Errors name the file
//! and the problem and exit with status 1; `verify` exits 1 when a check fails.

mod calibrated_method;
#[cfg(feature = "language-models")]
mod calibrated_prune;
#[cfg(feature = "language-models")]
mod compress_classifier;
mod compress_command;
#[cfg(feature = "language-models")]
mod compress_run;
#[cfg(feature = "language-models")]
mod evaluate_command;
mod inspect_command;
#[cfg(feature = "language-models")]
mod language_model_files;
#[cfg(feature = "language-models")]
mod model_config;
mod prune_command;
mod render;
#[cfg(feature = "language-models")]
mod run_directory;
#[cfg(feature = "language-models")]
mod shrink_command;
mod verify_command;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Inspect, prune and verify Burn checkpoints (burnpack and safetensors).
#[derive(Parser, Debug)]
#[command(name = "tempering", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List every tensor: name, dtype, shape, size and sparsity, with totals.
    Inspect(inspect_command::InspectArgs),
    /// Prune a checkpoint into a new file and report what happened to each tensor.
    Prune(Box<prune_command::PruneArgs>),
    /// Low-rank (ALDS) compression: per-layer ranks and errors under a parameter budget; with
    /// a character model's --config, the factorized model written with -o.
    Compress(compress_command::CompressArgs),
    /// Check a pruned checkpoint against its original.
    Verify(verify_command::VerifyArgs),
    /// Remove whole attention heads and feed-forward channels of a character language model,
    /// writing the smaller model and the config that builds it.
    #[cfg(feature = "language-models")]
    Shrink(Box<shrink_command::ShrinkArgs>),
    /// A language model's nats per token and perplexity on a text file (a character run with
    /// --config, or a Hugging Face GPT-2 directory).
    #[cfg(feature = "language-models")]
    Evaluate(evaluate_command::EvaluateArgs),
}

/// On SIGINT, SIGTERM or SIGHUP: remove the temporary files being written, so an interrupted
/// run leaves nothing behind, and exit with 130 (the shell's code for an interrupt).
fn remove_partial_outputs_on_signal() {
    let installed = ctrlc::set_handler(|| {
        let removed = tempering_core::atomic_write::remove_temporaries_in_flight();
        match removed {
            0 => eprintln!("interrupted"),
            n => eprintln!("interrupted: removed {n} unfinished output file(s)"),
        }
        std::process::exit(130);
    });
    if let Err(e) = installed {
        eprintln!(
            "warning: cannot catch interrupts ({e}); an interrupted run may leave a temporary file"
        );
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    remove_partial_outputs_on_signal();
    // A numerical routine that fails by panicking is reported as an error naming the tensor;
    // its panic message would only repeat it.
    tempering_prune::numerical_guard::install_quiet_panic_hook();
    let outcome = match cli.command {
        Command::Inspect(args) => inspect_command::run(&args),
        Command::Prune(args) => prune_command::run(&args),
        Command::Compress(args) => compress_command::run(&args),
        Command::Verify(args) => verify_command::run(&args),
        #[cfg(feature = "language-models")]
        Command::Shrink(args) => shrink_command::run(&args),
        #[cfg(feature = "language-models")]
        Command::Evaluate(args) => evaluate_command::run(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

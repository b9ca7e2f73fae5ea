//! Training throughput of `train_char_lm`'s model: tokens per second of optimizer steps
//! (forward, backward, AdamW step) on the default device, and the same for the PyTorch twin
//! (`examples/train_char_lm/train_char_lm.py --bench`) where the Python interpreter can import torch. The two
//! run in alternating rounds, and the ratio reported is the median of the rounds' ratios: on a
//! shared machine a single pair can differ by 30 % from one minute to the next.

use std::error::Error;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use tempering_core::split_mix::SplitMix64;

use super::{CharLmArgs, chosen_optimizer, corpus_tokens, train_step};
use crate::common::median::median;

/// Untimed steps before timing (allocator and caches warm up).
const WARMUP_STEPS: usize = 3;

/// Tokens per second over `steps` timed training steps of the model and recipe of `args`.
pub fn burn_tokens_per_second(args: &CharLmArgs, steps: usize) -> Result<f64, Box<dyn Error>> {
    args.validate()?;
    if steps == 0 {
        return Err("time at least one step".into());
    }
    let device = args.common.device()?;
    device.seed(args.common.seed);
    let (_, tokenizer, tokens) = corpus_tokens(args)?;
    let mut model = args
        .model_config(tokenizer.vocab_size())
        .init(&device.autodiff());
    let mut optim = chosen_optimizer(args, &model)?;
    let mut rng = SplitMix64::new(args.common.seed);
    let mut started = Instant::now();
    for step in 0..WARMUP_STEPS + steps {
        if step == WARMUP_STEPS {
            started = Instant::now();
        }
        model = train_step(model, &mut optim, &tokens, args, args.peak_lr(), &mut rng)
            .map_err(|loss| format!("the training loss is {loss} at step {step}"))?
            .0;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok((steps * args.batch_size * args.context) as f64 / seconds)
}

/// The PyTorch twin's script.
pub fn torch_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("train_char_lm/train_char_lm.py")
}

/// What the PyTorch side measured, or why it could not run.
#[derive(Debug, Clone, PartialEq)]
pub enum TorchThroughput {
    /// Tokens per second, torch's version and its thread count.
    Measured {
        /// Tokens per second.
        tokens_per_second: f64,
        /// `torch.__version__`.
        version: String,
        /// `torch.get_num_threads()`.
        threads: usize,
    },
    /// The interpreter or torch is missing, or the script failed: the reason.
    Unavailable(String),
}

/// Runs the PyTorch twin's benchmark with the interpreter `python` over `steps` steps on
/// `threads` threads.
pub fn torch_tokens_per_second(
    python: &str,
    args: &CharLmArgs,
    steps: usize,
    threads: usize,
) -> TorchThroughput {
    let probe = Command::new(python).args(["-c", "import torch"]).output();
    match probe {
        Err(e) => return TorchThroughput::Unavailable(format!("{python} cannot run: {e}")),
        Ok(o) if !o.status.success() => {
            return TorchThroughput::Unavailable(format!("{python} cannot import torch"));
        }
        Ok(_) => {}
    }
    let output = Command::new(python)
        .arg(torch_script())
        .args([
            "--bench",
            &steps.to_string(),
            "--threads",
            &threads.to_string(),
        ])
        .args(["--batch-size", &args.batch_size.to_string()])
        .args(["--context", &args.context.to_string()])
        .args(["--d-model", &args.d_model.to_string()])
        .args(["--layers", &args.layers.to_string()])
        .args(["--heads", &args.heads.to_string()])
        .output();
    let output = match output {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            return TorchThroughput::Unavailable(format!(
                "the script failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        Err(e) => return TorchThroughput::Unavailable(format!("{python} cannot run: {e}")),
    };
    parse_bench_line(&String::from_utf8_lossy(&output.stdout))
        .unwrap_or_else(TorchThroughput::Unavailable)
}

/// Reads the script's JSON line (`{"tokens_per_second": …, "threads": …, "torch": "…"}`).
pub fn parse_bench_line(stdout: &str) -> Result<TorchThroughput, String> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| format!("no JSON line in the script's output: {stdout:?}"))?;
    let field = |name: &str| -> Result<&str, String> {
        let key = format!("\"{name}\":");
        let start = line
            .find(&key)
            .ok_or_else(|| format!("no {name} in {line}"))?
            + key.len();
        let rest = line[start..].trim_start();
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Ok(rest[..end].trim().trim_matches('"'))
    };
    let number = |name: &str| -> Result<f64, String> {
        field(name)?
            .parse::<f64>()
            .map_err(|e| format!("{name} in {line}: {e}"))
    };
    Ok(TorchThroughput::Measured {
        tokens_per_second: number("tokens_per_second")?,
        version: field("torch")?.to_string(),
        threads: number("threads")? as usize,
    })
}

/// One round of the interleaved comparison: Burn's timed steps, then PyTorch's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Round {
    /// Burn's training tokens per second.
    pub burn: f64,
    /// PyTorch's, where it ran.
    pub torch: Option<f64>,
}

impl Round {
    /// Burn / PyTorch, where PyTorch ran.
    pub fn ratio(&self) -> Option<f64> {
        self.torch.map(|t| self.burn / t)
    }
}

/// The median over the rounds of Burn / PyTorch, from the rounds where PyTorch ran.
pub fn median_ratio(rounds: &[Round]) -> Option<f64> {
    let ratios: Vec<f64> = rounds.iter().filter_map(Round::ratio).collect();
    (!ratios.is_empty()).then(|| median(ratios))
}

/// The rounds as a Markdown table, one row each (`—` where PyTorch did not run).
pub fn rounds_table(rounds: &[Round], torch_label: &str) -> String {
    let mut out =
        format!("| round | Burn 0.22.1 tokens/s | {torch_label} tokens/s | Burn / PyTorch |\n");
    out.push_str("|---|---|---|---|\n");
    for (i, r) in rounds.iter().enumerate() {
        let (torch, ratio) = match (r.torch, r.ratio()) {
            (Some(t), Some(q)) => (format!("{t:.0}"), format!("{q:.2}")),
            _ => ("—".to_string(), "—".to_string()),
        };
        out.push_str(&format!(
            "| {} | {:.0} | {torch} | {ratio} |\n",
            i + 1,
            r.burn
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_ratio_of_the_rounds_where_torch_ran() {
        let rounds = [
            Round {
                burn: 100.0,
                torch: Some(200.0),
            },
            Round {
                burn: 150.0,
                torch: None,
            },
            Round {
                burn: 90.0,
                torch: Some(100.0),
            },
            Round {
                burn: 120.0,
                torch: Some(150.0),
            },
        ];
        // Ratios 0.5, 0.9 and 0.8: the median is 0.8; the round without PyTorch is left out.
        assert_eq!(median_ratio(&rounds), Some(0.8));
        assert_eq!(median_ratio(&rounds[1..2]), None);
        let table = rounds_table(&rounds, "PyTorch 2.15.0 (2 threads)");
        assert!(table.contains("| 1 | 100 | 200 | 0.50 |"), "{table}");
        assert!(table.contains("| 2 | 150 | — | — |"), "{table}");
        assert_eq!(table.lines().count(), 6);
    }

    #[test]
    fn reads_the_scripts_json_line() {
        let out = "warming up\n{\"tokens_per_second\": 5123.5, \"steps\": 30, \"threads\": 2, \
                   \"torch\": \"2.5.1+cpu\"}\n";
        assert_eq!(
            parse_bench_line(out).unwrap(),
            TorchThroughput::Measured {
                tokens_per_second: 5123.5,
                version: "2.5.1+cpu".into(),
                threads: 2
            }
        );
        assert!(
            parse_bench_line("Traceback")
                .unwrap_err()
                .contains("no JSON")
        );
    }
}

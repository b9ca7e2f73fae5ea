//! PyTorch's optimizer steps, timed in the same run: `bench_optimizers.py` (beside this file)
//! runs as a child process and answers one request per line, so its rows alternate with ours.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// A PyTorch optimizer whose step a tempering row is compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TorchRule {
    /// `torch.optim.Adam(fused=True)`.
    Adam,
    /// `torch.optim.Adam(amsgrad=True, fused=True)`.
    AdamAmsgrad,
    /// `torch.optim.AdamW(amsgrad=True, fused=True)`, weight decay 1e-2.
    AdamwAmsgrad,
    /// Cautious Lion with `torch._foreach_*` operations (PyTorch has no Lion).
    CautiousLion,
    /// Cautious Adam + AMSGrad (C-Optim's `c_adamw.py` with the AMSGrad maximum, no weight
    /// decay) with tensor operations, as the official code writes it: PyTorch has no fused
    /// cautious step.
    CautiousAdamAmsgrad,
}

impl TorchRule {
    /// The script's name for it.
    pub fn script_name(self) -> &'static str {
        match self {
            TorchRule::Adam => "adam",
            TorchRule::AdamAmsgrad => "adam-amsgrad",
            TorchRule::AdamwAmsgrad => "adamw-amsgrad",
            TorchRule::CautiousLion => "c-lion",
            TorchRule::CautiousAdamAmsgrad => "c-adam-amsgrad",
        }
    }

    /// Its label in the tables.
    pub fn label(self) -> &'static str {
        match self {
            TorchRule::Adam => "Adam fused",
            TorchRule::AdamAmsgrad => "Adam+AMSGrad fused",
            TorchRule::AdamwAmsgrad => "AdamW+AMSGrad fused",
            TorchRule::CautiousLion => "C-Lion foreach",
            TorchRule::CautiousAdamAmsgrad => "C-Adam+AMSGrad ops",
        }
    }
}

/// The running script.
pub struct TorchSide {
    child: Child,
    requests: ChildStdin,
    answers: BufReader<ChildStdout>,
    /// `torch <version>, <threads> threads`.
    pub label: String,
}

/// The script's path in the source tree.
fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench_optimizers/bench_optimizers.py")
}

/// One JSON line from the script, or why none came.
fn read_answer(answers: &mut BufReader<ChildStdout>) -> Result<serde_json::Value, String> {
    let mut line = String::new();
    match answers.read_line(&mut line) {
        Ok(0) => Err("the script ended (see its error above)".into()),
        Ok(_) => {
            serde_json::from_str(&line).map_err(|e| format!("unreadable answer {line:?}: {e}"))
        }
        Err(e) => Err(format!("reading its answer: {e}")),
    }
}

impl TorchSide {
    /// Starts the script with the interpreter `python` on `threads` threads.
    pub fn start(python: &str, threads: usize) -> Result<Self, String> {
        let mut child = Command::new(python)
            .arg(script())
            .args(["--threads", &threads.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{python} cannot run: {e}"))?;
        let requests = child.stdin.take().expect("piped stdin");
        let mut answers = BufReader::new(child.stdout.take().expect("piped stdout"));
        let hello = read_answer(&mut answers).map_err(|e| format!("{python}: {e}"))?;
        let label = format!(
            "torch {}, {} threads",
            hello["torch"].as_str().unwrap_or("?"),
            hello["threads"]
        );
        Ok(Self {
            child,
            requests,
            answers,
            label,
        })
    }

    /// The median time of `steps` steps of `rule` on `n` parameters, in milliseconds.
    pub fn time(&mut self, rule: TorchRule, n: usize, steps: usize) -> Result<f64, String> {
        let request = serde_json::json!({"rule": rule.script_name(), "n": n, "steps": steps});
        writeln!(self.requests, "{request}")
            .and_then(|()| self.requests.flush())
            .map_err(|e| format!("sending a request: {e}"))?;
        let answer = read_answer(&mut self.answers)?;
        match (answer["ms"].as_f64(), answer["error"].as_str()) {
            (Some(ms), _) => Ok(ms),
            (None, Some(error)) => Err(format!("{}: {error}", rule.label())),
            (None, None) => Err(format!("answer without a time: {answer}")),
        }
    }
}

impl Drop for TorchSide {
    fn drop(&mut self) {
        // Closing stdin ends the script's loop; kill it in case it is stuck.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

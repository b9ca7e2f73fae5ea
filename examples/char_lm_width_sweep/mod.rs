//! The width question of μLO (Therien et al. 2024, arXiv:2405.14658) asked of the transformer:
//! `train_char_lm`'s model at several widths (heads scaled so each keeps the same width, depth
//! fixed), trained by each chosen optimizer at its untuned default, final validation loss
//! against width. Every finished run is a row of `sweep.csv`; a rerun with the same settings
//! keeps those rows and trains only the missing ones, so a long sweep resumes where it stopped.

use std::error::Error;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use tempering_core::atomic_write::write_atomically;
use tempering_train::{Panel, Series, plot_panels};

use crate::common::optimizer_choice::OptimizerChoice;
use crate::train_char_lm::{CharLmArgs, train};

/// Command-line options of `char_lm_width_sweep`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "char_lm_width_sweep",
    about = "train_char_lm's transformer at several widths with each optimizer: validation \
             nats/char against width, resumable."
)]
pub struct SweepArgs {
    /// Widths of the residual stream (`--d-model` of each run).
    #[arg(long, value_delimiter = ',', default_value = "64,128,256,512")]
    pub widths: Vec<usize>,
    /// Width of each attention head: a run of width d has d / this many heads.
    #[arg(long, default_value_t = 32)]
    pub head_width: usize,
    /// The optimizers, each at its default learning rate.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "mulo,splo,mup-adamw"
    )]
    pub optimizers: Vec<OptimizerChoice>,
    /// Optimizer steps of every run (the schedule is the recipe's, over these steps).
    #[arg(long, default_value_t = 1000)]
    pub steps: usize,
    /// Batches per evaluation of each split.
    #[arg(long, default_value_t = 20)]
    pub eval_batches: usize,
    /// Use only the first N characters of the corpus (for quick runs).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Seed of every run.
    #[arg(long, default_value_t = 1337)]
    pub seed: u64,
    /// Where `sweep.csv`, `sweep.png` and each run's directory go.
    #[arg(long, default_value = "runs/char_lm_width_sweep")]
    pub out: PathBuf,
}

/// One finished run.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepRow {
    /// Width of the residual stream.
    pub d_model: usize,
    /// Attention heads.
    pub heads: usize,
    /// The optimizer's flag name.
    pub optimizer: String,
    /// Optimizer steps.
    pub steps: usize,
    /// Final validation loss, nats per character.
    pub validation: f64,
    /// Wall seconds of the run (training and evaluations).
    pub seconds: f64,
}

const HEADER: &str = "d_model,heads,optimizer,steps,validation_nats,seconds";

impl SweepRow {
    fn csv(&self) -> String {
        format!(
            "{},{},{},{},{:.4},{:.1}",
            self.d_model, self.heads, self.optimizer, self.steps, self.validation, self.seconds
        )
    }

    fn parse(line: &str) -> Option<Self> {
        let f: Vec<&str> = line.split(',').collect();
        let [d, h, o, s, v, t] = f.as_slice() else {
            return None;
        };
        Some(Self {
            d_model: d.parse().ok()?,
            heads: h.parse().ok()?,
            optimizer: o.to_string(),
            steps: s.parse().ok()?,
            validation: v.parse().ok()?,
            seconds: t.parse().ok()?,
        })
    }
}

impl SweepArgs {
    /// Rejects settings that cannot run, naming the flag.
    pub fn validate(&self) -> Result<(), String> {
        if self.widths.is_empty() || self.optimizers.is_empty() {
            return Err("--widths and --optimizers need at least one value each".into());
        }
        if self.head_width == 0 || self.steps == 0 || self.eval_batches == 0 {
            return Err("--head-width, --steps and --eval-batches must be at least 1".into());
        }
        if let Some(&w) = self
            .widths
            .iter()
            .find(|&&w| w == 0 || !w.is_multiple_of(self.head_width))
        {
            return Err(format!(
                "--widths: {w} is not a positive multiple of --head-width {}",
                self.head_width
            ));
        }
        Ok(())
    }

    /// `train_char_lm`'s settings for one run.
    fn run_args(&self, width: usize, optimizer: OptimizerChoice) -> Result<CharLmArgs, String> {
        let dir = self.out.join(format!("d{width}-{}", optimizer.name()));
        let mut flags: Vec<String> = vec![
            "train_char_lm".into(),
            "--d-model".into(),
            width.to_string(),
            "--heads".into(),
            (width / self.head_width).to_string(),
            "--optimizer".into(),
            optimizer.name(),
            "--steps".into(),
            self.steps.to_string(),
            "--eval-batches".into(),
            self.eval_batches.to_string(),
            "--sample-chars".into(),
            "200".into(),
            "--seed".into(),
            self.seed.to_string(),
            "--out".into(),
            dir.display().to_string(),
        ];
        if let Some(limit) = self.limit {
            flags.extend(["--limit".into(), limit.to_string()]);
        }
        CharLmArgs::try_parse_from(flags).map_err(|e| e.to_string())
    }
}

/// The rows of `sweep.csv` in `dir` (none when it does not exist yet).
pub fn read_rows(dir: &Path) -> Result<Vec<SweepRow>, Box<dyn Error>> {
    let path = dir.join("sweep.csv");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display()).into()),
    };
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            SweepRow::parse(l)
                .ok_or_else(|| format!("{}: not a sweep row: {l:?}", path.display()).into())
        })
        .collect()
}

fn write_rows(dir: &Path, rows: &[SweepRow]) -> Result<(), Box<dyn Error>> {
    let mut text = format!("{HEADER}\n");
    for r in rows {
        text.push_str(&r.csv());
        text.push('\n');
    }
    let path = dir.join("sweep.csv");
    write_atomically(&path, |w| w.write_all(text.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    plot(&dir.join("sweep.png"), rows)
}

fn plot(path: &Path, rows: &[SweepRow]) -> Result<(), Box<dyn Error>> {
    let mut series: Vec<Series> = Vec::new();
    for r in rows {
        let point = (r.d_model as f64, r.validation);
        match series.iter_mut().find(|s| s.label == r.optimizer) {
            Some(s) => s.points.push(point),
            None => series.push(Series {
                label: r.optimizer.clone(),
                points: vec![point],
            }),
        }
    }
    for s in &mut series {
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let panel = Panel {
        title: "char LM: final validation loss against width".into(),
        x_label: "d_model (heads of width 32, 4 layers)".into(),
        y_label: "validation cross-entropy (nats/char)".into(),
        series,
    };
    plot_panels(path, &[panel], (900, 600))
        .map_err(|e| format!("cannot write {}: {e}", path.display()).into())
}

/// The sweep as a Markdown table: one row per optimizer, one column per width (validation
/// nats/char and minutes).
pub fn table(rows: &[SweepRow], widths: &[usize]) -> String {
    let mut out = String::from("| optimizer |");
    for w in widths {
        out.push_str(&format!(" d {w} |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(widths.len()));
    out.push('\n');
    let mut names: Vec<&str> = Vec::new();
    for r in rows {
        if !names.contains(&r.optimizer.as_str()) {
            names.push(&r.optimizer);
        }
    }
    for name in names {
        out.push_str(&format!("| `{name}` |"));
        for &w in widths {
            match rows.iter().find(|r| r.optimizer == name && r.d_model == w) {
                Some(r) => out.push_str(&format!(
                    " {:.4} ({:.1} min) |",
                    r.validation,
                    r.seconds / 60.0
                )),
                None => out.push_str(" – |"),
            }
        }
        out.push('\n');
    }
    out
}

/// Runs every missing (width, optimizer) pair, appending each to `sweep.csv` as it finishes;
/// returns every row of this sweep's settings.
pub fn run(args: &SweepArgs) -> Result<Vec<SweepRow>, Box<dyn Error>> {
    args.validate()?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let mut rows = read_rows(&args.out)?;
    for &width in &args.widths {
        for &optimizer in &args.optimizers {
            let name = optimizer.name();
            if let Some(done) = rows
                .iter()
                .find(|r| r.d_model == width && r.optimizer == name && r.steps == args.steps)
            {
                eprintln!(
                    "d {width} {name}: kept from sweep.csv ({:.4})",
                    done.validation
                );
                continue;
            }
            eprintln!("d {width} {name}: training {} steps", args.steps);
            let run_args = args.run_args(width, optimizer)?;
            let started = Instant::now();
            let report = train(&run_args)?;
            let last = report
                .evaluations
                .last()
                .ok_or("the run made no evaluation")?;
            rows.push(SweepRow {
                d_model: width,
                heads: width / args.head_width,
                optimizer: name,
                steps: args.steps,
                validation: last.valid_loss,
                seconds: started.elapsed().as_secs_f64(),
            });
            write_rows(&args.out, &rows)?;
        }
    }
    Ok(rows
        .into_iter()
        .filter(|r| args.widths.contains(&r.d_model) && r.steps == args.steps)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(out: &Path, extra: &[&str]) -> SweepArgs {
        let mut flags = vec![
            "char_lm_width_sweep",
            "--widths",
            "16,32",
            "--head-width",
            "16",
            "--optimizers",
            "splo,mup-adamw",
            "--steps",
            "2",
            "--eval-batches",
            "1",
            "--limit",
            "4000",
            "--out",
            out.to_str().unwrap(),
        ];
        flags.extend_from_slice(extra);
        SweepArgs::try_parse_from(flags).unwrap()
    }

    /// A tiny sweep trains every pair once, writes its table and plot, and a second call
    /// trains nothing (the rows come back from `sweep.csv` unchanged).
    #[test]
    fn a_tiny_sweep_runs_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let first = run(&args(dir.path(), &[])).unwrap();
        assert_eq!(first.len(), 4);
        assert!(
            first
                .iter()
                .all(|r| r.validation.is_finite() && r.steps == 2)
        );
        assert!(dir.path().join("sweep.png").exists());
        assert!(dir.path().join("d32-mup-adamw").join("model.bpk").exists());
        // Mark a row so that a retrained one would show.
        let mut rows = read_rows(dir.path()).unwrap();
        rows[0].seconds = 12345.0;
        write_rows(dir.path(), &rows).unwrap();
        let second = run(&args(dir.path(), &[])).unwrap();
        assert_eq!(second[0].seconds, 12345.0, "kept, not retrained");
        assert_eq!(second.len(), 4);
        let table = table(&second, &[16, 32]);
        assert!(
            table.contains("| `splo` |") && table.contains("| d 32 |"),
            "{table}"
        );
    }

    #[test]
    fn bad_widths_name_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let e = args(dir.path(), &["--widths", "16,24"])
            .validate()
            .unwrap_err();
        assert!(e.contains("--widths") && e.contains("24"), "{e}");
        let e = SweepRow::parse("1,2,x").is_none();
        assert!(e);
    }
}

//! The comparison's rows: the line a run prints, the table, the CSV and the plot.

use std::io::{self, Write};
use std::path::Path;

use tempering_core::atomic_write::write_atomically;
use tempering_train::{Panel, Series, plot_panels};

/// One method's result.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRow {
    /// Method name.
    pub method: String,
    /// Gradient-isolated stages K (1 for backprop).
    pub stages: usize,
    /// Test accuracy in percent.
    pub accuracy: f64,
    /// Seconds of training.
    pub seconds: f64,
    /// Peak resident memory of the process (`VmHWM`), KiB.
    pub peak_kib: u64,
    /// Peak above the resident memory just before training, KiB.
    pub growth_kib: u64,
    /// Mean of the last 50 steps' final-stage loss.
    pub final_loss: f64,
}

const TAG: &str = "RESULT";

impl RunRow {
    /// The line a run prints: `RESULT method K accuracy seconds peak growth loss`.
    pub fn line(&self) -> String {
        format!(
            "{TAG} {} {} {} {} {} {} {}",
            self.method,
            self.stages,
            self.accuracy,
            self.seconds,
            self.peak_kib,
            self.growth_kib,
            self.final_loss
        )
    }

    /// Reads a [`line`](Self::line); `None` for any other line.
    pub fn parse(line: &str) -> Option<Self> {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 8 || f[0] != TAG {
            return None;
        }
        Some(Self {
            method: f[1].into(),
            stages: f[2].parse().ok()?,
            accuracy: f[3].parse().ok()?,
            seconds: f[4].parse().ok()?,
            peak_kib: f[5].parse().ok()?,
            growth_kib: f[6].parse().ok()?,
            final_loss: f[7].parse().ok()?,
        })
    }
}

fn baseline_of(method: &str) -> &'static str {
    match method {
        "mlp-backprop" | "mono-forward" => "mlp-backprop",
        "vit-backprop" | "vit-reconstruction" => "vit-backprop",
        _ => "backprop",
    }
}

/// `(accuracy − baseline's, peak ratio, growth ratio)` against the row's backprop baseline,
/// when that baseline ran.
pub fn against_baseline(row: &RunRow, rows: &[RunRow]) -> Option<(f64, f64, f64)> {
    let base = rows.iter().find(|r| r.method == baseline_of(&row.method))?;
    Some((
        row.accuracy - base.accuracy,
        row.peak_kib as f64 / base.peak_kib.max(1) as f64,
        row.growth_kib as f64 / base.growth_kib.max(1) as f64,
    ))
}

/// The table as Markdown.
pub fn table(rows: &[RunRow]) -> String {
    let mut t = String::from(
        "| method | K | test acc % | Δ vs backprop | seconds | peak MiB | peak ratio | training growth MiB | growth ratio |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        // Without its baseline in the same comparison the relative columns stay empty.
        let (delta, peak, growth) = match against_baseline(r, rows) {
            Some((d, p, g)) => (format!("{d:+.2}"), format!("{p:.2}"), format!("{g:.2}")),
            None => ("—".into(), "—".into(), "—".into()),
        };
        t.push_str(&format!(
            "| {} | {} | {:.2} | {delta} | {:.0} | {:.0} | {peak} | {:.0} | {growth} |\n",
            r.method,
            r.stages,
            r.accuracy,
            r.seconds,
            r.peak_kib as f64 / 1024.0,
            r.growth_kib as f64 / 1024.0,
        ));
    }
    t
}

/// Writes `results.csv`, `results.md` and `comparison.png` (accuracy against training-memory
/// ratio, one point per method) under `dir`, and prints the table.
pub fn write(dir: &Path, rows: &[RunRow]) -> io::Result<()> {
    write_atomically(&dir.join("results.csv"), |w| {
        writeln!(
            w,
            "method,stages,test_accuracy,seconds,peak_kib,growth_kib,final_loss"
        )?;
        for r in rows {
            writeln!(
                w,
                "{},{},{},{},{},{},{}",
                r.method, r.stages, r.accuracy, r.seconds, r.peak_kib, r.growth_kib, r.final_loss
            )?;
        }
        Ok(())
    })?;
    let table = table(rows);
    write_atomically(&dir.join("results.md"), |w| w.write_all(table.as_bytes()))?;
    println!("{table}");
    let series = rows
        .iter()
        .filter_map(|r| {
            let (_, _, growth) = against_baseline(r, rows)?;
            // A short horizontal tick, so that a single point shows as a mark.
            Some(Series {
                label: format!("{} K={}", r.method, r.stages),
                points: vec![(growth - 0.01, r.accuracy), (growth + 0.01, r.accuracy)],
            })
        })
        .collect();
    let panel = Panel {
        title: "Fashion-MNIST: test accuracy against training memory (ratio to its backprop)"
            .into(),
        x_label: "peak training memory / backprop's".into(),
        y_label: "test accuracy %".into(),
        series,
    };
    plot_panels(&dir.join("comparison.png"), &[panel], (900, 560))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines_round_trip_and_ratios_use_the_family_baseline() {
        let row = |method: &str, accuracy, growth| RunRow {
            method: method.into(),
            stages: 1,
            accuracy,
            seconds: 10.0,
            peak_kib: 2 * growth,
            growth_kib: growth,
            final_loss: 0.25,
        };
        let rows = vec![
            row("backprop", 90.0, 1000),
            row("auglocal", 89.0, 600),
            row("mlp-backprop", 88.0, 400),
            row("mono-forward", 87.5, 100),
        ];
        assert_eq!(RunRow::parse(&rows[1].line()), Some(rows[1].clone()));
        assert_eq!(RunRow::parse("hello"), None);
        let (delta, peak, growth) = against_baseline(&rows[1], &rows).unwrap();
        assert_eq!((delta, peak, growth), (-1.0, 0.6, 0.6));
        let (delta, _, growth) = against_baseline(&rows[3], &rows).unwrap();
        assert_eq!((delta, growth), (-0.5, 0.25));
        assert!(table(&rows).contains("| auglocal | 1 | 89.00 | -1.00 |"));
    }
}

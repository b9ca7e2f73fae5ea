//! What `compress_char_lm` writes: `results.csv`, `results.md` and `sparsity.png` (validation
//! nats/char against sparsity for the unstructured methods, and against the share of the
//! blocks' weights removed for the structured ones).

use std::error::Error;
use std::fmt::Write as _;
use std::path::Path;

use tempering_core::atomic_write::write_atomically;
use tempering_train::{Panel, Series, plot_panels};

use super::Row;

/// `results.csv` of every row.
pub fn results_csv(rows: &[Row]) -> String {
    let mut csv = String::from("method,setting,sparsity,parameters,nats_per_char,seconds\n");
    for r in rows {
        let _ = writeln!(
            csv,
            "{},{},{:.4},{},{:.6},{:.2}",
            r.method, r.setting, r.sparsity, r.parameters, r.nats_per_char, r.seconds
        );
    }
    csv
}

/// The rows of a `results.csv` that [`results_csv`] wrote.
pub fn rows_from_csv(csv: &str) -> Result<Vec<Row>, String> {
    let mut lines = csv.lines();
    if lines.next() != Some("method,setting,sparsity,parameters,nats_per_char,seconds") {
        return Err("not a compress_char_lm results.csv (its header differs)".into());
    }
    lines
        .enumerate()
        .map(|(i, line)| {
            let bad = || format!("line {}: cannot read `{line}`", i + 2);
            let cells: Vec<&str> = line.split(',').collect();
            let [method, setting, sparsity, parameters, nats, seconds] = cells[..] else {
                return Err(bad());
            };
            Ok(Row {
                method: method.into(),
                setting: setting.into(),
                sparsity: sparsity.parse().map_err(|_| bad())?,
                parameters: parameters.parse().map_err(|_| bad())?,
                nats_per_char: nats.parse().map_err(|_| bad())?,
                seconds: seconds.parse().map_err(|_| bad())?,
            })
        })
        .collect()
}

/// The Markdown table of `results.md`.
pub fn results_table(rows: &[Row]) -> String {
    let mut md = String::from(
        "| method | setting | zero or removed | parameters | nats/char | seconds |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} % | {} | {:.4} | {:.1} |",
            r.method,
            r.setting,
            100.0 * r.sparsity,
            r.parameters,
            r.nats_per_char,
            r.seconds
        );
    }
    md
}

/// Nats/char against the share of the blocks' linear weights removed, one series per method
/// of `methods` over its rows whose setting ends with `setting`, with the dense model's level;
/// `None` when none has rows.
fn removal_panel(rows: &[Row], methods: &[&str], setting: &str, title: &str) -> Option<Panel> {
    let mut series: Vec<Series> = methods
        .iter()
        .map(|&method| Series {
            label: method.into(),
            points: rows
                .iter()
                .filter(|r| r.method == method && r.setting.ends_with(setting))
                .map(|r| (100.0 * r.sparsity, r.nats_per_char))
                .collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    let span = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (lo, hi) = span.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    });
    if series.is_empty() {
        return None;
    }
    series.push(Series {
        label: "dense".into(),
        points: vec![(lo, rows[0].nats_per_char), (hi, rows[0].nats_per_char)],
    });
    Some(Panel {
        title: title.into(),
        x_label: "block weights removed (%)".into(),
        y_label: "validation nats/char".into(),
        series,
    })
}

pub(super) fn write_outputs(out: &Path, rows: &[Row]) -> Result<(), Box<dyn Error>> {
    std::fs::create_dir_all(out)?;
    write_atomically(&out.join("results.csv"), |w| {
        std::io::Write::write_all(w, results_csv(rows).as_bytes())
    })?;
    write_atomically(&out.join("results.md"), |w| {
        std::io::Write::write_all(w, results_table(rows).as_bytes())
    })?;
    let series = |method: &str| Series {
        label: method.into(),
        points: rows
            .iter()
            .filter(|r| r.method == method && r.setting.ends_with('%'))
            .map(|r| (100.0 * r.sparsity, r.nats_per_char))
            .collect(),
    };
    let dense = rows[0].nats_per_char;
    let mut all = vec![
        series("magnitude"),
        series("wanda"),
        series("ecoflap"),
        series("sparsegpt"),
        series("sparsellm"),
    ];
    let span: Vec<f64> = all
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    if let (Some(lo), Some(hi)) = (
        span.iter().copied().reduce(f64::min),
        span.iter().copied().reduce(f64::max),
    ) {
        all.push(Series {
            label: "dense".into(),
            points: vec![(lo, dense), (hi, dense)],
        });
    }
    let panel = Panel {
        title: "char LM: unstructured pruning of every block's linear layers".into(),
        x_label: "sparsity (%)".into(),
        y_label: "validation nats/char".into(),
        series: all,
    };
    let mut panels = vec![panel];
    panels.extend(removal_panel(
        rows,
        &["uniform-l2", "uniform-l2+finetune", "tyr", "tyr+finetune"],
        "of units",
        "char LM: heads and channels removed (equal parameters)",
    ));
    panels.extend(removal_panel(
        rows,
        &[
            "alds",
            "alds+finetune",
            "alds-k3",
            "alds-k3+finetune",
            "svd",
            "svd+finetune",
            "magnitude",
            "magnitude+finetune",
        ],
        "kept",
        "char LM: low-rank factors (ALDS) against magnitude, equal budgets",
    ));
    let plot = out.join("sparsity.png");
    let width = 900 * panels.len() as u32;
    plot_panels(&plot, &panels, (width, 600))
        .map_err(|e| format!("cannot write {}: {e}", plot.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_carry_every_row() {
        let rows = vec![Row {
            method: "sparsegpt".into(),
            setting: "2:4".into(),
            sparsity: 0.5,
            parameters: 10,
            nats_per_char: 1.95,
            seconds: 2.0,
        }];
        assert_eq!(
            results_csv(&rows),
            "method,setting,sparsity,parameters,nats_per_char,seconds\n\
             sparsegpt,2:4,0.5000,10,1.950000,2.00\n"
        );
        assert!(results_table(&rows).contains("| sparsegpt | 2:4 | 50.0 % | 10 | 1.9500 | 2.0 |"));
        assert_eq!(rows_from_csv(&results_csv(&rows)).unwrap(), rows);
        assert!(rows_from_csv("a,b\n").unwrap_err().contains("header"));
        let e = rows_from_csv(&results_csv(&rows).replace("1.95", "x")).unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }
}

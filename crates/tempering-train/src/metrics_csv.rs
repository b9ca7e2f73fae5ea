//! Per-epoch metrics as a CSV file: one row per epoch, one column per `split_metric`.

use std::io::{self, Write};
use std::path::Path;

use tempering_core::atomic_write::write_atomically;

use crate::epoch_history::EpochHistory;

/// Column name of a series: `train_loss`, `valid_accuracy`.
pub fn column_name(split: &str, metric: &str) -> String {
    format!("{split}_{metric}")
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The CSV text of a history; `extra` adds columns of per-epoch values computed elsewhere
/// (wall time, learning rate), each `(name, values by epoch)`. Missing values are empty cells.
pub fn history_csv(history: &EpochHistory, extra: &[(&str, Vec<(usize, f64)>)]) -> String {
    let series = history.series();
    let mut header = vec!["epoch".to_string()];
    header.extend(series.iter().map(|(s, m)| column_name(s, m)));
    header.extend(extra.iter().map(|(name, _)| name.to_string()));
    let mut epochs = history.epochs();
    epochs.extend(extra.iter().flat_map(|(_, v)| v.iter().map(|&(e, _)| e)));
    epochs.sort_unstable();
    epochs.dedup();
    let cell = |points: &[(usize, f64)], epoch: usize| {
        points
            .iter()
            .find(|&&(e, _)| e == epoch)
            .map_or(String::new(), |&(_, v)| format!("{v}"))
    };
    let columns: Vec<Vec<(usize, f64)>> = series
        .iter()
        .map(|(s, m)| history.points(s, m))
        .chain(extra.iter().map(|(_, v)| v.clone()))
        .collect();
    let mut out = header.join(",") + "\n";
    for epoch in epochs {
        let mut row = vec![epoch.to_string()];
        row.extend(columns.iter().map(|c| cell(c, epoch)));
        out += &(row.join(",") + "\n");
    }
    out
}

/// Writes [`history_csv`] to `path` atomically.
pub fn write_history_csv(
    path: &Path,
    history: &EpochHistory,
    extra: &[(&str, Vec<(usize, f64)>)],
) -> io::Result<()> {
    let text = history_csv(history, extra);
    write_atomically(path, |w| w.write_all(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_rows_with_empty_cells() {
        let h = EpochHistory::new();
        h.record("train", "Loss", 1, 0.9);
        h.record("train", "Loss", 2, 0.5);
        h.record("valid", "Accuracy", 2, 81.25);
        let csv = history_csv(&h, &[("seconds", vec![(1, 3.0), (2, 6.5)])]);
        assert_eq!(
            csv,
            "epoch,train_loss,valid_accuracy,seconds\n1,0.9,,3\n2,0.5,81.25,6.5\n"
        );
    }

    #[test]
    fn column_names_are_identifiers() {
        assert_eq!(
            column_name("valid", "Top-5 Accuracy"),
            "valid_top_5_accuracy"
        );
    }
}

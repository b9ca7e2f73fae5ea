//! Per-epoch metric values collected during burn-train training, for CSV files and plots.
//!
//! [`EpochHistoryLogger`] is a burn-train [`MetricLogger`]: register it with
//! `SupervisedTraining::with_metric_logger` (beside burn-train's own `FileMetricLogger`, which
//! keeps serving checkpoint selection) and read the values afterwards from the
//! [`EpochHistory`] handle it shares.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use burn::train::logger::MetricLogger;
use burn::train::metric::store::{EpochSummary, MetricsUpdate, Split};
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};

/// `(split, metric name) → epoch → value`: the epoch's running mean as burn-train computed it.
type Table = BTreeMap<(String, String), BTreeMap<usize, f64>>;

/// A shared, cloneable view of the values an [`EpochHistoryLogger`] recorded.
#[derive(Clone, Debug, Default)]
pub struct EpochHistory {
    table: Arc<Mutex<Table>>,
}

impl EpochHistory {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `value` for `metric` on `split` at `epoch` (1-based), replacing an earlier one.
    pub fn record(&self, split: &str, metric: &str, epoch: usize, value: f64) {
        self.lock()
            .entry((split.to_string(), metric.to_string()))
            .or_default()
            .insert(epoch, value);
    }

    /// The `(split, metric)` series present, sorted.
    pub fn series(&self) -> Vec<(String, String)> {
        self.lock().keys().cloned().collect()
    }

    /// `(epoch, value)` points of one series, by epoch.
    pub fn points(&self, split: &str, metric: &str) -> Vec<(usize, f64)> {
        self.lock()
            .get(&(split.to_string(), metric.to_string()))
            .map(|m| m.iter().map(|(&e, &v)| (e, v)).collect())
            .unwrap_or_default()
    }

    /// The value of one series at its last recorded epoch.
    pub fn last(&self, split: &str, metric: &str) -> Option<f64> {
        self.points(split, metric).last().map(|&(_, v)| v)
    }

    /// All epochs that have at least one value.
    pub fn epochs(&self) -> Vec<usize> {
        let mut epochs: Vec<usize> = self
            .lock()
            .values()
            .flat_map(|m| m.keys().copied())
            .collect();
        epochs.sort_unstable();
        epochs.dedup();
        epochs
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A burn-train [`MetricLogger`] that keeps each numeric metric's epoch value in an
/// [`EpochHistory`].
pub struct EpochHistoryLogger {
    history: EpochHistory,
    names: HashMap<MetricId, String>,
}

impl EpochHistoryLogger {
    /// A logger writing into `history`.
    pub fn new(history: EpochHistory) -> Self {
        Self {
            history,
            names: HashMap::new(),
        }
    }
}

fn entry_value(entry: &NumericEntry) -> f64 {
    match entry {
        NumericEntry::Value(v) | NumericEntry::Final(v) => *v,
        NumericEntry::Aggregated {
            aggregated_value, ..
        } => *aggregated_value,
    }
}

impl MetricLogger for EpochHistoryLogger {
    fn log(&mut self, update: MetricsUpdate, epoch: usize, split: &Split) {
        for numeric in &update.entries_numeric {
            let Some(name) = self.names.get(&numeric.entry.metric_id) else {
                continue;
            };
            // The running entry is the mean over the epoch so far; its last value is the epoch's.
            if let Some(entry) = numeric
                .running_entry
                .as_ref()
                .or(numeric.numeric_entry.as_ref())
            {
                self.history
                    .record(&split.to_string(), name, epoch, entry_value(entry));
            }
        }
    }

    fn read_numeric(
        &mut self,
        name: &str,
        _epoch: usize,
        _split: &Split,
    ) -> Result<Vec<NumericEntry>, String> {
        // Checkpoint selection reads burn-train's FileMetricLogger, which keeps every point.
        Err(format!(
            "EpochHistoryLogger keeps epoch values only, not the points of {name}"
        ))
    }

    fn log_metric_definition(&mut self, definition: MetricDefinition) {
        self.names
            .insert(definition.metric_id.clone(), definition.name.to_string());
    }

    fn log_epoch_summary(&mut self, _summary: EpochSummary) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_sorted_series_and_last_values() {
        let h = EpochHistory::new();
        h.record("valid", "Loss", 2, 0.5);
        h.record("train", "Loss", 1, 0.9);
        h.record("valid", "Loss", 1, 0.7);
        h.record("valid", "Loss", 2, 0.4); // replaces
        assert_eq!(
            h.series(),
            vec![
                ("train".into(), "Loss".into()),
                ("valid".into(), "Loss".into())
            ]
        );
        assert_eq!(h.points("valid", "Loss"), vec![(1, 0.7), (2, 0.4)]);
        assert_eq!(h.last("valid", "Loss"), Some(0.4));
        assert_eq!(h.epochs(), vec![1, 2]);
        assert_eq!(h.last("test", "Loss"), None);
    }
}

//! A burn-train renderer that shows a progress bar per epoch and split on stderr, and prints one
//! summary line per epoch and split (also when stderr is not a terminal, so logs keep them).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Running mean of one metric over the current split.
#[derive(Clone, Copy, Debug, Default)]
struct Mean {
    sum: f64,
    count: usize,
}

impl Mean {
    fn add(&mut self, entry: &NumericEntry) {
        match *entry {
            NumericEntry::Value(v) => {
                self.sum += v;
                self.count += 1;
            }
            NumericEntry::Aggregated {
                aggregated_value,
                count,
            } => {
                self.sum += aggregated_value * count as f64;
                self.count += count;
            }
            // An authoritative epoch value replaces what was accumulated.
            NumericEntry::Final(v) => {
                self.sum = v;
                self.count = 1;
            }
        }
    }

    fn value(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

/// Progress bars and per-epoch summary lines for burn-train's `SupervisedTraining`
/// (pass it to `.renderer(Box::new(ProgressRenderer::new()))`).
pub struct ProgressRenderer {
    label: String,
    total_epochs: usize,
    first_epoch: usize,
    train_splits: usize,
    split: String,
    split_started: Instant,
    bar: Option<ProgressBar>,
    names: HashMap<MetricId, String>,
    means: BTreeMap<String, Mean>,
}

impl Default for ProgressRenderer {
    fn default() -> Self {
        Self::new()
    }
}

impl ProgressRenderer {
    /// A renderer drawing on stderr.
    pub fn new() -> Self {
        Self {
            label: "training".into(),
            total_epochs: 0,
            first_epoch: 1,
            train_splits: 0,
            split: String::new(),
            split_started: Instant::now(),
            bar: None,
            names: HashMap::new(),
            means: BTreeMap::new(),
        }
    }

    fn start_bar(&mut self, split: &str, total: usize) {
        self.finish_bar();
        self.split = split.to_string();
        self.split_started = Instant::now();
        self.means.clear();
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>18} [{bar:30.cyan/blue}] {pos:>6}/{len:6} {elapsed_precise} eta {eta:>4} {msg}",
            )
            .expect("valid progress template")
            .progress_chars("=> "),
        );
        bar.set_prefix(self.prefix());
        self.bar = Some(bar);
    }

    /// The epoch being run: burn-train reports epochs after their train split, so count splits.
    fn epoch(&self) -> usize {
        self.first_epoch + self.train_splits.saturating_sub(1)
    }

    fn prefix(&self) -> String {
        if self.total_epochs > 0 {
            format!(
                "epoch {}/{} {}",
                self.epoch(),
                self.total_epochs,
                self.split
            )
        } else {
            self.split.clone()
        }
    }

    fn summary(&self) -> String {
        self.means
            .iter()
            .filter_map(|(name, m)| m.value().map(|v| format!("{} {v:.4}", name.to_lowercase())))
            .collect::<Vec<_>>()
            .join("  ")
    }

    fn record(&mut self, state: MetricState) {
        if let MetricState::Numeric(entry, Some(numeric)) = state
            && let Some(name) = self.names.get(&entry.metric_id)
        {
            self.means.entry(name.clone()).or_default().add(&numeric);
            if let Some(bar) = &self.bar {
                bar.set_message(self.summary());
            }
        }
    }

    fn finish_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            eprintln!(
                "{} | {} | {:.1} s",
                self.prefix(),
                self.summary(),
                self.split_started.elapsed().as_secs_f64()
            );
        }
    }
}

impl MetricsRendererTraining for ProgressRenderer {
    fn update_train(&mut self, state: MetricState) {
        self.record(state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.record(state);
    }
}

impl MetricsRendererEvaluation for ProgressRenderer {
    fn update_test(&mut self, _name: EvaluationName, state: MetricState) {
        self.record(state);
    }
}

impl TrainingProgressLogger for ProgressRenderer {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        _total_items: Option<usize>,
        label: Option<&str>,
    ) {
        self.total_epochs = total_epochs;
        self.first_epoch = starting_epoch.max(1);
        self.train_splits = 0;
        self.label = label.unwrap_or("training").to_string();
    }

    fn update_epoch(&mut self, _epoch: usize) {}

    fn start_split(&mut self, split: &str, total_items: usize) {
        if split == "train" {
            self.train_splits += 1;
        }
        self.start_bar(split, total_items);
    }

    fn update_split(&mut self, items_processed: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(items_processed as u64);
        }
    }

    fn end_split(&mut self) {
        self.finish_bar();
    }

    fn end(&mut self) {
        self.finish_bar();
    }

    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for ProgressRenderer {
    fn start_global_progress(&mut self, _total_tests: usize) {
        self.total_epochs = 0;
    }

    fn start_test(&mut self, name: &str, total_items: usize) {
        self.start_bar(&format!("test {name}"), total_items);
    }

    fn update_test_progress(&mut self, items_processed: usize) {
        self.update_split(items_processed);
    }

    fn end_test(&mut self) {
        self.finish_bar();
    }

    fn end_global_progress(&mut self) {
        self.finish_bar();
    }

    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRenderer for ProgressRenderer {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .insert(definition.metric_id.clone(), definition.name.to_string());
    }
}

/// A loop's progress over `total` units (`evals`, `steps`): a bar on a terminal, and where
/// standard error is not one (a log file, a parent process), a plain line at every tenth of the
/// run, so that long runs show progress there too.
pub struct LoopProgress {
    bar: ProgressBar,
    lines: Option<ProgressLines>,
}

struct ProgressLines {
    label: String,
    unit: String,
    total: usize,
    next: usize,
    started: Instant,
}

impl LoopProgress {
    /// Progress of a loop named `label`, starting at `done`; silent when `show` is false.
    pub fn new(show: bool, label: &str, total: usize, done: usize, unit: &str) -> Self {
        use std::io::IsTerminal;
        if !show {
            return Self {
                bar: ProgressBar::hidden(),
                lines: None,
            };
        }
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{prefix:>18}} [{{bar:30.cyan/blue}}] {{pos:>7}}/{{len:7}} {unit} {{elapsed_precise}} eta {{eta:>4}} {{msg}}"
            ))
            .expect("valid progress template")
            .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        bar.set_position(done as u64);
        let tenth = total.div_ceil(10).max(1);
        let lines = (!std::io::stderr().is_terminal()).then(|| ProgressLines {
            label: label.to_string(),
            unit: unit.to_string(),
            total,
            next: (done / tenth + 1) * tenth,
            started: Instant::now(),
        });
        Self { bar, lines }
    }

    /// The loop reached `position`; `message` says how it goes (the loss).
    pub fn update(&mut self, position: usize, message: String) {
        if let Some(lines) = &mut self.lines
            && (position >= lines.next || position == lines.total)
        {
            let tenth = lines.total.div_ceil(10).max(1);
            lines.next = (position / tenth + 1) * tenth;
            eprintln!(
                "{}: {position}/{} {} ({:.0} s) {message}",
                lines.label,
                lines.total,
                lines.unit,
                lines.started.elapsed().as_secs_f64()
            );
        }
        self.bar.set_position(position as u64);
        self.bar.set_message(message);
    }

    /// The loop stopped with an error: leave the bar where it is.
    pub fn abandon(&self) {
        self.bar.abandon();
    }

    /// The loop is done: clear the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_weights_aggregated_entries_by_count() {
        let mut m = Mean::default();
        assert_eq!(m.value(), None);
        m.add(&NumericEntry::Aggregated {
            aggregated_value: 1.0,
            count: 3,
        });
        m.add(&NumericEntry::Aggregated {
            aggregated_value: 3.0,
            count: 1,
        });
        // (1·3 + 3·1) / 4, by hand.
        assert_eq!(m.value(), Some(1.5));
        m.add(&NumericEntry::Final(0.25));
        assert_eq!(m.value(), Some(0.25));
    }
}

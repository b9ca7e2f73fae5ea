//! The two-panel plot of the pruning and compression examples: test accuracy against how much
//! was removed or kept, right after the cut and after fine-tuning, one line per method and the
//! dense model's accuracy across.

use std::path::Path;

use tempering_train::{Panel, Series, plot_panels};

/// One method's points: `(x, accuracy after the cut, accuracy after fine-tuning)`.
pub struct MethodPoints {
    /// The method's name in the legend.
    pub label: String,
    /// Its points, in x order.
    pub points: Vec<(f64, f64, f64)>,
}

/// Writes the PNG at `path`: panel titles `titles`, x axis `x_label`, accuracies in percent.
pub fn plot_accuracy_panels(
    path: &Path,
    methods: &[MethodPoints],
    dense_accuracy: f64,
    x_label: &str,
    titles: [&str; 2],
) -> std::io::Result<()> {
    let (lo, hi) = methods
        .iter()
        .flat_map(|m| m.points.iter().map(|p| p.0))
        .fold((100.0f64, 0.0f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let panel = |title: &str, accuracy: fn(&(f64, f64, f64)) -> f64| {
        let mut series: Vec<Series> = methods
            .iter()
            .map(|m| Series {
                label: m.label.clone(),
                points: m.points.iter().map(|p| (p.0, accuracy(p))).collect(),
            })
            .collect();
        series.push(Series {
            label: "dense".into(),
            points: vec![(lo, dense_accuracy), (hi, dense_accuracy)],
        });
        Panel {
            title: title.into(),
            x_label: x_label.into(),
            y_label: "test accuracy (%)".into(),
            series,
        }
    };
    plot_panels(
        path,
        &[panel(titles[0], |p| p.1), panel(titles[1], |p| p.2)],
        (1400, 560),
    )
}

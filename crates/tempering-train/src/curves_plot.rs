//! PNG plots of training curves: one panel per metric, one line per split.
//!
//! Drawn with plotters into a bitmap, with DejaVu Sans embedded (no system fonts or font
//! libraries needed), written atomically.

use std::io;
use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;
use tempering_core::atomic_write::finish_atomically;

use crate::epoch_history::EpochHistory;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// Matplotlib's "tab10": ten distinguishable colours (a comparison plots nine optimizers).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// One line of a panel.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// `(x, y)` points, drawn in order.
    pub points: Vec<(f64, f64)>,
}

/// One panel: a title, axis labels and its lines.
#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    /// Panel title.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("the embedded DejaVu Sans font is invalid"));
    });
}

fn padded_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        lo.abs().max(1.0) * 0.05
    };
    (lo - pad)..(hi + pad)
}

/// Draws `panels` side by side into a PNG of `width`×`height` pixels at `path`.
pub fn plot_panels(path: &Path, panels: &[Panel], (width, height): (u32, u32)) -> io::Result<()> {
    register_font();
    let to_io =
        |e: &dyn std::fmt::Display| io::Error::other(format!("plot {}: {e}", path.display()));
    finish_atomically(path, |tmp| {
        let root = BitMapBackend::new(tmp, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| to_io(&e))?;
        let areas = root.split_evenly((1, panels.len().max(1)));
        for (panel, area) in panels.iter().zip(areas) {
            let all = || panel.series.iter().flat_map(|s| s.points.iter().copied());
            let xs = padded_range(all().map(|p| p.0));
            let ys = padded_range(all().map(|p| p.1));
            let mut chart = ChartBuilder::on(&area)
                .caption(&panel.title, ("sans-serif", 22))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(xs, ys)
                .map_err(|e| to_io(&e))?;
            let integer_x = all().all(|p| p.0.fract() == 0.0);
            let x_ticks = if integer_x {
                all().map(|p| p.0 as i64).max().unwrap_or(1).clamp(1, 12) as usize
            } else {
                10
            };
            chart
                .configure_mesh()
                .x_labels(x_ticks)
                .x_label_formatter(&|x| {
                    if integer_x {
                        format!("{x:.0}")
                    } else {
                        format!("{x:.2}")
                    }
                })
                .x_desc(&panel.x_label)
                .y_desc(&panel.y_label)
                .label_style(("sans-serif", 14))
                .draw()
                .map_err(|e| to_io(&e))?;
            for (i, series) in panel.series.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                chart
                    .draw_series(LineSeries::new(
                        series.points.iter().copied(),
                        color.stroke_width(2),
                    ))
                    .map_err(|e| to_io(&e))?
                    .label(&series.label)
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                    });
                chart
                    .draw_series(
                        series
                            .points
                            .iter()
                            .map(|&p| Circle::new(p, 3, color.filled())),
                    )
                    .map_err(|e| to_io(&e))?;
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(("sans-serif", 14))
                .draw()
                .map_err(|e| to_io(&e))?;
        }
        root.present().map_err(|e| to_io(&e))
    })
}

/// Plots every metric of `history` (one panel per metric, one line per split) against epoch.
pub fn plot_history(path: &Path, history: &EpochHistory) -> io::Result<()> {
    let mut metrics: Vec<String> = history.series().into_iter().map(|(_, m)| m).collect();
    metrics.dedup();
    metrics.sort();
    metrics.dedup();
    let panels: Vec<Panel> = metrics
        .iter()
        .map(|metric| Panel {
            title: metric.clone(),
            x_label: "epoch".into(),
            y_label: metric.clone(),
            series: history
                .series()
                .into_iter()
                .filter(|(_, m)| m == metric)
                .map(|(split, m)| Series {
                    points: history
                        .points(&split, &m)
                        .into_iter()
                        .map(|(e, v)| (e as f64, v))
                        .collect(),
                    label: split,
                })
                .collect(),
        })
        .collect();
    plot_panels(path, &panels, (560 * panels.len().max(1) as u32, 420))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png_of_the_requested_size() {
        let dir = tempfile::tempdir().unwrap();
        let h = EpochHistory::new();
        for e in 1..=3 {
            h.record("train", "Loss", e, 1.0 / e as f64);
            h.record("valid", "Loss", e, 1.2 / e as f64);
            h.record("valid", "Accuracy", e, 70.0 + e as f64);
        }
        let path = dir.path().join("curves.png");
        plot_history(&path, &h).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR: width and height, big-endian, at bytes 16..24; two panels of 560×420.
        assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 1120);
        assert_eq!(u32::from_be_bytes(bytes[20..24].try_into().unwrap()), 420);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temporary left behind"
        );
    }

    #[test]
    fn single_point_and_empty_history_still_plot() {
        let dir = tempfile::tempdir().unwrap();
        let h = EpochHistory::new();
        h.record("train", "Loss", 1, 0.5);
        plot_history(&dir.path().join("one.png"), &h).unwrap();
        plot_history(&dir.path().join("none.png"), &EpochHistory::new()).unwrap();
    }
}

//! PAGCP's layer-wise search against a float64 transcription of the official control flow
//! (`tests/reference/pagcp.py`, after HankYe/PAGCP @a39492b `prune/sensitivity.py` and
//! `compress.py`; listed in `docs/references.md`), on the multitask CNN with task losses that
//! depend on the filter counts only: λ, the visiting order, each layer's losses and stop, the
//! kept layers' ratios and the final widths, for λ above and below 1.

use tempering_core::compression::ShrinkUnits;
use tempering_models::{MultitaskCnn, MultitaskCnnConfig};
use tempering_prune::structured::pagcp::{PagcpConfig, pagcp_prune};

const DENSE: [f64; 3] = [8.0, 12.0, 16.0];

fn config() -> MultitaskCnnConfig {
    MultitaskCnnConfig::new()
        .with_widths(vec![8, 12, 16])
        .with_task_classes(vec![3, 2])
        .with_image_size(12)
}

/// The script's task losses of the widths.
fn losses(m: &MultitaskCnn) -> Vec<f64> {
    let w: Vec<f64> = m.unit_counts().iter().map(|(_, n)| *n as f64).collect();
    let f: Vec<f64> = (0..3).map(|i| 1.0 - w[i] / DENSE[i]).collect();
    vec![
        1.0 + 2.0 * f[2].powi(2) + 0.3 * f[1].powi(2),
        2.0 + 3.0 * f[0].powi(2) + 0.5 * f[1],
    ]
}

/// One run of the script: λ, the order, per layer (losses tried, last loss, stopping task),
/// the chosen ratios by layer and the final widths.
struct Expected {
    lambda: f64,
    order: [usize; 3],
    layers: [(usize, f64, Option<usize>); 3],
    ratios: [Option<f64>; 3],
    widths: [usize; 3],
}

fn check(global_threshold: f64, e: Expected) {
    let device = burn::tensor::Device::default();
    let model = config().init(&device);
    let pagcp = PagcpConfig {
        global_threshold,
        ..PagcpConfig::default()
    };
    let (small, small_config, report) =
        pagcp_prune(model, &config(), &pagcp, losses, |m| m.flops(12) as f64).unwrap();
    assert!(
        (report.lambda - e.lambda).abs() < 1e-9,
        "λ {}",
        report.lambda
    );
    for (layer, (&g, &(count, last, stop))) in
        report.layers.iter().zip(e.order.iter().zip(&e.layers))
    {
        assert_eq!(layer.name, format!("layers.{g}"));
        assert_eq!(layer.losses.len(), count, "{}", layer.name);
        assert!(
            (layer.losses[count - 1] - last).abs() < 1e-12,
            "{}: {:?}",
            layer.name,
            layer.losses
        );
        assert_eq!(layer.stopped_by, stop, "{}", layer.name);
        assert_eq!(
            layer.ratio.map(|r| (r * 100.0).round()),
            e.ratios[g].map(|r| (r * 100.0).round())
        );
    }
    assert_eq!(small_config.widths, e.widths.to_vec());
    let widths: Vec<usize> = small.unit_counts().iter().map(|(_, n)| *n).collect();
    assert_eq!(widths, e.widths.to_vec());
    assert!(report.flops.1 < report.flops.0);
}

#[test]
fn lambda_above_one_visits_the_smallest_contribution_first() {
    // python3 tests/reference/pagcp.py, global threshold 30 (the official default).
    check(
        30.0,
        Expected {
            lambda: 16.997173491617,
            order: [2, 0, 1],
            layers: [
                (3, 3.03125, Some(0)),
                (17, 4.71875, Some(1)),
                (19, 5.429166666666666, None),
            ],
            ratios: [None, Some(0.90), Some(0.15)],
            widths: [8, 2, 14],
        },
    );
    check(
        1.2,
        Expected {
            lambda: 1.235739314790,
            order: [2, 0, 1],
            layers: [
                (3, 3.03125, Some(0)),
                (4, 3.078125, Some(1)),
                (6, 3.221875, Some(1)),
            ],
            ratios: [Some(0.20), None, Some(0.15)],
            widths: [7, 12, 14],
        },
    );
}

#[test]
fn lambda_below_one_visits_the_largest_contribution_first() {
    // python3 tests/reference/pagcp.py, global threshold 1.1.
    check(
        1.1,
        Expected {
            lambda: 0.591795746377,
            order: [1, 0, 2],
            layers: [
                (4, 3.091666666666667, Some(1)),
                (4, 3.138541666666667, Some(1)),
                (2, 3.146354166666667, Some(0)),
            ],
            ratios: [None, Some(0.20), Some(0.10)],
            widths: [8, 10, 15],
        },
    );
}

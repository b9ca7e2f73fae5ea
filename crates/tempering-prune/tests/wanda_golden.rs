//! Wanda and the magnitude baseline against a float64 transcription of the official mask rules
//! (locuslab/wanda @8e8fc87, `lib/prune.py`): `tests/reference/wanda.py` builds the same weight
//! and calibration inputs and prints the zeroed positions below (regenerate with
//! `python3 crates/tempering-prune/tests/reference/wanda.py`).

use tempering_prune::calibrated::{InputHessian, LayerSparsity, magnitude, wanda};

const OUT: usize = 4;
const IN: usize = 8;
const TOKENS: usize = 5;

/// The reference script's `weight()`.
fn weight() -> Vec<f32> {
    (0..OUT)
        .flat_map(|o| {
            (0..IN).map(move |i| (((o * 5 + i * 3) % 11) as f64 - 5.0) / 4.0 + 0.03 * o as f64)
        })
        .map(|v| v as f32)
        .collect()
}

/// Each input's sum of squares over the script's three sequences of `inputs(seq)`, through
/// the Hessian's diagonal (the statistic the sequential pass hands Wanda).
fn input_squares() -> Vec<f64> {
    let mut h = InputHessian::new(IN);
    for seq in 0..3 {
        let x: Vec<f32> = (0..TOKENS)
            .flat_map(|t| {
                (0..IN).map(move |i| {
                    ((((t * 7 + i * 3 + seq * 2) % 9) as f32 - 4.0) / 4.0) * (1 + i % 3 * 2) as f32
                })
            })
            .collect();
        h.add_batch(&x, 1).unwrap();
    }
    h.diagonal()
}

fn zeroed(w: &[f32]) -> Vec<(usize, usize)> {
    (0..OUT * IN)
        .filter(|k| w[*k] == 0.0)
        .map(|k| (k / IN, k % IN))
        .collect()
}

fn assert_kept_bit_for_bit(w: &[f32]) {
    for (a, b) in w.iter().zip(weight()) {
        assert!(*a == 0.0 || a.to_bits() == b.to_bits());
    }
}

#[test]
fn wanda_unstructured_matches_the_official_rule() {
    let mut w = weight();
    wanda(
        &mut w,
        OUT,
        &input_squares(),
        LayerSparsity::Unstructured(0.5),
    )
    .unwrap();
    // tests/reference/wanda.py, "wanda 50 %".
    let expected = [
        (0, 0),
        (0, 2),
        (0, 3),
        (0, 6),
        (1, 0),
        (1, 3),
        (1, 4),
        (1, 7),
        (2, 0),
        (2, 2),
        (2, 3),
        (2, 6),
        (3, 0),
        (3, 3),
        (3, 4),
        (3, 6),
    ];
    assert_eq!(zeroed(&w), expected);
    assert_kept_bit_for_bit(&w);
}

#[test]
fn wanda_two_of_four_matches_the_official_rule() {
    let mut w = weight();
    let pattern = LayerSparsity::NOfM { keep: 2, m: 4 };
    wanda(&mut w, OUT, &input_squares(), pattern).unwrap();
    // tests/reference/wanda.py, "wanda 2:4".
    let expected = [
        (0, 0),
        (0, 3),
        (0, 5),
        (0, 6),
        (1, 0),
        (1, 3),
        (1, 4),
        (1, 7),
        (2, 2),
        (2, 3),
        (2, 5),
        (2, 6),
        (3, 0),
        (3, 3),
        (3, 4),
        (3, 6),
    ];
    assert_eq!(zeroed(&w), expected);
    assert_kept_bit_for_bit(&w);
}

#[test]
fn magnitude_matches_the_official_rule() {
    let mut w = weight();
    magnitude(&mut w, OUT, IN, LayerSparsity::Unstructured(0.3)).unwrap();
    // tests/reference/wanda.py, "magnitude 30 %": int(32·0.3) = 9, and `<=` takes a 10th.
    let expected = [
        (0, 2),
        (0, 5),
        (1, 0),
        (1, 4),
        (1, 7),
        (2, 2),
        (2, 6),
        (3, 0),
        (3, 4),
        (3, 7),
    ];
    assert_eq!(zeroed(&w), expected);
    assert_kept_bit_for_bit(&w);
}

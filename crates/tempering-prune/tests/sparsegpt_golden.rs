//! SparseGPT against a float64 transcription of the official `fasterprune`
//! (IST-DASLab/sparsegpt @147d215, `sparsegpt.py`): `tests/reference/sparsegpt.py` builds the
//! same weight and calibration inputs and prints the pruned weights below (regenerate with
//! `python3 crates/tempering-prune/tests/reference/sparsegpt.py`). Plus the properties every
//! calibrated pass must keep: the pattern complies, and the layer's reconstruction error
//! `‖WX − ŴX‖²` is below magnitude pruning's and Wanda's at the same sparsity.

use tempering_core::split_mix::standard_normal;
use tempering_prune::calibrated::{InputHessian, SparseGptConfig, sparsegpt};

const OUT: usize = 5;
const IN: usize = 12;
const TOKENS: usize = 9;

/// The reference script's `weight()`: exact in f32 and f64.
fn weight() -> Vec<f32> {
    (0..OUT)
        .flat_map(|o| {
            (0..IN).map(move |i| (((o * 7 + i * 5) % 13) as f64 - 6.0) / 4.0 + 0.01 * o as f64)
        })
        .map(|v| v as f32)
        .collect()
}

/// The reference script's `hessian()`: three sequences of `inputs(seq)`, input 3 dead.
fn hessian() -> InputHessian {
    let mut h = InputHessian::new(IN);
    for seq in 0..3 {
        let x: Vec<f32> = (0..TOKENS)
            .flat_map(|t| {
                (0..IN).map(move |i| match i {
                    3 => 0.0,
                    _ => (((t * 3 + i * 11 + seq * 5) % 17) as f32 - 8.0) / 8.0,
                })
            })
            .collect();
        h.add_batch(&x, 1).unwrap();
    }
    h
}

fn assert_matches(got: &[f32], expected: &[[f64; IN]; OUT], case: &str) {
    for (o, row) in expected.iter().enumerate() {
        for (i, &e) in row.iter().enumerate() {
            let g = got[o * IN + i];
            // Zeros are exact; kept weights agree to f32 rounding of the f64 result.
            assert!(
                (e == 0.0) == (g == 0.0) && (f64::from(g) - e).abs() <= 1e-6 * e.abs().max(1.0),
                "{case}: [{o}, {i}] is {g}, the reference {e}"
            );
        }
    }
}

#[test]
fn unstructured_matches_the_official_code() {
    // tests/reference/sparsegpt.py, "unstructured 50 %, blocks of 5".
    let expected: [[f64; IN]; OUT] = [
        [
            -1.5,
            0.0,
            1.0730716107750435,
            0.0,
            0.0,
            1.5117869917280702,
            0.0,
            0.9604799700547667,
            -1.1559377626405898,
            0.0,
            1.4969189870065391,
            0.0,
        ],
        [
            0.0,
            1.4219064735738325,
            0.0,
            0.0,
            -1.133654845396591,
            0.0,
            1.4288009781688173,
            0.0,
            0.0,
            -1.3603380139444554,
            0.0,
            1.9291209773564018,
        ],
        [
            -1.23,
            0.0,
            1.2641542711379965,
            0.0,
            0.0,
            -1.5646133411437557,
            0.0,
            1.405514881848683,
            -0.9793190962144581,
            0.0,
            0.0,
            0.0,
        ],
        [
            0.53,
            -1.47,
            0.0,
            0.0,
            -0.909989937452414,
            0.0,
            1.5636105203422999,
            0.0,
            0.0,
            -1.4556498997201714,
            0.0,
            2.030837011754966,
        ],
        [
            -0.96,
            0.0,
            1.4552369315009497,
            0.0,
            0.8903581479490376,
            -1.2530569958997615,
            0.0,
            1.2592779739486109,
            0.0,
            0.0,
            -1.7827932178347479,
            0.0,
        ],
    ];
    let mut w = weight();
    let config = SparseGptConfig::unstructured(0.5).with_block_size(5);
    sparsegpt(&mut w, OUT, &hessian(), &config).unwrap();
    assert_matches(&w, &expected, "unstructured");
}

#[test]
fn two_of_four_matches_the_official_code() {
    // tests/reference/sparsegpt.py, "2:4, blocks of 8".
    let expected: [[f64; IN]; OUT] = [
        [
            -1.5,
            0.0,
            1.0730716107750435,
            0.0,
            0.0,
            1.51178699172807,
            0.0,
            0.9604799700547668,
            -1.1559377626405898,
            0.0,
            1.4969189870065391,
            0.0,
        ],
        [
            0.0,
            1.4219064735738325,
            -0.578122136232706,
            0.0,
            -1.2913509615578125,
            0.0,
            1.2422362192315504,
            0.0,
            0.0,
            -1.593603736944827,
            0.0,
            1.8384450874032292,
        ],
        [
            -1.23,
            0.0,
            1.2641542711379965,
            0.0,
            0.0,
            -1.5646133411437557,
            0.0,
            1.405514881848683,
            -0.9793190962144581,
            0.0,
            1.4542464042600727,
            0.0,
        ],
        [
            0.53,
            -1.47,
            0.0,
            0.0,
            -0.909989937452414,
            0.0,
            1.5636105203422999,
            0.0,
            0.0,
            -1.4556498997201714,
            0.0,
            2.030837011754966,
        ],
        [
            -0.96,
            0.0,
            1.4552369315009497,
            0.0,
            0.0,
            -1.3910136740155814,
            0.0,
            1.850549793642599,
            -0.8027004297883265,
            0.0,
            -1.8384261784863936,
            0.0,
        ],
    ];
    let mut w = weight();
    let config = SparseGptConfig::n_of_m(2, 4).with_block_size(8);
    sparsegpt(&mut w, OUT, &hessian(), &config).unwrap();
    assert_matches(&w, &expected, "2:4");
    for row in w.chunks_exact(IN) {
        for group in row.chunks_exact(4) {
            assert!(
                group.iter().filter(|v| **v != 0.0).count() <= 2,
                "{group:?}"
            );
        }
    }
}

/// `Σ_r (w_r − ŵ_r)ᵀ H (w_r − ŵ_r)`: proportional to `‖WX − ŴX‖²` over the calibration data.
fn reconstruction_error(dense: &[f32], pruned: &[f32], h: &InputHessian, d_in: usize) -> f64 {
    let m = h.matrix();
    dense
        .chunks_exact(d_in)
        .zip(pruned.chunks_exact(d_in))
        .map(|(a, b)| {
            let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| f64::from(x - y)).collect();
            (0..d_in)
                .map(|i| d[i] * (0..d_in).map(|j| m[i * d_in + j] * d[j]).sum::<f64>())
                .sum::<f64>()
        })
        .sum()
}

/// Zeroes the `⌊s·d_in⌋` lowest `score(o, i)` of each output row.
fn per_row(w: &[f32], d_in: usize, s: f64, score: impl Fn(usize, usize) -> f64) -> Vec<f32> {
    let mut out = w.to_vec();
    for (o, row) in out.chunks_exact_mut(d_in).enumerate() {
        let mut order: Vec<usize> = (0..d_in).collect();
        order.sort_by(|&a, &b| score(o, a).total_cmp(&score(o, b)));
        for &i in &order[..(s * d_in as f64) as usize] {
            row[i] = 0.0;
        }
    }
    out
}

#[test]
fn sparsegpt_reconstructs_the_layer_better_than_magnitude_and_wanda() {
    // A [32, 64] layer whose inputs have very different scales and correlations (what makes
    // calibration matter): x_i = scale_i · (z_i + 0.8 z_{i-1}).
    let (outputs, d_in, tokens) = (32, 64, 512);
    let w = standard_normal(outputs * d_in, 31, 0);
    let scales: Vec<f32> = (0..d_in).map(|i| 0.1 + (i % 7) as f32).collect();
    let scales = &scales;
    let mut h = InputHessian::new(d_in);
    for sequence in 0..4u64 {
        let z = standard_normal(tokens / 4 * d_in, 32, sequence);
        let x: Vec<f32> = z
            .chunks_exact(d_in)
            .flat_map(|z| {
                (0..d_in).map(move |i| scales[i] * (z[i] + 0.8 * z[(i + d_in - 1) % d_in]))
            })
            .collect();
        h.add_batch(&x, 1).unwrap();
    }
    for s in [0.5, 0.7] {
        let magnitude = per_row(&w, d_in, s, |o, i| f64::from(w[o * d_in + i].abs()));
        let norms: Vec<f64> = (0..d_in).map(|i| h.matrix()[i * d_in + i].sqrt()).collect();
        let wanda = per_row(&w, d_in, s, |o, i| {
            f64::from(w[o * d_in + i].abs()) * norms[i]
        });
        let mut ours = w.clone();
        sparsegpt(&mut ours, outputs, &h, &SparseGptConfig::unstructured(s)).unwrap();
        let zeros = ours.iter().filter(|v| **v == 0.0).count() as f64 / ours.len() as f64;
        assert!((zeros - s).abs() < 0.02, "sparsity {zeros} for {s}");
        let [e_ours, e_wanda, e_mag] =
            [&ours, &wanda, &magnitude].map(|p| reconstruction_error(&w, p, &h, d_in));
        assert!(
            e_ours < e_wanda && e_wanda < e_mag,
            "s = {s}: SparseGPT {e_ours:.1}, Wanda {e_wanda:.1}, magnitude {e_mag:.1}"
        );
    }
}

#[test]
fn bad_requests_are_named() {
    let h = hessian();
    let mut w = weight();
    let err =
        |c: SparseGptConfig, w: &mut [f32]| sparsegpt(w, OUT, &h, &c).unwrap_err().to_string();
    assert!(err(SparseGptConfig::unstructured(1.0), &mut w).contains("--sparsity"));
    assert!(err(SparseGptConfig::n_of_m(2, 5), &mut w).contains("M = 5 must divide"));
    assert!(err(SparseGptConfig::unstructured(0.5), &mut w[..7]).contains("weight"));
    w[3] = f32::NAN;
    assert!(err(SparseGptConfig::unstructured(0.5), &mut w).contains("NaN"));
}

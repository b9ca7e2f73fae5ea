//! ProxSparse's proximal operator and 2:4 mask against a float64 transcription of the official
//! `prox_op` and `mask_op.py` (amazon-science/ProxSparse @4a558bc, `end-to-end/prox_op.py`):
//! `tests/reference/proxsparse.py` builds the same weight and prints the results below
//! (regenerate with `python3 crates/tempering-prune/tests/reference/proxsparse.py`).

use tempering_prune::calibrated::{GroupSparsity, keep_two_of_four, prox_two_of_four};

const OUT: usize = 3;
const IN: usize = 8;

/// The script's `weight()`: exact in f32.
fn weight() -> Vec<f32> {
    (0..OUT)
        .flat_map(|o| {
            (0..IN).map(move |i| {
                ((((o * 5 + i * 3) % 11) as f64 - 5.0) / 8.0 + ((o + i) % 3) as f64 / 64.0) as f32
            })
        })
        .collect()
}

fn assert_matches(got: &[f32], expected: &[[f64; IN]; OUT], case: &str) {
    for (o, row) in expected.iter().enumerate() {
        for (i, &e) in row.iter().enumerate() {
            let g = f64::from(got[o * IN + i]);
            // Zeros are exact; the rest agree to f32 rounding of the f64 result.
            assert!(
                (e == 0.0) == (g == 0.0) && (g - e).abs() <= 1e-6 * e.abs().max(1.0),
                "{case}: [{o}, {i}] is {g}, the reference {e}"
            );
        }
    }
}

#[test]
fn small_lambda_keeps_dense_and_three_sparse_groups() {
    // tests/reference/proxsparse.py, "prox_op, lambda 0.05".
    let expected: [[f64; IN]; OUT] = [
        [
            -0.615285310528272,
            -0.21221265813455337,
            0.12952583591145922,
            0.48811231513249104,
            -0.47420589982759115,
            -0.06594058374476901,
            0.23134593010610036,
            0.6328134947757285,
        ],
        [
            0.0,
            0.3993622155406648,
            -0.6205674100551448,
            -0.22198344121534877,
            0.14077163108583823,
            0.4943072850505387,
            -0.4785118141920217,
            -0.0750761396353981,
        ],
        [
            0.649105766963896,
            -0.36219655732430595,
            0.0,
            0.39449480629420824,
            -0.615285310528272,
            -0.21221265813455337,
            0.12952583591145922,
            0.48811231513249104,
        ],
    ];
    let mut w = weight();
    prox_two_of_four(&mut w, 0.05).unwrap();
    assert_matches(&w, &expected, "lambda 0.05");
}

#[test]
fn middle_lambda_matches_the_official_operator() {
    // "prox_op, lambda 0.5".
    let expected: [[f64; IN]; OUT] = [
        [
            -0.6032955680246603,
            -0.09191453931290922,
            0.0,
            0.4722741829004907,
            -0.45006355316776475,
            -0.0,
            0.111484515828983,
            0.61553744134141,
        ],
        [
            0.0,
            0.36914661699458395,
            -0.6022579363655763,
            -0.12321426006597992,
            0.039842982455759055,
            0.4905452083092402,
            -0.47460260793770886,
            -0.0,
        ],
        [
            0.6117648105057957,
            -0.27661664535346864,
            0.0,
            0.3216378351878272,
            -0.6032955680246603,
            -0.09191453931290922,
            0.0,
            0.4722741829004907,
        ],
    ];
    let mut w = weight();
    prox_two_of_four(&mut w, 0.5).unwrap();
    assert_matches(&w, &expected, "lambda 0.5");
}

#[test]
fn large_lambda_leaves_every_group_two_sparse() {
    // "prox_op, lambda 4.0".
    let expected: [[f64; IN]; OUT] = [
        [-0.625, -0.0, 0.0, 0.5, -0.484375, -0.0, 0.0, 0.640625],
        [0.0, 0.40625, -0.625, -0.0, 0.0, 0.5, -0.484375, -0.0],
        [0.65625, -0.0, 0.0, 0.40625, -0.625, -0.0, 0.0, 0.5],
    ];
    let mut w = weight();
    prox_two_of_four(&mut w, 4.0).unwrap();
    assert_matches(&w, &expected, "lambda 4");
    assert_eq!(GroupSparsity::of(&w).at_most_two_kept(), 1.0);
}

#[test]
fn the_mask_matches_the_official_extraction() {
    // "mask of three prox steps at lambda 4 (1 = kept)".
    let expected = [
        1, 0, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 0, 1,
    ];
    let mut w = weight();
    for _ in 0..3 {
        prox_two_of_four(&mut w, 4.0).unwrap();
    }
    let mask: Vec<u8> = keep_two_of_four(&w).into_iter().map(u8::from).collect();
    assert_eq!(mask, expected);
}

#[test]
fn bad_input_is_named() {
    let mut odd = vec![1.0f32; 6];
    let e = prox_two_of_four(&mut odd, 0.1).unwrap_err().to_string();
    assert!(e.contains("groups of 4"), "{e}");
    let mut nan = vec![1.0, f32::NAN, 0.0, 1.0];
    let e = prox_two_of_four(&mut nan, 0.1).unwrap_err().to_string();
    assert!(e.contains("value 1 is NaN"), "{e}");
    assert!(prox_two_of_four(&mut [1.0; 4], -1.0).is_err());
}

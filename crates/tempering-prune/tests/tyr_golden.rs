//! Týr-the-Pruner's local pruner against a float64 transcription of the official code
//! (AMD-AGI/Tyr-the-Pruner @c69d040, `src/local_pruner.py` `LocalPruner.prune` and
//! `local_prune_core`; `src/pruner.py` `_prune_group` for the levels): the script
//! `tests/reference/tyr.py` builds the same layers and calibration inputs and printed the
//! kept groups, refit weights and losses below (regenerate with
//! `cd crates/tempering-prune/tests/reference && python3 tyr.py`). Cases: four heads of two
//! inputs (one removal round); twelve channels with a dead input (sixteen rounds, one channel
//! each); twelve channels with one already-zero row (three rounds).

use tempering_prune::calibrated::tyr::levels::level_sparsities;
use tempering_prune::calibrated::tyr::local::{least_squares_problem, local_prune};

const TOKENS: usize = 24;

/// The script's `x_rows(d_in, dead)`, `[tokens, d_in]`: exact in f32.
fn x_rows(d_in: usize, dead: Option<usize>) -> Vec<f64> {
    (0..TOKENS)
        .flat_map(|t| {
            (0..d_in).map(move |i| {
                if Some(i) == dead {
                    0.0
                } else {
                    ((t * 7 + i * 3 + (t * i) % 5) % 13) as f64 / 4.0 - 1.5 + i as f64 / 32.0
                }
            })
        })
        .collect()
}

/// The script's `weight(d_in, d_out, zero_row)`, `[d_in, d_out]`.
fn weight(d_in: usize, d_out: usize, zero: Option<usize>) -> Vec<f64> {
    (0..d_in)
        .flat_map(|i| {
            (0..d_out).map(move |o| {
                if Some(i) == zero {
                    0.0
                } else {
                    (((i * 5 + o * 11) % 9) as f64 - 4.0) / 8.0 + o as f64 / 16.0
                }
            })
        })
        .collect()
}

/// `XᵀX`, the plain sum the official `LocalPruner.update` accumulates.
fn gram(x: &[f64], d_in: usize) -> Vec<f64> {
    let mut h = vec![0.0; d_in * d_in];
    for row in x.chunks(d_in) {
        for a in 0..d_in {
            for b in 0..d_in {
                h[a * d_in + b] += row[a] * row[b];
            }
        }
    }
    h
}

/// `heads` from `tyr.py`: kept groups, loss, refit weight `[8, 5]`.
const HEADS: (&[usize], f64, [f64; 40]) = (
    &[0, 3],
    -40.670360451508856,
    [
        -0.42798095300174077,
        -0.2583233841284723,
        0.14424382454691304,
        0.5766589221912557,
        0.8699850860559963,
        -0.05364049239568702,
        0.31935867739337087,
        -0.2707353179578552,
        -0.11346088714093083,
        0.00926927993108273,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        -0.5283275420728906,
        0.273331945873279,
        0.6126542088754011,
        -0.3919430156513346,
        -0.4801664318835849,
        0.3987110787693703,
        0.04343474427141181,
        -0.08572882766954745,
        -0.1296293103724543,
        0.381150885688208,
    ],
);
/// `channels` from `tyr.py`: kept groups, loss, refit weight `[12, 5]`.
const CHANNELS: (&[usize], f64, [f64; 60]) = (
    &[0, 5, 6, 9, 11],
    -61.70243653511447,
    [
        -0.5100662165190992,
        -0.36219207939565384,
        0.4256027041115198,
        0.4465580178614645,
        0.6740834383302791,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.2124211216806013,
        -0.3414685126689705,
        0.2629836979567924,
        0.5037020414610758,
        0.44086526794077247,
        -0.4071956212237129,
        -0.21626860959342495,
        0.4778457700141431,
        -0.08377296583814497,
        -0.33082481657159735,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        -0.4594566211347658,
        -0.18453456225556492,
        -0.14191322897167552,
        0.34855015727984895,
        0.7755122024169145,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        -0.43654476783716556,
        0.005263345790528923,
        0.5083428335156188,
        0.7713221790956823,
        -0.2598215223860878,
    ],
);
/// `channels_zero_row` from `tyr.py`: kept groups, loss, refit weight `[12, 5]`.
const CHANNELS_ZERO_ROW: (&[usize], f64, [f64; 60]) = (
    &[4, 5, 6, 7, 9, 11],
    -66.95944566744824,
    [
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        -0.256631419573463,
        0.30732999124785837,
        0.6243642057664346,
        0.6528205922898169,
        0.09178200311113849,
        0.1756218692089079,
        -0.7246565312863427,
        0.14970669335456332,
        0.2509889306286594,
        0.4757105301334084,
        -0.2746486726966644,
        -0.3145340272950837,
        0.9103992728097796,
        -0.33874672454428795,
        -0.3786320791427072,
        0.056718682736091916,
        -0.9247933579650133,
        0.9864222663161073,
        0.5497364932779588,
        0.6932244525768539,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        -0.6324579960290083,
        -0.3561588609774421,
        0.3644168434267542,
        0.5019681439365491,
        0.7782672789881161,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        -0.27911231815790727,
        0.045434143734838006,
        0.23908457963267665,
        0.5485677648235122,
        -0.2518857732837425,
    ],
);

/// One of the script's `CASES`: the layer, the groups kept and the removal rounds.
struct Case {
    d_in: usize,
    d_out: usize,
    groups: usize,
    keep: usize,
    rounds: usize,
    dead: Option<usize>,
    zero: Option<usize>,
}

fn check(expected: &(&[usize], f64, impl AsRef<[f64]>), case: Case) {
    let Case {
        d_in,
        d_out,
        groups,
        keep,
        rounds,
        dead,
        zero,
    } = case;
    let (b, h, g) = least_squares_problem(
        &weight(d_in, d_out, zero),
        &gram(&x_rows(d_in, dead), d_in),
        d_in,
        0.01,
    );
    let pruned = local_prune(&b, &h, &g, d_in, groups, keep, rounds).unwrap();
    assert_eq!(pruned.kept, expected.0);
    // Cholesky solves against the script's Gauss-Jordan inverses: agreement to ~1e-12.
    let scale = expected
        .2
        .as_ref()
        .iter()
        .fold(1.0f64, |m, v| m.max(v.abs()));
    for (i, (got, want)) in pruned.weight.iter().zip(expected.2.as_ref()).enumerate() {
        assert!(
            (got - want).abs() <= 1e-9 * scale,
            "weight {i}: {got} vs {want}"
        );
    }
    assert!((pruned.loss - expected.1).abs() <= 1e-9 * expected.1.abs().max(1.0));
}

#[test]
fn heads_match_the_official_local_pruner() {
    let case = Case {
        d_in: 8,
        d_out: 5,
        groups: 4,
        keep: 2,
        rounds: 1,
        dead: None,
        zero: None,
    };
    check(&HEADS, case);
}

#[test]
fn channels_match_the_official_local_pruner() {
    let case = Case {
        d_in: 12,
        d_out: 5,
        groups: 12,
        keep: 5,
        rounds: 16,
        dead: Some(7),
        zero: None,
    };
    check(&CHANNELS, case);
}

#[test]
fn an_already_removed_channel_counts_as_removed() {
    let case = Case {
        d_in: 12,
        d_out: 5,
        groups: 12,
        keep: 6,
        rounds: 3,
        dead: None,
        zero: Some(2),
    };
    check(&CHANNELS_ZERO_ROW, case);
}

/// `levels(...)` as `tyr.py` prints it.
#[test]
fn levels_match_the_official_list() {
    assert_eq!(
        level_sparsities(0.375, 4096, 65536, 9),
        (
            -4,
            vec![
                0.125, 0.1875, 0.25, 0.3125, 0.375, 0.4375, 0.5, 0.5625, 0.625
            ]
        )
    );
    assert_eq!(
        level_sparsities(0.3, 1000, 7000, 9),
        (
            -2,
            vec![
                0.01428571428571429,
                0.15714285714285714,
                0.3,
                0.44285714285714284,
                0.5857142857142856,
                0.7285714285714285,
                0.8714285714285714
            ]
        )
    );
    assert_eq!(level_sparsities(0.5, 8192, 65536, 9).0, -4);
}

//! AugLocal's two construction rules (Ma et al., "Scaling Supervised Local Learning with
//! Augmented Auxiliary Networks", ICLR 2024, arXiv:2401.16751; reference
//! ChenxiangMA/AugLocal `networks/auxiliary_nets.py` and `networks/resnet.py`): which later
//! layers an auxiliary network copies, and how deep each auxiliary network is.
//!
//! Both round as Python's `round` does, half to even (`round(2.5) == 2`), so that the layer
//! choices equal the reference's.

/// Python's `round`: to the nearest integer, ties to even.
pub fn round_half_even(x: f64) -> i64 {
    let floor = x.floor();
    let diff = x - floor;
    let down = floor as i64;
    if diff < 0.5 {
        down
    } else if diff > 0.5 {
        down + 1
    } else if down % 2 == 0 {
        down
    } else {
        down + 1
    }
}

/// The layers whose fresh copies make up layer `layer`'s auxiliary network of depth `depth`,
/// in a network of `layers` layers: all later layers when there are no more than `depth` of
/// them, otherwise a uniform sample that always ends with the last layer,
/// `round(l + (L − l − 1)/d · i)` for `i = 1..=d`.
///
/// # Panics
/// If `depth` is 0 or `layer` is not before the last layer.
pub fn auxiliary_layers(layer: usize, layers: usize, depth: usize) -> Vec<usize> {
    assert!(
        depth > 0,
        "an auxiliary network needs a depth of at least 1"
    );
    assert!(
        layer + 1 < layers,
        "layer {layer} has no later layers in a network of {layers}"
    );
    if depth >= layers - 1 - layer {
        return (layer + 1..layers).collect();
    }
    let step = (layers - layer - 1) as f64 / depth as f64;
    (1..=depth)
        .map(|i| round_half_even(layer as f64 + step * i as f64) as usize)
        .collect()
}

/// The depth of each of the `modules − 1` auxiliary networks under the linearly decreasing rule
/// with coefficient `tau` (the reference's `paramid_coeff`, 0.5 in the paper):
/// `d_l = max(1, round(d·(1 − l·τ/(K−2)) + l·τ/(K−2)))`, from `d` at the first module
/// towards 1 at the last.
///
/// # Panics
/// If `modules` < 3 (the rule divides by K − 2) or `depth` is 0.
pub fn decreasing_depths(depth: usize, modules: usize, tau: f64) -> Vec<usize> {
    assert!(
        depth > 0,
        "an auxiliary network needs a depth of at least 1"
    );
    assert!(
        modules >= 3,
        "the decreasing-depth rule needs at least 3 modules, got {modules}"
    );
    (0..modules - 1)
        .map(|l| {
            let r = l as f64 * tau / (modules - 2) as f64;
            round_half_even(depth as f64 * (1.0 - r) + r).max(1) as usize
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_like_python() {
        let cases = [
            (0.5, 0),
            (1.5, 2),
            (2.5, 2),
            (3.5, 4),
            (2.4999, 2),
            (2.5001, 3),
        ];
        for (x, expected) in cases {
            assert_eq!(round_half_even(x), expected, "round({x})");
        }
    }

    /// Worked examples of the official rule (ChenxiangMA/AugLocal `networks/resnet.py`): ResNet-32
    /// has 16 layers (the stem and 15 blocks), ResNet-110 has 55 (the stem and 54 blocks).
    #[test]
    fn sampled_layers_match_the_reference_examples() {
        assert_eq!(auxiliary_layers(0, 16, 2), vec![8, 15]);
        assert_eq!(auxiliary_layers(0, 55, 3), vec![18, 36, 54]);
        // Fewer later layers than the depth: all of them.
        assert_eq!(auxiliary_layers(13, 16, 3), vec![14, 15]);
        assert_eq!(auxiliary_layers(14, 16, 2), vec![15]);
        // Always ends with the last layer, never repeats, never goes back.
        for layer in 0..14 {
            for depth in 1..6 {
                let picked = auxiliary_layers(layer, 16, depth);
                assert_eq!(*picked.last().unwrap(), 15);
                assert!(picked.windows(2).all(|w| w[0] < w[1]));
                assert!(picked[0] > layer);
                assert_eq!(picked.len(), depth.min(15 - layer));
            }
        }
    }

    #[test]
    fn depth_decreases_linearly_towards_one() {
        // K = 16, d = 3, τ = 0.5: from 3 at module 0 to round(3·0.5 + 0.5) = 2 at module 14.
        let depths = decreasing_depths(3, 16, 0.5);
        assert_eq!(depths.len(), 15);
        assert_eq!((depths[0], depths[14]), (3, 2));
        assert!(depths.windows(2).all(|w| w[0] >= w[1]));
        // τ = 1 reaches depth 1 at the last module.
        assert_eq!(*decreasing_depths(5, 8, 1.0).last().unwrap(), 1);
        // By hand: K = 4, d = 2, τ = 0.5 → l·τ/(K−2) = 0, 0.25, 0.5 → 2, round(1.75) = 2, round(1.5) = 2.
        assert_eq!(decreasing_depths(2, 4, 0.5), vec![2, 2, 2]);
        // K = 4, d = 4, τ = 1 → 4, round(2.5) = 2, 1.
        assert_eq!(decreasing_depths(4, 4, 1.0), vec![4, 2, 1]);
    }
}

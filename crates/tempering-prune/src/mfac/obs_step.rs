//! One M-FAC pruning step over a flat weight vector: the official `MFACPruner.prune` of
//! IST-DASLab/M-FAC `main_prun.py`, once its gradients are collected.

use super::static_inverse::InverseFisher;
use crate::error::PruneError;

/// What one pruning step did.
#[derive(Clone, Debug)]
pub struct ObsStep {
    /// The weights after the step: dropped ones are zero, the others moved by the OBS update.
    pub weights: Vec<f32>,
    /// Which weights are kept after the step.
    pub keep: Vec<bool>,
    /// Weights dropped by this step.
    pub dropped: usize,
}

/// Prunes `weights` (those `keep` marks as kept) up to `sparsity` of all of them, with the
/// inverse empirical Fisher of `gradients` (each over all the weights; only the kept
/// coordinates are used) in blocks of `block` kept coordinates and dampening `damp`.
///
/// As the official code: `ndrop = ⌊d·(sparsity − current sparsity)⌋`; each kept weight scores
/// `w² / (2·[F⁻¹]_qq)` (the OBS loss increase of removing it alone); the `ndrop` lowest go
/// (ties to the lower index); the kept weights then move by `F⁻¹t`, `t_q = −w_q / [F⁻¹]_qq` on
/// the dropped coordinates and 0 elsewhere (the OBS correction of each removal, summed), and the
/// dropped weights are set to zero. A step that would drop nothing returns the weights as they
/// are.
pub fn obs_prune_step(
    weights: &[f32],
    keep: &[bool],
    gradients: &[Vec<f32>],
    sparsity: f64,
    block: Option<usize>,
    damp: f64,
) -> Result<ObsStep, PruneError> {
    let d = weights.len();
    if keep.len() != d {
        return Err(PruneError::bad(
            "mask",
            format!("{} entries for {d} weights", keep.len()),
        ));
    }
    if !(0.0..1.0).contains(&sparsity) {
        return Err(PruneError::bad(
            "sparsity",
            format!("{sparsity} is not in [0, 1)"),
        ));
    }
    if gradients.is_empty() {
        return Err(PruneError::bad("gradients", "M-FAC needs at least one"));
    }
    if let Some(g) = gradients.iter().find(|g| g.len() != d) {
        return Err(PruneError::bad(
            "gradients",
            format!("a gradient of {} values for {d} weights", g.len()),
        ));
    }
    if gradients.iter().flatten().any(|v| !v.is_finite()) {
        return Err(PruneError::bad(
            "gradients",
            "a gradient holds NaN or infinity (the loss diverged on a calibration batch?)",
        ));
    }
    let kept: Vec<usize> = (0..d).filter(|&k| keep[k]).collect();
    let current = (d - kept.len()) as f64 / d.max(1) as f64;
    let ndrop = ((d as f64 * (sparsity - current)) as usize).min(kept.len());
    if ndrop == 0 {
        return Ok(ObsStep {
            weights: weights.to_vec(),
            keep: keep.to_vec(),
            dropped: 0,
        });
    }
    let w1: Vec<f64> = kept.iter().map(|&k| weights[k] as f64).collect();
    let restricted: Vec<Vec<f32>> = gradients
        .iter()
        .map(|g| kept.iter().map(|&k| g[k]).collect())
        .collect();
    let inverse = InverseFisher::new(&restricted, block, damp);
    let diagonal = inverse.diagonal();
    let scores: Vec<f64> = w1
        .iter()
        .zip(&diagonal)
        .map(|(w, dq)| w * w / (2.0 * dq))
        .collect();
    let mut order: Vec<usize> = (0..w1.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    let drop = &order[..ndrop];
    let mut t = vec![0.0f64; w1.len()];
    for &q in drop {
        t[q] = -w1[q] / diagonal[q];
    }
    let delta = inverse.mul(&t);
    let mut moved: Vec<f64> = w1.iter().zip(&delta).map(|(w, dw)| w + dw).collect();
    for &q in drop {
        moved[q] = 0.0;
    }
    let mut out = weights.to_vec();
    let mut keep_out = keep.to_vec();
    for (i, &k) in kept.iter().enumerate() {
        out[k] = moved[i] as f32;
    }
    for &q in drop {
        keep_out[kept[q]] = false;
    }
    Ok(ObsStep {
        weights: out,
        keep: keep_out,
        dropped: ndrop,
    })
}

//! Týr-the-Pruner's local pruner for one layer at one sparsity: which input groups (heads or
//! channels) to remove, chosen by an optimal-brain-surgeon saliency over several rounds, and
//! the least-squares refit of what is kept. A transcription of `LocalPruner.local_prune_core`
//! (AMD-AGI/Tyr-the-Pruner @c69d040, `src/local_pruner.py`), in `f64`.

use super::super::cholesky::solve_positive_definite;

/// `a·b`, `a` row-major `[n, k]`, `b` row-major `[k, m]`.
fn matmul(a: &[f64], b: &[f64], n: usize, k: usize, m: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * m];
    for i in 0..n {
        let row = &mut out[i * m..(i + 1) * m];
        for (j, &factor) in a[i * k..(i + 1) * k].iter().enumerate() {
            if factor != 0.0 {
                row.iter_mut()
                    .zip(&b[j * m..(j + 1) * m])
                    .for_each(|(r, x)| *r += factor * x);
            }
        }
    }
    out
}

/// Rows `rows` and columns `cols` of the row-major `[_, width]` matrix `a`.
fn submatrix(a: &[f64], width: usize, rows: &[usize], cols: &[usize]) -> Vec<f64> {
    rows.iter()
        .flat_map(|&r| cols.iter().map(move |&c| a[r * width + c]))
        .collect()
}

/// `a⁻¹·b` for the symmetric positive definite `a` (`n × n`), `b` `[n, k]`; the column whose
/// pivot fails otherwise.
fn solve(a: &[f64], n: usize, b: &[f64], k: usize) -> Result<Vec<f64>, String> {
    solve_positive_definite(a, n, b, k).map_err(|column| {
        format!("a {n}×{n} block of the damped Hessian is not positive definite (pivot {column})")
    })
}

fn identity(n: usize) -> Vec<f64> {
    let mut eye = vec![0.0; n * n];
    (0..n).for_each(|i| eye[i * n + i] = 1.0);
    eye
}

/// The least-squares problem of one layer (`LocalPruner.prune`): the dense weight `B`
/// (`[d_in, d_out]`) with the rows of dead inputs (`H_ii = 0`) zeroed, the damped Hessian
/// `H + dampening·mean(diag H)·I` and the target `G = H_damped·B`.
pub fn least_squares_problem(
    weight: &[f64],
    hessian: &[f64],
    d_in: usize,
    dampening: f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let d_out = weight.len() / d_in;
    let mut b = weight.to_vec();
    let mut h = hessian.to_vec();
    for i in 0..d_in {
        if h[i * d_in + i] == 0.0 {
            b[i * d_out..(i + 1) * d_out]
                .iter_mut()
                .for_each(|v| *v = 0.0);
        }
    }
    let damp = dampening * (0..d_in).map(|i| h[i * d_in + i]).sum::<f64>() / d_in as f64;
    (0..d_in).for_each(|i| h[i * d_in + i] += damp);
    let g = matmul(&h, &b, d_in, d_in, d_out);
    (b, h, g)
}

/// One layer pruned to a number of groups.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalPrune {
    /// The refit weight, row-major `[d_in, d_out]` (Burn's layout; the official `B = Wᵀ`), with
    /// the removed groups' rows zero.
    pub weight: Vec<f64>,
    /// The groups kept, ascending.
    pub kept: Vec<usize>,
    /// `Σ(−Ŵ⊙G + ½·Ŵ⊙HŴ)`, the least-squares objective up to a constant (the official
    /// `prune_loss`).
    pub loss: f64,
}

/// The groups of `groups` (each `d_in / groups` consecutive inputs) that keep `keep` of them,
/// and the refit weight.
///
/// `weight` is the dense `[d_in, d_out]` weight `B`, `hessian` the damped `H` (`d_in × d_in`)
/// and `target` `G = H·B`. Groups whose weights are already all zero count as removed. The
/// rest are removed over `min(update_iter, to_remove)` rounds: each round scores every live
/// group `g` by `Σ W_g ⊙ ([(H⁻¹)_gg]⁻¹·W_g/2 + G_g)`, removes the lowest (ties to the lower
/// index) with the OBS update of `W` and `H⁻¹`; then the kept rows are refit exactly,
/// `W_K = (H_KK)⁻¹·G_K`.
pub fn local_prune(
    weight: &[f64],
    hessian: &[f64],
    target: &[f64],
    d_in: usize,
    groups: usize,
    keep: usize,
    update_iter: usize,
) -> Result<LocalPrune, String> {
    let h_inv = hessian_inverse(hessian, d_in)?;
    local_prune_from_inverse(
        weight,
        hessian,
        &h_inv,
        target,
        d_in,
        groups,
        keep,
        update_iter,
    )
}

/// `H⁻¹` of the damped Hessian (`d_in × d_in`), what every level of a layer starts from.
pub fn hessian_inverse(hessian: &[f64], d_in: usize) -> Result<Vec<f64>, String> {
    solve(hessian, d_in, &identity(d_in), d_in)
}

/// [`local_prune`] from `H⁻¹` computed once ([`hessian_inverse`]), for the several levels of
/// one layer.
#[allow(clippy::too_many_arguments)]
pub fn local_prune_from_inverse(
    weight: &[f64],
    hessian: &[f64],
    hessian_inverse: &[f64],
    target: &[f64],
    d_in: usize,
    groups: usize,
    keep: usize,
    update_iter: usize,
) -> Result<LocalPrune, String> {
    let d_out = weight.len() / d_in;
    let group_size = d_in / groups;
    let rows_of = |g: usize| g * group_size..(g + 1) * group_size;
    let mut h_inv = hessian_inverse.to_vec();
    let mut w = weight.to_vec();
    let mut pruned: Vec<bool> = (0..groups)
        .map(|g| {
            w[g * group_size * d_out..(g + 1) * group_size * d_out]
                .iter()
                .map(|v| v.abs())
                .sum::<f64>()
                <= 1e-12
        })
        .collect();
    let already = pruned.iter().filter(|p| **p).count();
    let zero_rows = |h_inv: &mut [f64], rows: &[usize]| {
        for &r in rows {
            h_inv[r * d_in..(r + 1) * d_in]
                .iter_mut()
                .for_each(|v| *v = 0.0);
            (0..d_in).for_each(|c| h_inv[c * d_in + r] = 0.0);
        }
    };
    let kept_groups =
        |pruned: &[bool]| -> Vec<usize> { (0..groups).filter(|&g| !pruned[g]).collect() };
    if already > 0 {
        let zero: Vec<usize> = (0..groups)
            .filter(|&g| pruned[g])
            .flat_map(rows_of)
            .collect();
        zero_rows(&mut h_inv, &zero);
        w = matmul(&h_inv, target, d_in, d_in, d_out);
        if groups as i64 - keep as i64 - already as i64 <= 0 {
            for &r in &zero {
                w[r * d_out..(r + 1) * d_out]
                    .iter_mut()
                    .for_each(|v| *v = 0.0);
            }
            return Ok(LocalPrune {
                weight: w,
                kept: kept_groups(&pruned),
                loss: 0.0,
            });
        }
    }
    let remaining = groups as i64 - keep as i64 - already as i64;
    if remaining > 0 {
        let remaining = remaining as usize;
        let rounds = update_iter.min(remaining).max(1);
        let (base, extra) = (remaining / rounds, remaining % rounds);
        for round in 0..rounds {
            let mut scores = vec![0.0; groups];
            if group_size > 1 {
                for (g, score) in scores.iter_mut().enumerate() {
                    if pruned[g] {
                        continue;
                    }
                    let idx: Vec<usize> = rows_of(g).collect();
                    // [(H⁻¹)_gg]⁻¹·W_g, by a solve against the block.
                    let block = submatrix(&h_inv, d_in, &idx, &idx);
                    let w_g = &w[idx[0] * d_out..(idx[0] + group_size) * d_out];
                    let hw = solve(&block, group_size, w_g, d_out)?;
                    let t_g = &target[idx[0] * d_out..(idx[0] + group_size) * d_out];
                    *score = w_g
                        .iter()
                        .zip(hw.iter().zip(t_g))
                        .map(|(w, (hw, t))| w * (hw / 2.0 + t))
                        .sum();
                }
            } else {
                for (g, score) in scores.iter_mut().enumerate() {
                    let den = ((pruned[g] as u8) as f64 + h_inv[g * d_in + g]).max(1e-12);
                    let row = g * d_out..(g + 1) * d_out;
                    *score = w[row.clone()]
                        .iter()
                        .zip(&target[row])
                        .map(|(w, t)| w * ((1.0 / den) * (w / 2.0) + t))
                        .sum();
                }
            }
            let masked: Vec<f64> = scores
                .iter()
                .zip(&pruned)
                .map(|(s, p)| s + if *p { 1e20 } else { 0.0 })
                .collect();
            let mut order: Vec<usize> = (0..groups).collect();
            order.sort_by(|&a, &b| masked[a].total_cmp(&masked[b]).then(a.cmp(&b)));
            let k = base + usize::from(round < extra);
            let picked = &order[..k];
            let idx: Vec<usize> = picked.iter().flat_map(|&g| rows_of(g)).collect();
            let p = idx.len();
            let block = submatrix(&h_inv, d_in, &idx, &idx);
            // H⁻¹[:, P]·[(H⁻¹)_PP]⁻¹·(W_P | H⁻¹[P, :]) in one solve.
            let w_p = submatrix(&w, d_out, &idx, &(0..d_out).collect::<Vec<_>>());
            let hinv_p = submatrix(&h_inv, d_in, &idx, &(0..d_in).collect::<Vec<_>>());
            let solved_w = solve(&block, p, &w_p, d_out)?;
            let solved_h = solve(&block, p, &hinv_p, d_in)?;
            let column_p = submatrix(&h_inv, d_in, &(0..d_in).collect::<Vec<_>>(), &idx);
            let dw = matmul(&column_p, &solved_w, d_in, p, d_out);
            let dh = matmul(&column_p, &solved_h, d_in, p, d_in);
            w.iter_mut().zip(&dw).for_each(|(w, d)| *w -= d);
            for &r in &idx {
                w[r * d_out..(r + 1) * d_out]
                    .iter_mut()
                    .for_each(|v| *v = 0.0);
            }
            h_inv.iter_mut().zip(&dh).for_each(|(h, d)| *h -= d);
            zero_rows(&mut h_inv, &idx);
            picked.iter().for_each(|&g| pruned[g] = true);
        }
    }
    // The exact refit of the kept rows.
    let kept = kept_groups(&pruned);
    let rows: Vec<usize> = kept.iter().flat_map(|&g| rows_of(g)).collect();
    let h_kk = submatrix(hessian, d_in, &rows, &rows);
    let g_k = submatrix(target, d_out, &rows, &(0..d_out).collect::<Vec<_>>());
    let refit = solve(&h_kk, rows.len(), &g_k, d_out)?;
    let mut weight = vec![0.0; d_in * d_out];
    for (i, &r) in rows.iter().enumerate() {
        weight[r * d_out..(r + 1) * d_out].copy_from_slice(&refit[i * d_out..(i + 1) * d_out]);
    }
    let hw = matmul(hessian, &weight, d_in, d_in, d_out);
    let loss = weight
        .iter()
        .zip(target.iter().zip(&hw))
        .map(|(w, (g, hw))| -w * g + 0.5 * w * hw)
        .sum();
    Ok(LocalPrune { weight, kept, loss })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With `H = I` the refit of the kept rows is `B` itself and single-channel scores are
    /// `Σ w²/2 + w·(Hw)` = `1.5·‖w_i‖²`: the smallest rows go.
    #[test]
    fn identity_hessian_keeps_the_largest_rows_unchanged() {
        let weight = [3.0, 0.0, 0.1, 0.2, -2.0, 1.0, 0.0, 0.3];
        let eye = identity(4);
        let pruned = local_prune(&weight, &eye, &weight, 4, 4, 2, 16).unwrap();
        assert_eq!(pruned.kept, vec![0, 2]);
        assert_eq!(pruned.weight, vec![3.0, 0.0, 0.0, 0.0, -2.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn a_singular_hessian_is_an_error() {
        let err =
            local_prune(&[1.0, 1.0], &[1.0, 1.0, 1.0, 1.0], &[1.0, 1.0], 2, 2, 1, 1).unwrap_err();
        assert!(err.contains("not positive definite"), "{err}");
    }
}

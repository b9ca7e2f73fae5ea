//! Least squares through the pseudo-inverse, as SparseLLM's `W₁ ← (z − b₁)·pinv(X)` needs it
//! when the calibration inputs do not span every direction (a LayerNorm whose gain and bias
//! are still at their initial values makes every token's features sum to zero, so `XᵀX` is
//! singular).
//!
//! `XᵀX = VΛVᵀ` by cyclic Jacobi rotations (`f64`); then `pinv(X)·B = VΛ⁺VᵀXᵀ·B`, with the
//! eigenvalues `λ ≤ (rtol·σ_max)²` dropped, `rtol` given (singular values `σ = √λ` below
//! `rtol·σ_max` count as zero, `torch.linalg.pinv`'s rule).

/// The eigenvalues and eigenvectors (columns of `V`, row-major `n × n`) of the symmetric
/// matrix `a`, by cyclic Jacobi sweeps until the off-diagonal part is below `1e-15` of the
/// whole (at most 60 sweeps).
pub(super) fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; n * n];
    (0..n).for_each(|i| v[i * n + i] = 1.0);
    let total: f64 = a.iter().map(|x| x * x).sum();
    for _ in 0..60 {
        let off: f64 = (0..n)
            .flat_map(|p| (p + 1..n).map(move |q| (p, q)))
            .map(|(p, q)| 2.0 * a[p * n + q] * a[p * n + q])
            .sum();
        if off <= 1e-30 * total || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A ← JᵀAJ: columns p and q, then rows p and q.
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                a[p * n + q] = 0.0;
                a[q * n + p] = 0.0;
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// `(XᵀX)⁺·b` for `gram = XᵀX` (`n × n`, any positive scale) and `b` row-major `[n, k]`,
/// dropping the directions whose singular value of `X` is below `rtol` of the largest.
pub(super) fn pseudo_inverse_solve(
    gram: &[f64],
    n: usize,
    b: &[f64],
    k: usize,
    rtol: f64,
) -> Vec<f64> {
    let (values, v) = symmetric_eigen(gram, n);
    let largest = values.iter().copied().fold(0.0, f64::max);
    let cutoff = rtol * rtol * largest;
    // y = Λ⁺·Vᵀb, then x = V·y.
    let mut y = vec![0.0; n * k];
    for (j, &lambda) in values.iter().enumerate() {
        if lambda <= cutoff || lambda <= 0.0 {
            continue;
        }
        let row = &mut y[j * k..(j + 1) * k];
        for i in 0..n {
            let factor = v[i * n + j] / lambda;
            if factor != 0.0 {
                row.iter_mut()
                    .zip(&b[i * k..(i + 1) * k])
                    .for_each(|(r, bi)| *r += factor * bi);
            }
        }
    }
    let mut x = vec![0.0; n * k];
    for i in 0..n {
        let row = &mut x[i * k..(i + 1) * k];
        for j in 0..n {
            let factor = v[i * n + j];
            if factor != 0.0 {
                row.iter_mut()
                    .zip(&y[j * k..(j + 1) * k])
                    .for_each(|(r, yj)| *r += factor * yj);
            }
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigenpairs_reconstruct_the_matrix() {
        // [[2, 1], [1, 2]] has eigenvalues 1 and 3 (by hand).
        let (mut values, _) = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        values.sort_by(f64::total_cmp);
        assert!((values[0] - 1.0).abs() < 1e-14 && (values[1] - 3.0).abs() < 1e-14);
        // A 4 × 4 symmetric matrix: V diag(λ) Vᵀ gives it back, V orthonormal.
        let a = [
            4.0, 1.0, -2.0, 0.5, 1.0, 3.0, 0.0, 1.0, -2.0, 0.0, 5.0, -1.0, 0.5, 1.0, -1.0, 2.0,
        ];
        let (values, v) = symmetric_eigen(&a, 4);
        for r in 0..4 {
            for c in 0..4 {
                let back: f64 = (0..4)
                    .map(|j| v[r * 4 + j] * values[j] * v[c * 4 + j])
                    .sum();
                let identity: f64 = (0..4).map(|j| v[j * 4 + r] * v[j * 4 + c]).sum();
                assert!((back - a[r * 4 + c]).abs() < 1e-12, "({r}, {c})");
                assert!((identity - f64::from(u8::from(r == c))).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn a_singular_gram_gives_the_minimum_norm_solution() {
        // X has two identical columns: XᵀX = [[2, 2], [2, 2]] (X = [[1, 1], [1, 1]]). For
        // Xᵀy = [4, 4] every w with w₀ + w₁ = 2 fits; the pseudo-inverse picks [1, 1].
        let w = pseudo_inverse_solve(&[2.0, 2.0, 2.0, 2.0], 2, &[4.0, 4.0], 1, 1e-6);
        assert!(
            (w[0] - 1.0).abs() < 1e-12 && (w[1] - 1.0).abs() < 1e-12,
            "{w:?}"
        );
        // Full rank: the ordinary solution of [[4, 2], [2, 3]]·w = [8, 7] is [1.25, 1.5].
        let w = pseudo_inverse_solve(&[4.0, 2.0, 2.0, 3.0], 2, &[8.0, 7.0], 1, 1e-6);
        assert!(
            (w[0] - 1.25).abs() < 1e-12 && (w[1] - 1.5).abs() < 1e-12,
            "{w:?}"
        );
    }
}

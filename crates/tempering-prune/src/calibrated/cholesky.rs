//! The factor SparseGPT works with: `U`, upper triangular with `UᵀU = H⁻¹` (torch's
//! `cholesky` → `cholesky_inverse` → `cholesky(upper=True)` in the official code).

/// The lower Cholesky factor `L` of the symmetric matrix `a` (`n × n`, row-major), `a = LLᵀ`,
/// or the first column whose pivot is not positive.
fn cholesky_lower(a: &[f64], n: usize) -> Result<Vec<f64>, usize> {
    let mut l = vec![0.0; n * n];
    for j in 0..n {
        let (row_j, _) = l.split_at(j * n + j);
        let pivot = a[j * n + j] - row_j[j * n..].iter().map(|v| v * v).sum::<f64>();
        if pivot.is_nan() || pivot <= 0.0 || pivot.is_infinite() {
            return Err(j);
        }
        let d = pivot.sqrt();
        l[j * n + j] = d;
        for i in j + 1..n {
            let dot: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            l[i * n + j] = (a[i * n + j] - dot) / d;
        }
    }
    Ok(l)
}

/// `U` with `UᵀU = a⁻¹`, `a` symmetric positive definite; `Err(column)` where a pivot fails.
pub(super) fn upper_cholesky_of_inverse(a: &[f64], n: usize) -> Result<Vec<f64>, usize> {
    let l = cholesky_lower(a, n)?;
    // L⁻¹, lower triangular, by forward substitution column by column.
    let mut inv = vec![0.0; n * n];
    for j in 0..n {
        inv[j * n + j] = 1.0 / l[j * n + j];
        for i in j + 1..n {
            let dot: f64 = (j..i).map(|k| l[i * n + k] * inv[k * n + j]).sum();
            inv[i * n + j] = -dot / l[i * n + i];
        }
    }
    // a⁻¹ = L⁻ᵀ L⁻¹: entry (r, c) = Σ_k inv[k][r]·inv[k][c] over k ≥ max(r, c).
    let mut a_inv = vec![0.0; n * n];
    for r in 0..n {
        for c in r..n {
            let v: f64 = (c..n).map(|k| inv[k * n + r] * inv[k * n + c]).sum();
            a_inv[r * n + c] = v;
            a_inv[c * n + r] = v;
        }
    }
    let lower = cholesky_lower(&a_inv, n)?;
    let mut upper = vec![0.0; n * n];
    for r in 0..n {
        for c in r..n {
            upper[r * n + c] = lower[c * n + r];
        }
    }
    Ok(upper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_factor_squares_to_the_inverse() {
        // a = [[4, 2], [2, 3]]: a⁻¹ = [[3, -2], [-2, 4]] / 8, worked by hand.
        let u = upper_cholesky_of_inverse(&[4.0, 2.0, 2.0, 3.0], 2).unwrap();
        assert_eq!(u[2], 0.0, "upper triangular");
        let utu = |r: usize, c: usize| (0..2).map(|k| u[k * 2 + r] * u[k * 2 + c]).sum::<f64>();
        for (r, c, expected) in [(0, 0, 3.0 / 8.0), (0, 1, -2.0 / 8.0), (1, 1, 4.0 / 8.0)] {
            assert!((utu(r, c) - expected).abs() < 1e-15, "({r}, {c})");
        }
        assert_eq!(upper_cholesky_of_inverse(&[1.0, 2.0, 2.0, 1.0], 2), Err(1));
    }
}

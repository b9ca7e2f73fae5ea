//! The factor SparseGPT works with: `U`, upper triangular with `UᵀU = H⁻¹` (torch's
//! `cholesky` → `cholesky_inverse` → `cholesky(upper=True)` in the official code).

use rayon::prelude::*;

/// `Σ a_k·b_k` with four running sums, so the compiler can keep them in vector registers (a
/// single running sum must add in order, one element at a time).
pub(super) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut sums = [0.0; 4];
    let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = a4
        .remainder()
        .iter()
        .zip(b4.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a4.zip(b4) {
        for lane in 0..4 {
            sums[lane] += x[lane] * y[lane];
        }
    }
    (sums[0] + sums[1]) + (sums[2] + sums[3]) + tail
}

/// The lower Cholesky factor `L` of the symmetric matrix `a` (`n × n`, row-major), `a = LLᵀ`,
/// or the first column whose pivot is not positive.
///
/// Column `j`'s entries below the diagonal are independent of each other, so large columns are
/// computed on rayon's threads; every entry is the same arithmetic whichever thread does it.
fn cholesky_lower(a: &[f64], n: usize) -> Result<Vec<f64>, usize> {
    let mut l = vec![0.0; n * n];
    for j in 0..n {
        let row_j = &l[j * n..j * n + j];
        let pivot = a[j * n + j] - dot(row_j, row_j);
        if pivot.is_nan() || pivot <= 0.0 || pivot.is_infinite() {
            return Err(j);
        }
        let d = pivot.sqrt();
        l[j * n + j] = d;
        let (above, below) = l.split_at_mut((j + 1) * n);
        let row_j = &above[j * n..j * n + j];
        let entry = |(offset, row): (usize, &mut [f64])| {
            let i = j + 1 + offset;
            row[j] = (a[i * n + j] - dot(&row[..j], row_j)) / d;
        };
        if (n - j - 1) * j >= PARALLEL_WORK {
            below.par_chunks_mut(n).enumerate().for_each(entry);
        } else {
            below.chunks_mut(n).enumerate().for_each(entry);
        }
    }
    Ok(l)
}

/// Multiply-adds below which a loop stays on one thread (rayon's hand-off costs microseconds).
const PARALLEL_WORK: usize = 1 << 15;

/// `U` with `UᵀU = a⁻¹`, `a` symmetric positive definite; `Err(column)` where a pivot fails.
///
/// Every inner product runs over contiguous rows: `L⁻¹` is kept transposed (`t[j]` is column
/// `j` of `L⁻¹`), so both the substitution and `a⁻¹ = L⁻ᵀL⁻¹` read rows.
pub(super) fn upper_cholesky_of_inverse(a: &[f64], n: usize) -> Result<Vec<f64>, usize> {
    let l = cholesky_lower(a, n)?;
    // t = (L⁻¹)ᵀ by forward substitution: L⁻¹[i][j] = −Σ_{j≤k<i} L[i][k]·L⁻¹[k][j] / L[i][i].
    // Each row of t is its own substitution: the rows go to rayon's threads.
    let mut t = vec![0.0; n * n];
    t.par_chunks_mut(n).enumerate().for_each(|(j, row)| {
        row[j] = 1.0 / l[j * n + j];
        for i in j + 1..n {
            let value = -dot(&l[i * n + j..i * n + i], &row[j..i]) / l[i * n + i];
            row[i] = value;
        }
    });
    // a⁻¹[r][c] = Σ_{k ≥ max(r, c)} L⁻¹[k][r]·L⁻¹[k][c] = t[r]·t[c] over k ≥ c (for c ≥ r):
    // the upper triangle by rows on rayon's threads, then mirrored.
    let mut a_inv = vec![0.0; n * n];
    a_inv.par_chunks_mut(n).enumerate().for_each(|(r, row)| {
        for c in r..n {
            row[c] = dot(&t[r * n + c..(r + 1) * n], &t[c * n + c..(c + 1) * n]);
        }
    });
    for r in 0..n {
        for c in r + 1..n {
            a_inv[c * n + r] = a_inv[r * n + c];
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

/// `a⁻¹·b` for `a` symmetric positive definite (`n × n`) and `b` row-major `[n, k]`, through
/// `a = LLᵀ` (forward then back substitution); `Err(column)` where a pivot fails.
pub(super) fn solve_positive_definite(
    a: &[f64],
    n: usize,
    b: &[f64],
    k: usize,
) -> Result<Vec<f64>, usize> {
    let l = cholesky_lower(a, n)?;
    let mut x = b.to_vec();
    // L y = b: row i of y is (b_i − Σ_{j<i} L_ij y_j) / L_ii.
    for i in 0..n {
        let (done, rest) = x.split_at_mut(i * k);
        let row = &mut rest[..k];
        for j in 0..i {
            let factor = l[i * n + j];
            if factor != 0.0 {
                row.iter_mut()
                    .zip(&done[j * k..(j + 1) * k])
                    .for_each(|(r, y)| *r -= factor * y);
            }
        }
        let pivot = l[i * n + i];
        row.iter_mut().for_each(|r| *r /= pivot);
    }
    // Lᵀ x = y: row i of x is (y_i − Σ_{j>i} L_ji x_j) / L_ii.
    for i in (0..n).rev() {
        let (head, solved) = x.split_at_mut((i + 1) * k);
        let row = &mut head[i * k..];
        for j in i + 1..n {
            let factor = l[j * n + i];
            if factor != 0.0 {
                let xj = &solved[(j - i - 1) * k..(j - i) * k];
                row.iter_mut().zip(xj).for_each(|(r, y)| *r -= factor * y);
            }
        }
        let pivot = l[i * n + i];
        row.iter_mut().for_each(|r| *r /= pivot);
    }
    Ok(x)
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

    #[test]
    fn solves_against_several_right_hand_sides() {
        // a = [[4, 2, 0], [2, 3, 1], [0, 1, 2]]; x chosen, b = a·x computed by hand.
        let a = [4.0, 2.0, 0.0, 2.0, 3.0, 1.0, 0.0, 1.0, 2.0];
        let x = [1.0, -2.0, 0.5, 3.0, 2.0, -1.0];
        let b = [
            4.0 * 1.0 + 2.0 * 0.5,
            4.0 * -2.0 + 2.0 * 3.0,
            2.0 * 1.0 + 3.0 * 0.5 + 2.0,
            2.0 * -2.0 + 3.0 * 3.0 - 1.0,
            0.5 + 2.0 * 2.0,
            3.0 - 2.0,
        ];
        let solved = solve_positive_definite(&a, 3, &b, 2).unwrap();
        for (s, e) in solved.iter().zip(x) {
            assert!((s - e).abs() < 1e-14, "{solved:?}");
        }
        assert_eq!(solve_positive_definite(&[0.0], 1, &[1.0], 1), Err(0));
    }
}

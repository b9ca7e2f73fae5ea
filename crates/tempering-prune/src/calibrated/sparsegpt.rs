//! SparseGPT on one linear layer (Frantar & Alistarh, ICML 2023), following the official
//! `SparseGPT.fasterprune` (IST-DASLab/sparsegpt @147d215, `sparsegpt.py`) step by step:
//!
//! 1. dead inputs (`H_ii = 0`) get `H_ii = 1` and their weight column zeroed;
//! 2. `H += δI`, `δ` = [`dampening`](SparseGptConfig::dampening) × mean of `diag H`;
//! 3. `U` = the upper Cholesky factor of `H⁻¹` (`UᵀU = H⁻¹`); every later step uses `U`;
//! 4. columns in blocks of [`block_size`](SparseGptConfig::block_size): unstructured, the mask
//!    of the block is chosen once at its start from the current (already compensated) weights
//!    by the score `w²/U_ii²`, pruning every score at or below the one at index
//!    `⌊numel·s⌋` of the sorted block; N:M, each row's lowest `M − N` scores of each group of
//!    `M` columns, chosen when the group's first column is reached; then for each column `i`,
//!    `q` = the column with its masked entries zeroed, `err = (w − q)/U_ii`, and the columns
//!    `i..` of the block lose `err ⊗ U[i, i..]` (the OBS update);
//! 5. after a block, the later columns lose `Err_block · U[block, later]` (the lazy update).
//!
//! The arithmetic is `f64` (the official code runs in `f32`); the result is rounded to `f32`.
//! Checked against a float64 transcription of the official code,
//! `tests/reference/sparsegpt.py`.

use burn::nn::Linear;

use super::cholesky::upper_cholesky_of_inverse;
use super::linear_rows::edit_rows;
use super::{InputHessian, LayerSparsity};
use crate::PruneError;

/// What SparseGPT removes and how.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseGptConfig {
    /// Fraction of each column block to prune, in `[0, 1)` (unstructured; ignored for N:M).
    pub sparsity: f64,
    /// `Some((n, m))`: keep `n` of every `m` consecutive inputs of each output (N:M) instead.
    pub n_of_m: Option<(usize, usize)>,
    /// Columns per block (the official default, 128).
    pub block_size: usize,
    /// Dampening, as a fraction of the mean diagonal of `H` (the official default, 0.01).
    pub dampening: f64,
}

impl SparseGptConfig {
    /// Unstructured pruning of `sparsity` with the official defaults.
    pub fn unstructured(sparsity: f64) -> Self {
        Self {
            sparsity,
            n_of_m: None,
            block_size: 128,
            dampening: 0.01,
        }
    }

    /// N:M pruning (keep `n` of every `m`) with the official defaults.
    pub fn n_of_m(n: usize, m: usize) -> Self {
        Self {
            sparsity: 1.0 - n as f64 / m.max(1) as f64,
            n_of_m: Some((n, m)),
            block_size: 128,
            dampening: 0.01,
        }
    }

    /// `pattern` with the given block size and dampening.
    pub fn for_pattern(pattern: LayerSparsity, block_size: usize, dampening: f64) -> Self {
        Self {
            sparsity: pattern.fraction(),
            n_of_m: match pattern {
                LayerSparsity::NOfM { keep, m } => Some((keep, m)),
                LayerSparsity::Unstructured(_) => None,
            },
            block_size,
            dampening,
        }
    }

    /// Sets [`block_size`](Self::block_size).
    pub fn with_block_size(mut self, columns: usize) -> Self {
        self.block_size = columns;
        self
    }

    pub(super) fn validate(&self, d_in: usize) -> Result<(), PruneError> {
        if self.block_size == 0 {
            return Err(PruneError::bad("block size", "must be at least 1"));
        }
        if !(self.dampening >= 0.0 && self.dampening.is_finite()) {
            return Err(PruneError::bad(
                "dampening",
                format!("{} is not a non-negative fraction", self.dampening),
            ));
        }
        match self.n_of_m {
            None if !(0.0..1.0).contains(&self.sparsity) => Err(PruneError::bad(
                "--sparsity",
                format!("{} is not in [0, 1)", self.sparsity),
            )),
            Some((n, m)) if n == 0 || n >= m => Err(PruneError::bad(
                "--nm",
                format!("{n}:{m} must keep between 1 and M - 1 of every M"),
            )),
            Some((_, m)) if !d_in.is_multiple_of(m) || !self.block_size.is_multiple_of(m) => {
                Err(PruneError::bad(
                    "--nm",
                    format!(
                        "M = {m} must divide the layer's {d_in} inputs and the block size {}",
                        self.block_size
                    ),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// What one SparseGPT pass did.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseGptReport {
    /// Weights that are zero after the pass.
    pub zeros: usize,
    /// The official code's logged loss: `Σ (w − q)²/U_ii² / 2` over every pruned column entry.
    pub loss: f64,
}

/// Prunes `weight` (row-major `[outputs, d_in]`, PyTorch's order, `d_in` = the hessian's)
/// in place by SparseGPT (see the module docs).
pub fn sparsegpt(
    weight: &mut [f32],
    outputs: usize,
    hessian: &InputHessian,
    config: &SparseGptConfig,
) -> Result<SparseGptReport, PruneError> {
    let columns = hessian.d_in();
    if weight.len() != outputs * columns {
        return Err(PruneError::bad(
            "weight",
            format!(
                "{} values are not [{outputs}, {columns}] (outputs × the calibrated inputs)",
                weight.len()
            ),
        ));
    }
    config.validate(columns)?;
    if let Some(index) = weight.iter().position(|v| !v.is_finite()) {
        return Err(PruneError::bad(
            "weight",
            format!("value {index} is {}", weight[index]),
        ));
    }
    let mut w: Vec<f64> = weight.iter().map(|&v| f64::from(v)).collect();
    let mut h = hessian.matrix().to_vec();
    for i in 0..columns {
        if h[i * columns + i] == 0.0 {
            h[i * columns + i] = 1.0;
            (0..outputs).for_each(|r| w[r * columns + i] = 0.0);
        }
    }
    let mean_diagonal = (0..columns).map(|i| h[i * columns + i]).sum::<f64>() / columns as f64;
    (0..columns).for_each(|i| h[i * columns + i] += config.dampening * mean_diagonal);
    let u = upper_cholesky_of_inverse(&h, columns).map_err(|column| {
        PruneError::bad(
            "calibration",
            format!(
                "the damped input Hessian is not positive definite at input {column}; raise \
                 the dampening"
            ),
        )
    })?;
    let loss = obs_prune(&mut w, outputs, columns, &u, config);
    for (out, v) in weight.iter_mut().zip(&w) {
        *out = *v as f32;
    }
    Ok(SparseGptReport {
        zeros: weight.iter().filter(|v| **v == 0.0).count(),
        loss,
    })
}

/// Steps 4 and 5 of the module docs on `w` (`[rows, columns]`, `f64`), given `U`; returns the
/// logged loss.
///
/// Once a column block's mask is chosen (unstructured: over all rows at the block's start),
/// every row's OBS updates, N:M choices and lazy update read only that row and the shared `U`,
/// so the rows are split among the machine's threads for each block; each row does exactly
/// the arithmetic it would do alone.
fn obs_prune(
    w: &mut [f64],
    rows: usize,
    columns: usize,
    u: &[f64],
    config: &SparseGptConfig,
) -> f64 {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(rows.max(1));
    let rows_per_thread = rows.div_ceil(threads).max(1);
    let mut loss = 0.0;
    let mut block_start = 0;
    while block_start < columns {
        let end = (block_start + config.block_size).min(columns);
        let count = end - block_start;
        let block = ColumnBlock {
            start: block_start,
            end,
            columns,
            u,
            diag: (block_start..end).map(|i| u[i * columns + i]).collect(),
            n_of_m: config.n_of_m,
        };
        let mut mask = vec![false; rows * count];
        if config.n_of_m.is_none() {
            let scores: Vec<f64> = (0..rows)
                .flat_map(|r| (0..count).map(move |k| (r, k)))
                .map(|(r, k)| block.score(w[r * columns + block_start + k], k))
                .collect();
            let mut sorted = scores.clone();
            let at = (sorted.len() as f64 * config.sparsity) as usize;
            let (_, threshold, _) = sorted.select_nth_unstable_by(at, f64::total_cmp);
            let threshold = *threshold;
            for (m, s) in mask.iter_mut().zip(scores) {
                *m = s <= threshold;
            }
        }
        loss += std::thread::scope(|scope| {
            let workers: Vec<_> = w
                .chunks_mut(rows_per_thread * columns)
                .zip(mask.chunks_mut(rows_per_thread * count))
                .map(|(w_rows, mask_rows)| {
                    let block = &block;
                    scope.spawn(move || block.prune_rows(w_rows, mask_rows))
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join().expect("a SparseGPT row worker panicked"))
                .sum::<f64>()
        });
        block_start = end;
    }
    loss
}

/// One lazy column block `start..end` of SparseGPT, shared by the threads that prune its rows.
struct ColumnBlock<'a> {
    start: usize,
    end: usize,
    columns: usize,
    u: &'a [f64],
    /// `U_ii` of the block's columns.
    diag: Vec<f64>,
    n_of_m: Option<(usize, usize)>,
}

impl ColumnBlock<'_> {
    /// The OBS saliency `w²/U_ii²` of value `v` in the block's column `k`.
    fn score(&self, v: f64, k: usize) -> f64 {
        v * v / (self.diag[k] * self.diag[k])
    }

    /// Prunes whole rows (`w_rows`, `[n, columns]`; `mask_rows`, `[n, count]`, already set
    /// for unstructured pruning) through this block and applies the lazy update to their
    /// later columns; returns their logged loss.
    fn prune_rows(&self, w_rows: &mut [f64], mask_rows: &mut [bool]) -> f64 {
        let (start, end, columns) = (self.start, self.end, self.columns);
        let count = end - start;
        let mut loss = 0.0;
        let mut errors = vec![0.0; count];
        for (row, mask) in w_rows
            .chunks_exact_mut(columns)
            .zip(mask_rows.chunks_exact_mut(count))
        {
            for i in 0..count {
                if let Some((keep, m)) = self.n_of_m
                    && i % m == 0
                {
                    let group = i..(i + m).min(count);
                    let mut order: Vec<(f64, usize)> =
                        group.map(|k| (self.score(row[start + k], k), k)).collect();
                    order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                    for &(_, k) in &order[..m - keep] {
                        mask[k] = true;
                    }
                }
                let column = start + i;
                let d = self.diag[i];
                let value = row[column];
                let q = if mask[i] { 0.0 } else { value };
                let err = (value - q) / d;
                loss += (value - q) * (value - q) / (d * d) / 2.0;
                errors[i] = err;
                let u_row = &self.u[column * columns + column..column * columns + end];
                for (x, &uk) in row[column..end].iter_mut().zip(u_row) {
                    *x -= err * uk;
                }
                // The update set row[column] to q exactly up to rounding: store q itself.
                row[column] = q;
            }
            // Lazy update of the later columns: row[end..] -= err · U[block, end..].
            if end < columns {
                let later = &mut row[end..];
                for (k, &e) in errors.iter().enumerate() {
                    if e == 0.0 {
                        continue;
                    }
                    let u_row = &self.u[(start + k) * columns + end..(start + k + 1) * columns];
                    for (x, &uk) in later.iter_mut().zip(u_row) {
                        *x -= e * uk;
                    }
                }
            }
        }
        loss
    }
}

/// SparseGPT on a Burn `Linear` (weight `[d_in, d_out]`): the weight is pruned in PyTorch's
/// `[out, in]` order and stored back; the bias is untouched.
pub fn sparsegpt_linear(
    linear: &mut Linear,
    hessian: &InputHessian,
    config: &SparseGptConfig,
) -> Result<SparseGptReport, PruneError> {
    let [d_in, _] = linear.weight.dims();
    if d_in != hessian.d_in() {
        return Err(PruneError::bad(
            "calibration",
            format!(
                "the layer has {d_in} inputs, the calibration {}",
                hessian.d_in()
            ),
        ));
    }
    edit_rows(linear, |rows, outputs, _| {
        sparsegpt(rows, outputs, hessian, config)
    })
}

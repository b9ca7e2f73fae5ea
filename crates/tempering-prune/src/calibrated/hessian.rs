//! The second moment of a linear layer's inputs, accumulated as SparseGPT's `add_batch` does.

use rayon::prelude::*;

use super::cholesky::dot;
use burn::tensor::Tensor;

use crate::PruneError;
use tempering_core::compression::linear_units::host_values;

/// `H = (2/N)·Σ_n X_nᵀ X_n` over the `N` calibration sequences seen so far, `X_n` the
/// `[tokens, d_in]` inputs of sequence `n`, kept in `f64` (official SparseGPT `add_batch`,
/// IST-DASLab/sparsegpt `sparsegpt.py`; the scale cancels in the relative dampening, so only
/// the shape of `H` matters).
#[derive(Clone, Debug, PartialEq)]
pub struct InputHessian {
    d_in: usize,
    matrix: Vec<f64>,
    sequences: usize,
}

impl InputHessian {
    /// No inputs seen yet, for a layer of `d_in` inputs.
    pub fn new(d_in: usize) -> Self {
        Self {
            d_in,
            matrix: vec![0.0; d_in * d_in],
            sequences: 0,
        }
    }

    /// Adds `inputs`, row-major `[rows, d_in]`: the tokens of `sequences` calibration
    /// sequences (the count the running mean is kept over).
    pub fn add_batch(&mut self, inputs: &[f32], sequences: usize) -> Result<(), PruneError> {
        if self.d_in == 0 || !inputs.len().is_multiple_of(self.d_in) {
            return Err(PruneError::bad(
                "calibration",
                format!(
                    "{} input values are not rows of the layer's {} inputs",
                    inputs.len(),
                    self.d_in
                ),
            ));
        }
        if let Some(index) = inputs.iter().position(|v| !v.is_finite()) {
            return Err(PruneError::bad(
                "calibration",
                format!("input value {index} is {}", inputs[index]),
            ));
        }
        let Some(scale) = self.rescale_for(sequences) else {
            return Ok(());
        };
        let d = self.d_in;
        // Upper triangle, mirrored: H is symmetric.
        for row in inputs.chunks_exact(d) {
            for a in 0..d {
                let xa = f64::from(row[a]) * scale;
                if xa == 0.0 {
                    continue;
                }
                let line = &mut self.matrix[a * d..(a + 1) * d];
                for (h, &xb) in line[a..].iter_mut().zip(&row[a..]) {
                    *h += xa * f64::from(xb);
                }
            }
        }
        for a in 0..d {
            for b in 0..a {
                self.matrix[a * d + b] = self.matrix[b * d + a];
            }
        }
        Ok(())
    }

    /// Adds a `[rows, d_in]` tensor of inputs (see [`add_batch`](Self::add_batch)): `XᵀX` is
    /// one matrix product on the tensor's device, in `f32` as the official code computes it,
    /// then merged into the `f64` running mean.
    pub fn add_tensor(&mut self, inputs: Tensor<2>, sequences: usize) -> Result<(), PruneError> {
        let [_, d_in] = inputs.dims();
        if d_in != self.d_in {
            return Err(PruneError::bad(
                "calibration",
                format!("inputs of width {d_in} for a layer of {} inputs", self.d_in),
            ));
        }
        let gram = host_values(inputs.clone().transpose().matmul(inputs));
        self.add_gram(&gram, sequences)
    }

    /// Adds `XᵀX` (row-major `[d_in, d_in]`) of the tokens of `sequences` calibration
    /// sequences.
    pub fn add_gram(&mut self, gram: &[f32], sequences: usize) -> Result<(), PruneError> {
        let d = self.d_in;
        if gram.len() != d * d {
            return Err(PruneError::bad(
                "calibration",
                format!(
                    "{} values are not a [{d}, {d}] input Gram matrix",
                    gram.len()
                ),
            ));
        }
        if let Some(index) = gram.iter().position(|v| !v.is_finite()) {
            return Err(PruneError::bad(
                "calibration",
                format!(
                    "the inputs' Gram matrix entry {index} is {} (the inputs overflow or are \
                     not finite)",
                    gram[index]
                ),
            ));
        }
        let Some(scale) = self.rescale_for(sequences) else {
            return Ok(());
        };
        for a in 0..d {
            for b in 0..d {
                // The product is symmetric up to rounding; its two halves are averaged.
                let x = (f64::from(gram[a * d + b]) + f64::from(gram[b * d + a])) / 2.0;
                self.matrix[a * d + b] += x * scale;
            }
        }
        Ok(())
    }

    /// The running mean's step for `sequences` more sequences (`H *= N/(N + n)`, `N += n`,
    /// as the official `add_batch`); returns the `2/N` the new `XᵀX` is added with, or `None`
    /// when there is nothing to add.
    fn rescale_for(&mut self, sequences: usize) -> Option<f64> {
        if sequences == 0 {
            return None;
        }
        let total = self.sequences + sequences;
        let keep = self.sequences as f64 / total as f64;
        self.sequences = total;
        self.matrix.iter_mut().for_each(|h| *h *= keep);
        Some(2.0 / total as f64)
    }

    /// Each input's sum of squares over the tokens seen, up to the common scale of `H`: the
    /// diagonal of `H` (Wanda's statistic).
    pub fn diagonal(&self) -> Vec<f64> {
        (0..self.d_in)
            .map(|i| self.matrix[i * self.d_in + i])
            .collect()
    }

    /// `tr(Δ H Δᵀ) / tr(W H Wᵀ)` for `Δ = W − Ŵ`, weights row-major `[outputs, d_in]`: the
    /// squared error of the pruned layer's outputs on the calibration inputs relative to the
    /// dense outputs' squared norm (`‖WX − ŴX‖² / ‖WX‖²`). `None` when the dense outputs are
    /// all zero.
    pub fn relative_output_error(&self, dense: &[f32], pruned: &[f32]) -> Option<f64> {
        let d = self.d_in;
        let quadratic = |row: &[f64]| -> f64 {
            (0..d)
                .filter(|&a| row[a] != 0.0)
                .map(|a| row[a] * dot(&self.matrix[a * d..(a + 1) * d], row))
                .sum()
        };
        // Rows on rayon's threads (at GPT-2's widths this is d_in² work per output row, more
        // than the prune itself); their terms are summed in row order, so the result does not
        // depend on the thread count.
        let terms: Vec<(f64, f64)> = dense
            .par_chunks_exact(d)
            .zip(pruned.par_chunks_exact(d))
            .map(|(w, p)| {
                let w64: Vec<f64> = w.iter().map(|&v| f64::from(v)).collect();
                let delta: Vec<f64> = w
                    .iter()
                    .zip(p)
                    .map(|(&a, &b)| f64::from(a) - f64::from(b))
                    .collect();
                (quadratic(&delta), quadratic(&w64))
            })
            .collect();
        let (mut error, mut norm) = (0.0, 0.0);
        for (e, n) in terms {
            error += e;
            norm += n;
        }
        (norm > 0.0).then(|| error / norm)
    }

    /// The layer's input count.
    pub fn d_in(&self) -> usize {
        self.d_in
    }

    /// Calibration sequences seen.
    pub fn sequences(&self) -> usize {
        self.sequences
    }

    /// `H`, row-major `[d_in, d_in]`.
    pub fn matrix(&self) -> &[f64] {
        &self.matrix
    }
}

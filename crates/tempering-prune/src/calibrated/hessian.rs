//! The second moment of a linear layer's inputs, accumulated as SparseGPT's `add_batch` does.

use burn::tensor::Tensor;

use crate::PruneError;

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
        if sequences == 0 {
            return Ok(());
        }
        let total = self.sequences + sequences;
        let keep = self.sequences as f64 / total as f64;
        self.sequences = total;
        let scale = 2.0 / total as f64;
        let d = self.d_in;
        self.matrix.iter_mut().for_each(|h| *h *= keep);
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

    /// Adds a `[rows, d_in]` tensor of inputs (see [`add_batch`](Self::add_batch)).
    pub fn add_tensor(&mut self, inputs: Tensor<2>, sequences: usize) -> Result<(), PruneError> {
        let values = tempering_core::compression::linear_units::host_values(inputs);
        self.add_batch(&values, sequences)
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

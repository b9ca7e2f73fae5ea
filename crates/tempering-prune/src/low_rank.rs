//! Low-rank compression after ALDS (Liebenwein et al., "Compressing neural networks: towards
//! determining the optimal layer-wise decomposition", NeurIPS 2021; lucaslie/torchprune):
//! per-layer error bounds from chunked SVDs and the global rank allocation that minimizes the
//! largest relative error under a parameter budget. Data-free: it runs on a checkpoint alone.
//!
//! A weight is folded to `[out, in·k…]` (Burn's `Linear` stores `[d_in, d_out]`, its transpose;
//! singular values are the same), its input channels are split into `chunks` groups, and each
//! group's columns are decomposed on their own. At rank `r` a layer becomes `chunks` encoders
//! `[r, in_j·k…]` and decoders `[out, r]`, `r·(in·k… + chunks·out)` parameters, and its relative
//! error is `max_j σ_{r+1}(W_j) / ‖W‖₂`, each chunk's exact spectral error by Eckart–Young.
//! The allocation finds the smallest error ε such that every layer at its smallest rank with
//! error ≤ ε fits the budget; a layer whose factorization would not be smaller stays dense.
//!
//! Every layer at the same `chunks` is the paper's error-only ablation; its method searches
//! `chunks` per layer jointly with the ranks ([`alds_search`](crate::alds_search)). The plan
//! over a checkpoint or a model's layers, either way, is in
//! [`low_rank_plan`](crate::low_rank_plan).

use std::path::PathBuf;

use burn::linalg::svd;
use burn::tensor::{Device, Tensor, TensorData};
use tempering_core::compression::input_chunks;

use crate::error::PruneError;
use crate::targets::Skipped;

/// QR sweeps per singular value allowed to burn-linalg's SVD (it converges in a few).
const SVD_SWEEPS: usize = 100;

/// What to compress and how much.
#[derive(Clone, Debug, PartialEq)]
pub struct LowRankConfig {
    /// Fraction of the targeted weights' parameters the compressed layers may hold, in (0, 1].
    pub budget: f64,
    /// Input-channel groups decomposed separately (ALDS's `k`, default 3); ignored with
    /// [`search`](Self::search).
    pub chunks: usize,
    /// ALDS's search of `k` per layer (the paper's method); `None`: every layer at `chunks`
    /// (the paper's error-only ablation).
    pub search: Option<AldsSearchConfig>,
    /// Compress the float tensors whose names match this regex instead of the default targets.
    pub include: Option<String>,
    /// Leave the tensors whose names match this regex untouched.
    pub exclude: Option<String>,
}

impl LowRankConfig {
    /// A budget with ALDS's default of 3 chunks and the default targets.
    pub fn new(budget: f64) -> Self {
        Self {
            budget,
            chunks: 3,
            search: None,
            include: None,
            exclude: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), PruneError> {
        if !(self.budget > 0.0 && self.budget <= 1.0) {
            return Err(PruneError::bad(
                "--budget",
                format!(
                    "{} is not a fraction in (0, 1] of the parameters to keep",
                    self.budget
                ),
            ));
        }
        if self.chunks == 0 {
            return Err(PruneError::bad("--chunks", "must be at least 1"));
        }
        Ok(())
    }
}

/// Settings of ALDS's search ([`alds_search`](crate::alds_search::alds_search)); the defaults
/// are the official class's.
#[derive(Clone, Debug, PartialEq)]
pub struct AldsSearchConfig {
    /// Desired `k` of the fixed seeds (each layer takes the closest divisor).
    pub fixed_seeds: Vec<usize>,
    /// Seeds with a random divisor per layer after the fixed ones (the official 15 seeds in
    /// all: 11).
    pub random_seeds: usize,
    /// Iterations per seed.
    pub iterations: usize,
    /// Seed of the random draws.
    pub seed: u64,
}

impl Default for AldsSearchConfig {
    fn default() -> Self {
        Self {
            fixed_seeds: vec![3, 5, 7, 9],
            random_seeds: 11,
            iterations: 4,
            seed: 0,
        }
    }
}

/// The singular values of one layer's chunks.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSpectrum {
    /// The tensor's name.
    pub name: String,
    /// Its shape as stored.
    pub shape: Vec<usize>,
    /// Output features (rows of the folded matrix).
    pub outputs: usize,
    /// Columns of each chunk of the folded matrix.
    pub chunk_columns: Vec<usize>,
    /// Singular values of each chunk, descending.
    pub chunk_singular_values: Vec<Vec<f64>>,
    /// ‖W‖₂, the largest singular value of the whole folded matrix.
    pub spectral_norm: f64,
}

impl LayerSpectrum {
    /// Parameters of the dense layer.
    pub fn dense_parameters(&self) -> u64 {
        (self.outputs * self.chunk_columns.iter().sum::<usize>()) as u64
    }

    /// Parameters at rank `r`: encoders and decoders of every chunk (a chunk's rank is at most
    /// `min(columns, outputs)`, all its SVD has).
    pub fn parameters_at(&self, r: usize) -> u64 {
        self.chunk_columns
            .iter()
            .map(|&c| (r.min(c).min(self.outputs) * (c + self.outputs)) as u64)
            .sum()
    }

    /// The relative spectral error at rank `r`: `max_j σ_{r+1}(W_j) / ‖W‖₂`.
    pub fn error_at(&self, r: usize) -> f64 {
        if self.spectral_norm == 0.0 {
            return 0.0;
        }
        self.chunk_singular_values
            .iter()
            .map(|s| s.get(r).copied().unwrap_or(0.0))
            .fold(0.0, f64::max)
            / self.spectral_norm
    }

    /// The largest rank any chunk has.
    pub fn full_rank(&self) -> usize {
        self.chunk_singular_values
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
    }

    /// The smallest rank ≥ 1 with error ≤ `epsilon` (the full rank when none is).
    pub fn smallest_rank(&self, epsilon: f64) -> usize {
        let full = self.full_rank();
        (1..=full)
            .find(|&r| self.error_at(r) <= epsilon)
            .unwrap_or(full)
    }

    /// [`smallest_rank`](Self::smallest_rank), or `None` when the layer should stay dense
    /// (that rank would not save parameters).
    pub fn rank_for(&self, epsilon: f64) -> Option<usize> {
        let r = self.smallest_rank(epsilon);
        (self.parameters_at(r) < self.dense_parameters()).then_some(r)
    }
}

/// One layer's allocation.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LayerAllocation {
    /// The tensor's name.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Chunks decomposed.
    pub chunks: usize,
    /// The rank of every chunk (`None`: kept dense).
    pub rank: Option<usize>,
    /// Parameters before.
    pub parameters_before: u64,
    /// Parameters after.
    pub parameters_after: u64,
    /// Relative spectral error of the worst chunk (0 when dense).
    pub relative_error: f64,
}

/// The allocation over a checkpoint.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LowRankReport {
    /// The checkpoint.
    pub input: PathBuf,
    /// The budget asked for.
    pub budget: f64,
    /// Every targeted layer.
    pub layers: Vec<LayerAllocation>,
    /// Every other tensor, with the reason.
    pub skipped: Vec<Skipped>,
}

/// What a set of layer allocations adds up to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AllocationTotals {
    /// Parameters of the layers before.
    pub parameters_before: u64,
    /// Parameters of the layers after.
    pub parameters_after: u64,
    /// The largest relative error over the layers (what the allocation minimizes).
    pub max_error: f64,
}

impl AllocationTotals {
    /// The totals of `layers`.
    pub fn of(layers: &[LayerAllocation]) -> Self {
        Self {
            parameters_before: layers.iter().map(|l| l.parameters_before).sum(),
            parameters_after: layers.iter().map(|l| l.parameters_after).sum(),
            max_error: layers.iter().map(|l| l.relative_error).fold(0.0, f64::max),
        }
    }
}

impl LowRankReport {
    /// Parameters of the targeted layers before.
    pub fn parameters_before(&self) -> u64 {
        AllocationTotals::of(&self.layers).parameters_before
    }

    /// Parameters of the targeted layers after.
    pub fn parameters_after(&self) -> u64 {
        AllocationTotals::of(&self.layers).parameters_after
    }

    /// The largest relative error over the layers (what the allocation minimizes).
    pub fn max_error(&self) -> f64 {
        AllocationTotals::of(&self.layers).max_error
    }
}

/// Ranks for `spectra` under `budget`: the smallest achievable maximum error.
pub fn allocate(
    spectra: &[LayerSpectrum],
    budget: f64,
) -> Result<Vec<LayerAllocation>, PruneError> {
    let Some(epsilon) = threshold(spectra, budget) else {
        let dense: u64 = spectra.iter().map(LayerSpectrum::dense_parameters).sum();
        let smallest: u64 = spectra
            .iter()
            .map(|s| {
                s.rank_for(f64::INFINITY)
                    .map_or(s.dense_parameters(), |r| s.parameters_at(r))
            })
            .sum();
        return Err(PruneError::bad(
            "--budget",
            format!(
                "{budget} is below what rank 1 in every layer needs ({:.4} of the parameters)",
                smallest as f64 / dense.max(1) as f64
            ),
        ));
    };
    Ok(allocation_at(spectra, epsilon))
}

/// Every layer at its smallest rank with error ≤ `epsilon` (dense where that is not smaller).
pub(crate) fn allocation_at(spectra: &[LayerSpectrum], epsilon: f64) -> Vec<LayerAllocation> {
    spectra
        .iter()
        .map(|s| {
            let rank = s.rank_for(epsilon);
            LayerAllocation {
                name: s.name.clone(),
                shape: s.shape.clone(),
                chunks: s.chunk_columns.len(),
                rank,
                parameters_before: s.dense_parameters(),
                parameters_after: rank.map_or(s.dense_parameters(), |r| s.parameters_at(r)),
                relative_error: rank.map_or(0.0, |r| s.error_at(r)),
            }
        })
        .collect()
}

/// The smallest threshold `ε` among the layers' achievable errors such that every layer at
/// its smallest rank with error ≤ `ε` fits `budget` (a layer whose factors would not be
/// smaller counting as dense), or `None` when no threshold does.
pub(crate) fn threshold(spectra: &[LayerSpectrum], budget: f64) -> Option<f64> {
    let dense: u64 = spectra.iter().map(LayerSpectrum::dense_parameters).sum();
    let allowed = (budget * dense as f64).floor() as u64;
    let total = |epsilon: f64| -> u64 {
        spectra
            .iter()
            .map(|s| {
                s.rank_for(epsilon)
                    .map_or(s.dense_parameters(), |r| s.parameters_at(r))
            })
            .sum()
    };
    // Every error a layer can have is a candidate threshold; the total only falls as ε grows.
    let mut candidates: Vec<f64> = spectra
        .iter()
        .flat_map(|s| (1..=s.full_rank()).map(|r| s.error_at(r)))
        .chain([0.0])
        .collect();
    candidates.sort_by(f64::total_cmp);
    candidates.dedup();
    let fits = candidates.partition_point(|&e| total(e) > allowed);
    candidates.get(fits).copied()
}

/// Checks that a target is a matrix (or a convolution `[out, in, k…]`) with no empty
/// dimension, the shapes ALDS folds into `[out, columns]`.
pub(crate) fn check_factorizable(name: &str, shape: &[usize]) -> Result<(), PruneError> {
    let reason = if shape.len() < 2 {
        format!(
            "shape {shape:?} has rank {}; low-rank compression needs a matrix or a \
             convolution (rank 2 or more)",
            shape.len()
        )
    } else if shape.contains(&0) {
        format!("shape {shape:?} has an empty dimension; there is nothing to factorize")
    } else {
        return Ok(());
    };
    Err(PruneError::BadShape {
        tensor: name.to_string(),
        reason,
    })
}

/// The reduced SVD `(U, S, Vᵀ)` of `matrix` (the weight `name`), computed on the matrix scaled
/// to a largest magnitude of 1 (so squares of values near `f32::MAX` do not overflow) and
/// scaled back; a routine that still fails is an error naming the tensor, not a panic.
fn checked_svd(
    name: &str,
    matrix: Tensor<2>,
) -> Result<(Tensor<2>, Tensor<1>, Tensor<2>), PruneError> {
    let largest = f64::from(matrix.clone().abs().max().into_scalar::<f32>());
    let scale = if largest > 0.0 { largest } else { 1.0 };
    let scaled = matrix.div_scalar(scale);
    let (u, s, vt) =
        crate::numerical_guard::guarded(|| svd::<2, 1>(scaled, SVD_SWEEPS)).map_err(|message| {
            PruneError::Numerical {
                tensor: name.to_string(),
                reason: format!("the singular value decomposition failed: {message}"),
            }
        })?;
    Ok((u, s.mul_scalar(scale), vt))
}

/// The folded `[out, columns]` matrix of a weight and its chunk column ranges.
fn folded(
    shape: &[usize],
    values: &[f32],
    chunks: usize,
    device: &Device,
) -> (Tensor<2>, Vec<std::ops::Range<usize>>) {
    let elements = values.len();
    let (matrix, inputs, per_input) = if shape.len() == 2 {
        // Burn's Linear: [d_in, d_out], the transpose of [out, in].
        let t = Tensor::<2>::from_data(
            TensorData::new(values.to_vec(), [shape[0], shape[1]]),
            device,
        );
        (t.transpose(), shape[0], 1)
    } else {
        // Convolutions: [out, in, k…].
        let out = shape[0];
        let t = Tensor::<2>::from_data(
            TensorData::new(values.to_vec(), [out, elements / out]),
            device,
        );
        (t, shape[1], shape[2..].iter().product())
    };
    let ranges = input_chunks(inputs, chunks)
        .into_iter()
        .map(|r| r.start * per_input..r.end * per_input)
        .collect();
    (matrix, ranges)
}

/// The chunked singular spectrum of one weight.
pub fn spectrum(
    name: &str,
    shape: &[usize],
    values: &[f32],
    chunks: usize,
    device: &Device,
) -> Result<LayerSpectrum, PruneError> {
    check_factorizable(name, shape)?;
    let (matrix, ranges) = folded(shape, values, chunks, device);
    let singular = |m: Tensor<2>| -> Result<Vec<f64>, PruneError> {
        let (_, s, _) = checked_svd(name, m)?;
        Ok(s.into_data()
            .convert::<f64>()
            .try_into_vec::<f64>()
            .expect("f64 after convert"))
    };
    let outputs = matrix.dims()[0];
    let spectral_norm = singular(matrix.clone())?.first().copied().unwrap_or(0.0);
    let chunk_singular_values = ranges
        .iter()
        .map(|r| singular(matrix.clone().slice([0..outputs, r.clone()])))
        .collect::<Result<_, _>>()?;
    Ok(LayerSpectrum {
        name: name.to_string(),
        shape: shape.to_vec(),
        outputs,
        chunk_columns: ranges.iter().map(|r| r.len()).collect(),
        chunk_singular_values,
        spectral_norm,
    })
}

/// The rank-`rank` factorization of each chunk of the weight `name`: `(encoder [rank,
/// columns_j], decoder [out, rank])` with `decoder · encoder ≈ W_j` in the folded
/// `[out, columns]` layout, the encoder carrying the singular values.
pub fn factorize(
    name: &str,
    shape: &[usize],
    values: &[f32],
    chunks: usize,
    rank: usize,
    device: &Device,
) -> Result<Vec<(Tensor<2>, Tensor<2>)>, PruneError> {
    check_factorizable(name, shape)?;
    let (matrix, ranges) = folded(shape, values, chunks, device);
    let outputs = matrix.dims()[0];
    ranges
        .into_iter()
        .map(|r| {
            let (u, s, vt) = checked_svd(name, matrix.clone().slice([0..outputs, r]))?;
            let k = rank.min(s.dims()[0]);
            let s = s.narrow(0, 0, k);
            let decoder = u.slice([0..outputs, 0..k]);
            let columns = vt.dims()[1];
            let encoder = vt.slice([0..k, 0..columns]) * s.unsqueeze_dim::<2>(1);
            Ok((encoder, decoder))
        })
        .collect()
}

/// The folded `[out, columns]` matrix of a weight (the layout [`factorize`] approximates).
pub fn folded_matrix(shape: &[usize], values: &[f32], device: &Device) -> Tensor<2> {
    folded(shape, values, 1, device).0
}

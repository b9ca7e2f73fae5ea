//! Calibrated pruning of linear layers: methods that see what a layer receives on calibration
//! data, through the second moment of its inputs ([`InputHessian`], `XᵀX`).
//!
//! - [`sparsegpt`]: SparseGPT (Frantar & Alistarh, "SparseGPT: Massive Language Models Can Be
//!   Accurately Pruned in One-Shot", ICML 2023), the optimal-brain-surgeon update through the
//!   Cholesky factor of the damped inverse Hessian, with lazy column blocks and adaptive mask
//!   selection; unstructured or N:M.
//! - [`wanda`]: Wanda (Sun et al., ICLR 2024), `|W|·‖X‖` per output row, and the per-layer
//!   [`magnitude`] baseline.
//! - [`sparsellm_feed_forward`]: SparseLLM (Bai et al., NeurIPS 2024), both layers of a
//!   feed-forward pair pruned jointly through auxiliary variables, SparseGPT inside.
//! - [`proxsparse_masks`]: ProxSparse (Liu et al., ICML 2025), 2:4 masks learned end to end
//!   with a proximal step of its regularizer after every optimizer step, applied to the
//!   original weights ([`apply_two_of_four_masks`]).
//! - [`ecoflap_block_sparsities`]: ECoFLaP's one sparsity per block (Sung et al., ICLR 2024),
//!   for Wanda within each block through [`prune_blocks_sequentially`].
//! - [`tyr::tyr_prune`]: Týr-the-Pruner (Li et al., NeurIPS 2025), structured pruning of
//!   heads and channels by a supernet of per-layer candidates and an evolutionary search over
//!   their combination, giving a physically smaller model.
//! - [`prune_sequentially`]: any of them over a whole model of blocks
//!   ([`SequentialBlocks`](tempering_core::compression::SequentialBlocks)), block by block
//!   through the already-pruned blocks, as the official loops do.
//!
//! The layer-level passes take a weight in PyTorch's `[out, in]` order, as the official code
//! does; [`sparsegpt_linear`] applies SparseGPT to a Burn `Linear` (stored `[in, out]`).
//!
//! ```
//! use tempering_prune::calibrated::{InputHessian, SparseGptConfig, sparsegpt};
//! // A [2, 4] weight whose inputs were seen on one calibration sequence of 3 tokens.
//! let mut hessian = InputHessian::new(4);
//! hessian.add_batch(&[1.0, 0.5, 0.0, 2.0, 0.5, 1.0, 1.0, 0.0, 0.0, 2.0, 0.5, 1.0], 1)?;
//! let mut weight = vec![0.9f32, -0.1, 0.4, 0.2, -0.3, 0.8, 0.05, -0.7];
//! let report = sparsegpt(&mut weight, 2, &hessian, &SparseGptConfig::unstructured(0.5))?;
//! assert_eq!(weight.iter().filter(|w| **w == 0.0).count(), report.zeros);
//! # Ok::<(), tempering_prune::PruneError>(())
//! ```

mod cholesky;
mod ecoflap_blocks;
mod hessian;
mod linear_rows;
mod pre_activation;
mod proxsparse;
mod proxsparse_training;
mod pseudo_inverse;
mod sequential;
mod sparsegpt;
mod sparsellm;
pub mod tyr;
mod wanda;

pub use ecoflap_blocks::{
    ECOFLAP_FIRST_STAGE_BATCH, ECOFLAP_FIRST_STAGE_WINDOWS, ecoflap_block_patterns,
    ecoflap_block_sparsities,
};
pub use hessian::InputHessian;
pub use proxsparse::{GroupSparsity, keep_two_of_four, prox_two_of_four};
pub use proxsparse_training::{
    ProxSparseConfig, ProxSparseReport, apply_two_of_four_masks, proxsparse_masks,
};
pub use sequential::{
    BlockProgress, LayerOutcome, SequentialMethod, prune_blocks_sequentially, prune_sequentially,
};
pub use sparsegpt::{SparseGptConfig, SparseGptReport, sparsegpt, sparsegpt_linear};
pub use sparsellm::{SparseLlmConfig, SparseLlmReport, sparsellm_feed_forward};
pub use wanda::{LayerSparsity, magnitude, wanda};

//! tempering-prune: pruning and compression passes over trained Burn checkpoints and modules.
//!
//! Importance (a score per weight), allocation (how many to remove where) and surgery (zeroing)
//! are kept apart, after Torch-Pruning (Fang et al., "DepGraph: Towards any structural
//! pruning", CVPR 2023). Methods: global magnitude pruning with the minimum-keep threshold
//! (Gupta et al., "Is complexity required for neural network pruning? A case study on global
//! magnitude pruning", 2022), layer-wise magnitude, random (a control) and N:M, over
//! checkpoints by tensor name ([`prune_checkpoint`]) and over modules in memory
//! ([`ModuleMasks`], with masked fine-tuning and [`GradualPruning`]); structured pruning that
//! physically shrinks the project's models ([`structured`]); low-rank compression ([`low_rank`]);
//! M-FAC's second-order pruning with gradients from a closure ([`mfac`]).
//!
//! ```no_run
//! use tempering_prune::{Method, Output, PruneConfig, prune_checkpoint};
//! let config = PruneConfig::new(Method::GlobalMagnitude, 0.9).with_min_keep(Some(0.05));
//! let output = Output::File { path: "pruned.bpk".as_ref(), overwrite: false };
//! let report = prune_checkpoint("model.bpk".as_ref(), output, &config)?;
//! println!("{:.1} % of the targeted weights are zero", 100.0 * report.target_sparsity_after());
//! # Ok::<(), tempering_prune::PruneError>(())
//! ```

pub mod alds_search;
mod allocation;
pub mod calibrated;
pub mod checkpoint;
pub mod data_aware;
pub mod ecoflap_allocation;
pub mod element;
mod error;
mod gradual;
mod importance;
pub mod inspect;
pub mod lottery;
pub mod low_rank;
pub mod low_rank_export;
pub mod low_rank_plan;
pub mod mfac;
pub mod module_load;
mod module_masks;
pub mod n_of_m;
pub mod numerical_guard;
mod optimizer_state;
pub mod provenance;
mod prune;
mod select;
pub mod structured;
pub mod targets;
pub mod verify;

pub use error::PruneError;
pub use gradual::{CubicSchedule, GradualPruning};
pub use importance::Importance;
pub use module_masks::ModuleMasks;
pub use optimizer_state::{MaskedState, OptimizerMaskReport, mask_optimizer_checkpoint};
pub use prune::{
    Method, Output, Progress, PruneConfig, PruneReport, TensorReport, prune_checkpoint,
    prune_checkpoint_with_progress,
};

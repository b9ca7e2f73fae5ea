//! The seams between compression passes and the models they compress.
//!
//! The passes (in `tempering-prune`) never name a concrete model, and the models never depend
//! on the passes: both meet here. A model implements
//! - [`ShrinkUnits`] to lose whole units (neurons, attention heads, feed-forward channels)
//!   physically, with every coupled slice (structured pruning after Torch-Pruning, Fang et al.,
//!   "DepGraph: Towards any structural pruning", CVPR 2023);
//! - [`LinearInputs`] to report what each of its linear layers receives on calibration data
//!   (the input norms Wanda scores with, Sun et al., ICLR 2024);
//! - [`LowRankExport`] to take its dense layers back as ALDS factorizations (Liebenwein et
//!   al., "Compressing neural networks: towards determining the optimal layer-wise
//!   decomposition", NeurIPS 2021);
//! - [`SequentialBlocks`] to be pruned on calibration data one block at a time, each block
//!   seeing the outputs of the blocks already pruned (SparseGPT, Frantar & Alistarh, ICML
//!   2023; Wanda).
//!
//! The traits live in the bottom crate (rather than beside the passes) so that a model crate
//! can implement them without compiling the pruning crate: the quickstart builds no pruning
//! code, and the `tempering` checkpoint tool builds no model.
//!
//! ```
//! use tempering_core::compression::{UnitGroup, UnitImportance};
//! let group = UnitGroup::from_sums("hidden.0".into(), vec![9.0, 16.0], UnitImportance::L2);
//! assert_eq!(group.scores, vec![3.0, 4.0]);
//! ```

mod calibration;
pub mod conv_units;
mod error;
pub mod linear_units;
mod low_rank;
mod sequential;
mod units;

pub use calibration::{InputNorms, LinearInputs};
pub use error::CompressionError;
pub use low_rank::{FactorizedLinear, LayerWeight, LowRankExport, input_chunks};
pub use sequential::{
    FeedForwardActivation, FeedForwardPair, LinearObserver, SequentialBlocks, UnitKind, UnitLayer,
};
pub use units::{ShrinkUnits, UnitGroup, UnitImportance, check_keep};

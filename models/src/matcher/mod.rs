//! Keypoint matchers: one configurable model that expresses GIMS (adaptive graph, GraphSAGE,
//! attentional GNN, Sinkhorn; Song et al., "GIMS: Image Matching System Based on Adaptive Graph
//! Construction and Graph Neural Network"), SuperGlue (no local graph; Sarlin et al., CVPR 2020)
//! and a LightGlue-style variant (rotary positional attention, dual softmax with matchability;
//! Lindenberger et al., ICCV 2023), plus their metrics ([`metrics`]).
//!
//! ```
//! use burn::tensor::{Device, Tensor, Distribution};
//! use tempering_models::matcher::{MatcherConfig, MatcherInput};
//! let device = Device::default();
//! let matcher = MatcherConfig::superglue().init(&device);
//! let random = |n| Tensor::<3>::random([1, n, 2], Distribution::Uniform(-1.0, 1.0), &device);
//! let input = MatcherInput {
//!     keypoints_a: random(5),
//!     keypoints_b: random(7),
//!     descriptors_a: Tensor::random([1, 5, 32], Distribution::Normal(0.0, 1.0), &device),
//!     descriptors_b: Tensor::random([1, 7, 32], Distribution::Normal(0.0, 1.0), &device),
//! };
//! let output = matcher.forward(&input).unwrap();
//! assert_eq!(output.log_assignment.dims(), [1, 6, 8]); // dustbins last
//! ```

pub mod assignment;
pub mod graph;
pub mod layers;
pub mod metrics;
mod model;
#[cfg(test)]
mod tests;

pub use graph::{AdaptiveGraph, AdaptiveGraphConfig};
pub use metrics::{MatchCounts, Matches};
pub use model::{
    Assignment, Matcher, MatcherConfig, MatcherInput, MatcherOutput, PositionEncoding,
};

/// Why a matcher cannot be built or run on an input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MatcherError {
    /// A configuration value is unusable.
    #[error("invalid matcher setting {field}: {problem}")]
    Config {
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// Descriptors of the wrong width.
    #[error("descriptors of {view} are {got} wide; the matcher takes {expected}")]
    DescriptorWidth {
        /// Which input.
        view: &'static str,
        /// Width the matcher was built for.
        expected: usize,
        /// Width given.
        got: usize,
    },
    /// A view without keypoints.
    #[error("{view} has no keypoints; a matcher needs at least one per view")]
    EmptyKeypoints {
        /// Which input.
        view: &'static str,
    },
    /// A graph given to [`Matcher::forward_with_graphs`] that does not fit the input.
    #[error("graph of {view}, pair {pair}: {problem}")]
    Graph {
        /// Which input.
        view: &'static str,
        /// Which pair of the batch.
        pair: usize,
        /// What is wrong.
        problem: String,
    },
    /// Shapes that do not agree (keypoints not `[B, N, 2]`, batch or point counts differing
    /// between keypoints and descriptors).
    #[error("{0}")]
    Shape(String),
}

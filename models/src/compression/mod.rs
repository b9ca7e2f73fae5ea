//! The project's models on the compression seams of `tempering_core::compression`: what
//! structured pruning, calibration and low-rank export need to know of each model, kept here
//! so the passes themselves (tempering-prune) name no model.
//!
//! - [`MlpClassifier`](crate::MlpClassifier): hidden neurons ([`ShrinkUnits`]), the inputs of
//!   every layer ([`LinearInputs`]), ALDS export to
//!   [`LowRankMlpClassifier`](crate::LowRankMlpClassifier) ([`LowRankExport`]);
//! - [`TransformerLm`](crate::TransformerLm): attention heads and feed-forward channels
//!   ([`ShrinkUnits`]);
//! - [`TransformerLm`](crate::TransformerLm) and [`VitClassifier`](crate::VitClassifier): ALDS
//!   export of their block linear layers to the same model over
//!   [`LinearLayer`](crate::LinearLayer)s ([`LowRankExport`]);
//! - [`MultitaskCnn`](crate::MultitaskCnn): convolution filters with their batch-norm channels
//!   and the next layer's inputs ([`ShrinkUnits`]);
//! - [`LocalResNet`](crate::local::LocalResNet): ALDS export of its backbone convolutions to a
//!   `LocalResNet<ConvLayer>` ([`LowRankExport`]);
//! - [`TransformerLm`](crate::TransformerLm) and [`VitClassifier`](crate::VitClassifier): their
//!   blocks, one at a time, for calibrated pruning ([`SequentialBlocks`]).
//!
//! ```
//! use burn::tensor::Device;
//! use tempering_core::compression::ShrinkUnits;
//! use tempering_models::MlpClassifierConfig;
//! let config = MlpClassifierConfig::new().with_hidden_sizes(vec![8, 4]);
//! let model = config.init(&Device::default());
//! let (small, small_config) = model.shrink_units(&config, &[vec![0, 5], vec![3]])?;
//! assert_eq!(small_config.hidden_sizes, vec![2, 1]);
//! # Ok::<(), tempering_core::compression::CompressionError>(())
//! ```
//!
//! [`ShrinkUnits`]: tempering_core::compression::ShrinkUnits
//! [`LinearInputs`]: tempering_core::compression::LinearInputs
//! [`LowRankExport`]: tempering_core::compression::LowRankExport
//! [`SequentialBlocks`]: tempering_core::compression::SequentialBlocks

mod factor_assignment;
mod mlp_calibration;
mod mlp_low_rank;
mod mlp_units;
mod multitask_units;
mod resnet_low_rank;
mod transformer_low_rank;
mod transformer_sequential;
mod transformer_units;

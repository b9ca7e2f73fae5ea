//! ALDS export of the local-learning residual network, [`LocalResNet`] (Liebenwein et al.,
//! NeurIPS 2021): its backbone convolutions (the stem, both convolutions of every residual
//! block and the 1×1 projection shortcuts) become [`LowRankConv2d`]s where factors are given,
//! into a `LocalResNet<ConvLayer>` and the [`FactorizedResNetConfig`] that rebuilds it. Batch
//! norms, the auxiliary networks and the head stay as they are.

use burn::nn::conv::Conv2d;
use tempering_core::compression::{CompressionError, FactorizedLinear, LayerWeight, LowRankExport};

use super::factor_assignment::FactorAssignment;
use crate::local::{FactorizedResNetConfig, LocalResNet, LocalResNetConfig};
use crate::low_rank_conv::{ConvLayer, LowRankConv2d};

impl LowRankExport for LocalResNet {
    type Config = LocalResNetConfig;
    type Exported = LocalResNet<ConvLayer>;
    type ExportedConfig = FactorizedResNetConfig;

    /// `layers.0.Stem.conv.weight`, then `layers.{i}.Block.{first,second,shortcut}.conv.weight`.
    fn factorizable_layers(&self) -> Vec<(String, LayerWeight<'_>)> {
        self.convs()
            .into_iter()
            .map(|(name, conv)| (name, LayerWeight::Conv2d(conv)))
            .collect()
    }

    fn export_low_rank(
        self,
        config: &LocalResNetConfig,
        factors: Vec<Option<FactorizedLinear>>,
        ranks: &[Option<usize>],
        chunks: &[usize],
    ) -> Result<(LocalResNet<ConvLayer>, FactorizedResNetConfig), CompressionError> {
        let count = self.convs().len();
        let mut assign = FactorAssignment::new(count, factors, ranks, chunks)?;
        let exported = self.map_convs(|path, conv: Conv2d| match assign.next(path) {
            Some(f) => ConvLayer::LowRank(LowRankConv2d::from_factors(f, conv)),
            None => ConvLayer::Dense(conv),
        });
        Ok((
            exported,
            FactorizedResNetConfig::new(config.clone(), assign.into_factorized()),
        ))
    }
}

//! A [`LocalResNet`] whose backbone convolutions are partly ALDS factorizations (Liebenwein et
//! al., "Compressing neural networks: towards determining the optimal layer-wise
//! decomposition", NeurIPS 2021): the dense network's config plus, for each factorized
//! convolution, its weight's name, rank and input-channel chunks, as the ALDS export writes it
//! (`tempering_prune::low_rank_export::factorize_model`); [`FactorizedResNetConfig::init`]
//! rebuilds the network that loads the compressed checkpoint.

use burn::config::Config;
use burn::nn::conv::Conv2d;
use burn::tensor::Device;

use super::{LocalResNet, LocalResNetConfig};
use crate::low_rank_conv::{ConvLayer, LowRankConv2d};
use crate::transformer::FactorizedLayer;
use crate::transformer::factorized_blocks::{check_entries, factor_weights};

/// The config of a [`LocalResNet`] with factorized convolutions.
#[derive(Config, Debug)]
pub struct FactorizedResNetConfig {
    /// The dense network's architecture.
    pub model: LocalResNetConfig,
    /// The factorized convolutions; every other one stays dense.
    pub factorized: Vec<FactorizedLayer>,
}

impl FactorizedResNetConfig {
    /// Why this config cannot build a network, if it cannot: an invalid dense config, a
    /// factorized entry that names no backbone convolution or names one twice, or a zero rank
    /// or chunk count.
    pub fn check(&self) -> Result<(), String> {
        self.model.check()?;
        let names = self.model.conv_names();
        check_entries(&self.factorized, |layer| {
            match names.contains(&layer.name) {
                true => Ok(()),
                false => Err(format!(
                    "`{}` is not a convolution of the backbone ({})",
                    layer.name,
                    names.join(", ")
                )),
            }
        })
    }

    /// The number of parameters the network would have, computed without building it; `None`
    /// when it overflows `usize`, the dense config is invalid or an entry names no backbone
    /// convolution. A reader of an untrusted config compares this with what the checkpoint can
    /// hold before calling [`init`](Self::init).
    pub fn parameter_count(&self) -> Option<usize> {
        let dense = self.model.parameter_count()?;
        let shapes = self.model.conv_shapes();
        self.factorized.iter().try_fold(dense, |total, layer| {
            let &(_, [out, inputs, kh, kw]) =
                shapes.iter().find(|(name, _)| *name == layer.name)?;
            let area = kh.checked_mul(kw)?;
            total
                .checked_sub(out.checked_mul(inputs)?.checked_mul(area)?)?
                .checked_add(factor_weights(
                    [inputs, out],
                    area,
                    layer.rank,
                    layer.chunks,
                )?)
        })
    }

    /// Builds the network on `device`: the dense network, with each factorized convolution
    /// replaced by factors of its rank and chunks (Burn's default initialization; load the
    /// compressed checkpoint into it).
    ///
    /// # Panics
    /// If [`check`](Self::check) finds a problem; the message names it.
    pub fn init(&self, device: &Device) -> LocalResNet<ConvLayer> {
        if let Err(problem) = self.check() {
            panic!("FactorizedResNetConfig: {problem}");
        }
        self.model.init(device).map_convs(|path, conv: Conv2d| {
            match self.factorized.iter().find(|l| l.name == path) {
                None => ConvLayer::Dense(conv),
                Some(layer) => {
                    let [out, inputs, kh, kw] = conv.weight.dims();
                    ConvLayer::LowRank(LowRankConv2d::init(
                        [inputs, out],
                        [kh, kw],
                        conv.stride,
                        conv.padding.clone(),
                        layer.rank,
                        layer.chunks,
                        conv.bias.is_some(),
                        device,
                    ))
                }
            }
        })
    }
}

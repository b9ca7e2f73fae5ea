//! The calibrated prune's method, chosen by `tempering prune` and run by the calibrated path
//! (a module of its own, so the two do not import each other). Without the `language-models`
//! feature the method is parsed and refused, never run.
#![cfg_attr(not(feature = "language-models"), allow(dead_code))]

/// How the calibrated path prunes.
pub(crate) enum CalibratedMethod {
    /// Every layer of every block by this method, block by block.
    Sequential(tempering_prune::calibrated::SequentialMethod),
    /// ECoFLaP: one Wanda sparsity per block, allocated by zeroth-order block importance.
    Ecoflap,
    /// ProxSparse: 2:4 masks learned by training with a proximal step, on the original weights.
    ProxSparse(tempering_prune::calibrated::ProxSparseConfig),
    /// M-FAC: Optimal Brain Surgeon with the inverse empirical Fisher of minibatch gradients,
    /// one threshold over every block's linear layers.
    Mfac(tempering_prune::mfac::MfacPruneConfig),
}

impl CalibratedMethod {
    /// The method each layer is pruned by, as the report names it.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Sequential(method) => method.name(),
            Self::Ecoflap => "wanda",
            Self::ProxSparse(_) => "proxsparse",
            Self::Mfac(_) => "mfac",
        }
    }
}

//! Handing each layer of an ALDS export its factors, in the order the model listed its
//! factorizable layers, and listing the factorized ones for the config that rebuilds the model.

use tempering_core::compression::{CompressionError, FactorizedLinear};

use crate::transformer::FactorizedLayer;

/// The factors, ranks and chunk counts of an export, handed out layer by layer.
pub(crate) struct FactorAssignment<'a> {
    factors: std::vec::IntoIter<Option<FactorizedLinear>>,
    ranks: &'a [Option<usize>],
    chunks: &'a [usize],
    next: usize,
    factorized: Vec<FactorizedLayer>,
}

impl<'a> FactorAssignment<'a> {
    /// Checks that there is one factorization, rank and chunk count for each of `layers`.
    pub fn new(
        layers: usize,
        factors: Vec<Option<FactorizedLinear>>,
        ranks: &'a [Option<usize>],
        chunks: &'a [usize],
    ) -> Result<Self, CompressionError> {
        if factors.len() != layers || ranks.len() != layers || chunks.len() != layers {
            return Err(CompressionError::BadConfig {
                field: "ranks",
                reason: format!(
                    "{} factorizations, {} ranks and {} chunk counts for {layers} layers",
                    factors.len(),
                    ranks.len(),
                    chunks.len()
                ),
            });
        }
        Ok(Self {
            factors: factors.into_iter(),
            ranks,
            chunks,
            next: 0,
            factorized: Vec::new(),
        })
    }

    /// The factors of the next layer, whose weight is at module path `weight`, or `None` when
    /// it stays dense.
    pub fn next(&mut self, weight: &str) -> Option<FactorizedLinear> {
        let l = self.next;
        self.next += 1;
        let factors = self.factors.next().flatten()?;
        let rank = self.ranks[l]?;
        self.factorized
            .push(FactorizedLayer::new(weight.into(), rank, self.chunks[l]));
        Some(factors)
    }

    /// The factorized layers, in order.
    pub fn into_factorized(self) -> Vec<FactorizedLayer> {
        self.factorized
    }
}

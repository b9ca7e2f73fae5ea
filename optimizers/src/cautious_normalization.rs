//! How a cautious optimizer rescales the update components it keeps (Liang, Chen, Liu & Liu,
//! "Cautious Optimizers: Improving Training with One Line of Code", 2024; official code
//! kyleliang919/C-Optim). A leaf: the fused loops that count the kept components and the
//! [`Cautious`](crate::Cautious) wrapper both read it.

use burn::config::Config;

/// How the kept components are rescaled (`n` elements, `k` of them kept).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum CautiousNormalization {
    /// `n / max(k, 10⁻³·n)`: C-AdamW's `mask / mask.mean().clamp(min=1e-3)`.
    Mean,
    /// `n / (k + 1)`: C-Lion's `mask · numel / (mask.sum() + 1)`.
    CountPlusOne,
}

impl CautiousNormalization {
    /// The scale for `kept` of `n` components.
    pub fn scale(self, kept: usize, n: usize) -> f32 {
        let (kept, n) = (kept as f64, n as f64);
        (match self {
            Self::Mean => n / kept.max(1e-3 * n),
            Self::CountPlusOne => n / (kept + 1.0),
        }) as f32
    }
}

//! The position-wise feed-forward of a transformer block: `Linear → GELU → Linear → Dropout`
//! (the exact GELU, or GPT-2's tanh approximation).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::tensor::{Device, Tensor};
use tempering_core::compression::LinearObserver;

use super::gpt_init;
use super::projection::Projection;
use super::token_linear::token_linear;
use crate::activation::{Gelu, GeluApproximation};

/// Configuration of a [`FeedForward`].
#[derive(Config, Debug)]
pub struct FeedForwardConfig {
    /// Width of the residual stream.
    pub d_model: usize,
    /// Hidden channels.
    pub d_ff: usize,
    /// Dropout on the output.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Standard deviation of the expansion's weights (biases start at zero).
    #[config(default = 0.02)]
    pub init_std: f64,
    /// Standard deviation of the contraction's weights (GPT-2 divides by √(2·layers)).
    #[config(default = 0.02)]
    pub output_init_std: f64,
    /// The exact GELU or GPT-2's tanh approximation.
    #[config(default = "GeluApproximation::Exact")]
    pub gelu: GeluApproximation,
}

impl FeedForwardConfig {
    /// Builds the layer on `device`.
    ///
    /// # Panics
    /// If a width is zero.
    pub fn init(&self, device: &Device) -> FeedForward {
        assert!(
            self.d_model > 0 && self.d_ff > 0,
            "FeedForwardConfig: d_model and d_ff must be positive"
        );
        FeedForward {
            expand: gpt_init::linear(self.d_model, self.d_ff, self.init_std, device),
            contract: gpt_init::linear(self.d_ff, self.d_model, self.output_init_std, device),
            activation: Gelu::with(self.gelu),
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }
}

/// Channel `c` is column `c` (and bias `c`) of `expand` and row `c` of `contract`. The layers
/// are Burn's dense `Linear`s; a compressed model holds another [`Projection`].
#[derive(Module, Debug)]
pub struct FeedForward<P = Linear> {
    /// `[d_model, d_ff]`.
    pub expand: P,
    /// `[d_ff, d_model]`.
    pub contract: P,
    activation: Gelu,
    dropout: Dropout,
}

impl<P: Projection> FeedForward<P> {
    /// The GELU between the two layers.
    pub fn gelu(&self) -> GeluApproximation {
        self.activation.approximation()
    }

    /// `[batch, time, d_model]` → `[batch, time, d_model]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.forward_observed(x, None)
    }

    /// [`forward`](Self::forward), showing `observe` the input of `expand` and of `contract`
    /// as rows `[batch·time, d_in]`, as calibrated pruning gathers them.
    pub fn forward_observed(
        &self,
        x: Tensor<3>,
        mut observe: Option<LinearObserver<'_>>,
    ) -> Tensor<3> {
        let [batch, time, d_model] = x.dims();
        if let Some(observe) = observe.as_mut() {
            observe("expand", x.clone().reshape([batch * time, d_model]));
        }
        let hidden = self.activation.forward(token_linear(&self.expand, x));
        if let Some(observe) = observe {
            let d_ff = hidden.dims()[2];
            observe("contract", hidden.clone().reshape([batch * time, d_ff]));
        }
        self.dropout.forward(token_linear(&self.contract, hidden))
    }
    /// The same layer with `expand` and `contract` replaced by `f(field name, layer)`.
    pub fn map_projections<Q>(self, mut f: impl FnMut(&str, P) -> Q) -> FeedForward<Q> {
        FeedForward {
            expand: f("expand", self.expand),
            contract: f("contract", self.contract),
            activation: self.activation,
            dropout: self.dropout,
        }
    }
}

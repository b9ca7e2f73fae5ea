//! A multilayer perceptron in muP or the standard parametrization: the optimizee of μLO
//! (Therien et al. 2024, arXiv:2405.14658, `mu_mlp.py`) and of the muP learning-rate transfer
//! (Yang et al. 2022, arXiv:2203.03466).
//!
//! Under muP ([`Parametrization::Mup`]): input and hidden weights are truncated normal (±2σ)
//! with variance 1/fan_in, biases N(0, 1), the output weight starts at zero and the logits are
//! multiplied by 1/width. Under SP ([`Parametrization::Standard`]): every weight truncated
//! normal with standard deviation 1/√fan_in, biases zero, no multiplier.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig, Relu};
use burn::tensor::{Device, Tensor, TensorData};
use tempering_core::mup::{self, Parametrization};
use tempering_core::split_mix::standard_normal;

use crate::image_classifier::ImageClassifier;

/// Configuration of a [`MupMlp`].
#[derive(Config, Debug)]
pub struct MupMlpConfig {
    /// Input features.
    #[config(default = 784)]
    pub input_size: usize,
    /// Widths of the hidden layers, input side first.
    #[config(default = "vec![128, 128, 128]")]
    pub hidden_sizes: Vec<usize>,
    /// Number of classes.
    #[config(default = 10)]
    pub classes: usize,
    /// muP or the standard parametrization.
    #[config(default = "Parametrization::Mup")]
    pub parametrization: Parametrization,
    /// Seed of the initial weights (drawn on the host, so they depend on it alone).
    #[config(default = 0)]
    pub seed: u64,
}

impl MupMlpConfig {
    /// Builds the network on `device`; the weights depend on [`seed`](Self::seed) alone.
    ///
    /// # Panics
    /// If a size is zero.
    pub fn init(&self, device: &Device) -> MupMlp {
        assert!(
            self.input_size > 0 && self.classes > 0 && self.hidden_sizes.iter().all(|&h| h > 0),
            "MupMlpConfig: input_size, hidden_sizes and classes must be positive"
        );
        let mup = self.parametrization == Parametrization::Mup;
        let mut fans = vec![self.input_size];
        fans.extend(&self.hidden_sizes);
        let draw = |index: usize, d_in: usize, d_out: usize, std: f64| {
            let streams = (2 * index as u64, 2 * index as u64 + 1);
            layer([d_in, d_out], std, mup, (self.seed, streams), device)
        };
        let layers = fans
            .windows(2)
            .enumerate()
            .map(|(i, w)| draw(i, w[0], w[1], 1.0 / (w[0] as f64).sqrt()))
            .collect();
        let width = *fans.last().unwrap();
        let head_std = if mup {
            0.0
        } else {
            1.0 / (width as f64).sqrt()
        };
        MupMlp {
            layers,
            head: draw(fans.len(), width, self.classes, head_std),
            activation: Relu::new(),
            output_multiplier: if mup {
                mup::output_multiplier(width)
            } else {
                1.0
            },
        }
    }
}

/// A `[d_in, d_out]` layer with truncated-normal weights of standard deviation `std` (zero when
/// `std` is 0) and N(0, 1) biases under muP, zero biases otherwise; drawn from `(seed, streams)`.
fn layer(
    [d_in, d_out]: [usize; 2],
    std: f64,
    mup: bool,
    (seed, (weight_stream, bias_stream)): (u64, (u64, u64)),
    device: &Device,
) -> Linear {
    let mut linear = LinearConfig::new(d_in, d_out).init(device);
    let weights = truncated_normal(d_in * d_out, std, seed, weight_stream);
    linear.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(weights, [d_in, d_out]),
        device,
    ));
    let bias = if mup {
        standard_normal(d_out, seed, bias_stream)
    } else {
        vec![0.0; d_out]
    };
    linear.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(bias, [d_out]),
        device,
    )));
    linear
}

/// `n` draws of N(0, std²) truncated to ±2·std (out-of-range draws are skipped), without
/// rescaling, as `jax.random.truncated_normal` and PyTorch's `trunc_normal_` do.
fn truncated_normal(n: usize, std: f64, seed: u64, stream: u64) -> Vec<f32> {
    if std == 0.0 {
        return vec![0.0; n];
    }
    // 95.4 % of draws fall inside ±2σ; draw 10 % spare and top up in the rare short case.
    let mut out = Vec::with_capacity(n);
    let mut round = 0u64;
    while out.len() < n {
        let want = (n - out.len()) * 11 / 10 + 16;
        let draws = standard_normal(want, seed, stream.wrapping_add(round << 40));
        out.extend(
            draws
                .into_iter()
                .filter(|z| z.abs() <= 2.0)
                .map(|z| z * std as f32),
        );
        round += 1;
    }
    out.truncate(n);
    out
}

/// A ReLU multilayer perceptron in muP or SP; see [`MupMlpConfig`].
#[derive(Module, Debug)]
pub struct MupMlp {
    /// The input layer then the hidden layers.
    pub layers: Vec<Linear>,
    /// The output layer.
    pub head: Linear,
    activation: Relu,
    /// The multiplier on the logits (1/width under muP, 1 under SP).
    pub output_multiplier: f64,
}

impl MupMlp {
    /// Logits `[batch, classes]` of flat inputs `[batch, input_size]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let hidden = self
            .layers
            .iter()
            .fold(x, |x, layer| self.activation.forward(layer.forward(x)));
        let logits = self.head.forward(hidden);
        if self.output_multiplier == 1.0 {
            logits
        } else {
            logits.mul_scalar(self.output_multiplier)
        }
    }
}

impl ImageClassifier for MupMlp {
    fn logits(&self, images: Tensor<3>) -> Tensor<2> {
        self.forward(images.flatten(1, 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempering_core::mup::{MupModule, MupRole};

    fn roles_of(model: &MupMlp) -> Vec<(MupRole, usize)> {
        model
            .mup_roles()
            .iter()
            .map(|r| (r.role, r.fan_in))
            .collect()
    }

    #[test]
    fn roles_name_every_parameter_once() {
        let device = Device::default();
        let model = MupMlpConfig::new()
            .with_input_size(20)
            .with_hidden_sizes(vec![64, 32])
            .init(&device);
        use MupRole::*;
        assert_eq!(
            roles_of(&model),
            vec![
                (Input, 20),
                (Vector, 1),
                (Hidden, 64),
                (Vector, 1),
                (Output, 32),
                (Vector, 1)
            ]
        );
        struct Ids(Vec<burn::module::ParamId>);
        impl burn::module::ModuleVisitor for Ids {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                self.0.push(param.id);
            }
        }
        let mut ids = Ids(Vec::new());
        model.visit(&mut ids);
        let declared: Vec<_> = model.mup_roles().iter().map(|r| r.id).collect();
        assert_eq!(declared, ids.0);
    }

    #[test]
    fn the_seed_alone_decides_the_weights() {
        let device = Device::default();
        let config = MupMlpConfig::new()
            .with_input_size(6)
            .with_hidden_sizes(vec![5]);
        let weights = |m: MupMlp| m.layers[0].weight.val().into_data();
        assert_eq!(weights(config.init(&device)), weights(config.init(&device)));
        assert_ne!(
            weights(config.init(&device)),
            weights(config.clone().with_seed(1).init(&device))
        );
    }

    #[test]
    fn mup_starts_with_zero_logits_and_scales_them_by_the_width() {
        let device = Device::default();
        let config = MupMlpConfig::new()
            .with_input_size(8)
            .with_hidden_sizes(vec![256]);
        let model = config.init(&device);
        assert_eq!(model.output_multiplier, 1.0 / 256.0);
        let x = Tensor::<2>::random([4, 8], burn::tensor::Distribution::Default, &device);
        // A zero output weight gives logits = bias / width.
        let expected = model
            .head
            .bias
            .as_ref()
            .unwrap()
            .val()
            .unsqueeze_dim::<2>(0)
            .repeat_dim(0, 4)
            .div_scalar(256.0);
        model
            .forward(x)
            .into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), Default::default());
    }

    #[test]
    fn weights_have_the_stated_spread() {
        let device = Device::default();
        let model = MupMlpConfig::new()
            .with_input_size(400)
            .with_hidden_sizes(vec![500])
            .with_parametrization(Parametrization::Standard)
            .init(&device);
        let weight = model.layers[0].weight.val();
        let std = 1.0 / 20.0;
        let max = weight.clone().abs().max().into_scalar::<f32>() as f64;
        assert!(max <= 2.0 * std + 1e-7, "truncated at ±2σ, max {max}");
        // A N(0, σ²) truncated at ±2σ has standard deviation 0.880σ (the truncated normal's
        // variance formula); 200,000 draws put the estimate within 1 %.
        let measured = weight.powi_scalar(2).mean().sqrt().into_scalar::<f32>() as f64;
        assert!(
            (measured / std - 0.880).abs() < 0.01,
            "std ratio {}",
            measured / std
        );
        let bias = model.layers[0].bias.as_ref().unwrap().val();
        assert_eq!(bias.abs().sum().into_scalar::<f32>(), 0.0);
        assert_eq!(model.output_multiplier, 1.0);
    }
}

//! Batch-norm running statistics under the multi-pass optimizers: the flat parameter vector
//! leaves them out, and only the evaluation at the incoming parameters updates them (GAM's
//! passes 2–4, SAM's ascent pass, OPT-AMSGrad's predicted-point pass and Entropy-SGD's Langevin
//! passes do not).

use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Device, Distribution, Tensor};
use tempering_optim::multi_pass::flat::flatten_params;
use tempering_optim::{ClosureOptimizer, EntropySgdConfig, GamConfig, OptAmsGradConfig, SamConfig};

#[derive(Module, Debug)]
struct Net {
    linear: Linear,
    norm: BatchNorm,
}

impl Net {
    fn new(device: &Device) -> Self {
        Self {
            linear: LinearConfig::new(4, 3).init(device),
            norm: BatchNormConfig::new(3).init(device),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.norm.forward(self.linear.forward(x))
    }

    /// An independent copy: same values, running statistics not shared with `self`.
    fn deep_copy(&self, device: &Device) -> Self {
        Net::new(device).load_record(self.clone().into_record())
    }
}

fn running_mean(net: &Net) -> Vec<f32> {
    net.norm
        .running_mean
        .value_sync()
        .into_data()
        .try_to_vec()
        .unwrap()
}

fn check<O: ClosureOptimizer>(name: &str, mut optimizer: O) {
    let device = Device::default().autodiff();
    device.seed(7);
    let x = Tensor::<2>::random([8, 4], Distribution::Normal(1.0, 2.0), &device);
    let target = Tensor::<2>::random([8, 3], Distribution::Normal(0.0, 1.0), &device);
    let net = Net::new(&device);
    // One forward at the incoming parameters, on a copy.
    let copy = net.deep_copy(&device);
    let _ = copy.forward(x.clone());
    let expected = running_mean(&copy);
    assert!(
        expected.iter().any(|v| v.abs() > 1e-3),
        "the batch moves the statistics"
    );
    let closure = |m: Net| {
        let loss = (m.forward(x.clone()) - target.clone()).square().mean();
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        (loss.into_scalar::<f64>(), grads)
    };
    let (stepped, _) = optimizer.step(0.1, net, closure);
    let got = running_mean(&stepped);
    for (g, e) in got.iter().zip(&expected) {
        assert!(
            (g - e).abs() < 1e-6,
            "{name}: running mean {got:?}, one evaluation gives {expected:?}"
        );
    }
}

#[test]
fn only_the_first_evaluation_updates_running_statistics() {
    check("GAM", GamConfig::new().build(SgdConfig::new().build()));
    check("SAM", SamConfig::new().build(SgdConfig::new().build()));
    check("OPT-AMSGrad", OptAmsGradConfig::new().build());
    // Its L Langevin passes, with noise and momentum, at points away from x.
    check(
        "Entropy-SGD",
        EntropySgdConfig::new().with_langevin_steps(3).build(),
    );
}

#[test]
fn the_flat_vector_holds_trainable_parameters_only() {
    let device = Device::default().autodiff();
    let net = Net::new(&device);
    // Linear 4×3 + 3, BatchNorm γ and β: 3 + 3. The running mean and variance are left out.
    assert_eq!(flatten_params(&net).dims(), [4 * 3 + 3 + 3 + 3]);
    let frozen = Net::new(&device).no_grad();
    assert_eq!(flatten_params(&frozen).dims(), [0]);
}

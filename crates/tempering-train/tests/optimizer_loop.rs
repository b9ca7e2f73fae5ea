//! The optimizer loop: equal-budget stepping, exact resume from a checkpoint for closure and
//! per-parameter optimizers, outputs, and its errors.

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig, Relu};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, SgdConfig};
use burn::tensor::{Device, Tensor, TensorData};
use tempering_core::split_mix::standard_normal;
use tempering_optim::multi_pass::flat::flatten_params;
use tempering_optim::{EntropySgdConfig, GamConfig, OptAmsGradConfig};
use tempering_train::optimizer_loop::{
    LoopConfig, LoopError, LoopOptimizer, MultiPass, OptimizerLoop, PerParameter,
};

#[derive(Module, Debug)]
struct Mlp {
    hidden: Linear,
    out: Linear,
    relu: Relu,
}

/// A `[d_in, d_out]` layer drawn from the seeded generator, scaled by `1/√d_in`.
fn seeded_linear(d_in: usize, d_out: usize, seed: u64, device: &Device) -> Linear {
    let draw = |n: usize, stream: u64| -> Vec<f32> {
        standard_normal(n, seed, stream)
            .into_iter()
            .map(|v| v / (d_in as f32).sqrt())
            .collect()
    };
    let mut layer = LinearConfig::new(d_in, d_out).init(device);
    layer.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(draw(d_in * d_out, 0), [d_in, d_out]),
        device,
    ));
    layer.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(draw(d_out, 1), [d_out]),
        device,
    )));
    layer
}

impl Mlp {
    /// The same network for the same seed, whatever other tests do meanwhile: the weights come
    /// from tempering's seeded generator, not from the device's shared one.
    fn new(device: &Device, seed: u64) -> Self {
        Self {
            hidden: seeded_linear(4, 8, 2 * seed, device),
            out: seeded_linear(8, 1, 2 * seed + 1, device),
            relu: Relu::new(),
        }
    }

    /// An independent copy.
    fn copy(&self, device: &Device) -> Self {
        Mlp::new(device, 0).load_record(self.clone().into_record())
    }
}

type Batch = (Tensor<2>, Tensor<2>);

/// Five seeded batches of 16 points, `y = sin(Σ x)`.
fn batches(device: &Device) -> Vec<Batch> {
    (0..5u64)
        .map(|b| {
            let values = standard_normal(16 * 4, 99, b);
            let x = Tensor::from_data(TensorData::new(values, [16, 4]), device);
            let y = x.clone().sum_dim(1).sin();
            (x, y)
        })
        .collect()
}

fn mse(m: &Mlp, (x, y): &Batch) -> Tensor<1> {
    let pred = m.out.forward(m.relu.forward(m.hidden.forward(x.clone())));
    (pred - y.clone()).square().mean()
}

fn params(m: &Mlp) -> Vec<f32> {
    flatten_params(m).into_data().try_to_vec().unwrap()
}

fn quiet(budget: usize) -> OptimizerLoop {
    OptimizerLoop::new(LoopConfig::new(0.05, budget).with_checkpoint_every(2)).progress(false)
}

/// Half the budget, a checkpoint, then a fresh model and optimizer resuming to the full budget:
/// the same parameters, bit for bit, as one uninterrupted run.
fn resumes_exactly<O: LoopOptimizer<Mlp>>(name: &str, make: impl Fn() -> O, budget: usize) {
    let device = Device::default().autodiff();
    let data = batches(&device);
    let cycle = || data.clone().into_iter().cycle();
    let init = Mlp::new(&device, 1);
    let whole = quiet(budget)
        .label(name)
        .run(init.copy(&device), &mut make(), cycle(), mse)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = quiet(budget / 2)
        .label(name)
        .output_dir(dir.path())
        .run(init.copy(&device), &mut make(), cycle(), mse)
        .unwrap();
    assert!(first.evaluations < whole.evaluations);
    let resumed = quiet(budget)
        .label(name)
        .output_dir(dir.path())
        .resume(true)
        .run(Mlp::new(&device, 2), &mut make(), cycle(), mse)
        .unwrap();
    assert_eq!(resumed.resumed_after, Some(first.steps.len()), "{name}");
    assert_eq!(params(&resumed.model), params(&whole.model), "{name}");
    let losses = |s: &[tempering_train::optimizer_loop::StepRecord]| {
        s.iter()
            .map(|r| (r.step, r.evaluations, r.loss))
            .collect::<Vec<_>>()
    };
    assert_eq!(losses(&resumed.steps), losses(&whole.steps), "{name}");
    assert!(dir.path().join("steps.csv").exists());
    assert!(dir.path().join("loss.png").exists());
}

fn sgd_momentum() -> burn::optim::Sgd {
    SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_dampening(0.0)))
        .build()
}

#[test]
fn gam_resumes_exactly() {
    resumes_exactly(
        "GAM",
        || MultiPass(GamConfig::new().build(sgd_momentum())),
        40,
    );
}

/// Langevin noise draws from the device generator, which the loop reseeds every step.
#[test]
fn entropy_sgd_with_noise_resumes_exactly() {
    resumes_exactly(
        "Entropy-SGD",
        || {
            MultiPass(
                EntropySgdConfig::new()
                    .with_langevin_steps(3)
                    .with_noise(1e-3)
                    .build(),
            )
        },
        40,
    );
}

#[test]
fn opt_amsgrad_resumes_exactly() {
    resumes_exactly(
        "OPT-AMSGrad",
        || MultiPass(OptAmsGradConfig::new().with_span(2).build()),
        40,
    );
}

#[test]
fn per_parameter_adam_resumes_exactly() {
    resumes_exactly("Adam", || PerParameter(AdamConfig::new().init()), 20);
}

/// Steps stop before the budget would be exceeded, and the loss goes down.
#[test]
fn equal_budget_and_descent() {
    let device = Device::default().autodiff();
    let data = batches(&device);
    let mut gam = MultiPass(GamConfig::new().build(sgd_momentum()));
    let out = quiet(30)
        .run(
            Mlp::new(&device, 1),
            &mut gam,
            data.clone().into_iter().cycle(),
            mse,
        )
        .unwrap();
    assert_eq!(out.steps.len(), 7, "30 evaluations hold 7 GAM steps of 4");
    assert_eq!(out.evaluations, 28);
    let mut esgd = MultiPass(EntropySgdConfig::new().with_langevin_steps(4).build());
    let out = quiet(30)
        .run(
            Mlp::new(&device, 1),
            &mut esgd,
            data.clone().into_iter().cycle(),
            mse,
        )
        .unwrap();
    assert_eq!((out.steps.len(), out.evaluations), (6, 30));
    let mut adam = PerParameter(AdamConfig::new().init());
    let out = OptimizerLoop::new(LoopConfig::new(0.01, 200))
        .progress(false)
        .run(
            Mlp::new(&device, 1),
            &mut adam,
            data.into_iter().cycle(),
            mse,
        )
        .unwrap();
    let mean = |s: &[tempering_train::optimizer_loop::StepRecord]| {
        s.iter().map(|r| r.loss).sum::<f64>() / s.len() as f64
    };
    let (head, tail) = (&out.steps[..20], &out.steps[180..]);
    assert!(
        mean(tail) < 0.5 * mean(head),
        "{} vs {}",
        mean(tail),
        mean(head)
    );
}

#[test]
fn loop_errors_name_the_problem() {
    let device = Device::default().autodiff();
    let data = batches(&device);
    let mut sgd = PerParameter(SgdConfig::new().init());
    let err = OptimizerLoop::new(LoopConfig::new(1e6, 50))
        .progress(false)
        .run(
            Mlp::new(&device, 1),
            &mut sgd,
            data.clone().into_iter().cycle(),
            mse,
        )
        .err()
        .unwrap();
    assert!(matches!(err, LoopError::Diverged { .. }), "{err}");
    let err = quiet(50)
        .run(Mlp::new(&device, 1), &mut sgd, data.clone(), mse)
        .err()
        .unwrap();
    assert!(matches!(err, LoopError::OutOfBatches { step: 6 }), "{err}");
    let mut gam = MultiPass(GamConfig::new().build(sgd_momentum()));
    let err = quiet(3)
        .run(Mlp::new(&device, 1), &mut gam, data.clone(), mse)
        .err()
        .unwrap();
    assert!(err.to_string().contains("below one step"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    quiet(8)
        .label("GAM")
        .output_dir(dir.path())
        .run(
            Mlp::new(&device, 1),
            &mut gam,
            data.clone().into_iter().cycle(),
            mse,
        )
        .unwrap();
    let err = quiet(8)
        .label("SGD")
        .output_dir(dir.path())
        .resume(true)
        .run(
            Mlp::new(&device, 1),
            &mut sgd,
            data.into_iter().cycle(),
            mse,
        )
        .err()
        .unwrap();
    assert!(err.to_string().contains("from run `GAM`"), "{err}");
}

use super::pes::{PesEstimator, PesSettings, Unroll};
use super::*;
use burn::module::Module;
use tempering_optim::learned::LearnedOptimizerConfig;

/// A stateless problem whose loss is linear in θ: `L(θ) = c·θ`. Antithetic ES estimates its
/// gradient `c` without bias: `E[(c·2ε)ε]/(2σ²) = c`.
struct Linear(Vec<f32>);

impl Unroll for Linear {
    type State = Vec<f32>;
    fn start(&self, _seed: u64) -> Self::State {
        Vec::new()
    }
    fn begin(&self, theta: &[f32], state: &mut Self::State) {
        *state = theta.to_vec();
    }
    fn step(&self, state: &mut Self::State, _seed: u64, _t: usize) -> f64 {
        self.0
            .iter()
            .zip(state.iter())
            .map(|(c, t)| (c * t) as f64)
            .sum()
    }
}

/// Pairs and signs in parallel give the serial estimate bit for bit, across truncations that
/// reset problems (horizons of 3–5 steps against truncations of 4).
#[test]
fn parallel_pairs_estimate_exactly_what_serial_pairs_do() {
    let problem = Linear(vec![1.5, -0.25, 0.75, 2.0]);
    let estimates = |parallel: bool| {
        let settings = PesSettings {
            pairs: 6,
            truncation: 4,
            sigma: 0.05,
            min_horizon: 3,
            max_horizon: 5,
            parallel,
        };
        let mut pes = PesEstimator::new(&problem, settings, 4, 9);
        (0..3)
            .map(|k| {
                let e = pes.estimate(&problem, &[0.1 * k as f32, 0.2, -0.3, 0.4]);
                (e.gradient, e.meta_loss, e.resets)
            })
            .collect::<Vec<_>>()
    };
    let (serial, parallel) = (estimates(false), estimates(true));
    assert_eq!(serial, parallel);
    assert!(serial.iter().any(|e| e.2 > 0), "some problems reset");
}

#[test]
fn antithetic_pes_estimates_a_linear_gradient() {
    let problem = Linear(vec![2.0, -1.0, 0.5]);
    let settings = PesSettings {
        pairs: 4000,
        truncation: 2,
        sigma: 0.01,
        min_horizon: 1000,
        max_horizon: 1000,
        parallel: true,
    };
    let mut pes = PesEstimator::new(&problem, settings, 3, 5);
    let estimate = pes.estimate(&problem, &[0.3, 0.1, -0.2]);
    // Each pair's estimate is (c·z)z with z ~ N(0, I): mean c, standard deviation per entry
    // ≈ |c| ≈ 2.3 at most, so over 4000 pairs the error is below 4·2.3/√4000 ≈ 0.15.
    for (e, c) in estimate.gradient.iter().zip(&problem.0) {
        assert!(
            (e - c).abs() < 0.15,
            "{:?} vs {:?}",
            estimate.gradient,
            problem.0
        );
    }
    // The meta-loss is the loss at θ (the ± perturbations cancel in the mean).
    let at_theta = 2.0 * 0.3 - 0.1 + 0.5 * -0.2;
    assert!(
        (estimate.meta_loss - at_theta).abs() < 1e-3,
        "{}",
        estimate.meta_loss
    );
}

/// A tiny inner task: a vector `x` of 6 entries, loss `mean(s_i·x_i²)` with per-entry scales;
/// every run starts from the same seeded point.
struct Quadratic;

#[derive(Module, Debug)]
struct Point {
    x: Param<Tensor<1>>,
}

impl InnerTask for Quadratic {
    type Model = Point;
    fn init(&self, seed: u64) -> Point {
        let values = tempering_core::split_mix::standard_normal(6, seed, 0);
        Point {
            x: Param::from_tensor(Tensor::from_data(
                TensorData::new(values, [6]),
                &Device::default().autodiff(),
            )),
        }
    }
    fn loss(&self, model: &Point, _seed: u64, _t: usize) -> Tensor<1> {
        let scales =
            Tensor::<1>::from_floats([0.5, 1.0, 2.0, 0.5, 1.0, 2.0], &model.x.val().device());
        (model.x.val().powi_scalar(2) * scales).mean()
    }
    fn optimizer(&self, weights: LoptWeights, _model: &Point) -> ModuleOptimizer {
        LearnedOptimizerConfig::new()
            .with_step_mult(0.05)
            .init(weights)
    }
    fn classes(&self) -> usize {
        10
    }
}

fn tiny(outer_steps: usize) -> MetaTrainConfig {
    MetaTrainConfig::new()
        .with_outer_steps(outer_steps)
        .with_pairs(2)
        .with_truncation(3)
        .with_min_horizon(5)
        .with_max_horizon(8)
        .with_warmup(2)
        .with_checkpoint_every(2)
}

#[test]
fn a_run_writes_its_outputs_and_resumes_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let first = MetaTrainer::new(tiny(4), vec![Quadratic, Quadratic])
        .output_dir(dir.path())
        .progress(false)
        .run(LoptWeights::init(0))
        .unwrap();
    assert_eq!(first.meta_losses.len(), 4);
    assert!(first.meta_losses.iter().all(|l| l.is_finite() && *l >= 0.0));
    // 2 tasks × 2 pairs × 2 signs × 3 steps × 4 outer steps.
    assert_eq!(first.inner_steps, 96);
    assert_ne!(
        first.weights,
        LoptWeights::init(0),
        "the meta-parameters moved"
    );
    for file in [
        "meta_loss.csv",
        "meta_loss.png",
        "checkpoint/weights.json",
        "checkpoint/meta_optimizer.bpk",
    ] {
        assert!(dir.path().join(file).exists(), "{file}");
    }
    // Extending the run to 6 steps resumes after step 4 with the saved weights.
    let second = MetaTrainer::new(tiny(6), vec![Quadratic, Quadratic])
        .output_dir(dir.path())
        .resume(true)
        .progress(false)
        .run(LoptWeights::init(99))
        .unwrap();
    assert_eq!(second.resumed_after, Some(4));
    assert_eq!(second.meta_losses.len(), 6);
    assert_eq!(second.meta_losses[..4], first.meta_losses[..]);
    assert_eq!(second.inner_steps, 48);
}

#[test]
fn bad_settings_are_named() {
    let err = MetaTrainer::new(tiny(1).with_min_horizon(9), vec![Quadratic])
        .progress(false)
        .run(LoptWeights::init(0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("min_horizon"), "{err}");
    let err = MetaTrainer::<Quadratic>::new(tiny(1), vec![])
        .progress(false)
        .run(LoptWeights::init(0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("tasks"), "{err}");
}

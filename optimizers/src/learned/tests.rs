use super::*;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::Tolerance;
use host_update::{Accumulators, Factored, UpdateScales};
use tempering_core::mup::{MupGroups, MupRole, MupTensorRole};

use crate::lr_scaled::mup_module_optimizer;

fn linear_grads(model: &Linear, scale: f32) -> GradientsParams {
    let [input_size, _] = model.weight.val().dims();
    let input = Tensor::<2>::ones([2, input_size], &model.weight.val().device());
    GradientsParams::from_grads(model.forward(input).mul_scalar(scale).backward(), model)
}

fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.to_data().convert::<f32>().try_to_vec().unwrap()
}

#[test]
fn the_state_resumes_exactly_after_a_burnpack_round_trip() {
    let device = Device::default().autodiff();
    let create = || LearnedOptimizerConfig::new().init(LoptWeights::init(3));
    let mut model = LinearConfig::new(6, 4).init(&device);
    let mut original = create();
    for scale in [1.0, 0.3] {
        model = original.step(1.0, model.clone(), linear_grads(&model, scale));
    }
    let mut restored = create().from_bytes(original.into_bytes().unwrap()).unwrap();
    let expected = original.step(1.0, model.clone(), linear_grads(&model, -0.5));
    let actual = restored.step(1.0, model.clone(), linear_grads(&model, -0.5));
    expected
        .weight
        .to_data()
        .assert_approx_eq::<f32>(&actual.weight.to_data(), Tolerance::absolute(1e-7));
    // The state mattered: a fresh optimizer steps differently.
    let fresh = create().step(1.0, model.clone(), linear_grads(&model, -0.5));
    assert_ne!(values(&fresh.weight.val()), values(&actual.weight.val()));
}

#[test]
fn state_shapes_follow_the_factoring_rule() {
    let device = Device::default();
    let optimizer = LearnedOptimizerConfig::new().build(LoptWeights::init(0));
    // A conv-like rank-4 weight: d0 = axis 3 (5), d1 = axis 2 (4).
    let p = Tensor::<4>::ones([2, 3, 4, 5], &device);
    let g = Tensor::<4>::ones([2, 3, 4, 5], &device).mul_scalar(0.1);
    let (p, state) = optimizer.step(1.0, p, g, None);
    let state = state.unwrap();
    assert_eq!(state.rows[0].dims(), [2, 3, 4, 1]);
    assert_eq!(state.cols[0].dims(), [2, 3, 1, 5]);
    assert!(state.full.is_empty() && state.step == 1);
    assert!(values(&p).iter().all(|v| v.is_finite()));
    // Rank 1 keeps full statistics.
    let (_, state) = optimizer.step(
        1.0,
        Tensor::<1>::ones([3], &device),
        Tensor::ones([3], &device),
        None,
    );
    let state = state.unwrap();
    assert!(state.rows.is_empty() && state.full.len() == 3);
}

#[test]
fn zero_gradients_give_no_nan() {
    let device = Device::default();
    let optimizer = LearnedOptimizerConfig::new().build(LoptWeights::init(1));
    let mut p = Tensor::<2>::ones([4, 3], &device);
    let mut state = None;
    for _ in 0..3 {
        let (next, s) = optimizer.step(1.0, p, Tensor::zeros([4, 3], &device), state);
        p = next;
        state = s;
    }
    assert!(values(&p).iter().all(|v| v.is_finite()));
}

#[test]
fn a_non_finite_gradient_skips_the_step() {
    let device = Device::default();
    let optimizer = LearnedOptimizerConfig::new().build(LoptWeights::init(1));
    let p = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &device);
    let (p, state) = optimizer.step(1.0, p, Tensor::from_floats([0.1, 0.2, 0.3], &device), None);
    let before = values(&p);
    let (after, state) = optimizer.step(
        1.0,
        p,
        Tensor::from_floats([0.1, f32::NAN, 0.3], &device),
        state,
    );
    assert_eq!(values(&after), before);
    assert_eq!(state.unwrap().step, 1, "the state is untouched");
    assert_eq!(optimizer.skip_counter().skipped(), 1);
}

#[test]
fn the_learning_rate_scales_the_step_so_mu_p_groups_scale_hidden_weights() {
    // μLO's per-role scale: a hidden weight with fan-in 8 steps 1/8 as far as an input weight
    // fed the same gradient (the MLP sees the same normalized features for both).
    let device = Device::default().autodiff();
    #[derive(Module, Debug)]
    struct Two {
        input: Linear,
        hidden: Linear,
    }
    // A fresh leaf with the same values (a clone of the tensor would share its graph node).
    fn copy<const D: usize>(p: &burn::module::Param<Tensor<D>>) -> burn::module::Param<Tensor<D>> {
        burn::module::Param::from_tensor(Tensor::from_data(p.val().to_data(), &p.val().device()))
    }
    let two = Two {
        input: LinearConfig::new(8, 8).init(&device),
        hidden: LinearConfig::new(8, 8).init(&device),
    };
    let two = Two {
        hidden: Linear {
            weight: copy(&two.input.weight),
            bias: two.input.bias.as_ref().map(copy),
        },
        input: two.input,
    };
    let roles = [
        MupTensorRole {
            id: two.input.weight.id,
            role: MupRole::Input,
            fan_in: 8,
        },
        MupTensorRole {
            id: two.hidden.weight.id,
            role: MupRole::Hidden,
            fan_in: 8,
        },
    ];
    let groups = MupGroups::by(&roles, MupTensorRole::step_scale);
    let mut optimizer = mup_module_optimizer(
        &groups,
        LearnedOptimizerConfig::mu().build(LoptWeights::init(2)),
        None,
    );
    let x = Tensor::<2>::ones([2, 8], &device);
    let loss = two.input.forward(x.clone()).sum() + two.hidden.forward(x).sum();
    let grads = GradientsParams::from_grads(loss.backward(), &two);
    let before = values(&two.input.weight.val());
    let stepped = optimizer.step(1.0, two, grads);
    let moved = |w: Vec<f32>| -> Vec<f32> { w.iter().zip(&before).map(|(a, b)| a - b).collect() };
    let input_step = moved(values(&stepped.input.weight.val()));
    let hidden_step = moved(values(&stepped.hidden.weight.val()));
    for (i, h) in input_step.iter().zip(&hidden_step) {
        assert!((h - i / 8.0).abs() <= 1e-6 + 1e-3 * i.abs(), "{h} vs {i}/8");
    }
    assert!(
        input_step.iter().any(|v| v.abs() > 1e-6),
        "the step is not empty"
    );
}

#[test]
fn weights_round_trip_and_bad_files_are_named() {
    let dir = std::env::temp_dir().join(format!("tempering-lopt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lopt.json");
    let weights = LoptWeights::init(7);
    weights.save(&path, "made by a test").unwrap();
    assert_eq!(LoptWeights::load(&path).unwrap(), weights);
    assert_eq!(LoptWeights::provenance(&path).unwrap(), "made by a test");
    assert_eq!(weights.to_flat().len(), weights::META_PARAMETERS);
    assert_eq!(
        weights::META_PARAMETERS,
        2409,
        "the reference's 2402 MLP weights + 7 decays"
    );
    let broken = dir.join("broken.json");
    for (content, expected) in [
        ("{", "invalid JSON"),
        (r#"{"format": "other"}"#, "format"),
        (
            r#"{"format": "tempering-learned-optimizer-v1", "layers": [[39,32],[32,32],[32,2]], "meta_parameters": [1.0]}"#,
            "1 meta-parameters",
        ),
    ] {
        std::fs::write(&broken, content).unwrap();
        let err = LoptWeights::load(&broken).unwrap_err().to_string();
        assert!(
            err.contains(expected) && err.contains("broken.json"),
            "{err}"
        );
    }
    let err = LoptWeights::load(&dir.join("missing.json"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.json"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn decays_start_at_the_reference_values() {
    let decays = LoptWeights::init(0).decays();
    for (d, r) in decays.iter().zip(weights::INITIAL_DECAYS) {
        assert!((*d as f64 - r).abs() < 1e-7);
    }
}

#[test]
fn invalid_settings_name_the_field() {
    let err = LearnedOptimizerConfig::new()
        .with_step_mult(0.0)
        .validate()
        .unwrap_err();
    assert_eq!(err.field, "step_mult");
}

/// The shipped weights parse, are not the untrained initialization, and name the command that
/// made them.
#[test]
fn shipped_weights_load_with_their_provenance() {
    for (name, weights) in [("mulo", LoptWeights::mulo()), ("splo", LoptWeights::splo())] {
        assert_ne!(weights.to_flat(), LoptWeights::init(0).to_flat(), "{name}");
        assert!(weights.to_flat().iter().all(|v| v.is_finite()));
        let provenance = LoptWeights::shipped_provenance(name).unwrap();
        assert!(provenance.contains("meta_train_lopt"), "{provenance}");
    }
    assert_eq!(LoptWeights::shipped_provenance("adam"), None);
}

/// The accumulators of one parameter, owned, for driving both step implementations.
#[derive(Clone)]
struct HostState {
    momenta: [Vec<f32>; 3],
    second: Vec<f32>,
    /// Rows, columns (factored) or the elementwise statistics.
    stats: [[Vec<f32>; 3]; 2],
}

impl HostState {
    fn zeros(shape: &[usize]) -> Self {
        let n = shape.iter().product::<usize>().max(1);
        let three = |len: usize| [vec![0.0; len], vec![0.0; len], vec![0.0; len]];
        let stats = match host_update::factored_dims(shape) {
            Some((d0, d1)) => [three(n / shape[d0]), three(n / shape[d1])],
            None => [three(n), three(0)],
        };
        Self {
            momenta: three(n),
            second: vec![0.0; n],
            stats,
        }
    }

    fn accumulators<'a>(&'a mut self, shape: &[usize]) -> Accumulators<'a> {
        let [m0, m1, m2] = &mut self.momenta;
        let [rows, cols] = &mut self.stats;
        let [r0, r1, r2] = rows;
        let factored = match host_update::factored_dims(shape) {
            Some(dims) => {
                let [c0, c1, c2] = cols;
                Factored::Factored {
                    dims,
                    rows: [r0, r1, r2],
                    cols: [c0, c1, c2],
                }
            }
            None => Factored::Full([r0, r1, r2]),
        };
        Accumulators {
            momenta: [m0, m1, m2],
            second: &mut self.second,
            factored,
        }
    }
}

/// The fast step (segments, folded MLP, SIMD kernels) against the element-by-element oracle
/// over several steps, on every factoring case and on shapes that cut segments and blocks
/// short, with whole rows of zero gradient and the shipped μLO weights. The steps agree to
/// float rounding (fused multiply-adds and a different summation order): within 1e-3 of the
/// largest step, and the accumulators within 1e-6 relative.
#[test]
fn the_fast_step_matches_the_straightforward_one() {
    let weights = LoptWeights::mulo();
    let scales = UpdateScales {
        step_mult: 0.01,
        exp_mult: 0.001,
        lr: 0.5,
    };
    for shape in [
        vec![37, 70],
        vec![70, 37],
        vec![130, 200],
        vec![3, 5, 4, 6],
        vec![5, 4, 2],
        vec![4097],
        vec![],
    ] {
        let n = shape.iter().product::<usize>().max(1);
        let init = tempering_core::split_mix::standard_normal(n, 5, 0);
        let (mut fast, mut slow) = (init.clone(), init);
        let (mut fast_state, mut slow_state) = (HostState::zeros(&shape), HostState::zeros(&shape));
        for t in 0..4 {
            let mut g = tempering_core::split_mix::standard_normal(n, 6, t as u64);
            // Every third run of the last axis gets no gradient (an unused embedding row).
            let run = shape.last().copied().unwrap_or(1);
            for (r, chunk) in g.chunks_mut(run).enumerate() {
                if r % 3 == 1 && shape.len() >= 2 {
                    chunk.fill(0.0);
                }
            }
            let before = slow.clone();
            host_update::update(
                &weights,
                scales,
                &shape,
                t,
                &mut fast,
                &g,
                fast_state.accumulators(&shape),
            );
            straightforward::update(
                &weights,
                scales,
                &shape,
                t,
                &mut slow,
                &g,
                slow_state.accumulators(&shape),
            );
            let largest = slow
                .iter()
                .zip(&before)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(largest > 0.0, "{shape:?}: the step moved");
            for (i, (f, s)) in fast.iter().zip(&slow).enumerate() {
                assert!(
                    (f - s).abs() <= 1e-3 * largest,
                    "{shape:?} step {t} element {i}: {f} vs {s} (largest step {largest})"
                );
            }
            let fast_all = fast_state
                .momenta
                .iter()
                .chain(fast_state.stats.iter().flatten());
            let slow_all = slow_state
                .momenta
                .iter()
                .chain(slow_state.stats.iter().flatten());
            for (f, s) in fast_all.zip(slow_all) {
                for (a, b) in f.iter().zip(s) {
                    assert!((a - b).abs() <= 1e-6 * b.abs(), "{shape:?}: {a} vs {b}");
                }
            }
        }
    }
}

/// A momentum decaying into the subnormal range is flushed to zero (a zero gradient on an
/// accumulator at the smallest normal float), and the step still matches the oracle, which
/// keeps the subnormal.
#[test]
fn subnormal_accumulators_are_flushed_to_zero() {
    let weights = LoptWeights::splo();
    let scales = UpdateScales {
        step_mult: 0.001,
        exp_mult: 0.001,
        lr: 1.0,
    };
    let shape = [6, 50];
    let mut state = HostState::zeros(&shape);
    state.momenta[0].fill(f32::MIN_POSITIVE);
    let mut slow_state = state.clone();
    let mut g = vec![0.0f32; 300];
    g[..50].fill(0.3);
    let (mut fast, mut slow) = (vec![0.5f32; 300], vec![0.5f32; 300]);
    host_update::update(
        &weights,
        scales,
        &shape,
        3,
        &mut fast,
        &g,
        state.accumulators(&shape),
    );
    straightforward::update(
        &weights,
        scales,
        &shape,
        3,
        &mut slow,
        &g,
        slow_state.accumulators(&shape),
    );
    assert!(slow_state.momenta[0][299] != 0.0 && slow_state.momenta[0][299].is_subnormal());
    assert_eq!(state.momenta[0][299], 0.0, "flushed");
    for (f, s) in fast.iter().zip(&slow) {
        assert!((f - s).abs() <= 1e-6, "{f} vs {s}");
    }
}

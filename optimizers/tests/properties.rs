//! The property suite every optimizer of this crate runs through: convergence on a quadratic and
//! on Rosenbrock, exact resume after a burnpack round trip, no NaN from zero gradients, skipped
//! steps on NaN gradients, parameter groups, fused = tensor-op path, and equivalences with
//! Burn's own Adam.

use burn::module::{Module, ParamGroup};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, Optimizer};
use burn::tensor::{Device, Tensor, Tolerance};
use tempering_optim::{
    AdaBoundConfig, AdaptiveOptimizer, AdaptiveState, AmsGradConfig, AmsGradConvention, Cautious,
    CautiousConfig, CautiousNormalization, GradientCheck, GramsConfig, PAdamConfig, StepPath,
};

/// Every optimizer under test, with a learning rate that suits the toy problems.
fn optimizers() -> Vec<(&'static str, AdaptiveOptimizer, f64)> {
    vec![
        ("AMSGrad torch", AmsGradConfig::new().build(), 0.05),
        (
            "AMSGrad optax",
            AmsGradConfig::new()
                .with_convention(AmsGradConvention::Optax)
                .build(),
            0.05,
        ),
        (
            "AMSGrad paper",
            AmsGradConfig::new()
                .with_convention(AmsGradConvention::Paper)
                .build(),
            0.05,
        ),
        (
            "AdamW + AMSGrad",
            AmsGradConfig::new()
                .with_weight_decay(1e-4)
                .with_decoupled_weight_decay(true)
                .build(),
            0.05,
        ),
        (
            "AdaBound",
            AdaBoundConfig::new().with_base_lr(0.05).build(),
            0.05,
        ),
        (
            "AMSBound",
            AdaBoundConfig::new()
                .with_base_lr(0.05)
                .with_amsbound(true)
                .build(),
            0.05,
        ),
        ("PAdam", PAdamConfig::new().build(), 0.05),
        ("Grams", GramsConfig::new().build(), 0.05),
    ]
}

/// Deterministic pseudo-random values in [-1, 1) (xorshift), so the suite needs no seed state.
fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn vec1(t: &Tensor<1>) -> Vec<f32> {
    t.clone().into_data().try_to_vec().unwrap()
}

/// Runs `steps` steps of `optimizer` on `f` (returning the gradient at x) from `x0`.
fn minimize(
    optimizer: &AdaptiveOptimizer,
    lr: f64,
    x0: [f32; 2],
    steps: usize,
    grad: impl Fn(&[f32]) -> [f32; 2],
) -> Vec<f32> {
    let device = Device::default();
    let mut x = Tensor::<1>::from_floats(x0, &device);
    let mut state = None;
    for _ in 0..steps {
        let g = Tensor::<1>::from_floats(grad(&vec1(&x)), &device);
        let (next, s) = optimizer.step(lr, x, g, state);
        x = next;
        state = s;
    }
    vec1(&x)
}

#[test]
fn converges_on_a_quadratic() {
    // f(x) = ½(x₀² + 10x₁²), minimum 0 at the origin, f(x0) = 5.5.
    let f = |x: &[f32]| 0.5 * (x[0] * x[0] + 10.0 * x[1] * x[1]);
    for (name, optimizer, lr) in optimizers() {
        let x = minimize(&optimizer, lr, [1.0, 1.0], 1000, |x| [x[0], 10.0 * x[1]]);
        assert!(
            f(&x) < 1e-3,
            "{name}: f = {} after 1000 steps at {x:?}",
            f(&x)
        );
    }
}

#[test]
fn converges_on_rosenbrock() {
    // f(x, y) = (1-x)² + 100(y-x²)², minimum 0 at (1, 1); from (-1.2, 1), f = 24.2.
    let f = |p: &[f32]| (1.0 - p[0]).powi(2) + 100.0 * (p[1] - p[0] * p[0]).powi(2);
    for (name, optimizer, lr) in optimizers() {
        // optax's maximum holds the early bias-corrected v (|g| ≈ 200 at the start), so its
        // steps stay small: it needs a 5× larger learning rate to arrive in the same budget.
        let lr = if name == "AMSGrad optax" {
            lr
        } else {
            lr * 0.2
        };
        let x = minimize(&optimizer, lr, [-1.2, 1.0], 20_000, |p| {
            [
                -2.0 * (1.0 - p[0]) - 400.0 * p[0] * (p[1] - p[0] * p[0]),
                200.0 * (p[1] - p[0] * p[0]),
            ]
        });
        assert!(f(&x) < 1e-2, "{name}: f = {} at {x:?}", f(&x));
    }
}

#[test]
fn fused_and_tensor_op_paths_agree() {
    let device = Device::default();
    // Above host_step::PARALLEL_MIN_LEN (32,768), so the fused loop runs split across threads.
    let n = 100_000;
    for (name, optimizer, lr) in optimizers() {
        let run = |path: StepPath| {
            let optimizer = optimizer.clone().with_step_path(path);
            let mut x = Tensor::<1>::from_floats(noise(n, 1).as_slice(), &device);
            let mut state: Option<AdaptiveState<1>> = None;
            for step in 0..6 {
                // Shrinking gradients after step 3 make the AMSGrad maximum matter.
                let scale = if step < 3 { 1.0 } else { 0.1 };
                let g = Tensor::<1>::from_floats(noise(n, 10 + step).as_slice(), &device)
                    .mul_scalar(scale);
                let (next, s) = optimizer.step(lr, x, g, state);
                x = next;
                state = s;
            }
            (x, state.unwrap())
        };
        let (x_fused, s_fused) = run(StepPath::Auto);
        let (x_ops, s_ops) = run(StepPath::TensorOps);
        let tol = Tolerance::absolute(1e-6);
        x_fused
            .into_data()
            .assert_approx_eq::<f32>(&x_ops.into_data(), tol);
        s_fused
            .moment_1
            .into_data()
            .assert_approx_eq::<f32>(&s_ops.moment_1.into_data(), tol);
        s_fused
            .moment_2
            .into_data()
            .assert_approx_eq::<f32>(&s_ops.moment_2.into_data(), tol);
        assert_eq!(
            s_fused.max_moment_2.is_some(),
            s_ops.max_moment_2.is_some(),
            "{name}"
        );
        if let (Some(a), Some(b)) = (s_fused.max_moment_2, s_ops.max_moment_2) {
            a.into_data().assert_approx_eq::<f32>(&b.into_data(), tol);
        }
        assert_eq!(s_fused.step, 6, "{name}");
    }
}

#[test]
fn zero_gradients_give_no_nan_and_no_motion() {
    let device = Device::default();
    let mut all = optimizers();
    all.push((
        "AMSGrad paper, eps 0",
        AmsGradConfig::new()
            .with_convention(AmsGradConvention::Paper)
            .with_epsilon(0.0)
            .build(),
        0.1,
    ));
    for (name, optimizer, lr) in all {
        for path in [StepPath::Auto, StepPath::TensorOps] {
            let optimizer = optimizer.clone().with_step_path(path);
            let x0 = [0.5, -1.0, 2.0];
            let mut x = Tensor::<1>::from_floats(x0, &device);
            let mut state = None;
            for _ in 0..5 {
                let (next, s) = optimizer.step(lr, x, Tensor::zeros([3], &device), state);
                x = next;
                state = s;
            }
            let got = vec1(&x);
            assert!(
                got.iter().all(|v| v.is_finite()),
                "{name} {path:?}: {got:?}"
            );
            // Only decoupled decay may move x (AdamW + AMSGrad: 1e-4 · lr per step).
            for (g, w) in got.iter().zip(x0) {
                assert!((g - w).abs() < 1e-4, "{name} {path:?}: {got:?}");
            }
        }
    }
}

#[test]
fn nan_or_infinite_gradient_skips_the_step() {
    let device = Device::default();
    for (name, optimizer, lr) in optimizers() {
        for path in [StepPath::Auto, StepPath::TensorOps] {
            // Clones share the skip counter (so a ModuleOptimizer's copies report together).
            let skipped_before = optimizer.skip_counter().skipped();
            let optimizer = optimizer.clone().with_step_path(path);
            let x = Tensor::<1>::from_floats([1.0, 2.0], &device);
            let (x, state) = optimizer.step(lr, x, Tensor::from_floats([0.3, -0.1], &device), None);
            let before = (vec1(&x), vec1(&state.as_ref().unwrap().moment_1));
            for bad in [f32::NAN, f32::INFINITY] {
                let g = Tensor::<1>::from_floats([bad, 0.1], &device);
                let (x2, s2) = optimizer.step(lr, x.clone(), g, state.clone());
                assert_eq!(vec1(&x2), before.0, "{name} {path:?}: parameter changed");
                let s2 = s2.unwrap();
                assert_eq!(
                    vec1(&s2.moment_1),
                    before.1,
                    "{name} {path:?}: state changed"
                );
                assert_eq!(s2.step, 1, "{name} {path:?}: step counted");
            }
            let skipped = optimizer.skip_counter().skipped() - skipped_before;
            assert_eq!(skipped, 2, "{name} {path:?}");
        }
    }
}

/// `GradientCheck::Unchecked` turns the check off and nothing else: on finite gradients every
/// optimizer gives the checked step's bits on both paths, and a NaN gradient now reaches the
/// parameter and the state instead of being skipped (so the check really is not made).
#[test]
fn an_unchecked_step_is_the_checked_step_without_the_skip() {
    let device = Device::default();
    for (name, optimizer, lr) in optimizers() {
        for path in [StepPath::Auto, StepPath::TensorOps] {
            let checked = optimizer.clone().with_step_path(path);
            let unchecked = checked
                .clone()
                .with_gradient_check(GradientCheck::Unchecked);
            let skipped_before = unchecked.skip_counter().skipped();
            let x = Tensor::<1>::from_floats(noise(40, 5).as_slice(), &device);
            let (mut a, mut b) = (x.clone(), x);
            let (mut sa, mut sb) = (None, None);
            for step in 0..3 {
                let g = Tensor::<1>::from_floats(noise(40, 11 + step).as_slice(), &device);
                (a, sa) = checked.step(lr, a, g.clone(), sa);
                (b, sb) = unchecked.step(lr, b, g, sb);
                assert_eq!(vec1(&a), vec1(&b), "{name} {path:?}: step {step}");
            }
            let mut g = noise(40, 99);
            g[7] = f32::NAN;
            let (b, sb) = unchecked.step(lr, b, Tensor::from_floats(g.as_slice(), &device), sb);
            assert!(vec1(&b)[7].is_nan(), "{name} {path:?}: the NaN was stopped");
            assert!(vec1(&sb.unwrap().moment_1)[7].is_nan(), "{name} {path:?}");
            assert_eq!(unchecked.skip_counter().skipped(), skipped_before, "{name}");
        }
    }
}

/// Burn's `Adam` with `amsgrad` is the PyTorch convention: the two must agree on any
/// gradients; and without `amsgrad` Adam equals AMSGrad while `v` never shrinks.
#[test]
fn amsgrad_matches_burn_adam() {
    let device = Device::default();
    let n = 64;
    let ours = AmsGradConfig::new().build();
    let burn_ams = AdamConfig::new()
        .with_epsilon(1e-8)
        .with_amsgrad(true)
        .build();
    let burn_adam = AdamConfig::new().with_epsilon(1e-8).build();
    let tol = Tolerance::absolute(1e-6);

    let (mut a, mut b) = (
        Tensor::<1>::from_floats(noise(n, 3).as_slice(), &device),
        Tensor::<1>::from_floats(noise(n, 3).as_slice(), &device),
    );
    let (mut sa, mut sb) = (None, None);
    for step in 0..20 {
        let g = Tensor::<1>::from_floats(noise(n, 100 + step).as_slice(), &device);
        (a, sa) = ours.step(0.01, a, g.clone(), sa);
        (b, sb) = burn_ams.step(0.01, b, g, sb);
    }
    a.into_data().assert_approx_eq::<f32>(&b.into_data(), tol);

    // Gradients whose magnitude never decreases keep v non-decreasing: Adam = AMSGrad.
    let base = noise(n, 5);
    let (mut a, mut b) = (
        Tensor::<1>::from_floats(base.as_slice(), &device),
        Tensor::<1>::from_floats(base.as_slice(), &device),
    );
    let (mut sa, mut sb) = (None, None);
    for step in 0..20 {
        let g = Tensor::<1>::from_floats(base.as_slice(), &device).mul_scalar(1.0 + step as f32);
        (a, sa) = ours.step(0.01, a, g.clone(), sa);
        (b, sb) = burn_adam.step(0.01, b, g, sb);
    }
    a.into_data().assert_approx_eq::<f32>(&b.into_data(), tol);
}

/// Creates a fresh `ModuleOptimizer` (restoring needs a new one of the same kind).
type MakeOptimizer = dyn Fn() -> ModuleOptimizer;

fn linear_grads(model: &Linear, scale: f32) -> GradientsParams {
    let [input_size, _] = model.weight.val().dims();
    let input = Tensor::<2>::ones([2, input_size], &model.weight.val().device());
    GradientsParams::from_grads(model.forward(input).mul_scalar(scale).backward(), model)
}

/// The shape of burn-optim's own resume test: two steps, a burnpack round trip of the state,
/// then the restored optimizer must take the same next step as the original.
#[test]
fn resumes_exactly_after_a_burnpack_round_trip() {
    let device = Device::default().autodiff();
    let configs: Vec<(&str, Box<MakeOptimizer>)> = vec![
        ("AMSGrad", Box::new(|| AmsGradConfig::new().init())),
        (
            "AMSGrad optax",
            Box::new(|| {
                AmsGradConfig::new()
                    .with_convention(AmsGradConvention::Optax)
                    .init()
            }),
        ),
        (
            "AMSBound",
            Box::new(|| AdaBoundConfig::new().with_amsbound(true).init()),
        ),
        ("AdaBound", Box::new(|| AdaBoundConfig::new().init())),
        ("PAdam", Box::new(|| PAdamConfig::new().init())),
        (
            "Grams",
            Box::new(|| GramsConfig::new().with_weight_decay(0.01).init()),
        ),
    ];
    for (name, create) in configs {
        let mut model = LinearConfig::new(6, 6).init(&device);
        let mut original = create();
        // Shrinking gradients make AMSGrad's maximum differ from the current moment.
        for scale in [1.0, 0.01] {
            let grads = linear_grads(&model, scale);
            model = original.step(0.01, model, grads);
        }
        let bytes = original.into_bytes().unwrap();
        let mut restored = create().from_bytes(bytes).unwrap();
        let expected = original.step(0.01, model.clone(), linear_grads(&model, -0.01));
        let actual = restored.step(0.01, model.clone(), linear_grads(&model, -0.01));
        let tol = Tolerance::absolute(1e-6);
        expected
            .weight
            .to_data()
            .assert_approx_eq::<f32>(&actual.weight.to_data(), tol);
        expected
            .bias
            .unwrap()
            .to_data()
            .assert_approx_eq::<f32>(&actual.bias.unwrap().to_data(), tol);
        // And the resumed step differs from a fresh optimizer's: the state mattered.
        let fresh = create().step(0.01, model.clone(), linear_grads(&model, -0.01));
        let fresh: Vec<f32> = fresh.weight.to_data().try_to_vec().unwrap();
        let resumed: Vec<f32> = actual.weight.to_data().try_to_vec().unwrap();
        let differs = fresh
            .iter()
            .zip(&resumed)
            .any(|(a, b)| (a - b).abs() > 1e-7);
        assert!(differs, "{name}: restored state had no effect");
    }
}

#[derive(Module, Debug)]
struct TwoLayers {
    first: Linear,
    second: Linear,
}

#[test]
fn parameter_groups_run_different_optimizers() {
    let device = Device::default().autodiff();
    let model = TwoLayers {
        first: LinearConfig::new(4, 4).init(&device),
        second: LinearConfig::new(4, 4).init(&device),
    };
    let grads = |m: &TwoLayers| {
        let x = Tensor::<2>::ones([2, 4], &device);
        GradientsParams::from_grads(m.second.forward(m.first.forward(x)).sum().backward(), m)
    };
    let lr = 0.05;
    let mut grouped = GramsConfig::new().init().with_group(
        ParamGroup::ids_from_module(model.second.clone()),
        PAdamConfig::new().build(),
        None,
    );
    let mixed = grouped.step(lr, model.clone(), grads(&model));
    let all_grams = GramsConfig::new()
        .init()
        .step(lr, model.clone(), grads(&model));
    let all_padam = PAdamConfig::new()
        .init()
        .step(lr, model.clone(), grads(&model));
    let tol = Tolerance::absolute(1e-7);
    mixed
        .first
        .weight
        .to_data()
        .assert_approx_eq::<f32>(&all_grams.first.weight.to_data(), tol);
    mixed
        .second
        .weight
        .to_data()
        .assert_approx_eq::<f32>(&all_padam.second.weight.to_data(), tol);
    // Grams and PAdam step differently, so the groups really were distinct.
    assert_ne!(
        all_grams
            .second
            .weight
            .to_data()
            .try_to_vec::<f32>()
            .unwrap(),
        all_padam
            .second
            .weight
            .to_data()
            .try_to_vec::<f32>()
            .unwrap()
    );
}

#[test]
fn state_survives_a_device_move() {
    let device = Device::default();
    let optimizer = GramsConfig::new().build();
    let x = Tensor::<1>::from_floats([1.0, -1.0], &device);
    let g = Tensor::<1>::from_floats([0.2, 0.4], &device);
    let (x, state) = optimizer.step(0.1, x, g.clone(), None);
    let moved = AdaptiveOptimizer::to_device(state.clone().unwrap(), &device);
    let (a, _) = optimizer.step(0.1, x.clone(), g.clone(), state);
    let (b, _) = optimizer.step(0.1, x, g, Some(moved));
    assert_eq!(vec1(&a), vec1(&b));
}

#[test]
fn invalid_configs_name_the_field() {
    let err = AmsGradConfig::new()
        .with_beta_2(1.0)
        .try_build()
        .unwrap_err();
    assert_eq!(err.field, "beta_2");
    let err = AdaBoundConfig::new()
        .with_final_lr(-0.1)
        .try_build()
        .unwrap_err();
    assert!(err.to_string().contains("final_lr"), "{err}");
    let err = PAdamConfig::new()
        .with_partial(0.75)
        .try_build()
        .unwrap_err();
    assert!(err.to_string().contains("partial"), "{err}");
    let err = GramsConfig::new()
        .with_epsilon(0.0)
        .try_build()
        .unwrap_err();
    assert_eq!((err.optimizer, err.field), ("Grams", "epsilon"));
    let panic = std::panic::catch_unwind(|| GramsConfig::new().with_weight_decay(-1.0).init());
    let message = panic.err().unwrap().downcast::<String>().unwrap();
    assert!(message.contains("weight_decay"), "{message}");
}

/// With a gradient that always agrees with the update (every component kept), Cautious equals
/// its inner optimizer up to the normalization: Mean scales by n/n = 1 exactly.
#[test]
fn cautious_with_an_agreeing_gradient_is_the_inner_optimizer() {
    let device = Device::default();
    let n = 50;
    let base: Vec<f32> = noise(n, 9).iter().map(|v| v.abs() + 0.1).collect();
    for (name, inner, lr) in optimizers() {
        let cautious = CautiousConfig::new().build(inner.clone());
        let (mut a, mut b) = (
            Tensor::<1>::from_floats(noise(n, 4).as_slice(), &device),
            Tensor::<1>::from_floats(noise(n, 4).as_slice(), &device),
        );
        let (mut sa, mut sb) = (None, None);
        // Positive, growing gradients: every optimizer here moves every coordinate down.
        for step in 0..5 {
            let g =
                Tensor::<1>::from_floats(base.as_slice(), &device).mul_scalar(1.0 + step as f32);
            (a, sa) = cautious.step(lr, a, g.clone(), sa);
            (b, sb) = inner.step(lr, b, g, sb);
        }
        let (a, b) = (vec1(&a), vec1(&b));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6, "{name}: cautious {x} vs inner {y}");
        }
    }
}

/// Components whose update disagrees with the gradient do not move; the others are rescaled.
#[test]
fn cautious_masks_disagreeing_components() {
    let device = Device::default();
    // Lion with β₁ = 0: the update is sign(g) of the *previous* moment's interpolation; feed
    // a first gradient, then flip the sign of the second component.
    let cautious = CautiousConfig::new()
        .with_normalization(CautiousNormalization::CountPlusOne)
        .build(burn::optim::LionConfig::new().with_beta_1(0.9).build());
    let x = Tensor::<1>::from_floats([0.0, 0.0], &device);
    let (x, s) = cautious.step(1.0, x, Tensor::from_floats([1.0, 1.0], &device), None);
    // Both agree: scale 2/(2+1) on updates of size 1, by hand.
    let after_1 = vec1(&x);
    assert!((after_1[0] + 2.0 / 3.0).abs() < 1e-6 && (after_1[1] + 2.0 / 3.0).abs() < 1e-6);
    // Second gradient [1, -0.01]: Lion's interpolation 0.9·0.01 + 0.1·(-0.01) > 0 keeps the
    // update's sign +, which disagrees with g₁ < 0: component 1 is frozen.
    let (x, _) = cautious.step(1.0, x, Tensor::from_floats([1.0, -0.01], &device), s);
    let after_2 = vec1(&x);
    assert!((after_2[1] - after_1[1]).abs() < 1e-7, "{after_2:?}");
    // Component 0 kept alone: scale 2/(1+1) = 1.
    assert!(
        (after_2[0] - (after_1[0] - 1.0)).abs() < 1e-6,
        "{after_2:?}"
    );
}

/// The fused cautious kernels and the generic mask-after-step path give the same numbers.
#[test]
fn cautious_fused_kernels_match_the_generic_path() {
    let device = Device::default();
    let n = 500;
    let run = |optimizer: &dyn Fn(StepPath) -> Vec<f32>| {
        (optimizer(StepPath::Auto), optimizer(StepPath::TensorOps))
    };
    // Coupled L2 decay makes the fused count read the parameter too.
    let coupled = AmsGradConfig::new().with_weight_decay(1e-2).build();
    for (name, inner, lr) in optimizers()
        .into_iter()
        .chain([("AMSGrad + L2", coupled, 0.05)])
    {
        let (fused, generic) = run(&|path| {
            let c = CautiousConfig::new()
                .with_weight_decay(0.01)
                .build(inner.clone())
                .with_step_path(path);
            let mut x = Tensor::<1>::from_floats(noise(n, 21).as_slice(), &device);
            let mut state = None;
            for k in 0..5 {
                let g = Tensor::<1>::from_floats(noise(n, 30 + k).as_slice(), &device);
                (x, state) = c.step(lr, x, g, state);
            }
            vec1(&x)
        });
        for (a, b) in fused.iter().zip(&generic) {
            assert!((a - b).abs() < 1e-5, "{name}: fused {a} vs generic {b}");
        }
    }
    let (fused, generic) = run(&|path| {
        let c = CautiousConfig::new()
            .with_weight_decay(0.01)
            .try_build_lion(&burn::optim::LionConfig::new())
            .unwrap()
            .with_step_path(path);
        let mut x = Tensor::<1>::from_floats(noise(n, 21).as_slice(), &device);
        let mut state = None;
        for k in 0..5 {
            let g = Tensor::<1>::from_floats(noise(n, 30 + k).as_slice(), &device);
            (x, state) = c.step(1e-3, x, g, state);
        }
        vec1(&x)
    });
    for (a, b) in fused.iter().zip(&generic) {
        assert!((a - b).abs() < 1e-6, "C-Lion: fused {a} vs generic {b}");
    }
}

#[test]
fn cautious_lion_rejects_an_inner_decay() {
    let err = CautiousConfig::new()
        .try_build_lion(&burn::optim::LionConfig::new().with_weight_decay(0.1))
        .err()
        .unwrap();
    assert_eq!(err.field, "weight_decay");
    // The fused kernel reads the betas from the config: a bad one is named, not run.
    let err = CautiousConfig::new()
        .try_build_lion(&burn::optim::LionConfig::new().with_beta_1(1.5))
        .err()
        .unwrap();
    assert_eq!((err.field, err.value), ("beta_1", 1.5));
}

/// A cautious step on a gradient with NaN or ±∞ leaves parameter and state as they were, on the
/// fused kernels (which check finiteness in their counting pass) and on the generic path,
/// also when there is no state yet.
#[test]
fn cautious_skips_non_finite_gradients() {
    let device = Device::default();
    fn check<O: Optimizer>(name: &str, c: Cautious<O>, device: &Device)
    where
        O::State<1>: Clone,
    {
        let bad_grad = |bad: f32| Tensor::<1>::from_floats([0.2, bad, -0.4], device);
        let x = Tensor::<1>::from_floats([1.0, -2.0, 3.0], device);
        let before = c.skip_counter().skipped();
        let (x0, none) = c.step(1e-2, x.clone(), bad_grad(f32::NAN), None);
        assert_eq!(
            vec1(&x0),
            vec1(&x),
            "{name}: parameter changed on a fresh state"
        );
        assert!(none.is_none(), "{name}: a skipped first step made a state");
        let (x1, state) = c.step(1e-2, x, bad_grad(0.3), None);
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let (x2, s2) = c.step(1e-2, x1.clone(), bad_grad(bad), state.clone());
            assert_eq!(vec1(&x2), vec1(&x1), "{name}: parameter changed");
            // Same state: the next good step gives the same parameter as from the saved state.
            let good = bad_grad(-0.1);
            let (a, _) = c.step(1e-2, x2, good.clone(), s2);
            let (b, _) = c.step(1e-2, x1.clone(), good, state.clone());
            assert_eq!(vec1(&a), vec1(&b), "{name}: state changed");
        }
        assert_eq!(c.skip_counter().skipped() - before, 4, "{name}");
    }
    for path in [StepPath::Auto, StepPath::TensorOps] {
        let config = CautiousConfig::new().with_weight_decay(0.1);
        check(
            "C-AMSGrad",
            config
                .build(AmsGradConfig::new().build())
                .with_step_path(path),
            &device,
        );
        let lion = config
            .try_build_lion(&burn::optim::LionConfig::new())
            .unwrap();
        check("C-Lion", lion.with_step_path(path), &device);
        // Not one of the fused kernels: Burn's Adam inside.
        let adam = config.build(AdamConfig::new().build());
        check("C-Adam", adam.with_step_path(path), &device);
    }
}

/// On tensors long enough to split across threads, a NaN or ±∞ in the last chunk still leaves
/// parameter and state exactly as they were, though earlier chunks were checked first.
#[test]
fn a_bad_entry_in_the_last_parallel_chunk_skips_the_whole_step() {
    let device = Device::default();
    // Three chunks of host_step::PARALLEL_MIN_LEN (32,768) and a short tail.
    let n = 3 * 32_768 + 5;
    let x0 = Tensor::<1>::from_floats(noise(n, 41).as_slice(), &device);
    let good = || Tensor::<1>::from_floats(noise(n, 42).as_slice(), &device);
    let bad = |value: f32| {
        let mut g = noise(n, 43);
        g[n - 2] = value;
        Tensor::<1>::from_floats(g.as_slice(), &device)
    };
    for (name, optimizer, lr) in optimizers() {
        let (x1, s1) = optimizer.step(lr, x0.clone(), good(), None);
        let s1 = s1.unwrap();
        for value in [f32::NAN, f32::NEG_INFINITY] {
            let (x2, s2) = optimizer.step(lr, x1.clone(), bad(value), Some(s1.clone()));
            let s2 = s2.unwrap();
            assert_eq!(vec1(&x2), vec1(&x1), "{name}: parameter changed");
            assert_eq!(vec1(&s2.moment_1), vec1(&s1.moment_1), "{name}: m changed");
            assert_eq!(vec1(&s2.moment_2), vec1(&s1.moment_2), "{name}: v changed");
            assert_eq!(s2.step, s1.step, "{name}: step counted");
        }
    }
    let lion = CautiousConfig::new()
        .with_weight_decay(0.1)
        .try_build_lion(&burn::optim::LionConfig::new())
        .unwrap();
    let (x1, s1) = lion.step(1e-2, x0.clone(), good(), None);
    let s1 = s1.unwrap();
    let (x2, s2) = lion.step(1e-2, x1.clone(), bad(f32::INFINITY), Some(s1.clone()));
    assert_eq!(vec1(&x2), vec1(&x1), "C-Lion: parameter changed");
    assert_eq!(
        vec1(&s2.unwrap().momentum),
        vec1(&s1.momentum),
        "C-Lion: momentum changed"
    );
}

/// C-Lion's fused kernel on tensors split across threads equals the generic path (Burn's Lion
/// step, then the mask), step after step, also with a small tensor stepped in between.
#[test]
fn cautious_lion_fused_kernel_matches_the_generic_path_on_large_tensors() {
    let device = Device::default();
    let n = 100_000;
    let build = |path: StepPath| {
        CautiousConfig::new()
            .with_weight_decay(0.1)
            .try_build_lion(&burn::optim::LionConfig::new())
            .unwrap()
            .with_step_path(path)
    };
    let run = |path: StepPath| {
        let lion = build(path);
        let mut x = Tensor::<1>::from_floats(noise(n, 51).as_slice(), &device);
        let mut state = None;
        for k in 0..4 {
            let g = Tensor::<1>::from_floats(noise(n, 60 + k).as_slice(), &device);
            (x, state) = lion.step(3e-3, x, g, state);
            let small = Tensor::<1>::from_floats(noise(7, 70 + k).as_slice(), &device);
            let _ = lion.step(3e-3, small.clone(), small, None);
        }
        (vec1(&x), vec1(&state.unwrap().momentum))
    };
    let (fused, generic) = (run(StepPath::Auto), run(StepPath::TensorOps));
    for (a, b) in fused.0.iter().zip(&generic.0) {
        assert!(
            (a - b).abs() < 1e-6,
            "C-Lion parameter: fused {a} vs generic {b}"
        );
    }
    for (a, b) in fused.1.iter().zip(&generic.1) {
        assert!(
            (a - b).abs() < 1e-7,
            "C-Lion momentum: fused {a} vs generic {b}"
        );
    }
}

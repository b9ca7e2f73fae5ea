//! Golden trajectories of the multi-pass optimizers on the quadratics QUAD and QUAD_C
//! (float64 transcriptions of the official code, printed by `tests/reference/gam.py`,
//! `entropy_sgd.py` and `opt_amsgrad.py`; `docs/references.md` lists the sources), a SAM case
//! derived here, evaluation counts and exact resume from saved state.

use std::cell::Cell;

use burn::module::{Module, Param};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Device, Tensor};
use tempering_optim::{
    ClosureOptimizer, EntropySgdConfig, EntropySgdSemantics, GamConfig, OptAmsGrad,
    OptAmsGradConfig, OptAmsGradPrediction, SamConfig, StateRecord,
};

/// A module that is just a point in the plane.
#[derive(Module, Debug)]
struct Point {
    x: Param<Tensor<1>>,
}

fn point(x: [f32; 2], device: &Device) -> Point {
    Point {
        x: Param::from_tensor(Tensor::from_floats(x, device)),
    }
}

fn coords(p: &Point) -> Vec<f32> {
    p.x.val().into_data().try_to_vec().unwrap()
}

/// QUAD (`c = 0`) or QUAD_C: `f(x) = ½ Σ aᵢ (xᵢ - cᵢ)²` with `a = [1, 10]`; counts evaluations.
fn quadratic(c: [f32; 2], calls: &Cell<usize>) -> impl FnMut(Point) -> (f64, GradientsParams) {
    move |p: Point| {
        calls.set(calls.get() + 1);
        let device = p.x.val().device();
        let a = Tensor::<1>::from_floats([1.0, 10.0], &device);
        let c = Tensor::<1>::from_floats(c, &device);
        let loss = ((p.x.val() - c).square() * a).sum().mul_scalar(0.5);
        let grads = GradientsParams::from_grads(loss.backward(), &p);
        (loss.into_scalar::<f64>(), grads)
    }
}

fn assert_close(name: &str, step: usize, got: &[f32], want: [f64; 2], tol: f64) {
    for (g, w) in got.iter().zip(want) {
        assert!(
            (*g as f64 - w).abs() < tol,
            "{name} step {step}: got {got:?}, reference {want:?}"
        );
    }
}

fn sgd_momentum() -> burn::optim::Sgd {
    // PyTorch's SGD(momentum=0.9): no dampening, the buffer starts as the first gradient.
    SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_dampening(0.0)))
        .build()
}

/// Reference: GAM on QUAD with base SGD lr 0.1, momentum 0.9, the official CIFAR-100 ResNet
/// constants; iterates printed by `tests/reference/gam.py`.
#[test]
fn gam_follows_the_reference_on_quad() {
    let device = Device::default().autodiff();
    let calls = Cell::new(0);
    let mut gam = GamConfig::new().build(sgd_momentum());
    let mut p = point([1.0, 1.0], &device);
    let reference = [
        [0.8998603887, -0.0999202207],
        [0.7184660656, -0.8934645849],
        [0.4832524010, -0.6142410950],
    ];
    for (t, want) in reference.into_iter().enumerate() {
        (p, _) = gam.step(0.1, p, quadratic([0.0, 0.0], &calls));
        assert_close("GAM", t + 1, &coords(&p), want, 1e-5);
    }
    assert_eq!(calls.get(), 3 * gam.evaluations_per_step());
    assert_eq!(gam.evaluations_per_step(), 4);
}

/// Reference: Entropy-SGD's Python port (`python/optim.py`) on QUAD, lr 0.1, momentum 0.9
/// Nesterov, L 3, γ 0.03, no noise, with its quirks (frozen scoping, momentum seeded with the
/// first gradient); iterates printed by `tests/reference/entropy_sgd.py`.
#[test]
fn entropy_sgd_python_port_follows_the_reference_on_quad() {
    let device = Device::default().autodiff();
    let calls = Cell::new(0);
    let mut esgd = EntropySgdConfig::new()
        .with_langevin_steps(3)
        .with_gamma(0.03)
        .with_noise(0.0)
        .with_reference_quirks()
        .build();
    let mut p = point([1.0, 1.0], &device);
    let reference = [
        [0.8669368265, 0.0562104502],
        [0.7267059912, -0.7373465181],
        [0.5840435847, -1.3493362500],
    ];
    for (t, want) in reference.into_iter().enumerate() {
        (p, _) = esgd.step(0.1, p, quadratic([0.0, 0.0], &calls));
        assert_close("Entropy-SGD", t + 1, &coords(&p), want, 1e-5);
    }
    assert_eq!(calls.get(), 3 * 4);
    assert_eq!(esgd.state().step, 0, "the reference never counts steps");
}

/// `(lr, Langevin steps, scoping, weight decay, three iterates)`.
type LuaCase = (f64, usize, f64, f64, [[f64; 2]; 3]);

/// Entropy-SGD with the default, Lua semantics (`entropyoptim.lua`) from [1, 1] on QUAD, no
/// noise, momentum 0.9 Nesterov, L 3, γ 0.03, against the iterates `tests/reference/entropy_sgd.py`
/// prints for the same settings: `(lr, L, scoping, weight decay)` and three steps.
#[test]
fn entropy_sgd_lua_follows_the_reference_on_quad() {
    let cases: [LuaCase; 3] = [
        // Scoping and weight decay exercise the exponent t + 1 and the inner placement of wd.
        (
            0.1,
            3,
            0.1,
            0.01,
            [
                [0.9725144612, 0.9295887909],
                [0.9457901778, 0.8641406730],
                [0.9198064705, 0.8033059226],
            ],
        ),
        // lr 1, the paper's first epochs: x moves to μ.
        (
            1.0,
            3,
            0.0,
            0.0,
            [
                [0.7259832975, 0.2958444750],
                [0.5270517482, 0.0875239534],
                [0.3826307661, 0.0258934780],
            ],
        ),
        // L 0: Nesterov SGD, the buffer seeded with the first gradient (the Lua code's SGD).
        (
            0.1,
            0,
            0.0,
            0.01,
            [
                [0.8081000000, -0.9019000000],
                [0.5712156100, 0.0026136100],
                [0.3218596734, -0.0008166759],
            ],
        ),
    ];
    let device = Device::default().autodiff();
    for (lr, langevin, scoping, decay, reference) in cases {
        let calls = Cell::new(0);
        let mut esgd = EntropySgdConfig::new()
            .with_langevin_steps(langevin)
            .with_gamma(0.03)
            .with_scoping(scoping)
            .with_weight_decay(decay)
            .with_noise(0.0)
            .build();
        let mut p = point([1.0, 1.0], &device);
        for (t, want) in reference.into_iter().enumerate() {
            (p, _) = esgd.step(lr, p, quadratic([0.0, 0.0], &calls));
            let name = format!("Entropy-SGD (Lua, lr {lr}, L {langevin})");
            assert_close(&name, t + 1, &coords(&p), want, 1e-5);
        }
        assert_eq!(calls.get(), 3 * (1 + langevin));
        assert_eq!(esgd.state().step, 3);
    }
}

/// OPT-AMSGrad's stored prediction (the point `q`, or the paper variant's predicted gradient),
/// zeros before the first step.
fn predicted(opt: &OptAmsGrad) -> Vec<f32> {
    opt.state().map_or(vec![0.0; 2], |s| {
        s.predicted.clone().into_data().try_to_vec().unwrap()
    })
}

/// Reference: OPT-AMSGrad on QUAD_C, lr 0.1, span 2, λ 10⁻³; `q = 0` until two offsets are
/// stored, so the first extrapolated point is computed in step 3 and used in step 4. Numbers
/// from `tests/reference/opt_amsgrad.py` (`official_step`, a transcription of the official
/// `Optadam_torch.py`).
#[test]
fn opt_amsgrad_follows_the_reference_on_quad_c() {
    let device = Device::default().autodiff();
    let calls = Cell::new(0);
    let mut opt = OptAmsGradConfig::new().with_span(2).build();
    let mut p = point([1.0, 1.0], &device);
    let reference = [
        [1.0, 0.8400000051],
        [0.9026316054, 0.6545565304],
        [0.8385642597, 0.5015027188],
        [0.7457076063, 0.3183605197],
    ];
    for (t, want) in reference.into_iter().enumerate() {
        if t == 3 {
            let q = predicted(&opt);
            assert_close(
                "OPT-AMSGrad q",
                t + 1,
                &q,
                [0.9760562645, 0.7943978410],
                1e-5,
            );
        } else {
            let q = predicted(&opt);
            assert_eq!(
                q,
                vec![0.0; 2],
                "q = 0 before the history fills (step {})",
                t + 1
            );
        }
        (p, _) = opt.step(0.1, p, quadratic([0.5, -0.3], &calls));
        assert_close("OPT-AMSGrad", t + 1, &coords(&p), want, 1e-5);
    }
    assert_eq!(calls.get(), 4 * opt.evaluations_per_step());
}

/// Reference: OPT-AMSGrad with the paper's prediction (RMPE over the last span + 1 gradients,
/// one evaluation per step) on QUAD_C, lr 0.1, span 2, λ 10⁻³; `m = 0` until three gradients
/// are stored, so the first extrapolated gradient is computed in step 3 and used in step 4.
/// Numbers from `tests/reference/opt_amsgrad.py` (`paper_step`).
#[test]
fn opt_amsgrad_paper_prediction_follows_its_transcription_on_quad_c() {
    let device = Device::default().autodiff();
    let calls = Cell::new(0);
    let mut opt = OptAmsGradConfig::new()
        .with_span(2)
        .with_prediction(OptAmsGradPrediction::Gradients)
        .build();
    assert_eq!(opt.evaluations_per_step(), 1);
    let mut p = point([1.0, 1.0], &device);
    let reference = [
        [0.9000000632, 0.9000000024],
        [0.7488750169, 0.7510634973],
        [0.5703165795, 0.5884795983],
        [0.4729345036, 0.4506100210],
        [0.6217258806, 0.4548477385],
    ];
    let predictions = [
        [0.0, 0.0],
        [0.0, 0.0],
        [0.7021685888, 15.0216871178],
        [1.8591366648, 26.3800588721],
        [-0.8206650789, 0.7720865509],
    ];
    for (t, (want, m)) in reference.into_iter().zip(predictions).enumerate() {
        (p, _) = opt.step(0.1, p, quadratic([0.5, -0.3], &calls));
        assert_close("OPT-AMSGrad (paper)", t + 1, &coords(&p), want, 1e-5);
        let got = predicted(&opt);
        // The extrapolation weights reach ±10 on gradients of size 10 (the script prints
        // c = [10.66, -9.66] in step 4), which amplifies the f32 rounding of the stored
        // gradients about a hundredfold: 2·10⁻⁴.
        assert_close("OPT-AMSGrad m", t + 2, &got, m, 2e-4);
    }
    assert_eq!(calls.get(), 5);
}

/// The Python port without its quirks counts steps (scoping active) and starts the outer
/// momentum at zero, so its first step is the exact port's minus the seeded term `lr·mom²·g₀`
/// (Nesterov adds `mom·buffer`, and the seeded buffer carries `mom·g₀` more).
#[test]
fn entropy_sgd_corrected_port_differs_from_the_port_as_documented() {
    let device = Device::default().autodiff();
    let calls = Cell::new(0);
    let config = EntropySgdConfig::new()
        .with_semantics(EntropySgdSemantics::PythonPort)
        .with_langevin_steps(3)
        .with_gamma(0.03)
        .with_noise(0.0);
    let mut corrected = config.build();
    let mut reference = config.clone().with_reference_quirks().build();
    let (a, _) = corrected.step(0.1, point([1.0, 1.0], &device), quadratic([0.0; 2], &calls));
    let (b, _) = reference.step(0.1, point([1.0, 1.0], &device), quadratic([0.0; 2], &calls));
    let g0 = [1.0, 10.0]; // ∇f at x0 = [1, 1]
    for ((a, b), g) in coords(&a).iter().zip(coords(&b)).zip(g0) {
        let seeded = 0.1 * 0.9 * 0.9 * g;
        assert!(
            ((a - b) as f64 - seeded).abs() < 1e-5,
            "{a} - {b} vs {seeded}"
        );
    }
    assert_eq!(corrected.state().step, 1);
}

/// SAM on QUAD, ρ 0.05, base SGD lr 0.1 without momentum. Derivation (float64, here): the
/// ascent point is `w + ρ·g/‖g‖` with `g = a⊙w`, and SGD steps from `w` with the gradient
/// there, `a⊙(w + ρ·g/‖g‖)`.
#[test]
fn sam_matches_its_derivation_on_quad() {
    let device = Device::default().autodiff();
    let calls = Cell::new(0);
    let mut sam = SamConfig::new().build(SgdConfig::new().build());
    let mut p = point([1.0, 1.0], &device);
    let (a, rho, lr) = ([1.0f64, 10.0], 0.05, 0.1);
    let mut w = [1.0f64, 1.0];
    for t in 1..=3 {
        let g = [a[0] * w[0], a[1] * w[1]];
        let n = (g[0] * g[0] + g[1] * g[1]).sqrt();
        let g1 = [0, 1].map(|i| a[i] * (w[i] + rho * g[i] / n));
        w = [0, 1].map(|i| w[i] - lr * g1[i]);
        (p, _) = sam.step(lr, p, quadratic([0.0; 2], &calls));
        assert_close("SAM", t, &coords(&p), w, 1e-6);
    }
    // Step 1 by hand: ‖g‖ = √101, so x₁ = [1 - 0.1·(1 + 0.05/√101), 1 - 0.1·10·(1 + 0.5/√101)].
    assert_eq!(calls.get(), 6);
}

/// Saving after two steps and loading into a fresh optimizer gives the same third step.
#[test]
fn multi_pass_optimizers_resume_exactly() {
    let device = Device::default().autodiff();
    let calls = Cell::new(0);
    fn check<O: ClosureOptimizer>(
        name: &str,
        make: impl Fn() -> O,
        device: &Device,
        calls: &Cell<usize>,
    ) {
        let mut first = make();
        let mut p = point([1.0, 1.0], device);
        for _ in 0..2 {
            (p, _) = first.step(0.1, p, quadratic([0.5, -0.3], calls));
        }
        let bytes = first.to_record().into_bytes().unwrap();
        let record = StateRecord::from_bytes(bytes).unwrap();
        assert!(!record.is_empty(), "{name}: empty state");
        let mut resumed = make();
        resumed.load_record(record);
        let start = coords(&p);
        let (a, _) = first.step(
            0.1,
            point([start[0], start[1]], device),
            quadratic([0.5, -0.3], calls),
        );
        let (b, _) = resumed.step(
            0.1,
            point([start[0], start[1]], device),
            quadratic([0.5, -0.3], calls),
        );
        assert_eq!(coords(&a), coords(&b), "{name}");
        // And differs from a fresh optimizer (the state matters).
        let (c, _) = make().step(
            0.1,
            point([start[0], start[1]], device),
            quadratic([0.5, -0.3], calls),
        );
        assert_ne!(coords(&a), coords(&c), "{name}: state had no effect");
    }
    check(
        "GAM",
        || GamConfig::new().build(sgd_momentum()),
        &device,
        &calls,
    );
    check(
        "SAM",
        || SamConfig::new().build(sgd_momentum()),
        &device,
        &calls,
    );
    check(
        "OPT-AMSGrad",
        || OptAmsGradConfig::new().with_span(1).build(),
        &device,
        &calls,
    );
    check(
        "OPT-AMSGrad (paper)",
        || {
            // Span 1: two steps fill the gradient history the third step extrapolates from.
            OptAmsGradConfig::new()
                .with_span(1)
                .with_prediction(OptAmsGradPrediction::Gradients)
                .build()
        },
        &device,
        &calls,
    );
    check(
        "Entropy-SGD",
        || {
            // Under the Lua semantics the state that moves x is the step count, through the
            // scoping: made large enough here to show in f32.
            EntropySgdConfig::new()
                .with_langevin_steps(2)
                .with_gamma(0.03)
                .with_scoping(0.5)
                .with_noise(0.0)
                .build()
        },
        &device,
        &calls,
    );
    check(
        "Entropy-SGD (Python port)",
        || {
            EntropySgdConfig::new()
                .with_semantics(EntropySgdSemantics::PythonPort)
                .with_langevin_steps(2)
                .with_noise(0.0)
                .build()
        },
        &device,
        &calls,
    );
}

/// Bad hyperparameters name their field.
#[test]
fn multi_pass_configs_name_the_bad_field() {
    let err = GamConfig::new()
        .with_rho(0.0)
        .try_build(sgd_momentum())
        .err()
        .unwrap();
    assert_eq!(err.field, "rho");
    let err = SamConfig::new()
        .with_rho(-1.0)
        .try_build(sgd_momentum())
        .err()
        .unwrap();
    assert_eq!(err.field, "rho");
    let err = EntropySgdConfig::new()
        .with_momentum(1.5)
        .try_build()
        .err()
        .unwrap();
    assert_eq!(err.field, "momentum");
    let err = OptAmsGradConfig::new()
        .with_span(0)
        .try_build()
        .err()
        .unwrap();
    assert_eq!(err.field, "span");
    let err = OptAmsGradConfig::new()
        .with_beta_2(1.0)
        .try_build()
        .err()
        .unwrap();
    assert_eq!(err.field, "beta_2");
}

/// A NaN loss surface: the step is skipped and the parameters come back unchanged.
#[test]
fn non_finite_gradients_skip_the_step() {
    let device = Device::default().autodiff();
    let nan_closure = |p: Point| {
        let loss = p.x.val().sqrt().sum(); // √ of a negative coordinate: NaN gradient
        let grads = GradientsParams::from_grads(loss.backward(), &p);
        (loss.into_scalar::<f64>(), grads)
    };
    let start = [-1.0, 4.0];
    let mut gam = GamConfig::new().build(sgd_momentum());
    let (p, _) = gam.step(0.1, point(start, &device), nan_closure);
    assert_eq!(coords(&p), start.to_vec());
    assert_eq!(gam.skip_counter().skipped(), 1);
    let mut esgd = EntropySgdConfig::new().with_langevin_steps(2).build();
    let (p, _) = esgd.step(0.1, point(start, &device), nan_closure);
    assert_eq!(coords(&p), start.to_vec());
    let mut sam = SamConfig::new().build(sgd_momentum());
    let (p, _) = sam.step(0.1, point(start, &device), nan_closure);
    assert_eq!(coords(&p), start.to_vec());
    let mut opt = OptAmsGradConfig::new().build();
    let (p, _) = opt.step(0.1, point(start, &device), nan_closure);
    assert_eq!(coords(&p), start.to_vec());
    assert!(
        opt.state().is_none(),
        "a skipped first step leaves no state"
    );
    assert_eq!(opt.skip_counter().skipped(), 1);
}

/// Entropy-SGD whose first evaluation is finite but whose Langevin evaluations are not: the
/// step is skipped at the end and leaves both the parameters and the saved state as they were.
#[test]
fn entropy_sgd_skip_after_the_inner_loop_keeps_the_state() {
    let device = Device::default().autodiff();
    let calls = Cell::new(0);
    let mut esgd = EntropySgdConfig::new()
        .with_langevin_steps(2)
        .with_noise(0.0)
        .build();
    let (p, _) = esgd.step(0.1, point([1.0, 1.0], &device), quadratic([0.0; 2], &calls));
    let saved = esgd.state().clone();
    let start = coords(&p);
    let evaluations = Cell::new(0);
    // The first call of a step is finite; every later one is NaN.
    let nan_after_first = |p: Point| {
        evaluations.set(evaluations.get() + 1);
        let scale = if evaluations.get() == 1 {
            1.0
        } else {
            f32::NAN
        };
        let loss = p.x.val().square().sum().mul_scalar(scale);
        let grads = GradientsParams::from_grads(loss.backward(), &p);
        (loss.into_scalar::<f64>(), grads)
    };
    let (p, _) = esgd.step(0.1, p, nan_after_first);
    assert_eq!(evaluations.get(), 3, "the inner loop ran");
    assert_eq!(coords(&p), start);
    assert_eq!(esgd.skip_counter().skipped(), 1);
    assert_eq!(esgd.state().step, saved.step);
    let momentum = |s: &tempering_optim::EntropySgdState| -> Vec<f32> {
        s.momentum
            .clone()
            .unwrap()
            .into_data()
            .try_to_vec()
            .unwrap()
    };
    assert_eq!(momentum(esgd.state()), momentum(&saved), "momentum changed");
}

//! Golden trajectories: every expected number below was computed in float64 by a line-by-line
//! transcription of the official implementation named in each test, kept in
//! `tests/reference/adaptive.py`, which prints them all (`docs/references.md` lists the
//! sources). We run in f32 and compare with an absolute
//! tolerance of 1e-5 (the reference file's advice), on both the fused host path and the
//! tensor-operation path.
//!
//! Problem FIXED: x0 = [1, -2, 3]; gradients ignore x: g1 = [0.5, -0.25, 0],
//! g2 = [-0.1, 0.5, -2], g3 = [0.3, 0, 1].

use burn::optim::{LionConfig, Optimizer};
use burn::tensor::{Device, Tensor};
use tempering_optim::{
    AdaBoundConfig, AdaptiveOptimizer, AmsGradConfig, AmsGradConvention, CautiousConfig,
    CautiousNormalization, GramsConfig, PAdamConfig, StepPath,
};

const X0: [f32; 3] = [1.0, -2.0, 3.0];
const GRADS: [[f32; 3]; 3] = [[0.5, -0.25, 0.0], [-0.1, 0.5, -2.0], [0.3, 0.0, 1.0]];
const TOLERANCE: f32 = 1e-5;

/// Runs the three FIXED steps and returns x after each.
fn trajectory<O: Optimizer>(optimizer: &O, lr: f64) -> Vec<[f32; 3]> {
    let device = Device::default();
    let mut x = Tensor::<1>::from_floats(X0, &device);
    let mut state = None;
    GRADS
        .iter()
        .map(|g| {
            let grad = Tensor::<1>::from_floats(*g, &device);
            let (next, next_state) = optimizer.step(lr, x.clone(), grad, state.take());
            x = next;
            state = next_state;
            let v: Vec<f32> = x.clone().into_data().try_to_vec().unwrap();
            [v[0], v[1], v[2]]
        })
        .collect()
}

/// Checks the listed steps (1-based) on both step paths.
fn check(name: &str, optimizer: AdaptiveOptimizer, lr: f64, expected: &[(usize, [f64; 3])]) {
    check_paths(
        name,
        |path| optimizer.clone().with_step_path(path),
        lr,
        expected,
    );
}

/// Checks the listed steps of the optimizer `make` builds for each step path.
fn check_paths<O: Optimizer>(
    name: &str,
    make: impl Fn(StepPath) -> O,
    lr: f64,
    expected: &[(usize, [f64; 3])],
) {
    for path in [StepPath::Auto, StepPath::TensorOps] {
        let got = trajectory(&make(path), lr);
        for &(step, want) in expected {
            for i in 0..3 {
                let diff = (got[step - 1][i] as f64 - want[i]).abs();
                assert!(
                    diff <= TOLERANCE as f64,
                    "{name} ({path:?}) step {step} coord {i}: got {}, reference {}",
                    got[step - 1][i],
                    want[i]
                );
            }
        }
    }
}

/// PyTorch `Adam(amsgrad=True)` convention (also Burn's), lr 0.1, β (0.9, 0.999), ε 1e-8.
#[test]
fn amsgrad_torch_convention() {
    check(
        "AMSGrad torch",
        AmsGradConfig::new().build(),
        0.1,
        &[
            (1, [0.9000000020, -1.9000000040, 3.0]),
            (2, [0.8488973957, -1.9366103558, 3.0744136818]),
            (3, [0.7824417742, -1.9648961102, 3.0972777192]),
        ],
    );
}

/// optax `amsgrad` convention.
#[test]
fn amsgrad_optax_convention() {
    check(
        "AMSGrad optax",
        AmsGradConfig::new()
            .with_convention(AmsGradConvention::Optax)
            .build(),
        0.1,
        &[
            (2, [0.8631578975, -1.9366103558, 3.0744136818]),
            (3, [0.8177704445, -1.9597113527, 3.0952824635]),
        ],
    );
}

/// Reddi et al. Algorithm 2 (no bias corrections; the reference numbers carry ε = 1e-8).
#[test]
fn amsgrad_paper_convention() {
    check(
        "AMSGrad paper",
        AmsGradConfig::new()
            .with_convention(AmsGradConvention::Paper)
            .build(),
        0.1,
        &[
            (1, [0.6837724340, -1.6837726340, 3.0]),
            (3, [0.1376365515, -1.9793726628, 3.4294100670]),
        ],
    );
}

/// AdamW + AMSGrad (PyTorch `AdamW(amsgrad=True)`), decoupled weight decay 0.1.
#[test]
fn adamw_amsgrad() {
    check(
        "AdamW + AMSGrad",
        AmsGradConfig::new()
            .with_weight_decay(0.1)
            .with_decoupled_weight_decay(true)
            .build(),
        0.1,
        &[(3, [0.7552418002, -1.9071180066, 3.0074305824])],
    );
}

/// Luolc/AdaBound, AMSBound variant: lr 0.01, final_lr 0.1, γ 0.1.
#[test]
fn amsbound() {
    check(
        "AMSBound",
        AdaBoundConfig::new()
            .with_base_lr(0.01)
            .with_gamma(0.1)
            .with_amsbound(true)
            .build(),
        0.01,
        &[
            (1, [0.9900000063, -1.9900000126, 3.0]),
            (2, [0.9848897487, -1.9936610458, 3.0074413671]),
            (3, [0.9782441899, -1.9964896198, 3.0097277705]),
        ],
    );
}

/// Luolc/AdaBound, plain AdaBound: same settings.
#[test]
fn adabound() {
    check(
        "AdaBound",
        AdaBoundConfig::new()
            .with_base_lr(0.01)
            .with_gamma(0.1)
            .build(),
        0.01,
        &[(3, [0.9782441899, -1.9964910351, 3.0097277705])],
    );
}

/// uclaml/Padam: lr 0.1, p 0.25, AMSGrad on.
#[test]
fn padam() {
    check(
        "PAdam",
        PAdamConfig::new().build(),
        0.1,
        &[
            (1, [0.9874256697, -1.9911086086, 3.0]),
            (2, [0.9809381033, -1.9959759810, 3.0187140489]),
            (3, [0.9718517339, -1.9997365923, 3.0247927180]),
        ],
    );
}

/// Official Grams (Gunale0926/Grams): lr 0.1, weight decay 0.1, ε 1e-6.
#[test]
fn grams() {
    check(
        "Grams",
        GramsConfig::new().with_weight_decay(0.1).build(),
        0.1,
        &[
            (1, [0.8900063242, -1.8800126475, 2.97]),
            (2, [0.9322056981, -1.8978208027, 3.0147125058]),
            (3, [0.8564315722, -1.8788425946, 2.9617016666]),
        ],
    );
}

/// The running maximum after three torch-convention steps: vmax3 from the reference file.
#[test]
fn amsgrad_torch_vmax_state() {
    let device = Device::default();
    let optimizer = AmsGradConfig::new().build();
    let mut x = Tensor::<1>::from_floats(X0, &device);
    let mut state = None;
    for g in GRADS {
        let (next, s) = optimizer.step(0.1, x, Tensor::from_floats(g, &device), state);
        x = next;
        state = s;
    }
    let vmax: Vec<f32> = state
        .unwrap()
        .max_moment_2
        .unwrap()
        .into_data()
        .try_to_vec()
        .unwrap();
    // Relative tolerance 1e-4: β₂ = 0.999 is not exact in f32, so 1-β₂ is off by 1.3e-5
    // relative (Burn's Adam has the same), and the state is small.
    for (got, want) in vmax.iter().zip([0.0003494903f32, 0.0003124375, 0.004996]) {
        assert!(
            (got - want).abs() <= 1e-4 * want,
            "vmax {got} vs reference {want}"
        );
    }
}

/// kyleliang919/C-Optim `c_lion.py`: lr 0.1, β (0.9, 0.99), decoupled weight decay 0.1,
/// normalization n/(Σmask + 1). Burn's Lion inside, without decay (the wrapper decays).
#[test]
fn cautious_lion() {
    check_paths(
        "C-Lion",
        |path| {
            CautiousConfig::new()
                .with_weight_decay(0.1)
                .with_normalization(CautiousNormalization::CountPlusOne)
                .build(LionConfig::new().build())
                .with_step_path(path)
        },
        0.1,
        &[
            (1, [0.89, -1.88, 2.97]),
            (2, [0.9561, -1.9362, 3.0153]),
            (3, [0.846539, -1.916838, 2.885147]),
        ],
    );
}

/// The same C-Lion trajectory through `try_build_lion` (fused two-pass kernel on host devices,
/// Burn's Lion for the tensor path).
#[test]
fn cautious_lion_fused_kernel() {
    check_paths(
        "C-Lion (build_lion)",
        |path| {
            CautiousConfig::new()
                .with_weight_decay(0.1)
                .with_normalization(CautiousNormalization::CountPlusOne)
                .try_build_lion(&LionConfig::new())
                .unwrap()
                .with_step_path(path)
        },
        0.1,
        &[
            (1, [0.89, -1.88, 2.97]),
            (2, [0.9561, -1.9362, 3.0153]),
            (3, [0.846539, -1.916838, 2.885147]),
        ],
    );
}

/// kyleliang919/C-Optim `c_adamw.py` with AMSGrad: lr 0.1, β (0.9, 0.999), ε 1e-8, decoupled
/// weight decay 0.1, normalization mask/max(mean(mask), 1e-3).
#[test]
fn cautious_adamw_amsgrad() {
    check_paths(
        "C-AdamW + AMSGrad",
        |path| {
            CautiousConfig::new()
                .with_weight_decay(0.1)
                .build(AmsGradConfig::new().build().with_step_path(path))
                .with_step_path(path)
        },
        0.1,
        &[
            (1, [0.8400000030, -1.8300000060, 2.97]),
            (2, [0.8316000030, -1.8666155336, 3.0519205227]),
            (3, [0.6239171384, -1.8479493783, 3.0214013175]),
        ],
    );
}

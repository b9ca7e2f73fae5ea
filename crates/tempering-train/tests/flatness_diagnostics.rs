//! Flatness diagnostics on quadratics whose answers are known in closed form.

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use tempering_optim::multi_pass::flat::flatten_params;
use tempering_train::flatness::{
    FirstOrderFlatnessConfig, FlatnessError, PowerIterationConfig, evenly_spaced,
    first_order_flatness, loss_along_line, top_hessian_eigenvalue,
};

#[derive(Module, Debug)]
struct Point {
    x: Param<Tensor<1>>,
}

fn point(x: &[f32], device: &Device) -> Point {
    Point {
        x: Param::from_tensor(Tensor::from_floats(x, device)),
    }
}

/// `f(x) = ½ Σ aᵢ xᵢ²`: Hessian `diag(a)`, gradient `a ⊙ x`.
fn quadratic(a: Vec<f32>) -> impl FnMut(Point) -> (f64, GradientsParams) {
    move |p: Point| {
        let device = p.x.val().device();
        let a = Tensor::<1>::from_floats(a.as_slice(), &device);
        let loss = (p.x.val().square() * a).sum().mul_scalar(0.5);
        let grads = GradientsParams::from_grads(loss.backward(), &p);
        (loss.into_scalar::<f64>(), grads)
    }
}

/// QUAD of the reference file (`a = [1, 10]`): the top eigenvalue is 10.
#[test]
fn power_iteration_finds_the_top_eigenvalue_of_quad() {
    let device = Device::default().autodiff();
    let p = point(&[1.0, 1.0], &device);
    let top = top_hessian_eigenvalue(&p, quadratic(vec![1.0, 10.0]), &PowerIterationConfig::new())
        .unwrap();
    assert!((top.eigenvalue - 10.0).abs() < 1e-2, "{top:?}");
    assert!(top.converged, "{top:?}");
    assert_eq!(top.evaluations, 2 * top.iterations);
}

/// A saddle: Hessian `diag(-20, 1, 5)`. Plain power iteration converges to −20 (largest
/// magnitude); the shifted second run must recover the largest eigenvalue, 5.
#[test]
fn power_iteration_reports_the_largest_eigenvalue_at_a_saddle() {
    let device = Device::default().autodiff();
    let p = point(&[0.3, -0.2, 0.1], &device);
    let config = PowerIterationConfig::new()
        .with_max_iterations(300)
        .with_tolerance(1e-7);
    let top = top_hessian_eigenvalue(&p, quadratic(vec![-20.0, 1.0, 5.0]), &config).unwrap();
    assert!((top.eigenvalue - 5.0).abs() < 1e-2, "{top:?}");
    let negative = top.dominant_negative.expect("−20 dominates");
    assert!((negative + 20.0).abs() < 1e-2, "{top:?}");
    assert_eq!(top.evaluations, 2 * top.iterations);
    // No negative eigenvalue dominates QUAD.
    let quad = top_hessian_eigenvalue(&p, quadratic(vec![1.0, 10.0, 2.0]), &config).unwrap();
    assert_eq!(quad.dominant_negative, None);
}

/// A wider spectrum, eigenvalues 0.5…50 over 50 coordinates, and a start away from the minimum
/// (the central difference is exact for quadratics, so the position does not matter).
#[test]
fn power_iteration_on_a_wide_spectrum() {
    let device = Device::default().autodiff();
    let a: Vec<f32> = (1..=50).map(|i| i as f32).collect();
    let x: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
    let p = point(&x, &device);
    let config = PowerIterationConfig::new()
        .with_max_iterations(200)
        .with_tolerance(1e-6);
    let top = top_hessian_eigenvalue(&p, quadratic(a), &config).unwrap();
    // The ratio 49/50 makes convergence slow; 200 iterations bring the estimate within 0.5 %.
    assert!((top.eigenvalue - 50.0).abs() < 0.25, "{top:?}");
}

/// QUAD at x = [1, 1], ρ = 0.1. GAM's one-step estimate moves along `H·ĝ ∝ [1, 100]`:
/// x' = x + 0.1·[1, 100]/‖[1, 100]‖ = [1.0009999, 1.0999950], ‖∇f(x')‖ = ‖[1.0009999,
/// 10.999950]‖ = 11.045403 (computed by hand here). The true maximum over the ball is at most
/// ‖∇f(x)‖ + ρ·λ_max = 10.049876 + 1 = 11.049876.
#[test]
fn first_order_flatness_on_quad() {
    let device = Device::default().autodiff();
    let p = point(&[1.0, 1.0], &device);
    let one_step = FirstOrderFlatnessConfig::new()
        .with_rho(0.1)
        .with_ascent_steps(1);
    let r = first_order_flatness(&p, quadratic(vec![1.0, 10.0]), &one_step).unwrap();
    assert!((r.gradient_norm - 10.049876).abs() < 1e-4, "{r:?}");
    assert!((r.max_gradient_norm - 11.045403).abs() < 1e-3, "{r:?}");
    assert!((r.flatness - 0.1 * r.max_gradient_norm).abs() < 1e-9);
    assert_eq!(r.evaluations, 3);
    let refined = FirstOrderFlatnessConfig::new().with_rho(0.1);
    let r3 = first_order_flatness(&p, quadratic(vec![1.0, 10.0]), &refined).unwrap();
    assert!(r3.max_gradient_norm >= r.max_gradient_norm - 1e-4, "{r3:?}");
    assert!(r3.max_gradient_norm <= 11.049876 + 1e-3, "{r3:?}");
}

/// QUAD from [1, 1] to the minimum [0, 0]: `f = ½·11·(1-α)²`.
#[test]
fn loss_along_the_line_to_the_minimum() {
    let device = Device::default().autodiff();
    let p = point(&[1.0, 1.0], &device);
    let start = flatten_params(&p);
    let end = start.zeros_like();
    let alphas = evenly_spaced(-0.5, 1.5, 9);
    let curve = loss_along_line(&p, &start, &end, &alphas, quadratic(vec![1.0, 10.0])).unwrap();
    assert_eq!(curve.len(), 9);
    for (alpha, loss) in curve {
        let want = 5.5 * (1.0 - alpha).powi(2);
        assert!((loss - want).abs() < 1e-4, "α {alpha}: {loss} vs {want}");
    }
    // The module itself is untouched.
    let x: Vec<f32> = p.x.val().into_data().try_to_vec().unwrap();
    assert_eq!(x, vec![1.0, 1.0]);
}

#[test]
fn diagnostics_name_their_bad_input() {
    let device = Device::default().autodiff();
    let p = point(&[1.0, 1.0], &device);
    let short = Tensor::<1>::zeros([3], &device.clone().inner());
    let err = loss_along_line(&p, &short, &short, &[0.0], quadratic(vec![1.0, 10.0])).unwrap_err();
    assert!(
        matches!(err, FlatnessError::LengthMismatch { left: 3, right: 2 }),
        "{err}"
    );
    let err = top_hessian_eigenvalue(
        &p,
        quadratic(vec![1.0, 10.0]),
        &PowerIterationConfig::new().with_max_iterations(0),
    )
    .unwrap_err();
    assert!(err.to_string().contains("max_iterations"), "{err}");
    let frozen = point(&[1.0, 1.0], &device).no_grad();
    let err = top_hessian_eigenvalue(
        &frozen,
        quadratic(vec![1.0, 10.0]),
        &PowerIterationConfig::new(),
    )
    .unwrap_err();
    assert!(matches!(err, FlatnessError::NoParameters), "{err}");
    let nan = point(&[-1.0, 1.0], &device);
    let sqrt = |p: Point| {
        let loss = p.x.val().sqrt().sum();
        let grads = GradientsParams::from_grads(loss.backward(), &p);
        (loss.into_scalar::<f64>(), grads)
    };
    let err = top_hessian_eigenvalue(&nan, sqrt, &PowerIterationConfig::new()).unwrap_err();
    assert!(err.to_string().contains("not finite"), "{err}");
}

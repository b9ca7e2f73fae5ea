//! GAM's first-order flatness, estimated by projected ascent on the gradient norm.

use burn::config::Config;
use burn::module::Module;
use burn::optim::GradientsParams;
use tempering_optim::multi_pass::flat::norm;

use super::{FlatnessError, Probe, check_positive};

/// Settings of [`first_order_flatness`].
#[derive(Config, Debug)]
pub struct FirstOrderFlatnessConfig {
    /// Radius ρ of the ball (GAM's CIFAR setting ρ' = 0.2 is the usual scale; 0.05 is SAM's).
    #[config(default = 0.05)]
    pub rho: f64,
    /// Ascent steps on `‖∇L‖` (the first is GAM's own estimate; each costs two evaluations).
    #[config(default = 3)]
    pub ascent_steps: usize,
}

/// The result of [`first_order_flatness`].
#[derive(Clone, Debug, PartialEq)]
pub struct FirstOrderFlatness {
    /// `ρ · max ‖∇L(θ')‖` over the points visited in the ball: a lower bound of GAM's
    /// first-order flatness that the ascent tightens.
    pub flatness: f64,
    /// The largest gradient norm found in the ball.
    pub max_gradient_norm: f64,
    /// The gradient norm at the centre.
    pub gradient_norm: f64,
    /// Gradient evaluations used.
    pub evaluations: usize,
}

/// GAM's first-order flatness at the module's parameters (see the [module docs](super)).
///
/// Each ascent step moves to `θ' + (ρ/K)·d/‖d‖` with `d = ∇L(θ' + ρ·ĝ) - ∇L(θ')`, the
/// finite-difference direction of `∇‖∇L‖ = H·ĝ` that GAM uses (`ĝ = ∇L(θ')/‖∇L(θ')‖`), and
/// projects back into the ball of radius ρ around θ. The closure should evaluate the same batch
/// every call.
pub fn first_order_flatness<M, F>(
    module: &M,
    closure: F,
    config: &FirstOrderFlatnessConfig,
) -> Result<FirstOrderFlatness, FlatnessError>
where
    M: Module + Clone,
    F: FnMut(M) -> (f64, GradientsParams),
{
    check_positive("rho", config.rho)?;
    let rho = config.rho;
    let mut probe = Probe::new(module, closure)?;
    let theta = probe.params();
    let (_, mut g) = probe.eval(&theta, "θ")?;
    let gradient_norm = norm(&g);
    let mut best = gradient_norm;
    let mut point = theta.clone();
    let steps = config.ascent_steps.max(1);
    for step in 1..=config.ascent_steps {
        let g_norm = norm(&g);
        if g_norm == 0.0 {
            break;
        }
        let at = format!("θ' + ρ·ĝ (ascent step {step})");
        let (_, g_probe) =
            probe.eval(&(point.clone() + g.clone().mul_scalar(rho / g_norm)), &at)?;
        let d = g_probe - g;
        let d_norm = norm(&d);
        if d_norm == 0.0 {
            break;
        }
        // The first step goes the whole radius, as GAM's; later ones refine by ρ/K.
        let length = if step == 1 { rho } else { rho / steps as f64 };
        point = point + d.mul_scalar(length / d_norm);
        let offset = point.clone() - theta.clone();
        let offset_norm = norm(&offset);
        if offset_norm > rho {
            point = theta.clone() + offset.mul_scalar(rho / offset_norm);
        }
        let (_, g_here) = probe.eval(&point, &format!("θ' (ascent step {step})"))?;
        best = best.max(norm(&g_here));
        g = g_here;
    }
    Ok(FirstOrderFlatness {
        flatness: rho * best,
        max_gradient_norm: best,
        gradient_norm,
        evaluations: probe.evaluations,
    })
}

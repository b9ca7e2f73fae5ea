//! Entropy-SGD's step as the later Python port computes it (ucla-vision/entropy-sgd
//! `python/optim.py`, `EntropySGD.step`): weight decay before the inner momentum, and the outer
//! gradient `x − μ` through weight decay and the outer Nesterov momentum.

use burn::module::Module;
use burn::optim::{GradientsParams, LearningRate};

use super::EntropySgd;
use crate::finite_guard::report_skip;
use crate::multi_pass::flat::{flatten_grads, flatten_params, load_flat_params, norm};
use crate::multi_pass::running_stats::RunningStatistics;
use crate::seeded_noise::standard_normal_tensor;

impl EntropySgd {
    pub(super) fn step_python_port<M, F>(
        &mut self,
        lr: LearningRate,
        module: M,
        mut closure: F,
    ) -> (M, f64)
    where
        M: Module + Clone,
        F: FnMut(M) -> (f64, GradientsParams),
    {
        let c = self.config.clone();
        let (loss, grads) = closure(module.clone());
        let first = flatten_grads(&module, &grads);
        if !norm(&first).is_finite() {
            report_skip(&self.skips, "Entropy-SGD", &first.dims());
            return (module, loss);
        }
        // The Langevin passes run the model at other points (in training mode): batch-norm
        // running statistics keep the values of this first evaluation, as under SAM and GAM.
        let frozen = (c.langevin_steps > 0).then(|| RunningStatistics::capture(&module));
        let x = flatten_params(&module);
        let device = x.device();
        // A copy of the handle: the saved buffer stays as it is until the step succeeds.
        let mut outer = match self.state.momentum.clone() {
            Some(buffer) => buffer.to_device(&device),
            None if c.seed_momentum_with_first_gradient => first.clone(),
            None => x.zeros_like(),
        };
        let gamma = c.gamma * (1.0 + c.scoping).powi(self.state.step as i32);
        let noise_scale = c.noise / (0.5 * c.langevin_lr).sqrt();
        let grad = if c.langevin_steps == 0 {
            first
        } else {
            let (mut w, mut mu, mut inner) = (x.clone(), x.clone(), x.zeros_like());
            for _ in 0..c.langevin_steps {
                let (_, grads) = closure(load_flat_params(module.clone(), &w));
                let mut d = flatten_grads(&module, &grads);
                if c.weight_decay > 0.0 {
                    d = d + w.clone().mul_scalar(c.weight_decay);
                }
                if c.momentum > 0.0 {
                    d = self.momentum(&mut inner, d);
                }
                d = d - (x.clone() - w.clone()).mul_scalar(gamma);
                if noise_scale > 0.0 {
                    let stream = self.state.noise_draws;
                    self.state.noise_draws += 1;
                    let eta = standard_normal_tensor(w.dims()[0], c.seed, stream, &device);
                    d = d + eta.mul_scalar(noise_scale);
                }
                w = w - d.mul_scalar(c.langevin_lr);
                mu = mu.mul_scalar(c.averaging) + w.clone().mul_scalar(1.0 - c.averaging);
            }
            x.clone() - mu
        };
        let mut d = grad;
        if c.weight_decay > 0.0 {
            d = d + x.clone().mul_scalar(c.weight_decay);
        }
        if c.momentum > 0.0 {
            d = self.momentum(&mut outer, d);
        }
        let module = match frozen {
            Some(frozen) => frozen.restore(module),
            None => module,
        };
        if !norm(&d).is_finite() {
            report_skip(&self.skips, "Entropy-SGD", &d.dims());
            return (module, loss);
        }
        let x = x - d.mul_scalar(lr);
        self.state.momentum = Some(outer);
        if !c.freeze_scoping {
            self.state.step += 1;
        }
        (load_flat_params(module, &x), loss)
    }
}

//! Entropy-SGD's step as the code of the paper's experiments computes it (ucla-vision/entropy-sgd
//! `entropyoptim.lua`, `optim.entropysgd`, with `train.lua`'s settings).

use burn::module::Module;
use burn::optim::{GradientsParams, LearningRate};
use burn::tensor::Tensor;

use super::EntropySgd;
use crate::finite_guard::report_skip;
use crate::multi_pass::flat::{flatten_grads, flatten_params, load_flat_params, norm};
use crate::multi_pass::running_stats::RunningStatistics;
use crate::seeded_noise::standard_normal_tensor;

impl EntropySgd {
    /// One step of `optim.entropysgd`:
    ///
    /// 1. `d = ∇f(x) + wd·x` feeds the outer momentum buffer `B` (a copy of `d` on the first
    ///    step, then `B ← mom·B + (1-damp)·d`);
    /// 2. with `L = 0` the step is Nesterov SGD: `x ← x − lr·(d + mom·B)` (or `x − lr·B`);
    /// 3. with `L > 0`, `L` Langevin steps from `x' = x` with an inner buffer `b` (zero at the
    ///    start of every step) on the raw gradient: `b ← mom·b + (1-damp)·∇f(x')`,
    ///    `d' = ∇f(x') + mom·b` (or `b`), `d' ← d' − γ·(x − x') + wd·x' + ε/√(0.5·η')·N(0,1)`,
    ///    `x' ← x' − η'·d'`, `μ ← α·μ + (1-α)·x'`; then `x ← x − lr·(x − μ)`: the first
    ///    gradient only moves `B`, and neither momentum nor weight decay touch `x − μ`.
    ///
    /// `γ = γ₀·(1 + γ₁)^t` with `t` counting this step too (the Lua counter is incremented
    /// before it is read).
    pub(super) fn step_lua<M, F>(&mut self, lr: LearningRate, module: M, mut closure: F) -> (M, f64)
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
        let frozen = (c.langevin_steps > 0).then(|| RunningStatistics::capture(&module));
        let x = flatten_params(&module);
        let device = x.device();
        let mut d = first;
        if c.weight_decay != 0.0 {
            d = d + x.clone().mul_scalar(c.weight_decay);
        }
        // The outer buffer: a copy of the handle, stored only once the step succeeds.
        let outer = (c.momentum != 0.0).then(|| match self.state.momentum.clone() {
            Some(buffer) => {
                buffer.to_device(&device).mul_scalar(c.momentum)
                    + d.clone().mul_scalar(1.0 - c.dampening)
            }
            None => d.clone(),
        });
        let update: Tensor<1> = if c.langevin_steps == 0 {
            match &outer {
                Some(buffer) if c.nesterov => d + buffer.clone().mul_scalar(c.momentum),
                Some(buffer) => buffer.clone(),
                None => d,
            }
        } else {
            let gamma = c.gamma * (1.0 + c.scoping).powi(self.state.step as i32 + 1);
            let noise_scale = c.noise / (0.5 * c.langevin_lr).sqrt();
            let (mut w, mut mu, mut inner) = (x.clone(), x.clone(), x.zeros_like());
            for _ in 0..c.langevin_steps {
                let (_, grads) = closure(load_flat_params(module.clone(), &w));
                let g = flatten_grads(&module, &grads);
                if c.momentum != 0.0 {
                    inner = inner.mul_scalar(c.momentum) + g.clone().mul_scalar(1.0 - c.dampening);
                }
                let mut step = if c.nesterov {
                    g + inner.clone().mul_scalar(c.momentum)
                } else {
                    inner.clone()
                };
                step = step - (x.clone() - w.clone()).mul_scalar(gamma);
                if c.weight_decay != 0.0 {
                    step = step + w.clone().mul_scalar(c.weight_decay);
                }
                if noise_scale > 0.0 {
                    let stream = self.state.noise_draws;
                    self.state.noise_draws += 1;
                    let eta = standard_normal_tensor(w.dims()[0], c.seed, stream, &device);
                    step = step + eta.mul_scalar(noise_scale);
                }
                w = w - step.mul_scalar(c.langevin_lr);
                mu = mu.mul_scalar(c.averaging) + w.clone().mul_scalar(1.0 - c.averaging);
            }
            x.clone() - mu
        };
        let module = match frozen {
            Some(frozen) => frozen.restore(module),
            None => module,
        };
        if !norm(&update).is_finite() {
            report_skip(&self.skips, "Entropy-SGD", &update.dims());
            return (module, loss);
        }
        let x = x - update.mul_scalar(lr);
        if outer.is_some() {
            self.state.momentum = outer;
        }
        self.state.step += 1;
        (load_flat_params(module, &x), loss)
    }
}

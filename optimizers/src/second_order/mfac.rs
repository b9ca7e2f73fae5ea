//! The dense M-FAC optimizer (Frantar, Kurtic & Alistarh, "M-FAC: Efficient Matrix-Free
//! Approximations of Second-Order Information", NeurIPS 2021; official code IST-DASLab/M-FAC
//! `optim.py`, class `MFAC`, which this follows).
//!
//! Each step preconditions the whole model's gradient with the inverse of the empirical Fisher
//! of the last `m` gradients, `F = damp·I + (1/m) Σᵢ gᵢgᵢᵀ`, without ever forming a `d × d`
//! matrix: the gradients are kept as an `m × d` ring buffer and the dynamic algorithm
//! ([`DynamicInverse`]) turns two products with it (`Gg` and `Gᵀc`, `O(m·d)`) and `O(m³)`
//! work on `m × m` matrices into `F⁻¹g`. As in the official code, the new gradient enters the
//! window before it is preconditioned (`update_mul`), weight decay is added to the gradient
//! (L2, not decoupled), and momentum averages the preconditioned steps,
//! `v ← βv + (1 − β)F⁻¹g`, before `w ← w − lr·v`.
//!
//! The blocked variant ([`MfacConfig::block_size`]) keeps one window per consecutive block of
//! coordinates (the paper's block-diagonal approximation, which its pruning code uses): memory
//! stays `m·d` floats, the `m × m` work becomes `⌈d/B⌉·m³`, and the Fisher ignores
//! correlations across blocks.
//!
//! Memory: the window holds `m·d` `f32` values (the official default `m = 1024` is 4 KiB per
//! parameter, 0.8 GB for a 200k-parameter MLP), in host memory: each step reads it twice, in
//! parallel loops, and moves one `d`-vector to and from the parameters' device.

use burn::config::Config;
use burn::module::Module;
use burn::optim::{GradientsParams, LearningRate};
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

use super::dynamic_inverse::DynamicInverse;
use crate::config_error::{Check, OptimConfigError};
use crate::finite_guard::{SkipCounter, all_finite, report_skip};
use crate::multi_pass::flat::{flatten_grads, flatten_params, load_flat_params};
use crate::multi_pass::{ClosureOptimizer, StateRecord};

/// Configuration of [`Mfac`]; defaults are the official `MFAC` class's.
#[derive(Config, Debug)]
pub struct MfacConfig {
    /// `m`, gradients in the window (official `ngrads`; its README's example run uses 512).
    #[config(default = 1024)]
    pub gradients: usize,
    /// The dampening `damp` of `F = damp·I + (1/m) Σ gᵢgᵢᵀ` (official 1e-5).
    #[config(default = 1e-5)]
    pub damp: f64,
    /// Momentum β over the preconditioned steps (official default 0).
    #[config(default = 0.0)]
    pub momentum: f64,
    /// L2 weight decay added to the gradient before preconditioning (official default 0).
    #[config(default = 0.0)]
    pub weight_decay: f64,
    /// Coordinates per block of the blocked variant; `None` (the default) is dense M-FAC.
    #[config(default = "None")]
    pub block_size: Option<usize>,
}

impl MfacConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptimConfigError> {
        let check = Check("M-FAC");
        check.within(
            "gradients",
            self.gradients as f64,
            1.0,
            f64::MAX,
            "the window must hold at least one gradient",
        )?;
        check.positive("damp", self.damp)?;
        check.within(
            "momentum",
            self.momentum,
            0.0,
            1.0 - f64::EPSILON,
            "must be in [0, 1)",
        )?;
        check.non_negative("weight_decay", self.weight_decay)?;
        if let Some(block) = self.block_size {
            check.within(
                "block_size",
                block as f64,
                1.0,
                f64::MAX,
                "a block must hold at least one coordinate",
            )?;
        }
        Ok(())
    }

    /// The optimizer, or the first invalid field.
    pub fn try_build(&self) -> Result<Mfac, OptimConfigError> {
        self.validate()?;
        Ok(Mfac {
            config: self.clone(),
            state: None,
            skips: SkipCounter::default(),
        })
    }

    /// The optimizer. Panics with the field's error if the config is invalid.
    pub fn build(&self) -> Mfac {
        self.try_build().unwrap_or_else(|e| panic!("{e}"))
    }
}

/// What [`Mfac`] carries between steps, in host memory (the products with the window are
/// memory-bound loops over it; the parameters' device sees only the `d`-vector of each step).
#[derive(Clone, Debug)]
struct MfacState {
    /// The windows, `[blocks, m, block]` row-major; the last block is zero-padded.
    gradients: Vec<f32>,
    blocks: usize,
    block: usize,
    /// The `m × m` side of each block's window.
    inverses: Vec<DynamicInverse>,
    /// The ring position the next gradient replaces.
    next_slot: usize,
    /// Momentum over the preconditioned steps (`d` values), when β > 0.
    velocity: Option<Vec<f32>>,
    /// Parameters the state was made for.
    dims: usize,
}

/// M-FAC; see the module docs. A [`ClosureOptimizer`] that calls its closure once per step, so
/// the training loops that drive SAM or GAM drive it too; [`Mfac::step_with`] takes gradients
/// computed elsewhere.
///
/// ```
/// use burn::module::Module;
/// use burn::nn::{Linear, LinearConfig};
/// use burn::optim::GradientsParams;
/// use burn::tensor::{Device, Tensor};
/// use tempering_optim::MfacConfig;
///
/// let device = Device::default().autodiff();
/// let model: Linear = LinearConfig::new(3, 1).init(&device);
/// let mut mfac = MfacConfig::new().with_gradients(16).build();
/// let x = Tensor::<2>::ones([4, 3], &device);
/// let loss = model.forward(x).square().mean();
/// let grads = GradientsParams::from_grads(loss.backward(), &model);
/// let model = mfac.step_with(1e-3, model, &grads);
/// # let _ = model;
/// ```
pub struct Mfac {
    config: MfacConfig,
    state: Option<MfacState>,
    skips: SkipCounter,
}

impl Mfac {
    /// Steps skipped because a gradient held NaN or infinity (the window is left unchanged).
    pub fn skip_counter(&self) -> SkipCounter {
        self.skips.clone()
    }

    /// The configuration.
    pub fn config(&self) -> &MfacConfig {
        &self.config
    }

    /// One step of `module` with `grads` (gradients of the loss at `module`, as
    /// `GradientsParams::from_grads` gives): `w ← w − lr·v`.
    ///
    /// # Panics
    /// If the module's parameter count differs from the one the state was made for.
    pub fn step_with<M: Module>(
        &mut self,
        lr: LearningRate,
        module: M,
        grads: &GradientsParams,
    ) -> M {
        let g = flatten_grads(&module, grads);
        if !all_finite(&g) {
            report_skip(&self.skips, "M-FAC", &g.dims());
            return module;
        }
        let w = flatten_params(&module);
        let g = if self.config.weight_decay > 0.0 {
            g + w.clone().mul_scalar(self.config.weight_decay)
        } else {
            g
        };
        let direction = self.precondition(g);
        let w = w - direction.mul_scalar(lr);
        load_flat_params(module, &w)
    }

    /// `F⁻¹g` with `g` entering the window first, then momentum.
    fn precondition(&mut self, g: Tensor<1>) -> Tensor<1> {
        let d = g.dims()[0];
        let device = g.device();
        let mut state = self.state.take().unwrap_or_else(|| self.fresh_state(d));
        assert_eq!(
            state.dims, d,
            "M-FAC: the state was made for {} parameters, the module has {d}",
            state.dims
        );
        let g: Vec<f32> = g
            .into_data()
            .try_to_vec_as::<f32>()
            .expect("float tensor converts to f32");
        let mut direction = state.step(&g);
        if let Some(v) = state.velocity.as_mut() {
            let beta = self.config.momentum as f32;
            for (v, s) in v.iter_mut().zip(&direction) {
                *v = beta * *v + (1.0 - beta) * s;
            }
            direction.clone_from(v);
        }
        self.state = Some(state);
        Tensor::from_data(TensorData::new(direction, [d]), &device)
    }

    fn fresh_state(&self, d: usize) -> MfacState {
        let m = self.config.gradients;
        let block = self.config.block_size.unwrap_or(d).clamp(1, d.max(1));
        let blocks = d.div_ceil(block).max(1);
        MfacState {
            gradients: vec![0.0; blocks * m * block],
            blocks,
            block,
            inverses: vec![DynamicInverse::new(m, self.config.damp); blocks],
            next_slot: 0,
            velocity: (self.config.momentum > 0.0).then(|| vec![0.0; d]),
            dims: d,
        }
    }

    /// Restores the state saved by [`ClosureOptimizer::to_record`], or says what is wrong with
    /// `record` (a tensor or scalar missing, a shape that does not fit this configuration, a
    /// non-finite value) and leaves the optimizer as it was.
    pub fn try_load_record(&mut self, record: StateRecord) -> Result<(), String> {
        self.state = if record.is_empty() {
            None
        } else {
            Some(self.state_from_record(&record)?)
        };
        Ok(())
    }

    fn state_from_record(&self, record: &StateRecord) -> Result<MfacState, String> {
        let tensor = |name: &str| {
            record
                .tensor(name)
                .ok_or_else(|| format!("M-FAC state record: no tensor `{name}`"))
        };
        let scalar = |name: &str| {
            record
                .scalar_u64(name)
                .map(|v| v as usize)
                .ok_or_else(|| format!("M-FAC state record: no scalar `{name}`"))
        };
        let finite = |name: &str, data: &TensorData| -> Result<Vec<f64>, String> {
            let values = data
                .try_to_vec_as::<f64>()
                .map_err(|_| format!("M-FAC state record: `{name}` does not hold floats"))?;
            if values.iter().any(|v| !v.is_finite()) {
                return Err(format!(
                    "M-FAC state record: `{name}` holds NaN or infinity"
                ));
            }
            Ok(values)
        };
        let window = tensor("mfac.gradients")?;
        let &[blocks, m, block] = &window.shape()[..] else {
            return Err(format!(
                "M-FAC state record: `mfac.gradients` has shape {:?}, not [blocks, m, block]",
                window.shape()
            ));
        };
        if m != self.config.gradients {
            return Err(format!(
                "M-FAC state record: its window holds {m} gradients, the config {}",
                self.config.gradients
            ));
        }
        let dims = scalar("mfac.dims")?;
        if blocks == 0 || block == 0 || dims.div_ceil(block) != blocks {
            return Err(format!(
                "M-FAC state record: {dims} parameters do not fill {blocks} blocks of {block}"
            ));
        }
        let next_slot = scalar("mfac.next_slot")?;
        if next_slot >= m {
            return Err(format!(
                "M-FAC state record: ring position {next_slot} in a window of {m}"
            ));
        }
        let gram = tensor("mfac.gram")?;
        if gram.shape()[..] != [blocks, m, m] {
            return Err(format!(
                "M-FAC state record: `mfac.gram` has shape {:?}, not {:?}",
                gram.shape(),
                [blocks, m, m]
            ));
        }
        let inverses = finite("mfac.gram", gram)?
            .chunks(m * m)
            .map(|d| DynamicInverse::from_dots(m, self.config.damp, d.to_vec()))
            .collect();
        let floats = |name: &str, data: &TensorData| -> Result<Vec<f32>, String> {
            Ok(finite(name, data)?.into_iter().map(|v| v as f32).collect())
        };
        let velocity = match (record.tensor("mfac.velocity"), self.config.momentum > 0.0) {
            (Some(v), true) if v.shape()[..] == [dims] => Some(floats("mfac.velocity", v)?),
            (None, false) => None,
            (Some(v), true) => {
                return Err(format!(
                    "M-FAC state record: `mfac.velocity` has shape {:?} for {dims} parameters",
                    v.shape()
                ));
            }
            (v, _) => {
                return Err(format!(
                    "M-FAC state record: {} momentum state, and the config's momentum is {}",
                    if v.is_some() { "a" } else { "no" },
                    self.config.momentum
                ));
            }
        };
        Ok(MfacState {
            gradients: floats("mfac.gradients", window)?,
            blocks,
            block,
            inverses,
            next_slot,
            velocity,
            dims,
        })
    }
}

impl MfacState {
    /// Puts `g` in the window at the ring position and returns `F⁻¹g` (no momentum).
    fn step(&mut self, g: &[f32]) -> Vec<f32> {
        let (m, block, slot) = (self.inverses[0].m(), self.block, self.next_slot);
        let window = m * block;
        // The new row, block by block (the padding stays zero).
        for (b, part) in g.chunks(block).enumerate() {
            let row = b * window + slot * block;
            self.gradients[row..row + part.len()].copy_from_slice(part);
        }
        // Gg: one dot product per (block, row), in f64.
        let g_dots: Vec<f64> = (0..self.blocks * m)
            .into_par_iter()
            .map(|r| {
                let (b, j) = (r / m, r % m);
                let row = &self.gradients[b * window + j * block..b * window + (j + 1) * block];
                let part = &g[(b * block).min(g.len())..((b + 1) * block).min(g.len())];
                dot(&row[..part.len()], part)
            })
            .collect();
        let lambda = self.inverses[0].lambda();
        let mut direction = vec![0.0f32; g.len()];
        let gradients = &self.gradients;
        let coefficients: Vec<Vec<f64>> = self
            .inverses
            .par_iter_mut()
            .enumerate()
            .map(|(b, inverse)| {
                let dots = &g_dots[b * m..(b + 1) * m];
                inverse.replace(slot, dots);
                inverse.coefficients(dots)
            })
            .collect();
        // λg − Gᵀc, over column chunks of each block in parallel, accumulated in f64.
        direction
            .par_chunks_mut(COLUMNS)
            .enumerate()
            .for_each(|(chunk, out)| {
                let start = chunk * COLUMNS;
                let mut acc = [0.0f64; COLUMNS];
                let mut done = 0;
                while done < out.len() {
                    let col = start + done;
                    let (b, k) = (col / block, col % block);
                    let len = (block - k).min(out.len() - done);
                    let acc = &mut acc[..len];
                    for (a, &x) in acc.iter_mut().zip(&g[col..col + len]) {
                        *a = lambda * x as f64;
                    }
                    for (j, &c) in coefficients[b].iter().enumerate() {
                        let row = b * window + j * block + k;
                        for (a, &x) in acc.iter_mut().zip(&gradients[row..row + len]) {
                            *a -= c * x as f64;
                        }
                    }
                    for (o, a) in out[done..done + len].iter_mut().zip(acc.iter()) {
                        *o = *a as f32;
                    }
                    done += len;
                }
            });
        self.next_slot = (slot + 1) % m;
        direction
    }
}

/// Columns of the window one task of `λg − Gᵀc` handles (a multiple of the SIMD width; its
/// `f64` accumulators stay in L1).
const COLUMNS: usize = 1024;

/// `Σ aᵢbᵢ` accumulated in `f64`, over four lanes.
fn dot(a: &[f32], b: &[f32]) -> f64 {
    let mut lanes = [0.0f64; 4];
    let (a4, ar) = a.split_at(a.len() / 4 * 4);
    let (b4, br) = b.split_at(a4.len());
    for (x, y) in a4.chunks_exact(4).zip(b4.chunks_exact(4)) {
        for l in 0..4 {
            lanes[l] += x[l] as f64 * y[l] as f64;
        }
    }
    let tail: f64 = ar.iter().zip(br).map(|(x, y)| *x as f64 * *y as f64).sum();
    lanes.iter().sum::<f64>() + tail
}

impl ClosureOptimizer for Mfac {
    fn evaluations_per_step(&self) -> usize {
        1
    }

    fn step<M, F>(&mut self, lr: LearningRate, module: M, mut closure: F) -> (M, f64)
    where
        M: Module + Clone,
        F: FnMut(M) -> (f64, GradientsParams),
    {
        let (loss, grads) = closure(module.clone());
        (self.step_with(lr, module, &grads), loss)
    }

    fn to_record(&self) -> StateRecord {
        let Some(state) = &self.state else {
            return StateRecord::default();
        };
        let m = self.config.gradients;
        let mut record = StateRecord::default();
        record.insert_tensor(
            "mfac.gradients",
            TensorData::new(state.gradients.clone(), [state.blocks, m, state.block]),
        );
        let gram: Vec<f64> = state
            .inverses
            .iter()
            .flat_map(|inverse| inverse.dots().iter().copied())
            .collect();
        record.insert_tensor("mfac.gram", TensorData::new(gram, [state.blocks, m, m]));
        if let Some(v) = &state.velocity {
            record.insert_tensor("mfac.velocity", TensorData::new(v.clone(), [v.len()]));
        }
        record.insert_u64("mfac.next_slot", state.next_slot as u64);
        record.insert_u64("mfac.dims", state.dims as u64);
        record
    }

    /// # Panics
    /// With the problem [`Mfac::try_load_record`] names, if `record` is not an M-FAC state of
    /// this configuration (the trait gives no way to return it).
    fn load_record(&mut self, record: StateRecord) {
        if let Err(problem) = self.try_load_record(record) {
            panic!("{problem}");
        }
    }
}

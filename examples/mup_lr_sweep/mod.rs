//! muP's learning-rate transfer, measured (Yang et al. 2022, "Tensor Programs V",
//! arXiv:2203.03466): AdamW on ReLU MLPs of growing width, in muP and in the standard
//! parametrization, over a grid of learning rates, on the teacher-student task of μLO's
//! reference (`tempering_data::TeacherStudentDataset`). Under muP the best learning rate
//! found at the base width stays best at every width; under SP it shifts down as width grows.

use std::path::Path;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::Device;
use tempering_core::mup::{MupGroups, MupModule, Parametrization};
use tempering_data::{TeacherStudentBatcher, TeacherStudentDataset};
use tempering_models::MupMlpConfig;
use tempering_optim::mup_module_optimizer;
use tempering_train::curves_plot::{Panel, Series, plot_panels};

/// The training runs of a sweep: the task, the network's depth, and how long each run trains.
#[derive(Clone, Debug)]
pub struct SweepTask {
    /// The data (items are drawn in order, `batch` per step).
    pub data: TeacherStudentDataset,
    /// Hidden layers of the MLP, all of the same width.
    pub hidden_layers: usize,
    /// Examples per step.
    pub batch: usize,
    /// Steps per run.
    pub steps: usize,
    /// The width at which AdamW's learning rate is tuned (muP's base width).
    pub base_width: usize,
    /// Seed of the networks' initial weights.
    pub seed: u64,
}

/// One run's result.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepRun {
    /// The parametrization.
    pub parametrization: Parametrization,
    /// The hidden width.
    pub width: usize,
    /// AdamW's learning rate (the base-width one under muP).
    pub lr: f64,
    /// Mean training loss over the last quarter of the steps (every batch is fresh data, so it
    /// estimates the test loss too); infinity if the run diverged.
    pub loss: f64,
}

impl SweepTask {
    /// Trains one MLP with AdamW and returns its [`SweepRun`].
    pub fn run(
        &self,
        parametrization: Parametrization,
        width: usize,
        lr: f64,
        device: &Device,
    ) -> SweepRun {
        let device = device.clone().autodiff();
        let inputs = self.data.config().inputs;
        let mut model = MupMlpConfig::new()
            .with_input_size(inputs)
            .with_hidden_sizes(vec![width; self.hidden_layers])
            .with_classes(self.data.config().classes)
            .with_parametrization(parametrization)
            .with_seed(self.seed)
            .init(&device);
        let adamw = AdamWConfig::new().build();
        let mut optimizer: ModuleOptimizer = match parametrization {
            Parametrization::Mup => mup_module_optimizer(
                &MupGroups::adam(&model.mup_roles(), self.base_width),
                adamw,
                None,
            ),
            Parametrization::Standard => adamw.into(),
        };
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        let tail = (self.steps / 4).max(1);
        let mut tail_sum = 0.0;
        for step in 0..self.steps {
            let items = (step * self.batch..(step + 1) * self.batch)
                .map(|i| self.data.get(i % self.data.len()).expect("in range"))
                .collect();
            let (x, y) = TeacherStudentBatcher.batch(items, &device);
            let loss = loss_fn.forward(model.forward(x), y);
            let value = loss.clone().into_scalar::<f32>() as f64;
            if !value.is_finite() || value > 1e3 {
                return self.result(parametrization, width, lr, f64::INFINITY);
            }
            if step >= self.steps - tail {
                tail_sum += value;
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(lr, model, grads);
        }
        self.result(parametrization, width, lr, tail_sum / tail as f64)
    }

    fn result(
        &self,
        parametrization: Parametrization,
        width: usize,
        lr: f64,
        loss: f64,
    ) -> SweepRun {
        SweepRun {
            parametrization,
            width,
            lr,
            loss,
        }
    }
}

/// The learning rate of the lowest loss among `runs` of `parametrization` at `width`.
pub fn best_lr(runs: &[SweepRun], parametrization: Parametrization, width: usize) -> Option<f64> {
    runs.iter()
        .filter(|r| r.parametrization == parametrization && r.width == width)
        .min_by(|a, b| a.loss.total_cmp(&b.loss))
        .map(|r| r.lr)
}

/// The name of a parametrization in tables.
pub fn name(parametrization: Parametrization) -> &'static str {
    match parametrization {
        Parametrization::Mup => "muP",
        Parametrization::Standard => "SP",
    }
}

/// A table: one row per parametrization and width, one column per learning rate, the best
/// marked with `*`.
pub fn table(runs: &[SweepRun]) -> String {
    let mut lrs: Vec<f64> = runs.iter().map(|r| r.lr).collect();
    lrs.sort_by(f64::total_cmp);
    lrs.dedup();
    let mut out = String::from("| param. | width |");
    for lr in &lrs {
        out += &format!(" lr 2^{:.0} |", lr.log2());
    }
    out += " best lr |\n|---|---|";
    out += &"---|".repeat(lrs.len() + 1);
    out += "\n";
    let mut keys: Vec<(Parametrization, usize)> =
        runs.iter().map(|r| (r.parametrization, r.width)).collect();
    keys.dedup();
    for (p, width) in keys {
        let best = best_lr(runs, p, width);
        out += &format!("| {} | {width} |", name(p));
        for lr in &lrs {
            let cell = runs
                .iter()
                .find(|r| r.parametrization == p && r.width == width && r.lr == *lr)
                .map_or(String::from(" "), |r| {
                    let mark = if Some(r.lr) == best { "*" } else { "" };
                    if r.loss.is_finite() {
                        format!("{:.3}{mark}", r.loss)
                    } else {
                        "diverged".into()
                    }
                });
            out += &format!(" {cell} |");
        }
        out += &format!(" 2^{:.0} |\n", best.unwrap_or(f64::NAN).log2());
    }
    out
}

/// The classic muP figure: loss against log₂ learning rate, one line per width, SP and muP side
/// by side.
pub fn plot(path: &Path, runs: &[SweepRun]) -> std::io::Result<()> {
    let panels: Vec<Panel> = [Parametrization::Standard, Parametrization::Mup]
        .into_iter()
        .map(|p| {
            let mut widths: Vec<usize> = runs
                .iter()
                .filter(|r| r.parametrization == p)
                .map(|r| r.width)
                .collect();
            widths.dedup();
            Panel {
                title: format!("AdamW, {}", name(p)),
                x_label: "log2 learning rate".into(),
                y_label: "training loss".into(),
                series: widths
                    .into_iter()
                    .map(|w| Series {
                        label: format!("width {w}"),
                        points: runs
                            .iter()
                            .filter(|r| {
                                r.parametrization == p && r.width == w && r.loss.is_finite()
                            })
                            .map(|r| (r.lr.log2(), r.loss))
                            .collect(),
                    })
                    .collect(),
            }
        })
        .collect();
    plot_panels(path, &panels, (1200, 500))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempering_data::TeacherStudentConfig;

    /// The muP property (Tensor Programs V, Fig. 1): AdamW's best learning rate on a width-64 MLP
    /// stays best within one grid step (a factor 2) at width 1024 under muP, and drops by at least
    /// two steps under SP. Settings of `mup_lr_sweep --widths 64,1024 --steps 200 --batch 64
    /// --hidden-layers 2`, whose full grid 2^-13..2^-2 measured best exponents SP −8 → −12 and
    /// muP −6 → −5; the grids here cover those optima with room on both sides.
    #[test]
    fn adamw_best_learning_rate_transfers_across_width_under_mup_only() {
        let device = Device::default();
        let task = SweepTask {
            data: TeacherStudentDataset::new(TeacherStudentConfig::new(), 200 * 64).unwrap(),
            hidden_layers: 2,
            batch: 64,
            steps: 200,
            base_width: 64,
            seed: 0,
        };
        let mut runs = Vec::new();
        for (parametrization, exponents) in [
            (Parametrization::Standard, -13..=-6),
            (Parametrization::Mup, -8..=-3),
        ] {
            for width in [64, 1024] {
                for e in exponents.clone() {
                    runs.push(task.run(parametrization, width, 2f64.powi(e), &device));
                }
            }
        }
        let best = |p, w| best_lr(&runs, p, w).unwrap().log2().round() as i32;
        let table = table(&runs);
        let (sp_base, sp_wide) = (
            best(Parametrization::Standard, 64),
            best(Parametrization::Standard, 1024),
        );
        let (mup_base, mup_wide) = (
            best(Parametrization::Mup, 64),
            best(Parametrization::Mup, 1024),
        );
        // Optima inside their grids, so a shift is measured, not clipped.
        assert!(
            (-12..=-7).contains(&sp_base) && (-7..=-4).contains(&mup_base),
            "{table}"
        );
        assert!(
            (mup_wide - mup_base).abs() <= 1,
            "muP's best moved:\n{table}"
        );
        assert!(sp_wide <= sp_base - 2, "SP's best did not drop:\n{table}");
    }
}

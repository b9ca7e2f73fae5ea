//! The inner tasks of learned-optimizer meta-training and evaluation (μLO, Therien et al. 2024,
//! arXiv:2405.14658): ReLU MLPs of a given width in muP or SP on Fashion-MNIST average-pooled to
//! 7×7 (49 inputs), one minibatch per step, drawn by a seeded hash so both members of an
//! antithetic pair see the same data.

use std::sync::Arc;

use burn::data::dataset::Dataset;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::ModuleOptimizer;
use burn::tensor::{Device, Int, Tensor, TensorData};
use tempering_core::mup::{MupGroups, MupModule, MupTensorRole, Parametrization};
use tempering_core::split_mix;
use tempering_data::FashionMnistDataset;
use tempering_data::fashion_mnist::{PIXEL_MEAN, PIXEL_STD};
use tempering_models::{MupMlp, MupMlpConfig};
use tempering_optim::learned::{LearnedOptimizerConfig, LoptWeights};
use tempering_optim::mup_module_optimizer;
use tempering_train::meta_training::lopt_unroll::InnerTask;

/// Images average-pooled to a small square, normalized, with their labels.
#[derive(Clone, Debug)]
pub struct PooledImages {
    features: Arc<Vec<f32>>,
    labels: Arc<Vec<i64>>,
    inputs: usize,
}

impl PooledImages {
    /// Every image of `dataset`, pooled over `pool`×`pool` blocks (28 must be a multiple).
    ///
    /// # Panics
    /// If `pool` does not divide 28.
    pub fn fashion_mnist(dataset: &FashionMnistDataset, pool: usize) -> Self {
        assert!(pool > 0 && 28 % pool == 0, "pool {pool} must divide 28");
        let side = 28 / pool;
        let inputs = side * side;
        let mut features = Vec::with_capacity(dataset.len() * inputs);
        let mut labels = Vec::with_capacity(dataset.len());
        for i in 0..dataset.len() {
            let item = dataset.get(i).expect("in range");
            for by in 0..side {
                for bx in 0..side {
                    let mut sum = 0.0f32;
                    for y in 0..pool {
                        for x in 0..pool {
                            sum += item.image[(by * pool + y) * 28 + bx * pool + x] as f32;
                        }
                    }
                    let mean = sum / (pool * pool) as f32 / 255.0;
                    features.push((mean - PIXEL_MEAN) / PIXEL_STD);
                }
            }
            labels.push(item.label as i64);
        }
        Self {
            features: Arc::new(features),
            labels: Arc::new(labels),
            inputs,
        }
    }

    /// Features per image.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The batch of `size` images of step `t` of the run seeded `seed`.
    pub fn batch(
        &self,
        seed: u64,
        t: usize,
        size: usize,
        device: &Device,
    ) -> (Tensor<2>, Tensor<1, Int>) {
        let mut x = Vec::with_capacity(size * self.inputs);
        let mut y = Vec::with_capacity(size);
        for j in 0..size {
            let draw = split_mix::at(seed, (t * size + j) as u64) as usize % self.len();
            x.extend_from_slice(&self.features[draw * self.inputs..(draw + 1) * self.inputs]);
            y.push(self.labels[draw]);
        }
        (
            Tensor::from_data(TensorData::new(x, [size, self.inputs]), device),
            Tensor::from_data(TensorData::new(y, [size]), device),
        )
    }
}

/// An MLP of one width trained by a learned optimizer: μLO (muP network, per-role step
/// scales, `step_mult` 0.01) or its SP twin (SP network, one scale, `step_mult` 0.001).
#[derive(Clone, Debug)]
pub struct MlpTask {
    /// The data.
    pub data: PooledImages,
    /// Hidden width.
    pub width: usize,
    /// Hidden layers.
    pub hidden_layers: usize,
    /// Images per step.
    pub batch: usize,
    /// muP (μLO) or SP (SP-LO).
    pub parametrization: Parametrization,
}

impl MlpTask {
    /// The learned-optimizer settings of this parametrization.
    pub fn lopt_config(&self) -> LearnedOptimizerConfig {
        match self.parametrization {
            Parametrization::Mup => LearnedOptimizerConfig::mu(),
            Parametrization::Standard => LearnedOptimizerConfig::new(),
        }
    }

    /// The network's config.
    pub fn model_config(&self, seed: u64) -> MupMlpConfig {
        MupMlpConfig::new()
            .with_input_size(self.data.inputs())
            .with_hidden_sizes(vec![self.width; self.hidden_layers])
            .with_parametrization(self.parametrization)
            .with_seed(seed)
    }
}

impl InnerTask for MlpTask {
    type Model = MupMlp;

    fn init(&self, seed: u64) -> MupMlp {
        self.model_config(seed).init(&Device::default().autodiff())
    }

    fn loss(&self, model: &MupMlp, seed: u64, t: usize) -> Tensor<1> {
        let device = model.head.weight.val().device();
        let (x, y) = self.data.batch(seed, t, self.batch, &device);
        CrossEntropyLossConfig::new()
            .init(&device)
            .forward(model.forward(x), y)
    }

    fn optimizer(&self, weights: LoptWeights, model: &MupMlp) -> ModuleOptimizer {
        let optimizer = self.lopt_config().build(weights);
        match self.parametrization {
            Parametrization::Mup => mup_module_optimizer(
                &MupGroups::by(&model.mup_roles(), MupTensorRole::step_scale),
                optimizer,
                None,
            ),
            Parametrization::Standard => optimizer.into(),
        }
    }

    fn classes(&self) -> usize {
        10
    }
}

/// Trains `task`'s network (seeded `seed`) for `steps` with `optimizer` at learning rate `lr`
/// and returns the training loss of every step; stops early (returning what it has, the last
/// entry infinite) if the loss stops being finite.
pub fn train_curve(
    task: &MlpTask,
    optimizer: &mut ModuleOptimizer,
    lr: f64,
    steps: usize,
    seed: u64,
) -> Vec<f64> {
    let mut model = task.init(seed);
    let mut losses = Vec::with_capacity(steps);
    for t in 0..steps {
        let loss = task.loss(&model, seed, t);
        let value = loss.clone().into_scalar::<f32>() as f64;
        if !value.is_finite() {
            losses.push(f64::INFINITY);
            return losses;
        }
        losses.push(value);
        let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(lr, model, grads);
    }
    losses
}

/// The mean of the last tenth of `losses` (at least one value): the "final training loss".
pub fn final_loss(losses: &[f64]) -> f64 {
    let tail = (losses.len() / 10).max(1);
    losses[losses.len().saturating_sub(tail)..]
        .iter()
        .sum::<f64>()
        / tail as f64
}

/// AdamW for `task`'s network: under muP with the hidden layers' learning rates scaled from
/// `base_width` (Tensor Programs V), under SP one learning rate.
pub fn adamw_for(task: &MlpTask, model: &MupMlp, base_width: usize) -> ModuleOptimizer {
    let adamw = burn::optim::AdamWConfig::new().build();
    match task.parametrization {
        Parametrization::Mup => mup_module_optimizer(
            &MupGroups::adam(&model.mup_roles(), base_width),
            adamw,
            None,
        ),
        Parametrization::Standard => adamw.into(),
    }
}

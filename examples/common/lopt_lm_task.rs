//! A small character-level transformer as an inner task of learned-optimizer meta-training
//! (μLO, Therien et al. 2024, arXiv:2405.14658, meta-trains on MLPs; this adds the kind of
//! network `train_char_lm` trains), and [`MetaTask`], the mixture of it with the MLP tasks that
//! `meta_train_lopt --tasks` trains on.

use std::sync::{Arc, Mutex};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::{Device, Int, Tensor, TensorData};
use tempering_core::mup::{MupModule, Parametrization};
use tempering_core::split_mix;
use tempering_data::{CharTokenizer, TextCorpus};
use tempering_models::{MupMlp, TransformerLm, TransformerLmConfig};
use tempering_optim::learned::{LoptWeights, learned_module_optimizer};
use tempering_train::meta_training::lopt_unroll::InnerTask;

use super::lopt_tasks::MlpTask;

/// Serializes seeding the backend's generator and initializing a transformer: both signs of an
/// antithetic pair must start from the same network, and pairs start on several threads.
static SEEDED_INIT: Mutex<()> = Mutex::new(());

/// The training tokens of a corpus: the first 90 % of the shipped Shakespeare plays (the split
/// `train_char_lm` trains on), and the alphabet size.
#[derive(Clone, Debug)]
pub struct TrainingText {
    tokens: Arc<Vec<u32>>,
    vocab: usize,
}

impl TrainingText {
    /// The shipped plays' training split.
    pub fn shakespeare() -> Result<Self, Box<dyn std::error::Error>> {
        let corpus = TextCorpus::shakespeare()?;
        let tokenizer = CharTokenizer::from_text(corpus.text());
        let mut tokens = tokenizer.encode(corpus.text())?;
        tokens.truncate(tokens.len() * 9 / 10);
        Ok(Self {
            tokens: Arc::new(tokens),
            vocab: tokenizer.vocab_size(),
        })
    }
}

/// A char LM of one width trained by a learned optimizer: μLO (per-role step scales from the
/// model's muP roles, `step_mult` 0.01) or SP-LO (one scale, `step_mult` 0.001). The network is
/// `train_char_lm`'s (GPT-2 initialization, pre-norm, tied head), smaller.
#[derive(Clone, Debug)]
pub struct CharLmTask {
    /// The text.
    pub text: TrainingText,
    /// Where the networks train.
    pub device: Device,
    /// Width of the residual stream.
    pub d_model: usize,
    /// Blocks.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Characters per window.
    pub context: usize,
    /// Windows per step.
    pub batch: usize,
    /// μLO or SP-LO.
    pub parametrization: Parametrization,
}

impl CharLmTask {
    fn config(&self) -> TransformerLmConfig {
        TransformerLmConfig::new(self.text.vocab)
            .with_context(self.context)
            .with_d_model(self.d_model)
            .with_n_layers(self.layers)
            .with_n_heads(self.heads)
    }

    /// The windows of step `t` of the run seeded `seed`: inputs and next-character targets.
    fn batch(&self, seed: u64, t: usize, device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>) {
        let tokens = &self.text.tokens;
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for j in 0..self.batch {
            let draw = split_mix::at(seed, (t * self.batch + j) as u64) as usize;
            let start = draw % (tokens.len() - self.context);
            let window = &tokens[start..start + self.context + 1];
            x.extend(window[..self.context].iter().map(|&c| i64::from(c)));
            y.extend(window[1..].iter().map(|&c| i64::from(c)));
        }
        let shape = [self.batch, self.context];
        (
            Tensor::from_data(TensorData::new(x, shape), device),
            Tensor::from_data(TensorData::new(y, shape), device),
        )
    }
}

/// A network of either task.
#[derive(Module, Debug)]
pub struct MetaTaskModel {
    mlp: Option<MupMlp>,
    lm: Option<TransformerLm>,
}

/// One inner task of a meta-training mixture.
#[derive(Clone, Debug)]
pub enum MetaTask {
    /// An MLP on pooled Fashion-MNIST.
    Mlp(MlpTask),
    /// A small char LM on Shakespeare.
    CharLm(CharLmTask),
}

impl MetaTask {
    fn parametrization(&self) -> Parametrization {
        match self {
            MetaTask::Mlp(t) => t.parametrization,
            MetaTask::CharLm(t) => t.parametrization,
        }
    }
}

impl InnerTask for MetaTask {
    type Model = MetaTaskModel;

    fn init(&self, seed: u64) -> MetaTaskModel {
        match self {
            MetaTask::Mlp(task) => MetaTaskModel {
                mlp: Some(task.init(seed)),
                lm: None,
            },
            MetaTask::CharLm(task) => {
                let device = task.device.clone().autodiff();
                let _only_one = SEEDED_INIT.lock().unwrap_or_else(|e| e.into_inner());
                device.seed(seed);
                MetaTaskModel {
                    mlp: None,
                    lm: Some(task.config().init(&device)),
                }
            }
        }
    }

    fn loss(&self, model: &MetaTaskModel, seed: u64, t: usize) -> Tensor<1> {
        match (self, &model.mlp, &model.lm) {
            (MetaTask::Mlp(task), Some(mlp), _) => task.loss(mlp, seed, t),
            (MetaTask::CharLm(task), _, Some(lm)) => {
                let device = lm.token_embedding.weight.val().device();
                let (x, y) = task.batch(seed, t, &device);
                lm.loss(x, y)
            }
            _ => unreachable!("a task's model is built by its own init"),
        }
    }

    fn optimizer(&self, weights: LoptWeights, model: &MetaTaskModel) -> ModuleOptimizer {
        let roles = match (&model.mlp, &model.lm) {
            (Some(mlp), _) => mlp.mup_roles(),
            (_, Some(lm)) => lm.mup_roles(),
            _ => unreachable!("a task's model is built by its own init"),
        };
        learned_module_optimizer(weights, self.parametrization(), &roles, None)
    }

    fn classes(&self) -> usize {
        match self {
            MetaTask::Mlp(task) => task.classes(),
            MetaTask::CharLm(task) => task.text.vocab,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempering_train::meta_training::lopt_unroll::LoptUnroll;
    use tempering_train::meta_training::pes::Unroll;

    fn task() -> MetaTask {
        MetaTask::CharLm(CharLmTask {
            text: TrainingText::shakespeare().unwrap(),
            device: Device::default(),
            d_model: 16,
            layers: 1,
            heads: 1,
            context: 8,
            batch: 2,
            parametrization: Parametrization::Mup,
        })
    }

    fn embedding(model: &MetaTaskModel) -> Vec<f32> {
        let lm = model.lm.as_ref().unwrap();
        lm.token_embedding
            .weight
            .val()
            .into_data()
            .try_to_vec()
            .unwrap()
    }

    /// Both signs of a pair start from the same network (same seed, same weights); another
    /// seed gives another; μLO trains it a few steps with finite, clipped meta-losses.
    #[test]
    fn the_char_lm_task_starts_alike_for_a_seed_and_trains() {
        let task = task();
        assert_eq!(embedding(&task.init(3)), embedding(&task.init(3)));
        assert_ne!(embedding(&task.init(3)), embedding(&task.init(4)));
        let clip = 1.5 * (task.classes() as f64).ln();
        let unroll = LoptUnroll(task);
        let mut state = unroll.start(5);
        unroll.begin(&LoptWeights::mulo().to_flat(), &mut state);
        for t in 0..3 {
            let loss = unroll.step(&mut state, 5, t);
            assert!(loss.is_finite() && loss > 0.0 && loss <= clip, "{loss}");
        }
    }
}

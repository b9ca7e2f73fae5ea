//! Glue between any [`ImageClassifier`] of tempering-models and Fashion-MNIST batches of
//! tempering-data, so burn-train's `Learner` can train it. (Models and data never depend on
//! each other; this wrapper is where they meet.)

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::Tensor;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};
use tempering_data::FashionMnistBatch;
use tempering_models::ImageClassifier;

/// A classifier trained with cross-entropy on [`FashionMnistBatch`]es.
#[derive(Module, Debug)]
pub struct FashionClassifier<M: ImageClassifier> {
    /// The wrapped model.
    pub model: M,
}

impl<M: ImageClassifier> FashionClassifier<M> {
    /// Wraps a model.
    pub fn new(model: M) -> Self {
        Self { model }
    }

    /// Logits, loss and targets of one batch.
    pub fn classify(&self, batch: FashionMnistBatch) -> ClassificationOutput {
        let logits = self.model.logits(batch.images);
        let loss: Tensor<1> = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.clone(), batch.targets.clone());
        ClassificationOutput::new(loss, logits, batch.targets)
    }
}

impl<M: ImageClassifier + 'static> TrainStep for FashionClassifier<M> {
    type Input = FashionMnistBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: FashionMnistBatch) -> TrainOutput<ClassificationOutput> {
        let output = self.classify(batch);
        TrainOutput::new(self, output.loss.backward(), output)
    }
}

impl<M: ImageClassifier + 'static> InferenceStep for FashionClassifier<M> {
    type Input = FashionMnistBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: FashionMnistBatch) -> ClassificationOutput {
        self.classify(batch)
    }
}

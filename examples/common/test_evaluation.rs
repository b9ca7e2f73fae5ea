//! Accuracy and loss of a trained classifier on a held-out split, outside burn-train's loop.

use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::DatasetError;
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use tempering_data::{FashionMnistBatcher, FashionMnistDataset};
use tempering_models::ImageClassifier;

use crate::common::fashion_classifier::FashionClassifier;

/// Metrics of one evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EvalMetrics {
    /// Correct predictions in percent.
    pub accuracy: f64,
    /// Mean cross-entropy per image.
    pub loss: f64,
    /// Images evaluated.
    pub count: usize,
}

/// Evaluates `model` (in inference mode, without autodiff) on every image of `split`; a batch
/// that cannot be loaded is an error.
pub fn evaluate<M: ImageClassifier + 'static>(
    model: &FashionClassifier<M>,
    split: FashionMnistDataset,
    batch_size: usize,
    device: &Device,
) -> Result<EvalMetrics, DatasetError> {
    let model = model.valid();
    let loader = DataLoaderBuilder::new(FashionMnistBatcher)
        .batch_size(batch_size)
        .set_device(device.clone())
        .build(split);
    let (mut correct, mut loss_sum, mut count) = (0i64, 0f64, 0usize);
    for batch in loader.iter() {
        let batch = batch?;
        let n = batch.targets.dims()[0];
        let output = model.classify(batch);
        let predicted: Tensor<1, Int> = output.output.argmax(1).flatten(0, 1);
        correct += predicted
            .equal(output.targets)
            .int()
            .sum()
            .into_scalar::<i64>();
        loss_sum += output.loss.into_scalar::<f64>() * n as f64;
        count += n;
    }
    Ok(EvalMetrics {
        accuracy: 100.0 * correct as f64 / count.max(1) as f64,
        loss: loss_sum / count.max(1) as f64,
        count,
    })
}

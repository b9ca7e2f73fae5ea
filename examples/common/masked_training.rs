//! Epochs of Adam over Fashion-MNIST for a classifier that may be pruned: with masks, every step
//! is masked (gradients and weights, `ModuleMasks::step`), so pruned weights stay zero. What
//! the pruning and compression examples train and fine-tune with.

use burn::data::dataloader::DataLoaderBuilder;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use tempering_data::{FashionMnistBatcher, FashionMnistDataset};
use tempering_models::ImageClassifier;
use tempering_prune::ModuleMasks;

use crate::common::fashion_classifier::FashionClassifier;

/// `epochs` passes of a fresh Adam at `lr` over `train` in batches of `batch_size`, shuffled
/// with `seed + epoch`; with `masks`, every step is masked.
pub fn train_epochs<M: ImageClassifier + 'static>(
    mut model: FashionClassifier<M>,
    masks: Option<&ModuleMasks>,
    train: &FashionMnistDataset,
    batch_size: usize,
    seed: u64,
    epochs: usize,
    lr: f64,
) -> FashionClassifier<M> {
    let device = model.devices()[0].clone();
    let mut optimizer = AdamConfig::new().init();
    for epoch in 0..epochs {
        let loader = DataLoaderBuilder::new(FashionMnistBatcher)
            .batch_size(batch_size)
            .shuffle(seed.wrapping_add(epoch as u64))
            .set_device(device.clone())
            .build(train.clone());
        for batch in loader.iter().map_while(Result::ok) {
            let loss = model.classify(batch).loss;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = match masks {
                Some(masks) => masks.step(&mut optimizer, lr, model, grads),
                None => optimizer.step(lr, model, grads),
            };
        }
    }
    model
}

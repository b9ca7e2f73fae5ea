//! The training images an example uses: the training split, or its first `limit` images.

use burn::data::dataset::Dataset;
use tempering_data::{FashionMnist, FashionMnistDataset};

/// The training split of `data`, cut to its first `limit` images when given.
pub fn train_split(data: &FashionMnist, limit: Option<usize>) -> FashionMnistDataset {
    let train = data.train();
    match limit {
        Some(limit) => train.slice(0..limit.min(train.len())),
        None => train,
    }
}

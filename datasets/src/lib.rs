//! Real data for tempering, as Burn [`Dataset`](burn::data::dataset::Dataset)s with batchers.
//!
//! - [`FashionMnist`]: Fashion-MNIST from IDX files (Debian's `dataset-fashion-mnist`, a directory
//!   of your own, or the real sample shipped in this crate), with [`FashionMnistBatcher`] and,
//!   for training, [`AugmentingBatcher`] (random shifts and mirroring).
//! - [`TextCorpus`] (Shakespeare's plays, shipped), [`CharTokenizer`] and
//!   [`TokenWindowDataset`] for character-level language modelling.
//! - [`KeypointPairDataset`]: seeded synthetic keypoint-matching pairs with exact ground truth.
//! - [`TeacherStudentDataset`]: unlimited seeded teacher-student classification (μLO's toy task).
//!
//! ```no_run
//! use burn::data::dataset::Dataset;
//! let data = tempering_data::FashionMnist::load(None)?; // says on stderr which source it used
//! println!("{} training images", data.train().len());
//! # Ok::<(), tempering_data::DataError>(())
//! ```

pub mod calibration_windows;
pub mod char_tokenizer;
pub mod char_windows;
pub mod error;
pub mod fashion_mnist;
pub mod idx;
pub mod image_augmentation;
pub mod keypoint_pairs;
pub mod teacher_student;
pub mod text_corpus;

pub use calibration_windows::calibration_windows;
pub use char_tokenizer::CharTokenizer;
pub use char_windows::{TokenBatch, TokenBatcher, TokenWindow, TokenWindowDataset};
pub use error::{DataError, Result};
pub use fashion_mnist::{
    FashionMnist, FashionMnistBatch, FashionMnistBatcher, FashionMnistDataset, FashionMnistItem,
    FashionMnistSource,
};
pub use image_augmentation::{AugmentingBatcher, ImageAugmentation};
pub use keypoint_pairs::{
    KeypointPair, KeypointPairBatch, KeypointPairBatcher, KeypointPairConfig, KeypointPairDataset,
};
pub use teacher_student::{
    TeacherStudentBatcher, TeacherStudentConfig, TeacherStudentDataset, TeacherStudentItem,
};
pub use text_corpus::TextCorpus;

//! Teacher-student classification with unlimited data: inputs x ~ N(0, I_d), labels drawn from
//! softmax(s · W₂ᵀ tanh(W₁ᵀ x)) of a fixed random teacher network. The μLO reference's toy task
//! for meta-training learned optimizers at this machine's scale (shared references,
//! `learned-optimizers.md`: d 64, teacher width 128, s 4, 10 classes).
//!
//! Every item is a pure function of the seed and its index, so the same batch can be drawn
//! again (antithetic evolution-strategy pairs need it), and the best possible cross-entropy is
//! known: [`TeacherStudentDataset::bayes_loss`], the mean entropy of the teacher's label
//! distribution.
//!
//! ```
//! use burn::data::dataset::Dataset;
//! use tempering_data::{TeacherStudentConfig, TeacherStudentDataset};
//! let data = TeacherStudentDataset::new(TeacherStudentConfig::new(), 1000)?;
//! let item = data.get(0).unwrap();
//! assert_eq!((item.features.len(), data.len()), (64, 1000));
//! # Ok::<(), tempering_data::DataError>(())
//! ```

use burn::config::Config;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Int, Tensor, TensorData};
use tempering_core::split_mix::{self, standard_normal};

use crate::error::DataError;

/// The teacher and its inputs.
#[derive(Config, Debug)]
pub struct TeacherStudentConfig {
    /// Input features d.
    #[config(default = 64)]
    pub inputs: usize,
    /// Hidden width of the teacher.
    #[config(default = 128)]
    pub teacher_width: usize,
    /// Classes.
    #[config(default = 10)]
    pub classes: usize,
    /// Sharpness s of the teacher's softmax (larger: less label noise).
    #[config(default = 4.0)]
    pub sharpness: f64,
    /// Seed of the teacher's weights and of every item.
    #[config(default = 0)]
    pub seed: u64,
}

/// One example: features and a label drawn from the teacher.
#[derive(Clone, Debug, PartialEq)]
pub struct TeacherStudentItem {
    /// `inputs` features.
    pub features: Vec<f32>,
    /// The label.
    pub label: usize,
}

/// `len` items of a teacher-student task; see the module docs.
#[derive(Clone, Debug)]
pub struct TeacherStudentDataset {
    config: TeacherStudentConfig,
    /// `W₁`, `[inputs, teacher_width]`, N(0, 1/inputs).
    first: Vec<f32>,
    /// `W₂`, `[teacher_width, classes]`, N(0, 1/teacher_width).
    second: Vec<f32>,
    len: usize,
}

/// Streams of the teacher's weights (items use streams from 1 upwards, offset far from these).
const FIRST_WEIGHTS: u64 = u64::MAX;
const SECOND_WEIGHTS: u64 = u64::MAX - 1;

impl TeacherStudentDataset {
    /// A task of `len` items.
    ///
    /// # Errors
    /// [`DataError::InvalidConfig`] naming the field when a size is zero or the sharpness is not
    /// a positive number.
    pub fn new(config: TeacherStudentConfig, len: usize) -> crate::Result<Self> {
        for (name, value) in [
            ("inputs", config.inputs),
            ("teacher_width", config.teacher_width),
            ("classes", config.classes),
        ] {
            if value == 0 {
                return Err(DataError::InvalidConfig {
                    field: name,
                    problem: "must be positive".into(),
                });
            }
        }
        if !(config.sharpness.is_finite() && config.sharpness > 0.0) {
            return Err(DataError::InvalidConfig {
                field: "sharpness",
                problem: format!("must be a positive number, got {}", config.sharpness),
            });
        }
        let scaled = |n: usize, fan_in: usize, stream: u64| -> Vec<f32> {
            let scale = 1.0 / (fan_in as f32).sqrt();
            standard_normal(n, config.seed, stream)
                .into_iter()
                .map(|w| w * scale)
                .collect()
        };
        Ok(Self {
            first: scaled(
                config.inputs * config.teacher_width,
                config.inputs,
                FIRST_WEIGHTS,
            ),
            second: scaled(
                config.teacher_width * config.classes,
                config.teacher_width,
                SECOND_WEIGHTS,
            ),
            config,
            len,
        })
    }

    /// The task's settings.
    pub fn config(&self) -> &TeacherStudentConfig {
        &self.config
    }

    /// The teacher's label distribution for `features`.
    pub fn teacher_probabilities(&self, features: &[f32]) -> Vec<f64> {
        let (d, h, c) = (
            self.config.inputs,
            self.config.teacher_width,
            self.config.classes,
        );
        let mut hidden = vec![0.0f64; h];
        for (i, &x) in features.iter().enumerate().take(d) {
            let row = &self.first[i * h..(i + 1) * h];
            for (acc, &w) in hidden.iter_mut().zip(row) {
                *acc += x as f64 * w as f64;
            }
        }
        let mut logits = vec![0.0f64; c];
        for (j, a) in hidden.iter().enumerate() {
            let t = a.tanh();
            for (k, logit) in logits.iter_mut().enumerate() {
                *logit += t * self.second[j * c + k] as f64;
            }
        }
        let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let exp: Vec<f64> = logits
            .iter()
            .map(|l| (self.config.sharpness * (l - max)).exp())
            .collect();
        let total: f64 = exp.iter().sum();
        exp.into_iter().map(|e| e / total).collect()
    }

    /// The best possible expected cross-entropy (nats): the mean entropy of the teacher's label
    /// distribution over the first `samples` items.
    pub fn bayes_loss(&self, samples: usize) -> f64 {
        let samples = samples.max(1);
        (0..samples)
            .map(|i| {
                let p = self.teacher_probabilities(&self.features(i));
                -p.iter()
                    .filter(|&&q| q > 0.0)
                    .map(|&q| q * q.ln())
                    .sum::<f64>()
            })
            .sum::<f64>()
            / samples as f64
    }

    fn features(&self, index: usize) -> Vec<f32> {
        standard_normal(self.config.inputs, self.config.seed, index as u64 + 1)
    }
}

impl Dataset<TeacherStudentItem> for TeacherStudentDataset {
    fn get(&self, index: usize) -> Result<TeacherStudentItem, DatasetError> {
        assert!(index < self.len, "index {index} >= len {}", self.len);
        let features = self.features(index);
        let p = self.teacher_probabilities(&features);
        // Inverse-CDF draw from a uniform of the item's own stream.
        let u = (split_mix::at(self.config.seed ^ 0x7E5C_11E5, index as u64) >> 11) as f64
            / (1u64 << 53) as f64;
        let mut cumulative = 0.0;
        let label = p
            .iter()
            .position(|&q| {
                cumulative += q;
                u < cumulative
            })
            .unwrap_or(p.len() - 1);
        Ok(TeacherStudentItem { features, label })
    }

    fn len(&self) -> usize {
        self.len
    }
}

/// Stacks items into `(features [batch, inputs], labels [batch])`.
#[derive(Clone, Debug, Default)]
pub struct TeacherStudentBatcher;

impl Batcher<TeacherStudentItem, (Tensor<2>, Tensor<1, Int>)> for TeacherStudentBatcher {
    fn batch(
        &self,
        items: Vec<TeacherStudentItem>,
        device: &Device,
    ) -> (Tensor<2>, Tensor<1, Int>) {
        let n = items.len();
        let d = items.first().map_or(0, |item| item.features.len());
        let features: Vec<f32> = items.iter().flat_map(|i| i.features.clone()).collect();
        let labels: Vec<i64> = items.iter().map(|i| i.label as i64).collect();
        (
            Tensor::from_data(TensorData::new(features, [n, d]), device),
            Tensor::from_data(TensorData::new(labels, [n]), device),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_reproducible_and_labels_follow_the_teacher() {
        let data = TeacherStudentDataset::new(TeacherStudentConfig::new(), 20_000).unwrap();
        assert_eq!(data.get(5).unwrap(), data.get(5).unwrap());
        assert_ne!(data.get(5).unwrap().features, data.get(6).unwrap().features);
        // The empirical cross-entropy of the drawn labels under the teacher estimates the
        // teacher's mean entropy (the Bayes loss); over 20,000 draws they agree to ~0.02 nats
        // (the per-item log-loss has a standard deviation below 1.5).
        let n = data.len();
        let empirical = (0..n)
            .map(|i| {
                let item = data.get(i).unwrap();
                -data.teacher_probabilities(&item.features)[item.label].ln()
            })
            .sum::<f64>()
            / n as f64;
        let bayes = data.bayes_loss(n);
        assert!((empirical - bayes).abs() < 0.03, "{empirical} vs {bayes}");
        // Learnable but noisy: well below ln 10 = 2.303 (uniform) and well above 0.
        assert!(bayes > 0.3 && bayes < 2.0, "{bayes}");
    }

    #[test]
    fn bad_settings_are_named() {
        let err = TeacherStudentDataset::new(TeacherStudentConfig::new().with_classes(0), 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("classes"), "{err}");
        let err = TeacherStudentDataset::new(TeacherStudentConfig::new().with_sharpness(-1.0), 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("sharpness"), "{err}");
    }

    #[test]
    fn batches_stack_items() {
        let data =
            TeacherStudentDataset::new(TeacherStudentConfig::new().with_inputs(3), 4).unwrap();
        let items: Vec<_> = (0..4).map(|i| data.get(i).unwrap()).collect();
        let (x, y) = TeacherStudentBatcher.batch(items.clone(), &Device::default());
        assert_eq!(x.dims(), [4, 3]);
        assert_eq!(
            y.into_data().convert::<i64>().try_to_vec::<i64>().unwrap(),
            items.iter().map(|i| i.label as i64).collect::<Vec<_>>()
        );
    }
}

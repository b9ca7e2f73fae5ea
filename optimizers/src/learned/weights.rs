//! The meta-parameters of the learned optimizer: the per-parameter MLP's weights and biases and
//! the 7 accumulator-decay parameters θ (AdafacMLPLOpt, Metz et al. 2022, "Practical tradeoffs
//! between memory, compute, and performance in learned optimizers", arXiv:2203.11860; the μLO
//! variant of Therien et al. 2024, arXiv:2405.14658). They are what meta-training learns and
//! what a weights file ships.

use std::path::Path;

use serde_json::{Value, json};
use tempering_core::atomic_write::write_atomically;
use tempering_core::split_mix::standard_normal;

/// Per-element input features of the MLP before the step features.
pub const TENSOR_FEATURES: usize = 28;
/// Step-count features `tanh(t/τ − 1)`, one per timescale in [`TIMESCALES`].
pub const STEP_FEATURES: usize = 11;
/// Inputs of the MLP.
pub const INPUTS: usize = TENSOR_FEATURES + STEP_FEATURES;
/// Width of each of the MLP's two hidden layers (μLO's size).
pub const HIDDEN: usize = 32;
/// Outputs of the MLP: direction and magnitude.
pub const OUTPUTS: usize = 2;
/// The timescales τ of the step features.
pub const TIMESCALES: [f64; STEP_FEATURES] =
    [1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1e3, 3e3, 1e4, 3e4, 1e5];
/// Initial decays: momenta (3), second moment (1), Adafactor statistics (3).
pub const INITIAL_DECAYS: [f64; 7] = [0.9, 0.99, 0.999, 0.999, 0.9, 0.99, 0.999];
/// Total meta-parameters: the MLP's 2402 and the 7 decay parameters.
pub const META_PARAMETERS: usize =
    INPUTS * HIDDEN + HIDDEN + HIDDEN * HIDDEN + HIDDEN + HIDDEN * OUTPUTS + OUTPUTS + 7;

/// The format name written into weights files.
const FORMAT: &str = "tempering-learned-optimizer-v1";

/// Why a weights file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a weights file of this format.
    #[error("{path}: not a learned-optimizer weights file: {problem}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        problem: String,
    },
}

/// The learned optimizer's meta-parameters, all `f32`, row-major `[inputs, outputs]` matrices.
#[derive(Clone, Debug, PartialEq)]
pub struct LoptWeights {
    /// `[39, 32]`, `[32, 32]`, `[32, 2]`.
    pub weights: [Vec<f32>; 3],
    /// `[32]`, `[32]`, `[2]`.
    pub biases: [Vec<f32>; 3],
    /// θ of the 7 decays: β = clip(1 − (1 − β₀)·exp(10θ), 0, 1).
    pub decay_params: [f32; 7],
}

/// `(inputs, outputs)` of the MLP's three layers.
pub const LAYERS: [(usize, usize); 3] = [(INPUTS, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, OUTPUTS)];

impl LoptWeights {
    /// A fresh optimizer as the reference initializes one: weights truncated normal (±2σ) with
    /// σ = 1/√fan_in, biases and θ zero; drawn from `seed` alone.
    pub fn init(seed: u64) -> Self {
        let weights = std::array::from_fn(|i| {
            let (fan_in, fan_out) = LAYERS[i];
            let std = 1.0 / (fan_in as f32).sqrt();
            let mut out = Vec::with_capacity(fan_in * fan_out);
            let mut round = 0u64;
            while out.len() < fan_in * fan_out {
                let draws = standard_normal(2 * fan_in * fan_out, seed, i as u64 + (round << 8));
                out.extend(
                    draws
                        .into_iter()
                        .filter(|z| z.abs() <= 2.0)
                        .map(|z| z * std),
                );
                round += 1;
            }
            out.truncate(fan_in * fan_out);
            out
        });
        Self {
            weights,
            biases: std::array::from_fn(|i| vec![0.0; LAYERS[i].1]),
            decay_params: [0.0; 7],
        }
    }

    /// The 7 decays the θ give.
    pub fn decays(&self) -> [f32; 7] {
        std::array::from_fn(|k| {
            let beta = 1.0 - (1.0 - INITIAL_DECAYS[k]) * (10.0 * self.decay_params[k] as f64).exp();
            beta.clamp(0.0, 1.0) as f32
        })
    }

    /// All meta-parameters as one vector (layer by layer, weight then bias, then θ): what
    /// evolution strategies perturb.
    pub fn to_flat(&self) -> Vec<f32> {
        let mut flat = Vec::with_capacity(META_PARAMETERS);
        for i in 0..3 {
            flat.extend(&self.weights[i]);
            flat.extend(&self.biases[i]);
        }
        flat.extend(self.decay_params);
        flat
    }

    /// The inverse of [`to_flat`](Self::to_flat).
    ///
    /// # Panics
    /// If `flat` does not hold [`META_PARAMETERS`] values.
    pub fn from_flat(flat: &[f32]) -> Self {
        assert_eq!(
            flat.len(),
            META_PARAMETERS,
            "LoptWeights::from_flat: {} values, expected {META_PARAMETERS}",
            flat.len()
        );
        let mut at = 0;
        let mut take = |n: usize| {
            let part = flat[at..at + n].to_vec();
            at += n;
            part
        };
        let mut weights: [Vec<f32>; 3] = Default::default();
        let mut biases: [Vec<f32>; 3] = Default::default();
        for (i, (fan_in, fan_out)) in LAYERS.into_iter().enumerate() {
            weights[i] = take(fan_in * fan_out);
            biases[i] = take(fan_out);
        }
        let decay_params = take(7).try_into().expect("7 values");
        Self {
            weights,
            biases,
            decay_params,
        }
    }

    /// Writes the weights as JSON to `path` atomically, with `provenance` (how they were made:
    /// the command, its budget) kept in the file.
    ///
    /// # Errors
    /// [`WeightsError::Io`] when the file cannot be written.
    pub fn save(&self, path: &Path, provenance: &str) -> Result<(), WeightsError> {
        let document = json!({
            "format": FORMAT,
            "provenance": provenance,
            "layers": LAYERS.iter().map(|(i, o)| [i, o]).collect::<Vec<_>>(),
            "meta_parameters": self.to_flat(),
        });
        write_atomically(path, |w| {
            serde_json::to_writer(&mut *w, &document).map_err(std::io::Error::other)
        })
        .map_err(|source| WeightsError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// Reads weights written by [`save`](Self::save), checking the format, the layer sizes and
    /// that every value is finite.
    ///
    /// # Errors
    /// [`WeightsError`] naming the file and the problem.
    pub fn load(path: &Path) -> Result<Self, WeightsError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| WeightsError::Io {
            path: name.clone(),
            source,
        })?;
        Self::from_json(&text, &name)
    }

    /// Parses the text of a weights file; `name` says where it came from in errors.
    ///
    /// # Errors
    /// [`WeightsError::Format`] naming the problem.
    pub fn from_json(text: &str, name: &str) -> Result<Self, WeightsError> {
        let bad = |problem: String| WeightsError::Format {
            path: name.to_string(),
            problem,
        };
        let document: Value =
            serde_json::from_str(text).map_err(|e| bad(format!("invalid JSON ({e})")))?;
        if document["format"] != FORMAT {
            return Err(bad(format!(
                "format is {}, expected \"{FORMAT}\"",
                document["format"]
            )));
        }
        let expected: Value = json!(LAYERS.iter().map(|(i, o)| [i, o]).collect::<Vec<_>>());
        if document["layers"] != expected {
            return Err(bad(format!(
                "layers are {}, this build expects {expected}",
                document["layers"]
            )));
        }
        let values = document["meta_parameters"]
            .as_array()
            .ok_or_else(|| bad("no meta_parameters array".into()))?;
        if values.len() != META_PARAMETERS {
            return Err(bad(format!(
                "{} meta-parameters, expected {META_PARAMETERS}",
                values.len()
            )));
        }
        let flat = values
            .iter()
            .enumerate()
            .map(|(i, v)| match v.as_f64() {
                Some(x) if x.is_finite() => Ok(x as f32),
                _ => Err(bad(format!(
                    "meta-parameter {i} is {v}, not a finite number"
                ))),
            })
            .collect::<Result<Vec<f32>, _>>()?;
        Ok(Self::from_flat(&flat))
    }

    /// The provenance string stored in a weights file, if any.
    ///
    /// # Errors
    /// [`WeightsError`] when the file cannot be read or parsed.
    pub fn provenance(path: &Path) -> Result<String, WeightsError> {
        let text = std::fs::read_to_string(path).map_err(|source| WeightsError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let document: Value = serde_json::from_str(&text).map_err(|e| WeightsError::Format {
            path: path.display().to_string(),
            problem: format!("invalid JSON ({e})"),
        })?;
        Ok(document["provenance"].as_str().unwrap_or("").to_string())
    }
}

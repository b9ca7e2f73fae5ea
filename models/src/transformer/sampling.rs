//! Text generation from a [`TransformerLm`]: temperature and top-k sampling (Fan et al.,
//! "Hierarchical Neural Story Generation", 2018; nanoGPT's `generate`), drawn on the host from
//! a seeded generator so a seed gives the same text on every backend.

use burn::tensor::{Int, Tensor, TensorData};
use tempering_core::split_mix::SplitMix64;

use super::TransformerLm;
use super::projection::Projection;

/// How the next token is drawn from the model's logits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampling {
    /// Logits are divided by it before the softmax: below 1 sharpens, above 1 flattens; 0 is
    /// greedy (always the most likely token).
    pub temperature: f32,
    /// Keep only the `k` most likely tokens (`None`: all of them).
    pub top_k: Option<usize>,
}

impl Default for Sampling {
    /// nanoGPT's `sample.py` defaults: temperature 0.8, top-k 200.
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_k: Some(200),
        }
    }
}

impl Sampling {
    /// Why these settings cannot sample, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(format!(
                "temperature must be a finite number ≥ 0, got {}",
                self.temperature
            ));
        }
        if self.top_k == Some(0) {
            return Err("top_k must be at least 1".into());
        }
        Ok(())
    }

    /// The token drawn from `logits` with `u`, a uniform number in (0, 1]: the smallest index
    /// whose cumulative probability (after temperature and top-k, renormalized) reaches `u`.
    /// Ties at the top-k boundary keep the lower indices.
    pub fn pick(&self, logits: &[f32], u: f64) -> Result<usize, String> {
        self.check()?;
        if logits.is_empty() {
            return Err("no logits to sample from".into());
        }
        if let Some(i) = logits.iter().position(|v| v.is_nan()) {
            return Err(format!("logit {i} is NaN"));
        }
        let argmax = logits
            .iter()
            .enumerate()
            .fold(0, |best, (i, &v)| if v > logits[best] { i } else { best });
        if self.temperature == 0.0 || self.top_k == Some(1) {
            return Ok(argmax);
        }
        // The k-th largest logit; everything below it is out.
        let floor = match self.top_k {
            Some(k) if k < logits.len() => {
                let mut sorted = logits.to_vec();
                sorted.sort_unstable_by(|a, b| b.total_cmp(a));
                sorted[k - 1]
            }
            _ => f32::NEG_INFINITY,
        };
        // Ties at the floor fill the places the larger logits leave, lowest indices first.
        let above = logits.iter().filter(|&&v| v > floor).count();
        let mut ties_left = self.top_k.map_or(0, |k| k.saturating_sub(above));
        let top = f64::from(logits[argmax]);
        let weights: Vec<f64> = logits
            .iter()
            .map(|&v| {
                let kept = v > floor || (v == floor && ties_left > 0);
                if v == floor && kept {
                    ties_left -= 1;
                }
                if kept {
                    ((f64::from(v) - top) / f64::from(self.temperature)).exp()
                } else {
                    0.0
                }
            })
            .collect();
        let total: f64 = weights.iter().sum();
        let mut cumulative = 0.0;
        for (i, w) in weights.iter().enumerate() {
            cumulative += w / total;
            if *w > 0.0 && cumulative >= u {
                return Ok(i);
            }
        }
        // Rounding left the sum a hair below u: the last token with weight.
        Ok(weights.iter().rposition(|&w| w > 0.0).unwrap_or(argmax))
    }
}

impl<P: Projection> TransformerLm<P> {
    /// `prompt` followed by `count` tokens sampled one at a time, each conditioned on the last
    /// [`context`](TransformerLm::context) tokens so far, with a generator seeded by `seed`.
    ///
    /// Errors on an empty prompt, a token id outside the vocabulary, bad sampling settings or
    /// NaN logits.
    pub fn generate(
        &self,
        prompt: &[u32],
        count: usize,
        sampling: &Sampling,
        seed: u64,
    ) -> Result<Vec<u32>, String> {
        sampling.check()?;
        if prompt.is_empty() {
            return Err("the prompt is empty: give at least one token".into());
        }
        let vocab = self.token_embedding.weight.dims()[0];
        if let Some(&bad) = prompt.iter().find(|&&t| t as usize >= vocab) {
            return Err(format!(
                "prompt token {bad} is outside the vocabulary of {vocab}"
            ));
        }
        let device = self.token_embedding.weight.device();
        let mut rng = SplitMix64::new(seed);
        let mut tokens = prompt.to_vec();
        for _ in 0..count {
            let window = &tokens[tokens.len().saturating_sub(self.context())..];
            let time = window.len();
            let ids: Vec<i64> = window.iter().map(|&t| i64::from(t)).collect();
            let input = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, time]), &device);
            let logits = self
                .forward(input)
                .slice([0..1, time - 1..time])
                .reshape([vocab])
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| format!("cannot read the logits: {e:?}"))?;
            let next = sampling.pick(&logits, rng.unit())?;
            tokens.push(next as u32);
        }
        Ok(tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TransformerLmConfig;
    use burn::tensor::Device;

    fn greedy() -> Sampling {
        Sampling {
            temperature: 0.0,
            top_k: None,
        }
    }

    /// Hand-worked: logits ln 1, ln 2, ln 3, ln 4 at temperature 1 give probabilities
    /// 0.1, 0.2, 0.3, 0.4, cumulative 0.1, 0.3, 0.6, 1.0.
    #[test]
    fn picks_by_cumulative_probability() {
        let logits: Vec<f32> = [1.0f32, 2.0, 3.0, 4.0].iter().map(|p| p.ln()).collect();
        let s = Sampling {
            temperature: 1.0,
            top_k: None,
        };
        for (u, expected) in [
            (0.05, 0),
            (0.099, 0),
            (0.101, 1),
            (0.299, 1),
            (0.599, 2),
            (0.601, 3),
        ] {
            assert_eq!(s.pick(&logits, u).unwrap(), expected, "u = {u}");
        }
        // Top-2 keeps 0.3 and 0.4: renormalized 3/7 and 4/7.
        let top2 = Sampling {
            temperature: 1.0,
            top_k: Some(2),
        };
        assert_eq!(top2.pick(&logits, 0.42).unwrap(), 2);
        assert_eq!(top2.pick(&logits, 0.43).unwrap(), 3);
        assert_eq!(top2.pick(&logits, 1e-9).unwrap(), 2);
        // Temperature 0.5 squares the odds: 1, 4, 9, 16 over 30.
        let sharp = Sampling {
            temperature: 0.5,
            top_k: None,
        };
        assert_eq!(sharp.pick(&logits, 1.0 / 30.0 + 1e-6).unwrap(), 1);
        assert_eq!(sharp.pick(&logits, 14.0 / 30.0 - 1e-6).unwrap(), 2);
    }

    /// Logits 1, 1, 2 with top-2: the 2 and the first 1 stay (probabilities 1/(1+e), e/(1+e)).
    #[test]
    fn top_k_ties_keep_the_larger_logits_first() {
        let s = Sampling {
            temperature: 1.0,
            top_k: Some(2),
        };
        let logits = [1.0f32, 1.0, 2.0];
        let p0 = 1.0 / (1.0 + std::f64::consts::E);
        assert_eq!(s.pick(&logits, p0 - 1e-6).unwrap(), 0);
        assert_eq!(s.pick(&logits, p0 + 1e-6).unwrap(), 2);
        assert_eq!(s.pick(&logits, 1.0).unwrap(), 2);
    }

    #[test]
    fn greedy_and_top_1_take_the_argmax() {
        let logits = [0.5f32, 3.0, -1.0, 2.9];
        for u in [1e-9, 0.5, 1.0] {
            assert_eq!(greedy().pick(&logits, u).unwrap(), 1);
            let top1 = Sampling {
                temperature: 2.0,
                top_k: Some(1),
            };
            assert_eq!(top1.pick(&logits, u).unwrap(), 1);
        }
    }

    #[test]
    fn bad_settings_and_logits_are_errors() {
        let bad_t = Sampling {
            temperature: -1.0,
            top_k: None,
        };
        assert!(bad_t.pick(&[1.0], 0.5).unwrap_err().contains("temperature"));
        let bad_k = Sampling {
            temperature: 1.0,
            top_k: Some(0),
        };
        assert!(bad_k.pick(&[1.0], 0.5).unwrap_err().contains("top_k"));
        let nan = Sampling::default().pick(&[1.0, f32::NAN], 0.5).unwrap_err();
        assert!(nan.contains("logit 1 is NaN"), "{nan}");
    }

    /// Generation keeps the prompt, adds `count` in-vocabulary tokens past the context length
    /// (the window slides), repeats itself for a seed, and rejects bad prompts.
    #[test]
    fn generates_from_a_prompt() {
        let device = Device::default();
        let model = TransformerLmConfig::new(11)
            .with_context(8)
            .with_d_model(16)
            .with_n_layers(1)
            .with_n_heads(2)
            .init(&device);
        let s = Sampling {
            temperature: 1.0,
            top_k: Some(5),
        };
        let a = model.generate(&[1, 2, 3], 12, &s, 7).unwrap();
        assert_eq!(a.len(), 15);
        assert_eq!(&a[..3], &[1, 2, 3]);
        assert!(a.iter().all(|&t| t < 11));
        assert_eq!(model.generate(&[1, 2, 3], 12, &s, 7).unwrap(), a);
        let g = model.generate(&[4], 3, &greedy(), 0).unwrap();
        assert_eq!(model.generate(&[4], 3, &greedy(), 99).unwrap(), g);
        assert!(model.generate(&[], 3, &s, 0).unwrap_err().contains("empty"));
        assert!(
            model
                .generate(&[11], 3, &s, 0)
                .unwrap_err()
                .contains("outside the vocabulary of 11")
        );
    }
}

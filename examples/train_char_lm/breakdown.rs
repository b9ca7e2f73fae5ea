//! Where a training step of `train_char_lm`'s model spends its time: each kind of layer timed
//! alone (forward and backward at the step's shapes), multiplied by how often one step runs it,
//! against the whole step measured in the same process. `bench_char_lm --breakdown` prints it.

use std::error::Error;
use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{EmbeddingConfig, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use tempering_core::split_mix::SplitMix64;
use tempering_models::activation::Gelu;
use tempering_models::transformer::host_attention::attention_by_position;
use tempering_models::transformer::host_layer_norm::{NORM_EPSILON, apply_layer_norm, layer_norm};
use tempering_models::transformer::token_linear::token_linear;

use super::{CharLmArgs, chosen_optimizer, corpus_tokens, train_step};
use crate::common::median::median;

/// One row of the breakdown: a part of the step, its time per call and its calls per step.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakdownRow {
    /// What was timed, with its shape.
    pub part: String,
    /// Milliseconds per call (forward and backward, or one optimizer step).
    pub ms_per_call: f64,
    /// How many times one training step runs it.
    pub calls_per_step: usize,
}

/// The parts' rows and the whole step's time, all measured in one process.
#[derive(Debug, Clone, PartialEq)]
pub struct StepBreakdown {
    /// One row per part.
    pub rows: Vec<BreakdownRow>,
    /// Milliseconds per whole training step (forward, backward, clipping, AdamW).
    pub step_ms: f64,
}

impl StepBreakdown {
    /// Milliseconds per step the parts account for.
    pub fn parts_ms(&self) -> f64 {
        self.rows
            .iter()
            .map(|r| r.ms_per_call * r.calls_per_step as f64)
            .sum()
    }

    /// The breakdown as a Markdown table (share of the whole step per part, then the rest).
    pub fn table(&self) -> String {
        let mut out =
            String::from("| part | ms per call | calls per step | ms per step | share |\n");
        out.push_str("|---|---|---|---|---|\n");
        for r in &self.rows {
            let per_step = r.ms_per_call * r.calls_per_step as f64;
            out.push_str(&format!(
                "| {} | {:.3} | {} | {:.2} | {:.0} % |\n",
                r.part,
                r.ms_per_call,
                r.calls_per_step,
                per_step,
                100.0 * per_step / self.step_ms
            ));
        }
        let rest = self.step_ms - self.parts_ms();
        let what = if rest >= 0.0 {
            "the rest (residual adds, reshapes, batching, graph)"
        } else {
            "the rest, negative: a layer timed alone allocates fresh memory (page faults) that the whole step reuses"
        };
        out.push_str(&format!(
            "| {what} | | | {rest:.2} | {:.0} % |\n",
            100.0 * rest / self.step_ms
        ));
        out.push_str(&format!(
            "| **whole step** | | | **{:.2}** | 100 % |\n",
            self.step_ms
        ));
        out
    }
}

/// Median milliseconds of `reps` calls of `f` after two untimed ones.
fn median_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    f();
    median(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

/// Reads one value of `t` back to the host, so that the work behind it is done.
fn touch<const D: usize>(t: Tensor<D>) {
    let n = t.shape().num_elements();
    let _ = t.reshape([n]).slice(0..1).into_scalar::<f32>();
}

/// Forward and backward of `forward` on a fresh input of `shape`, under the loss `Σ w ⊙ y` with a
/// fixed random `w` (so the layer's backward pass gets a dense upstream gradient, as in the
/// model), reading one gradient value back so the work is done when the clock stops.
fn fwd_bwd<const D: usize>(
    device: &Device,
    shape: [usize; D],
    forward: impl Fn(Tensor<D>) -> Tensor<D>,
) -> impl FnMut() {
    let input = Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), device);
    let out_shape = forward(input.clone()).shape();
    let w = Tensor::<D>::random(out_shape, Distribution::Normal(0.0, 1.0), device);
    move || {
        let x = input.clone().require_grad();
        let grads = (forward(x.clone()) * w.clone()).sum().backward();
        let g = x.grad(&grads).expect("the input requires a gradient");
        touch(g);
    }
}

/// Median milliseconds of [`fwd_bwd`] of `forward`, less the same harness around the identity
/// on the output's shape (the weighted sum, its backward and the read-back), so that a row
/// holds the layer's own forward and backward.
fn layer_ms<const D: usize>(
    reps: usize,
    device: &Device,
    shape: [usize; D],
    forward: impl Fn(Tensor<D>) -> Tensor<D>,
) -> f64 {
    let probe = Tensor::<D>::zeros(shape, device);
    let out_dims: [usize; D] = forward(probe).dims();
    let harness = median_ms(reps, fwd_bwd(device, out_dims, |y| y));
    (median_ms(reps, fwd_bwd(device, shape, forward)) - harness).max(0.0)
}

/// Times the parts of one training step of the model `args` describes and the whole step.
pub fn step_breakdown(args: &CharLmArgs, reps: usize) -> Result<StepBreakdown, Box<dyn Error>> {
    args.validate()?;
    if reps == 0 {
        return Err("time at least one repetition".into());
    }
    let device = args.common.device()?;
    device.seed(args.common.seed);
    let ad = device.clone().autodiff();
    let (_, tokenizer, tokens) = corpus_tokens(args)?;
    let vocab = tokenizer.vocab_size();
    let (b, t, d) = (args.batch_size, args.context, args.d_model);
    let (h, ff) = (args.heads, 4 * args.d_model);
    let dh = d / h;
    let layers = args.layers;
    let mut rows = Vec::new();
    let mut row = |part: String, calls: usize, ms_per_call: f64| {
        rows.push(BreakdownRow {
            part,
            ms_per_call,
            calls_per_step: calls,
        });
    };

    let options = AttentionModuleOptions {
        is_causal: true,
        ..Default::default()
    };
    let [q, k, v, w] =
        [0; 4].map(|_| Tensor::<4>::random([b, t, h, dh], Distribution::Normal(0.0, 1.0), &ad));
    let harness = median_ms(reps, fwd_bwd(&ad, [b, t, h, dh], |y| y));
    let attention_ms = |attend: &dyn Fn(Tensor<4>, Tensor<4>, Tensor<4>) -> Tensor<4>| {
        let ms = median_ms(reps, || {
            let [q, k, v] = [&q, &k, &v].map(|x| x.clone().require_grad());
            let grads = (attend(q.clone(), k, v) * w.clone()).sum().backward();
            touch(q.grad(&grads).expect("grad"));
        });
        (ms - harness).max(0.0)
    };
    let ours = attention_ms(&|q, k, v| attention_by_position(q, k, v, true));
    let burns = attention_ms(&|q, k, v| {
        let heads_first = |x: Tensor<4>| x.swap_dims(1, 2);
        attention(
            heads_first(q),
            heads_first(k),
            heads_first(v),
            None,
            None,
            options,
        )
        .swap_dims(1, 2)
    });
    row(
        format!("causal attention [{b}, {t}, {h}, {dh}] (the model's attention_by_position)"),
        layers,
        ours,
    );
    row(
        "for comparison: Burn's attention op, not in the step".into(),
        0,
        burns,
    );
    let norm = layer_norm(d, &ad);
    row(
        format!("layer norm [{b}, {t}, {d}] (the model's apply_layer_norm)"),
        2 * layers + 1,
        layer_ms(reps, &ad, [b, t, d], |x| {
            apply_layer_norm(&norm, x, NORM_EPSILON)
        }),
    );
    row(
        "for comparison: burn's LayerNorm::forward, not in the step".into(),
        0,
        layer_ms(reps, &ad, [b, t, d], |x| norm.forward(x)),
    );
    let square = LinearConfig::new(d, d).init(&ad);
    row(
        format!("linear {d}→{d} (q, k, v, out)"),
        4 * layers,
        layer_ms(reps, &ad, [b, t, d], |x| token_linear(&square, x)),
    );
    let expand = LinearConfig::new(d, ff).init(&ad);
    row(
        format!("linear {d}→{ff}"),
        layers,
        layer_ms(reps, &ad, [b, t, d], |x| token_linear(&expand, x)),
    );
    row(
        format!("for comparison: burn's Linear {d}→{ff} on the 3-D input, not in the step"),
        0,
        layer_ms(reps, &ad, [b, t, d], |x| expand.forward(x)),
    );
    let contract = LinearConfig::new(ff, d).init(&ad);
    row(
        format!("linear {ff}→{d}"),
        layers,
        layer_ms(reps, &ad, [b, t, ff], |x| token_linear(&contract, x)),
    );
    let gelu = Gelu::new();
    row(
        format!("GELU [{b}, {t}, {ff}] (tempering_models::activation::Gelu)"),
        layers,
        layer_ms(reps, &ad, [b, t, ff], |x| gelu.forward(x)),
    );
    let burns_gelu = burn::nn::Gelu::new();
    row(
        format!("for comparison: burn::nn::Gelu [{b}, {t}, {ff}], not in the step"),
        0,
        layer_ms(reps, &ad, [b, t, ff], |x| burns_gelu.forward(x)),
    );
    let table = Tensor::<2>::random([vocab, d], Distribution::Normal(0.0, 0.02), &ad);
    let loss = CrossEntropyLossConfig::new().init(&ad);
    let mut rng = SplitMix64::new(args.common.seed);
    let targets: Vec<i64> = (0..b * t).map(|_| rng.below(vocab) as i64).collect();
    let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [b * t]), &ad);
    let hidden = Tensor::<2>::random([b * t, d], Distribution::Normal(0.0, 1.0), &ad);
    row(
        format!("tied head + cross-entropy [{}, {d}]×[{d}, {vocab}]", b * t),
        1,
        median_ms(reps, || {
            let x = hidden.clone().require_grad();
            let w = table.clone().require_grad();
            let logits = x.clone().matmul(w.transpose());
            let grads = loss.forward(logits, targets.clone()).backward();
            touch(x.grad(&grads).expect("grad"));
        }),
    );
    let token_table = EmbeddingConfig::new(vocab, d).init(&ad);
    let position_table = EmbeddingConfig::new(t, d).init(&ad);
    let ids = targets.clone().reshape([b, t]);
    row(
        format!("token + position embeddings [{b}, {t}]"),
        1,
        median_ms(reps, || {
            let positions = Tensor::<1, Int>::arange(0..t as i64, &ad).reshape([1, t]);
            let x = token_table.forward(ids.clone()) + position_table.forward(positions);
            let grads = x.sum().backward();
            touch(token_table.weight.grad(&grads).expect("grad"));
        }),
    );

    let mut model = args.model_config(vocab).init(&ad);
    let mut optim = chosen_optimizer(args, &model)?;
    let mut step_rng = SplitMix64::new(args.common.seed);
    let mut optim_times = Vec::with_capacity(reps);
    for rep in 0..reps + 2 {
        let (x, y) = super::batch(&tokens, b, t, &mut step_rng, &ad);
        let grads = GradientsParams::from_grads(model.loss(x, y).backward(), &model);
        let started = Instant::now();
        model = optim.step(args.peak_lr(), model, grads);
        touch(model.token_embedding.weight.val());
        if rep >= 2 {
            optim_times.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    optim_times.sort_by(f64::total_cmp);
    rows.push(BreakdownRow {
        part: format!(
            "optimizer step ({}) with gradient clipping (whole model)",
            args.optimizer.name()
        ),
        ms_per_call: optim_times[optim_times.len() / 2],
        calls_per_step: 1,
    });

    let step_ms = median_ms(reps, || {
        let taken = model.clone();
        model = train_step(
            taken,
            &mut optim,
            &tokens,
            args,
            args.peak_lr(),
            &mut step_rng,
        )
        .expect("a finite training loss")
        .0;
    });
    Ok(StepBreakdown { rows, step_ms })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_rest_is_the_step_less_its_parts() {
        let b = StepBreakdown {
            rows: vec![
                BreakdownRow {
                    part: "a".into(),
                    ms_per_call: 2.0,
                    calls_per_step: 3,
                },
                BreakdownRow {
                    part: "b".into(),
                    ms_per_call: 1.5,
                    calls_per_step: 2,
                },
            ],
            step_ms: 10.0,
        };
        assert_eq!(b.parts_ms(), 9.0);
        let table = b.table();
        assert!(table.contains("| a | 2.000 | 3 | 6.00 | 60 % |"), "{table}");
        assert!(table.contains("| 1.00 | 10 % |"), "{table}");
    }

    /// A tiny model on the shipped corpus: one row per part, each timed, the step included.
    #[test]
    fn a_tiny_model_is_broken_down() {
        let args = CharLmArgs::try_parse_from([
            "bench_char_lm",
            "--batch-size",
            "2",
            "--context",
            "8",
            "--d-model",
            "16",
            "--layers",
            "1",
            "--heads",
            "2",
        ])
        .unwrap();
        let b = step_breakdown(&args, 1).unwrap();
        assert_eq!(b.rows.len(), 13);
        assert!(b.rows.iter().all(|r| r.ms_per_call >= 0.0), "{b:?}");
        let norms = b.rows.iter().find(|r| r.part.starts_with("layer norm"));
        // Two norms per block and the final one.
        assert_eq!(norms.map(|r| r.calls_per_step), Some(3), "{b:?}");
        assert!(b.step_ms > 0.0);
        assert!(
            step_breakdown(&args, 0)
                .unwrap_err()
                .to_string()
                .contains("one")
        );
    }
}

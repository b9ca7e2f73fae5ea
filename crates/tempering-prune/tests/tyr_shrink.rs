//! Týr-the-Pruner over a whole `TransformerLm` (`tyr_prune`): the smaller model has the
//! parameter count of uniform shrinking at the same ratio (the search only moves sparsity
//! between layers of one kind); the physically shrunk model computes exactly what the search
//! scored; on a last selection stage that covers every calibration sequence the parent's KL
//! never rises (the parent is re-entered each generation); every propagation choice runs; bad
//! requests are refused.

use std::sync::Mutex;

use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use tempering_core::compression::linear_units::host_values;
use tempering_core::split_mix::SplitMix64;
use tempering_models::{TransformerLm, TransformerLmConfig};
use tempering_prune::calibrated::tyr::{Propagation, TyrConfig, TyrSearchConfig, tyr_prune};
use tempering_prune::structured::{StructuredConfig, shrink_structured};

const VOCAB: usize = 13;
const CONTEXT: usize = 8;
const SEQUENCES: usize = 24;

static SEEDING: Mutex<()> = Mutex::new(());

struct ReadEveryParameter;

impl burn::module::ModuleVisitor for ReadEveryParameter {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

fn config() -> TransformerLmConfig {
    // Four heads of 4 and 128 channels: one head is a quarter of the attention output, and
    // the 32-channel floor of a step a quarter of the feed-forward.
    TransformerLmConfig::new(VOCAB)
        .with_context(CONTEXT)
        .with_d_model(16)
        .with_n_layers(2)
        .with_n_heads(4)
        .with_d_ff(Some(128))
        .with_init_std(0.3)
}

fn model(device: &Device) -> TransformerLm {
    let _seeding = SEEDING.lock().unwrap_or_else(|e| e.into_inner());
    device.seed(5);
    let mut model = config().init(device);
    // Norms as a trained model's might be (a fresh LayerNorm makes XᵀX singular).
    for block in &mut model.blocks {
        for norm in [&mut block.attention_norm, &mut block.feed_forward_norm] {
            norm.gamma = Param::from_tensor(Tensor::random(
                [16],
                Distribution::Uniform(0.5, 1.5),
                device,
            ));
            norm.beta = Some(Param::from_tensor(Tensor::random(
                [16],
                Distribution::Normal(0.0, 0.5),
                device,
            )));
        }
    }
    model.visit(&mut ReadEveryParameter);
    model
}

/// All calibration sequences `[SEQUENCES, CONTEXT]`, from a seeded SplitMix64.
fn sequences(device: &Device) -> Tensor<2, Int> {
    let mut rng = SplitMix64::new(3);
    let ids: Vec<i64> = (0..SEQUENCES * CONTEXT)
        .map(|_| rng.below(VOCAB) as i64)
        .collect();
    Tensor::from_data(TensorData::new(ids, [SEQUENCES, CONTEXT]), device)
}

fn small_search(ratio: f64) -> TyrConfig {
    let mut config = TyrConfig::new(ratio);
    config.rounds = 2;
    config.search = TyrSearchConfig {
        generations: 4,
        offspring: 6,
        // The last stage takes every sequence whole: the same tokens every generation.
        stages: vec![(4 * CONTEXT, 3), (SEQUENCES * CONTEXT, 1)],
        ..TyrSearchConfig::default()
    };
    config
}

/// `KL(dense ‖ model)` per position as the search takes it: every sequence's positions but
/// its last, over the whole vocabulary.
fn kl(dense: &TransformerLm, model: &TransformerLm, all: &Tensor<2, Int>) -> f64 {
    let log_softmax = |t: Tensor<3>| burn::tensor::activation::log_softmax(t, 2);
    let p = host_values(log_softmax(dense.forward(all.clone())));
    let q = host_values(log_softmax(model.forward(all.clone())));
    let mut total = 0.0;
    for s in 0..SEQUENCES {
        for t in 0..CONTEXT - 1 {
            let at = (s * CONTEXT + t) * VOCAB;
            total += (0..VOCAB)
                .map(|c| {
                    let (p, q) = (f64::from(p[at + c]), f64::from(q[at + c]));
                    p.exp() * (p - q)
                })
                .sum::<f64>();
        }
    }
    total / (SEQUENCES * (CONTEXT - 1)) as f64
}

fn run(
    dense: &TransformerLm,
    tyr: &TyrConfig,
    device: &Device,
) -> Result<(TransformerLm, tempering_prune::calibrated::tyr::TyrReport), String> {
    let all = sequences(device);
    let batches: Vec<Tensor<2, Int>> = (0..SEQUENCES / 8)
        .map(|b| all.clone().narrow(0, 8 * b, 8))
        .collect();
    let logits = |m: &TransformerLm, ids: &[usize]| {
        let ids: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        m.forward(
            all.clone()
                .select(0, Tensor::from_ints(ids.as_slice(), device)),
        )
    };
    tyr_prune(
        dense.clone(),
        &config(),
        &batches,
        SEQUENCES,
        &logits,
        tyr,
        &mut |_| {},
    )
    .map(|(model, _, report)| (model, report))
    .map_err(|e| e.to_string())
}

#[test]
fn the_shrunk_model_is_what_the_search_scored_at_the_uniform_size() {
    let device = Device::default();
    let dense = model(&device);
    let (small, report) = run(&dense, &small_search(0.5), &device).unwrap();
    let (uniform, _, uniform_report) =
        shrink_structured(dense.clone(), &config(), &StructuredConfig::new(0.5)).unwrap();
    assert_eq!(report.parameters_after, uniform_report.parameters_after);
    assert_eq!(small.num_params(), uniform.num_params());
    for round in &report.rounds {
        // Levels of heads (even layers) and of channels (odd) each sum to zero.
        let heads: i64 = round.levels.iter().step_by(2).sum();
        let channels: i64 = round.levels.iter().skip(1).step_by(2).sum();
        assert_eq!((heads, channels), (0, 0), "{round:?}");
        // Elitism on the same tokens: the parent's KL never rises.
        for pair in round.fitness.windows(2) {
            assert!(pair[1] <= pair[0] * (1.0 + 1e-9), "{:?}", round.fitness);
        }
    }
    // The last generation scored the final state on every sequence: the shrunk model's KL.
    let scored = *report.rounds.last().unwrap().fitness.last().unwrap();
    let measured = kl(&dense, &small, &sequences(&device));
    assert!(
        (scored - measured).abs() <= 1e-4 * scored.max(1e-6),
        "searched {scored} vs shrunk {measured}"
    );
    assert!(scored > 0.0);
}

#[test]
fn every_propagation_runs() {
    let device = Device::default();
    let dense = model(&device);
    for propagation in [
        Propagation::Dense,
        Propagation::Expectation,
        Propagation::TargetLevel,
    ] {
        let mut tyr = small_search(0.25);
        tyr.rounds = 1;
        tyr.search.generations = 1;
        tyr.supernet.propagation = propagation;
        let (small, report) = run(&dense, &tyr, &device).unwrap();
        assert!(small.num_params() < dense.num_params(), "{propagation:?}");
        assert_eq!(report.layers.len(), 4);
    }
}

#[test]
fn bad_requests_are_refused() {
    let device = Device::default();
    let dense = model(&device);
    let err = run(&dense, &small_search(1.0), &device).unwrap_err();
    assert!(err.contains("ratio"), "{err}");
    // 90 % of 4 heads keeps none.
    let err = run(&dense, &small_search(0.9), &device).unwrap_err();
    assert!(err.contains("keeps no unit"), "{err}");
    let mut tyr = small_search(0.5);
    tyr.search.stages.clear();
    let err = run(&dense, &tyr, &device).unwrap_err();
    assert!(err.contains("selection stage"), "{err}");
}

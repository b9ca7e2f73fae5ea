//! Lottery tickets by iterative magnitude pruning with rewinding (Lange & Sprekeler 2023, after
//! es-lottery's `imp.py`): the rounds' sparsities are `1 − 0.8^i`, each mask keeps the previous
//! round's largest trained weights, each ticket starts from the initial weights under its mask,
//! random masks keep each tensor's count; and a ticket trained by evolution strategies
//! (tempering-train's OpenAI-ES) learns with its pruned weights held at zero.

use std::cell::RefCell;

use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use tempering_core::split_mix::SplitMix64;
use tempering_prune::lottery::{LotteryConfig, lottery_tickets};
use tempering_train::evolution::{OpenEsConfig, es_train};

fn values(layer: &Linear) -> Vec<f32> {
    layer
        .weight
        .val()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap()
}

fn with_weights(layer: Linear, w: Vec<f32>) -> Linear {
    let dims = layer.weight.dims();
    let device = layer.weight.device();
    Linear {
        weight: burn::module::Param::initialized(
            layer.weight.id,
            Tensor::from_data(TensorData::new(w, dims.to_vec()), &device),
        ),
        bias: layer.bias,
    }
}

#[test]
fn rounds_prune_the_trained_weights_and_rewind_to_the_initial_ones() {
    let device = Device::default();
    let init = LinearConfig::new(10, 10).init(&device);
    let initial = values(&init);
    // The "trained" weights: a fixed permutation of magnitudes 1..=100, so every threshold is
    // exact and differs from the initial weights' order.
    let trained: Vec<f32> = (0..100).map(|i| ((i * 37) % 100 + 1) as f32).collect();
    let seen = RefCell::new(Vec::new());
    let config = LotteryConfig::new(4);
    let rounds = lottery_tickets(init, &config, |ticket: Linear, masks, round| {
        seen.borrow_mut()
            .push((round, values(&ticket), masks.map(|m| m.sparsity())));
        // Training keeps the ticket's zeros and sets the rest to the fixed trained weights.
        let t: Vec<f32> = values(&ticket)
            .iter()
            .zip(&trained)
            .map(|(&v, &w)| if v == 0.0 { 0.0 } else { w })
            .collect();
        Ok::<_, String>(with_weights(ticket, t))
    })
    .unwrap();
    assert_eq!(rounds.len(), 5);
    let seen = seen.into_inner();
    // Round 0 gets the initial weights whole.
    assert_eq!(seen[0].1, initial);
    for round in 1..=4 {
        // ⌊(1 − 0.8^i)·100⌋ weights, the global magnitude pruner's count: 20, 36, 48, 59.
        let expected = (100.0 * config.sparsity(round) + 1e-9).floor() as usize;
        let ticket = &seen[round].1;
        let zeros = ticket.iter().filter(|v| **v == 0.0).count();
        assert_eq!(zeros, expected, "round {round}");
        for i in 0..100 {
            if ticket[i] != 0.0 {
                // Rewound: a kept weight is the initial one.
                assert_eq!(ticket[i], initial[i]);
                // Kept: among the largest trained magnitudes.
                assert!(
                    trained[i] > expected as f32,
                    "round {round}: kept {}",
                    trained[i]
                );
            }
        }
        assert!((rounds[round].sparsity - config.sparsity(round)).abs() < 1e-12);
    }
    assert_eq!(config.round_reaching(0.5), Some(4));
    assert_eq!(config.round_reaching(0.99), None);
}

#[test]
fn random_masks_keep_each_tensors_count_elsewhere() {
    let device = Device::default();
    let init = LinearConfig::new(20, 10).init(&device);
    let rounds = lottery_tickets(init.clone(), &LotteryConfig::new(2), |m: Linear, _, _| {
        Ok::<_, String>(m)
    })
    .unwrap();
    let ticket = rounds[2].masks.as_ref().unwrap();
    let random = ticket.shuffled(7);
    let a = ticket.keep(init.weight.id).unwrap();
    let b = random.keep(init.weight.id).unwrap();
    assert_eq!(
        a.iter().filter(|k| **k).count(),
        b.iter().filter(|k| **k).count()
    );
    assert_ne!(a, b, "a shuffle of 200 entries left the mask in place");
    assert_eq!(
        random.keep(init.weight.id),
        ticket.shuffled(7).keep(init.weight.id)
    );
    assert_ne!(
        random.keep(init.weight.id),
        ticket.shuffled(8).keep(init.weight.id)
    );
}

/// Two well-separated classes in 8 features.
fn blobs(device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
    let mut rng = SplitMix64::new(2);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..128 {
        let label = i % 2;
        for f in 0..8 {
            let center = if (label == 0) == (f % 2 == 0) {
                1.0
            } else {
                -1.0
            };
            x.push(center + 0.5 * (rng.unit() as f32 - 0.5));
        }
        y.push(label as i64);
    }
    (
        Tensor::from_data(TensorData::new(x, [128, 8]), device),
        Tensor::from_data(TensorData::new(y, [128]), device),
    )
}

#[test]
fn an_es_ticket_learns_with_its_pruned_weights_at_zero() {
    let device = Device::default();
    let (x, y) = blobs(&device);
    let loss = |m: &Linear| -> f64 {
        let logits = m.forward(x.clone());
        burn::nn::loss::CrossEntropyLossConfig::new()
            .init(&device)
            .forward(logits, y.clone())
            .into_scalar::<f64>()
    };
    let init = LinearConfig::new(8, 2).init(&device);
    let start = loss(&init);
    let es = OpenEsConfig {
        pairs: 16,
        learning_rate: 0.05,
        ..OpenEsConfig::default()
    };
    let rounds = lottery_tickets(
        init,
        &LotteryConfig::new(3),
        |ticket: Linear, masks, round| {
            let keep = |id| masks.and_then(|m| m.keep(id));
            Ok::<_, String>(es_train(
                ticket,
                keep,
                &es,
                120,
                round as u64,
                |m: &Linear, _| loss(m),
                &mut |_, _| {},
            ))
        },
    )
    .unwrap();
    for r in &rounds {
        let end = loss(&r.trained);
        assert!(end < 0.5 * start, "round {}: {end} from {start}", r.round);
        let zeros = values(&r.trained).iter().filter(|v| **v == 0.0).count();
        // Exactly the mask's zeros (⌊s·16⌋): ES never moved a pruned weight.
        assert_eq!(
            zeros,
            (16.0 * r.sparsity + 1e-9).floor() as usize,
            "round {}",
            r.round
        );
    }
}

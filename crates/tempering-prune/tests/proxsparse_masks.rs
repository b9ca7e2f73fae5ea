//! ProxSparse's mask learning on the project's `TransformerLm`: the weights keep training
//! through the proximal steps, a strong `λ` leaves the learned groups 2-sparse, and the masks
//! applied to the original model keep its surviving weights bit for bit in exact 2:4.

use burn::tensor::{Device, Int, Tensor, TensorData};
use tempering_core::compression::SequentialBlocks;
use tempering_core::compression::linear_units::host_values;
use tempering_core::split_mix::SplitMix64;
use tempering_models::{TransformerLm, TransformerLmConfig};
use tempering_prune::calibrated::{ProxSparseConfig, apply_two_of_four_masks, proxsparse_masks};

const VOCAB: usize = 13;

fn model(device: &Device) -> TransformerLm {
    TransformerLmConfig::new(VOCAB)
        .with_context(8)
        .with_d_model(16)
        .with_n_layers(2)
        .with_n_heads(2)
        .with_d_ff(Some(32))
        .with_init_std(0.3)
        .init(device)
}

/// Windows of 9 tokens (8 inputs and their next tokens) of a repeating pattern, learnable.
fn windows(device: &Device, step: usize) -> Tensor<2, Int> {
    let mut rng = SplitMix64::new(step as u64);
    let ids: Vec<i64> = (0..4)
        .flat_map(|_| {
            let start = rng.below(VOCAB);
            (0..9).map(move |t| ((start + 3 * t) % VOCAB) as i64)
        })
        .collect();
    Tensor::from_data(TensorData::new(ids, [4, 9]), device)
}

fn loss(m: &TransformerLm, step: usize) -> Tensor<1> {
    let device = m.token_embedding.weight.device();
    let w = windows(&device, step);
    let inputs = w.clone().slice([0..4, 0..8]);
    let targets = w.slice([0..4, 1..9]);
    m.loss(inputs, targets)
}

#[test]
fn training_goes_on_through_the_proximal_steps() {
    // λ = 0 makes each proximal step the identity; a high learning rate shows the weights
    // still receive gradients after their values are rewritten.
    let device = Device::default().autodiff();
    let config = ProxSparseConfig {
        learning_rate: 1e-2,
        ..ProxSparseConfig::new(0.0, 40)
    };
    let (_, report) = proxsparse_masks(model(&device), &config, loss, &mut |_| {}).unwrap();
    let early: f64 = report.losses[..5].iter().sum::<f64>() / 5.0;
    let late: f64 = report.losses[35..].iter().sum::<f64>() / 5.0;
    assert!(late < 0.8 * early, "losses {early} → {late}");
    // The blocks' weights themselves trained (step 0's rate is 0, so without gradients after
    // their first rewrite they would not have moved at all).
    assert!(report.weight_change > 0.01, "{}", report.weight_change);
}

#[test]
fn strong_lambda_gives_two_sparse_groups_and_masks_keep_original_weights() {
    let device = Device::default().autodiff();
    let dense = model(&device);
    let config = ProxSparseConfig::new(20.0, 10);
    let (masks, report) = proxsparse_masks(dense.clone(), &config, loss, &mut |_| {}).unwrap();
    assert!(
        report.groups.at_most_two_kept() > 0.99,
        "{:?}",
        report.groups
    );
    assert_eq!(masks.len(), 12);
    let mut pruned = dense.clone();
    let outcomes = apply_two_of_four_masks(&mut pruned, &masks).unwrap();
    let mut original = dense;
    for b in 0..2 {
        let before: Vec<Vec<f32>> = original
            .block_linears_mut(b)
            .into_iter()
            .map(|(_, l)| host_values(l.weight.val()))
            .collect();
        for ((name, linear), before) in pruned.block_linears_mut(b).into_iter().zip(before) {
            let [d_in, d_out] = linear.weight.dims();
            let after = host_values(linear.weight.val());
            for o in 0..d_out {
                for g in (0..d_in).step_by(4) {
                    let kept = (g..g + 4).filter(|&i| after[i * d_out + o] != 0.0).count();
                    assert!(kept <= 2, "{name}: output {o}, inputs {g}..");
                }
            }
            for (a, b) in after.iter().zip(&before) {
                assert!(*a == 0.0 || a.to_bits() == b.to_bits(), "{name}");
            }
        }
    }
    assert!(
        outcomes
            .iter()
            .all(|o| o.zeros >= o.shape[0] * o.shape[1] / 2)
    );
}

//! ALDS export of the transformers (Liebenwein et al., NeurIPS 2021), the language model and the
//! ViT: their block linear layers become factors, the model keeps computing what the factors
//! say (exactly, at full rank), meets the parameter budget, and the exported config rebuilds
//! the model that loads the saved factors.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData, Tolerance};
use tempering_core::compression::LowRankExport;
use tempering_models::transformer::FactorizedLmConfig;
use tempering_models::{
    FactorizedVitConfig, TransformerLm, TransformerLmConfig, VitClassifierConfig,
};
use tempering_prune::low_rank::LowRankConfig;
use tempering_prune::low_rank_export::{factorize_layer, factorize_model};

fn config() -> TransformerLmConfig {
    TransformerLmConfig::new(13)
        .with_context(10)
        .with_d_model(24)
        .with_n_layers(2)
        .with_n_heads(3)
        .with_d_ff(Some(40))
}

fn tokens(device: &Device) -> Tensor<2, Int> {
    let ids: Vec<i64> = (0..20).map(|i| (i * 7 + 3) % 13).collect();
    Tensor::from_data(TensorData::new(ids, [2, 10]), device)
}

/// Reloaded factors are stored contiguous where the exported ones are transposed views, so the
/// products round differently in the last bits (logits of size ~1 differ by ~1e-6).
const RELOAD_TOLERANCE: f32 = 1e-5;

/// A model whose weights are not near zero, so truncation changes its outputs.
fn model(device: &Device) -> TransformerLm {
    device.seed(5);
    config().with_init_std(0.3).init(device)
}

#[test]
fn full_rank_factors_compute_what_the_dense_model_does() {
    let device = Device::default();
    let dense = model(&device);
    let expected = dense.forward(tokens(&device));
    let layers = dense.factorizable_layers();
    assert_eq!(layers.len(), 12);
    assert_eq!(layers[0].0, "blocks.0.attention.query.weight");
    assert_eq!(layers[11].0, "blocks.1.feed_forward.contract.weight");
    // Rank 40 ≥ every chunk's min(columns, outputs): the factorization is exact.
    let chunks = vec![3; layers.len()];
    let ranks = vec![Some(40); layers.len()];
    let factors = layers
        .iter()
        .map(|(name, layer)| factorize_layer(name, layer, 40, 3).map(Some))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let (factorized, factorized_config) = dense
        .clone()
        .export_low_rank(&config(), factors, &ranks, &chunks)
        .unwrap();
    assert_eq!(factorized_config.factorized.len(), 12);
    factorized
        .forward(tokens(&device))
        .into_data()
        .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::absolute(1e-4));
}

#[test]
fn an_exported_transformer_meets_the_budget_and_reloads_from_its_config() {
    let device = Device::default();
    let dense = model(&device);
    let dense_weights: usize = 2 * (4 * 24 * 24 + 2 * 24 * 40);
    let (small, small_config, layers) =
        factorize_model(dense.clone(), &config(), &LowRankConfig::new(0.4)).unwrap();
    assert_eq!(layers.len(), 12);
    let after: u64 = layers.iter().map(|l| l.parameters_after).sum();
    assert!(after as usize <= dense_weights * 2 / 5, "{after}");
    // Everything but the block weights is kept: the saving is exactly the allocation's.
    let before: u64 = layers.iter().map(|l| l.parameters_before).sum();
    assert_eq!(
        small.num_params(),
        dense.num_params() - (before - after) as usize
    );
    assert_eq!(small_config.parameter_count(), Some(small.num_params()));
    let factorized: Vec<_> = layers.iter().filter(|l| l.rank.is_some()).collect();
    assert_eq!(small_config.factorized.len(), factorized.len());
    for (spec, allocation) in small_config.factorized.iter().zip(factorized) {
        assert_eq!(spec.name, allocation.name);
        assert_eq!(Some(spec.rank), allocation.rank);
        assert_eq!(spec.chunks, allocation.chunks);
    }
    let logits = small.forward(tokens(&device));
    let dense_logits = dense.forward(tokens(&device));
    let moved = (logits.clone() - dense_logits)
        .abs()
        .max()
        .into_scalar::<f32>();
    assert!(moved > 1e-3, "40 % of the weights cannot be exact: {moved}");

    let dir = tempfile::tempdir().unwrap();
    let (file, json) = (dir.path().join("lm.bpk"), dir.path().join("lm.json"));
    small.clone().save_file(&file).unwrap();
    small_config.save(&json).unwrap();
    let reloaded = FactorizedLmConfig::load(&json)
        .unwrap()
        .init(&device)
        .load_file(&file);
    reloaded
        .forward(tokens(&device))
        .into_data()
        .assert_approx_eq::<f32>(&logits.into_data(), Tolerance::absolute(RELOAD_TOLERANCE));
}

#[test]
fn the_search_picks_chunks_per_layer_and_they_rebuild() {
    let device = Device::default();
    let searched = LowRankConfig {
        search: Some(Default::default()),
        ..LowRankConfig::new(0.4)
    };
    let (small, small_config, layers) =
        factorize_model(model(&device), &config(), &searched).unwrap();
    // The search picks each k among the divisors of the layer's inputs (24 or 40).
    for l in &layers {
        let inputs = if l.name.ends_with("contract.weight") {
            40
        } else {
            24
        };
        assert_eq!(inputs % l.chunks, 0, "{}: k {}", l.name, l.chunks);
    }
    let rebuilt = small_config
        .init(&device)
        .load_record(small.clone().into_record());
    rebuilt
        .forward(tokens(&device))
        .into_data()
        .assert_approx_eq::<f32>(
            &small.forward(tokens(&device)).into_data(),
            Tolerance::absolute(RELOAD_TOLERANCE),
        );
}

#[test]
fn an_exported_vit_meets_the_budget_and_reloads_from_its_config() {
    let device = Device::default();
    device.seed(9);
    let config = VitClassifierConfig::new()
        .with_image_size(8)
        .with_patch_size(2)
        .with_d_model(16)
        .with_n_layers(2)
        .with_n_heads(2)
        .with_init_std(0.3);
    let dense = config.init(&device);
    let images = Tensor::<3>::from_data(
        TensorData::new(
            (0..3 * 64)
                .map(|i| ((i * 37) % 11) as f32 / 11.0)
                .collect::<Vec<_>>(),
            [3, 8, 8],
        ),
        &device,
    );
    // Full rank: exact.
    let layers = dense.factorizable_layers();
    assert_eq!(layers.len(), 12);
    let factors = layers
        .iter()
        .map(|(name, layer)| factorize_layer(name, layer, 32, 2).map(Some))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let (exact, _) = dense
        .clone()
        .export_low_rank(&config, factors, &[Some(32); 12], &[2; 12])
        .unwrap();
    exact
        .forward(images.clone())
        .into_data()
        .assert_approx_eq::<f32>(
            &dense.forward(images.clone()).into_data(),
            Tolerance::absolute(1e-4),
        );
    // At 40 %: within the budget, and the config rebuilds what loads the saved factors.
    let (small, small_config, allocation) =
        factorize_model(dense.clone(), &config, &LowRankConfig::new(0.4)).unwrap();
    let before: u64 = allocation.iter().map(|l| l.parameters_before).sum();
    let after: u64 = allocation.iter().map(|l| l.parameters_after).sum();
    assert!(after * 5 <= before * 2, "{after} of {before}");
    assert_eq!(
        small.num_params(),
        dense.num_params() - (before - after) as usize
    );
    let dir = tempfile::tempdir().unwrap();
    let (file, json) = (dir.path().join("vit.bpk"), dir.path().join("vit.json"));
    small.clone().save_file(&file).unwrap();
    small_config.save(&json).unwrap();
    let reloaded = FactorizedVitConfig::load(&json)
        .unwrap()
        .init(&device)
        .load_file(&file);
    reloaded
        .forward(images.clone())
        .into_data()
        .assert_approx_eq::<f32>(
            &small.forward(images).into_data(),
            Tolerance::absolute(RELOAD_TOLERANCE),
        );
}

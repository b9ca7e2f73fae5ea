//! ALDS export of convolutions (Liebenwein et al., NeurIPS 2021) on the local-learning residual
//! network: each convolution becomes per-chunk `kh×kw` encoders and 1×1 decoders that compute
//! what the dense convolution does at full rank, the export meets the parameter budget, and the
//! exported config rebuilds the network that loads the saved factors, under the names the
//! checkpoint gives its convolutions.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData, Tolerance};
use tempering_core::compression::LowRankExport;
use tempering_core::local_stages::LocalStages;
use tempering_models::local::{FactorizedResNetConfig, LocalResNetConfig};
use tempering_prune::inspect::inspect;
use tempering_prune::low_rank::LowRankConfig;
use tempering_prune::low_rank_export::{factorize_layer, factorize_model};

fn config() -> LocalResNetConfig {
    LocalResNetConfig::new()
        .with_widths(vec![6, 6, 12])
        .with_stages(3)
        .with_image_size(8)
}

fn images(device: &Device) -> Tensor<3> {
    let values: Vec<f32> = (0..2 * 64)
        .map(|i| ((i * 29) % 17) as f32 / 17.0 - 0.5)
        .collect();
    Tensor::from_data(TensorData::new(values, [2, 8, 8]), device)
}

#[test]
fn the_convolutions_are_named_as_the_checkpoint_names_them() {
    let device = Device::default();
    for config in [config(), LocalResNetConfig::new()] {
        let model = config.init(&device);
        let names: Vec<String> = model.convs().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, config.conv_names());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("net.bpk");
        model.save_file(&file).unwrap();
        let stored: Vec<String> = inspect(&file)
            .unwrap()
            .tensors
            .into_iter()
            .map(|t| t.name)
            .collect();
        for name in &names {
            assert!(stored.contains(name), "{name} is not in {stored:?}");
        }
    }
    // Stem, two blocks of two convolutions, one shortcut where 6 → 12.
    assert_eq!(config().conv_names().len(), 6);
}

#[test]
fn full_rank_factors_compute_what_the_dense_convolutions_do() {
    let device = Device::default();
    let dense = config().init(&device);
    let layers = dense.factorizable_layers();
    // Rank 108 ≥ every chunk's min(out, in·3·3): exact, over 1 to 3 chunks.
    for chunks in [1, 2, 3] {
        let factors = layers
            .iter()
            .map(|(name, layer)| factorize_layer(name, layer, 108, chunks).map(Some))
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let n = layers.len();
        let (exact, _) = dense
            .clone()
            .export_low_rank(&config(), factors, &vec![Some(108); n], &vec![chunks; n])
            .unwrap();
        exact
            .logits(images(&device))
            .into_data()
            .assert_approx_eq::<f32>(
                &dense.logits(images(&device)).into_data(),
                Tolerance::absolute(1e-4),
            );
    }
}

#[test]
fn an_exported_network_meets_the_budget_and_reloads_from_its_config() {
    let device = Device::default();
    let dense = config().init(&device);
    for low_rank in [
        LowRankConfig::new(0.3),
        LowRankConfig {
            search: Some(Default::default()),
            ..LowRankConfig::new(0.3)
        },
    ] {
        let (small, small_config, layers) =
            factorize_model(dense.clone(), &config(), &low_rank).unwrap();
        let before: u64 = layers.iter().map(|l| l.parameters_before).sum();
        let after: u64 = layers.iter().map(|l| l.parameters_after).sum();
        assert!(after * 10 <= before * 3, "{after} of {before}");
        assert_eq!(
            small.num_params(),
            dense.num_params() - (before - after) as usize
        );
        assert!(!small_config.factorized.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let (file, json) = (dir.path().join("net.bpk"), dir.path().join("net.json"));
        small.clone().save_file(&file).unwrap();
        small_config.save(&json).unwrap();
        let reloaded = FactorizedResNetConfig::load(&json)
            .unwrap()
            .init(&device)
            .load_file(&file);
        reloaded
            .logits(images(&device))
            .into_data()
            .assert_approx_eq::<f32>(
                &small.logits(images(&device)).into_data(),
                Tolerance::absolute(1e-5),
            );
    }
    let bad = FactorizedResNetConfig::new(
        config(),
        vec![tempering_models::transformer::FactorizedLayer::new(
            "layers.1.Block.shortcut.conv.weight".into(),
            2,
            1,
        )],
    );
    let e = bad.check().unwrap_err();
    assert!(e.contains("not a convolution of the backbone"), "{e}");
}

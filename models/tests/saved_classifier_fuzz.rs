//! Random, mostly hostile classifier configs (`model.json` as a file from anywhere could hold
//! it): checking and counting never panic, and every config that checks and counts at most
//! 200,000 parameters builds without a panic into a model of exactly that many — the count is
//! what `tempering compress` compares with the checkpoint's size before building.
//! `TEMPERING_CONFIG_FUZZ_CASES` sets the number of configs (default 400, about a second).

use burn::module::Module;
use burn::tensor::Device;
use tempering_core::split_mix::SplitMix64;
use tempering_models::local::{AuxiliaryKind, FactorizedResNetConfig, LocalResNetConfig};
use tempering_models::saved_classifier::{ClassifierArchitecture, SavedClassifier};
use tempering_models::transformer::FactorizedLayer;
use tempering_models::{
    FactorizedVitConfig, LowRankMlpClassifierConfig, MlpClassifierConfig, VitClassifierConfig,
    VitPooling,
};

/// Sizes that are ordinary, degenerate, or big enough to overflow a count.
const SIZES: [usize; 16] = [
    0,
    1,
    2,
    3,
    4,
    5,
    7,
    8,
    12,
    16,
    28,
    1 << 20,
    1 << 31,
    1 << 40,
    1 << 62,
    usize::MAX,
];

/// Mostly small sizes, one time in eight one of [`SIZES`].
fn size(rng: &mut SplitMix64) -> usize {
    match rng.below(8) {
        0 => SIZES[rng.below(SIZES.len())],
        _ => 1 + rng.below(12),
    }
}

fn sizes(rng: &mut SplitMix64, most: usize) -> Vec<usize> {
    (0..rng.below(most + 1)).map(|_| size(rng)).collect()
}

/// Mostly 0.1, one time in four a value in or out of [0, 1).
fn probability(rng: &mut SplitMix64) -> f64 {
    match rng.below(4) {
        0 => [-1.0, 0.0, 0.5, 0.99, 1.0, 2.0, f64::NAN][rng.below(7)],
        _ => 0.1,
    }
}

fn architecture(rng: &mut SplitMix64) -> ClassifierArchitecture {
    match rng.below(3) {
        0 => ClassifierArchitecture::Mlp(
            MlpClassifierConfig::new()
                .with_input_size(size(rng))
                .with_hidden_sizes(sizes(rng, 3))
                .with_num_classes(size(rng))
                .with_dropout(probability(rng)),
        ),
        1 => ClassifierArchitecture::Vit(
            VitClassifierConfig::new()
                .with_image_size(size(rng))
                .with_patch_size(size(rng))
                .with_classes(size(rng))
                .with_d_model(size(rng))
                .with_n_layers(size(rng).min(3))
                .with_n_heads(size(rng))
                .with_d_ff([None, Some(size(rng))][rng.below(2)])
                .with_dropout(probability(rng))
                .with_pooling([VitPooling::ClassToken, VitPooling::Mean][rng.below(2)])
                .with_init_std([0.02, 0.02, 0.02, 0.0, -1.0, f64::INFINITY][rng.below(6)]),
        ),
        _ => {
            // Widths that double now and then, so that some configs check.
            let mut width = size(rng);
            let widths = (0..rng.below(6))
                .map(|_| {
                    if rng.below(3) == 0 {
                        width = width.saturating_mul(2);
                    }
                    if rng.below(10) == 0 {
                        width = size(rng);
                    }
                    width
                })
                .collect::<Vec<_>>();
            let auxiliary = match rng.below(3) {
                0 => AuxiliaryKind::Greedy,
                1 => AuxiliaryKind::Dgl,
                _ => AuxiliaryKind::AugLocal {
                    depth: size(rng),
                    tau: probability(rng),
                },
            };
            ClassifierArchitecture::LocalResNet(
                LocalResNetConfig::new()
                    .with_stages(size(rng).min(widths.len() + 1))
                    .with_widths(widths)
                    .with_auxiliary(auxiliary)
                    .with_image_size(size(rng))
                    .with_classes(size(rng)),
            )
        }
    }
}

/// Factorized entries: names of the model's layers (and some that are none), any rank and
/// chunk count.
fn factorized(rng: &mut SplitMix64, classifier: &ClassifierArchitecture) -> Vec<FactorizedLayer> {
    let mut names = vec![
        "head.weight".to_string(),
        "blocks.9.attention.query.weight".into(),
    ];
    match classifier {
        ClassifierArchitecture::Mlp(c) => names.extend(c.weight_names()),
        ClassifierArchitecture::Vit(_) => {
            for block in 0..3 {
                for layer in ["attention.query", "attention.output", "feed_forward.expand"] {
                    names.push(format!("blocks.{block}.{layer}.weight"));
                }
            }
        }
        ClassifierArchitecture::LocalResNet(c) => names.extend(c.conv_names()),
    }
    (0..rng.below(4))
        .map(|_| {
            let name = names[rng.below(names.len())].clone();
            FactorizedLayer::new(name, size(rng), size(rng))
        })
        .collect()
}

/// The parameters of the model `saved` rebuilds, built on the default device.
fn built(saved: &SavedClassifier) -> usize {
    let device = Device::default();
    match (saved.classifier.clone(), saved.factorized.clone()) {
        (ClassifierArchitecture::Mlp(c), None) => c.init(&device).num_params(),
        (ClassifierArchitecture::Mlp(c), Some(l)) => {
            LowRankMlpClassifierConfig::from_factorized(c, &l)
                .unwrap()
                .init(&device)
                .num_params()
        }
        (ClassifierArchitecture::Vit(c), None) => c.init(&device).num_params(),
        (ClassifierArchitecture::Vit(c), Some(l)) => {
            FactorizedVitConfig::new(c, l).init(&device).num_params()
        }
        (ClassifierArchitecture::LocalResNet(c), None) => c.init(&device).num_params(),
        (ClassifierArchitecture::LocalResNet(c), Some(l)) => {
            FactorizedResNetConfig::new(c, l).init(&device).num_params()
        }
    }
}

#[test]
fn hostile_configs_never_panic_and_small_ones_count_what_they_build() {
    let cases: usize = std::env::var("TEMPERING_CONFIG_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let mut rng = SplitMix64::new(2026);
    let (mut built_count, mut checked) = (0, 0);
    for case in 0..cases {
        let classifier = architecture(&mut rng);
        let layers = (rng.below(2) == 0).then(|| factorized(&mut rng, &classifier));
        let saved = SavedClassifier::dense(classifier).with_factorized(layers);
        let valid = saved.check().is_ok();
        let count = saved.parameter_count();
        checked += usize::from(valid);
        if let (true, Some(n)) = (valid, count)
            && n <= 200_000
        {
            assert_eq!(built(&saved), n, "case {case}: {saved}");
            built_count += 1;
        }
    }
    eprintln!("{cases} configs: {checked} checked, {built_count} built");
    // The generator must reach the building branch often enough to mean something.
    assert!(
        built_count * 10 >= cases,
        "only {built_count} of {cases} configs were built ({checked} checked)"
    );
}

//! Pruning hand-made checkpoints whose answers are known by construction: exact elements
//! zeroed by each method, every element type, both formats, and the safety rules.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use burn_pack::{Bytes, DType, Tensor, Writer};
use std::sync::Arc;

use tempering_prune::checkpoint::{Checkpoint, Transform};
use tempering_prune::provenance::{PROVENANCE_KEY, records};
use tempering_prune::verify::verify;
use tempering_prune::{Method, Output, PruneConfig, PruneError, prune_checkpoint};

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn tensor(name: &str, shape: &[usize], values: &[f32]) -> Tensor {
    Tensor::new(
        name.to_string(),
        DType::F32,
        shape.to_vec(),
        Some(name.len() as u64),
        Bytes::from_bytes_vec(f32_bytes(values)),
    )
}

/// Two weights (1..=8 and 0.5·(1..=8) in magnitude, signs alternating), a bias, an
/// embedding and an integer buffer, with metadata and a scalar.
fn write_model(path: &Path) {
    let a: Vec<f32> = (1..=8)
        .map(|i| if i % 2 == 0 { -(i as f32) } else { i as f32 })
        .collect();
    let b: Vec<f32> = (1..=8).map(|i| 0.5 * i as f32).collect();
    let tensors = vec![
        tensor("fc1.weight", &[4, 2], &a),
        tensor("fc2.weight", &[4, 2], &b),
        tensor("fc1.bias", &[2], &[0.01, -0.02]),
        tensor("embed.weight", &[2, 4], &[0.001; 8]),
        Tensor::new(
            "steps".into(),
            DType::I64,
            vec![1],
            None,
            Bytes::from_bytes_vec(7i64.to_le_bytes().to_vec()),
        ),
    ];
    Writer::new(tensors)
        .with_metadata("producer", "test")
        .with_scalar("epoch", burn_pack::Scalar::from(3u64))
        .write_to_file(path)
        .unwrap();
}

fn data(path: &Path, name: &str) -> Vec<u8> {
    let c = Checkpoint::open(path).unwrap();
    c.data(c.index_of(name).unwrap()).to_vec()
}

fn prune(input: &Path, out: &Path, config: &PruneConfig) -> tempering_prune::PruneReport {
    prune_checkpoint(
        input,
        Output::File {
            path: out,
            overwrite: false,
        },
        config,
    )
    .unwrap()
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.bpk");
    write_model(&model);
    (dir, model)
}

/// Worked by hand: the pooled magnitudes are {1, …, 8} (fc1) and {0.5, 1, …, 4} (fc2); at
/// sparsity 0.5 the 8 smallest are 0.5, 1, 1, 1.5, 2, 2, 2.5, 3, the last one a tie between
/// fc1's 3 and fc2's 3.0 that goes to fc1 (tensor order).
#[test]
fn global_magnitude_prunes_the_smallest_weights_of_all_layers() {
    let (dir, model) = setup();
    let out = dir.path().join("global.bpk");
    let report = prune(
        &model,
        &out,
        &PruneConfig::new(Method::GlobalMagnitude, 0.5),
    );
    // fc1 magnitudes 1..8: pruned 1, 2, 3 (3 wins the tie by tensor order) → 3 zeros.
    assert_eq!(
        f32s(&data(&out, "fc1.weight")),
        vec![0.0, 0.0, 0.0, -4.0, 5.0, -6.0, 7.0, -8.0]
    );
    // fc2 magnitudes 0.5..4: pruned 0.5, 1, 1.5, 2, 2.5 → 5 zeros; 3.0 survives the tie.
    assert_eq!(
        f32s(&data(&out, "fc2.weight")),
        vec![0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 3.5, 4.0]
    );
    assert_eq!(report.targets.len(), 2);
    assert_eq!(report.target_sparsity_after(), 0.5);
    assert_eq!(report.targets[0].threshold, Some(3.0));
    // Everything else is byte-identical, and metadata, scalars and ids are kept.
    for name in ["fc1.bias", "embed.weight", "steps"] {
        assert_eq!(data(&out, name), data(&model, name), "{name}");
    }
    let c = Checkpoint::open(&out).unwrap();
    assert_eq!(c.metadata()["producer"], "test");
    assert_eq!(c.scalars(), Checkpoint::open(&model).unwrap().scalars());
    assert_eq!(
        c.entries()[c.index_of("fc1.weight").unwrap()].param_id,
        Some(10)
    );
    let record = &records(c.metadata()).unwrap()[0];
    assert_eq!(record.method, "global-magnitude");
    assert_eq!(record.zeros["fc1.weight"], 3);
    let check = verify(&model, &out).unwrap();
    assert!(check.passed(), "{:?}", check.problems);
    assert_eq!((check.identical, check.pruned_tensors), (3, 2));
}

/// Layer-wise at 0.5 takes the 4 smallest of each tensor.
#[test]
fn layer_magnitude_prunes_each_tensor_alike() {
    let (dir, model) = setup();
    let out = dir.path().join("layer.bpk");
    prune(&model, &out, &PruneConfig::new(Method::LayerMagnitude, 0.5));
    assert_eq!(
        f32s(&data(&out, "fc1.weight")),
        vec![0.0, 0.0, 0.0, 0.0, 5.0, -6.0, 7.0, -8.0]
    );
    assert_eq!(
        f32s(&data(&out, "fc2.weight")),
        vec![0.0, 0.0, 0.0, 0.0, 2.5, 3.0, 3.5, 4.0]
    );
}

/// Minimum threshold. At 0.75 the 12 smallest of the pooled magnitudes are all 8 of fc2
/// (0.5…4) and 1…4 of fc1: global MP empties fc2 (layer collapse). With mt 12.5 % of 16,
/// every tensor keeps at least 2: both are capped at 6 of 8 pruned, still 12 in total. With
/// mt 25 % (keep 4 each) at most 50 % is reachable, which is an error naming it.
#[test]
fn min_keep_stops_layer_collapse() {
    let (dir, model) = setup();
    let plain = prune(
        &model,
        &dir.path().join("mp.bpk"),
        &PruneConfig::new(Method::GlobalMagnitude, 0.75),
    );
    assert_eq!(plain.targets[1].zeros_after, 8, "global MP empties fc2");
    let out = dir.path().join("mt.bpk");
    let report = prune(
        &model,
        &out,
        &PruneConfig::new(Method::GlobalMagnitude, 0.75).with_min_keep(Some(12.5)),
    );
    assert_eq!(report.targets[0].zeros_after, 6);
    assert_eq!(report.targets[1].zeros_after, 6);
    assert_eq!(report.target_sparsity_after(), 0.75);
    assert!(verify(&model, &out).unwrap().passed());
    let err = prune_checkpoint(
        &model,
        Output::DryRun,
        &PruneConfig::new(Method::GlobalMagnitude, 0.75).with_min_keep(Some(25.0)),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("--min-keep") && err.contains("at most 50.0000 %"),
        "{err}"
    );
}

/// Random pruning is reproducible per seed and exact in count.
#[test]
fn random_pruning_is_seeded() {
    let (dir, model) = setup();
    let run = |seed: u64, name: &str| {
        let out = dir.path().join(name);
        prune(
            &model,
            &out,
            &PruneConfig::new(Method::Random, 0.5).with_seed(seed),
        );
        f32s(&data(&out, "fc1.weight"))
    };
    let (a, b, c) = (run(1, "r1.bpk"), run(1, "r1b.bpk"), run(2, "r2.bpk"));
    assert_eq!(a, b);
    assert_ne!(a, c, "another seed picks other weights");
    assert_eq!(a.iter().filter(|&&x| x == 0.0).count(), 4);
}

/// 2:4 along dimension 0 of a [4, 2] weight: each column keeps its two largest.
#[test]
fn two_of_four_keeps_the_largest_of_each_group() {
    let (dir, model) = setup();
    let out = dir.path().join("nm.bpk");
    prune(
        &model,
        &out,
        &PruneConfig::new(Method::NOfM { n: 2, m: 4 }, 0.0),
    );
    // fc1 column 0 is 1, 3, 5, 7 → keep 5, 7; column 1 is -2, -4, -6, -8 → keep -6, -8.
    assert_eq!(
        f32s(&data(&out, "fc1.weight")),
        vec![0.0, 0.0, 0.0, 0.0, 5.0, -6.0, 7.0, -8.0]
    );
    let check = verify(&model, &out).unwrap();
    assert!(check.passed(), "{:?}", check.problems);
    // Along axis 1 groups of 4 do not fit a width of 2.
    let err = prune_checkpoint(
        &model,
        Output::DryRun,
        &PruneConfig::new(Method::NOfM { n: 2, m: 4 }, 0.0).with_axis(Some(1)),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("fc1.weight") && err.to_string().contains("M = 4"),
        "{err}"
    );
}

/// f64, f16 and bf16 weights are ranked by magnitude and zeroed in their own format.
#[test]
fn every_float_type_is_pruned_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("types.bpk");
    let values = [0.5f32, -3.0, 2.0, -0.25];
    let encode = |dtype: DType| -> Vec<u8> {
        match dtype {
            DType::F64 => values
                .iter()
                .flat_map(|&x| f64::from(x).to_le_bytes())
                .collect(),
            DType::F16 => values
                .iter()
                .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
                .collect(),
            DType::BF16 => values
                .iter()
                .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
                .collect(),
            _ => unreachable!(),
        }
    };
    let tensors = [DType::F64, DType::F16, DType::BF16]
        .into_iter()
        .map(|d| {
            Tensor::new(
                format!("{d:?}.weight"),
                d,
                vec![2, 2],
                None,
                Bytes::from_bytes_vec(encode(d)),
            )
        })
        .collect();
    Writer::new(tensors).write_to_file(&path).unwrap();
    let out = dir.path().join("out.bpk");
    prune(&path, &out, &PruneConfig::new(Method::LayerMagnitude, 0.5));
    for d in [DType::F64, DType::F16, DType::BF16] {
        let before = encode(d);
        let after = data(&out, &format!("{d:?}.weight"));
        let size = before.len() / 4;
        // 0.5 and -0.25 (elements 0 and 3) go; -3 and 2 stay bit-identical.
        for (i, keep) in [false, true, true, false].into_iter().enumerate() {
            let (x, y) = (
                &before[i * size..(i + 1) * size],
                &after[i * size..(i + 1) * size],
            );
            if keep {
                assert_eq!(x, y, "{d:?} element {i}");
            } else {
                assert!(y.iter().all(|&b| b == 0), "{d:?} element {i}");
            }
        }
    }
}

/// The same pass over safetensors keeps the format and its metadata.
#[test]
fn safetensors_checkpoints_are_pruned_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let w = f32_bytes(&[1.0, -2.0, 3.0, -4.0, 5.0, -6.0]);
    let bias = f32_bytes(&[0.1, 0.2]);
    let views = vec![
        (
            "layer.weight",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![3, 2], &w).unwrap(),
        ),
        (
            "layer.bias",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &bias).unwrap(),
        ),
    ];
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize_to_file(views, Some(meta), &path).unwrap();
    let out = dir.path().join("pruned.safetensors");
    let report = prune(&path, &out, &PruneConfig::new(Method::GlobalMagnitude, 0.5));
    assert_eq!(
        report.format,
        tempering_prune::checkpoint::Format::Safetensors
    );
    assert_eq!(
        f32s(&data(&out, "layer.weight")),
        vec![0.0, 0.0, 0.0, -4.0, 5.0, -6.0]
    );
    assert_eq!(data(&out, "layer.bias"), bias);
    let c = Checkpoint::open(&out).unwrap();
    assert_eq!(c.metadata()["format"], "pt");
    assert!(c.metadata().contains_key(PROVENANCE_KEY));
    assert!(verify(&path, &out).unwrap().passed());
}

/// Never the input, never an existing file without force, nothing written on a dry run or
/// on failure; the second pass appends a provenance record.
#[test]
fn outputs_are_safe() {
    let (dir, model) = setup();
    let original = std::fs::read(&model).unwrap();
    let config = PruneConfig::new(Method::GlobalMagnitude, 0.5);
    for overwrite in [false, true] {
        let err = prune_checkpoint(
            &model,
            Output::File {
                path: &model,
                overwrite,
            },
            &config,
        )
        .unwrap_err();
        assert!(matches!(err, PruneError::OutputIsInput { .. }), "{err}");
    }
    let out = dir.path().join("out.bpk");
    std::fs::write(&out, b"keep me").unwrap();
    let err = prune_checkpoint(
        &model,
        Output::File {
            path: &out,
            overwrite: false,
        },
        &config,
    )
    .unwrap_err();
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    prune_checkpoint(
        &model,
        Output::File {
            path: &out,
            overwrite: true,
        },
        &config,
    )
    .unwrap();
    let dry = dir.path().join("dry.bpk");
    prune_checkpoint(&model, Output::DryRun, &config).unwrap();
    assert!(!dry.exists());
    assert_eq!(
        std::fs::read(&model).unwrap(),
        original,
        "the input is untouched"
    );
    let twice = dir.path().join("twice.bpk");
    prune(
        &out,
        &twice,
        &PruneConfig::new(Method::GlobalMagnitude, 0.75),
    );
    let all = records(Checkpoint::open(&twice).unwrap().metadata()).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!((all[0].sparsity, all[1].sparsity), (0.5, 0.75));
    // Nothing but the outputs in the directory: no temporary files left.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["model.bpk", "out.bpk", "twice.bpk"]);
}

/// Bad input gets an error naming the problem.
#[test]
fn bad_input_is_named() {
    let (dir, model) = setup();
    let config = PruneConfig::new(Method::GlobalMagnitude, 0.5);
    let dry = |path: &Path, config: &PruneConfig| {
        prune_checkpoint(path, Output::DryRun, config)
            .unwrap_err()
            .to_string()
    };
    // Truncated.
    let bytes = std::fs::read(&model).unwrap();
    let cut = dir.path().join("cut.bpk");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let msg = dry(&cut, &config);
    assert!(
        msg.contains("cut.bpk") && msg.contains("corrupt burnpack"),
        "{msg}"
    );
    // Foreign.
    let foreign = dir.path().join("notes.txt");
    std::fs::write(&foreign, b"hello, world").unwrap();
    let msg = dry(&foreign, &config);
    assert!(
        msg.contains("not a burnpack (.bpk) or safetensors"),
        "{msg}"
    );
    // Missing.
    let msg = dry(&dir.path().join("absent.bpk"), &config);
    assert!(msg.contains("absent.bpk"), "{msg}");
    // Bad options.
    assert!(dry(&model, &PruneConfig::new(Method::GlobalMagnitude, 90.0)).contains("--sparsity"));
    assert!(
        dry(
            &model,
            &PruneConfig::new(Method::LayerMagnitude, 0.5).with_min_keep(Some(1.0))
        )
        .contains("--min-keep")
    );
    assert!(dry(&model, &PruneConfig::new(Method::NOfM { n: 4, m: 4 }, 0.0)).contains("--nm"));
    assert!(dry(&model, &config.clone().with_include(Some("(".into()))).contains("--include"));
    let msg = dry(&model, &config.clone().with_include(Some("decoder".into())));
    assert!(
        msg.contains("selects no floating-point tensor") && msg.contains("fc1.weight"),
        "{msg}"
    );
    // NaN weights cannot be ranked.
    let nan = dir.path().join("nan.bpk");
    Writer::new(vec![tensor("w", &[2, 2], &[1.0, f32::NAN, 2.0, 3.0])])
        .write_to_file(&nan)
        .unwrap();
    let msg = dry(&nan, &config);
    assert!(
        msg.contains("'w'") && msg.contains("NaN at element 1"),
        "{msg}"
    );
}

/// Include and exclude choose the targets; embeddings, biases and integers are untouched by
/// default.
#[test]
fn include_and_exclude_choose_the_targets() {
    let (_dir, model) = setup();
    let names = |config: PruneConfig| -> Vec<String> {
        prune_checkpoint(&model, Output::DryRun, &config)
            .unwrap()
            .targets
            .into_iter()
            .map(|t| t.name)
            .collect()
    };
    let base = PruneConfig::new(Method::GlobalMagnitude, 0.5);
    assert_eq!(names(base.clone()), ["fc1.weight", "fc2.weight"]);
    assert_eq!(
        names(base.clone().with_exclude(Some("fc2".into()))),
        ["fc1.weight"]
    );
    assert_eq!(
        names(base.with_include(Some("embed|bias".into()))),
        ["embed.weight", "fc1.bias"]
    );
}

/// `verify` catches a tensor changed behind the record's back and a dropped metadata entry.
#[test]
fn verify_catches_tampering() {
    let (dir, model) = setup();
    let out = dir.path().join("out.bpk");
    prune(
        &model,
        &out,
        &PruneConfig::new(Method::GlobalMagnitude, 0.5),
    );
    let c = Checkpoint::open(&out).unwrap();
    let bias = c.index_of("fc1.bias").unwrap();
    let w = c.index_of("fc1.weight").unwrap();
    let tampered = dir.path().join("tampered.bpk");
    let zero_bias = Transform::Whole(Arc::new(|original: &[u8], out: &mut Vec<u8>| {
        out.clear();
        out.resize(original.len(), 0);
    }));
    // Element 7 (bytes 28..32) regrows, through the streamed path.
    let regrow = Transform::Windowed(Arc::new(|first: u64, window: &[u8], out: &mut [u8]| {
        out.copy_from_slice(window);
        if first == 0 {
            out[28..32].copy_from_slice(&1.0f32.to_le_bytes());
        }
    }));
    c.write_to(
        &tampered,
        HashMap::from([(bias, zero_bias), (w, regrow)]),
        &BTreeMap::new(),
        false,
    )
    .unwrap();
    let report = verify(&model, &tampered).unwrap();
    assert!(!report.passed());
    let all = report.problems.join("\n");
    assert!(
        all.contains("'fc1.bias' differs but no record lists it"),
        "{all}"
    );
    assert!(
        all.contains("'fc1.weight': element 7 changed to a non-zero value"),
        "{all}"
    );
    let plain = verify(&model, &model).unwrap();
    assert!(
        plain
            .problems
            .iter()
            .any(|p| p.contains("not written by `tempering prune`"))
    );
}

/// Zeros already in a weight are counted by value whatever ranks the pruning: random keys say
/// nothing about which elements are zero, and magnitude cuts report them without a pass.
#[test]
fn zeros_before_and_after_are_counted_by_value() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("sparse.bpk");
    // Three zeros (one of them −0.0) among 8.
    let values = [0.0, 1.0, -0.0, 2.0, 3.0, 0.0, 4.0, 5.0];
    Writer::new(vec![tensor("fc.weight", &[4, 2], &values)])
        .write_to_file(&model)
        .unwrap();
    for (i, config) in [
        PruneConfig::new(Method::Random, 0.5).with_seed(3),
        PruneConfig::new(Method::Random, 0.5).with_seed(4),
        PruneConfig::new(Method::Random, 0.5).with_seed(5),
        PruneConfig::new(Method::GlobalMagnitude, 0.5),
        PruneConfig::new(Method::LayerMagnitude, 0.25),
    ]
    .into_iter()
    .enumerate()
    {
        let out = dir.path().join(format!("out{i}.bpk"));
        let report = prune(&model, &out, &config);
        let t = &report.targets[0];
        assert_eq!(t.zeros_before, 3, "{:?}", config.method);
        let written = f32s(&data(&out, "fc.weight"));
        let zeros = written.iter().filter(|&&x| x == 0.0).count() as u64;
        assert_eq!(t.zeros_after, zeros, "{:?}", config.method);
        // −0.0 keeps its sign bit: already-zero elements are not rewritten.
        assert!(written[2].is_sign_negative());
    }
}

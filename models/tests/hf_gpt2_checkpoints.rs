//! A Hugging Face GPT-2 checkpoint loads into `TransformerLm` and gives `transformers`' logits,
//! and exports back with bit-identical tensors; renamed, reshaped and missing tensors and
//! unsupported configs are refused by name.
//!
//! The checkpoint in `tests/data/tiny_gpt2` is a randomly initialised 2-layer GPT-2 (width 64,
//! 2 heads, 512 tokens, biases and norms drawn at random too) that `transformers` 5.25 saved,
//! with the logits it computed for a fixed sentence; `make_tiny_gpt2.py` there regenerates it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Int, Tensor, TensorData};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use tempering_core::compression::ShrinkUnits;
use tempering_models::TransformerLm;
use tempering_models::transformer::hf_gpt2::{
    COMPANION_FILES, Gpt2Error, Gpt2Tokenizer, StoredDtype, load_hf_gpt2, save_hf_gpt2,
    widen_to_gpt2,
};

fn tiny_gpt2() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny_gpt2")
}

/// `(tokens, logits [T, vocab])` as `transformers` computed them.
fn expected() -> (Vec<i64>, Vec<f32>, usize) {
    let bytes = std::fs::read(tiny_gpt2().join("expected_logits.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let tokens: Vec<i64> = file
        .tensor("tokens")
        .unwrap()
        .data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let logits = file.tensor("logits").unwrap();
    let vocab = logits.shape()[1];
    let values = logits
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (tokens, values, vocab)
}

#[test]
fn the_tiny_gpt2_gives_the_logits_transformers_gave() {
    let device = Device::default();
    let (model, config) = load_hf_gpt2(&tiny_gpt2(), &device).unwrap();
    assert_eq!((config.n_layer, config.n_embd, config.n_head), (2, 64, 2));
    let (tokens, want, vocab) = expected();
    let t = tokens.len();
    let input = Tensor::<2, Int>::from_data(TensorData::new(tokens, [1, t]), &device);
    let got: Vec<f32> = model
        .forward(input)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert_eq!(got.len(), t * vocab);
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    // The tolerance, on logits up to ~6 in size.
    assert!(
        worst < 1e-4,
        "largest logit difference {worst} (logits up to {scale})"
    );
    assert!(scale > 1.0, "the test data should have logits of some size");
}

/// The tiny checkpoint's tensors, by name, as `(dtype, shape, bytes)`.
fn stored_tensors() -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(tiny_gpt2().join("model.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<_> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            (
                name,
                view.dtype(),
                view.shape().to_vec(),
                view.data().to_vec(),
            )
        })
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    tensors
}

/// A copy of the tiny GPT-2's directory whose checkpoint holds `tensors` and whose config is
/// `config` (the original's when `None`).
fn variant(
    tensors: &[(String, Dtype, Vec<usize>, Vec<u8>)],
    config: Option<String>,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(tiny_gpt2().join("config.json")).unwrap();
    std::fs::write(dir.path().join("config.json"), config.unwrap_or(original)).unwrap();
    let views: HashMap<String, TensorView<'_>> = tensors
        .iter()
        .map(|(name, dtype, shape, data)| {
            (
                name.clone(),
                TensorView::new(*dtype, shape.clone(), data).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, &dir.path().join("model.safetensors")).unwrap();
    dir
}

fn load_error(dir: &Path) -> Gpt2Error {
    match load_hf_gpt2(dir, &Device::default()) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e,
    }
}

#[test]
fn a_renamed_tensor_is_refused_by_its_name() {
    let mut tensors = stored_tensors();
    let at = tensors
        .iter()
        .position(|t| t.0 == "transformer.h.1.mlp.c_fc.weight")
        .unwrap();
    tensors[at].0 = "transformer.h.1.mlp.fc_in.weight".into();
    let dir = variant(&tensors, None);
    let message = load_error(dir.path()).to_string();
    assert!(
        message.contains("transformer.h.1.mlp.fc_in.weight")
            && message.contains("model.safetensors"),
        "{message}"
    );
}

#[test]
fn a_reshaped_tensor_is_refused_with_both_shapes() {
    let mut tensors = stored_tensors();
    let at = tensors
        .iter()
        .position(|t| t.0 == "transformer.h.0.attn.c_proj.weight")
        .unwrap();
    tensors[at].2 = vec![32, 128];
    let dir = variant(&tensors, None);
    let message = load_error(dir.path()).to_string();
    assert!(
        message.contains("transformer.h.0.attn.c_proj.weight")
            && message.contains("[32, 128]")
            && message.contains("[64, 64]"),
        "{message}"
    );
}

#[test]
fn a_missing_tensor_is_named() {
    let tensors: Vec<_> = stored_tensors()
        .into_iter()
        .filter(|t| t.0 != "transformer.ln_f.bias")
        .collect();
    let dir = variant(&tensors, None);
    let message = load_error(dir.path()).to_string();
    assert!(
        message.contains("ln_f.bias") && message.contains("missing"),
        "{message}"
    );
}

#[test]
fn an_unsupported_config_is_refused_by_its_field() {
    let original = std::fs::read_to_string(tiny_gpt2().join("config.json")).unwrap();
    for (from, to, field) in [
        ("\"gelu_new\"", "\"relu\"", "activation_function"),
        (
            "\"layer_norm_epsilon\": 1e-05",
            "\"layer_norm_epsilon\": 1e-06",
            "layer_norm_epsilon",
        ),
        (
            "\"model_type\": \"gpt2\"",
            "\"model_type\": \"gptj\"",
            "model_type",
        ),
        // Sizes no file this small holds, and one whose shapes overflow when multiplied.
        ("\"n_embd\": 64", "\"n_embd\": 4096", "parameters"),
        (
            "\"n_embd\": 64",
            "\"n_embd\": 6148914691236517206",
            "parameters",
        ),
    ] {
        assert!(original.contains(from), "{from} not in the config");
        let dir = variant(&stored_tensors(), Some(original.replace(from, to)));
        let message = load_error(dir.path()).to_string();
        assert!(
            message.contains(field) && message.contains("config.json"),
            "{message}"
        );
    }
}

#[test]
fn garbage_instead_of_a_checkpoint_is_an_error_naming_the_file() {
    let dir = variant(&stored_tensors(), None);
    std::fs::write(dir.path().join("model.safetensors"), b"not a checkpoint").unwrap();
    let message = load_error(dir.path()).to_string();
    assert!(message.contains("model.safetensors"), "{message}");
}

#[test]
fn an_export_round_trips_with_bit_identical_tensors_and_files() {
    let device = Device::default();
    let (model, config) = load_hf_gpt2(&tiny_gpt2(), &device).unwrap();
    let out = tempfile::tempdir().unwrap();
    let exported = out.path().join("exported");
    save_hf_gpt2(&model, &config, Some(&tiny_gpt2()), &exported).unwrap();
    let mut written = {
        let bytes = std::fs::read(exported.join("model.safetensors")).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let mut tensors: Vec<_> = file
            .tensors()
            .into_iter()
            .map(|(name, v)| (name, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
            .collect();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        tensors
    };
    let original = stored_tensors();
    assert_eq!(written.len(), original.len());
    for (w, o) in written.iter_mut().zip(&original) {
        assert_eq!((&w.0, w.1, &w.2), (&o.0, o.1, &o.2));
        assert!(w.3 == o.3, "{}: the bytes differ", w.0);
    }
    let json = |dir: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap()
    };
    assert_eq!(json(&exported), json(&tiny_gpt2()));
    for name in COMPANION_FILES {
        let from = tiny_gpt2().join(name);
        if from.exists() {
            assert_eq!(
                std::fs::read(exported.join(name)).unwrap(),
                std::fs::read(from).unwrap(),
                "{name}"
            );
        }
    }
    // Only the finished directory is left behind.
    let entries: Vec<_> = std::fs::read_dir(out.path()).unwrap().collect();
    assert_eq!(entries.len(), 1);
}

/// The logits of the recorded sentence, `[T · vocab]`.
fn sentence_logits(model: &TransformerLm) -> Vec<f32> {
    let (tokens, _, _) = expected();
    let t = tokens.len();
    let input = Tensor::<2, Int>::from_data(TensorData::new(tokens, [1, t]), &Device::default());
    model
        .forward(input)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

#[test]
fn a_shrunk_model_widens_to_the_gpt2_format_and_computes_the_same() {
    let device = Device::default();
    let (model, config) = load_hf_gpt2(&tiny_gpt2(), &device).unwrap();
    let lm_config = config.lm_config("config.json").unwrap();
    // Groups: block 0 heads, block 0 channels, block 1 heads, block 1 channels (2 heads, 256
    // channels each). Block 0 loses a head and half its channels, block 1 a quarter.
    let keep = vec![
        vec![1],
        (0..256).step_by(2).collect(),
        vec![0, 1],
        (0..192).collect::<Vec<usize>>(),
    ];
    let (shrunk, _) = model.shrink_units(&lm_config, &keep).unwrap();
    let (wide, wide_config, widening) = widen_to_gpt2(shrunk.clone(), &config).unwrap();
    assert_eq!((widening.heads, widening.channels), (2, 192));
    // Block 0: a head of query, key, value (3 · 64·32 weights + 3 · 32 biases) and output
    // (32·64), and 64 channels (64·64 + 64 + 64·64); block 1: none.
    let head = 3 * (64 * 32 + 32) + 32 * 64;
    let channels = 64 * (64 + 1 + 64);
    assert_eq!(widening.zero_parameters, head + channels);
    assert_eq!(wide_config.n_inner, Some(192));
    assert_eq!(wide_config.json["n_inner"], serde_json::json!(192));
    let (narrow, widened) = (sentence_logits(&shrunk), sentence_logits(&wide));
    let worst = narrow
        .iter()
        .zip(&widened)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "the zero units changed a logit by {worst}");

    let out = tempfile::tempdir().unwrap();
    let exported = out.path().join("shrunk");
    save_hf_gpt2(&wide, &wide_config, Some(&tiny_gpt2()), &exported).unwrap();
    let (reloaded, reloaded_config) = load_hf_gpt2(&exported, &device).unwrap();
    assert_eq!(reloaded_config.n_inner, Some(192));
    assert_eq!(sentence_logits(&reloaded), widened);
    // The unshrunk model cannot be written under the shrunk config, nor a block with more
    // heads than the config has.
    assert!(save_hf_gpt2(&model_again(), &wide_config, None, &out.path().join("x")).is_err());
    let mut three_heads = config.clone();
    three_heads.n_head = 1;
    let error = widen_to_gpt2(model_again(), &three_heads).unwrap_err();
    assert!(error.to_string().contains("block 0 has 2 heads"), "{error}");
}

fn model_again() -> TransformerLm {
    load_hf_gpt2(&tiny_gpt2(), &Device::default()).unwrap().0
}

/// The tiny checkpoint's tensors converted to `dtype` (F16 or BF16) with the `half` crate.
fn narrowed(dtype: Dtype) -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)> {
    stored_tensors()
        .into_iter()
        .map(|(name, _, shape, bytes)| {
            let narrow = bytes
                .chunks_exact(4)
                .flat_map(|b| {
                    let v = f32::from_le_bytes(b.try_into().unwrap());
                    match dtype {
                        Dtype::F16 => half::f16::from_f32(v).to_le_bytes(),
                        Dtype::BF16 => half::bf16::from_f32(v).to_le_bytes(),
                        other => panic!("{other:?}"),
                    }
                })
                .collect();
            (name, dtype, shape, narrow)
        })
        .collect()
}

#[test]
fn sixteen_bit_checkpoints_load_and_export_in_their_own_type() {
    let device = Device::default();
    let (_, want, _) = expected();
    // Rounding every weight to 11 (F16) or 8 (BF16) significant bits moves this model's logits
    // (up to ~6, its weights drawn 10 times GPT-2's scale) by at most 9.0e-3 and 6.7e-2
    // (measured); a misread type would move them by far more than the bounds here.
    for (dtype, tolerance, stored) in [
        (Dtype::F16, 2e-2, StoredDtype::F16),
        (Dtype::BF16, 2e-1, StoredDtype::Bf16),
    ] {
        let tensors = narrowed(dtype);
        let dir = variant(&tensors, None);
        let (model, config) = load_hf_gpt2(dir.path(), &device).unwrap();
        assert_eq!(config.stored_dtype, stored);
        let got = sentence_logits(&model);
        let worst = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < tolerance, "{dtype:?}: logits off by {worst}");
        assert!(
            worst > 0.0,
            "{dtype:?}: the narrowed weights changed nothing"
        );

        let out = tempfile::tempdir().unwrap();
        let exported = out.path().join("exported");
        save_hf_gpt2(&model, &config, None, &exported).unwrap();
        let bytes = std::fs::read(exported.join("model.safetensors")).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        for (name, dtype, shape, data) in &tensors {
            let view = file.tensor(name).unwrap();
            assert_eq!((view.dtype(), view.shape()), (*dtype, shape.as_slice()));
            assert!(view.data() == data.as_slice(), "{name}: the bytes differ");
        }
    }

    // One type per checkpoint, and only float types.
    let mut mixed = stored_tensors();
    let (bias, f16) = (
        mixed
            .iter()
            .position(|t| t.0 == "transformer.h.1.ln_2.bias")
            .unwrap(),
        narrowed(Dtype::F16),
    );
    mixed[bias] = f16[bias].clone();
    let message = load_error(variant(&mixed, None).path()).to_string();
    assert!(
        message.contains("transformer.h.1.ln_2.bias") && message.contains("one type"),
        "{message}"
    );
    let mut integers = stored_tensors();
    integers[bias].1 = Dtype::I32;
    let message = load_error(variant(&integers, None).path()).to_string();
    assert!(
        message.contains("transformer.h.1.ln_2.bias") && message.contains("I32"),
        "{message}"
    );
}

#[test]
fn an_export_refuses_a_directory_that_holds_files() {
    let device = Device::default();
    let (model, config) = load_hf_gpt2(&tiny_gpt2(), &device).unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("keep.txt"), "mine").unwrap();
    let error = save_hf_gpt2(&model, &config, None, out.path()).unwrap_err();
    assert!(error.to_string().contains("not empty"), "{error}");
    assert_eq!(
        std::fs::read_to_string(out.path().join("keep.txt")).unwrap(),
        "mine"
    );
}

/// The tokenizer gives the ids Hugging Face `tokenizers` gave for every recorded string
/// (`tokenizer_cases.json`: contractions, space runs, digits, accents, four-byte characters,
/// the special token, the empty string), and decodes them back to the string.
#[test]
fn the_tokenizer_matches_hugging_faces_on_the_recorded_strings() {
    let tokenizer = Gpt2Tokenizer::from_dir(&tiny_gpt2()).unwrap();
    assert_eq!(tokenizer.vocab_size(), 512);
    let text = std::fs::read_to_string(tiny_gpt2().join("tokenizer_cases.json")).unwrap();
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(tokenizer.encode(text).unwrap(), want, "{text:?}");
        assert_eq!(tokenizer.decode(&want).unwrap(), text);
    }
    let (tokens, want, vocab) = expected();
    let sentence = tokenizer.decode(&tokens.iter().map(|&t| t as u32).collect::<Vec<_>>());
    assert_eq!(
        sentence.unwrap(),
        "To be, or not to be, that is the question:"
    );
    // The tokenizer's own ids (u32) feed the model as the recorded ones did.
    let device = Device::default();
    let (model, _) = load_hf_gpt2(&tiny_gpt2(), &device).unwrap();
    let ids = tokenizer
        .encode("To be, or not to be, that is the question:")
        .unwrap();
    let n = ids.len();
    let input = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, n]), &device);
    let logits: Vec<f32> = model.forward(input).into_data().try_to_vec().unwrap();
    assert_eq!(logits.len(), n * vocab);
    assert!(logits.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-4));
}

//! The checkpoint readers never panic: 10⁵ mutated (by default) burnpack and safetensors files (bit flips,
//! overwritten bytes, truncations, insertions, deletions and edits of the length fields), each
//! parsed and, when it parses, every tensor read, counted and summarized. A mutated file must be
//! either an error naming the file or a checkpoint whose data can be read in full.

use std::collections::HashMap;
use std::path::Path;

use burn_pack::{Bytes, DType, Tensor, Writer};
use tempering_core::split_mix::SplitMix64;
use tempering_prune::checkpoint::Checkpoint;
use tempering_prune::element::count_zeros;

mod common;
use common::mutation::mutate;

fn burnpack() -> Vec<u8> {
    let f32s = |n: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|i| (i as f32 - 3.0).to_le_bytes())
            .collect()
    };
    let tensors = vec![
        Tensor::new(
            "a.weight".into(),
            DType::F32,
            vec![4, 3],
            Some(1),
            Bytes::from_bytes_vec(f32s(12)),
        ),
        Tensor::new(
            "a.bias".into(),
            DType::F32,
            vec![3],
            Some(2),
            Bytes::from_bytes_vec(f32s(3)),
        ),
        Tensor::new(
            "b.weight".into(),
            DType::F16,
            vec![2, 2],
            None,
            Bytes::from_bytes_vec(vec![0, 60, 0, 0, 0, 188, 0, 64]),
        ),
        Tensor::new(
            "steps".into(),
            DType::I64,
            vec![1],
            None,
            Bytes::from_bytes_vec(5i64.to_le_bytes().to_vec()),
        ),
    ];
    Writer::new(tensors)
        .with_metadata("producer", "fuzz")
        .into_bytes()
        .unwrap()
        .to_vec()
}

fn safetensors() -> Vec<u8> {
    let w: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let b: Vec<u8> = vec![0, 0, 128, 63];
    let views = vec![
        (
            "w",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2, 3], &w).unwrap(),
        ),
        (
            "b",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1], &b).unwrap(),
        ),
    ];
    safetensors::serialize(
        views,
        Some(HashMap::from([("k".to_string(), "v".to_string())])),
    )
    .unwrap()
}

/// Everything `inspect` and `prune` read from an opened checkpoint.
fn exercise(c: &Checkpoint) -> u64 {
    let mut total = 0;
    for (i, e) in c.entries().iter().enumerate() {
        let data = c.data(i);
        assert_eq!(data.len(), e.byte_len, "{}", e.name);
        total += e.elements() as u64 + count_zeros(e.element, data);
        if let Some(size) = e.element.float_size() {
            assert_eq!(data.len(), e.elements() * size, "{}", e.name);
        }
    }
    total + c.metadata().len() as u64 + c.scalars().len() as u64
}

#[test]
fn one_hundred_thousand_mutated_checkpoints_never_panic() {
    // `TEMPERING_FUZZ_PER_FORMAT=5000000 cargo test -p tempering-prune --test reader_fuzzing`
    // runs a longer campaign.
    let per_format: usize = std::env::var("TEMPERING_FUZZ_PER_FORMAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let path = Path::new("mutated.bpk");
    let mut outcomes = HashMap::new();
    for (name, seed) in [("burnpack", burnpack()), ("safetensors", safetensors())] {
        assert!(
            Checkpoint::from_bytes(path, seed.clone()).is_ok(),
            "{name} seed parses"
        );
        // Seeded, so every run mutates the same way.
        let mut rng = SplitMix64::new(name.len() as u64);
        let (mut ok, mut rejected) = (0usize, 0usize);
        for _ in 0..per_format {
            let input = mutate(&mut rng, &seed);
            match Checkpoint::from_bytes(path, input) {
                Ok(c) => {
                    exercise(&c);
                    ok += 1;
                }
                Err(e) => {
                    assert!(e.to_string().contains("mutated.bpk"), "{e}");
                    rejected += 1;
                }
            }
        }
        outcomes.insert(name, (ok, rejected));
    }
    eprintln!("parsed / rejected: {outcomes:?}");
    // Both outcomes occur, so the mutations reach past the signature checks.
    for (name, (ok, rejected)) in outcomes {
        assert!(
            ok > 100 && rejected > 100,
            "{name}: {ok} parsed, {rejected} rejected"
        );
    }
}

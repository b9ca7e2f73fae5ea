//! Checkpoints built to trick the readers and writers: a quantized tensor whose shape claims
//! far more elements than its bytes hold, and tensor names so long that the pruned file's
//! metadata would exceed what burnpack readers accept. Each is a clean error, and a failed
//! write leaves no file and no directory behind.

use std::path::Path;

use burn::tensor::quantization::QuantScheme;
use burn_pack::{Bytes, DType, Tensor, Writer};
use tempering_prune::checkpoint::Checkpoint;
use tempering_prune::{Method, Output, PruneConfig, PruneError, prune_checkpoint};

fn burnpack(tensors: Vec<Tensor>) -> Vec<u8> {
    Writer::new(tensors).into_bytes().expect("written").to_vec()
}

#[test]
fn a_quantized_shape_larger_than_its_bytes_is_corrupt() {
    // 2^40 elements in 8 bytes: at two bits per element (the narrowest quantized values) they
    // would need 2^38 bytes. Accepting the shape let `verify` allocate terabytes for it.
    let claimed = Tensor::new(
        "q.weight".into(),
        DType::QFloat(QuantScheme::default()),
        vec![1usize << 40],
        None,
        Bytes::from_bytes_vec(vec![0; 8]),
    );
    let err = match Checkpoint::from_bytes(Path::new("q.bpk"), burnpack(vec![claimed])) {
        Ok(_) => panic!("a 2^40-element quantized tensor in 8 bytes was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("q.bpk") && err.contains("q.weight"), "{err}");
    assert!(err.contains("too few"), "{err}");
    // An honest quantized tensor of 8 elements in 8 bytes still reads.
    let honest = Tensor::new(
        "q.weight".into(),
        DType::QFloat(QuantScheme::default()),
        vec![8],
        None,
        Bytes::from_bytes_vec(vec![0; 8]),
    );
    Checkpoint::from_bytes(Path::new("q.bpk"), burnpack(vec![honest])).unwrap();
}

#[test]
fn an_output_whose_metadata_no_reader_accepts_is_not_written() {
    // Two tiny tensors with 26 MiB names: the input holds each name once per tensor record,
    // the pruned file once more in its provenance record, which takes the metadata past
    // burnpack's 100 MiB limit.
    let dir = tempfile::tempdir().unwrap();
    let long = |c: char| format!("{}.weight", String::from(c).repeat(26 << 20));
    let tensors = ['a', 'b']
        .into_iter()
        .map(|c| {
            let values: Vec<u8> = (1..=4).flat_map(|v| (v as f32).to_le_bytes()).collect();
            Tensor::new(
                long(c),
                DType::F32,
                vec![2, 2],
                None,
                Bytes::from_bytes_vec(values),
            )
        })
        .collect();
    let input = dir.path().join("long.bpk");
    std::fs::write(&input, burnpack(tensors)).unwrap();
    let dest = dir.path().join("new/deeper/pruned.bpk");
    let config = PruneConfig::new(Method::GlobalMagnitude, 0.5);
    let output = Output::File {
        path: &dest,
        overwrite: false,
    };
    let err = prune_checkpoint(&input, output, &config).unwrap_err();
    assert!(matches!(err, PruneError::Io { .. }), "{err}");
    assert!(err.to_string().contains("metadata"), "{err}");
    assert!(!dest.exists());
    assert!(
        !dir.path().join("new").exists(),
        "the directories created for the output stayed"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("long.bpk")]);
}

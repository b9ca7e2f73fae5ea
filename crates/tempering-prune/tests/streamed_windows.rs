//! Tensors larger than one write window (8 MiB) stream through the writer window by window:
//! the pruned file is the same as if each tensor were cut whole, ties at the threshold taken in
//! index order across window boundaries, in both formats and for seeded random keys.

use std::collections::HashMap;
use std::path::Path;

use burn_pack::{Bytes, DType, Tensor, Writer};
use safetensors::tensor::{Dtype, TensorView};
use tempering_prune::checkpoint::{Checkpoint, WINDOW_BYTES};
use tempering_prune::verify::verify;
use tempering_prune::{Method, Output, PruneConfig, TensorReport, prune_checkpoint};

/// The big tensor's shape: 2 windows and a bit (16.5 MiB of f32).
const SHAPE: [usize; 2] = [4219, 1024];

/// Its values, with only 1,001 distinct magnitudes, so the threshold's ties spread over every
/// window.
fn values() -> Vec<f32> {
    let n = SHAPE[0] * SHAPE[1];
    assert!(n * 4 > 2 * WINDOW_BYTES);
    (0..n)
        .map(|i| {
            let v = ((i as u64 * 7919) % 2001) as f32 / 1000.0 - 1.0;
            if i % 3 == 0 { -v } else { v }
        })
        .collect()
}

fn bytes_of(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn write_burnpack(path: &Path, values: &[f32]) {
    let big = Tensor::new(
        "big.weight".into(),
        DType::F32,
        SHAPE.to_vec(),
        None,
        Bytes::from_bytes_vec(bytes_of(values)),
    );
    let small = Tensor::new(
        "small.weight".into(),
        DType::F32,
        vec![2, 2],
        None,
        Bytes::from_bytes_vec(bytes_of(&[0.25, -2.0, 0.0, 3.0])),
    );
    Writer::new(vec![big, small])
        .auto_extension(false)
        .write_to_file(path)
        .unwrap();
}

fn write_safetensors(path: &Path, values: &[f32]) {
    let (big, small) = (bytes_of(values), bytes_of(&[0.25, -2.0, 0.0, 3.0]));
    let views = HashMap::from([
        (
            "big.weight".to_string(),
            TensorView::new(Dtype::F32, SHAPE.to_vec(), &big).unwrap(),
        ),
        (
            "small.weight".to_string(),
            TensorView::new(Dtype::F32, vec![2, 2], &small).unwrap(),
        ),
    ]);
    safetensors::serialize_to_file(views, None, path).unwrap();
}

fn pruned_values(path: &Path, name: &str) -> Vec<f32> {
    let c = Checkpoint::open(path).unwrap();
    c.data(c.index_of(name).unwrap())
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// Prunes `input` into `out` and returns the report of the big tensor.
fn prune_big(input: &Path, out: &Path, method: Method, sparsity: f64) -> TensorReport {
    let output = Output::File {
        path: out,
        overwrite: false,
    };
    prune_checkpoint(input, output, &PruneConfig::new(method, sparsity))
        .unwrap()
        .targets
        .into_iter()
        .find(|t| t.name == "big.weight")
        .unwrap()
}

#[test]
fn a_tensor_over_several_windows_is_cut_as_a_whole() {
    let dir = tempfile::tempdir().unwrap();
    let values = values();
    for (format, file) in [("burnpack", "in.bpk"), ("safetensors", "in.safetensors")] {
        let input = dir.path().join(file);
        if format == "burnpack" {
            write_burnpack(&input, &values);
        } else {
            write_safetensors(&input, &values);
        }
        let out = dir.path().join(format!("out-{file}"));
        let report = prune_big(&input, &out, Method::LayerMagnitude, 0.5);
        let got = pruned_values(&out, "big.weight");
        // The reference: the smallest magnitudes first, equal ones in index order, as many as
        // the report says were pruned (zeros included).
        let pruned = report.zeros_after as usize;
        assert_eq!(pruned, values.len() / 2, "{format}");
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by_key(|&i| (values[i].abs().to_bits(), i));
        let mut expected = values.clone();
        for &i in &order[..pruned] {
            if expected[i] != 0.0 {
                expected[i] = 0.0;
            }
        }
        let threshold = values[order[pruned - 1]].abs();
        let ties_cut = order[..pruned]
            .iter()
            .filter(|&&i| values[i].abs() == threshold)
            .count();
        let ties_all = values.iter().filter(|v| v.abs() == threshold).count();
        assert!(
            ties_cut > 0 && ties_cut < ties_all,
            "{format}: the cut must split the ties ({ties_cut} of {ties_all})"
        );
        let mismatch = got
            .iter()
            .zip(&expected)
            .position(|(a, b)| a.to_bits() != b.to_bits());
        assert_eq!(mismatch, None, "{format}: first differing element");
        assert!(verify(&input, &out).unwrap().passed(), "{format}");
    }
}

#[test]
fn random_keys_continue_across_windows() {
    // The plan ranks each tensor's random keys whole and counts what its cut prunes; the
    // writer recomputes the keys window by window. Random keys are almost never equal, so a
    // window keyed from the wrong element index would prune a different number of elements
    // than planned (by thousands, at this size).
    let dir = tempfile::tempdir().unwrap();
    let values = values();
    let input = dir.path().join("in.safetensors");
    write_safetensors(&input, &values);
    let out = dir.path().join("out.safetensors");
    let report = prune_big(&input, &out, Method::Random, 0.3);
    let planned = (report.zeros_after - report.zeros_before) as usize;
    let got = pruned_values(&out, "big.weight");
    let newly = got
        .iter()
        .zip(&values)
        .filter(|(g, v)| **g == 0.0 && **v != 0.0)
        .count();
    assert_eq!(newly, planned);
    assert!(newly > values.len() / 4, "{newly}");
    assert!(verify(&input, &out).unwrap().passed());
}

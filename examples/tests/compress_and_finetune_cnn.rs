//! `compress_and_finetune --model cnn` on the shipped Fashion-MNIST sample: the residual CNN's
//! convolutions compressed by every method within the budget, ALDS's searched chunks dividing
//! each convolution's input channels, and the search reaching the lowest largest error. Its
//! own process: Burn's random generator is global.

use tempering_examples::compress_and_finetune::{CompressFinetuneArgs, Compressor, ModelKind, run};

#[test]
fn the_cnn_is_compressed_within_every_budget() {
    let dir = tempfile::tempdir().unwrap();
    let args = CompressFinetuneArgs {
        model: ModelKind::Cnn,
        epochs: 1,
        budgets: vec![0.3],
        ..CompressFinetuneArgs::on_shipped_sample(dir.path().to_path_buf())
    };
    let report = run(&args).unwrap();
    // Widths 4, 4, 8: the stem [4, 1, 3, 3], block 1's two [4, 4, 3, 3], block 2's
    // [8, 4, 3, 3] and [8, 8, 3, 3] and its shortcut [8, 4, 1, 1].
    assert_eq!(report.dense_parameters, 36 + 2 * 144 + 288 + 576 + 32);
    // Input channels of the six convolutions, in the order the export lists them.
    let inputs = [1, 4, 4, 4, 8, 4];
    for r in &report.results {
        assert!(
            r.parameters as f64 <= (r.budget * report.dense_parameters as f64).ceil(),
            "{:?}: {} of {}",
            r.compressor,
            r.parameters,
            report.dense_parameters
        );
        match r.compressor {
            Compressor::Magnitude => assert!(r.chunks.is_empty()),
            Compressor::Svd => assert_eq!(r.chunks, [1; 6]),
            // Three chunks, capped at the channels there are.
            Compressor::AldsK3 => assert_eq!(r.chunks, [1, 3, 3, 3, 3, 3]),
            Compressor::Alds => {
                assert_eq!(r.chunks.len(), 6);
                for (k, n) in r.chunks.iter().zip(inputs) {
                    assert_eq!(n % k, 0, "{k} chunks of {n} channels");
                }
            }
        }
        assert!(r.accuracy_finetuned.is_finite() && r.accuracy_compressed.is_finite());
    }
    let error = |c: Compressor| {
        report
            .results
            .iter()
            .find(|r| r.compressor == c)
            .and_then(|r| r.max_error)
            .unwrap()
    };
    assert!(error(Compressor::Alds) <= error(Compressor::AldsK3));
    assert!(error(Compressor::Alds) <= error(Compressor::Svd));
}

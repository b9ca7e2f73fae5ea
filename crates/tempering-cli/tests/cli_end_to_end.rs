//! The `tempering` binary end to end on a checkpoint written by burn-train's
//! `FileCheckpointer` (the file a `Learner` leaves in `<dir>/checkpoint/model-<epoch>.bpk`):
//! inspect, prune with each method, verify, load the pruned file back into the model, and
//! every error path of the command line.

mod common;

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::store::ModuleRecord;
use burn::tensor::{Device, Int, Tensor, TensorData};
use burn::train::checkpoint::{Checkpointer, FileCheckpointer};
use common::{s, tempering, text};

#[derive(Module, Debug)]
struct Net {
    embed: Embedding,
    fc1: Linear,
    norm: LayerNorm,
    fc2: Linear,
}

impl Net {
    fn new(device: &Device) -> Self {
        Self {
            embed: EmbeddingConfig::new(10, 16).init(device),
            fc1: LinearConfig::new(16, 32).init(device),
            norm: LayerNormConfig::new(32).init(device),
            fc2: LinearConfig::new(32, 8).init(device),
        }
    }

    fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let x = self.embed.forward(tokens);
        self.fc2.forward(self.norm.forward(self.fc1.forward(x)))
    }
}

/// Saves a fresh `Net` the way burn-train checkpoints a model.
fn checkpoint(dir: &Path) -> (Net, PathBuf) {
    let device = Device::default();
    let net = Net::new(&device);
    FileCheckpointer::new(dir.join("checkpoint"), "model")
        .save(1, net.clone().into_record())
        .unwrap();
    (net, dir.join("checkpoint/model-1.bpk"))
}

#[test]
fn prune_verify_and_load_a_burn_train_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (net, model) = checkpoint(dir.path());

    let out = tempering(&["inspect", s(&model)]);
    assert!(out.status.success(), "{}", text(&out));
    let listing = String::from_utf8_lossy(&out.stdout);
    for name in [
        "embed.weight",
        "fc1.weight",
        "fc1.bias",
        "norm.gamma",
        "fc2.weight",
    ] {
        assert!(listing.contains(name), "{listing}");
    }
    assert!(listing.contains("burnpack checkpoint"), "{listing}");

    let pruned = dir.path().join("pruned.bpk");
    let out = tempering(&[
        "prune",
        s(&model),
        "-o",
        s(&pruned),
        "--method",
        "global-magnitude",
        "--sparsity",
        "0.8",
        "--min-keep",
        "0.05",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let targets: Vec<&str> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        ["fc1.weight", "fc2.weight"],
        "embedding, biases, norms untouched"
    );
    let zeros: u64 = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["zeros_after"].as_u64().unwrap())
        .sum();
    assert_eq!(zeros, (0.8f64 * (16.0 * 32.0 + 32.0 * 8.0)).floor() as u64);

    let out = tempering(&["verify", s(&model), s(&pruned)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 pruned as recorded"));

    // The pruned file loads into the model and computes what the masked model computes.
    let device = Device::default();
    let loaded = Net::new(&device).load_record(ModuleRecord::load(&pruned).unwrap());
    let values = |w: &Tensor<2>| w.clone().into_data().try_to_vec::<f32>().unwrap();
    let fc1 = values(&loaded.fc1.weight.val());
    let original = values(&net.fc1.weight.val());
    let zeroed = fc1.iter().filter(|&&x| x == 0.0).count();
    assert!(zeroed > 0);
    for (a, b) in fc1.iter().zip(&original) {
        assert!(*a == 0.0 || a == b);
    }
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 2, 3, 4], [2, 2]), &device);
    let masked = Net {
        fc1: Linear {
            weight: burn::module::Param::from_tensor(loaded.fc1.weight.val()),
            bias: net.fc1.bias.clone(),
        },
        fc2: Linear {
            weight: burn::module::Param::from_tensor(loaded.fc2.weight.val()),
            bias: net.fc2.bias.clone(),
        },
        ..net
    };
    masked
        .forward(tokens.clone())
        .into_data()
        .assert_approx_eq::<f32>(
            &loaded.forward(tokens).into_data(),
            burn::tensor::Tolerance::default(),
        );

    // 2:4 and the other methods; each verifies.
    for (i, args) in [
        vec!["--method", "nm", "--nm", "2:4"],
        vec!["--method", "layer-magnitude", "--sparsity", "0.5"],
        vec!["--method", "random", "--sparsity", "0.5", "--seed", "3"],
    ]
    .into_iter()
    .enumerate()
    {
        let path = dir.path().join(format!("m{i}.bpk"));
        let mut all = vec!["prune", s(&model), "-o", s(&path)];
        all.extend(args);
        let out = tempering(&all);
        assert!(out.status.success(), "{}", text(&out));
        let out = tempering(&["verify", s(&model), s(&path)]);
        assert!(out.status.success(), "{}", text(&out));
    }
}

#[test]
fn compress_reports_ranks_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let (_, model) = checkpoint(dir.path());
    let out = tempering(&[
        "compress",
        s(&model),
        "--method",
        "low-rank",
        "--budget",
        "0.6",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let layers = report["layers"].as_array().unwrap();
    let names: Vec<&str> = layers.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["fc1.weight", "fc2.weight"],
        "embedding, biases, norms untouched"
    );
    let sum = |key: &str| -> u64 { layers.iter().map(|l| l[key].as_u64().unwrap()).sum() };
    assert_eq!(sum("parameters_before"), 16 * 32 + 32 * 8);
    assert!(sum("parameters_after") as f64 <= 0.6 * sum("parameters_before") as f64);
    let out = tempering(&[
        "compress",
        s(&model),
        "--method",
        "low-rank",
        "--budget",
        "0.6",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("largest relative spectral error"),
        "{stdout}"
    );
}

/// `--search`: each layer's chunks among the divisors of its inputs, a largest error no worse
/// than the fixed k = 3's, the budget met; `--chunks` with it is refused.
#[test]
fn compress_searches_chunks_per_layer() {
    let dir = tempfile::tempdir().unwrap();
    let (_, model) = checkpoint(dir.path());
    let report = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "compress",
            s(&model),
            "--method",
            "low-rank",
            "--budget",
            "0.5",
        ];
        args.extend_from_slice(extra);
        args.push("--json");
        let out = tempering(&args);
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let worst = |r: &serde_json::Value| -> f64 {
        r["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["relative_error"].as_f64().unwrap())
            .fold(0.0, f64::max)
    };
    let searched = report(&["--search"]);
    let fixed = report(&[]);
    assert!(worst(&searched) <= worst(&fixed));
    let layers = searched["layers"].as_array().unwrap();
    // fc1 is [16, 32] (16 inputs), fc2 [32, 8] (32 inputs).
    for (l, inputs) in layers.iter().zip([16, 32]) {
        assert_eq!(inputs % l["chunks"].as_u64().unwrap(), 0, "{l}");
    }
    let sum = |key: &str| -> u64 { layers.iter().map(|l| l[key].as_u64().unwrap()).sum() };
    assert!(sum("parameters_after") as f64 <= 0.5 * sum("parameters_before") as f64);
    let out = tempering(&[
        "compress",
        s(&model),
        "--method",
        "low-rank",
        "--budget",
        "0.5",
        "--search",
        "--chunks",
        "4",
    ]);
    assert!(
        !out.status.success() && text(&out).contains("--chunks"),
        "{}",
        text(&out)
    );
}

#[test]
fn command_line_errors_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (_, model) = checkpoint(dir.path());
    let out_path = dir.path().join("out.bpk");
    // Each case is a command line (MODEL and OUT stand for the paths) and what stderr must say.
    let run = |line: &str| {
        let line = line
            .replace("MODEL", s(&model))
            .replace("OUT", s(&out_path));
        let args: Vec<&str> = line.split_whitespace().collect();
        (tempering(&args), format!("{args:?}"))
    };
    let cases = [
        (
            "prune MODEL -o OUT --method global-magnitude",
            "--sparsity is required",
        ),
        (
            "prune MODEL --method random --sparsity 0.5",
            "-o OUT is required",
        ),
        (
            "prune MODEL -o OUT --method global-magnitude --sparsity 1.5",
            "--sparsity",
        ),
        ("prune MODEL -o OUT --method nm --nm 2-4", "is not N:M"),
        (
            "prune MODEL -o OUT --method nm --sparsity 0.5",
            "N:M fixes the sparsity",
        ),
        (
            "prune MODEL -o OUT --method lottery --sparsity 0.5",
            "invalid value 'lottery'",
        ),
        (
            "prune MODEL -o MODEL --method random --sparsity 0.5 --force",
            "is the input checkpoint",
        ),
        (
            "prune MODEL -o OUT --method random --sparsity 0.5 --include [",
            "--include",
        ),
        ("inspect /nonexistent/model.bpk", "/nonexistent/model.bpk"),
        (
            "compress MODEL --method low-rank --budget 1.5",
            "--budget: 1.5 is not a fraction",
        ),
        (
            "compress MODEL --method low-rank --budget 0.001",
            "below what rank 1 in every layer needs",
        ),
        (
            "compress MODEL --method low-rank --budget 0.5 --chunks 0",
            "--chunks",
        ),
        (
            "prune MODEL -o OUT --method random --sparsity 0.5 --optim /nonexistent/optim.bpk",
            "/nonexistent/optim.bpk",
        ),
        (
            "verify MODEL /nonexistent/pruned.bpk",
            "/nonexistent/pruned.bpk",
        ),
    ];
    for (line, expected) in cases {
        let (result, args) = run(line);
        assert!(!result.status.success(), "{args} succeeded");
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(stderr.contains(expected), "{args}: {stderr}");
    }
    assert!(!out_path.exists(), "no failed run left an output");
    // An existing output needs --force; verify fails (exit 1) on a checkpoint pruning did not
    // write.
    std::fs::write(&out_path, b"x").unwrap();
    let (result, _) = run("prune MODEL -o OUT --method random --sparsity 0.5");
    assert!(String::from_utf8_lossy(&result.stderr).contains("--force"));
    assert_eq!(std::fs::read(&out_path).unwrap(), b"x");
    let (result, _) = run("verify MODEL MODEL");
    assert_eq!(result.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&result.stdout).contains("FAILED"));
}

"""PyTorch side of `bench_sparsegpt`: the official SparseGPT code on the same layer and inputs.

Imports `SparseGPT` from a checkout of the official repository (IST-DASLab/sparsegpt, file
`sparsegpt.py`; pass its directory with --repo) and times, on the CPU with --threads threads,
`add_batch` on the calibration inputs and `fasterprune` at 50 % unstructured and at 2:4 (block
size 128, dampening 0.01, the official defaults), the minimum of --repeats runs each. The
weight and inputs are the raw little-endian f32 files `bench_sparsegpt` writes, so both sides
prune the identical layer. Prints one JSON line.

`fasterprune` ends with `torch.cuda.synchronize()`, which fails on a machine without a GPU; it
is replaced by a no-op here (the CPU work is synchronous). The official module imports
`transformers` only to recognise GPT-2's `Conv1D` layers; this harness needs torch and
transformers installed (`pip install torch transformers`).

Run by `cargo run --release -p tempering-examples --bin bench_sparsegpt -- --python
PATH/TO/python --sparsegpt-repo PATH/TO/sparsegpt`.
"""
import argparse
import json
import sys
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="checkout of IST-DASLab/sparsegpt")
    parser.add_argument("--weight", required=True, help="[outputs, inputs] f32 file")
    parser.add_argument("--inputs", required=True, help="[tokens, inputs] f32 file")
    parser.add_argument("--outputs", type=int, required=True)
    parser.add_argument("--in-features", type=int, required=True)
    parser.add_argument("--tokens", type=int, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    torch.cuda.synchronize = lambda *a, **k: None
    sys.path.insert(0, args.repo)
    from sparsegpt import SparseGPT  # the official file

    weight = torch.from_file(
        args.weight, size=args.outputs * args.in_features, dtype=torch.float32
    ).reshape(args.outputs, args.in_features)
    inputs = torch.from_file(
        args.inputs, size=args.tokens * args.in_features, dtype=torch.float32
    ).reshape(1, args.tokens, args.in_features)
    layer = torch.nn.Linear(args.in_features, args.outputs, bias=False)

    def calibrated():
        layer.weight.data = weight.clone()
        pruner = SparseGPT(layer)
        pruner.add_batch(inputs, None)
        return pruner

    def minimum(run):
        best = float("inf")
        for _ in range(max(args.repeats, 1)):
            pruner = calibrated()
            started = time.perf_counter()
            run(pruner)
            best = min(best, time.perf_counter() - started)
        return best

    with torch.no_grad():
        gram = float("inf")
        for _ in range(max(args.repeats, 1)):
            started = time.perf_counter()
            calibrated()
            gram = min(gram, time.perf_counter() - started)
        unstructured = minimum(lambda p: p.fasterprune(0.5))
        two_of_four = minimum(lambda p: p.fasterprune(0, prunen=2, prunem=4))
        zeros = int((layer.weight.data == 0).sum())
    print(json.dumps({
        "gram_seconds": gram,
        "prune_50_seconds": unstructured,
        "prune_2_4_seconds": two_of_four,
        "zeros_2_4": zeros,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()

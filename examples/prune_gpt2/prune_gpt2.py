#!/usr/bin/env python3
"""Prunes and shrinks a Hugging Face GPT-2 directory with the `tempering` command line, and
scores every result twice: with `tempering evaluate`, and with `transformers` loading the
directory tempering wrote (`gpt2_perplexity.py`, the same windows), so the table shows both
what compression cost and that the written checkpoints are ones `transformers` reads as
tempering computed them.

    cargo build --release -p tempering-cli
    python3 examples/prune_gpt2/prune_gpt2.py [--run runs/small_gpt2] [--tempering target/release/tempering]

`--run` is a folder as `train_small_gpt2.py` writes it (`model/`, `train.txt`, `valid.txt`).
Every output directory goes under `RUN/pruned/` (replaced on a rerun); the table is printed and
written to `RUN/results.md`. It needs torch and transformers for the second score.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# (name, tempering arguments after the model): every calibrated method of `prune` at 50 % and
# 2:4, and `shrink` at a quarter of the heads and channels.
ROWS = [
    ("magnitude 50 %", ["prune", "--method", "layer-magnitude", "--sparsity", "0.5"]),
    ("wanda 50 %", ["prune", "--method", "wanda", "--sparsity", "0.5"]),
    ("sparsegpt 50 %", ["prune", "--method", "sparsegpt", "--sparsity", "0.5"]),
    ("sparsellm 50 %", ["prune", "--method", "sparsellm", "--sparsity", "0.5"]),
    ("ecoflap 50 %", ["prune", "--method", "ecoflap", "--sparsity", "0.5"]),
    ("magnitude 2:4", ["prune", "--method", "layer-magnitude", "--nm", "2:4"]),
    ("wanda 2:4", ["prune", "--method", "wanda", "--nm", "2:4"]),
    ("sparsegpt 2:4", ["prune", "--method", "sparsegpt", "--nm", "2:4"]),
    ("shrink l2 25 %", ["shrink", "--method", "l2", "--ratio", "0.25"]),
    # Týr's search at a size for 2 cores: 1 round of 8 generations of 16 offspring on 64 windows
    # (the command's defaults, 2 rounds of 16 × 32 on 256 windows, take over 10 minutes here).
    (
        "shrink tyr 25 %",
        ["shrink", "--method", "tyr", "--ratio", "0.25", "--rounds", "1", "--generations", "8",
         "--offspring", "16", "--calibration-tokens", "8192"],
    ),
]


def tempering(binary, args):
    started = time.time()
    out = subprocess.run([binary, *args, "--json"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"tempering {' '.join(args)} failed:\n{out.stderr}")
    return json.loads(out.stdout), time.time() - started


def transformers_nats(python, directory, text):
    out = subprocess.run(
        [python, os.path.join(HERE, "gpt2_perplexity.py"), directory, text],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        sys.exit(f"gpt2_perplexity.py {directory} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])["nats_per_token"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", default="runs/small_gpt2")
    parser.add_argument("--tempering", default="target/release/tempering")
    parser.add_argument("--python", default=sys.executable, help="the Python with transformers")
    args = parser.parse_args()
    model = os.path.join(args.run, "model")
    train, valid = os.path.join(args.run, "train.txt"), os.path.join(args.run, "valid.txt")
    pruned = os.path.join(args.run, "pruned")
    shutil.rmtree(pruned, ignore_errors=True)
    os.makedirs(pruned)

    dense, dense_seconds = tempering(args.tempering, ["evaluate", model, "--text", valid])
    rows = [("dense", dense["nats_per_token"], transformers_nats(args.python, model, valid), dense_seconds, "")]
    print(f"dense: {dense['nats_per_token']:.4f} nats/token over {dense['tokens']} tokens", flush=True)
    for name, command in ROWS:
        out = os.path.join(pruned, name.replace(" ", "-").replace("%", "pct").replace(":", "of"))
        report, seconds = tempering(
            args.tempering, [command[0], model, *command[1:], "--calibration", train, "-o", out]
        )
        ours, _ = tempering(args.tempering, ["evaluate", out, "--text", valid])
        theirs = transformers_nats(args.python, out, valid)
        note = ""
        if "parameters_after" in report:
            note = f"{report['parameters_before']} → {report['parameters_after']} parameters"
            if "gpt2_widening" in report:
                note += f" ({report['gpt2_widening']['zero_parameters']} zeros written)"
        rows.append((name, ours["nats_per_token"], theirs, seconds, note))
        print(f"{name}: {ours['nats_per_token']:.4f} nats/token, {seconds:.1f} s", flush=True)

    lines = [
        f"Validation: {dense['tokens']} tokens of `{valid}` in {dense['windows']} windows of "
        f"{dense['context']}.",
        "",
        "| model | nats/token (tempering) | perplexity | nats/token (transformers) | difference "
        "| seconds | parameters |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, ours, theirs, seconds, note in rows:
        lines.append(
            f"| {name} | {ours:.4f} | {2.718281828459045 ** ours:.2f} | {theirs:.4f} | "
            f"{abs(ours - theirs):.1e} | {seconds:.1f} | {note} |"
        )
    table = "\n".join(lines) + "\n"
    print("\n" + table)
    with open(os.path.join(args.run, "results.md"), "w") as f:
        f.write(table)


if __name__ == "__main__":
    main()

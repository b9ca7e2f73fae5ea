#!/usr/bin/env python3
"""Loads a GPT-2 directory that tempering exported back into `transformers` and compares its
logits for the recorded sentence with the ones in `expected_logits.safetensors` (beside this
script): the hand check that an export is a checkpoint `transformers` reads as it wrote it.

    python3 models/tests/data/tiny_gpt2/check_export.py EXPORTED_DIR
"""

import os
import sys

import safetensors.torch
import torch
import transformers

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    exported = sys.argv[1]
    expected = safetensors.torch.load_file(os.path.join(HERE, "expected_logits.safetensors"))
    model = transformers.GPT2LMHeadModel.from_pretrained(exported).eval()
    with torch.no_grad():
        logits = model(expected["tokens"][None]).logits[0]
    worst = (logits - expected["logits"]).abs().max().item()
    print(f"{exported}: largest logit difference {worst:.3g}")
    sys.exit(0 if worst < 1e-4 else 1)


if __name__ == "__main__":
    main()

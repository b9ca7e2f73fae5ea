#!/usr/bin/env python3
"""Builds the tiny Hugging Face GPT-2 checkpoint that tempering's GPT-2 import tests load.

A *randomly initialised* GPT-2 (2 layers, 2 heads, width 64, 64 positions) with a byte-level BPE
tokenizer of 512 tokens trained on the first 200,000 characters of the Shakespeare corpus
shipped in `datasets/data`, saved by `transformers` exactly as a real GPT-2 checkpoint is
(`config.json`, `model.safetensors`, `tokenizer.json`, `vocab.json`, `merges.txt`), plus the
logits the model gives for a fixed sentence (`expected_logits.safetensors`: `tokens` as int64
`[T]`, `logits` as float32 `[T, vocab]`) and the ids the tokenizer gives a few awkward
strings (`tokenizer_cases.json`). Everything is seeded, so rerunning it reproduces the
files (up to the versions of torch, transformers and tokenizers; the ones used are recorded in
`versions.json`).

    python3 models/tests/data/tiny_gpt2/make_tiny_gpt2.py     # needs torch, transformers, tokenizers

No network is needed: nothing is downloaded. `check_export.py` (beside this script) loads a
directory tempering exported back into `transformers` and compares the logits.
"""

import gzip
import json
import os

import safetensors.torch
import tokenizers
import torch
import transformers
from tokenizers import ByteLevelBPETokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "..", "..", "..", "datasets", "data", "shakespeare-plays.txt.gz")
SENTENCE = "To be, or not to be, that is the question:"
# Strings whose encodings `tokenizer_cases.json` records, for the Rust tokenizer's test:
# contractions, runs of spaces and newlines, digits, punctuation, letters outside ASCII,
# characters of four UTF-8 bytes, trailing spaces and the special token.
TOKENIZER_CASES = [
    SENTENCE,
    "I'll say't, you've not; he'd, we're, I'm, 's",
    "Two  spaces,   three,\n\nnewlines\tand a tab.  ",
    "In 1623, 36 plays; 3.14159 and 1,000,000!",
    "Café naïve façade — «quoted» … ‘fancy’",
    "日本語のテキスト and emoji 🎭🗡️ mixed",
    "Exit, pursued by a bear.<|endoftext|>THE END",
    "   leading spaces and trailing ones   ",
    "",
    "!!!???...,,,;;;---",
]
VOCAB = 512
SEED = 1234


def train_tokenizer():
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        text = f.read(200_000)
    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator(
        [text[i : i + 1000] for i in range(0, len(text), 1000)],
        vocab_size=VOCAB,
        min_frequency=2,
        special_tokens=["<|endoftext|>"],
        show_progress=False,
    )
    return tokenizer


def main():
    torch.manual_seed(SEED)
    bpe = train_tokenizer()
    bpe.save_model(HERE)  # vocab.json, merges.txt
    bpe.save(os.path.join(HERE, "tokenizer.json"))
    eos = bpe.token_to_id("<|endoftext|>")
    config = transformers.GPT2Config(
        vocab_size=bpe.get_vocab_size(),
        n_positions=64,
        n_embd=64,
        n_layer=2,
        n_head=2,
        # Ten times GPT-2's 0.02, so that activations and logits are large enough for a wrong
        # GELU, norm or attention scale to show in the logits.
        initializer_range=0.2,
        bos_token_id=eos,
        eos_token_id=eos,
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    # GPT-2's initialization leaves biases at 0 and norm scales at 1, where a bias or norm
    # loaded into the wrong place would go unseen: draw them at random too.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.normal_(0.0, 0.1)
            elif ".ln_" in name:
                p.normal_(1.0, 0.1)
    model.save_pretrained(HERE, safe_serialization=True)
    tokens = torch.tensor(bpe.encode(SENTENCE).ids, dtype=torch.int64)
    with torch.no_grad():
        logits = model(tokens[None]).logits[0].float().contiguous()
    safetensors.torch.save_file(
        {"tokens": tokens, "logits": logits},
        os.path.join(HERE, "expected_logits.safetensors"),
    )
    cases = [{"text": text, "ids": bpe.encode(text).ids} for text in TOKENIZER_CASES]
    with open(os.path.join(HERE, "tokenizer_cases.json"), "w", encoding="utf-8") as f:
        lines = ",\n".join(" " + json.dumps(case, ensure_ascii=False) for case in cases)
        f.write("[\n" + lines + "\n]\n")
    versions = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "sentence": SENTENCE,
    }
    with open(os.path.join(HERE, "versions.json"), "w") as f:
        json.dump(versions, f, indent=2)
        f.write("\n")
    print(f"{len(tokens)} tokens, logits {tuple(logits.shape)}, files in {HERE}")


if __name__ == "__main__":
    main()

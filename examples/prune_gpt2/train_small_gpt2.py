#!/usr/bin/env python3
"""Trains a small GPT-2 with Hugging Face `transformers` on the Shakespeare corpus shipped in
`datasets/data` and saves it with `save_pretrained`, exactly as a GPT-2 from the Hub is laid
out (`config.json`, `model.safetensors`, `vocab.json`, `merges.txt`, `tokenizer.json`): a real,
trained checkpoint that tempering did not write, to prune and evaluate from the command line
on machines without network access.

- Text: the corpus's first 90 % for training (`train.txt`), its last 10 % for validation
  (`valid.txt`), the split `train_char_lm` uses; both are written beside the model.
- Tokenizer: GPT-2's byte-level BPE with 2,048 tokens, trained on `train.txt` by `tokenizers`.
- Model: `GPT2Config(n_layer=4, n_head=4, n_embd=128, n_positions=128)`, GPT-2's defaults
  otherwise (`gelu_new`, tied head): 1.07 M parameters.
- Training: AdamW (lr 1e-3, cosine to 1e-4 after 100 warm-up steps, weight decay 0.1), batches
  of 32 random windows of 129 tokens, seed 0, dropout 0 (the model is small and the text large).

    python3 examples/prune_gpt2/train_small_gpt2.py --out runs/small_gpt2 [--steps 2000]

takes about 10 minutes on 2 cores for the default 2,000 steps and prints the validation loss
every 500. It needs torch, transformers and tokenizers; nothing is downloaded.
"""

import argparse
import gzip
import math
import os
import time

import torch
import transformers
from tokenizers import ByteLevelBPETokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "..", "datasets", "data", "shakespeare-plays.txt.gz")
VOCAB = 2048
CONTEXT = 128
BATCH = 32


def windows(ids, count, generator):
    starts = torch.randint(0, len(ids) - CONTEXT - 1, (count,), generator=generator)
    return torch.stack([ids[s : s + CONTEXT + 1] for s in starts])


def validation_loss(model, ids, max_windows=200):
    """Mean cross-entropy over consecutive windows that overlap by one, as `tempering evaluate`."""
    count = min((len(ids) - 1) // CONTEXT, max_windows)
    total = 0.0
    with torch.no_grad():
        for first in range(0, count, BATCH):
            batch = torch.stack(
                [ids[w * CONTEXT : (w + 1) * CONTEXT + 1] for w in range(first, min(first + BATCH, count))]
            )
            logits = model(batch[:, :-1]).logits
            total += torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), reduction="sum"
            ).item()
    return total / (count * CONTEXT)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="runs/small_gpt2")
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    os.makedirs(args.out, exist_ok=True)
    model_dir = os.path.join(args.out, "model")

    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        text = f.read()
    cut = int(len(text) * 0.9)
    train_text, valid_text = text[:cut], text[cut:]
    for name, part in [("train.txt", train_text), ("valid.txt", valid_text)]:
        with open(os.path.join(args.out, name), "w", encoding="utf-8") as f:
            f.write(part)

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        [train_text[i : i + 10_000] for i in range(0, len(train_text), 10_000)],
        vocab_size=VOCAB,
        min_frequency=2,
        special_tokens=["<|endoftext|>"],
        show_progress=False,
    )
    train_ids = torch.tensor(bpe.encode(train_text).ids)
    valid_ids = torch.tensor(bpe.encode(valid_text).ids)
    eos = bpe.token_to_id("<|endoftext|>")
    config = transformers.GPT2Config(
        vocab_size=bpe.get_vocab_size(),
        n_positions=CONTEXT,
        n_embd=128,
        n_layer=4,
        n_head=4,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=eos,
        eos_token_id=eos,
    )
    model = transformers.GPT2LMHeadModel(config)
    params = sum(p.numel() for p in model.parameters())
    print(f"{params} parameters; {len(train_ids)} training tokens, {len(valid_ids)} validation tokens")
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-3
    )

    def rate(step):
        if step < 100:
            return (step + 1) / 100
        progress = (step - 100) / max(1, args.steps - 100)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    started = time.time()
    model.train()
    for step in range(args.steps):
        batch = windows(train_ids, BATCH, generator)
        logits = model(batch[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if (step + 1) % 500 == 0 or step + 1 == args.steps:
            model.eval()
            valid = validation_loss(model, valid_ids)
            model.train()
            print(
                f"step {step + 1}: train {loss.item():.4f}, validation {valid:.4f} nats/token "
                f"({time.time() - started:.0f} s)",
                flush=True,
            )
    model.eval()
    model.save_pretrained(model_dir, safe_serialization=True)
    bpe.save_model(model_dir)  # vocab.json, merges.txt
    bpe.save(os.path.join(model_dir, "tokenizer.json"))
    print(f"saved {model_dir} ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()

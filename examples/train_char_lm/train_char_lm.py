#!/usr/bin/env python3
"""The PyTorch twin of `train_char_lm` (this folder's Rust example): the same model, data, split
and recipe, so the validation loss and the training speed of the two can be compared on one
machine.

Model: token + learned position embeddings, pre-norm blocks (LayerNorm, causal self-attention
with separate query/key/value projections with biases, GELU feed-forward of 4·d), final
LayerNorm, output head tied to the token embedding; GPT-2 initialization (N(0, 0.02²), zero
biases, residual projections 0.02/√(2·layers)). Recipe (nanoGPT's train_shakespeare_char at its
CPU scale): AdamW β=(0.9, 0.99), ε 1e-8, weight decay 0.1 on matrices and embeddings only,
lr 1e-3 with 100 warmup steps and a cosine to 1e-4 over the run, per-tensor gradient-norm
clipping at 1.0 (what Burn offers; --global-clip for nanoGPT's global clipping), batch 12 of 64
characters, 2000 steps; 20 random batches per split per evaluation. Data: the Shakespeare plays
shipped in datasets/data, characters sorted by code point, first 90 % train, last 10 % validate.

Only torch and the standard library are needed. Run where torch is installed:

    python3 examples/train_char_lm/train_char_lm.py              # train, print losses as train_char_lm does
    python3 examples/train_char_lm/train_char_lm.py --bench 50   # tokens/s of 50 training steps, as JSON

`bench_char_lm` runs the second form itself when `python3 -c "import torch"` works.
"""

import argparse
import gzip
import json
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "..", "datasets", "data", "shakespeare-plays.txt.gz")


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.attention_norm = nn.LayerNorm(d)
        self.query = nn.Linear(d, d)
        self.key = nn.Linear(d, d)
        self.value = nn.Linear(d, d)
        self.output = nn.Linear(d, d)
        self.feed_forward_norm = nn.LayerNorm(d)
        self.expand = nn.Linear(d, 4 * d)
        self.contract = nn.Linear(4 * d, d)
        self.heads = heads

    def attend(self, x):
        b, t, d = x.shape
        split = lambda y: y.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.output(y.transpose(1, 2).reshape(b, t, d))

    def forward(self, x):
        x = x + self.attend(self.attention_norm(x))
        return x + self.contract(F.gelu(self.expand(self.feed_forward_norm(x))))


class CharLm(nn.Module):
    def __init__(self, vocab, context, d, layers, heads):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, d)
        self.position_embedding = nn.Embedding(context, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.final_norm = nn.LayerNorm(d)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 2:
                residual = name.endswith("output.weight") or name.endswith("contract.weight")
                std = 0.02 / math.sqrt(2 * layers) if residual else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, tokens, targets):
        t = tokens.shape[1]
        x = self.token_embedding(tokens) + self.position_embedding(
            torch.arange(t, device=tokens.device)
        )
        for block in self.blocks:
            x = block(x)
        logits = self.final_norm(x) @ self.token_embedding.weight.t()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def lr_at(step, a):
    """nanoGPT's get_lr."""
    if step < a.warmup:
        return a.lr * (step + 1) / (a.warmup + 1)
    if step > a.steps:
        return a.min_lr
    ratio = (step - a.warmup) / max(a.steps - a.warmup, 1)
    return a.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (a.lr - a.min_lr)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=12)
    p.add_argument("--context", type=int, default=64)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--global-clip", action="store_true")
    p.add_argument("--eval-interval", type=int, default=250)
    p.add_argument("--eval-batches", type=int, default=20)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--bench", type=int, default=0, help="time this many steps, print JSON")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([index[c] for c in text], dtype=torch.long)
    cut = len(data) * 9 // 10
    splits = {"train": data[:cut], "valid": data[cut:]}

    def batch(split):
        d = splits[split]
        starts = torch.randint(len(d) - a.context, (a.batch_size,))
        x = torch.stack([d[i : i + a.context] for i in starts])
        y = torch.stack([d[i + 1 : i + 1 + a.context] for i in starts])
        return x, y

    model = CharLm(len(chars), a.context, a.d_model, a.layers, a.heads)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": a.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=a.lr,
        betas=(0.9, 0.99),
        eps=1e-8,
    )

    def step(i):
        for g in opt.param_groups:
            g["lr"] = lr_at(i, a)
        x, y = batch("train")
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if a.grad_clip > 0:
            if a.global_clip:
                nn.utils.clip_grad_norm_(model.parameters(), a.grad_clip)
            else:
                for p in model.parameters():
                    nn.utils.clip_grad_norm_([p], a.grad_clip)
        opt.step()
        return loss.item()

    if a.bench:
        for i in range(3):
            step(i)
        started = time.perf_counter()
        for i in range(a.bench):
            step(3 + i)
        seconds = time.perf_counter() - started
        tokens = a.bench * a.batch_size * a.context
        print(json.dumps({"tokens_per_second": tokens / seconds, "steps": a.bench,
                          "threads": torch.get_num_threads(), "torch": torch.__version__}))
        return

    @torch.no_grad()
    def evaluate():
        model.eval()
        out = {s: sum(model(*batch(s)).item() for _ in range(a.eval_batches)) / a.eval_batches
               for s in splits}
        model.train()
        return out

    seconds = 0.0
    for i in range(a.steps + 1):
        if i % a.eval_interval == 0 or i == a.steps:
            e = evaluate()
            print(f"step {i:>5}: train {e['train']:.4f} nats ({e['train'] / math.log(2):.3f} "
                  f"bits/char), validation {e['valid']:.4f} nats "
                  f"({e['valid'] / math.log(2):.3f} bits/char), {seconds:.0f} s", flush=True)
        if i == a.steps:
            break
        started = time.perf_counter()
        step(i)
        seconds += time.perf_counter() - started
    print(f"training throughput: {a.steps * a.batch_size * a.context / seconds:.0f} tokens/s")


if __name__ == "__main__":
    main()

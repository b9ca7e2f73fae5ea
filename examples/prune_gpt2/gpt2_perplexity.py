#!/usr/bin/env python3
"""A Hugging Face GPT-2 directory's nats per token and perplexity on a text file, computed by
`transformers` exactly as `tempering evaluate` computes them, to check one against the other:

- the text is read whole and tokenized with the directory's tokenizer (`vocab.json`,
  `merges.txt`), with no token added;
- it is cut into consecutive windows of `n_positions + 1` tokens that overlap by one (the last
  token of a window is the first of the next); each window predicts its tokens after the first,
  seeing nothing of the window before;
- the loss is the mean cross-entropy over every predicted token, in nats.

    python3 examples/prune_gpt2/gpt2_perplexity.py DIR TEXT [--tokens N]

prints one JSON object: `nats_per_token`, `perplexity`, `tokens` (predicted), `windows`,
`context`. It needs torch and transformers; nothing is downloaded.
"""

import argparse
import json
import math

import torch
import transformers


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir")
    parser.add_argument("text")
    parser.add_argument("--tokens", type=int, default=None, help="tokens predicted at most")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()

    tokenizer = transformers.GPT2Tokenizer.from_pretrained(args.dir)
    model = transformers.GPT2LMHeadModel.from_pretrained(args.dir).eval()
    context = model.config.n_positions
    with open(args.text, encoding="utf-8") as f:
        ids = tokenizer.encode(f.read())
    windows = (len(ids) - 1) // context
    if args.tokens is not None:
        windows = min(windows, -(-args.tokens // context))
    if windows == 0:
        raise SystemExit(f"{args.text}: {len(ids)} tokens, fewer than one window of {context} + 1")
    total = 0.0
    with torch.no_grad():
        for first in range(0, windows, args.batch):
            count = min(args.batch, windows - first)
            batch = torch.tensor(
                [ids[w * context : (w + 1) * context + 1] for w in range(first, first + count)]
            )
            logits = model(batch[:, :-1]).logits.double()
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), reduction="sum"
            )
            total += loss.item()
    nats = total / (windows * context)
    print(
        json.dumps(
            {
                "nats_per_token": nats,
                "perplexity": math.exp(nats),
                "tokens": windows * context,
                "windows": windows,
                "context": context,
            }
        )
    )


if __name__ == "__main__":
    main()

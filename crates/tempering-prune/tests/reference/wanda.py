"""Wanda and magnitude reference, pure Python, float64 (no numpy or torch needed).

A transcription of the mask rules of the official Wanda code, locuslab/wanda @8e8fc87, file
`lib/prune.py` (Sun, Liu, Bair & Kolter, "A Simple and Effective Pruning Approach for Large
Language Models", ICLR 2024), written independently of the Rust implementation:

- `WrappedGPT.add_batch` (`lib/layerwrapper.py`): scaler_row = running mean over sequences of
  the per-sequence sum over tokens of x_j^2;
- `prune_wanda`: W_metric = |W| * sqrt(scaler_row); unstructured: torch.sort(W_metric,
  dim=-1, stable=True) and the first int(d_in * sparsity) indices of each row are zeroed;
  N:M (prune_n of every prune_m zeroed): torch.topk(largest=False) per group, read as
  "lowest scores, ties to the lower column";
- `prune_magnitude`: thresh = sort(|W|.flatten())[int(numel * sparsity)], zero |W| <= thresh.

Prints, per case, the (row, column) positions that are zeroed, which
`crates/tempering-prune/tests/wanda_golden.rs` checks. Run: python3 wanda.py
"""

OUT, IN, TOKENS, SEQUENCES = 4, 8, 5, 3


def weight():
    """W [out, in]; exact in float32 and float64 (the Rust test builds the same)."""
    return [[((o * 5 + i * 3) % 11 - 5) / 4 + 0.03 * o for i in range(IN)] for o in range(OUT)]


def inputs(seq):
    """X of sequence `seq`, [tokens, in]; input scales differ by column, as outlier features do."""
    return [[((t * 7 + i * 3 + seq * 2) % 9 - 4) / 4 * (1 + i % 3 * 2)
             for i in range(IN)] for t in range(TOKENS)]


def scaler_row():
    row, nsamples = [0.0] * IN, 0
    for seq in range(SEQUENCES):
        tmp = 1
        row = [v * nsamples / (nsamples + tmp) for v in row]
        nsamples += tmp
        x = inputs(seq)
        row = [row[j] + sum(x[t][j] ** 2 for t in range(TOKENS)) / nsamples for j in range(IN)]
    return row


def wanda(sparsity=None, prune_n=0, prune_m=0):
    w, s = weight(), scaler_row()
    metric = [[abs(w[o][j]) * s[j] ** 0.5 for j in range(IN)] for o in range(OUT)]
    zeroed = []
    for o in range(OUT):
        if prune_n:
            for g in range(0, IN, prune_m):
                group = sorted(range(g, g + prune_m), key=lambda j: (metric[o][j], j))
                zeroed += [(o, j) for j in group[:prune_n]]
        else:
            order = sorted(range(IN), key=lambda j: metric[o][j])  # Python's sort is stable
            zeroed += [(o, j) for j in order[:int(IN * sparsity)]]
    return sorted(zeroed)


def magnitude(sparsity):
    w = weight()
    flat = sorted(abs(v) for row in w for v in row)
    thresh = flat[int(OUT * IN * sparsity)]
    return [(o, j) for o in range(OUT) for j in range(IN) if abs(w[o][j]) <= thresh]


if __name__ == "__main__":
    print("wanda 50 %:", wanda(sparsity=0.5))
    print("wanda 2:4 (2 of every 4 zeroed):", wanda(prune_n=2, prune_m=4))
    print("magnitude 30 %:", magnitude(0.3))

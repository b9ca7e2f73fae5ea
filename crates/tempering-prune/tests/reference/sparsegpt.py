"""SparseGPT reference, pure Python, float64 (no numpy needed).

A line-by-line transcription of `SparseGPT.add_batch` and `SparseGPT.fasterprune` from the
official code, IST-DASLab/sparsegpt @147d215, file `sparsegpt.py` (Frantar & Alistarh,
"SparseGPT: Massive Language Models Can Be Accurately Pruned in One-Shot", ICML 2023), written
independently of the Rust implementation. Conventions of that code: W is [out, in]; `prunen`
is the number of weights *zeroed* in each group of `prunem` consecutive input columns of a row;
torch.topk(largest=False) is read as "lowest scores, ties to the lower column".

Prints the pruned weights of the cases that
`crates/tempering-prune/tests/sparsegpt_golden.rs` checks. Run: python3 sparsegpt.py
"""
import math

OUT, IN, TOKENS, SEQUENCES = 5, 12, 9, 3


def weight():
    """W [out, in], exact in float64 (the Rust test builds the same)."""
    return [[((o * 7 + i * 5) % 13 - 6) / 4 + 0.01 * o for i in range(IN)] for o in range(OUT)]


def inputs(seq):
    """X of sequence `seq`, [tokens, in]; column 3 is dead (all zero) to exercise that rule."""
    return [[0.0 if i == 3 else ((t * 3 + i * 11 + seq * 5) % 17 - 8) / 8
             for i in range(IN)] for t in range(TOKENS)]


def add_batch(h, nsamples, inp, tmp):
    """H *= n/(n+tmp); n += tmp; inp *= sqrt(2/n); H += inp^T inp (inp [tokens, in])."""
    scale = nsamples / (nsamples + tmp)
    nsamples += tmp
    h = [[v * scale for v in row] for row in h]
    s = math.sqrt(2 / nsamples)
    for a in range(IN):
        for b in range(IN):
            h[a][b] += sum((s * row[a]) * (s * row[b]) for row in inp)
    return h, nsamples


def cholesky_lower(a):
    n = len(a)
    l = [[0.0] * n for _ in range(n)]
    for j in range(n):
        d = a[j][j] - sum(l[j][k] ** 2 for k in range(j))
        l[j][j] = math.sqrt(d)
        for i in range(j + 1, n):
            l[i][j] = (a[i][j] - sum(l[i][k] * l[j][k] for k in range(j))) / l[j][j]
    return l


def inverse_lower(l):
    n = len(l)
    inv = [[0.0] * n for _ in range(n)]
    for j in range(n):
        inv[j][j] = 1 / l[j][j]
        for i in range(j + 1, n):
            inv[i][j] = -sum(l[i][k] * inv[k][j] for k in range(j, i)) / l[i][i]
    return inv


def upper_cholesky_of_inverse(h):
    """torch: cholesky -> cholesky_inverse -> cholesky(upper=True)."""
    n = len(h)
    linv = inverse_lower(cholesky_lower(h))
    hinv = [[sum(linv[k][a] * linv[k][b] for k in range(n)) for b in range(n)] for a in range(n)]
    lower = cholesky_lower(hinv)
    return [[lower[b][a] for b in range(n)] for a in range(n)]  # U = L^T, hinv = U^T U


def fasterprune(w, h, sparsity, prunen=0, prunem=0, blocksize=128, percdamp=0.01):
    w = [row[:] for row in w]
    h = [row[:] for row in h]
    rows, columns = len(w), len(w[0])
    for i in range(columns):
        if h[i][i] == 0:
            h[i][i] = 1
            for r in range(rows):
                w[r][i] = 0.0
    damp = percdamp * sum(h[i][i] for i in range(columns)) / columns
    for i in range(columns):
        h[i][i] += damp
    hinv = upper_cholesky_of_inverse(h)
    for i1 in range(0, columns, blocksize):
        i2 = min(i1 + blocksize, columns)
        count = i2 - i1
        w1 = [row[i1:i2] for row in w]
        q1 = [[0.0] * count for _ in range(rows)]
        err1 = [[0.0] * count for _ in range(rows)]
        d1 = [hinv[i1 + k][i1 + k] for k in range(count)]
        if prunen == 0:
            tmp = [w1[r][k] ** 2 / d1[k] ** 2 for r in range(rows) for k in range(count)]
            thresh = sorted(tmp)[int(len(tmp) * sparsity)]
            mask1 = [[w1[r][k] ** 2 / d1[k] ** 2 <= thresh for k in range(count)]
                     for r in range(rows)]
        else:
            mask1 = [[False] * count for _ in range(rows)]
        for i in range(count):
            d = d1[i]
            if prunen != 0 and i % prunem == 0:
                for r in range(rows):
                    group = list(range(i, min(i + prunem, count)))
                    scores = sorted((w1[r][k] ** 2 / d1[k] ** 2, k) for k in group)
                    for _, k in scores[:prunen]:
                        mask1[r][k] = True
            for r in range(rows):
                q = 0.0 if mask1[r][i] else w1[r][i]
                q1[r][i] = q
                e = (w1[r][i] - q) / d
                err1[r][i] = e
                for k in range(i, count):
                    w1[r][k] -= e * hinv[i1 + i][i1 + k]
        for r in range(rows):
            w[r][i1:i2] = q1[r]
            for c in range(i2, columns):
                w[r][c] -= sum(err1[r][k] * hinv[i1 + k][c] for k in range(count))
    return w


def hessian():
    h = [[0.0] * IN for _ in range(IN)]
    n = 0
    for seq in range(SEQUENCES):
        h, n = add_batch(h, n, inputs(seq), 1)
    return h


def show(name, w):
    print(f"// {name}")
    for row in w:
        print("    [" + ", ".join(repr(v) for v in row) + "],")


if __name__ == "__main__":
    h = hessian()
    show("unstructured 50 %, blocks of 5 (three blocks: the lazy update crosses two)",
         fasterprune(weight(), h, 0.5, blocksize=5))
    show("2:4 (two zeroed of every four), blocks of 8", fasterprune(weight(), h, 0, 2, 4, 8))

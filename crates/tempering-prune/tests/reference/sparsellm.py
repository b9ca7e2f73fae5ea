"""SparseLLM reference on one feed-forward pair, pure Python, float64 (no numpy needed).

A transcription of the feed-forward loop of `opt_sparsellm` in the official code,
BaiTheBest/SparseLLM @27fe26a, file `model_utils.py` (Bai et al., "SparseLLM: Towards Global
Pruning of Pre-trained Language Models", NeurIPS 2024), with its `SparseGPT_OPT.fasterprune`
(`pruning_utils.py`), written independently of the Rust implementation. Kept from the official
code: alpha = beta = gamma = 0.1, 4 rounds (`opt_epochs`), no weight refit in round 0, 10
gradient steps of lr 0.01 on fc2, fc2's H rebuilt from p (running mean over sequences), and
`fasterprune` adding its dampening to fc1's H *in place* (so it compounds over rounds). Left
out: the half-precision casts (everything here is float64). `torch.pinverse(X)` of the
[features, tokens] input with full row rank is X^T (X X^T)^-1, computed that way here.

Prints the pruned weights (PyTorch's [out, in]) and the pair's relative output error
||Y_hat - Y||^2 / ||Y||^2 after each round, for `crates/tempering-prune/tests/sparsellm_golden.rs`.
Run: python3 sparsellm.py (from this directory: it imports sparsegpt.py's fasterprune).
"""
from sparsegpt import fasterprune

D, F, OUT, SEQUENCES, TOKENS = 4, 8, 4, 2, 6
N = SEQUENCES * TOKENS
ALPHA = BETA = GAMMA = 0.1
EPOCHS, W_EPOCHS, LR, PERCDAMP, SPARSITY = 4, 10, 0.01, 0.01, 0.5


def x_rows():
    """The fc1 inputs, [tokens, D], sequence after sequence (exact in float32)."""
    return [[((t * 5 + i * 3 + (t * i) % 7) % 11 - 5) / 4 + i / 64 for i in range(D)]
            for t in range(N)]


def w1():
    """fc1 weight, [F, D]."""
    return [[((o * 7 + i * 5) % 13 - 6) / 8 + o / 256 + i / 1024 for i in range(D)]
            for o in range(F)]


def b1():
    return [((o * 3) % 5 - 2) / 16 for o in range(F)]


def w2():
    """fc2 weight, [OUT, F]."""
    return [[((o * 5 + i * 3) % 11 - 5) / 8 + o / 128 + i / 512 for i in range(F)]
            for o in range(OUT)]


def b2():
    return [(o % 3 - 1) / 8 for o in range(OUT)]


def matmul(a, b):
    return [[sum(a[r][k] * b[k][c] for k in range(len(b))) for c in range(len(b[0]))]
            for r in range(len(a))]


def transpose(a):
    return [list(col) for col in zip(*a)]


def inverse(a):
    """Gauss-Jordan with partial pivoting."""
    n = len(a)
    m = [row[:] + [float(i == j) for j in range(n)] for i, row in enumerate(a)]
    for c in range(n):
        pivot = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[pivot] = m[pivot], m[c]
        scale = m[c][c]
        m[c] = [v / scale for v in m[c]]
        for r in range(n):
            if r != c and m[r][c] != 0.0:
                factor = m[r][c]
                m[r] = [v - factor * u for v, u in zip(m[r], m[c])]
    return [row[n:] for row in m]


def add_bias(a, bias):
    return [[v + bias[r] for v in row] for r, row in enumerate(a)]


def relu(a):
    return [[max(v, 0.0) for v in row] for row in a]


def hessian_of(columns_by_token, width):
    """SparseGPT_OPT.add_batch over the sequences (tmp = 1 each): a [width, width] H."""
    h = [[0.0] * width for _ in range(width)]
    n = 0
    for s in range(SEQUENCES):
        rows = columns_by_token[s * TOKENS:(s + 1) * TOKENS]
        h, n = add_batch_width(h, n, rows, width)
    return h


def add_batch_width(h, nsamples, inp, width):
    """SparseGPT's add_batch for one sequence `inp` [tokens, width]."""
    scale = nsamples / (nsamples + 1)
    nsamples += 1
    s = (2 / nsamples) ** 0.5
    h = [[v * scale for v in row] for row in h]
    for a in range(width):
        for b in range(width):
            h[a][b] += sum((s * row[a]) * (s * row[b]) for row in inp)
    return h, nsamples


def fasterprune_in_place(w, h, sparsity):
    """SparseGPT_OPT.fasterprune: `H = self.H` is modified in place (dead inputs set to 1, the
    dampening added) before the Cholesky steps, so `h` keeps both afterwards."""
    columns = len(h)
    w = [row[:] for row in w]
    for i in range(columns):
        if h[i][i] == 0:
            h[i][i] = 1.0
            for row in w:
                row[i] = 0.0
    damp = PERCDAMP * sum(h[i][i] for i in range(columns)) / columns
    for i in range(columns):
        h[i][i] += damp
    return fasterprune(w, h, sparsity, percdamp=0.0)


def output_error(weight1, weight2, x, y):
    y_hat = add_bias(matmul(weight2, relu(add_bias(matmul(weight1, x), b1()))), b2())
    num = sum((a - b) ** 2 for ra, rb in zip(y_hat, y) for a, b in zip(ra, rb))
    return num / sum(v * v for row in y for v in row)


def sparsellm():
    x = transpose(x_rows())                       # [D, N]
    weight1, weight2 = w1(), w2()
    z = add_bias(matmul(weight1, x), b1())        # fc1 output, [F, N]
    p = relu(z)                                   # fc2 input
    y = add_bias(matmul(weight2, p), b2())        # fc2 output, [OUT, N]
    h1 = hessian_of(x_rows(), D)
    h2 = hessian_of(transpose(p), F)
    xinv = matmul(transpose(x), inverse(matmul(x, transpose(x))))  # [N, D]
    errors = []
    for step in range(EPOCHS):
        if step > 0:
            weight1 = matmul([[v - b1()[r] for v in row] for r, row in enumerate(z)], xinv)
            for _ in range(W_EPOCHS):
                y_pred = add_bias(matmul(weight2, p), b2())
                diff = [[a - b for a, b in zip(ra, rb)] for ra, rb in zip(y_pred, y)]
                grad = matmul(diff, transpose(p))
                scale = 2 / (OUT * N)
                weight2 = [[w - LR * scale * g for w, g in zip(rw, rg)]
                           for rw, rg in zip(weight2, grad)]
            h2 = hessian_of(transpose(p), F)
        weight1 = fasterprune_in_place(weight1, h1, SPARSITY)
        weight2 = fasterprune_in_place(weight2, h2, SPARSITY)
        errors.append(output_error(weight1, weight2, x, y))
        # p = (beta W2^T W2 + gamma I)^-1 (beta W2^T (Y - b2) + gamma relu(z))
        m1 = matmul(transpose(weight2), weight2)
        av = inverse([[BETA * v + (GAMMA if r == c else 0.0) for c, v in enumerate(row)]
                      for r, row in enumerate(m1)])
        y_minus = [[v - b2()[r] for v in row] for r, row in enumerate(y)]
        m3 = matmul(transpose(weight2), y_minus)
        af = [[BETA * a + GAMMA * b for a, b in zip(ra, rb)] for ra, rb in zip(m3, relu(z))]
        p = matmul(av, af)
        # z: the two ReLU branches, the first kept on ties.
        m = add_bias(matmul(weight1, x), b1())
        new_z = []
        for rp, rm in zip(p, m):
            row = []
            for pv, mv in zip(rp, rm):
                sol1 = (GAMMA * pv + ALPHA * mv) / (GAMMA + ALPHA)
                z1 = sol1 if sol1 >= 0 else 0.0
                z2 = mv if mv <= 0 else 0.0
                f1 = GAMMA * (pv - max(z1, 0.0)) ** 2 + ALPHA * (z1 - mv) ** 2
                f2 = GAMMA * (pv - max(z2, 0.0)) ** 2 + ALPHA * (z2 - mv) ** 2
                row.append(z1 if f1 <= f2 else z2)
            new_z.append(row)
        z = new_z
    return weight1, weight2, errors


def show(name, w):
    print(f"// {name}")
    for row in w:
        print("    [" + ", ".join(repr(v) for v in row) + "],")


if __name__ == "__main__":
    weight1, weight2, errors = sparsellm()
    show("fc1 (expand), [F, D]", weight1)
    show("fc2 (contract), [OUT, F]", weight2)
    print("// relative output error after each round")
    print("    " + ", ".join(repr(e) for e in errors))

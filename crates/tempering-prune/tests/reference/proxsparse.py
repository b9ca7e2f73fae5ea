"""ProxSparse's proximal operator and mask, pure Python, float64 (no numpy needed).

A transcription of `prox_op` (with `process_weights`, `solve_prox_sorted_alternating_top3`,
`solve_prox_sorted_alternating`, `reg`, `obj`, `reorder_to_original`) from the official code,
amazon-science/ProxSparse @4a558bc, file `end-to-end/prox_op.py`, and of the 2:4 mask of
`end-to-end/mask_op.py` (`explicit_sparsify_magnitude_row`: the two largest |w| of each group of
4), written independently of the Rust implementation (Liu et al., "ProxSparse: Regularized
Learning of Semi-Structured Sparsity Masks for Pretrained LLMs", ICML 2025). Conventions of that
code: W [out, in] viewed as (-1, 4), so a group is 4 consecutive inputs of one output; the two
descents sweep every group together and stop when the whole matrix moves less than 1e-8 in a
sweep (at most 100 sweeps); torch.min picks the first candidate on ties (2-sparse, 3-sparse,
dense). Ties in the descending sort are kept in index order here (torch.sort is not stable;
the cases below have none).

Prints the results `crates/tempering-prune/tests/proxsparse_golden.rs` checks.
Run: python3 proxsparse.py
"""

OUT, IN = 3, 8


def weight():
    """W [out, in], exact in float32: a mix of scales so every candidate wins somewhere."""
    return [[((o * 5 + i * 3) % 11 - 5) / 8 + ((o + i) % 3) / 64 for i in range(IN)]
            for o in range(OUT)]


def soft(x, tau):
    return max(x - tau, 0.0)


def solve_top3(z):
    w = [[0.0] * 4 for _ in z]
    for _ in range(100):
        prev = [row[:] for row in w]
        for g, zg in enumerate(z):
            wg = w[g]
            wg[2] = soft(zg[2], LAMBDA * (wg[0] * wg[1]))
            wg[1] = soft(zg[1], LAMBDA * (wg[0] * wg[2]))
            wg[0] = soft(zg[0], LAMBDA * (wg[1] * wg[2]))
        if sum(abs(a - b) for ra, rb in zip(w, prev) for a, b in zip(ra, rb)) < 1e-8:
            break
    return w


def solve_dense(z):
    w = [[0.0] * 4 for _ in z]
    for _ in range(100):
        prev = [row[:] for row in w]
        for g, zg in enumerate(z):
            wg = w[g]
            wg[3] = soft(zg[3], LAMBDA * (wg[0] * wg[1] + wg[1] * wg[2] + wg[2] * wg[0]))
            wg[2] = soft(zg[2], LAMBDA * (wg[0] * wg[1] + wg[1] * wg[3] + wg[3] * wg[0]))
            wg[1] = soft(zg[1], LAMBDA * (wg[0] * wg[2] + wg[2] * wg[3] + wg[3] * wg[0]))
            wg[0] = soft(zg[0], LAMBDA * (wg[1] * wg[2] + wg[2] * wg[3] + wg[3] * wg[1]))
        if sum(abs(a - b) for ra, rb in zip(w, prev) for a, b in zip(ra, rb)) < 1e-8:
            break
    return w


def reg(w):
    return (abs(w[0] * w[1] * w[2]) + abs(w[1] * w[2] * w[3]) + abs(w[2] * w[3] * w[0])
            + abs(w[3] * w[0] * w[1]))


def obj(w, z):
    return 0.5 * sum((a - b) ** 2 for a, b in zip(w, z)) + LAMBDA * reg(w)


def prox_op(w):
    flat = [v for row in w for v in row]
    groups = [flat[k:k + 4] for k in range(0, len(flat), 4)]
    orders = [sorted(range(4), key=lambda k: -abs(g[k])) for g in groups]
    z = [[abs(g[k]) for k in order] for g, order in zip(groups, orders)]
    three, four = solve_top3(z), solve_dense(z)
    out = []
    for g, zg, order, w3, w4 in zip(groups, z, orders, three, four):
        w2 = [zg[0], zg[1], 0.0, 0.0]
        candidates = [w2, w3, w4]
        values = [obj(c, zg) for c in candidates]
        best = candidates[values.index(min(values))]
        back = [0.0] * 4
        for rank, k in enumerate(order):
            sign = (g[k] > 0) - (g[k] < 0)
            back[k] = best[rank] * sign
        out.extend(back)
    return [out[o * IN:(o + 1) * IN] for o in range(len(w))]


def mask(w):
    flat = [v for row in w for v in row]
    keep = []
    for k in range(0, len(flat), 4):
        order = sorted(range(4), key=lambda i: -abs(flat[k + i]))
        keep.extend(i in order[:2] for i in range(4))
    return keep


def show(name, w):
    print(f"// {name}")
    for row in w:
        print("    [" + ", ".join(repr(v) for v in row) + "],")


if __name__ == "__main__":
    for LAMBDA in (0.05, 0.5, 4.0):
        show(f"prox_op, lambda {LAMBDA}", prox_op(weight()))
    LAMBDA = 4.0
    w = weight()
    for _ in range(3):
        w = prox_op(w)
    print("// mask of three prox steps at lambda 4 (1 = kept)")
    print("    " + ", ".join(str(int(k)) for k in mask(w)))

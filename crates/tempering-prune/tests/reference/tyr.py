"""Týr-the-Pruner local pruner reference, pure Python, float64 (no numpy needed).

A line-by-line transcription of `LocalPruner.prune` (the dead rows, the dampening, G = H·B)
and `LocalPruner.local_prune_core` from the official code, AMD-AGI/Tyr-the-Pruner @c69d040,
file `src/local_pruner.py` (Li et al., "Týr-the-Pruner: Structural Pruning of LLMs via
Efficient Global Sparsity Distribution Search", NeurIPS 2025), and of the level list of
`Pruner._prune_group` (`src/pruner.py`), written independently of the Rust implementation.
Conventions of that code: B = Wᵀ is [in, out] (Burn's layout); H = Σ_tokens x xᵀ (a plain
sum); torch.linalg.inv is a Gauss-Jordan inverse here; torch.argsort is read as ascending,
ties to the lower group.

Prints the pruned weights, kept groups and losses of the cases that
`crates/tempering-prune/tests/tyr_golden.rs` checks. Run: python3 tyr.py
"""

TOKENS = 24


def x_rows(d_in, dead=None):
    """X [tokens, in], exact in float32 (the Rust test builds the same); input `dead` is 0."""
    return [[0.0 if i == dead else ((t * 7 + i * 3 + (t * i) % 5) % 13 - 6) / 4 + i / 32
             for i in range(d_in)] for t in range(TOKENS)]


def weight(d_in, d_out, zero_row=None):
    """B [in, out], exact in float32; row `zero_row` is all zero (an already-removed group)."""
    return [[0.0 if i == zero_row else ((i * 5 + o * 11) % 9 - 4) / 8 + o / 16
             for o in range(d_out)] for i in range(d_in)]


def matmul(a, b):
    return [[sum(a[i][k] * b[k][j] for k in range(len(b))) for j in range(len(b[0]))]
            for i in range(len(a))]


def inv(a):
    n = len(a)
    m = [row[:] + [1.0 if i == j else 0.0 for j in range(n)] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        piv = m[c][c]
        m[c] = [v / piv for v in m[c]]
        for r in range(n):
            if r != c and m[r][c] != 0.0:
                f = m[r][c]
                m[r] = [v - f * w for v, w in zip(m[r], m[c])]
    return [row[n:] for row in m]


def sub(a, rows, cols):
    return [[a[r][c] for c in cols] for r in rows]


def prepare(w, x):
    """`LocalPruner.update` then `prune`: H = XᵀX; dead rows of B zeroed; H += 1% mean diag."""
    d_in = len(w)
    h = [[sum(row[a] * row[b] for row in x) for b in range(d_in)] for a in range(d_in)]
    b = [row[:] for row in w]
    for i in range(d_in):
        if h[i][i] == 0:
            b[i] = [0.0] * len(b[i])
    damp = sum(h[i][i] for i in range(d_in)) / d_in * 1e-2
    for i in range(d_in):
        h[i][i] += damp
    g = matmul(h, b)
    return b, h, g


def local_prune_core(W, H, G, num_total_groups, num_groups_to_remain, update_iter):
    cin, cout = len(W), len(W[0])
    group_size = cin // num_total_groups
    H_inv = inv(H)
    W = [row[:] for row in W]
    pruned = [sum(abs(v) for r in range(g * group_size, (g + 1) * group_size) for v in W[r]) <= 1e-12
              for g in range(num_total_groups)]
    already = sum(pruned)
    if already > 0:
        zero_idx = [r for g in range(num_total_groups) if pruned[g]
                    for r in range(g * group_size, (g + 1) * group_size)]
        for r in zero_idx:
            H_inv[r] = [0.0] * cin
            for c in range(cin):
                H_inv[c][r] = 0.0
        W = matmul(H_inv, G)
        if num_total_groups - num_groups_to_remain - already <= 0:
            for r in zero_idx:
                W[r] = [0.0] * cout
            return W, [g for g in range(num_total_groups) if not pruned[g]], 0.0
    remaining = num_total_groups - num_groups_to_remain - sum(pruned)
    if remaining > 0:
        rounds = max(int(min(update_iter, remaining)), 1)
        base, extra = divmod(remaining, rounds)
        per_round = [base + (1 if i < extra else 0) for i in range(rounds)]
        for k in per_round:
            obj_val = []
            for g in range(num_total_groups):
                sl = list(range(g * group_size, (g + 1) * group_size))
                if group_size > 1:
                    if pruned[g]:
                        obj_val.append(0.0)
                        continue
                    hb = inv(sub(H_inv, sl, sl))
                    hw = matmul(hb, [W[r] for r in sl])
                    obj = [[hw[i][j] / 2.0 + G[r][j] for j in range(cout)] for i, r in enumerate(sl)]
                else:
                    den = max((1.0 if pruned[g] else 0.0) + H_inv[g][g], 1e-12)
                    obj = [[(1.0 / den) * (W[g][j] / 2.0) + G[g][j] for j in range(cout)]]
                obj_val.append(sum(W[r][j] * obj[i][j] for i, r in enumerate(sl) for j in range(cout)))
            masked = [v + (1e20 if pruned[g] else 0.0) for g, v in enumerate(obj_val)]
            order = sorted(range(num_total_groups), key=lambda g: (masked[g], g))
            pick = order[:k]
            idx = [r for g in pick for r in range(g * group_size, (g + 1) * group_size)]
            hbi = inv(sub(H_inv, idx, idx))
            col = sub(H_inv, range(cin), idx)
            upd_w = matmul(matmul(col, hbi), [W[r] for r in idx])
            W = [[W[i][j] - upd_w[i][j] for j in range(cout)] for i in range(cin)]
            for r in idx:
                W[r] = [0.0] * cout
            upd_h = matmul(matmul(col, hbi), [H_inv[r] for r in idx])
            H_inv = [[H_inv[i][j] - upd_h[i][j] for j in range(cin)] for i in range(cin)]
            for r in idx:
                H_inv[r] = [0.0] * cin
                for c in range(cin):
                    H_inv[c][r] = 0.0
            for g in pick:
                pruned[g] = True
    kept = [g for g in range(num_total_groups) if not pruned[g]]
    rows = [r for g in kept for r in range(g * group_size, (g + 1) * group_size)]
    refit = matmul(inv(sub(H, rows, rows)), [G[r] for r in rows])
    out = [[0.0] * cout for _ in range(cin)]
    for i, r in enumerate(rows):
        out[r] = refit[i]
    hw = matmul(H, out)
    loss = sum(-out[i][j] * G[i][j] + 0.5 * out[i][j] * hw[i][j] for i in range(cin) for j in range(cout))
    return out, kept, loss


def levels(center, diff, numel, num_levels):
    """`_prune_group`'s sparsity list and its lowest level."""
    lo = min(int(center // (diff / numel)), num_levels // 2)
    hi = min(int((1 - center) // (diff / numel)), num_levels // 2)
    return -lo, [center + l * diff / numel for l in range(-lo, hi + 1)]


# (name, d_in, d_out, groups, keep, update_iter, dead input, zero row)
CASES = [
    ("heads", 8, 5, 4, 2, 1, None, None),
    ("channels", 12, 5, 12, 5, 16, 7, None),
    ("channels_zero_row", 12, 5, 12, 6, 3, None, 2),
]

if __name__ == "__main__":
    for name, d_in, d_out, groups, keep, it, dead, zero in CASES:
        b, h, g = prepare(weight(d_in, d_out, zero), x_rows(d_in, dead))
        out, kept, loss = local_prune_core(b, h, g, groups, keep, it)
        print(f"{name}: kept {kept} loss {loss!r}")
        print("  weight", [v for row in out for v in row])
    for center, diff, numel in [(0.25, 4096, 16384), (0.5, 8192, 65536), (0.375, 4096, 65536),
                                (0.3, 1000, 7000)]:
        print("levels", center, diff, numel, levels(center, diff, numel, 9))

"""M-FAC pruning reference, pure Python, float64 (no numpy or torch needed).

Frantar, Kurtic & Alistarh, "M-FAC: Efficient Matrix-Free Approximations of Second-Order
Information" (NeurIPS 2021). Official code: IST-DASLab/M-FAC @8116367.

`static_inverse` transcribes `HInvFastBatch` of `prun.py` for one block (the official class
handles many blocks at once; each is independent): from the gradients g_0 .. g_(m-1) of the
block, Hg_0 = lambda g_0, Hg_i = lambda g_i - sum_(j<i) (Hg_j . g_i / denom_j) Hg_j,
denom_i = m + g_i . Hg_i, with lambda = 1/damp. Then F^(-1) x = lambda x - sum_i
(Hg_i . x / denom_i) Hg_i and diag(F^(-1)) = lambda - sum_i Hg_i^2 / denom_i, for
F = damp I + (1/m) sum_i g_i g_i^T. `HInvFastBlock` cuts the weight vector into consecutive
blocks of `blocksize` coordinates, the last one shorter.

`prune` transcribes `MFACPruner.prune` of `main_prun.py` once the gradients are collected:
only the weights the mask keeps take part (w1 = w[mask], gradients restricted the same way);
ndrop = int(numel * (sparsity - current sparsity)); each weight scores w^2 / (2 diag); the
ndrop lowest are dropped (ties to the lower index, a stable sort; the official argsort does not
promise an order among ties, and the data here has none); the rest move by
F^(-1) t with t_q = -w_q / diag_q on the dropped coordinates and 0 elsewhere; dropped weights
are then set to 0. The official loop fills only ngrads - 1 rows of the gradient matrix (it
breaks when (i + 1) % ngrads == 0 before storing batch i), so its last row stays zero while
m = ngrads; the gradients here follow that: three real rows and a zero row, m = 4.

Weights: 10, three already pruned (mask false); block size 4 over the 7 kept coordinates
(blocks of 4 and 3); damp 1e-2; target sparsity 0.75 (ndrop = int(10 * (0.75 - 0.3)) = 4).
M-FAC drops the weight 0.5 where magnitude would drop -0.4 (its diagonal of F^(-1) is larger).
Prints what `crates/tempering-prune/tests/mfac_golden.rs` checks.
Run: python3 mfac_prune.py
"""

import math

W = [0.5, -0.05, 0.0, 0.3, -0.6, 0.02, 0.0, 0.45, -0.4, 0.0]
MASK = [w != 0.0 for w in W]
GRADS = [[math.sin(0.7 * (3 * i + k) + 0.3) * (1 + 0.1 * k) for k in range(10)] for i in range(3)]
GRADS.append([0.0] * 10)
DAMP, BLOCK, SPARSITY = 1e-2, 4, 0.75


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def static_inverse(grads, damp):
    m = len(grads)
    lam = 1.0 / damp
    hg, denom = [], []
    for i, g in enumerate(grads):
        h = [lam * v for v in g]
        for j in range(i):
            c = dot(hg[j], g) / denom[j]
            h = [a - c * b for a, b in zip(h, hg[j])]
        hg.append(h)
        denom.append(m + dot(g, h))
    return lam, hg, denom


def mul(inv, x):
    lam, hg, denom = inv
    res = [lam * v for v in x]
    for h, dn in zip(hg, denom):
        c = dot(h, x) / dn
        res = [a - c * b for a, b in zip(res, h)]
    return res


def diag(inv):
    lam, hg, denom = inv
    d = len(hg[0])
    return [lam - sum(h[k] ** 2 / dn for h, dn in zip(hg, denom)) for k in range(d)]


def prune():
    kept = [k for k in range(len(W)) if MASK[k]]
    w1 = [W[k] for k in kept]
    grads = [[g[k] for k in kept] for g in GRADS]
    ndrop = int(len(W) * (SPARSITY - sum(not m for m in MASK) / len(W)))
    blocks = [(s, min(s + BLOCK, len(w1))) for s in range(0, len(w1), BLOCK)]
    invs = [static_inverse([g[s:e] for g in grads], DAMP) for s, e in blocks]
    dg = []
    for inv in invs:
        dg += diag(inv)
    scores = [w * w / (2 * d) for w, d in zip(w1, dg)]
    drop = sorted(range(len(w1)), key=lambda i: (scores[i], i))[:ndrop]
    t = [0.0] * len(w1)
    for q in drop:
        t[q] = -w1[q] / dg[q]
    delta = []
    for (s, e), inv in zip(blocks, invs):
        delta += mul(inv, t[s:e])
    w1 = [a + b for a, b in zip(w1, delta)]
    for q in drop:
        w1[q] = 0.0
    out = list(W)
    mask = list(MASK)
    for i, k in enumerate(kept):
        out[k] = w1[i]
        if i in drop:
            mask[k] = False
    return dg, scores, out, mask


def main():
    dg, scores, out, mask = prune()
    print("diag  [" + ", ".join("%.10e" % v for v in dg) + "]")
    print("score [" + ", ".join("%.10e" % v for v in scores) + "]")
    print("w     [" + ", ".join("%.10f" % v for v in out) + "]")
    print("keep  [" + ", ".join("true" if m else "false" for m in mask) + "]")


if __name__ == "__main__":
    main()

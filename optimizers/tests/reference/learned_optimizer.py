"""Reference trajectory of the learned optimizer (AdafacMLPLOpt / muLO), pure Python, float64.

Written from the update rules of google/learned_optimization `adafac_mlp_lopt.py` and
`common.py`, independently of the Rust
implementation. Prints the parameters after each of 3 steps for the cases that
`optimizers/tests/learned_trajectories.rs` checks. Run: python3 learned_optimizer.py
"""
import math

TIMESCALES = [1, 3, 10, 30, 100, 300, 1e3, 3e3, 1e4, 3e4, 1e5]
INITIAL_DECAYS = [0.9, 0.99, 0.999, 0.999, 0.9, 0.99, 0.999]
LAYERS = [(39, 32), (32, 32), (32, 2)]


def test_weights():
    """Deterministic meta-parameters shared with the Rust test."""
    ws, bs = [], []
    for l, (fi, fo) in enumerate(LAYERS):
        ws.append([[0.4 * math.sin(1.7 * (i * fo + o) + l) / math.sqrt(fi) for o in range(fo)]
                   for i in range(fi)])
        bs.append([0.05 * math.cos(o + l) for o in range(fo)])
    theta = [0.02 * (k - 3) for k in range(7)]
    return ws, bs, theta


def decays(theta):
    return [min(max(1 - (1 - b0) * math.exp(10 * t), 0.0), 1.0)
            for b0, t in zip(INITIAL_DECAYS, theta)]


def factored_dims(shape):
    if len(shape) < 2:
        return None
    order = sorted(range(len(shape)), key=lambda a: shape[a])  # stable
    return order[-1], order[-2]  # d0 (largest, ties: later axis), d1


def safe_rsqrt(x):
    return 1 / math.sqrt(max(x, 1e-9))


def mlp(ws, bs, x):
    h = x
    for l in range(3):
        fi, fo = LAYERS[l]
        out = [bs[l][o] + sum(h[i] * ws[l][i][o] for i in range(fi)) for o in range(fo)]
        h = [max(v, 0.0) for v in out] if l < 2 else out
    return h


def run(shape, p, grads, step_mult, exp_mult, lr):
    """2-D shapes (rows, cols) or 1-D; p flat row-major; returns p after each step."""
    ws, bs, theta = test_weights()
    beta = decays(theta)
    n = len(p)
    m = [[0.0] * n for _ in range(3)]
    v = [0.0] * n
    fd = factored_dims(shape)
    if fd:
        d0, d1 = fd
        rows = [[0.0] * shape[d1] for _ in range(3)]  # mean over d0: indexed by the d1 coordinate
        cols = [[0.0] * shape[d0] for _ in range(3)]  # mean over d1: indexed by the d0 coordinate
    else:
        full = [[0.0] * n for _ in range(3)]
    out = []
    for t, g in enumerate(grads):
        for k in range(3):
            m[k] = [beta[k] * a + (1 - beta[k]) * gi for a, gi in zip(m[k], g)]
        v = [beta[3] * a + (1 - beta[3]) * gi * gi for a, gi in zip(v, g)]
        sq = [gi * gi + 1e-30 for gi in g]
        feats = []
        if fd:
            coord = lambda i: (i // shape[1], i % shape[1])  # (axis 0, axis 1)
            for k in range(3):
                b = beta[4 + k]
                mean_d0 = [0.0] * shape[d1]
                mean_d1 = [0.0] * shape[d0]
                for i in range(n):
                    c = coord(i)
                    mean_d0[c[d1]] += sq[i] / shape[d0]
                    mean_d1[c[d0]] += sq[i] / shape[d1]
                rows[k] = [b * a + (1 - b) * s for a, s in zip(rows[k], mean_d0)]
                cols[k] = [b * a + (1 - b) * s for a, s in zip(cols[k], mean_d1)]
        else:
            for k in range(3):
                b = beta[4 + k]
                full[k] = [b * a + (1 - b) * s for a, s in zip(full[k], sq)]
        for i in range(n):
            r = 1 / math.sqrt(v[i] + 1e-6)
            f = [g[i], p[i], m[0][i], m[1][i], m[2][i], v[i],
                 m[0][i] * r, m[1][i] * r, m[2][i] * r, r]
            fac_g, row_f, col_f, rrow, rcol, mom = [], [], [], [], [], []
            for k in range(3):
                if fd:
                    c = coord(i)
                    row, col = rows[k][c[d1]], cols[k][c[d0]]
                    row_mean = sum(rows[k]) / len(rows[k])
                    scale = safe_rsqrt(row / (row_mean + 1e-9)) * safe_rsqrt(col)
                    fac_g.append(g[i] * scale)
                    row_f.append(row)
                    col_f.append(col)
                    rrow.append(1 / math.sqrt(row + 1e-8))
                    rcol.append(1 / math.sqrt(col + 1e-8))
                    mom.append(m[k][i] * scale)
                else:
                    vf = full[k][i]
                    fac_g.append(g[i] * safe_rsqrt(vf + 1e-9))
                    row_f.append(vf)
                    col_f.append(vf)
                    rrow.append(1 / math.sqrt(vf + 1e-8))
                    rcol.append(1 / math.sqrt(vf + 1e-8))
                    mom.append(m[k][i] * (vf + 1e-6) ** -0.5)
            feats.append(f + fac_g + row_f + col_f + rrow + rcol + mom)
        norms = [1 / math.sqrt(1e-5 + sum(x[j] ** 2 for x in feats) / n) for j in range(28)]
        steps = [math.tanh(t / tau - 1) for tau in TIMESCALES]
        new_p = []
        for i in range(n):
            x = [feats[i][j] * norms[j] for j in range(28)] + steps
            d, mag = mlp(ws, bs, x)
            new_p.append(p[i] - lr * d * math.exp(exp_mult * mag) * step_mult)
        p = new_p
        out.append(p)
    return out


def grads_for(n, steps=3):
    return [[math.cos(0.9 * i + 1.3 * t) * (1 + 0.5 * t) for i in range(n)] for t in range(steps)]


CASES = {
    # name: (shape, initial p)
    "matrix_3x4": ([3, 4], [0.1 * (i - 5.5) for i in range(12)]),
    "matrix_4x2": ([4, 2], [0.2 * math.sin(i) for i in range(8)]),
    "vector_5": ([5], [0.3 - 0.1 * i for i in range(5)]),
}

if __name__ == "__main__":
    for name, (shape, p0) in CASES.items():
        traj = run(shape, p0, grads_for(len(p0)), step_mult=1.0, exp_mult=0.5, lr=1.0)
        print(name)
        for p in traj:
            print("    [" + ", ".join(f"{x:.9f}" for x in p) + "],")

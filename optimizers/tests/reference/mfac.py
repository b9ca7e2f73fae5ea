"""M-FAC optimizer references, pure Python, float64 (no numpy or torch needed).

Frantar, Kurtic & Alistarh, "M-FAC: Efficient Matrix-Free Approximations of Second-Order
Information" (NeurIPS 2021). Official code: IST-DASLab/M-FAC @8116367, `optim.py`.

`DynamicInverse` transcribes `HInvFastUpMulti` line by line (its CPU path, without the CUDA
kernels and without splitting the gradients across GPUs, which changes no number): a ring buffer
of the last m gradients G, their Gram matrix G G^T updated one row and column per step, and the
coefficients recomputed from it (`setup`): the unpivoted LU of lambda G G^T + m I with
lambda = 1/damp, D = triu(U) - m I on the diagonal, denom = m + diag(D), and the lower triangular
B by the row recursion B[i, :i] = T[i, :i] B[:i, :i] over rows max(last, 1) .. m - 1, where
T = -D^T / denom (columnwise). `mul` forward-substitutes lambda G x through D and returns
lambda x - G^T ((y / denom) B). The product equals (damp I + (1/m) sum_i g_i g_i^T)^(-1) x;
`woodbury_inverse` builds that matrix by m rank-one Woodbury updates (the official `HInvSlow`)
and the script checks the two agree.

`mfac_step` transcribes `MFAC.step`: g <- grad + weight_decay * w; d = update_mul(g) (insert g
at the ring position, then multiply); with momentum v <- beta v + (1 - beta) d, d <- v;
w <- w - lr d. The blocked variant runs one `DynamicInverse` per consecutive block of
`block` coordinates (the last block shorter), the block-diagonal approximation of the paper.

The function: f_t(x) = 1/2 sum_i a_i (x_i - c_(t mod 3),i)^2 with a = [1, 2, 3, 4, 5] and three
targets, so successive gradients differ as minibatch gradients do. From x = [1, -1, 0.5, 2, -0.5],
m = 3, damp 0.1, lr 0.1, momentum 0.5, weight decay 0.01, seven steps (the ring wraps twice);
dense, and in blocks of 2. Prints the iterates `optimizers/tests/mfac_trajectories.rs` checks.
Run: python3 mfac.py
"""

A = [1.0, 2.0, 3.0, 4.0, 5.0]
TARGETS = [
    [0.5, -0.3, 0.2, 1.0, 0.0],
    [-0.2, 0.4, 0.1, 0.8, 0.3],
    [0.1, 0.0, -0.4, 1.2, -0.2],
]
X0 = [1.0, -1.0, 0.5, 2.0, -0.5]
M, DAMP, LR, MOMENTUM, WEIGHT_DECAY, STEPS = 3, 0.1, 0.1, 0.5, 0.01, 7


def grad(x, t):
    c = TARGETS[t % 3]
    return [a * (v - ci) for a, v, ci in zip(A, x, c)]


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


class DynamicInverse:
    """HInvFastUpMulti on one device, CPU path."""

    def __init__(self, m, d, damp):
        self.m, self.d = m, d
        self.lambd = 1.0 / damp
        self.grads = [[0.0] * d for _ in range(m)]
        self.dots = [[0.0] * m for _ in range(m)]
        self.last = 0
        self.coef = [[self.lambd if i == j else 0.0 for j in range(m)] for i in range(m)]
        self.setup()

    def setup(self):
        m = self.m
        # torch.lu(lambd * dots + m I, pivot=False): packed L (unit, strict lower) and U.
        lu = [[self.lambd * self.dots[i][j] + (m if i == j else 0.0) for j in range(m)]
              for i in range(m)]
        for k in range(m):
            for i in range(k + 1, m):
                lu[i][k] /= lu[k][k]
                for j in range(k + 1, m):
                    lu[i][j] -= lu[i][k] * lu[k][j]
        # giHig = triu(LU - m I)
        self.giHig = [[(lu[i][j] - (m if i == j else 0.0)) if j >= i else 0.0
                       for j in range(m)] for i in range(m)]
        self.denom = [m + self.giHig[i][i] for i in range(m)]
        tmp = [[-self.giHig[j][i] / self.denom[j] for j in range(m)] for i in range(m)]
        for i in range(max(self.last, 1), m):
            row = [sum(tmp[i][k] * self.coef[k][j] for k in range(i)) for j in range(i)]
            self.coef[i][:i] = row

    def mul(self, x, dots=None):
        m = self.m
        if dots is None:
            dots = [dot(g, x) for g in self.grads]
        y = [self.lambd * v for v in dots]
        for i in range(1, m):
            f = y[i - 1] / self.denom[i - 1]
            for j in range(i, m):
                y[j] -= self.giHig[i - 1][j] * f
        z = [y[i] / self.denom[i] for i in range(m)]
        c = [sum(z[i] * self.coef[i][j] for i in range(m)) for j in range(m)]
        return [self.lambd * x[k] - sum(c[j] * self.grads[j][k] for j in range(m))
                for k in range(self.d)]

    def update_mul(self, g):
        self.grads[self.last] = list(g)
        tmp = [dot(row, g) for row in self.grads]
        for j in range(self.m):
            self.dots[self.last][j] = tmp[j]
            self.dots[j][self.last] = tmp[j]
        self.setup()
        res = self.mul(g, tmp)
        self.last = (self.last + 1) % self.m
        return res


def woodbury_inverse(grads, damp):
    """HInvSlow: (damp I + (1/m) sum g g^T)^(-1) by m rank-one updates."""
    m, d = len(grads), len(grads[0])
    h = [[(1.0 / damp) if i == j else 0.0 for j in range(d)] for i in range(d)]
    for g in grads:
        hg = [dot(row, g) for row in h]
        s = m + dot(g, hg)
        h = [[h[i][j] - hg[i] * hg[j] / s for j in range(d)] for i in range(d)]
    return h


def run(block):
    d = len(X0)
    bounds = [(s, min(s + block, d)) for s in range(0, d, block)]
    inverses = [DynamicInverse(M, e - s, DAMP) for s, e in bounds]
    x, v = list(X0), [0.0] * d
    out = []
    for t in range(STEPS):
        g = [gi + WEIGHT_DECAY * xi for gi, xi in zip(grad(x, t), x)]
        step = []
        for (s, e), inv in zip(bounds, inverses):
            step += inv.update_mul(g[s:e])
        v = [MOMENTUM * vi + (1 - MOMENTUM) * si for vi, si in zip(v, step)]
        x = [xi - LR * vi for xi, vi in zip(x, v)]
        out.append(x)
    return out, inverses


def check_against_woodbury():
    """The dynamic algorithm's product equals the explicit inverse (after the ring wrapped)."""
    _, (inv,) = run(len(X0))
    h = woodbury_inverse(inv.grads, DAMP)
    x = [0.3, -0.7, 1.1, 0.2, -0.4]
    fast = inv.mul(x)
    slow = [dot(row, x) for row in h]
    err = max(abs(a - b) for a, b in zip(fast, slow))
    assert err < 1e-9, err


def main():
    check_against_woodbury()
    for name, block in [("dense", len(X0)), ("blocks of 2", 2)]:
        print(name)
        for x in run(block)[0]:
            print("    [" + ", ".join("%.10f" % v for v in x) + "],")


if __name__ == "__main__":
    main()

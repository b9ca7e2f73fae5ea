"""OPT-AMSGrad references, pure Python, float64 (no numpy or torch needed).

Wang, Li & Li, "Optimistic Adaptive Acceleration for Optimization" (arXiv:1903.01435; ACML 2021
as "An Optimistic Acceleration of AMSGrad for Nonconvex Optimization"). Two ways to predict the
next gradient, written independently of the Rust implementation:

- `official_step`: a line-by-line transcription of `Optadam_torch.py` in
  Hintonthu/optimistic-amsgrad @07fd55e, the code behind the paper's experiments. It
  extrapolates *iterates*: the history holds the iterates x_i and their offsets
  d_i = x_i - w_half_i (the script's `prev_w` aliases `aux_w`, the half-step iterate, so
  `w_diff` is that offset), solves (D D^T + 1e-3 I) z = 1, z <- z / sum(z), predicts the point
  q = sum z_i x_i, and pays a second gradient evaluation at q on the same batch. Until `span`
  offsets are stored q = 0. The first step's predicted gradient is evaluated at the origin here
  (the script's `cifar10_opt.py` evaluates it at the auxiliary network's own random
  initialisation, which a closure optimizer does not have).
- `paper_step`: the paper's Algorithm (OPTIMISTIC-AMSGRAD) with the gradient predicted by
  RMPE (the paper's extrapolation, Scieur et al. 2016, "Regularized Nonlinear Acceleration",
  Algorithm 1) over the last span + 1 *gradients*, one gradient evaluation per step:
  U = [g_1 - g_0, ..., g_span - g_(span-1)], (U^T U + lambda I) z = 1, c = z / sum(z),
  m = sum_(i < span) c_i g_i. v_t uses the prediction made at the previous step
  (v_t = b2 v + (1 - b2)(g_t - m_t)^2), the update uses the new one
  (h = b1 theta_(t-1) + (1 - b1) m_(t+1)). Until span + 1 gradients are stored, m = 0.
  Step size, bias corrections and eps are the official script's, so the two differ only in
  the prediction.

The function is QUAD_C, f(x) = 1/2 * sum(a_i * (x_i - c_i)^2) with a = [1, 10],
c = [0.5, -0.3], from x = [1, 1], lr 0.1, betas (0.9, 0.999), eps 1e-8, span 2, lambda 1e-3.
Prints the iterates that `optimizers/tests/multi_pass_trajectories.rs` checks.
Run: python3 opt_amsgrad.py
"""

import math

A = [1.0, 10.0]
C = [0.5, -0.3]
LR, B1, B2, EPS, SPAN, LAMBDA = 0.1, 0.9, 0.999, 1e-8, 2, 1e-3


def grad(x):
    return [a * (v - c) for a, v, c in zip(A, x, C)]


def dot(u, v):
    return sum(a * b for a, b in zip(u, v))


def solve(matrix, rhs):
    """Gaussian elimination with partial pivoting (the script calls torch.solve)."""
    n = len(rhs)
    m = [row[:] + [r] for row, r in zip(matrix, rhs)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for row in range(col + 1, n):
            f = m[row][col] / m[col][col]
            for k in range(col, n + 1):
                m[row][k] -= f * m[col][k]
    z = [0.0] * n
    for row in reversed(range(n)):
        z[row] = (m[row][n] - sum(m[row][k] * z[k] for k in range(row + 1, n))) / m[row][row]
    return z


def normalized_weights(vectors):
    """z solving (G + lambda I) z = 1 for the Gram matrix G of `vectors`, scaled to sum 1."""
    n = len(vectors)
    gram = [[dot(vectors[i], vectors[j]) + (LAMBDA if i == j else 0.0) for j in range(n)]
            for i in range(n)]
    z = solve(gram, [1.0] * n)
    total = sum(z)
    return [v / total for v in z]


def combine(weights, vectors):
    return [sum(w * v[k] for w, v in zip(weights, vectors)) for k in range(len(vectors[0]))]


def adam_moments(state, g, pg_now, pg_next):
    """The shared update: theta, v (of the prediction error), vmax, half step and iterate."""
    theta_old = state["theta"]
    h = [B1 * t + (1 - B1) * p for t, p in zip(theta_old, pg_next)]
    state["theta"] = [B1 * t + (1 - B1) * gi for t, gi in zip(theta_old, g)]
    state["v"] = [B2 * v + (1 - B2) * (p - gi) ** 2 for v, p, gi in zip(state["v"], pg_now, g)]
    state["vmax"] = [max(a, b) for a, b in zip(state["vmax"], state["v"])]
    state["step"] += 1
    t = state["step"]
    step_size = LR * math.sqrt(1 - B2 ** t) / (1 - B1 ** t)
    denom = [math.sqrt(v) + EPS for v in state["vmax"]]
    state["w_half"] = [w - step_size * th / d
                       for w, th, d in zip(state["w_half"], state["theta"], denom)]
    return [w - step_size * hi / d for w, hi, d in zip(state["w_half"], h, denom)]


def official_step(x, state):
    g = grad(x)
    pg = grad(state["q"])  # second evaluation, at the predicted point
    s = state["step"]
    offset = [a - b for a, b in zip(x, state["w_half"])]
    if s >= 1:
        state["offsets"] = (state["offsets"] + [offset])[-SPAN:]
    state["iterates"] = (state["iterates"] + [list(x)])[-SPAN:]
    q_next = [0.0] * len(x)
    if s >= SPAN:
        q_next = combine(normalized_weights(state["offsets"]), state["iterates"])
    x_next = adam_moments(state, g, pg, pg)
    state["q"] = q_next
    return x_next


def paper_step(x, state):
    g = grad(x)
    state["gradients"] = (state["gradients"] + [g])[-(SPAN + 1):]
    m_next = [0.0] * len(x)
    history = state["gradients"]
    if len(history) == SPAN + 1:
        differences = [[b - a for a, b in zip(history[i], history[i + 1])] for i in range(SPAN)]
        m_next = combine(normalized_weights(differences), history[:SPAN])
    x_next = adam_moments(state, g, state["m"], m_next)
    state["m"] = m_next
    return x_next


def fresh(x):
    zeros = [0.0] * len(x)
    return {"step": 0, "theta": zeros, "v": zeros, "vmax": zeros, "w_half": list(x),
            "q": zeros, "iterates": [], "offsets": [], "gradients": [], "m": zeros}


def main():
    for name, step in (("official (iterates)", official_step), ("paper (gradients)", paper_step)):
        x, state = [1.0, 1.0], fresh([1.0, 1.0])
        print(name)
        for t in range(1, 6):
            x = step(x, state)
            print(f"  x{t} = [{x[0]:.10f}, {x[1]:.10f}]")
            if name.startswith("paper"):
                print(f"     m{t + 1} = [{state['m'][0]:.10f}, {state['m'][1]:.10f}]")
            else:
                print(f"     q{t + 1} = [{state['q'][0]:.10f}, {state['q'][1]:.10f}]")


if __name__ == "__main__":
    main()

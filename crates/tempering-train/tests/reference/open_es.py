"""OpenAI-ES references, pure Python, float64 (no numpy or jax needed).

Salimans, Ho, Chen, Sidor & Sutskever, "Evolution Strategies as a Scalable Alternative to
Reinforcement Learning" (2017), as evosax runs it: RobertTLange/evosax, `strategies/open_es.py`
@ac9f061 (ask: z = [z_plus; -z_plus], x = mean + sigma z; tell: grad = z^T f / (popsize sigma),
then the optimizer's step and update, then sigma <- max(sigma * sigma_decay, sigma_limit)) and
`utils/optimizer.py` @0bce997 (Adam: m <- (1 - b1) g + b1 m, v <- (1 - b2) g^2 + b2 v,
mean <- mean - lrate (m / (1 - b1^(t+1))) / (sqrt(v / (1 - b2^(t+1))) + eps), t the generation
counter from 0; then lrate <- max(lrate * lrate_decay, lrate_limit)); defaults sigma_init 0.04,
sigma_decay 0.999, sigma_limit 0.01, lrate_init 0.01, lrate_decay 0.999, lrate_limit 0.001,
b1 0.99, b2 0.999, eps 1e-8. Fitness shaping: raw, or evosax's centered ranks
(`FitnessShaper`: argsort(argsort(f)) / (popsize - 1) - 0.5).

The problem: loss(x) = sum_j a_j (x_j - t_j)^2 with a = [1, 2, 3, 4], t = [0.5, -0.3, 0.2, 1.0],
from mean 0, 3 antithetic pairs (popsize 6) whose draws in generation g are
z[k][j] = sin(1 + 0.7 k + 1.3 j + 2.1 g), learning rate 0.05 (decay and floor as above), five
generations, raw and centered-rank shaping. Prints the means
`crates/tempering-train/tests/open_es_golden.rs` checks.
Run: python3 open_es.py
"""

import math

A = [1.0, 2.0, 3.0, 4.0]
T = [0.5, -0.3, 0.2, 1.0]
PAIRS = 3
GENERATIONS = 5


def loss(x):
    return sum(a * (xi - ti) ** 2 for a, xi, ti in zip(A, x, T))


def noise(g):
    return [[math.sin(1 + 0.7 * k + 1.3 * j + 2.1 * g) for j in range(len(A))] for k in range(PAIRS)]


def centered_ranks(f):
    order = sorted(range(len(f)), key=lambda i: f[i])
    ranks = [0] * len(f)
    for r, i in enumerate(order):
        ranks[i] = r
    return [r / (len(f) - 1) - 0.5 for r in ranks]


def run(shaping, lr=0.05):
    d = len(A)
    mean = [0.0] * d
    sigma, lrate = 0.04, lr
    m, v = [0.0] * d, [0.0] * d
    b1, b2, eps = 0.99, 0.999, 1e-8
    means = []
    for g in range(GENERATIONS):
        z_plus = noise(g)
        z = z_plus + [[-e for e in row] for row in z_plus]
        x = [[mu + sigma * e for mu, e in zip(mean, row)] for row in z]
        f = [loss(xi) for xi in x]
        if shaping == "ranks":
            f = centered_ranks(f)
        n = len(z)
        grad = [sum(z[i][j] * f[i] for i in range(n)) / (n * sigma) for j in range(d)]
        for j in range(d):
            m[j] = (1 - b1) * grad[j] + b1 * m[j]
            v[j] = (1 - b2) * grad[j] ** 2 + b2 * v[j]
            mhat = m[j] / (1 - b1 ** (g + 1))
            vhat = v[j] / (1 - b2 ** (g + 1))
            mean[j] -= lrate * mhat / (math.sqrt(vhat) + eps)
        lrate = max(lrate * 0.999, 0.001)
        sigma = max(sigma * 0.999, 0.01)
        means.append(list(mean))
    return means


for shaping in ("raw", "ranks"):
    print(shaping)
    for g, mean in enumerate(run(shaping)):
        print("  [" + ", ".join(f"{v:.9f}" for v in mean) + "],")

"""GAM reference, pure Python, float64 (no numpy or torch needed).

A line-by-line transcription of `GAM.step` in xxgege/GAM @694133d, `gam/gam.py`
(`perturb_weights`, `grad_norm_ascent`, `unperturb`, `gradient_decompose`), written
independently of the Rust implementation (Zhang, Xu, Wang, Zhang & Cui, "Gradient Norm Aware
Minimization Seeks First-Order Flatness and Improves Generalization", CVPR 2023). Constants are
`main_cifar.py`'s CIFAR-100 ResNet defaults: grad_rho 0.02, grad_norm_rho 0.2, grad_beta_0 0.5,
grad_beta_1 0.6, so grad_beta_2 = 1 - 0.5 and grad_beta_3 = 1 - 0.6, grad_gamma 0.03,
perturb_eps 1e-12. The base optimizer is PyTorch's SGD, lr 0.1, momentum 0.9, dampening 0 (the
buffer starts as the first gradient).

The function is QUAD, f(x) = 1/2 * sum(a_i * x_i^2) with a = [1, 10], from x = [1, 1]. Prints
the iterates that `optimizers/tests/multi_pass_trajectories.rs` checks, and step 1's gradients.
Run: python3 gam.py
"""

import math

A = [1.0, 10.0]
RHO, RHO_NORM, BETA_0, BETA_1, GAMMA, EPS = 0.02, 0.2, 0.5, 0.6, 0.03, 1e-12
BETA_2, BETA_3 = 1 - BETA_0, 1 - BETA_1
LR, MOMENTUM = 0.1, 0.9


def grad(x):
    return [a * v for a, v in zip(A, x)]


def norm(v):
    return math.sqrt(sum(c * c for c in v))


def add(x, v, scale=1.0):
    return [a + scale * b for a, b in zip(x, v)]


def gam_gradient(w0):
    """The gradient the base optimizer steps on, and g1, g2, g3."""
    g0 = grad(w0)
    e_w_0 = [c * RHO / (norm(g0) + EPS) for c in g0]  # perturb_weights(0)
    g1 = grad(add(w0, e_w_0))
    d = add(g1, g0, -1.0)  # grad_norm_ascent, from w0 after unperturb
    e_w_1_2 = [c * RHO_NORM / (norm(d) + EPS) for c in d]
    w2 = add(w0, e_w_1_2)
    g2 = grad(w2)
    e_w = [c * RHO / (norm(g2) + EPS) for c in g2]  # perturb_weights(1)
    g3 = grad(add(w2, e_w))
    pro_m = add(g0, g2, abs(BETA_2))  # gradient_decompose
    q = [BETA_1 * a + BETA_3 * b for a, b in zip(g1, g3)]
    inner = sum(a * b for a, b in zip(pro_m, q))
    new_norm, old_norm = norm(q), norm(pro_m)
    cosine = inner / (new_norm * old_norm + EPS)
    vertical = [p - cosine * old_norm * c / (new_norm + EPS) for p, c in zip(pro_m, q)]
    return add(q, vertical, -GAMMA), (g1, g2, g3)


def main():
    x, buffer = [1.0, 1.0], None
    for t in range(1, 4):
        g, (g1, g2, g3) = gam_gradient(x)
        if t == 1:
            for name, v in (("g1", g1), ("g2", g2), ("g3", g3), ("final grad", g)):
                print(f"step 1 {name} = [{v[0]:.10f}, {v[1]:.10f}]")
        buffer = list(g) if buffer is None else [MOMENTUM * b + c for b, c in zip(buffer, g)]
        x = add(x, buffer, -LR)
        print(f"x{t} = [{x[0]:.10f}, {x[1]:.10f}]")


if __name__ == "__main__":
    main()

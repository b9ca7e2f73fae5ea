"""References for `optimizers/tests/golden_trajectories.rs`, pure Python, float64.

Problem FIXED: x0 = [1, -2, 3]; the gradients ignore x: g1 = [0.5, -0.25, 0],
g2 = [-0.1, 0.5, -2], g3 = [0.3, 0, 1]. Each function below is a line-by-line transcription of
the update of the official implementation it names, written independently of the Rust code,
element by element. Prints x after each step.
Run: python3 adaptive.py
"""

import math

X0 = [1.0, -2.0, 3.0]
GRADS = [[0.5, -0.25, 0.0], [-0.1, 0.5, -2.0], [0.3, 0.0, 1.0]]


def sign(v):
    return (v > 0) - (v < 0)


def amsgrad_torch(lr=0.1, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, decoupled=False, cautious=False):
    """PyTorch `Adam(amsgrad=True)` / `AdamW(amsgrad=True)` (`torch/optim/adam.py`,
    `_single_tensor_adam`): the running max over the raw second moment, then
    denom = sqrt(vmax) / sqrt(bc2) + eps and step lr / bc1. With `cautious`, the mask of
    kyleliang919/C-Optim `c_adamw.py` (m * g > 0, divided by max(mean(mask), 1e-3)) multiplies
    m in the numerator. (`c_adamw.py`'s own update has no AMSGrad and adds eps before the bias
    correction; the C-AdamW + AMSGrad test composes its mask with this update, as tempering's
    `Cautious` over `AmsGrad` does.)"""
    x, m, v, vmax = list(X0), [0.0] * 3, [0.0] * 3, [0.0] * 3
    out = []
    for t, g in enumerate(GRADS, start=1):
        if decoupled:
            x = [xi * (1 - lr * wd) for xi in x]
        elif wd:
            g = [gi + wd * xi for gi, xi in zip(g, x)]
        m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g)]
        v = [b2 * vi + (1 - b2) * gi * gi for vi, gi in zip(v, g)]
        vmax = [max(a, b) for a, b in zip(vmax, v)]
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
        step = lr / bc1
        denom = [math.sqrt(vm) / math.sqrt(bc2) + eps for vm in vmax]
        num = list(m)
        if cautious:
            mask = [1.0 if mi * gi > 0 else 0.0 for mi, gi in zip(m, g)]
            scale = max(sum(mask) / len(mask), 1e-3)
            num = [mi * k / scale for mi, k in zip(m, mask)]
        x = [xi - step * n / d for xi, n, d in zip(x, num, denom)]
        out.append(x)
    return out, vmax


def amsgrad_optax(lr=0.1, b1=0.9, b2=0.999, eps=1e-8):
    """optax `scale_by_amsgrad` then `scale(-lr)`: the max over the bias-corrected moment,
    nu_max = max(nu_max, nu / bc2), update = (mu / bc1) / (sqrt(nu_max) + eps)."""
    x, m, v, vmax = list(X0), [0.0] * 3, [0.0] * 3, [0.0] * 3
    out = []
    for t, g in enumerate(GRADS, start=1):
        m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g)]
        v = [b2 * vi + (1 - b2) * gi * gi for vi, gi in zip(v, g)]
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
        vmax = [max(a, vi / bc2) for a, vi in zip(vmax, v)]
        x = [xi - lr * (mi / bc1) / (math.sqrt(vm) + eps) for xi, mi, vm in zip(x, m, vmax)]
        out.append(x)
    return out


def amsgrad_paper(lr=0.1, b1=0.9, b2=0.999, eps=1e-8):
    """Reddi, Kale & Kumar, ICLR 2018, Algorithm 2 with a constant step: no bias corrections;
    eps added to sqrt(vhat) as in every implementation."""
    x, m, v, vhat = list(X0), [0.0] * 3, [0.0] * 3, [0.0] * 3
    out = []
    for g in GRADS:
        m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g)]
        v = [b2 * vi + (1 - b2) * gi * gi for vi, gi in zip(v, g)]
        vhat = [max(a, b) for a, b in zip(vhat, v)]
        x = [xi - lr * mi / (math.sqrt(vh) + eps) for xi, mi, vh in zip(x, m, vhat)]
        out.append(x)
    return out


def adabound(amsbound, lr=0.01, base_lr=0.01, final_lr=0.1, gamma=0.1, b1=0.9, b2=0.999,
             eps=1e-8):
    """Luolc/AdaBound `adabound.py`, `AdaBound.step`: step size lr * sqrt(bc2) / bc1 divided
    by the denominator, clipped to [lower, upper], times m."""
    x, m, v, vmax = list(X0), [0.0] * 3, [0.0] * 3, [0.0] * 3
    out = []
    for t, g in enumerate(GRADS, start=1):
        m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g)]
        v = [b2 * vi + (1 - b2) * gi * gi for vi, gi in zip(v, g)]
        if amsbound:
            vmax = [max(a, b) for a, b in zip(vmax, v)]
            denom = [math.sqrt(vm) + eps for vm in vmax]
        else:
            denom = [math.sqrt(vi) + eps for vi in v]
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
        step = lr * math.sqrt(bc2) / bc1
        fl = final_lr * lr / base_lr
        lower = fl * (1 - 1 / (gamma * t + 1))
        upper = fl * (1 + 1 / (gamma * t))
        x = [xi - min(max(step / d, lower), upper) * mi for xi, d, mi in zip(x, denom, m)]
        out.append(x)
    return out


def padam(lr=0.1, partial=0.25, b1=0.9, b2=0.999, eps=1e-8):
    """uclaml/Padam `padam.py`, AMSGrad on: x -= lr * sqrt(bc2) / bc1 * m / denom^(2p),
    denom = sqrt(vmax) + eps."""
    x, m, v, vmax = list(X0), [0.0] * 3, [0.0] * 3, [0.0] * 3
    out = []
    for t, g in enumerate(GRADS, start=1):
        m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g)]
        v = [b2 * vi + (1 - b2) * gi * gi for vi, gi in zip(v, g)]
        vmax = [max(a, b) for a, b in zip(vmax, v)]
        denom = [math.sqrt(vm) + eps for vm in vmax]
        step = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        x = [xi - step * mi / d ** (2 * partial) for xi, mi, d in zip(x, m, denom)]
        out.append(x)
    return out


def grams(lr=0.1, wd=0.1, b1=0.9, b2=0.999, eps=1e-6):
    """Gunale0926/Grams `grams/src/grams.py`: decoupled decay first, then the Adam moments and
    x -= lr * sqrt(bc2) / bc1 * sign(g) * |m| / (sqrt(v) + eps)."""
    x, m, v = list(X0), [0.0] * 3, [0.0] * 3
    out = []
    for t, g in enumerate(GRADS, start=1):
        x = [xi * (1 - lr * wd) for xi in x]
        m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g)]
        v = [b2 * vi + (1 - b2) * gi * gi for vi, gi in zip(v, g)]
        step = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        x = [xi - step * sign(gi) * abs(mi) / (math.sqrt(vi) + eps)
             for xi, gi, mi, vi in zip(x, g, m, v)]
        out.append(x)
    return out


def cautious_lion(lr=0.1, wd=0.1, b1=0.9, b2=0.99):
    """kyleliang919/C-Optim `c_lion.py`: decoupled decay; u = sign(b1 * m + (1 - b1) * g);
    mask = (u * g > 0) * n / (sum(mask) + 1); x -= lr * u * mask; m = b2 * m + (1 - b2) * g."""
    x, m = list(X0), [0.0] * 3
    out = []
    for g in GRADS:
        x = [xi * (1 - lr * wd) for xi in x]
        u = [sign(b1 * mi + (1 - b1) * gi) for mi, gi in zip(m, g)]
        mask = [1.0 if ui * gi > 0 else 0.0 for ui, gi in zip(u, g)]
        scale = len(mask) / (sum(mask) + 1)
        x = [xi - lr * ui * k * scale for xi, ui, k in zip(x, u, mask)]
        m = [b2 * mi + (1 - b2) * gi for mi, gi in zip(m, g)]
        out.append(x)
    return out


def show(name, xs, steps=(1, 2, 3)):
    print(name)
    for t in steps:
        x = xs[t - 1]
        print(f"  x{t} = [{x[0]:.10f}, {x[1]:.10f}, {x[2]:.10f}]")


def main():
    torch, vmax = amsgrad_torch()
    show("AMSGrad, PyTorch / Burn convention (lr 0.1)", torch)
    print(f"  vmax3 = [{vmax[0]:.10f}, {vmax[1]:.10f}, {vmax[2]:.10f}]")
    show("AMSGrad, optax convention (lr 0.1)", amsgrad_optax())
    show("AMSGrad, paper convention (lr 0.1)", amsgrad_paper())
    show("AdamW + AMSGrad (lr 0.1, decoupled wd 0.1)",
         amsgrad_torch(wd=0.1, decoupled=True)[0])
    show("AMSBound (lr 0.01, final lr 0.1, gamma 0.1)", adabound(True))
    show("AdaBound (same)", adabound(False))
    show("PAdam (lr 0.1, p 0.25)", padam())
    show("Grams (lr 0.1, wd 0.1, eps 1e-6)", grams())
    show("C-Lion (lr 0.1, betas 0.9 / 0.99, wd 0.1)", cautious_lion())
    show("C-AdamW + AMSGrad (lr 0.1, wd 0.1)",
         amsgrad_torch(wd=0.1, decoupled=True, cautious=True)[0])


if __name__ == "__main__":
    main()

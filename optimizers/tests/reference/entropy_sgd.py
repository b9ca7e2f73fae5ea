"""Entropy-SGD references, pure Python, float64 (no numpy or torch needed), without noise.

Line-by-line transcriptions of the two official implementations in ucla-vision/entropy-sgd
@61329f9 (Chaudhari et al., "Entropy-SGD: Biasing Gradient Descent Into Wide Valleys", ICLR
2017), written independently of the Rust implementation:

- `entropyoptim.lua`, `optim.entropysgd`: the code the paper's experiments ran (the README says
  so). With L > 0 the first gradient only feeds the (then unused) outer momentum buffer and the
  step is x <- x - lr * (x - mu), without momentum or weight decay on that term; inside the
  Langevin loop momentum acts on the raw gradient and weight decay is added after it; the
  scoping exponent is the step count including the current step; `train.lua` passes momentum
  0.9, Nesterov, dampening 0, and the inner step size `lclr` is 0.1.
- `python/optim.py`, `EntropySGD.step`: the later port. The outer gradient x - mu goes through
  weight decay and the Nesterov momentum buffer (seeded with the first step's gradient), the
  scoping counter `t` is never incremented, and weight decay is added before the inner
  momentum.

The function is QUAD, f(x) = 1/2 * sum(a_i * x_i^2) with a = [1, 10], from x = [1, 1]. Prints
the iterates that `optimizers/tests/multi_pass_trajectories.rs` checks.
Run: python3 entropy_sgd.py
"""

A = [1.0, 10.0]


def grad(x):
    return [a * v for a, v in zip(A, x)]


def axpy(alpha, x, y):
    """y + alpha * x"""
    return [yi + alpha * xi for xi, yi in zip(x, y)]


def scale(alpha, x):
    return [alpha * v for v in x]


def lua_step(x, state, c):
    """`optim.entropysgd` with noise 0 (eta is drawn but multiplied by 0)."""
    lr, wd, mom, damp, nesterov = c["lr"], c["wd"], c["mom"], c["damp"], c["nesterov"]
    xc = list(x)
    dfdx = grad(x)
    state["t"] = state.get("t", 0) + 1
    if wd != 0:
        dfdx = axpy(wd, x, dfdx)
    if mom != 0:
        if state.get("dfdx") is None:
            state["dfdx"] = list(dfdx)
        else:
            state["dfdx"] = axpy(1 - damp, dfdx, scale(mom, state["dfdx"]))
        if nesterov:
            dfdx = axpy(mom, state["dfdx"], dfdx)
        else:
            dfdx = list(state["dfdx"])
    clr = lr  # learningRateDecay 0
    lx, lmx = list(xc), list(xc)
    mdfdx = [0.0] * len(x)
    g = c["gamma"] * (1 + c["scoping"]) ** state["t"]
    w = [0.0] * len(x)
    lclr, beta1 = 0.1, 0.75
    if c["L"] > 0:
        for _ in range(c["L"]):
            ldfdx = grad(lx)
            if mom != 0:
                mdfdx = axpy(1 - damp, ldfdx, scale(mom, mdfdx))
            if nesterov:
                ldfdx = axpy(mom, mdfdx, ldfdx)
            else:
                ldfdx = list(mdfdx)
            diff = [a - b for a, b in zip(xc, lx)]
            ldfdx = axpy(-g, diff, ldfdx)
            ldfdx = axpy(wd, lx, ldfdx)
            lx = axpy(-lclr, ldfdx, lx)
            lmx = axpy(1 - beta1, lx, scale(beta1, lmx))
        w = [a - b for a, b in zip(xc, lmx)]
        dfdx = [0.0] * len(x)
    x = list(xc)
    dfdx = [d + wi for d, wi in zip(dfdx, w)]
    return axpy(-clr, dfdx, x)


def python_step(x, state, c):
    """`EntropySGD.step` with eps 0."""
    lr, wd, mom, damp, nesterov, L = c["lr"], c["wd"], c["mom"], c["damp"], c["nesterov"], c["L"]
    first = grad(x)
    if "t" not in state:
        state["t"] = 0
        state["mdw"] = list(first)
    wc = list(x)
    mw = list(x)
    lmdw = [0.0] * len(x)
    g = c["gamma"] * (1 + c["scoping"]) ** state["t"]
    llr, beta1 = 0.1, 0.75
    w = list(x)
    dw = first
    for _ in range(L):
        dw = grad(w)
        if wd > 0:
            dw = axpy(wd, w, dw)
        if mom > 0:
            lmdw = axpy(1 - damp, dw, scale(mom, lmdw))
            dw = axpy(mom, lmdw, dw) if nesterov else list(lmdw)
        dw = axpy(-g, [a - b for a, b in zip(wc, w)], dw)
        w = axpy(-llr, dw, w)
        mw = axpy(1 - beta1, w, scale(beta1, mw))
    if L > 0:
        w = list(wc)
        dw = [a - b for a, b in zip(w, mw)]
    if wd > 0:
        dw = axpy(wd, w, dw)
    if mom > 0:
        state["mdw"] = axpy(1 - damp, dw, scale(mom, state["mdw"]))
        dw = axpy(mom, state["mdw"], dw) if nesterov else list(state["mdw"])
    return axpy(-lr, dw, w)


BASE = dict(lr=0.1, mom=0.9, damp=0.0, nesterov=True, gamma=0.03, scoping=0.0, wd=0.0, L=3)

CASES = [
    ("python port (its quirks)", python_step, BASE),
    ("lua, L 3, scoping 0.1, wd 0.01", lua_step, dict(BASE, scoping=0.1, wd=0.01)),
    ("lua, lr 1 (the paper's first epochs)", lua_step, dict(BASE, lr=1.0)),
    ("lua, L 0 (Nesterov SGD), wd 0.01", lua_step, dict(BASE, L=0, wd=0.01)),
]

if __name__ == "__main__":
    for name, step, config in CASES:
        x, state = [1.0, 1.0], {}
        print(name)
        for _ in range(3):
            x = step(x, state, config)
            print("  [%.10f, %.10f]" % tuple(x))

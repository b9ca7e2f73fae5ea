"""PAGCP's layer-wise search, pure Python, float64.

Ye, Zhang, Chen, Fan & Wang, "Performance-aware Approximation of Global Channel Pruning for
Multitask CNNs" (TPAMI 2023). Official code: HankYe/PAGCP @a39492b, `prune/sensitivity.py`
(`ratio_compute`, `Sensitivity.__call__`, `Sensitivity.get_ratio`) with `compress.py`'s
settings (ratios linspace(0.05, 0.95, 19), the chosen layers pruned in visiting order). This
transcribes the control flow line by line on a network described by its filter counts:
a layer of n filters pruned at ratio r loses floor(r n) (at most n - 1, torch-pruning's
`int(amount * n)`); which filters go does not matter here because the losses depend on the
counts only. `ratio_compute` solves prod_{i<L}(1 + rate x^i) = thres, here by bisection (the
official `fsolve` from 1 finds the same root of this increasing function).

The network: the multitask CNN of `tests/pagcp_golden.rs`, widths [8, 12, 16] on 12-pixel
images (feature maps 6, 3, 2), heads of 3 and 2 classes. FLOPs: conv l is
out * in * 9 * size^2, the heads in * classes. Task losses of widths w against the dense W:
task 0 = 1 + 2 (1 - w2/W2)^2 + 0.3 (1 - w1/W1)^2,
task 1 = 2 + 3 (1 - w0/W0)^2 + 0.5 (1 - w1/W1).
Run with the defaults (initial_rate 0.05, global threshold 30, topk 0.8, sequential) and with
global thresholds 1.2 and 1.1 (lambda below 1: the layers visited by contribution, largest
first); prints lambda, each layer's losses and stop, the chosen ratios and the
final widths.
Run: python3 pagcp.py
"""

import math

DENSE = [8, 12, 16]
SIZES = [6, 3, 2]
CLASSES = [3, 2]
RATIOS = [0.05 + 0.9 * i / 18 for i in range(19)]


def flops(w):
    total, c_in = 0, 1
    for c_out, s in zip(w, SIZES):
        total += c_out * c_in * 9 * s * s
        c_in = c_out
    return total + sum(c_in * c for c in CLASSES)


def losses(w):
    f = [1 - w[i] / DENSE[i] for i in range(3)]
    return [1 + 2 * f[2] ** 2 + 0.3 * f[1] ** 2, 2 + 3 * f[0] ** 2 + 0.5 * f[1]]


def prune(w, g, r):
    n = w[g]
    count = min(int(r * n + 1e-9), n - 1)
    if count <= 0:
        return None
    out = list(w)
    out[g] = n - count
    return out


def ratio_compute(rate, layers, thres):
    prod = lambda x: math.prod(1 + rate * x ** i for i in range(layers))
    lo, hi = 0.0, 1.0
    while prod(hi) < thres and hi < 1e6:
        hi *= 2
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if prod(mid) < thres:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def pagcp(initial_rate=0.05, global_thres=30.0, topk=0.8):
    model = list(DENSE)
    base_flops = flops(model)
    contrib = {}
    for g in range(3):
        p = prune(model, g, 0.3)
        contrib[g] = base_flops - flops(p) if p else 0.0
    lam = ratio_compute(initial_rate, 3, global_thres)
    order = sorted(contrib, key=lambda k: contrib[k], reverse=lam <= 1)
    base = losses(model)
    last = list(base)
    thres = initial_rate
    pruned = list(model)
    sens = {}
    for k in order:
        sens[k] = {"loss": [], "base_loss": sum(base)}
        for l, r in enumerate(RATIOS):
            temp = prune(pruned, k, r)
            if temp is not None:
                t = losses(temp)
                rel = [t[i] / base[i] for i in range(2)]
                if max(rel) > 1 + thres:
                    idx = rel.index(max(rel))
                    p = prune(pruned, k, RATIOS[l - 1]) if l >= 1 else None
                    if p is not None:
                        pruned = p
                        thres *= lam
                        base = [max(base[i], last[i]) for i in range(2)]
                    sens[k]["loss"].append(("task", idx))
                    break
                sens[k]["loss"].append(sum(t))
                last = t
            else:
                sens[k]["loss"].append(sum(base))
    # get_ratio
    probe = list(model)
    probe_flops = base_flops
    score = {}
    for k in sens:
        if len(sens[k]["loss"]) > 1:
            r = RATIOS[len(sens[k]["loss"]) - 2]
            p = prune(probe, k, r)
            if p is not None:
                probe = p
            fs = flops(probe)
            score[k] = (sens[k]["loss"][-2] - sens[k]["base_loss"]) / (probe_flops - fs + 1e-20)
            probe_flops = fs
    ranked = sorted(score, key=lambda k: score[k])
    chosen = sorted(ranked[: min(len(ranked), int(len(sens) * topk))])
    keys = list(sens)
    chosen_order = sorted(keys.index(k) for k in chosen)
    ratio = {keys[i]: RATIOS[len(sens[keys[i]]["loss"]) - 2] for i in chosen_order}
    out = list(model)
    for k in ratio:
        p = prune(out, k, ratio[k])
        if p is not None:
            out = p
    return lam, order, sens, ratio, out


for thres in (30.0, 1.2, 1.1):
    lam, order, sens, ratio, out = pagcp(global_thres=thres)
    print(f"global threshold {thres}: lambda {lam:.12f}, order {order}")
    for k in order:
        stop = [e for e in sens[k]["loss"] if isinstance(e, tuple)]
        floats = [e for e in sens[k]["loss"] if not isinstance(e, tuple)]
        print(f"  layer {k}: {len(floats)} losses, last {floats[-1] if floats else None}, stop {stop}")
    print(f"  ratios {ratio}, final widths {out}")

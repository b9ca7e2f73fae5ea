#!/usr/bin/env python3
"""PyTorch's side of `bench_optimizers`: the time of one optimizer step on one flat parameter,
measured the way the Rust side measures its own (a fresh gradient in new memory before every
step, outside the timing; the median of the timed steps).

It serves requests, one JSON object per line on standard input, and answers each with one JSON
line on standard output, so that the Rust benchmark can alternate its own rows with PyTorch's in
one run:

    {"rule": "adam-amsgrad", "n": 10000000, "steps": 20}   ->   {"ms": 9.87}

The first line it prints names torch's version and thread count. Rules:

- `adam`, `adamw`, `adam-amsgrad`, `adamw-amsgrad`: `torch.optim.Adam`/`AdamW` with
  `fused=True` (PyTorch's fused CPU kernel), lr 1e-3, the defaults otherwise (AdamW: weight
  decay 1e-2, as tempering's AdamW + AMSGrad row).
- `c-lion`: cautious Lion (Liang et al. 2024, "Cautious Optimizers", arXiv:2411.16085, on Lion of
  Chen et al. 2023, arXiv:2302.06675) with `torch._foreach_*` operations, since PyTorch has no
  Lion: `u = sign(β1·m + (1−β1)·g)`, mask `u·g > 0`, scale `n / (kept + 1)`,
  `p ← p − lr·u·mask·scale`, `m ← β2·m + (1−β2)·g` (β 0.9, 0.99).
- `lion`: the same without the mask.
- `c-adam-amsgrad`: cautious Adam with the AMSGrad maximum, in tensor operations as C-Optim's
  official `c_adamw.py` writes its step (PyTorch has no fused cautious step), with PyTorch's
  AMSGrad denominator and no weight decay, as tempering's C-AdamW + AMSGrad row:
  `mask = 1[m·g > 0] / max(mean(mask), 1e-3)`, `p ← p − lr/bc1 · m·mask / (√v̂/√bc2 + ε)`.

    python3 examples/bench_optimizers/bench_optimizers.py --threads 2 < requests.jsonl
"""

import argparse
import json
import statistics
import sys
import time

import torch


def adam(rule, param):
    decoupled = rule.startswith("adamw")
    amsgrad = rule.endswith("amsgrad")
    if decoupled:
        return torch.optim.AdamW([param], lr=1e-3, weight_decay=1e-2, amsgrad=amsgrad, fused=True)
    return torch.optim.Adam([param], lr=1e-3, amsgrad=amsgrad, fused=True)


class ForeachLion:
    """Lion, or cautious Lion, over a list of parameters with `torch._foreach_*` operations."""

    def __init__(self, params, cautious, lr=1e-3, betas=(0.9, 0.99)):
        self.params = params
        self.cautious = cautious
        self.lr = lr
        self.betas = betas
        self.momenta = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self):
        beta1, beta2 = self.betas
        grads = [p.grad for p in self.params]
        update = torch._foreach_mul(self.momenta, beta1)
        torch._foreach_add_(update, grads, alpha=1 - beta1)
        torch._foreach_sign_(update)
        if self.cautious:
            for u, g in zip(update, grads):
                mask = (u * g > 0).to(u.dtype)
                u.mul_(mask * (mask.numel() / (mask.sum() + 1)))
        torch._foreach_add_(self.params, update, alpha=-self.lr)
        torch._foreach_mul_(self.momenta, beta2)
        torch._foreach_add_(self.momenta, grads, alpha=1 - beta2)


class CautiousAdamAmsgrad:
    """Cautious Adam + AMSGrad on one parameter, step by step as C-Optim's `c_adamw.py` (lr 1e-3,
    betas (0.9, 0.999), eps 1e-8), with the AMSGrad maximum and bias corrections of PyTorch's
    Adam."""

    def __init__(self, param, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.param = param
        self.lr = lr
        self.betas = betas
        self.eps = eps
        self.step_count = 0
        self.exp_avg = torch.zeros_like(param)
        self.exp_avg_sq = torch.zeros_like(param)
        self.max_exp_avg_sq = torch.zeros_like(param)

    @torch.no_grad()
    def step(self):
        beta1, beta2 = self.betas
        grad = self.param.grad
        self.step_count += 1
        self.exp_avg.mul_(beta1).add_(grad, alpha=1.0 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
        torch.maximum(self.max_exp_avg_sq, self.exp_avg_sq, out=self.max_exp_avg_sq)
        bias_correction1 = 1.0 - beta1**self.step_count
        bias_correction2 = 1.0 - beta2**self.step_count
        denom = (self.max_exp_avg_sq.sqrt() / bias_correction2**0.5).add_(self.eps)
        mask = (self.exp_avg * grad > 0).to(grad.dtype)
        mask.div_(mask.mean().clamp_(min=1e-3))
        norm_grad = (self.exp_avg * mask) / denom
        self.param.add_(norm_grad, alpha=-self.lr / bias_correction1)


def optimizer(rule, param):
    if rule in ("adam", "adamw", "adam-amsgrad", "adamw-amsgrad"):
        return adam(rule, param)
    if rule in ("lion", "c-lion"):
        return ForeachLion([param], cautious=rule == "c-lion")
    if rule == "c-adam-amsgrad":
        return CautiousAdamAmsgrad(param)
    raise ValueError(f"unknown rule {rule!r}")


def time_steps(rule, n, steps):
    """Median milliseconds of `steps` timed steps, after 2 untimed ones."""
    param = torch.nn.Parameter(torch.randn(n))
    opt = optimizer(rule, param)
    times = []
    for i in range(steps + 2):
        param.grad = torch.randn(n)
        start = time.perf_counter()
        opt.step()
        elapsed = (time.perf_counter() - start) * 1e3
        if i >= 2:
            times.append(elapsed)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            ms = time_steps(request["rule"], int(request["n"]), int(request["steps"]))
            print(json.dumps({"ms": ms}), flush=True)
        except Exception as e:  # the Rust side reports it and goes on without PyTorch
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)


if __name__ == "__main__":
    main()

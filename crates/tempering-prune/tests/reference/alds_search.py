"""ALDS's per-layer search of the number of input chunks k, pure Python, float64.

Liebenwein, Maalouf, Gal, Feldman & Rus, "Compressing Neural Networks: Towards Determining the
Optimal Layer-wise Decomposition" (NeurIPS 2021). Official code: lucaslie/torchprune @14b392c,
`src/torchprune/torchprune/method/alds/alds_allocator.py`, class
`ALDSErrorIterativeAllocator`, over `ALDSErrorAllocator` and `BaseDecomposeAllocator`
(`method/base_decompose/base_decompose_allocator.py`).

The search, as the official class runs it:
- candidate k per layer: the divisors of its input channels, in descending order;
- seeds: the fixed desired k 3, 5, 7, 9 (each layer takes the divisor closest to it, ties to the
  larger), then random k per layer (the official draws them with numpy's unseeded generator;
  this script and tempering draw none, see below);
- a seed is made valid by allocating ranks for it; if the budget cannot be met, every k is
  halved (to the closest divisor) until it can;
- four iterations: each layer's budget is its allocated rank times its parameters per rank
  (k * out + in); for every candidate k the rank floor(budget / (k * out + in) + offset), offset
  0.5, skipped below 1 and capped at the candidate's full rank, gives an error (the official
  reads it one rank lower, see `find_best_k`), and the layer takes the k with the lowest (the
  first in descending order on ties); then the ranks are allocated again. If that allocation
  does not fit, the offset drops by 0.2 (for the rest of the seed) and the iteration is retried
  from the k it started with; below -0.51 the seed stops iterating;
- a seed whose iterations raised its error keeps its initial k; the seed with the lowest error
  wins, and its k are allocated a final time.

The rank allocation for given k is tempering's (`low_rank::allocate`): the smallest threshold
among the layers' achievable errors such that every layer at the smallest rank with error at
most the threshold fits the budget (a layer whose factors would not be smaller counts as
dense); the official solves the same threshold with Brent's method on the step function. The
error of an allocation is that threshold (the official `_arg_opt`).

Layers are given by their singular values per candidate k (so the script needs no SVD): layer
l, chunk j of k has singular values sv(l, k, j, i) below, for i < min(out, in / k); the relative
error at rank r is max_j sv(l, k, j, r) / norm(l). Three layers: (out, in) = (16, 24), (12, 12),
(20, 18); budget 0.5.
Prints what `crates/tempering-prune/tests/alds_search_golden.rs` checks.
Run: python3 alds_search.py
"""

import math

LAYERS = [(16, 24), (12, 12), (20, 18)]
BUDGET = 0.5
FIXED_SEEDS = [3, 5, 7, 9]
ITERATIONS = 4


def divisors(n):
    return [d for d in range(n, 0, -1) if n % d == 0]


def sv(layer, k, j, i):
    """A deterministic spectrum: decaying, different per layer, chunk and k."""
    out, inp = LAYERS[layer]
    base = 1.0 + 0.3 * math.sin(1.3 * layer + 0.7 * j + 0.11 * k)
    decay = 0.55 + 0.1 * layer + 0.04 * math.cos(k + j)
    return base * decay ** i / math.sqrt(k)


def norm(layer):
    return 1.5 + 0.2 * layer


class Spectrum:
    def __init__(self, layer, k):
        out, inp = LAYERS[layer]
        self.out, self.inp, self.k = out, inp, k
        cols = inp // k
        self.cols = [cols] * k
        self.sv = [[sv(layer, k, j, i) for i in range(min(out, cols))] for j in range(k)]
        self.norm = norm(layer)

    def dense(self):
        return self.out * self.inp

    def params_at(self, r):
        return sum(min(r, c, self.out) * (c + self.out) for c in self.cols)

    def error_at(self, r):
        return max((s[r] if r < len(s) else 0.0) for s in self.sv) / self.norm

    def full_rank(self):
        return max(len(s) for s in self.sv)

    def smallest_rank(self, eps):
        full = self.full_rank()
        for r in range(1, full + 1):
            if self.error_at(r) <= eps:
                return r
        return full

    def size_at(self, eps):
        r = self.smallest_rank(eps)
        p = self.params_at(r)
        return p if p < self.dense() else self.dense()


def allocate(spectra):
    """(threshold, ranks) or None when the budget cannot be met."""
    dense = sum(s.dense() for s in spectra)
    allowed = math.floor(BUDGET * dense)
    cands = sorted(set([0.0] + [s.error_at(r) for s in spectra for r in range(1, s.full_rank() + 1)]))
    for e in cands:
        if sum(s.size_at(e) for s in spectra) <= allowed:
            return e, [s.smallest_rank(e) for s in spectra]
    return None


def closest_divisor(n, desired):
    ds = divisors(n)
    best = min(range(len(ds)), key=lambda i: (abs(ds[i] - desired), i))
    return ds[best]


def spectra_for(ks):
    return [Spectrum(l, k) for l, k in enumerate(ks)]


def find_best_k(l, k, rank, rounding):
    out, inp = LAYERS[l]
    budget = rank * (k * out + inp)
    best, best_k = math.inf, None
    for option in divisors(inp):
        s = Spectrum(l, option)
        closest = math.floor(budget / (option * out + inp) + rounding)
        if closest < 1:
            continue
        closest = min(s.full_rank(), closest)
        # The official indexes its error table at rank - 1 (`rel_error[idx_rank]` with
        # `idx_rank = rank_closest - 1`, where entry i is the error at rank i): the error one
        # rank below the one the budget buys. Every option is compared the same way.
        err = s.error_at(closest - 1)
        if err < best:
            best, best_k = err, option
    return best_k


def optimize_seed(ks):
    while True:
        got = allocate(spectra_for(ks))
        if got is not None:
            break
        halved = [k // 2 for k in ks]
        if all(h < 1 for h in halved):
            return None
        ks = [closest_divisor(LAYERS[l][1], h) for l, h in enumerate(halved)]
    seed_ks, seed_err = list(ks), got[0]
    err, ranks = got
    # Reset once per seed (`_initialize_seed`); a lowered offset stays lowered.
    rounding = 0.5
    for _ in range(ITERATIONS):
        start = list(ks)
        done = False
        while not done:
            new = [find_best_k(l, ks[l], ranks[l], rounding) for l in range(len(LAYERS))]
            if None in new:
                break  # no candidate gets rank 1: stop iterating, keep the current k
            got = allocate(spectra_for(new))
            if got is not None:
                ks, (err, ranks), done = new, got, True
            else:
                rounding -= 0.2
                if rounding < -0.51:
                    break
                ks = start
                err, ranks = allocate(spectra_for(ks))
        if not done:
            break
    if seed_err < err:
        return seed_err, seed_ks
    return err, ks


def main():
    results = []
    for desired in FIXED_SEEDS:
        ks = [closest_divisor(inp, desired) for _, inp in LAYERS]
        results.append(optimize_seed(ks))
    for desired, r in zip(FIXED_SEEDS, results):
        print("seed k=%d: error %.12f, k %s" % (desired, r[0], r[1]))
    best = min(range(len(results)), key=lambda i: (results[i][0], i))
    err, ks = results[best]
    err, ranks = allocate(spectra_for(ks))
    print("best seed %d: k %s, ranks %s, error %.12f" % (best, ks, ranks, err))
    fixed3 = allocate(spectra_for([closest_divisor(inp, 3) for _, inp in LAYERS]))
    print("fixed k=3: error %.12f" % fixed3[0])


if __name__ == "__main__":
    main()

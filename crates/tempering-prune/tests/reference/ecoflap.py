"""ECoFLaP block allocation reference, pure Python with float32 emulated (no numpy needed).

A line-by-line transcription of `compute_the_sparsity_per_group` and of the budget
`int(total_parameters * (1 - original_sparsity))` in `return_sparsity`, from the official code,
ylsung/ECoFLaP @59dac0a, file `CoOp/trainers/pruners/layer_single_base_pruner.py` (Sung, Yoon
& Bansal, "ECoFLaP: Efficient Coarse-to-Fine Layer-wise Pruning for Vision-Language Models",
ICLR 2024), written independently of the Rust implementation. torch's dtypes are followed:
`scores` is a FloatTensor, the kept counts start as int64 and become float32 once a float32
tensor is added to them; every float32 operation is rounded to float32 here (`f32`), and a sum
of float32 values is accumulated in float32 in order (exact for the integer counts below 2^24).

Prints the sparsities of the cases that
`crates/tempering-prune/tests/ecoflap_allocation_golden.rs` checks. Run: python3 ecoflap.py
"""
import math
import struct


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def f32_sum(values):
    total = 0.0
    for v in values:
        total = f32(total + v)
    return total


def allocate(total_keep, scores, sizes, max_sparsity):
    scores = [f32(s) for s in scores]
    factor = f32(1 - max_sparsity)
    # int64 counts: += ceil(num_parameters * (1 - max)).int(), the product in float32
    keep = [int(math.ceil(f32(f32(n) * factor))) for n in sizes]
    is_float = False
    while (f32_sum(keep) if is_float else sum(keep)) < total_keep:
        total_ratio = f32_sum(scores)
        kept = f32_sum(keep) if is_float else sum(keep)
        rest = f32(total_keep - kept)
        add = [math.ceil(f32(f32(s / total_ratio) * rest)) for s in scores]
        keep = [f32(k + a) for k, a in zip(keep, add)]
        is_float = True
        scores = [0.0 if k >= n else s for s, k, n in zip(scores, keep, sizes)]
        keep = [min(k, float(n)) for k, n in zip(keep, sizes)]
        if f32_sum(add) == 0:
            need = total_keep - f32_sum(keep)
            while need > 0:
                for i in [i for i, s in enumerate(scores) if s > 0]:
                    can = min(need, sizes[i] - keep[i])
                    keep[i] += can
                    need -= can
                    if need == 0:
                        break
        if f32_sum(keep) > total_keep:
            need = f32_sum(keep) - total_keep
            while need > 0:
                order = sorted(range(len(keep)), key=lambda i: -keep[i])  # stable, descending
                for i in order:
                    can = min(need, keep[i] - int(f32(f32(sizes[i]) * factor)))
                    keep[i] += can  # the official `+=` where it means to remove
                    need -= can
                    if need == 0:
                        break
    return [min(max(f32(1 - f32(k / n)), 0.0), 1.0) for k, n in zip(keep, sizes)]


# (name, sizes, scores, target); max sparsity target + 0.1 as the LLaMA scripts pass it
CASES = [
    ("char_lm_50", [196608] * 4, [3.7, 1.2, 0.9, 2.4], 0.5),
    ("char_lm_70", [196608] * 4, [3.7, 1.2, 0.9, 2.4], 0.7),
    ("char_lm_80", [196608] * 4, [3.7, 1.2, 0.9, 2.4], 0.8),
    ("overshoot", [101, 100, 100], [1.0, 1.0, 1.0], 0.5),
    ("saturating", [1000, 50, 2000], [0.1, 50.0, 1.0], 0.3),
    ("uneven", [12345, 6789, 23456, 3456], [0.123, 4.56, 0.0789, 1.0], 0.6),
]

if __name__ == "__main__":
    for name, sizes, scores, target in CASES:
        budget = int(sum(sizes) * (1 - target))
        print(name, [repr(s) for s in allocate(budget, scores, sizes, min(target + 0.1, 1.0))])

//! The one-pass route of [`smallest`](super::smallest). A stratified sample of the keys gives
//! a bracket `[lo, hi]` that holds the k-th smallest key with high probability; one pass over
//! the data counts per tensor the keys below `lo`, equal to `lo`, equal to `hi` and zero, and
//! keeps the keys strictly inside (a fraction of a percent of them); the k-th is then selected
//! among the kept keys. The counts prove whether the bracket held the k-th key, so the answer
//! is exact or absent, never approximate.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rayon::prelude::*;
use tempering_core::simd_dispatch::widest_dispatch;
use tempering_core::split_mix::{at, mix};

use super::{Cut, Selection, cuts_from_counts};

/// Keys sampled to place the bracket: its width is about `2 · SIGMAS · √(p(1−p)/SAMPLES)` of
/// the elements (1.2 % at p = 0.9), and sampling them costs a few milliseconds.
pub(super) const SAMPLES: u64 = 1 << 16;

/// Half-width of the bracket in standard deviations of the sample quantile: a miss (and the
/// exact route's two extra passes) has probability below 10⁻⁶ per side for unstructured data.
const SIGMAS: f64 = 5.0;

/// Most keys kept from inside the bracket (64 MiB): a bracket holding more (many equal keys
/// strictly inside it) gives up, and the exact route answers.
pub(super) const KEPT_LIMIT: u64 = 1 << 24;

/// Keys from this range are the candidates for the k-th smallest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Bracket {
    pub lo: u32,
    pub hi: u32,
}

impl Bracket {
    /// `(first, width)` such that `lo < key < hi` is the one unsigned comparison
    /// `key.wrapping_sub(first) < width`.
    fn interior(self) -> (u32, u32) {
        (
            self.lo.wrapping_add(1),
            self.hi.saturating_sub(self.lo).saturating_sub(1),
        )
    }
}

/// The bracket around the `k`-th smallest key (1-based) of the tensors of `sizes` elements,
/// from `samples` keys read by `key_at(tensor, index)` at stratified random positions (every
/// key when there are no more than `samples`).
pub(super) fn from_sample(
    sizes: &[u64],
    k: u64,
    samples: u64,
    key_at: &(impl Fn(usize, u64) -> u32 + Sync),
) -> Bracket {
    let total: u64 = sizes.iter().sum();
    let count = total.min(samples);
    if count == 0 {
        return Bracket { lo: 0, hi: 0 };
    }
    let starts: Vec<u64> = sizes
        .iter()
        .scan(0u64, |start, &n| {
            let s = *start;
            *start += n;
            Some(s)
        })
        .collect();
    let stream = mix(0x005E_EDB4_ACE7_u64 ^ total);
    let mut keys: Vec<u32> = (0..count)
        .into_par_iter()
        .map(|j| {
            // One position in each of `count` equal strata of the elements.
            let position = if count == total {
                j
            } else {
                let offset = at(stream, j) % total;
                ((u128::from(j) * u128::from(total) + u128::from(offset)) / u128::from(count))
                    as u64
            };
            let tensor = starts.partition_point(|&s| s <= position) - 1;
            key_at(tensor, position - starts[tensor])
        })
        .collect();
    keys.sort_unstable();
    let p = k as f64 / total as f64;
    let expected = p * count as f64;
    let margin = SIGMAS * (count as f64 * p * (1.0 - p)).sqrt() + 2.0;
    // Sample ranks are 1-based: rank r is keys[r - 1].
    let lo_rank = (expected - margin).floor();
    let hi_rank = (expected + margin).ceil();
    Bracket {
        lo: if lo_rank < 1.0 {
            0
        } else {
            keys[lo_rank as usize - 1]
        },
        hi: if hi_rank > count as f64 {
            u32::MAX
        } else {
            keys[hi_rank as usize - 1]
        },
    }
}

/// What one pass learns of one tensor against a bracket.
#[derive(Default)]
struct Tally {
    below: u64,
    at_lo: u64,
    at_hi: u64,
    zeros: u64,
    /// The keys strictly between `lo` and `hi`, in index order.
    inside: Vec<u32>,
}

/// Keys counted per step: small enough for `u32` counters that vectorize.
const BLOCK: usize = 4096;

/// Per block of at most [`BLOCK`] keys: how many lie below `lo`, equal `lo`, equal `hi`, are
/// zero, and lie strictly between `lo` and `hi`. Compiled for AVX-512 or AVX2 where the CPU has
/// them (the counts are the same at every level): on SSE2 alone the five counters spill, and
/// this loop was the largest share of a 1 GiB prune's ranking.
fn count_block(block: &[u32], bracket: Bracket) -> [u32; 5] {
    widest_dispatch(|| count_block_portable(block, bracket))
}

/// [`count_block`] as a plain loop over plain values, so that it vectorizes at every level.
#[inline(always)]
fn count_block_portable(block: &[u32], bracket: Bracket) -> [u32; 5] {
    let Bracket { lo, hi } = bracket;
    let (first, width) = bracket.interior();
    let (mut below, mut at_lo, mut at_hi, mut zeros, mut inside) = (0u32, 0u32, 0u32, 0u32, 0u32);
    // Wrapping adds (a block cannot overflow a `u32`): the overflow checks of a debug build
    // would keep the loop from vectorizing, at 4× the time.
    for &key in block {
        below = below.wrapping_add(u32::from(key < lo));
        at_lo = at_lo.wrapping_add(u32::from(key == lo));
        at_hi = at_hi.wrapping_add(u32::from(key == hi));
        zeros = zeros.wrapping_add(u32::from(key == 0));
        inside = inside.wrapping_add(u32::from(key.wrapping_sub(first) < width));
    }
    [below, at_lo, at_hi, zeros, inside]
}

/// Appends to `out` the keys of `block` with `key - first < width` (wrapping), in order. With
/// AVX-512 each 16 keys are compared at once and the kept ones stored compressed (most groups
/// keep none at the usual bracket's 1 % density); elsewhere [`keep_inside_portable`].
fn keep_inside(block: &[u32], first: u32, width: u32, out: &mut Vec<u32>) {
    #[cfg(target_arch = "x86_64")]
    if tempering_core::simd_dispatch::widest_simd() {
        // SAFETY: the CPU has AVX-512F, checked just above.
        unsafe { keep_inside_avx512(block, first, width, out) };
        return;
    }
    keep_inside_portable(block, first, width, out);
}

/// [`keep_inside`] without SIMD intrinsics: pieces of 32 are counted first (vectorized), so
/// the scalar copy runs only over the pieces that hold one, about a third of them at the
/// usual bracket's 1 % density.
fn keep_inside_portable(block: &[u32], first: u32, width: u32, out: &mut Vec<u32>) {
    for piece in block.chunks(32) {
        let any = piece.iter().fold(0u32, |n, &key| {
            n.wrapping_add(u32::from(key.wrapping_sub(first) < width))
        });
        if any > 0 {
            // Branch-free: every key is written, and the count moves past the kept ones.
            let mut kept = [0u32; 32];
            let mut n = 0usize;
            for &key in piece {
                kept[n & 31] = key;
                n += usize::from(key.wrapping_sub(first) < width);
            }
            out.extend_from_slice(&kept[..n]);
        }
    }
}

/// [`keep_inside`] on AVX-512: a compare per 16 keys, and a compressed store of the kept ones.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn keep_inside_avx512(block: &[u32], first: u32, width: u32, out: &mut Vec<u32>) {
    use std::arch::x86_64::{
        _mm512_cmplt_epu32_mask, _mm512_loadu_si512, _mm512_maskz_compress_epi32,
        _mm512_set1_epi32, _mm512_storeu_si512, _mm512_sub_epi32,
    };
    let groups = block.len() / 16;
    // Every group stores 16 lanes (the kept ones first), so room for one more group's worth.
    out.reserve(groups * 16 + 16);
    let first_v = _mm512_set1_epi32(first as i32);
    let width_v = _mm512_set1_epi32(width as i32);
    for g in 0..groups {
        // SAFETY: `g * 16 + 16 <= block.len()`; `out` has room for 16 more keys past its
        // length (it reserved every group's worth plus one, and each group adds at most 16),
        // and only the kept keys, written in full, are counted into its length. Compressing
        // in a register and storing all 16 lanes is faster than a masked compressed store,
        // and storing every group, kept keys or not, faster than a branch that about one
        // group in six takes at random.
        unsafe {
            let keys = _mm512_loadu_si512(block.as_ptr().add(g * 16).cast());
            let kept = _mm512_cmplt_epu32_mask(_mm512_sub_epi32(keys, first_v), width_v);
            let len = out.len();
            let packed = _mm512_maskz_compress_epi32(kept, keys);
            _mm512_storeu_si512(out.as_mut_ptr().add(len).cast(), packed);
            out.set_len(len + kept.count_ones() as usize);
        }
    }
    keep_inside_portable(&block[groups * 16..], first, width, out);
}

/// The selection of the `k` smallest keys if `bracket` holds the k-th, from one pass over the
/// tensors (in parallel); `None` if it does not, or if more than `kept_limit` keys fall
/// strictly inside it.
/// With `k = 0` the pass only counts each tensor's zero keys.
pub(super) fn select_within<E: Send>(
    count: usize,
    k: u64,
    bracket: Bracket,
    kept_limit: u64,
    visit: &(impl Fn(usize, &mut Vec<u32>, &mut dyn FnMut(&[u32])) -> Result<(), E> + Sync),
) -> Result<Option<Selection>, E> {
    let Bracket { lo, hi } = bracket;
    debug_assert!(lo <= hi);
    let (first, width) = bracket.interior();
    let kept = AtomicU64::new(0);
    let overflow = AtomicBool::new(false);
    let tallies: Vec<Tally> = (0..count)
        .into_par_iter()
        .map_init(Vec::new, |buf, i| {
            let mut t = Tally::default();
            visit(i, buf, &mut |keys| {
                if overflow.load(Ordering::Relaxed) {
                    return;
                }
                for block in keys.chunks(BLOCK) {
                    let [below, at_lo, at_hi, zeros, inside] = count_block(block, bracket);
                    t.below += u64::from(below);
                    t.at_lo += u64::from(at_lo);
                    t.at_hi += u64::from(at_hi);
                    t.zeros += u64::from(zeros);
                    if inside > 0 {
                        if kept.fetch_add(u64::from(inside), Ordering::Relaxed) + u64::from(inside)
                            > kept_limit
                        {
                            overflow.store(true, Ordering::Relaxed);
                            return;
                        }
                        keep_inside(block, first, width, &mut t.inside);
                    }
                }
            })?;
            if lo == hi {
                t.at_hi = 0;
            }
            Ok(t)
        })
        .collect::<Result<_, E>>()?;
    if overflow.load(Ordering::Relaxed) {
        return Ok(None);
    }
    let zero_keys = tallies.iter().map(|t| t.zeros).collect();
    if k == 0 {
        return Ok(Some(Selection {
            cuts: vec![Cut::NONE; count],
            zero_keys,
        }));
    }
    Ok(
        threshold_and_counts(k, bracket, &tallies).map(|(threshold, counts)| Selection {
            cuts: cuts_from_counts(k, threshold, counts),
            zero_keys,
        }),
    )
}

/// Bins of the histogram that finds the k-th kept key without copying the kept keys.
const INSIDE_BINS: u64 = 1 << 16;

/// The `rank`-th smallest (1-based) of the keys kept inside the bracket, across every tally:
/// a histogram of them over [`INSIDE_BINS`] equal bins of the interior finds the bin that holds
/// it, and only that bin's keys (about 1/65,536 of them for spread keys) are copied and
/// selected among. Copying every kept key instead would double the selection's memory.
fn kth_inside(rank: usize, (first, width): (u32, u32), tallies: &[Tally]) -> u32 {
    let bins = INSIDE_BINS.min(u64::from(width)).max(1);
    let bin_of = |key: u32| (u64::from(key.wrapping_sub(first)) * bins / u64::from(width)) as usize;
    let histogram = tallies
        .par_iter()
        .fold(
            || vec![0u64; bins as usize],
            |mut h, t| {
                t.inside.iter().for_each(|&key| h[bin_of(key)] += 1);
                h
            },
        )
        .reduce(
            || vec![0u64; bins as usize],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
                a
            },
        );
    let mut before = 0u64;
    let mut bin = 0;
    for (b, &n) in histogram.iter().enumerate() {
        if before + n >= rank as u64 {
            bin = b;
            break;
        }
        before += n;
    }
    let mut candidates: Vec<u32> = tallies
        .iter()
        .flat_map(|t| t.inside.iter().copied().filter(|&key| bin_of(key) == bin))
        .collect();
    let (_, &mut threshold, _) =
        candidates.select_nth_unstable((rank as u64 - before) as usize - 1);
    threshold
}

/// The k-th smallest key and, per tensor, the keys below it and equal to it, if the bracket
/// holds it.
fn threshold_and_counts(
    k: u64,
    Bracket { lo, hi }: Bracket,
    tallies: &[Tally],
) -> Option<(u32, Vec<(u64, u64)>)> {
    let sum = |f: fn(&Tally) -> u64| tallies.iter().map(f).sum::<u64>();
    let below = sum(|t| t.below);
    let at_lo = sum(|t| t.at_lo);
    let inside = sum(|t| t.inside.len() as u64);
    let at_hi = sum(|t| t.at_hi);
    if k <= below || k > below + at_lo + inside + at_hi {
        return None;
    }
    if k <= below + at_lo {
        return Some((lo, tallies.iter().map(|t| (t.below, t.at_lo)).collect()));
    }
    if k > below + at_lo + inside {
        let under = |t: &Tally| t.below + t.at_lo + t.inside.len() as u64;
        return Some((hi, tallies.iter().map(|t| (under(t), t.at_hi)).collect()));
    }
    let rank = (k - below - at_lo) as usize;
    let threshold = kth_inside(rank, Bracket { lo, hi }.interior(), tallies);
    let counts = tallies
        .par_iter()
        .map(|t| {
            let under = t.inside.iter().filter(|&&key| key < threshold).count() as u64;
            let equal = t.inside.iter().filter(|&&key| key == threshold).count() as u64;
            (t.below + t.at_lo + under, equal)
        })
        .collect();
    Some((threshold, counts))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys spread over the whole range, with runs of equal keys and zeros, and lengths that
    /// leave every tail size after the 16-key groups.
    fn keys(n: usize, seed: u64) -> Vec<u32> {
        let stream = mix(seed);
        (0..n as u64)
            .map(|i| match at(stream, i) % 8 {
                0 => 0,
                1 => 1_000,
                _ => (at(stream, i) >> 32) as u32 % 4_096,
            })
            .collect()
    }

    /// The dispatched kernels (AVX-512 or AVX2 where this CPU has them) keep and count exactly
    /// what the portable loops and a plain filter do; brackets from empty to everything.
    #[test]
    fn the_dispatched_kernels_match_the_portable_loops() {
        let brackets = [
            (0, 0),
            (0, 1),
            (999, 1_001),
            (10, 4_000),
            (0, u32::MAX),
            (5, 5),
        ];
        for n in [0, 1, 15, 16, 17, 31, 33, 1_000, BLOCK] {
            let block = keys(n, n as u64);
            for (lo, hi) in brackets {
                let bracket = Bracket { lo, hi };
                let (first, width) = bracket.interior();
                let plain: Vec<u32> = block
                    .iter()
                    .copied()
                    .filter(|&k| lo < k && k < hi)
                    .collect();
                let mut fast = vec![7];
                keep_inside(&block, first, width, &mut fast);
                let mut portable = vec![7];
                keep_inside_portable(&block, first, width, &mut portable);
                assert_eq!(fast[1..], plain[..], "n {n}, bracket {bracket:?}");
                assert_eq!(portable[1..], plain[..], "n {n}, bracket {bracket:?}");
                let count = |f: &dyn Fn(u32) -> bool| block.iter().filter(|&&k| f(k)).count();
                let expected = [
                    count(&|k| k < lo),
                    count(&|k| k == lo),
                    count(&|k| k == hi),
                    count(&|k| k == 0),
                    plain.len(),
                ]
                .map(|c| c as u32);
                assert_eq!(count_block(&block, bracket), expected, "n {n}, {bracket:?}");
                assert_eq!(count_block_portable(&block, bracket), expected);
            }
        }
    }
}

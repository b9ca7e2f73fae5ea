//! Allocation's workhorse: the k smallest keys over one or many tensors, found exactly in
//! linear time without sorting. The usual route reads the data once: a sample of the keys
//! brackets the k-th smallest, one pass counts the keys below the bracket and keeps the few
//! inside it ([`bracket`]). Where the bracket misses (the pass tells), the exact route of a
//! two-level radix histogram takes over ([`exact`]).

mod bracket;
mod exact;

use rayon::prelude::*;
use tempering_core::simd_dispatch::widest_dispatch;

use crate::element::f32_magnitude_key;

/// Which elements of one tensor to prune: every key below `threshold`, and the first `ties`
/// elements (in index order) whose key equals it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cut {
    pub threshold: u32,
    pub ties: u64,
    /// How many elements the cut prunes.
    pub pruned: u64,
}

impl Cut {
    /// Prunes nothing.
    pub const NONE: Cut = Cut {
        threshold: 0,
        ties: 0,
        pruned: 0,
    };
}

/// The cuts of [`smallest`], and how many keys of each tensor are 0 (for magnitude keys: how
/// many elements are already zero).
pub(crate) struct Selection {
    pub cuts: Vec<Cut>,
    pub zero_keys: Vec<u64>,
}

/// The cuts that prune exactly `k` elements in total across the tensors of `sizes` elements,
/// smallest keys first; equal keys are taken in tensor order, then index order.
/// `key_at(i, j)` is the key of element `j` of tensor `i` (for the sample), and
/// `visit(i, buffer, f)` hands every key of tensor `i` to `f` in index order, in blocks.
/// Tensors are scanned in parallel, once when the sample's bracket holds the k-th key (the
/// usual case), three times at most otherwise.
pub(crate) fn smallest<E: Send>(
    sizes: &[u64],
    k: u64,
    key_at: impl Fn(usize, u64) -> u32 + Sync,
    visit: impl Fn(usize, &mut Vec<u32>, &mut dyn FnMut(&[u32])) -> Result<(), E> + Sync,
) -> Result<Selection, E> {
    let bracket = if k == 0 {
        // Nothing to select: the pass only counts the zero keys.
        bracket::Bracket { lo: 0, hi: 0 }
    } else {
        bracket::from_sample(sizes, k, bracket::SAMPLES, &key_at)
    };
    if let Some(selection) =
        bracket::select_within(sizes.len(), k, bracket, bracket::KEPT_LIMIT, &visit)?
    {
        return Ok(selection);
    }
    exact::smallest_exact(sizes.len(), k, visit)
}

/// The cuts for a threshold, given per tensor how many keys lie below it and how many equal
/// it: everything below is pruned, and the rest of `k` comes from the ties, in tensor order.
fn cuts_from_counts(k: u64, threshold: u32, counts: Vec<(u64, u64)>) -> Vec<Cut> {
    let mut ties_left = k - counts.iter().map(|c| c.0).sum::<u64>();
    counts
        .into_iter()
        .map(|(below, equal)| {
            let ties = equal.min(ties_left);
            ties_left -= ties;
            Cut {
                threshold,
                ties,
                pruned: below + ties,
            }
        })
        .collect()
}

/// Zeroes, in `out` (a window of a tensor whose elements start at element `first`, `SIZE`
/// bytes each), the elements that `cut` prunes: a key below the threshold, or one at the
/// threshold before element `tie_end` (see `tie_end` in the prune pass); `keys` are the
/// window's.
pub(crate) fn zero_cut_window<const SIZE: usize>(
    cut: Cut,
    tie_end: u64,
    first: u64,
    keys: &[u32],
    out: &mut [u8],
) {
    if cut.pruned == 0 {
        return;
    }
    for (i, &key) in keys.iter().enumerate() {
        let take = key < cut.threshold || (key == cut.threshold && first + (i as u64) < tie_end);
        if !take {
            continue;
        }
        let element = &mut out[i * SIZE..(i + 1) * SIZE];
        // Zero by value (all bits but the sign clear), whatever the keys rank: random keys
        // say nothing about it.
        let zero = element[..SIZE - 1].iter().all(|&b| b == 0) && element[SIZE - 1] & 0x7F == 0;
        if !zero {
            element.copy_from_slice(&[0u8; SIZE]);
        }
    }
}

/// [`zero_cut_window`] for magnitude-ranked `f32` tensors, computing each key from its bytes
/// and copying as it goes: `out` becomes `window` with the cut's non-zero elements zeroed, in
/// one branch-free pass over 1 MiB pieces in parallel.
pub(crate) fn copy_cut_f32_magnitude_window(
    cut: Cut,
    tie_end: u64,
    first: u64,
    window: &[u8],
    out: &mut [u8],
) {
    // A threshold of 0 cuts only elements that are zero already.
    if cut.pruned == 0 || cut.threshold == 0 {
        out.copy_from_slice(window);
        return;
    }
    let threshold = cut.threshold;
    const PIECE: usize = 1 << 20;
    out.par_chunks_mut(PIECE)
        .zip(window.par_chunks(PIECE))
        .enumerate()
        .for_each(|(p, (piece, source))| {
            let start = first + (p * PIECE / 4) as u64;
            // Elements of this piece before `tie_end` are pruned at the threshold too.
            let ties_here = tie_end.saturating_sub(start).min((source.len() / 4) as u64) as usize;
            widest_dispatch(|| cut_f32_piece(threshold, ties_here, source, piece));
        });
}

/// How many `f32`s of `bytes` have the magnitude key `key`, counted straight from the bytes at
/// the widest SIMD level (finding where a cut's ties end reads up to a whole tensor).
pub(crate) fn count_f32_magnitude_equal(bytes: &[u8], key: u32) -> u64 {
    widest_dispatch(|| {
        bytes.chunks(1 << 14).fold(0u64, |total, block| {
            // At most 4,096 per block, so a `u32` count that vectorizes.
            let n = block.chunks_exact(4).fold(0u32, |n, c| {
                let bits = u32::from_le_bytes(c.try_into().expect("4 bytes"));
                n.wrapping_add(u32::from(f32_magnitude_key(bits) == key))
            });
            total + u64::from(n)
        })
    })
}

/// `piece` becomes `source` with the elements whose magnitude key is below `threshold`, or
/// equal to it among the first `ties_here`, set to zero. A plain loop, compiled at the widest
/// SIMD level by its caller (every level gives the same bytes).
#[inline(always)]
fn cut_f32_piece(threshold: u32, ties_here: usize, source: &[u8], piece: &mut [u8]) {
    for (i, (c, s)) in piece
        .chunks_exact_mut(4)
        .zip(source.chunks_exact(4))
        .enumerate()
    {
        let bits = u32::from_le_bytes(s.try_into().expect("4 bytes"));
        let key = f32_magnitude_key(bits);
        // 1 ≤ key < threshold; a zero key wraps around and is kept as it is.
        let below = key.wrapping_sub(1) < threshold - 1;
        let tie = key == threshold && i < ties_here;
        let value = if below || tie { 0 } else { bits };
        c.copy_from_slice(&value.to_le_bytes());
    }
}

/// Applies a cut to `keys`, calling `prune(index)` for each pruned element; returns how many.
pub(crate) fn apply(cut: Cut, keys: &[u32], mut prune: impl FnMut(usize)) -> u64 {
    let mut ties = cut.ties;
    let mut pruned = 0;
    for (i, &key) in keys.iter().enumerate() {
        let take = key < cut.threshold || (key == cut.threshold && ties > 0);
        if take {
            if key == cut.threshold {
                ties -= 1;
            }
            prune(i);
            pruned += 1;
        }
    }
    pruned
}

#[cfg(test)]
mod tests;

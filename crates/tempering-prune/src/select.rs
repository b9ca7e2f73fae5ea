//! Allocation's workhorse: the k smallest keys over one or many tensors, found exactly in
//! linear time by a two-level radix histogram (high 16 bits, then low 16 bits of the bin that
//! holds the k-th key), without sorting or holding more than one tensor's keys per thread.

use rayon::prelude::*;

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

/// The cuts that prune exactly `k` elements in total across the tensors whose keys `keys_of(i)`
/// yields (for `i` in `0..count`), smallest keys first; equal keys are taken in tensor order,
/// then index order. Tensors are scanned in parallel (three passes: high histogram, low
/// histogram of the one bin that holds the k-th key, per-tensor counts).
pub(crate) fn smallest<E: Send>(
    count: usize,
    k: u64,
    keys_of: impl Fn(usize, &mut Vec<u32>) -> Result<(), E> + Sync,
) -> Result<Vec<Cut>, E> {
    if k == 0 {
        return Ok(vec![Cut::NONE; count]);
    }
    let high = histogram(count, &keys_of, |key| Some((key >> 16) as usize))?;
    let total: u64 = high.iter().sum();
    assert!(k <= total, "asked to prune {k} of {total} elements");
    let (bin, before) = position(&high, k);
    let low = histogram(count, &keys_of, |key| {
        (key >> 16 == bin).then_some((key & 0xFFFF) as usize)
    })?;
    let (low_bin, before_low) = position(&low, k - before);
    let threshold = (bin << 16) | low_bin;
    let counts: Vec<(u64, u64)> = (0..count)
        .into_par_iter()
        .map_init(Vec::new, |keys, i| {
            keys_of(i, keys)?;
            let (mut below, mut equal) = (0u64, 0u64);
            for &key in keys.iter() {
                below += u64::from(key < threshold);
                equal += u64::from(key == threshold);
            }
            Ok((below, equal))
        })
        .collect::<Result<_, E>>()?;
    // Elements below the threshold are all pruned; the rest of k comes from the ties, in
    // tensor order.
    let mut ties_left = k - before - before_low;
    Ok(counts
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
        .collect())
}

/// A 65,536-bin histogram of `bin(key)` over every tensor's keys (keys mapped to `None` are
/// not counted), tensors in parallel.
fn histogram<E: Send>(
    count: usize,
    keys_of: &(impl Fn(usize, &mut Vec<u32>) -> Result<(), E> + Sync),
    bin: impl Fn(u32) -> Option<usize> + Sync,
) -> Result<Vec<u64>, E> {
    (0..count)
        .into_par_iter()
        .map_init(Vec::new, |keys, i| {
            keys_of(i, keys)?;
            let mut h = vec![0u64; 1 << 16];
            for &key in keys.iter() {
                if let Some(b) = bin(key) {
                    h[b] += 1;
                }
            }
            Ok(h)
        })
        .try_reduce(
            || vec![0u64; 1 << 16],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                Ok(a)
            },
        )
}

/// The bin holding the `k`-th smallest (1-based) and the count in earlier bins.
fn position(histogram: &[u64], k: u64) -> (u32, u64) {
    let mut before = 0;
    for (bin, &n) in histogram.iter().enumerate() {
        if before + n >= k {
            return (bin as u32, before);
        }
        before += n;
    }
    unreachable!("k is at most the histogram's total")
}

/// Zeroes, in `out` (the tensor's bytes, `SIZE` per element), the non-zero elements the cut
/// prunes, given their keys; elements already zero keep their bytes.
pub(crate) fn zero_cut<const SIZE: usize>(cut: Cut, keys: &[u32], out: &mut [u8]) {
    apply(cut, keys, |i| {
        if keys[i] != 0 {
            out[i * SIZE..(i + 1) * SIZE].copy_from_slice(&[0u8; SIZE]);
        }
    });
}

/// [`zero_cut`] for magnitude-ranked `f32` tensors, computing each key from its bytes.
pub(crate) fn zero_cut_f32_magnitude(cut: Cut, out: &mut [u8]) {
    let mut ties = cut.ties;
    for chunk in out.chunks_exact_mut(4) {
        let key = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) & 0x7FFF_FFFF;
        if key == 0 || key > cut.threshold {
            if key == 0 && cut.threshold == 0 && ties > 0 {
                ties -= 1;
            }
            continue;
        }
        if key == cut.threshold {
            if ties == 0 {
                continue;
            }
            ties -= 1;
        }
        chunk.copy_from_slice(&[0u8; 4]);
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
mod tests {
    use super::*;

    fn run(tensors: &[Vec<u32>], k: u64) -> Vec<Vec<usize>> {
        let cuts = smallest::<()>(tensors.len(), k, |i, buf| {
            buf.clear();
            buf.extend_from_slice(&tensors[i]);
            Ok(())
        })
        .unwrap();
        tensors
            .iter()
            .zip(cuts)
            .map(|(t, cut)| {
                let mut out = Vec::new();
                apply(cut, t, |i| out.push(i));
                out
            })
            .collect()
    }

    /// Worked by hand: keys {5, 1, 9} and {3, 1, 70000}; the 3 smallest are 1, 1, 3.
    #[test]
    fn picks_the_k_smallest_across_tensors() {
        let t = vec![vec![5, 1, 9], vec![3, 1, 70_000]];
        assert_eq!(run(&t, 3), vec![vec![1], vec![0, 1]]);
        assert_eq!(run(&t, 0), vec![Vec::<usize>::new(), vec![]]);
        assert_eq!(run(&t, 6), vec![vec![0, 1, 2], vec![0, 1, 2]]);
    }

    /// Ties at the threshold go in tensor order, then index order: the 2 is pruned, and the
    /// two more come from the four 7s, both from the first tensor.
    #[test]
    fn ties_are_taken_in_order() {
        let t = vec![vec![7, 7], vec![7, 2, 7]];
        assert_eq!(run(&t, 3), vec![vec![0, 1], vec![1]]);
        assert_eq!(run(&t, 4), vec![vec![0, 1], vec![0, 1]]);
    }

    /// Against sorting, on keys that share high bits (so the second level decides).
    #[test]
    fn agrees_with_sorting() {
        let mut state = 1u64;
        let keys: Vec<u32> = (0..5000)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                0x3F80_0000 | ((state >> 40) as u32 & 0x3FF)
            })
            .collect();
        for k in [1u64, 17, 2500, 4999, 5000] {
            let picked = &run(std::slice::from_ref(&keys), k)[0];
            assert_eq!(picked.len() as u64, k);
            let mut sorted = keys.clone();
            sorted.sort_unstable();
            let kth = sorted[k as usize - 1];
            assert!(picked.iter().all(|&i| keys[i] <= kth));
            let below = keys.iter().filter(|&&x| x < kth).count();
            assert!(picked.len() >= below);
        }
    }
    /// The fused f32 surgery, the generic one and `apply` zero the same elements, with ties,
    /// zeros and negative zeros among the values (a −0.0 keeps its sign bit).
    #[test]
    fn the_surgeries_agree() {
        let values: Vec<f32> = (0..600)
            .map(|i| match i % 7 {
                0 => 0.0,
                1 => -0.0,
                2 => 0.5,
                3 => -0.5,
                _ => ((i * 37 % 101) as f32 - 50.0) / 10.0,
            })
            .collect();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let keys: Vec<u32> = values.iter().map(|v| v.to_bits() & 0x7FFF_FFFF).collect();
        for k in [0u64, 50, 86, 200, 250, 599, 600] {
            let cut = smallest::<()>(1, k, |_, buf| {
                buf.clear();
                buf.extend_from_slice(&keys);
                Ok(())
            })
            .unwrap()[0];
            assert_eq!(cut.pruned, k);
            let mut fused = bytes.clone();
            zero_cut_f32_magnitude(cut, &mut fused);
            let mut generic = bytes.clone();
            zero_cut::<4>(cut, &keys, &mut generic);
            let mut reference = bytes.clone();
            apply(cut, &keys, |i| {
                if keys[i] != 0 {
                    reference[4 * i..4 * i + 4].fill(0);
                }
            });
            assert_eq!(fused, reference, "k = {k}");
            assert_eq!(generic, reference, "k = {k}");
            // −0.0 elements are untouched.
            for (i, v) in values.iter().enumerate() {
                if v.to_bits() == 0x8000_0000 {
                    assert_eq!(&fused[4 * i..4 * i + 4], &v.to_le_bytes());
                }
            }
        }
    }
}

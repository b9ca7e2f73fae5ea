//! Allocation's workhorse: the k smallest keys over one or many tensors, found exactly in
//! linear time by a two-level radix histogram (high 16 bits, then low 16 bits of the bin that
//! holds the k-th key), without sorting or holding more than one tensor's keys.

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
/// then index order.
pub(crate) fn smallest<E>(
    count: usize,
    k: u64,
    mut keys_of: impl FnMut(usize, &mut Vec<u32>) -> Result<(), E>,
) -> Result<Vec<Cut>, E> {
    if k == 0 {
        return Ok(vec![Cut::NONE; count]);
    }
    let mut keys = Vec::new();
    let mut high = vec![0u64; 1 << 16];
    for i in 0..count {
        keys_of(i, &mut keys)?;
        for &key in &keys {
            high[(key >> 16) as usize] += 1;
        }
    }
    let total: u64 = high.iter().sum();
    assert!(k <= total, "asked to prune {k} of {total} elements");
    let (bin, before) = position(&high, k);
    let mut low = vec![0u64; 1 << 16];
    for i in 0..count {
        keys_of(i, &mut keys)?;
        for &key in &keys {
            if key >> 16 == bin {
                low[(key & 0xFFFF) as usize] += 1;
            }
        }
    }
    let (low_bin, before_low) = position(&low, k - before);
    let threshold = (bin << 16) | low_bin;
    // Elements below the threshold are all pruned; the rest of k comes from the ties.
    let mut ties_left = k - before - before_low;
    let mut cuts = Vec::with_capacity(count);
    for i in 0..count {
        keys_of(i, &mut keys)?;
        let (mut below, mut equal) = (0u64, 0u64);
        for &key in &keys {
            below += u64::from(key < threshold);
            equal += u64::from(key == threshold);
        }
        let ties = equal.min(ties_left);
        ties_left -= ties;
        cuts.push(Cut {
            threshold,
            ties,
            pruned: below + ties,
        });
    }
    Ok(cuts)
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
}

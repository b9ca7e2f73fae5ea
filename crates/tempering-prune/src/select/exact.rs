//! The exact route of [`smallest`](super::smallest): a histogram of the keys' high 16 bits
//! over every tensor, then the low 16 bits of the bin that holds the k-th key. Two passes over
//! the data (three when that bin is very full), whatever the keys' distribution.

use rayon::prelude::*;

use super::{Cut, Selection, cuts_from_counts};

/// Most keys the two-pass selection keeps in memory (as `u16`, 32 MiB) from the bin that holds
/// the `k`-th key; a fuller bin (many equal keys) takes a third pass instead.
pub(super) const BIN_LIMIT: u64 = 1 << 24;

/// The cuts that prune exactly `k` elements in total across the tensors whose keys
/// `visit(i, buffer, f)` hands to `f` in index order (for `i` in `0..count`), smallest keys
/// first; equal keys are taken in tensor order, then index order. Tensors are scanned in
/// parallel, twice: a histogram of the keys' high 16 bits, then per tensor the count below the
/// bin that holds the k-th key and the low bits of the keys inside it.
pub(super) fn smallest_exact<E: Send>(
    count: usize,
    k: u64,
    visit: impl Fn(usize, &mut Vec<u32>, &mut dyn FnMut(&[u32])) -> Result<(), E> + Sync,
) -> Result<Selection, E> {
    smallest_with_limit(count, k, BIN_LIMIT, visit)
}

/// [`smallest_exact`] with the in-memory bin limit as a parameter (the tests take the three-pass
/// route with a limit of 0).
pub(super) fn smallest_with_limit<E: Send>(
    count: usize,
    k: u64,
    bin_limit: u64,
    visit: impl Fn(usize, &mut Vec<u32>, &mut dyn FnMut(&[u32])) -> Result<(), E> + Sync,
) -> Result<Selection, E> {
    let (high, zero_keys) = high_histogram(count, &visit)?;
    if k == 0 {
        return Ok(Selection {
            cuts: vec![Cut::NONE; count],
            zero_keys,
        });
    }
    let total: u64 = high.iter().sum();
    assert!(k <= total, "asked to prune {k} of {total} elements");
    let (bin, before) = position(&high, k);
    let (threshold, counts): (u32, Vec<(u64, u64)>) = if high[bin as usize] <= bin_limit {
        // Per tensor: keys below the bin, and the low halves of the keys in it.
        let per_tensor: Vec<(u64, Vec<u16>)> = (0..count)
            .into_par_iter()
            .map_init(Vec::new, |buf, i| {
                let (mut below, mut inside) = (0u64, Vec::new());
                visit(i, buf, &mut |keys| {
                    for &key in keys {
                        let high = key >> 16;
                        below += u64::from(high < bin);
                        if high == bin {
                            inside.push(key as u16);
                        }
                    }
                })?;
                Ok((below, inside))
            })
            .collect::<Result<_, E>>()?;
        let mut low = vec![0u64; 1 << 16];
        for (_, inside) in &per_tensor {
            inside.iter().for_each(|&l| low[l as usize] += 1);
        }
        let (low_bin, _) = position(&low, k - before);
        let counts = per_tensor
            .iter()
            .map(|(below, inside)| {
                let under = inside.iter().filter(|&&l| u32::from(l) < low_bin).count();
                let equal = inside.iter().filter(|&&l| u32::from(l) == low_bin).count();
                (below + under as u64, equal as u64)
            })
            .collect();
        ((bin << 16) | low_bin, counts)
    } else {
        let low = histogram(count, &visit, |key| {
            (key >> 16 == bin).then_some((key & 0xFFFF) as usize)
        })?;
        let (low_bin, _) = position(&low, k - before);
        let threshold = (bin << 16) | low_bin;
        let counts = (0..count)
            .into_par_iter()
            .map_init(Vec::new, |buf, i| {
                let (mut below, mut equal) = (0u64, 0u64);
                visit(i, buf, &mut |keys| {
                    for &key in keys {
                        below += u64::from(key < threshold);
                        equal += u64::from(key == threshold);
                    }
                })?;
                Ok((below, equal))
            })
            .collect::<Result<_, E>>()?;
        (threshold, counts)
    };
    Ok(Selection {
        cuts: cuts_from_counts(k, threshold, counts),
        zero_keys,
    })
}

/// The histogram of the keys' high 16 bits over every tensor, and each tensor's count of
/// zero keys, tensors in parallel.
fn high_histogram<E: Send>(
    count: usize,
    visit: &(impl Fn(usize, &mut Vec<u32>, &mut dyn FnMut(&[u32])) -> Result<(), E> + Sync),
) -> Result<(Vec<u64>, Vec<u64>), E> {
    // Four interleaved histograms per worker: magnitudes crowd into few bins, and a single
    // histogram would wait on its own last increment of the same counter.
    let (lanes, pairs) = (0..count)
        .into_par_iter()
        .try_fold(
            || (vec![[0u64; 4]; 1 << 16], Vec::new(), Vec::new()),
            |(mut parts, mut zeros, mut buf), i| {
                let mut z = 0u64;
                // A fixed-size view, so `key >> 16` indexes it without bounds checks.
                let bins: &mut [[u64; 4]; 1 << 16] =
                    parts.as_mut_slice().try_into().expect("65,536 bins");
                visit(i, &mut buf, &mut |keys| {
                    let mut quads = keys.chunks_exact(4);
                    for q in &mut quads {
                        // Wrapping adds: a debug build's overflow checks cost more than the
                        // counting (no count reaches 2^64).
                        for (lane, &key) in q.iter().enumerate() {
                            let bin = &mut bins[(key >> 16) as usize][lane];
                            *bin = bin.wrapping_add(1);
                            z = z.wrapping_add(u64::from(key == 0));
                        }
                    }
                    for &key in quads.remainder() {
                        let bin = &mut bins[(key >> 16) as usize][0];
                        *bin = bin.wrapping_add(1);
                        z = z.wrapping_add(u64::from(key == 0));
                    }
                })?;
                zeros.push((i, z));
                Ok((parts, zeros, buf))
            },
        )
        .map(|r| r.map(|(parts, zeros, _)| (parts, zeros)))
        .try_reduce(
            || (vec![[0u64; 4]; 1 << 16], Vec::new()),
            |(mut a, mut za), (b, zb)| {
                for (x, y) in a.iter_mut().zip(&b) {
                    (0..4).for_each(|l| x[l] += y[l]);
                }
                za.extend(zb);
                Ok((a, za))
            },
        )?;
    let high = lanes.iter().map(|l| l.iter().sum()).collect();
    let mut zeros = vec![0u64; count];
    for (i, z) in pairs {
        zeros[i] = z;
    }
    Ok((high, zeros))
}

/// A 65,536-bin histogram of `bin(key)` over every tensor's keys (keys mapped to `None` are
/// not counted), tensors in parallel.
fn histogram<E: Send>(
    count: usize,
    visit: &(impl Fn(usize, &mut Vec<u32>, &mut dyn FnMut(&[u32])) -> Result<(), E> + Sync),
    bin: impl Fn(u32) -> Option<usize> + Sync,
) -> Result<Vec<u64>, E> {
    (0..count)
        .into_par_iter()
        .map_init(Vec::new, |buf, i| {
            let mut h = vec![0u64; 1 << 16];
            visit(i, buf, &mut |keys| {
                for &key in keys {
                    if let Some(b) = bin(key) {
                        h[b] += 1;
                    }
                }
            })?;
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

//! N:M semi-structured sparsity: in every group of M consecutive weights along the input
//! dimension keep the N largest |w| (Mishra et al., "Accelerating sparse deep neural
//! networks", 2021; NVIDIA's 2:4).
//!
//! Burn's `Linear` stores its weight as `[d_in, d_out]`, so for rank-2 tensors the groups run
//! along dimension 0; convolution weights are `[out, in/groups, k…]`, so for higher ranks
//! they run along dimension 1. Another axis can be chosen (safetensors exported from PyTorch
//! store `Linear` as `[out, in]`: axis 1).

use crate::error::PruneError;

/// The default input axis of a tensor of this rank (see the module docs).
pub fn default_axis(rank: usize) -> usize {
    if rank <= 2 { 0 } else { 1 }
}

/// The pattern's geometry for one tensor: `outer × len × inner` in row-major order, groups of
/// `m` along `len`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Groups {
    outer: usize,
    len: usize,
    inner: usize,
    n: usize,
    m: usize,
}

impl Groups {
    /// Checks that `shape[axis]` splits into groups of `m`.
    pub(crate) fn new(
        tensor: &str,
        shape: &[usize],
        axis: usize,
        n: usize,
        m: usize,
    ) -> Result<Self, PruneError> {
        let bad = |reason: String| PruneError::BadShape {
            tensor: tensor.to_string(),
            reason,
        };
        if m == 0 || n > m {
            return Err(bad(format!("N:M needs 0 ≤ N ≤ M and M ≥ 1, not {n}:{m}")));
        }
        if axis >= shape.len() {
            return Err(bad(format!("has rank {}, no axis {axis}", shape.len())));
        }
        if !shape[axis].is_multiple_of(m) {
            return Err(bad(format!(
                "dimension {axis} has size {}, not a multiple of M = {m} (exclude the tensor \
                 with --exclude, or choose another axis)",
                shape[axis]
            )));
        }
        Ok(Self {
            outer: shape[..axis].iter().product(),
            len: shape[axis],
            inner: shape[axis + 1..].iter().product(),
            n,
            m,
        })
    }

    /// Calls `f` with the flat indices of every group.
    fn for_each_group(&self, mut f: impl FnMut(&[usize])) {
        if self.outer == 0 || self.len == 0 || self.inner == 0 {
            return;
        }
        let mut group = vec![0usize; self.m];
        for o in 0..self.outer {
            for start in (0..self.len).step_by(self.m) {
                for r in 0..self.inner {
                    for (j, slot) in group.iter_mut().enumerate() {
                        *slot = (o * self.len + start + j) * self.inner + r;
                    }
                    f(&group);
                }
            }
        }
    }

    /// Calls `prune(index)` for the `m - n` smallest keys of every group (ties: the earlier
    /// index goes first); returns how many.
    pub(crate) fn prune(&self, keys: &[u32], mut prune: impl FnMut(usize)) -> u64 {
        let mut order: Vec<usize> = Vec::with_capacity(self.m.min(self.len));
        let mut pruned = 0;
        self.for_each_group(|group| {
            order.clear();
            order.extend_from_slice(group);
            order.sort_by_key(|&i| (keys[i], i));
            for &i in &order[..self.m - self.n] {
                prune(i);
                pruned += 1;
            }
        });
        pruned
    }

    /// The first group with more than `n` non-zero keys, as its flat indices.
    pub(crate) fn first_violation(&self, keys: &[u32]) -> Option<Vec<usize>> {
        let mut found = None;
        self.for_each_group(|group| {
            if found.is_none() && group.iter().filter(|&&i| keys[i] != 0).count() > self.n {
                found = Some(group.to_vec());
            }
        });
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A [4, 2] weight (Burn layout, d_in = 4): each column is one group of 4 along d_in.
    /// Column 0 holds |w| 4, 1, 3, 2 → 2:4 prunes rows 1 and 3; column 1 holds 1, 1, 5, 1 →
    /// the ties prune rows 0 and 1.
    #[test]
    fn two_of_four_along_the_input_dimension() {
        let keys = [4, 1, 1, 1, 3, 5, 2, 1];
        let g = Groups::new("w", &[4, 2], 0, 2, 4).unwrap();
        let mut pruned = Vec::new();
        assert_eq!(g.prune(&keys, |i| pruned.push(i)), 4);
        pruned.sort_unstable();
        assert_eq!(pruned, vec![1, 2, 3, 6]);
        let mut after = keys;
        for i in pruned {
            after[i] = 0;
        }
        assert_eq!(g.first_violation(&after), None);
        assert_eq!(g.first_violation(&keys), Some(vec![0, 2, 4, 6]));
    }

    #[test]
    fn shapes_that_do_not_split_are_named() {
        let err = Groups::new("fc.weight", &[10, 3], 0, 2, 4).unwrap_err();
        assert!(err.to_string().contains("fc.weight"), "{err}");
        assert!(err.to_string().contains("not a multiple of M = 4"), "{err}");
        assert!(Groups::new("w", &[8], 1, 2, 4).is_err());
    }

    /// A provenance record is untrusted input to `verify`: N:M `2:0` once panicked in
    /// `step_by(0)`, `5:4` would prune a negative count, and `M = 2^40` on an empty dimension
    /// allocated an 8 TiB group.
    #[test]
    fn impossible_patterns_are_errors_and_empty_tensors_have_no_groups() {
        for (n, m) in [(2, 0), (5, 4)] {
            let err = Groups::new("w", &[8, 2], 0, n, m).unwrap_err().to_string();
            assert!(err.contains(&format!("not {n}:{m}")), "{err}");
        }
        let empty = Groups::new("w", &[0, 3], 0, 2, 1 << 40).unwrap();
        assert_eq!(empty.first_violation(&[]), None);
        assert_eq!(empty.prune(&[], |_| unreachable!()), 0);
    }
}

//! Where each element of a parameter finds its Adafactor row and column statistics, walked in
//! segments along the last axis so that the per-element work of a learned-optimizer step runs
//! over contiguous slices (and vectorizes) with no division per element.

/// Index into the array reduced over `axis` (kept as size 1) of element `i` of `shape`.
#[inline]
pub fn reduced_index(i: usize, shape: &[usize], axis: usize) -> usize {
    let inner: usize = shape[axis + 1..].iter().product();
    let len = shape[axis];
    (i / (len * inner)) * inner + i % inner
}

/// A stretch of consecutive elements inside one run of the last axis: along it the index into
/// each reduced array either stays put (the array is reduced over the last axis) or steps by
/// one (it is not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// First element.
    pub start: usize,
    /// Elements in the segment.
    pub len: usize,
    /// Index of the first element into the statistics reduced over `d0` (the rows).
    pub row: usize,
    /// Index of the first element into the statistics reduced over `d1` (the columns).
    pub col: usize,
}

/// The factoring of a rank ≥ 2 parameter: its shape and the two reduced axes.
#[derive(Clone, Debug)]
pub struct FactoredLayout {
    shape: Vec<usize>,
    d0: usize,
    d1: usize,
}

impl FactoredLayout {
    /// The layout of `shape` (rank ≥ 2) factored over `(d0, d1)`.
    pub fn new(shape: &[usize], (d0, d1): (usize, usize)) -> Self {
        assert!(shape.len() >= 2 && d0 != d1 && d0.max(d1) < shape.len());
        Self {
            shape: shape.to_vec(),
            d0,
            d1,
        }
    }

    /// The axes the rows and the columns are reduced over, `(d0, d1)`.
    pub fn dims(&self) -> (usize, usize) {
        (self.d0, self.d1)
    }

    /// 0 when the row index stays put along a segment, 1 when it steps with the element.
    pub fn row_stride(&self) -> usize {
        usize::from(self.d0 != self.shape.len() - 1)
    }

    /// 0 when the column index stays put along a segment, 1 when it steps with the element.
    pub fn col_stride(&self) -> usize {
        usize::from(self.d1 != self.shape.len() - 1)
    }

    /// The segment starting at element `start`: at most `max` elements, none at or past `end`
    /// and none beyond the run of the last axis that `start` is in (`start < end`).
    #[inline]
    pub fn segment_at(&self, start: usize, end: usize, max: usize) -> Segment {
        let run = self.shape[self.shape.len() - 1].max(1);
        let run_end = (start / run + 1) * run;
        Segment {
            start,
            len: end.min(run_end).min(start.saturating_add(max)) - start,
            row: reduced_index(start, &self.shape, self.d0),
            col: reduced_index(start, &self.shape, self.d1),
        }
    }

    /// Segments of at most `max` elements covering `start..end`, none crossing a run of the last
    /// axis.
    pub fn segments(
        &self,
        start: usize,
        end: usize,
        max: usize,
    ) -> impl Iterator<Item = Segment> + '_ {
        let mut i = start;
        std::iter::from_fn(move || {
            (i < end).then(|| {
                let segment = self.segment_at(i, end, max);
                i += segment.len;
                segment
            })
        })
    }
}

/// The segment starting at element `start` of a tensor with elementwise statistics: at most
/// `max` elements, none at or past `end` (`start < end`).
#[inline]
pub fn plain_segment_at(start: usize, end: usize, max: usize) -> Segment {
    Segment {
        start,
        len: max.min(end - start),
        row: 0,
        col: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every element of every segment maps to the reduced index the division formula gives.
    #[test]
    fn segments_step_the_reduced_indices_like_the_formula() {
        for (shape, dims) in [
            (vec![3, 7], (1, 0)),
            (vec![7, 3], (0, 1)),
            (vec![2, 3, 4, 5], (3, 2)),
            (vec![5, 4, 2], (0, 1)),
            (vec![4, 1, 6], (2, 0)),
        ] {
            let n: usize = shape.iter().product();
            let layout = FactoredLayout::new(&shape, dims);
            let (rs, cs) = (layout.row_stride(), layout.col_stride());
            let mut covered = 0;
            for start in [0, 5] {
                covered = start;
                for s in layout.segments(start, n, 4) {
                    assert_eq!(s.start, covered, "{shape:?}");
                    assert!(s.len >= 1 && s.len <= 4);
                    for e in 0..s.len {
                        let i = s.start + e;
                        assert_eq!(
                            s.row + e * rs,
                            reduced_index(i, &shape, dims.0),
                            "{shape:?}"
                        );
                        assert_eq!(
                            s.col + e * cs,
                            reduced_index(i, &shape, dims.1),
                            "{shape:?}"
                        );
                    }
                    covered += s.len;
                }
            }
            assert_eq!(covered, n);
        }
        let plain = [plain_segment_at(2, 9, 4), plain_segment_at(6, 9, 4)];
        assert_eq!(plain.map(|s| (s.start, s.len)), [(2, 4), (6, 3)]);
    }
}

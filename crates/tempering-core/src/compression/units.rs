//! Units that leave a model together with their coupled weights.

use burn::module::Module;

use super::CompressionError;

/// How a unit's coupled weights become one score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UnitImportance {
    /// Sum of absolute values.
    L1,
    /// Euclidean norm.
    #[default]
    L2,
}

impl UnitImportance {
    /// One weight's contribution to the unit's sum: `|w|` for L1, `w²` for L2.
    pub fn term(self, w: f32) -> f64 {
        let w = f64::from(w);
        match self {
            Self::L1 => w.abs(),
            Self::L2 => w * w,
        }
    }
}

/// One group of interchangeable units (one layer's neurons, one block's heads) and their
/// importance.
#[derive(Clone, Debug, PartialEq)]
pub struct UnitGroup {
    /// The group's name: `hidden.0`, `blocks.1.attention.heads`, `blocks.1.feed_forward.channels`.
    pub name: String,
    /// One importance per unit, in unit order.
    pub scores: Vec<f64>,
}

impl UnitGroup {
    /// A group from per-unit sums of [`UnitImportance::term`] (the square root is taken for
    /// L2, so the score is the norm).
    pub fn from_sums(name: String, sums: Vec<f64>, importance: UnitImportance) -> Self {
        let scores = match importance {
            UnitImportance::L1 => sums,
            UnitImportance::L2 => sums.into_iter().map(f64::sqrt).collect(),
        };
        Self { name, scores }
    }
}

/// A model whose units can be removed physically.
pub trait ShrinkUnits: Module + Sized {
    /// The model's config type, which the shrunk model gets a new instance of.
    type Config;

    /// The model's unit groups, in a fixed order: each group's name and number of units
    /// (read from the shapes, no weight is copied).
    fn unit_counts(&self) -> Vec<(String, usize)>;

    /// The groups of [`unit_counts`](ShrinkUnits::unit_counts), in the same order, with each
    /// unit's importance.
    fn unit_groups(&self, importance: UnitImportance) -> Vec<UnitGroup>;

    /// The model with only the units `keep[g]` of each group `g` (in [`unit_groups`] order;
    /// sorted, distinct, in range, at least one per group, as [`check_keep`] checks), and the
    /// config that builds it.
    ///
    /// [`unit_groups`]: ShrinkUnits::unit_groups
    fn shrink_units(
        self,
        config: &Self::Config,
        keep: &[Vec<usize>],
    ) -> Result<(Self, Self::Config), CompressionError>;
}

/// Checks `keep` against a model's groups (`(name, units)`, as
/// [`ShrinkUnits::unit_counts`] gives them): one list per group, sorted, distinct, in range,
/// non-empty.
pub fn check_keep(groups: &[(String, usize)], keep: &[Vec<usize>]) -> Result<(), CompressionError> {
    if keep.len() != groups.len() {
        return Err(CompressionError::BadUnits {
            group: "(all)".into(),
            reason: format!("{} keep lists for {} unit groups", keep.len(), groups.len()),
        });
    }
    for ((name, units), kept) in groups.iter().zip(keep) {
        let bad = |reason: String| CompressionError::BadUnits {
            group: name.clone(),
            reason,
        };
        if kept.is_empty() {
            return Err(bad("keeps no unit; keep at least one".into()));
        }
        if let Some(&last) = kept.last()
            && last >= *units
        {
            return Err(bad(format!(
                "unit {last} is out of range (the group has {units})"
            )));
        }
        if kept.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad("unit indices must be sorted and distinct".into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_lists_are_checked_against_the_groups() {
        let groups = vec![("a".to_string(), 3), ("b".to_string(), 2)];
        assert!(check_keep(&groups, &[vec![0, 2], vec![1]]).is_ok());
        let short = check_keep(&groups, &[vec![0]]).unwrap_err();
        assert!(short.to_string().contains("1 keep lists for 2"), "{short}");
        let empty = check_keep(&groups, &[vec![0], vec![]]).unwrap_err();
        assert!(empty.to_string().contains("'b'"), "{empty}");
        let range = check_keep(&groups, &[vec![3], vec![0]]).unwrap_err();
        assert!(
            range.to_string().contains("unit 3 is out of range"),
            "{range}"
        );
        let order = check_keep(&groups, &[vec![1, 1], vec![0]]).unwrap_err();
        assert!(order.to_string().contains("sorted and distinct"), "{order}");
    }

    #[test]
    fn l2_scores_are_norms_and_l1_scores_are_sums() {
        // Worked by hand: |−3| + |4| = 7; √(9 + 16) = 5.
        let sums = |i: UnitImportance| vec![i.term(-3.0) + i.term(4.0)];
        let l1 = UnitGroup::from_sums("g".into(), sums(UnitImportance::L1), UnitImportance::L1);
        let l2 = UnitGroup::from_sums("g".into(), sums(UnitImportance::L2), UnitImportance::L2);
        assert_eq!((l1.scores[0], l2.scores[0]), (7.0, 5.0));
    }
}

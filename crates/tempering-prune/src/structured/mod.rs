//! Structured pruning with physical shrinking: whole units (MLP hidden neurons, transformer
//! attention heads and feed-forward channels, convolution filters of the multitask CNN with
//! their batch-norm channels) leave a model together with every tensor slice
//! coupled to them, and the result is the smaller model its new config builds, which saves,
//! loads and runs like any other. After Torch-Pruning (Fang et al., "DepGraph: Towards any
//! structural pruning", CVPR 2023): a unit's importance is the norm of all its coupled weights;
//! each group loses the same fraction of its least important units (a uniform layer-wise
//! allocation; with [`UnitImportance::L1`] on the CNN's filters, the uniform L1 filter pruning
//! of Li et al., ICLR 2017). Models take part by implementing [`ShrinkUnits`]; tempering-models
//! does so for its MLP, transformer and multitask CNN.
//!
//! ```
//! use burn::tensor::Device;
//! use tempering_models::MlpClassifierConfig;
//! use tempering_prune::structured::{StructuredConfig, shrink_structured};
//! let config = MlpClassifierConfig::new().with_hidden_sizes(vec![64, 32]);
//! let model = config.init(&Device::default());
//! let (small, small_config, report) =
//!     shrink_structured(model, &config, &StructuredConfig::new(0.5))?;
//! assert_eq!(small_config.hidden_sizes, vec![32, 16]);
//! assert!(report.parameters_after < report.parameters_before);
//! # Ok::<(), tempering_prune::PruneError>(())
//! ```

pub mod pagcp;

use crate::PruneError;
use crate::targets::compile_pattern;
pub use tempering_core::compression::{ShrinkUnits, UnitGroup, UnitImportance};

/// What [`shrink_structured`] removes.
#[derive(Clone, Debug, PartialEq)]
pub struct StructuredConfig {
    /// Fraction of each selected group's units to remove, in `[0, 1)`.
    pub ratio: f64,
    /// How units are scored.
    pub importance: UnitImportance,
    /// Only groups whose name matches this regex lose units (default: all).
    pub include: Option<String>,
    /// Fewest units a group keeps (at least 1).
    pub min_units: usize,
}

impl StructuredConfig {
    /// Remove `ratio` of every group's units by L2 importance, keeping at least one.
    pub fn new(ratio: f64) -> Self {
        Self {
            ratio,
            importance: UnitImportance::L2,
            include: None,
            min_units: 1,
        }
    }

    /// Score units by `importance`.
    pub fn with_importance(mut self, importance: UnitImportance) -> Self {
        self.importance = importance;
        self
    }

    /// Only shrink groups whose name matches `pattern`.
    pub fn with_include(mut self, pattern: Option<String>) -> Self {
        self.include = pattern;
        self
    }

    /// Keep at least `units` per group.
    pub fn with_min_units(mut self, units: usize) -> Self {
        self.min_units = units;
        self
    }
}

/// Units of one group before and after.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupReport {
    /// The group's name.
    pub name: String,
    /// Units before.
    pub before: usize,
    /// Units kept.
    pub after: usize,
}

/// What [`shrink_structured`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct StructuredReport {
    /// Every group, in the model's order.
    pub groups: Vec<GroupReport>,
    /// Parameters of the model before.
    pub parameters_before: usize,
    /// Parameters of the shrunk model.
    pub parameters_after: usize,
}

/// The kept units of every group: the `⌈(1 - ratio)·n⌉` (at least `min_units`) most important
/// of each included group, in index order; excluded groups keep every unit. Ties go to the
/// lower index.
pub fn plan_units(
    groups: &[UnitGroup],
    config: &StructuredConfig,
) -> Result<Vec<Vec<usize>>, PruneError> {
    if !(0.0..1.0).contains(&config.ratio) {
        return Err(PruneError::bad(
            "ratio",
            format!("{} is not in [0, 1)", config.ratio),
        ));
    }
    if config.min_units == 0 {
        return Err(PruneError::bad("min_units", "must be at least 1"));
    }
    let include = compile_pattern("include", config.include.as_deref())?;
    if let Some(re) = &include
        && !groups.iter().any(|g| re.is_match(&g.name))
    {
        let names: Vec<_> = groups.iter().map(|g| g.name.as_str()).collect();
        return Err(PruneError::bad(
            "include",
            format!("matches no unit group (groups: {})", names.join(", ")),
        ));
    }
    Ok(groups
        .iter()
        .map(|group| {
            let n = group.scores.len();
            let selected = include.as_ref().is_none_or(|re| re.is_match(&group.name));
            let kept = if selected {
                (((1.0 - config.ratio) * n as f64).ceil() as usize)
                    .clamp(config.min_units.min(n), n)
            } else {
                n
            };
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| group.scores[b].total_cmp(&group.scores[a]).then(a.cmp(&b)));
            let mut keep = order[..kept].to_vec();
            keep.sort_unstable();
            keep
        })
        .collect())
}

/// Scores the model's units, keeps the most important of each group (see [`plan_units`]) and
/// returns the shrunk model, its config and a report.
pub fn shrink_structured<M: ShrinkUnits>(
    model: M,
    config: &M::Config,
    structured: &StructuredConfig,
) -> Result<(M, M::Config, StructuredReport), PruneError> {
    let groups = model.unit_groups(structured.importance);
    let keep = plan_units(&groups, structured)?;
    let parameters_before = model.num_params();
    let (shrunk, shrunk_config) = model.shrink_units(config, &keep)?;
    let report = StructuredReport {
        groups: groups
            .iter()
            .zip(&keep)
            .map(|(g, k)| GroupReport {
                name: g.name.clone(),
                before: g.scores.len(),
                after: k.len(),
            })
            .collect(),
        parameters_before,
        parameters_after: shrunk.num_params(),
    };
    Ok((shrunk, shrunk_config, report))
}

#[cfg(test)]
mod tests;

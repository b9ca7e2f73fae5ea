//! PAGCP: performance-aware global channel pruning of multitask networks (Ye, Zhang, Chen,
//! Fan & Wang, "Performance-aware Approximation of Global Channel Pruning for Multitask CNNs",
//! TPAMI 2023), as the official code runs it (HankYe/PAGCP @a39492b, `prune/sensitivity.py`,
//! `Sensitivity.__call__` and `get_ratio`, with `compress.py`'s settings):
//!
//! 1. each layer's FLOPs contribution: the FLOPs saved by removing 30 % of its filters (lowest
//!    L1 norm first) from the unpruned model;
//! 2. `λ` solving `Π_{i<L} (1 + rate·λ^i) = global threshold` (`ratio_compute`); the layers are
//!    visited by contribution, largest first when `λ ≤ 1`;
//! 3. layer by layer, on the model pruned so far: ratios 0.05, 0.10, …, 0.95 of its filters in
//!    turn; the first ratio at which any task's loss exceeds `(1 + threshold)` times its base
//!    loss stops the layer, which is pruned at the ratio before (none at the first); the
//!    threshold then shrinks by `λ` and each base loss becomes the larger of itself and the loss
//!    at the kept ratio;
//! 4. `get_ratio`: each pruned layer's loss increase per FLOP saved, the lowest `topk` share of
//!    the layers kept; the final model prunes those layers at their ratios, in visiting order.
//!
//! Filters are removed physically through [`ShrinkUnits`] (each unit group is one layer's
//! filters), scored by L1 norm as the official `L1Strategy`. The count removed at ratio `r` of
//! `n` filters is `⌊r·n⌋`, at most `n − 1`.

use tempering_core::compression::{ShrinkUnits, UnitImportance};

use crate::PruneError;

/// Settings of [`pagcp_prune`]; the defaults are the official code's.
#[derive(Clone, Debug, PartialEq)]
pub struct PagcpConfig {
    /// Smallest ratio tried (0.05).
    pub min_ratio: f64,
    /// Largest ratio tried (0.95).
    pub max_ratio: f64,
    /// Ratios tried, evenly spaced (19).
    pub steps: usize,
    /// The first layer's allowed relative loss increase (`--initial_rate`, 0.05).
    pub initial_rate: f64,
    /// The product `Π(1 + threshold_i)` the per-layer thresholds may reach
    /// (`--initial_thres`, 30).
    pub global_threshold: f64,
    /// Shrink each layer's threshold by `λ` (`--exp`, on).
    pub sequential: bool,
    /// Share of the layers whose ratios are kept (`--topk`, 0.8).
    pub topk: f64,
}

impl Default for PagcpConfig {
    fn default() -> Self {
        Self {
            min_ratio: 0.05,
            max_ratio: 0.95,
            steps: 19,
            initial_rate: 0.05,
            global_threshold: 30.0,
            sequential: true,
            topk: 0.8,
        }
    }
}

/// One layer's outcome.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PagcpLayer {
    /// The unit group (layer) name.
    pub name: String,
    /// Total loss at each ratio tried before the stop.
    pub losses: Vec<f64>,
    /// The task whose loss stopped the layer, if one did.
    pub stopped_by: Option<usize>,
    /// The ratio the layer is pruned at in the final model (`None`: not among the kept layers).
    pub ratio: Option<f64>,
    /// Filters before and after.
    pub filters: (usize, usize),
}

/// What [`pagcp_prune`] did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PagcpReport {
    /// `λ`.
    pub lambda: f64,
    /// The layers in visiting order.
    pub layers: Vec<PagcpLayer>,
    /// FLOPs before and after.
    pub flops: (f64, f64),
}

impl PagcpConfig {
    /// The ratios tried.
    pub fn ratios(&self) -> Vec<f64> {
        let n = self.steps.max(1);
        (0..n)
            .map(|i| match n {
                1 => self.min_ratio,
                _ => self.min_ratio + (self.max_ratio - self.min_ratio) * i as f64 / (n - 1) as f64,
            })
            .collect()
    }

    fn check(&self) -> Result<(), PruneError> {
        let fraction = |v: f64| v > 0.0 && v < 1.0;
        if !(fraction(self.min_ratio)
            && fraction(self.max_ratio)
            && self.min_ratio <= self.max_ratio)
        {
            return Err(PruneError::bad(
                "min_ratio/max_ratio",
                format!("need 0 < {} ≤ {} < 1", self.min_ratio, self.max_ratio),
            ));
        }
        if self.steps < 2 {
            return Err(PruneError::bad("steps", "at least 2 ratios"));
        }
        if !(self.initial_rate > 0.0 && self.global_threshold > 1.0 && self.topk > 0.0) {
            return Err(PruneError::bad(
                "initial_rate/global_threshold/topk",
                "need a positive rate, a global threshold above 1 and a positive topk",
            ));
        }
        Ok(())
    }
}

/// `λ` with `Π_{i<layers} (1 + rate·λ^i) = threshold` (the official `ratio_compute`, there by
/// `fsolve` from 1): the product grows with `λ`, so bisection finds it.
pub fn threshold_decay(rate: f64, layers: usize, threshold: f64) -> f64 {
    let product = |x: f64| (0..layers).fold(1.0, |p, i| p * (1.0 + rate * x.powi(i as i32)));
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while product(hi) < threshold && hi < 1e6 {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if product(mid) < threshold {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// `model` with `⌊ratio·n⌋` (at most `n − 1`) of group `g`'s `n` filters removed, lowest L1
/// first (ties by index), and its config.
fn prune_group<M: ShrinkUnits + Clone>(
    model: &M,
    config: &M::Config,
    g: usize,
    ratio: f64,
) -> Result<Option<(M, M::Config)>, PruneError>
where
    M::Config: Clone,
{
    let groups = model.unit_groups(UnitImportance::L1);
    let n = groups[g].scores.len();
    let count = ((ratio * n as f64 + 1e-9).floor() as usize).min(n.saturating_sub(1));
    if count == 0 {
        return Ok(None);
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| groups[g].scores[a].total_cmp(&groups[g].scores[b]));
    let mut kept: Vec<usize> = order[count..].to_vec();
    kept.sort_unstable();
    let keep: Vec<Vec<usize>> = groups
        .iter()
        .enumerate()
        .map(|(i, group)| match i == g {
            true => kept.clone(),
            false => (0..group.scores.len()).collect(),
        })
        .collect();
    Ok(Some(model.clone().shrink_units(config, &keep)?))
}

/// PAGCP on `model`: `task_losses(m)` gives each task's loss on the calibration data (summed
/// or averaged, the same way every time), `flops(m)` a forward pass's cost. Returns the pruned
/// model, its config and the report.
pub fn pagcp_prune<M: ShrinkUnits + Clone>(
    model: M,
    config: &M::Config,
    pagcp: &PagcpConfig,
    mut task_losses: impl FnMut(&M) -> Vec<f64>,
    flops: impl Fn(&M) -> f64,
) -> Result<(M, M::Config, PagcpReport), PruneError>
where
    M::Config: Clone,
{
    pagcp.check()?;
    let ratios = pagcp.ratios();
    let names: Vec<String> = model.unit_counts().into_iter().map(|(n, _)| n).collect();
    let base_flops = flops(&model);
    // 1. Each layer's FLOPs saved at 30 % from the unpruned model.
    let contribution: Vec<f64> = (0..names.len())
        .map(|g| {
            Ok(match prune_group(&model, config, g, 0.3)? {
                Some((m, _)) => base_flops - flops(&m),
                None => 0.0,
            })
        })
        .collect::<Result<_, PruneError>>()?;
    // 2. λ and the visiting order.
    let lambda = match pagcp.sequential {
        true => threshold_decay(pagcp.initial_rate, names.len(), pagcp.global_threshold),
        false => 1.0,
    };
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&a, &b| match lambda <= 1.0 {
        true => contribution[b].total_cmp(&contribution[a]),
        false => contribution[a].total_cmp(&contribution[b]),
    });
    // 3. Layer by layer on the model pruned so far.
    let mut base = task_losses(&model);
    let mut last = base.clone();
    let mut threshold = pagcp.initial_rate;
    let (mut pruned, mut pruned_config) = (model.clone(), config.clone());
    let mut records = Vec::new();
    for &g in &order {
        let base_total: f64 = base.iter().sum();
        let mut losses = Vec::new();
        let mut stopped_by = None;
        for (l, &r) in ratios.iter().enumerate() {
            let Some((trial, _)) = prune_group(&pruned, &pruned_config, g, r)? else {
                losses.push(base.iter().sum());
                continue;
            };
            let t = task_losses(&trial);
            let worst = (0..t.len())
                .max_by(|&a, &b| (t[a] / base[a]).total_cmp(&(t[b] / base[b])))
                .unwrap_or(0);
            if t[worst] / base[worst] > 1.0 + threshold {
                if l >= 1
                    && let Some((m, c)) = prune_group(&pruned, &pruned_config, g, ratios[l - 1])?
                {
                    (pruned, pruned_config) = (m, c);
                    threshold *= lambda;
                    for (b, &l) in base.iter_mut().zip(&last) {
                        *b = b.max(l);
                    }
                }
                stopped_by = Some(worst);
                break;
            }
            losses.push(t.iter().sum());
            last = t;
        }
        records.push((g, base_total, losses, stopped_by));
    }
    // 4. Loss increase per FLOP saved, the lowest topk share kept.
    let steps_taken =
        |losses: &Vec<f64>, stopped: Option<usize>| losses.len() + usize::from(stopped.is_some());
    let mut probe = model.clone();
    let mut probe_config = config.clone();
    let mut probe_flops = base_flops;
    let mut scored: Vec<(usize, f64)> = Vec::new();
    for (k, (g, base_total, losses, stopped)) in records.iter().enumerate() {
        let taken = steps_taken(losses, *stopped);
        if taken <= 1 {
            continue;
        }
        let r = ratios[taken - 2];
        if let Some((m, c)) = prune_group(&probe, &probe_config, *g, r)? {
            (probe, probe_config) = (m, c);
        }
        let fs = flops(&probe);
        // The official list's second-to-last entry: the loss at the ratio kept.
        let kept_loss = match stopped {
            Some(_) => losses[losses.len() - 1],
            None => losses[losses.len() - 2],
        };
        scored.push((k, (kept_loss - base_total) / (probe_flops - fs + 1e-20)));
        probe_flops = fs;
    }
    let mut ranked = scored.clone();
    ranked.sort_by(|a, b| a.1.total_cmp(&b.1));
    let keep_layers = ((records.len() as f64 * pagcp.topk) as usize).min(ranked.len());
    let mut chosen: Vec<usize> = ranked[..keep_layers].iter().map(|&(k, _)| k).collect();
    chosen.sort_unstable();
    // The final model: the chosen layers at their ratios, in visiting order.
    let (mut out, mut out_config) = (model.clone(), config.clone());
    let before: Vec<usize> = model.unit_counts().into_iter().map(|(_, n)| n).collect();
    let mut final_ratio = vec![None; records.len()];
    for &k in &chosen {
        let (g, _, losses, stopped) = &records[k];
        let r = ratios[steps_taken(losses, *stopped) - 2];
        final_ratio[k] = Some(r);
        if let Some((m, c)) = prune_group(&out, &out_config, *g, r)? {
            (out, out_config) = (m, c);
        }
    }
    let after: Vec<usize> = out.unit_counts().into_iter().map(|(_, n)| n).collect();
    let layers = records
        .into_iter()
        .zip(final_ratio)
        .map(|((g, _, losses, stopped_by), ratio)| PagcpLayer {
            name: names[g].clone(),
            losses,
            stopped_by,
            ratio,
            filters: (before[g], after[g]),
        })
        .collect();
    let report = PagcpReport {
        lambda,
        layers,
        flops: (base_flops, flops(&out)),
    };
    Ok((out, out_config, report))
}

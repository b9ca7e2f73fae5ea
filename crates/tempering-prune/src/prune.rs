//! Unstructured and N:M pruning of a checkpoint by tensor name: importance, allocation and
//! surgery in one pass over the file, with a per-tensor report and a provenance record.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::allocation::{count_at, min_keep_sparsities};
use crate::checkpoint::{Checkpoint, Format, Transform};
use crate::element::{ElementType, count_zeros, key_magnitude};
use crate::error::PruneError;
use crate::importance::Importance;
use crate::n_of_m::{Groups, default_axis};
use crate::provenance::{PROVENANCE_KEY, ProvenanceRecord, appended};
use crate::select::{self, Cut};
use crate::targets::{Skipped, select as select_targets};

/// A pruning method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Method {
    /// One magnitude threshold over all targeted weights (Global MP), optionally with the
    /// minimum threshold ([`PruneConfig::min_keep`]).
    GlobalMagnitude,
    /// The same sparsity in every tensor, smallest magnitudes first.
    LayerMagnitude,
    /// The same sparsity in every tensor, chosen at random: the control of magnitude pruning.
    Random,
    /// Keep the `n` largest magnitudes of every `m` consecutive weights along the input axis.
    NOfM {
        /// Weights kept per group.
        n: usize,
        /// Group size.
        m: usize,
    },
}

impl Method {
    /// The name the command line uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::GlobalMagnitude => "global-magnitude",
            Self::LayerMagnitude => "layer-magnitude",
            Self::Random => "random",
            Self::NOfM { .. } => "nm",
        }
    }
}

/// What to prune and how.
#[derive(Clone, Debug, PartialEq)]
pub struct PruneConfig {
    /// The method.
    pub method: Method,
    /// Fraction of the targeted weights to remove, in [0, 1]; N:M implies `1 - n/m`.
    pub sparsity: f64,
    /// Global MP's minimum threshold: every tensor keeps at least this percentage of all
    /// targeted weights (the paper's default is 0.05); `None` for plain Global MP.
    pub min_keep: Option<f64>,
    /// The N:M grouping axis for every tensor (default: [`default_axis`]).
    pub axis: Option<usize>,
    /// Seed of [`Method::Random`].
    pub seed: u64,
    /// Prune the float tensors whose names match this regex instead of the default targets.
    pub include: Option<String>,
    /// Leave the tensors whose names match this regex untouched.
    pub exclude: Option<String>,
}

impl PruneConfig {
    /// A config with the given method and sparsity and no other options.
    pub fn new(method: Method, sparsity: f64) -> Self {
        let sparsity = match method {
            Method::NOfM { n, m } if m > 0 => 1.0 - n as f64 / m as f64,
            _ => sparsity,
        };
        Self {
            method,
            sparsity,
            min_keep: None,
            axis: None,
            seed: 0,
            include: None,
            exclude: None,
        }
    }

    /// Sets [`min_keep`](Self::min_keep).
    pub fn with_min_keep(mut self, percent: Option<f64>) -> Self {
        self.min_keep = percent;
        self
    }

    /// Sets [`axis`](Self::axis).
    pub fn with_axis(mut self, axis: Option<usize>) -> Self {
        self.axis = axis;
        self
    }

    /// Sets [`seed`](Self::seed).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`include`](Self::include).
    pub fn with_include(mut self, pattern: Option<String>) -> Self {
        self.include = pattern;
        self
    }

    /// Sets [`exclude`](Self::exclude).
    pub fn with_exclude(mut self, pattern: Option<String>) -> Self {
        self.exclude = pattern;
        self
    }

    /// Checks every field, naming the option at fault.
    pub fn validate(&self) -> Result<(), PruneError> {
        // The N:M pattern first: it fixes the sparsity, so a bad pattern is the error to name.
        if let Method::NOfM { n, m } = self.method
            && (n == 0 || n >= m)
        {
            return Err(PruneError::bad(
                "--nm",
                format!("{n}:{m} must keep between 1 and M - 1 of every M"),
            ));
        }
        if !(0.0..=1.0).contains(&self.sparsity) {
            return Err(PruneError::bad(
                "--sparsity",
                format!(
                    "{} is not a fraction in [0, 1] (0.9 means 90 %)",
                    self.sparsity
                ),
            ));
        }
        if let Some(mt) = self.min_keep {
            if self.method != Method::GlobalMagnitude {
                return Err(PruneError::bad(
                    "--min-keep",
                    "applies to --method global-magnitude only",
                ));
            }
            if !(0.0..100.0).contains(&mt) {
                return Err(PruneError::bad(
                    "--min-keep",
                    format!("{mt} is not a percentage in [0, 100)"),
                ));
            }
        }
        match self.method {
            Method::NOfM { .. } => Ok(()),
            _ if self.axis.is_some() => {
                Err(PruneError::bad("--axis", "applies to --method nm only"))
            }
            _ => Ok(()),
        }
    }
}

/// Where the result goes.
#[derive(Clone, Copy, Debug)]
pub enum Output<'a> {
    /// Compute and report only.
    DryRun,
    /// Write a new checkpoint.
    File {
        /// Its path.
        path: &'a Path,
        /// Replace an existing file there (never the input).
        overwrite: bool,
    },
}

/// One pruned tensor.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TensorReport {
    /// Its name.
    pub name: String,
    /// Element type.
    pub dtype: ElementType,
    /// Shape.
    pub shape: Vec<usize>,
    /// Elements.
    pub elements: u64,
    /// Zero elements before.
    pub zeros_before: u64,
    /// Zero elements after.
    pub zeros_after: u64,
    /// The magnitude at which the cut fell (elements below it are pruned; equal ones may be);
    /// `None` for N:M and when nothing was cut.
    pub threshold: Option<f64>,
}

/// What a pruning pass did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PruneReport {
    /// The input checkpoint.
    pub input: PathBuf,
    /// The written checkpoint (`None` for a dry run).
    pub output: Option<PathBuf>,
    /// The format of both.
    pub format: Format,
    /// The method's name.
    pub method: &'static str,
    /// The requested sparsity over the targets.
    pub requested_sparsity: f64,
    /// Global MP's minimum threshold, percent.
    pub min_keep_percent: Option<f64>,
    /// Every targeted tensor.
    pub targets: Vec<TensorReport>,
    /// Every other tensor, with the reason.
    pub skipped: Vec<Skipped>,
    /// Elements of all floating-point tensors.
    pub float_elements: u64,
    /// Zero elements of all floating-point tensors after the pass.
    pub float_zeros_after: u64,
}

impl PruneReport {
    /// Elements of the targeted tensors.
    pub fn target_elements(&self) -> u64 {
        self.targets.iter().map(|t| t.elements).sum()
    }

    /// Fraction of the targeted weights that were zero before.
    pub fn target_sparsity_before(&self) -> f64 {
        self.targets.iter().map(|t| t.zeros_before).sum::<u64>() as f64
            / self.target_elements() as f64
    }

    /// Fraction of the targeted weights that are zero after.
    pub fn target_sparsity_after(&self) -> f64 {
        self.targets.iter().map(|t| t.zeros_after).sum::<u64>() as f64
            / self.target_elements() as f64
    }

    /// Fraction of all floating-point elements that are zero after.
    pub fn overall_sparsity_after(&self) -> f64 {
        self.float_zeros_after as f64 / self.float_elements.max(1) as f64
    }
}

/// Progress of a pass: the phase and bytes of targeted tensor data done out of the total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// `ranking`, `masking` or `writing`.
    pub phase: &'static str,
    /// Bytes done.
    pub done: u64,
    /// Bytes in the phase.
    pub total: u64,
}

/// Prunes the checkpoint at `input` and writes the result to `output` (see the crate docs).
pub fn prune_checkpoint(
    input: &Path,
    output: Output<'_>,
    config: &PruneConfig,
) -> Result<PruneReport, PruneError> {
    prune_checkpoint_with_progress(input, output, config, &mut |_| {})
}

/// [`prune_checkpoint`], reporting progress to `progress`.
pub fn prune_checkpoint_with_progress(
    input: &Path,
    output: Output<'_>,
    config: &PruneConfig,
    progress: &mut dyn FnMut(Progress),
) -> Result<PruneReport, PruneError> {
    config.validate()?;
    if let Output::File { path, overwrite } = output {
        crate::checkpoint::check_output(input, path, overwrite)?;
    }
    let checkpoint = Checkpoint::open(input)?;
    let planned = plan(&checkpoint, config, progress)?;
    let entries = checkpoint.entries();
    let target_bytes = planned.target_bytes(entries);
    let Planned {
        targets,
        skipped,
        plan,
        reports,
        transforms,
        ..
    } = planned;
    let replaced: HashMap<usize, Transform> = targets
        .iter()
        .zip(transforms)
        .filter_map(|(&i, transform)| transform.map(|t| (i, t)))
        .collect();

    let float_elements: u64 = entries
        .iter()
        .filter(|e| e.element.is_float())
        .map(|e| e.elements() as u64)
        .sum();
    let untouched_zeros: u64 = entries
        .iter()
        .enumerate()
        .filter(|(i, e)| e.element.is_float() && targets.binary_search(i).is_err())
        .map(|(i, e)| count_zeros(e.element, checkpoint.data(i)))
        .sum();
    let float_zeros_after = untouched_zeros + reports.iter().map(|r| r.zeros_after).sum::<u64>();
    let report = PruneReport {
        input: input.to_path_buf(),
        output: match output {
            Output::DryRun => None,
            Output::File { path, .. } => Some(path.to_path_buf()),
        },
        format: checkpoint.format(),
        method: config.method.name(),
        requested_sparsity: config.sparsity,
        min_keep_percent: config.min_keep,
        targets: reports,
        skipped,
        float_elements,
        float_zeros_after,
    };
    if let Output::File { path, overwrite } = output {
        let record = record(input, config, &report, &plan, &targets, entries);
        let value =
            appended(checkpoint.metadata(), record).map_err(|reason| PruneError::Corrupt {
                path: input.to_path_buf(),
                format: checkpoint.format().name(),
                reason,
            })?;
        progress(Progress {
            phase: "writing",
            done: 0,
            total: target_bytes,
        });
        let added = BTreeMap::from([(PROVENANCE_KEY.to_string(), value)]);
        checkpoint.write_to(path, replaced, &added, overwrite)?;
        progress(Progress {
            phase: "writing",
            done: target_bytes,
            total: target_bytes,
        });
    }
    Ok(report)
}

/// Importance and allocation decided for every target, before anything is written.
pub(crate) struct Planned {
    /// Indices of the targets into the checkpoint's entries, ascending.
    pub(crate) targets: Vec<usize>,
    /// The other tensors, with their reasons.
    pub(crate) skipped: Vec<Skipped>,
    /// The score behind the cuts.
    pub(crate) importance: Importance,
    /// How each target is cut.
    pub(crate) plan: Plan,
    /// One report per target.
    pub(crate) reports: Vec<TensorReport>,
    /// Per target, the transform that zeroes it (`None` where nothing non-zero is cut).
    pub(crate) transforms: Vec<Option<Transform>>,
}

impl Planned {
    fn target_bytes(&self, entries: &[crate::checkpoint::TensorEntry]) -> u64 {
        self.targets
            .iter()
            .map(|&i| entries[i].byte_len as u64)
            .sum()
    }

    /// Which elements of target `t` survive (`false` where the cut falls, zeros included).
    pub(crate) fn keep_mask(
        &self,
        checkpoint: &Checkpoint,
        t: usize,
    ) -> Result<Vec<bool>, PruneError> {
        let e = &checkpoint.entries()[self.targets[t]];
        let mut keys = Vec::new();
        self.importance.keys_into(
            &e.name,
            e.element,
            checkpoint.data(self.targets[t]),
            &mut keys,
        )?;
        let mut keep = vec![true; keys.len()];
        match &self.plan {
            Plan::Cuts(cuts) => {
                select::apply(cuts[t], &keys, |i| keep[i] = false);
            }
            Plan::Groups(groups) => {
                groups[t].0.prune(&keys, |i| keep[i] = false);
            }
        }
        Ok(keep)
    }
}

/// Ranks and allocates: the cut of every target of `checkpoint` under `config` (validated).
pub(crate) fn plan(
    checkpoint: &Checkpoint,
    config: &PruneConfig,
    progress: &mut dyn FnMut(Progress),
) -> Result<Planned, PruneError> {
    let (targets, skipped) = select_targets(
        checkpoint,
        config.include.as_deref(),
        config.exclude.as_deref(),
    )?;
    let entries = checkpoint.entries();
    let importance = match config.method {
        Method::Random => Importance::Random { seed: config.seed },
        _ => Importance::Magnitude,
    };
    let keys_of = |t: usize, buf: &mut Vec<u32>| {
        let e = &entries[targets[t]];
        importance.keys_into(&e.name, e.element, checkpoint.data(targets[t]), buf)
    };
    let visit = |t: usize, buf: &mut Vec<u32>, f: &mut dyn FnMut(&[u32])| {
        let e = &entries[targets[t]];
        importance.visit_keys(&e.name, e.element, checkpoint.data(targets[t]), buf, f)
    };
    let key_at = |t: usize, index: u64| {
        let e = &entries[targets[t]];
        importance.key_at(&e.name, e.element, checkpoint.data(targets[t]), index)
    };
    let target_bytes: u64 = targets.iter().map(|&i| entries[i].byte_len as u64).sum();
    progress(Progress {
        phase: "ranking",
        done: 0,
        total: target_bytes,
    });
    let sizes: Vec<u64> = targets
        .iter()
        .map(|&i| entries[i].elements() as u64)
        .collect();
    // Per target, how many keys are 0, where the selection counted them.
    let mut zero_keys = None;
    let plan = match config.method {
        Method::GlobalMagnitude => {
            let total: u64 = sizes.iter().sum();
            let selection =
                select::smallest(&sizes, count_at(config.sparsity, total), key_at, visit)?;
            zero_keys = Some(selection.zero_keys);
            let cuts = selection.cuts;
            match config.min_keep {
                None => Plan::Cuts(cuts),
                Some(mt) => {
                    let global: Vec<f64> = cuts
                        .iter()
                        .zip(&sizes)
                        .map(|(c, &n)| c.pruned as f64 / n as f64)
                        .collect();
                    let per_layer = min_keep_sparsities(&sizes, &global, config.sparsity, mt)?;
                    Plan::Cuts(per_tensor_cuts(&sizes, &per_layer, key_at, visit)?.0)
                }
            }
        }
        Method::LayerMagnitude | Method::Random => {
            let (cuts, zeros) =
                per_tensor_cuts(&sizes, &vec![config.sparsity; sizes.len()], key_at, visit)?;
            zero_keys = Some(zeros);
            Plan::Cuts(cuts)
        }
        Method::NOfM { n, m } => Plan::Groups(
            targets
                .iter()
                .map(|&i| {
                    let e = &entries[i];
                    let axis = config.axis.unwrap_or_else(|| default_axis(e.shape.len()));
                    Groups::new(&e.name, &e.shape, axis, n, m).map(|g| (g, axis))
                })
                .collect::<Result<_, _>>()?,
        ),
    };

    // Per tensor in parallel: the report, and the transform that zeroes it when written.
    let per_target: Vec<(TensorReport, Option<Transform>)> = targets
        .par_iter()
        .enumerate()
        .map_init(Vec::new, |keys, (t, &i)| {
            let e = &entries[i];
            let (zeros_before, newly, threshold, cut) = match (&plan, &zero_keys) {
                // Magnitude cuts take the smallest keys first, so the zeros (key 0) are the
                // first pruned: no pass over the data is needed.
                (Plan::Cuts(cuts), Some(zeros)) if importance == Importance::Magnitude => {
                    let threshold = (cuts[t].pruned > 0).then(|| key_magnitude(cuts[t].threshold));
                    let newly = cuts[t].pruned.saturating_sub(zeros[t]);
                    (zeros[t], newly, threshold, Surgery::Cut(cuts[t]))
                }
                _ => {
                    keys_of(t, keys)?;
                    // Which elements are zero: magnitude keys of 0 (random keys say nothing).
                    let mut magnitudes = Vec::new();
                    let zero_key: &[u32] = if importance == Importance::Magnitude {
                        keys
                    } else {
                        Importance::Magnitude.keys_into(
                            &e.name,
                            e.element,
                            checkpoint.data(i),
                            &mut magnitudes,
                        )?;
                        &magnitudes
                    };
                    let zeros_before = zero_key.iter().filter(|&&k| k == 0).count() as u64;
                    // Elements already zero stay bit-identical (a -0.0 is not rewritten):
                    // count only the others.
                    let mut newly = 0u64;
                    let count = |index: usize| newly += u64::from(zero_key[index] != 0);
                    let (threshold, cut) = match &plan {
                        Plan::Cuts(cuts) => {
                            select::apply(cuts[t], keys, count);
                            // A random key is no magnitude: random pruning has no threshold.
                            let threshold = (cuts[t].pruned > 0
                                && importance == Importance::Magnitude)
                                .then(|| key_magnitude(cuts[t].threshold));
                            (threshold, Surgery::Cut(cuts[t]))
                        }
                        Plan::Groups(groups) => {
                            groups[t].0.prune(keys, count);
                            (None, Surgery::Groups(groups[t].0))
                        }
                    };
                    (zeros_before, newly, threshold, cut)
                }
            };
            let transform = (newly > 0).then(|| {
                surgery(
                    importance,
                    e.name.clone(),
                    e.element,
                    cut,
                    checkpoint.data(i),
                )
            });
            let report = TensorReport {
                name: e.name.clone(),
                dtype: e.element,
                shape: e.shape.clone(),
                elements: e.elements() as u64,
                zeros_before,
                zeros_after: zeros_before + newly,
                threshold,
            };
            Ok((report, transform))
        })
        .collect::<Result<_, PruneError>>()?;
    progress(Progress {
        phase: "masking",
        done: target_bytes,
        total: target_bytes,
    });
    let (reports, transforms) = per_target.into_iter().unzip();
    Ok(Planned {
        targets,
        skipped,
        importance,
        plan,
        reports,
        transforms,
    })
}

/// How each target is cut.
pub(crate) enum Plan {
    Cuts(Vec<Cut>),
    Groups(Vec<(Groups, usize)>),
}

/// What a transform does to one tensor.
#[derive(Clone, Copy)]
enum Surgery {
    Cut(Cut),
    Groups(Groups),
}

/// The transform that zeroes the pruned elements of one tensor when the output is written:
/// it ranks the original bytes again (cheaper than holding every tensor's mask) and copies them
/// with the pruned non-zero elements set to zero bytes. A cut is decided element by element
/// (a key below the threshold, or a tie at it before `tie_end`), so the tensor streams through
/// windows; N:M groups need the whole tensor.
fn surgery(
    importance: Importance,
    name: String,
    element: ElementType,
    cut: Surgery,
    original: &[u8],
) -> Transform {
    let size = element.float_size().expect("targets are float tensors");
    match cut {
        Surgery::Cut(cut) => {
            let tie_end = tie_end(importance, &name, element, cut, original);
            Transform::Windowed(Arc::new(
                move |first: u64, window: &[u8], out: &mut [u8]| {
                    // The common case in one pass that copies as it cuts, no keys buffer.
                    if importance == Importance::Magnitude && element == ElementType::F32 {
                        select::copy_cut_f32_magnitude_window(cut, tie_end, first, window, out);
                        return;
                    }
                    out.copy_from_slice(window);
                    KEYS.with_borrow_mut(|keys| {
                        importance.fill_keys_from(&name, element, window, first, keys);
                        match size {
                            2 => select::zero_cut_window::<2>(cut, tie_end, first, keys, out),
                            4 => select::zero_cut_window::<4>(cut, tie_end, first, keys, out),
                            _ => select::zero_cut_window::<8>(cut, tie_end, first, keys, out),
                        }
                    })
                },
            ))
        }
        Surgery::Groups(groups) => {
            Transform::Whole(Arc::new(move |original: &[u8], out: &mut Vec<u8>| {
                out.clear();
                out.extend_from_slice(original);
                KEYS.with_borrow_mut(|keys| {
                    importance.fill_keys(&name, element, original, keys);
                    groups.prune(keys, |index| {
                        if keys[index] != 0 {
                            out[index * size..(index + 1) * size].fill(0);
                        }
                    });
                })
            }))
        }
    }
}

/// The index just past the last element that `cut` prunes at its threshold: ties are taken in
/// index order, so an element whose key equals the threshold is pruned exactly when it lies
/// before this index. 0 without ties.
fn tie_end(
    importance: Importance,
    name: &str,
    element: ElementType,
    cut: Cut,
    original: &[u8],
) -> u64 {
    if cut.ties == 0 {
        return 0;
    }
    // Count the threshold's keys per block, a batch of blocks at a time in parallel, until
    // the ties run out; then find the element in that block.
    const BLOCK: usize = 1 << 18;
    const BATCH: usize = 8;
    let size = element.float_size().expect("targets are float tensors");
    let blocks: Vec<&[u8]> = original.chunks(BLOCK * size).collect();
    let equal_in = |b: usize, keys: &mut Vec<u32>| {
        if importance == Importance::Magnitude && element == ElementType::F32 {
            return select::count_f32_magnitude_equal(blocks[b], cut.threshold);
        }
        importance.fill_keys_from(name, element, blocks[b], (b * BLOCK) as u64, keys);
        keys.iter().filter(|&&k| k == cut.threshold).count() as u64
    };
    let mut remaining = cut.ties;
    let mut keys = Vec::new();
    for batch in (0..blocks.len()).step_by(BATCH) {
        let counts: Vec<u64> = (batch..(batch + BATCH).min(blocks.len()))
            .into_par_iter()
            .map_init(Vec::new, |keys, b| equal_in(b, keys))
            .collect();
        let mut found = None;
        for (offset, &count) in counts.iter().enumerate() {
            if count >= remaining {
                found = Some(batch + offset);
                break;
            }
            remaining -= count;
        }
        let Some(b) = found else {
            continue;
        };
        importance.fill_keys_from(name, element, blocks[b], (b * BLOCK) as u64, &mut keys);
        for (k, &key) in keys.iter().enumerate() {
            if key == cut.threshold {
                remaining -= 1;
                if remaining == 0 {
                    return (b * BLOCK + k + 1) as u64;
                }
            }
        }
    }
    // The plan counted `ties` keys at the threshold; the bytes are the same.
    unreachable!("tensor '{name}' has fewer keys at the threshold than its cut takes")
}

thread_local! {
    /// The keys buffer of [`surgery`], reused from window to window.
    static KEYS: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Cuts at a given sparsity per tensor, each tensor ranked on its own, and each tensor's
/// count of zero keys.
fn per_tensor_cuts(
    sizes: &[u64],
    sparsities: &[f64],
    key_at: impl Fn(usize, u64) -> u32 + Sync,
    visit: impl Fn(usize, &mut Vec<u32>, &mut dyn FnMut(&[u32])) -> Result<(), PruneError> + Sync,
) -> Result<(Vec<Cut>, Vec<u64>), PruneError> {
    let one: Vec<(Cut, u64)> = (0..sizes.len())
        .into_par_iter()
        .map(|t| {
            let k = count_at(sparsities[t], sizes[t]);
            select::smallest(
                &sizes[t..=t],
                k,
                |_, index| key_at(t, index),
                |_, buf, f| visit(t, buf, f),
            )
            .map(|s| (s.cuts[0], s.zero_keys[0]))
        })
        .collect::<Result<_, _>>()?;
    Ok(one.into_iter().unzip())
}

fn record(
    input: &Path,
    config: &PruneConfig,
    report: &PruneReport,
    plan: &Plan,
    targets: &[usize],
    entries: &[crate::checkpoint::TensorEntry],
) -> ProvenanceRecord {
    ProvenanceRecord {
        tool: format!("tempering {}", env!("CARGO_PKG_VERSION")),
        operation: "prune".to_string(),
        method: config.method.name().to_string(),
        sparsity: config.sparsity,
        min_keep_percent: config.min_keep,
        n_of_m: match config.method {
            Method::NOfM { n, m } => Some((n, m)),
            _ => None,
        },
        seed: (config.method == Method::Random).then_some(config.seed),
        include: config.include.clone(),
        exclude: config.exclude.clone(),
        input: input
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        input_bytes: std::fs::metadata(input).map_or(0, |m| m.len()),
        unix_time: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        zeros: report
            .targets
            .iter()
            .map(|t| (t.name.clone(), t.zeros_after))
            .collect(),
        n_of_m_axes: match plan {
            Plan::Groups(groups) => targets
                .iter()
                .zip(groups)
                .map(|(&i, (_, axis))| (entries[i].name.clone(), *axis))
                .collect(),
            Plan::Cuts(_) => BTreeMap::new(),
        },
    }
}

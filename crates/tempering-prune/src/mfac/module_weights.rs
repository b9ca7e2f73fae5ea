//! The weights M-FAC prunes, as one flat vector over a module: selection by the same rule as
//! `tempering prune`, gradients and values read in that layout, new values written back.

use std::collections::{HashMap, HashSet};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Tensor, TensorData};

use crate::error::PruneError;
use crate::module_masks::{ModuleMasks, collect_weights, in_memory_checkpoint};
use crate::targets::select;

/// One targeted weight: where it sits in the flat vector.
struct Target {
    id: ParamId,
    name: String,
    shape: Vec<usize>,
    offset: usize,
    len: usize,
}

/// The targeted weights of a module, in visit order.
pub(super) struct TargetWeights {
    targets: Vec<Target>,
    by_id: HashMap<ParamId, usize>,
    len: usize,
}

impl TargetWeights {
    /// The weights `tempering prune` would target with these patterns.
    pub(super) fn select<M: Module>(
        module: &M,
        include: Option<&str>,
        exclude: Option<&str>,
    ) -> Result<Self, PruneError> {
        let weights = collect_weights(module)?;
        let checkpoint = in_memory_checkpoint(&weights)?;
        let (chosen, _) = select(&checkpoint, include, exclude)?;
        let names: HashSet<&str> = chosen
            .iter()
            .map(|&i| checkpoint.entries()[i].name.as_str())
            .collect();
        let mut targets = Vec::new();
        let mut offset = 0;
        for w in weights.iter().filter(|w| names.contains(w.name.as_str())) {
            let len = w.shape.iter().product();
            targets.push(Target {
                id: w.id,
                name: w.name.clone(),
                shape: w.shape.clone(),
                offset,
                len,
            });
            offset += len;
        }
        let by_id = targets.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
        Ok(Self {
            targets,
            by_id,
            len: offset,
        })
    }

    /// Names in visit order.
    pub(super) fn names(&self) -> Vec<String> {
        self.targets.iter().map(|t| t.name.clone()).collect()
    }

    /// The keep mask over the flat vector: `previous` masks where they cover a weight.
    pub(super) fn keep(&self, previous: Option<&ModuleMasks>) -> Vec<bool> {
        let mut keep = vec![true; self.len];
        for t in &self.targets {
            if let Some(k) = previous.and_then(|p| p.keep(t.id))
                && k.len() == t.len
            {
                keep[t.offset..t.offset + t.len].copy_from_slice(k);
            }
        }
        keep
    }

    /// The targeted weights' current values, flat.
    pub(super) fn flat_values<M: Module>(&self, module: &M) -> Result<Vec<f32>, PruneError> {
        let mut out = vec![0.0f32; self.len];
        for w in collect_weights(module)? {
            if let Some(&i) = self.by_id.get(&w.id) {
                let t = &self.targets[i];
                out[t.offset..t.offset + t.len].copy_from_slice(&w.values());
            }
        }
        Ok(out)
    }

    /// The gradients of the targeted weights in `grads`, flat; every target must have one.
    pub(super) fn flat_gradient<M: Module>(
        &self,
        module: &M,
        grads: &GradientsParams,
    ) -> Result<Vec<f32>, PruneError> {
        let mut visitor = ReadGradients {
            weights: self,
            grads,
            out: vec![0.0; self.len],
            error: None,
        };
        module.visit(&mut visitor);
        match visitor.error {
            Some(e) => Err(e),
            None => Ok(visitor.out),
        }
    }

    /// `module` with the targeted weights set to `values` (the flat layout).
    pub(super) fn write<M: Module>(&self, module: M, values: &[f32]) -> M {
        module.map(&mut WriteValues {
            weights: self,
            values,
        })
    }

    /// Masks that keep what `keep` keeps.
    pub(super) fn masks(&self, keep: &[bool]) -> ModuleMasks {
        ModuleMasks::from_keep(
            self.targets
                .iter()
                .map(|t| {
                    (
                        t.id,
                        t.name.clone(),
                        t.shape.clone(),
                        keep[t.offset..t.offset + t.len].to_vec(),
                    )
                })
                .collect(),
        )
    }
}

struct ReadGradients<'a> {
    weights: &'a TargetWeights,
    grads: &'a GradientsParams,
    out: Vec<f32>,
    error: Option<PruneError>,
}

impl ModuleVisitor for ReadGradients<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(&i) = self.weights.by_id.get(&param.id) else {
            return;
        };
        let t = &self.weights.targets[i];
        let Some(grad) = self.grads.get::<D>(param.id) else {
            self.error.get_or_insert(PruneError::bad(
                "gradients",
                format!(
                    "no gradient for '{}': the loss must depend on every pruned weight",
                    t.name
                ),
            ));
            return;
        };
        match grad.into_data().convert::<f32>().try_into_vec::<f32>() {
            Ok(values) if values.len() == t.len => {
                self.out[t.offset..t.offset + t.len].copy_from_slice(&values)
            }
            _ => {
                self.error.get_or_insert(PruneError::bad(
                    "gradients",
                    format!("the gradient of '{}' cannot be read", t.name),
                ));
            }
        }
    }
}

struct WriteValues<'a> {
    weights: &'a TargetWeights,
    values: &'a [f32],
}

impl ModuleMapper for WriteValues<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(&i) = self.weights.by_id.get(&param.id) else {
            return param;
        };
        let t = &self.weights.targets[i];
        let values = self.values[t.offset..t.offset + t.len].to_vec();
        param.map(|tensor| {
            let tracked = tensor.is_require_grad();
            let autodiff = tensor.is_autodiff();
            let dims = tensor.dims();
            let device = tensor.inner().device();
            let fresh = Tensor::<D>::from_data(TensorData::new(values, dims), &device);
            let fresh = if autodiff { fresh.autodiff() } else { fresh };
            if tracked { fresh.require_grad() } else { fresh }
        })
    }
}

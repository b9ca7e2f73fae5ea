//! Pruning masks over a Burn module's parameters, for fine-tuning that never regrows what was
//! pruned.
//!
//! [`ModuleMasks::compute`] runs the same importance and allocation as the checkpoint pass
//! ([`prune_checkpoint`](crate::prune_checkpoint)) over the module's weights, named by module
//! path (`hidden.0.weight`), so `--include`/`--exclude` patterns and the default targets mean the
//! same thing in both. Fine-tuning then keeps the mask in force (Gupta et al. 2022, §3: "the
//! mask is re-applied after every optimizer step"):
//! - [`ModuleMasks::step`] masks the gradients, steps the optimizer and zeroes the pruned
//!   weights again, so a pruned weight stays exactly zero whatever the optimizer does (weight
//!   decay, momentum, Adam's bias correction);
//! - [`ModuleMasks::mask_optimizer`] zeroes the pruned entries of the optimizer's moments, so
//!   a state carried over from dense training carries no momentum into pruned weights.
//!
//! ```
//! use burn::module::Module;
//! use burn::nn::{Linear, LinearConfig};
//! use burn::tensor::Device;
//! use tempering_prune::{Method, ModuleMasks, PruneConfig};
//!
//! #[derive(Module, Debug)]
//! struct Net {
//!     hidden: Linear,
//!     out: Linear,
//! }
//!
//! let device = Device::default();
//! let net = Net {
//!     hidden: LinearConfig::new(16, 32).init(&device),
//!     out: LinearConfig::new(32, 4).init(&device),
//! };
//! let config = PruneConfig::new(Method::GlobalMagnitude, 0.8).with_min_keep(Some(0.05));
//! let masks = ModuleMasks::compute(&net, &config)?;
//! let net = masks.apply(net);
//! assert!((masks.sparsity() - 0.8).abs() < 1e-3);
//! # Ok::<(), tempering_prune::PruneError>(())
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Bytes, Device, Tensor, TensorData};

use crate::checkpoint::{Checkpoint, Transform};
use crate::error::PruneError;
use crate::prune::{PruneConfig, plan};

/// The mask of one parameter.
struct Mask {
    name: String,
    shape: Vec<usize>,
    keep: Arc<Vec<bool>>,
    pruned: u64,
    /// The mask as 0/1 floats, made once per device it is used on.
    on_device: Mutex<Vec<(Device, Tensor<1>)>>,
}

impl Mask {
    fn new(name: String, shape: Vec<usize>, keep: Vec<bool>) -> Self {
        let pruned = keep.iter().filter(|&&k| !k).count() as u64;
        Self {
            name,
            shape,
            keep: Arc::new(keep),
            pruned,
            on_device: Mutex::new(Vec::new()),
        }
    }

    /// `tensor` with the pruned elements zeroed, outside any autodiff graph (a fresh leaf
    /// when `tensor` used autodiff).
    fn zero<const D: usize>(&self, tensor: Tensor<D>) -> Tensor<D> {
        let autodiff = tensor.is_autodiff();
        let inner = tensor.inner();
        let keep = self.tensor(&inner.device(), inner.dims());
        let zeroed = inner * keep;
        if autodiff { zeroed.autodiff() } else { zeroed }
    }

    fn tensor<const D: usize>(&self, device: &Device, dims: [usize; D]) -> Tensor<D> {
        let mut cache = self.on_device.lock().unwrap_or_else(|e| e.into_inner());
        let flat = match cache.iter().find(|(d, _)| d == device) {
            Some((_, t)) => t.clone(),
            None => {
                let values: Vec<f32> = self.keep.iter().map(|&k| f32::from(u8::from(k))).collect();
                let n = values.len();
                let t = Tensor::<1>::from_data(TensorData::new(values, [n]), device);
                cache.push((device.clone(), t.clone()));
                t
            }
        };
        flat.reshape(dims)
    }
}

/// Which weights of a module are pruned, by parameter (see the module docs).
pub struct ModuleMasks {
    masks: HashMap<ParamId, Mask>,
}

impl ModuleMasks {
    /// Ranks and allocates over the weights of `module` as [`prune_checkpoint`]
    /// (crate::prune_checkpoint) would over its checkpoint, and returns the masks; the module
    /// is not changed (see [`apply`](Self::apply)).
    ///
    /// The weights are copied to host memory once, as `f32`, for the ranking.
    pub fn compute<M: Module>(module: &M, config: &PruneConfig) -> Result<Self, PruneError> {
        config.validate()?;
        let weights = collect_weights(module)?;
        let checkpoint = in_memory_checkpoint(&weights)?;
        let planned = plan(&checkpoint, config, &mut |_| {})?;
        let by_name: HashMap<&str, &Weight> =
            weights.iter().map(|w| (w.name.as_str(), w)).collect();
        let mut masks = HashMap::with_capacity(planned.targets.len());
        for (t, &i) in planned.targets.iter().enumerate() {
            let weight = by_name[checkpoint.entries()[i].name.as_str()];
            let keep = planned.keep_mask(&checkpoint, t)?;
            masks.insert(
                weight.id,
                Mask::new(weight.name.clone(), weight.shape.clone(), keep),
            );
        }
        Ok(Self { masks })
    }

    /// Masks from explicit keep vectors: `(parameter, name, shape, keep)`.
    pub(crate) fn from_keep(entries: Vec<(ParamId, String, Vec<usize>, Vec<bool>)>) -> Self {
        let masks = entries
            .into_iter()
            .map(|(id, name, shape, keep)| (id, Mask::new(name, shape, keep)))
            .collect();
        Self { masks }
    }

    /// Random masks of the same sparsity, tensor by tensor: each tensor keeps as many weights
    /// as in `self`, at positions drawn uniformly (a Fisher–Yates shuffle of its mask, seeded
    /// by `seed` and the tensor's name). The control of a lottery ticket: the same layer-wise
    /// sparsity without the ticket's choice of weights.
    pub fn shuffled(&self, seed: u64) -> Self {
        let masks = self
            .masks
            .iter()
            .map(|(&id, mask)| {
                let name_hash = mask.name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                });
                let mut rng = tempering_core::split_mix::SplitMix64::new(seed ^ name_hash);
                let mut keep = mask.keep.as_ref().clone();
                for i in (1..keep.len()).rev() {
                    keep.swap(i, rng.below(i + 1));
                }
                (id, Mask::new(mask.name.clone(), mask.shape.clone(), keep))
            })
            .collect();
        Self { masks }
    }

    /// Masks whose pruned weights are those of `self` or `other`: the union of what both
    /// prune, so a gradual schedule never lets a weight back in.
    pub fn union(self, other: &ModuleMasks) -> Self {
        let masks = self
            .masks
            .into_iter()
            .map(|(id, mask)| match other.masks.get(&id) {
                Some(o) if o.keep.len() == mask.keep.len() => {
                    let keep = mask.keep.iter().zip(o.keep.iter()).map(|(&a, &b)| a && b);
                    (id, Mask::new(mask.name, mask.shape, keep.collect()))
                }
                _ => (id, mask),
            })
            .collect();
        Self { masks }
    }

    /// Zeroes the pruned weights of `module`.
    pub fn apply<M: Module>(&self, module: M) -> M {
        module.map(&mut ZeroPruned { masks: self })
    }

    /// Zeroes the gradients of the pruned weights in `grads`.
    pub fn mask_gradients<M: Module>(&self, module: &M, grads: &mut GradientsParams) {
        module.visit(&mut MaskGradients { masks: self, grads });
    }

    /// One masked optimizer step: gradients masked, `optimizer` stepped at `lr`, pruned weights
    /// zeroed again.
    pub fn step<M: Module>(
        &self,
        optimizer: &mut ModuleOptimizer,
        lr: f64,
        module: M,
        mut grads: GradientsParams,
    ) -> M {
        self.mask_gradients(&module, &mut grads);
        let module = optimizer.step(lr, module, grads);
        self.apply(module)
    }

    /// Zeroes the pruned entries of every state tensor of `optimizer` that has its
    /// parameter's shape (Adam's moments, SGD's momentum, …); scalars and other state stay
    /// as they are.
    pub fn mask_optimizer(
        &self,
        optimizer: ModuleOptimizer,
    ) -> Result<ModuleOptimizer, PruneError> {
        let record = optimizer.into_bytes().map_err(|e| {
            PruneError::bad("optimizer", format!("cannot serialize its state: {e}"))
        })?;
        let checkpoint = Checkpoint::from_bytes(Path::new("<optimizer state>"), record.to_vec())?;
        let by_param: HashMap<u64, &Mask> =
            self.masks.iter().map(|(id, m)| (id.val(), m)).collect();
        let replaced: HashMap<usize, Transform> = checkpoint
            .entries()
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                let mask = by_param.get(&e.param_id?)?;
                let size = e.element.float_size()?;
                (e.elements() == mask.keep.len() && mask.pruned > 0)
                    .then(|| (i, zero_pruned_bytes(mask.keep.clone(), size)))
            })
            .collect();
        let bytes = checkpoint.burnpack_bytes(replaced)?;
        optimizer
            .from_bytes(Bytes::from_bytes_vec(bytes))
            .map_err(|e| PruneError::bad("optimizer", format!("cannot load its masked state: {e}")))
    }

    /// Fraction of the targeted weights that are pruned.
    pub fn sparsity(&self) -> f64 {
        let (pruned, total) = self.masks.values().fold((0u64, 0u64), |(p, n), m| {
            (p + m.pruned, n + m.keep.len() as u64)
        });
        pruned as f64 / total.max(1) as f64
    }

    /// Every masked parameter: name, shape and pruned elements, sorted by name.
    pub fn per_tensor(&self) -> Vec<(String, Vec<usize>, u64)> {
        let mut all: Vec<_> = self
            .masks
            .values()
            .map(|m| (m.name.clone(), m.shape.clone(), m.pruned))
            .collect();
        all.sort();
        all
    }

    /// Which elements of the parameter `id` are kept (row-major), if it is masked.
    pub fn keep(&self, id: ParamId) -> Option<&[bool]> {
        self.masks.get(&id).map(|m| m.keep.as_slice())
    }
}

impl std::fmt::Debug for ModuleMasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleMasks")
            .field("sparsity", &self.sparsity())
            .field("per_tensor", &self.per_tensor())
            .finish()
    }
}

/// The transform that zeroes the pruned elements of a state tensor, window by window.
fn zero_pruned_bytes(keep: Arc<Vec<bool>>, size: usize) -> Transform {
    Transform::Windowed(Arc::new(
        move |first: u64, original: &[u8], out: &mut [u8]| {
            out.copy_from_slice(original);
            let keep = &keep[first as usize..];
            for (chunk, &k) in out.chunks_exact_mut(size).zip(keep) {
                if !k {
                    chunk.fill(0);
                }
            }
        },
    ))
}

/// One float parameter, copied to the host.
pub(crate) struct Weight {
    pub(crate) id: ParamId,
    pub(crate) name: String,
    pub(crate) shape: Vec<usize>,
    /// `f32`, little-endian.
    pub(crate) bytes: Vec<u8>,
}

impl Weight {
    /// The values.
    pub(crate) fn values(&self) -> Vec<f32> {
        self.bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }
}

pub(crate) fn collect_weights<M: Module>(module: &M) -> Result<Vec<Weight>, PruneError> {
    let mut visitor = CollectWeights::default();
    module.visit(&mut visitor);
    visitor.error.map_or(Ok(visitor.weights), Err)
}

#[derive(Default)]
struct CollectWeights {
    path: Vec<String>,
    weights: Vec<Weight>,
    error: Option<PruneError>,
}

impl ModuleVisitor for CollectWeights {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let name = self.path.join(".");
        let tensor = param.val();
        let shape = tensor.dims().to_vec();
        match tensor.into_data().convert::<f32>().try_into_vec::<f32>() {
            Ok(values) => self.weights.push(Weight {
                id: param.id,
                name,
                shape,
                bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            }),
            Err(e) => {
                self.error.get_or_insert(PruneError::bad(
                    "module",
                    format!("cannot read parameter '{name}': {e:?}"),
                ));
            }
        }
    }
}

/// The weights as a safetensors file in memory, so the checkpoint pass's ranking runs on them.
pub(crate) fn in_memory_checkpoint(weights: &[Weight]) -> Result<Checkpoint, PruneError> {
    let views = weights
        .iter()
        .map(|w| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, w.shape.clone(), &w.bytes)
                .map(|view| (w.name.as_str(), view))
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|views| safetensors::serialize(views, None))
        .map_err(|e| PruneError::bad("module", format!("cannot lay out its weights: {e}")))?;
    Checkpoint::from_bytes(Path::new("<module>"), views)
}

struct ZeroPruned<'a> {
    masks: &'a ModuleMasks,
}

impl ModuleMapper for ZeroPruned<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(mask) = self.masks.masks.get(&param.id) else {
            return param;
        };
        param.map(|tensor| {
            let tracked = tensor.is_require_grad();
            let zeroed = mask.zero(tensor);
            if tracked {
                zeroed.require_grad()
            } else {
                zeroed
            }
        })
    }
}

struct MaskGradients<'a> {
    masks: &'a ModuleMasks,
    grads: &'a mut GradientsParams,
}

impl ModuleVisitor for MaskGradients<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(mask) = self.masks.masks.get(&param.id) else {
            return;
        };
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, mask.zero(grad));
        }
    }
}

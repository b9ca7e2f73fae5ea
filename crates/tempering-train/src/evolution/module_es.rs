//! [`OpenEs`] on a Burn module: the search runs over the module's float parameters that may
//! move (every entry a mask keeps; pruned entries stay as they are, zero), as the ES
//! lottery-ticket experiments evolve only the unpruned weights of a sparse network (Lange &
//! Sprekeler 2023; their `MaskedParameterReshaper` flattens the kept entries).

use std::sync::Mutex;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Tensor, TensorData};

use super::open_es::{Generation, OpenEs, OpenEsConfig};

/// One float parameter: its id, shape, values and the indices that move.
struct Slot {
    id: ParamId,
    shape: Vec<usize>,
    values: Vec<f32>,
    free: Vec<usize>,
}

/// The module's float parameters and where their free entries sit in the flat vector.
struct Layout {
    slots: Vec<Slot>,
}

impl Layout {
    /// Reads `module`'s float parameters; `keep(id)` gives a parameter's mask (`true`: may
    /// move), `None` for one that moves whole.
    fn read<'a, M: Module>(module: &M, keep: &impl Fn(ParamId) -> Option<&'a [bool]>) -> Self {
        struct Reader<'k, K> {
            keep: &'k K,
            slots: Vec<Slot>,
        }
        impl<'a, K: Fn(ParamId) -> Option<&'a [bool]>> ModuleVisitor for Reader<'_, K> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let tensor = param.val();
                let shape = tensor.dims().to_vec();
                let values = tensor
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .expect("float parameters convert to f32");
                let free = match (self.keep)(param.id) {
                    Some(mask) if mask.len() == values.len() => {
                        (0..values.len()).filter(|&i| mask[i]).collect()
                    }
                    _ => (0..values.len()).collect(),
                };
                self.slots.push(Slot {
                    id: param.id,
                    shape,
                    values,
                    free,
                });
            }
        }
        let mut reader = Reader {
            keep,
            slots: Vec::new(),
        };
        module.visit(&mut reader);
        Self {
            slots: reader.slots,
        }
    }

    /// The free entries, in parameter order.
    fn flat(&self) -> Vec<f32> {
        self.slots
            .iter()
            .flat_map(|s| s.free.iter().map(|&i| s.values[i]))
            .collect()
    }

    /// `module` with the free entries set from `flat` and every other entry as read.
    fn write<M: Module>(&self, module: M, flat: &[f32]) -> M {
        struct Writer<'l> {
            layout: &'l Layout,
            starts: std::collections::HashMap<ParamId, (usize, usize)>,
            flat: &'l [f32],
        }
        impl ModuleMapper for Writer<'_> {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let Some(&(slot, start)) = self.starts.get(&param.id) else {
                    return param;
                };
                let s = &self.layout.slots[slot];
                let mut values = s.values.clone();
                for (k, &i) in s.free.iter().enumerate() {
                    values[i] = self.flat[start + k];
                }
                let device = param.val().device();
                let tensor =
                    Tensor::<D>::from_data(TensorData::new(values, s.shape.clone()), &device);
                Param::initialized(param.id, tensor)
            }
        }
        let mut start = 0;
        let mut starts = std::collections::HashMap::new();
        for (k, s) in self.slots.iter().enumerate() {
            starts.insert(s.id, (k, start));
            start += s.free.len();
        }
        module.map(&mut Writer {
            layout: self,
            starts,
            flat,
        })
    }
}

/// Trains `module`'s free entries (see `keep`) by OpenAI-ES for `generations`, minimizing
/// `loss(candidate, generation)` (one data batch per generation, the same for every
/// candidate); `on_generation` sees each generation's numbers. Returns the module at the
/// final mean. Entries `keep` marks `false` never move.
pub fn es_train<'a, M: Module>(
    module: M,
    keep: impl Fn(ParamId) -> Option<&'a [bool]>,
    config: &OpenEsConfig,
    generations: usize,
    seed: u64,
    loss: impl Fn(&M, usize) -> f64 + Sync,
    on_generation: &mut dyn FnMut(usize, &Generation),
) -> M {
    let layout = Layout::read(&module, &keep);
    let mut mean = layout.flat();
    let mut es = OpenEs::new(*config, mean.len(), seed);
    // Candidates are built from a template in each worker; the lock guards only the clone.
    let template = Mutex::new(module.clone());
    for generation in 0..generations {
        let numbers = es.step(&mut mean, |candidate| {
            let base = template.lock().unwrap_or_else(|e| e.into_inner()).clone();
            loss(&layout.write(base, candidate), generation)
        });
        on_generation(generation, &numbers);
    }
    layout.write(module, &mean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::{Device, Int};

    /// Two well-separated Gaussian blobs, labels 0 and 1.
    fn blobs(device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
        let mut rng = tempering_core::split_mix::SplitMix64::new(1);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..64 {
            let label = i % 2;
            let center = if label == 0 { -1.0 } else { 1.0 };
            for _ in 0..4 {
                x.push(center + 0.3 * (rng.unit() as f32 - 0.5));
            }
            y.push(label as i64);
        }
        (
            Tensor::from_data(TensorData::new(x, [64, 4]), device),
            Tensor::from_data(TensorData::new(y, [64]), device),
        )
    }

    fn loss_of(layer: &Linear, x: &Tensor<2>, y: &Tensor<1, Int>) -> f64 {
        let logits = layer.forward(x.clone());
        burn::nn::loss::CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits, y.clone())
            .into_scalar::<f64>()
    }

    #[test]
    fn es_trains_a_classifier_and_never_moves_a_frozen_entry() {
        let device = Device::default();
        let (x, y) = blobs(&device);
        let layer = LinearConfig::new(4, 2).init(&device);
        let weight_id = layer.weight.id;
        // Freeze the first input's two weights at their starting values.
        let mask = vec![false, false, true, true, true, true, true, true];
        let before = layer
            .weight
            .val()
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let start = loss_of(&layer, &x, &y);
        let config = OpenEsConfig {
            pairs: 16,
            learning_rate: 0.05,
            ..OpenEsConfig::default()
        };
        let mut seen = 0;
        let trained = es_train(
            layer,
            |id| (id == weight_id).then_some(mask.as_slice()),
            &config,
            150,
            5,
            |m: &Linear, _| loss_of(m, &x, &y),
            &mut |_, g| {
                assert!(g.mean_loss.is_finite());
                seen += 1;
            },
        );
        assert_eq!(seen, 150);
        let end = loss_of(&trained, &x, &y);
        assert!(end < 0.3 * start, "{end} from {start}");
        let after = trained
            .weight
            .val()
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(&after[..2], &before[..2], "a frozen entry moved");
        assert_ne!(&after[2..], &before[2..]);
    }
}

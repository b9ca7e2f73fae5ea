//! A model's parameters from a checkpoint file, checked before anything is loaded: the model
//! (built from its config) says which tensors it needs and their shapes; the checkpoint, read
//! by this crate's validating readers (burnpack or safetensors), must hold exactly those, as
//! finite floats. Values are set by module path, so no reader of Burn's runs on the file.
//! [`save_module`] writes a model back as burnpack, atomically.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};
use tempering_core::atomic_write::finish_atomically;

use crate::PruneError;
use crate::checkpoint::Checkpoint;
use crate::checkpoint::check_output;
use crate::element::finite_f32s;

/// `model` with every float parameter replaced by the checkpoint tensor of the same module
/// path (`blocks.0.attention.query.weight`). Refused, naming the tensor: a parameter the
/// checkpoint lacks, a tensor the model has no place for, a shape that differs, a tensor that
/// is not float, a value that is not finite in `f32`.
pub fn load_module<M: Module>(model: M, path: &Path) -> Result<M, PruneError> {
    let checkpoint = Checkpoint::open(path)?;
    let mut wanted = Shapes::default();
    model.visit(&mut wanted);
    let mismatch = |reason: String| PruneError::Mismatch {
        path: path.to_path_buf(),
        reason,
    };
    let mut values = BTreeMap::new();
    for (name, shape) in &wanted.shapes {
        let Some(index) = checkpoint.index_of(name) else {
            return Err(mismatch(format!(
                "it has no tensor '{name}' (shape {shape:?})"
            )));
        };
        let entry = &checkpoint.entries()[index];
        if &entry.shape != shape {
            return Err(mismatch(format!(
                "tensor '{name}' has shape {:?}, the config's model {shape:?}",
                entry.shape
            )));
        }
        if !entry.element.is_float() {
            return Err(mismatch(format!(
                "tensor '{name}' holds {}, not floats",
                entry.dtype
            )));
        }
        let floats = finite_f32s(
            name,
            entry.element,
            checkpoint.data(index),
            "a model is loaded from finite f32 values only",
        )?;
        values.insert(name.clone(), floats);
    }
    if let Some(extra) = checkpoint
        .entries()
        .iter()
        .find(|e| !wanted.shapes.contains_key(&e.name))
    {
        return Err(mismatch(format!(
            "it holds tensor '{}' {:?}, which the config's model does not have",
            extra.name, extra.shape
        )));
    }
    Ok(model.map(&mut Setter {
        path: Vec::new(),
        values,
    }))
}

/// Writes `model` to `dest` as burnpack, atomically (a temporary sibling renamed into place),
/// refusing to replace `input` ever and an existing `dest` unless `overwrite`.
pub fn save_module<M: Module>(
    model: &M,
    input: &Path,
    dest: &Path,
    overwrite: bool,
) -> Result<(), PruneError> {
    check_output(input, dest, overwrite)?;
    finish_atomically(dest, |tmp| {
        model.clone().save_file(tmp).map_err(std::io::Error::other)
    })
    .map_err(|e| PruneError::io(dest, e))
}

/// Every float parameter's module path and shape.
#[derive(Default)]
struct Shapes {
    path: Vec<String>,
    shapes: BTreeMap<String, Vec<usize>>,
}

impl ModuleVisitor for Shapes {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.shapes
            .insert(self.path.join("."), param.val().dims().to_vec());
    }
}

/// Sets each float parameter to its checked values (shapes were compared beforehand).
struct Setter {
    path: Vec<String>,
    values: BTreeMap<String, Vec<f32>>,
}

impl ModuleMapper for Setter {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let name = self.path.join(".");
        let values = self
            .values
            .remove(&name)
            .expect("every parameter's values were read before mapping");
        let current = param.val();
        let tensor = Tensor::<D>::from_data(
            TensorData::new(values, current.dims().to_vec()),
            &current.device(),
        );
        Param::initialized(param.id, tensor)
    }
}

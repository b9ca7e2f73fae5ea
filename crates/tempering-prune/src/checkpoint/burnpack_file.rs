//! burnpack through `burn-pack` 0.22.1: its reader validates the header, the CBOR metadata
//! (size and recursion limits) and every tensor's byte range; its writer lays the file out.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use burn::tensor::AllocationProperty;
use burn_pack::{Bytes, DType, Reader, Scalar, Tensor, Writer};

use super::lookahead::Lookahead;
use super::{TensorEntry, Transform};
use crate::element::ElementType;

pub(super) struct Body {
    tensors: Vec<Tensor>,
    data: Vec<Bytes>,
    scalars: BTreeMap<String, Scalar>,
}

fn element_of(dtype: &DType) -> ElementType {
    match dtype {
        DType::F64 => ElementType::F64,
        DType::F32 => ElementType::F32,
        DType::F16 => ElementType::F16,
        DType::BF16 => ElementType::BF16,
        _ => ElementType::Other,
    }
}

pub(super) type Parsed = (Vec<TensorEntry>, BTreeMap<String, String>, Body);

pub(super) fn read(bytes: bytes::Bytes) -> Result<Parsed, String> {
    // Zero-copy: tensor data stay views into the (memory-mapped) file.
    let shared = Bytes::from_shared(bytes, AllocationProperty::File);
    let reader = Reader::from_bytes(shared).map_err(|e| e.to_string())?;
    let metadata = reader.metadata().clone();
    let scalars = reader.scalars().clone();
    let tensors = reader.into_tensors().map_err(|e| e.to_string())?;
    let mut entries = Vec::with_capacity(tensors.len());
    let mut data = Vec::with_capacity(tensors.len());
    for t in &tensors {
        let shape = t.shape.to_vec();
        let elements = super::checked_elements(&t.name, &shape)?;
        let bytes = t
            .to_bytes()
            .map_err(|e| format!("tensor '{}': {e}", t.name))?;
        let element = element_of(&t.dtype);
        if let Some(size) = element.float_size()
            && elements.checked_mul(size) != Some(bytes.len())
        {
            return Err(format!(
                "tensor '{}' holds {} bytes, not {elements} elements of {size} bytes (shape \
                 {shape:?})",
                t.name,
                bytes.len(),
            ));
        }
        entries.push(TensorEntry {
            name: t.name.clone(),
            element,
            dtype: format!("{:?}", t.dtype),
            shape,
            param_id: t.param_id,
            byte_len: bytes.len(),
        });
        data.push(bytes);
    }
    Ok((
        entries,
        metadata,
        Body {
            tensors,
            data,
            scalars,
        },
    ))
}

impl Body {
    pub(super) fn data(&self, index: usize) -> &[u8] {
        &self.data[index]
    }

    pub(super) fn scalars_text(&self) -> BTreeMap<String, String> {
        self.scalars
            .iter()
            .map(|(k, v)| (k.clone(), format!("{v:?}")))
            .collect()
    }

    pub(super) fn write(
        &self,
        entries: &[TensorEntry],
        replaced: HashMap<usize, Transform>,
        metadata: &BTreeMap<String, String>,
        tmp: &Path,
    ) -> Result<(), String> {
        // `tmp` is already a private scratch file that `publish` moves into place, so the
        // writer's own scratch file and fsync would only double the work.
        self.writer(entries, replaced, metadata)
            .auto_extension(false)
            .write_to_file_in_place(tmp)
            .map_err(|e| e.to_string())
    }

    /// The whole file in memory.
    pub(super) fn to_bytes(
        &self,
        entries: &[TensorEntry],
        replaced: HashMap<usize, Transform>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<Vec<u8>, String> {
        let bytes = self
            .writer(entries, replaced, metadata)
            .into_bytes()
            .map_err(|e| e.to_string())?;
        Ok(bytes.to_vec())
    }

    fn writer(
        &self,
        entries: &[TensorEntry],
        mut replaced: HashMap<usize, Transform>,
        metadata: &BTreeMap<String, String>,
    ) -> Writer {
        // The transformed tensors, in the order the writer reaches them.
        let order: Vec<usize> = (0..self.tensors.len())
            .filter(|i| replaced.contains_key(i))
            .collect();
        let lookahead = Lookahead::new(
            order
                .iter()
                .map(|i| (self.data[*i].clone(), replaced.remove(i).expect("listed")))
                .collect(),
        );
        let tensors = self
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| match order.binary_search(&i) {
                Ok(j) => {
                    let lookahead = Arc::clone(&lookahead);
                    Tensor::deferred(
                        entries[i].name.clone(),
                        t.dtype,
                        t.shape.clone(),
                        t.param_id,
                        entries[i].byte_len,
                        move || Ok(lookahead.produce(j)),
                    )
                }
                Err(_) => t.clone(),
            })
            .collect();
        let mut writer = Writer::new(tensors);
        for (k, v) in metadata {
            writer = writer.with_metadata(k, v);
        }
        for (k, v) in &self.scalars {
            writer = writer.with_scalar(k, *v);
        }
        writer
    }
}

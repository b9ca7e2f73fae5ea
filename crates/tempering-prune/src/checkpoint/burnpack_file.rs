//! burnpack through `burn-pack` 0.22.1: its reader validates the header, the CBOR metadata
//! (size and recursion limits) and every tensor's byte range; its writer lays the file out.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn_pack::{Bytes, DType, Reader, Scalar, Tensor, Writer};

use super::TensorEntry;
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

pub(super) fn read(bytes: Vec<u8>) -> Result<Parsed, String> {
    let reader = Reader::from_bytes(Bytes::from_bytes_vec(bytes)).map_err(|e| e.to_string())?;
    let metadata = reader.metadata().clone();
    let scalars = reader.scalars().clone();
    let tensors = reader.into_tensors().map_err(|e| e.to_string())?;
    let mut entries = Vec::with_capacity(tensors.len());
    let mut data = Vec::with_capacity(tensors.len());
    for t in &tensors {
        let shape = t.shape.to_vec();
        super::checked_elements(&t.name, &shape)?;
        let bytes = t
            .to_bytes()
            .map_err(|e| format!("tensor '{}': {e}", t.name))?;
        let element = element_of(&t.dtype);
        if let Some(size) = element.float_size()
            && bytes.len() != shape.iter().product::<usize>() * size
        {
            return Err(format!(
                "tensor '{}' holds {} bytes, its shape {shape:?} needs {}",
                t.name,
                bytes.len(),
                shape.iter().product::<usize>() * size
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
        mut replaced: HashMap<usize, Vec<u8>>,
        metadata: &BTreeMap<String, String>,
        tmp: &Path,
    ) -> Result<(), String> {
        let tensors = self
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| match replaced.remove(&i) {
                Some(bytes) => Tensor::new(
                    entries[i].name.clone(),
                    t.dtype,
                    t.shape.clone(),
                    t.param_id,
                    Bytes::from_bytes_vec(bytes),
                ),
                None => t.clone(),
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
            .auto_extension(false)
            .write_to_file(tmp)
            .map_err(|e| e.to_string())
    }
}

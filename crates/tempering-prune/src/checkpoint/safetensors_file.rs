//! safetensors through the `safetensors` 0.8 crate: `SafeTensors::deserialize` validates the
//! header (size limit, JSON, offsets covering the data exactly) before anything is read.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::TensorEntry;
use crate::element::ElementType;

pub(super) struct Body {
    bytes: Vec<u8>,
    layout: Vec<(Dtype, Range<usize>)>,
    /// Whether the input had a metadata map at all (kept absent when nothing is added).
    had_metadata: bool,
}

fn element_of(dtype: Dtype) -> ElementType {
    match dtype {
        Dtype::F64 => ElementType::F64,
        Dtype::F32 => ElementType::F32,
        Dtype::F16 => ElementType::F16,
        Dtype::BF16 => ElementType::BF16,
        _ => ElementType::Other,
    }
}

pub(super) type Parsed = (Vec<TensorEntry>, BTreeMap<String, String>, Body);

pub(super) fn read(bytes: Vec<u8>) -> Result<Parsed, String> {
    SafeTensors::deserialize(&bytes).map_err(|e| e.to_string())?;
    let (header_len, header) = SafeTensors::read_metadata(&bytes).map_err(|e| e.to_string())?;
    let data_start = 8 + header_len;
    let mut infos: Vec<_> = header.tensors().into_iter().collect();
    infos.sort_by(|a, b| a.0.cmp(&b.0));
    let mut entries = Vec::with_capacity(infos.len());
    let mut layout = Vec::with_capacity(infos.len());
    for (name, info) in infos {
        super::checked_elements(&name, &info.shape)?;
        let (start, end) = info.data_offsets;
        let range = data_start + start..data_start + end;
        entries.push(TensorEntry {
            name,
            element: element_of(info.dtype),
            dtype: format!("{:?}", info.dtype),
            shape: info.shape.clone(),
            param_id: None,
            byte_len: end - start,
        });
        layout.push((info.dtype, range));
    }
    let metadata: BTreeMap<String, String> = header
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let had_metadata = header.metadata().is_some();
    Ok((
        entries,
        metadata,
        Body {
            bytes,
            layout,
            had_metadata,
        },
    ))
}

impl Body {
    pub(super) fn data(&self, index: usize) -> &[u8] {
        &self.bytes[self.layout[index].1.clone()]
    }

    pub(super) fn write(
        &self,
        entries: &[TensorEntry],
        replaced: &HashMap<usize, Vec<u8>>,
        metadata: &BTreeMap<String, String>,
        tmp: &Path,
    ) -> Result<(), String> {
        let mut views = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let data = replaced.get(&i).map_or_else(|| self.data(i), Vec::as_slice);
            let view = TensorView::new(self.layout[i].0, e.shape.clone(), data)
                .map_err(|err| format!("tensor '{}': {err}", e.name))?;
            views.push((e.name.clone(), view));
        }
        let info = (self.had_metadata || !metadata.is_empty()).then(|| {
            metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>()
        });
        safetensors::serialize_to_file(views, info, tmp).map_err(|e| e.to_string())
    }
}

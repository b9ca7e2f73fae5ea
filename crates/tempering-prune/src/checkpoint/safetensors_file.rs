//! safetensors through the `safetensors` 0.8 crate: `SafeTensors::deserialize` validates the
//! header (size limit, JSON, offsets covering the data exactly) before anything is read.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;

use std::borrow::Cow;

use safetensors::tensor::{Dtype, SafeTensors, View};

use super::{TensorEntry, Transform};
use crate::element::ElementType;

pub(super) struct Body {
    bytes: bytes::Bytes,
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

pub(super) fn read(bytes: bytes::Bytes) -> Result<Parsed, String> {
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
        replaced: &HashMap<usize, Transform>,
        metadata: &BTreeMap<String, String>,
        tmp: &Path,
    ) -> Result<(), String> {
        let views: Vec<(String, Lazy<'_>)> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let view = Lazy {
                    dtype: self.layout[i].0,
                    shape: &e.shape,
                    original: self.data(i),
                    transform: replaced.get(&i),
                };
                (e.name.clone(), view)
            })
            .collect();
        let info = (self.had_metadata || !metadata.is_empty()).then(|| {
            metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>()
        });
        safetensors::serialize_to_file(views, info, tmp).map_err(|e| e.to_string())
    }
}

/// A tensor to write: its original bytes, transformed only when the writer asks for them.
struct Lazy<'a> {
    dtype: Dtype,
    shape: &'a [usize],
    original: &'a [u8],
    transform: Option<&'a Transform>,
}

impl View for Lazy<'_> {
    fn dtype(&self) -> Dtype {
        self.dtype
    }

    fn shape(&self) -> &[usize] {
        self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        match self.transform {
            Some(t) => {
                let mut out = Vec::with_capacity(self.original.len());
                t(self.original, &mut out);
                Cow::Owned(out)
            }
            None => Cow::Borrowed(self.original),
        }
    }

    fn data_len(&self) -> usize {
        self.original.len()
    }
}

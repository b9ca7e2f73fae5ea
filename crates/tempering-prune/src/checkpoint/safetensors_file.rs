//! safetensors through the `safetensors` 0.8 crate: `SafeTensors::deserialize` validates the
//! header (size limit, JSON, offsets covering the data exactly) before anything is read.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;

use std::io::Write;

use safetensors::tensor::{Dtype, Metadata, SafeTensors, TensorInfo};

use super::lookahead::{Lookahead, pieces};
use super::{TensorEntry, Transform};
use crate::element::ElementType;

/// The largest JSON header the `safetensors` crate reads (its `MAX_HEADER_SIZE`).
const MAX_HEADER_BYTES: usize = 100_000_000;

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

    /// Writes the checkpoint to `tmp`, a fresh path created here with `O_EXCL` (never through
    /// a symlink), streaming one tensor at a time. The layout is the one the `safetensors`
    /// crate's `serialize` produces (tensors by descending alignment, then name; the JSON
    /// header padded with spaces to 8 bytes); it is written here rather than through that
    /// crate's `serialize_to_file`, whose own temporary file would escape the CLI's interrupt
    /// cleanup.
    pub(super) fn write(
        &self,
        entries: &[TensorEntry],
        replaced: &HashMap<usize, Transform>,
        metadata: &BTreeMap<String, String>,
        tmp: &Path,
    ) -> Result<(), String> {
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by(|&a, &b| {
            (self.layout[b].0.cmp(&self.layout[a].0)).then(entries[a].name.cmp(&entries[b].name))
        });
        let mut offset = 0;
        let infos = order
            .iter()
            .map(|&i| {
                let len = self.layout[i].1.len();
                let info = TensorInfo {
                    dtype: self.layout[i].0,
                    shape: entries[i].shape.clone(),
                    data_offsets: (offset, offset + len),
                };
                offset += len;
                (entries[i].name.clone(), info)
            })
            .collect();
        let info = (self.had_metadata || !metadata.is_empty()).then(|| {
            metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>()
        });
        let header = Metadata::new(info, infos).map_err(|e| e.to_string())?;
        let mut header = serde_json::to_string(&header)
            .map_err(|e| e.to_string())?
            .into_bytes();
        header.resize(header.len().next_multiple_of(8), b' ');
        if header.len() > MAX_HEADER_BYTES {
            return Err(format!(
                "the output's header would take {} bytes, over the {MAX_HEADER_BYTES} that \
                 safetensors readers accept (are the tensor names unusually long?)",
                header.len()
            ));
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)
            .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        // The transformed tensors' pieces (whole, or windows), in file order, each produced
        // while the one before is written.
        let mut jobs = Vec::new();
        let mut spans = HashMap::new();
        for &i in &order {
            if let Some(transform) = replaced.get(&i) {
                let original = self.bytes.slice(self.layout[i].1.clone());
                let size = entries[i].element.float_size().unwrap_or(1);
                let before = jobs.len();
                jobs.extend(pieces(original, transform.clone(), size));
                spans.insert(i, before..jobs.len());
            }
        }
        let lookahead = Lookahead::new(jobs);
        let mut write = || -> std::io::Result<()> {
            out.write_all(&(header.len() as u64).to_le_bytes())?;
            out.write_all(&header)?;
            for &i in &order {
                match spans.get(&i) {
                    Some(span) => {
                        for j in span.clone() {
                            out.write_all(&lookahead.produce(j))?;
                        }
                    }
                    None => out.write_all(self.data(i))?,
                }
            }
            out.flush()
        };
        write().map_err(|e| format!("writing {}: {e}", tmp.display()))
    }
}

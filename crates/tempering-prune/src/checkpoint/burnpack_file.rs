//! burnpack through `burn-pack` 0.22.1: its reader validates the header, the CBOR metadata
//! (size and recursion limits) and every tensor's byte range; its writer lays the file out.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use burn::tensor::AllocationProperty;
use burn_pack::{Bytes, DType, Reader, Scalar, Tensor, Writer};

use super::lookahead::{Lookahead, pieces};
use super::windows::StreamedTensor;
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

/// Checks a tensor's byte length against its shape: exactly `elements × size` for every
/// element type of fixed size, and at least two bits per element for quantized tensors (the
/// narrowest quantized values, Q2, take two bits; scales only add bytes). Without this a header
/// could claim 2^40 elements in 8 bytes, and whoever trusted the shape would allocate for them.
fn check_byte_length(
    name: &str,
    dtype: &DType,
    shape: &[usize],
    elements: usize,
    bytes: usize,
) -> Result<(), String> {
    let fits = match dtype {
        DType::QFloat(_) => elements.div_ceil(4) <= bytes,
        other => elements.checked_mul(other.size()) == Some(bytes),
    };
    if fits {
        return Ok(());
    }
    Err(match dtype {
        DType::QFloat(_) => format!(
            "tensor '{name}' holds {bytes} bytes, too few for {elements} quantized elements \
             (shape {shape:?})"
        ),
        other => format!(
            "tensor '{name}' holds {bytes} bytes, not {elements} elements of {} bytes (shape \
             {shape:?})",
            other.size()
        ),
    })
}

/// Refuses a written file whose metadata the reader would reject (over burn-pack's
/// `MAX_METADATA_SIZE`, 100 MiB): huge tensor names repeated in the provenance record can get
/// there, and a checkpoint nobody can open must not be published.
fn check_readable_metadata(path: &Path) -> Result<(), String> {
    use std::io::Read;
    let mut head = [0u8; burn_pack::HEADER_SIZE];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map_err(|e| e.to_string())?;
    let header = burn_pack::Header::from_bytes(&head).map_err(|e| e.to_string())?;
    if header.metadata_size > burn_pack::MAX_METADATA_SIZE {
        return Err(format!(
            "the output's metadata would take {} bytes, over the {} that burnpack readers \
             accept (are the tensor names unusually long?)",
            header.metadata_size,
            burn_pack::MAX_METADATA_SIZE
        ));
    }
    Ok(())
}

/// A tensor's original bytes (a view of the mapped file: cloning it copies nothing) as
/// `bytes::Bytes`, which the write pipeline slices into windows.
struct Original(Bytes);

impl AsRef<[u8]> for Original {
    fn as_ref(&self) -> &[u8] {
        &self.0
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
        check_byte_length(&t.name, &t.dtype, &shape, elements, bytes.len())?;
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
        // `tmp` is a fresh, unguessable name that `publish` moves into place, so the writer's
        // own scratch file and fsync would only double the work. `overwrite(false)` creates it
        // with `O_EXCL`, which never follows a symlink planted there.
        self.writer(entries, replaced, metadata)
            .auto_extension(false)
            .overwrite(false)
            .write_to_file_in_place(tmp)
            .map_err(|e| e.to_string())?;
        check_readable_metadata(tmp)
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
        // The transformed tensors' pieces (whole, or windows), in the order the writer reaches
        // them; `first[i]` is the first piece of tensor `i`.
        let mut jobs = Vec::new();
        let mut first = HashMap::new();
        for (i, (data, entry)) in self.data.iter().zip(entries).enumerate() {
            if let Some(transform) = replaced.remove(&i) {
                let windowed = matches!(transform, Transform::Windowed(_));
                first.insert(i, (jobs.len(), windowed));
                let original = bytes::Bytes::from_owner(Original(data.clone()));
                let size = entry.element.float_size().unwrap_or(1);
                jobs.extend(pieces(original, transform, size));
            }
        }
        let lookahead = Lookahead::new(jobs);
        let tensors = self
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| match first.get(&i) {
                Some(&(j, windowed)) => {
                    let lookahead = Arc::clone(&lookahead);
                    let len = entries[i].byte_len;
                    Tensor::deferred(
                        entries[i].name.clone(),
                        t.dtype,
                        t.shape.clone(),
                        t.param_id,
                        len,
                        move || {
                            Ok(if windowed {
                                StreamedTensor::bytes(Arc::clone(&lookahead), j, len)
                            } else {
                                Bytes::from_shared(lookahead.produce(j), AllocationProperty::Native)
                            })
                        },
                    )
                }
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_symlink_planted_at_the_temporary_path_is_not_followed() {
        let values: Vec<u8> = (1..=4).flat_map(|v| (v as f32).to_le_bytes()).collect();
        let tensor = Tensor::new(
            "w".into(),
            DType::F32,
            vec![2, 2],
            None,
            Bytes::from_bytes_vec(values),
        );
        let file = Writer::new(vec![tensor]).into_bytes().unwrap().to_vec();
        let (entries, metadata, body) = read(bytes::Bytes::from(file)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, b"precious").unwrap();
        let tmp = dir.path().join(".out.bpk.tmp.bpk");
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
        let err = body
            .write(&entries, HashMap::new(), &metadata, &tmp)
            .unwrap_err();
        assert!(err.contains("exists"), "{err}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }
}

//! Reader for IDX files of unsigned bytes (the format of MNIST and Fashion-MNIST), gzipped or not.
//!
//! Layout: a big-endian magic number `0x0000_08NN` (`08` = unsigned byte, `NN` = number of
//! dimensions), `NN` big-endian `u32` dimension sizes, then the data in row-major order.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

/// Gzip streams start with these two bytes.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// The IDX type code of unsigned bytes.
const UBYTE: u32 = 0x08;

/// An IDX array of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimension sizes, outermost first.
    pub dims: Vec<usize>,
    /// The values in row-major order.
    pub data: Vec<u8>,
}

/// Reads an IDX file of `ndim` dimensions from disk, decompressing it if it is gzipped.
///
/// `what` names the kind of file in error messages ("images", "labels").
pub fn read_idx_file(path: &Path, ndim: u32, what: &'static str) -> Result<IdxArray> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_idx(&bytes, path, ndim, what)
}

/// Parses IDX bytes (gzipped or not); `path` is only used to name the source in errors.
pub fn parse_idx(bytes: &[u8], path: &Path, ndim: u32, what: &'static str) -> Result<IdxArray> {
    let owned;
    let bytes = if bytes.starts_with(&GZIP_MAGIC) {
        owned = gunzip(bytes, path)?;
        &owned[..]
    } else {
        bytes
    };
    let path_buf = || path.to_path_buf();
    let expected_magic = (UBYTE << 8) | ndim;
    let header_len = 4 + 4 * ndim as usize;
    if bytes.len() < header_len {
        return Err(DataError::Truncated {
            path: path_buf(),
            expected: header_len,
            actual: bytes.len(),
        });
    }
    let word = |i: usize| u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap());
    let magic = word(0);
    if magic != expected_magic {
        return Err(DataError::BadMagic {
            path: path_buf(),
            expected: expected_magic,
            found: magic,
            what,
        });
    }
    let dims: Vec<usize> = (1..=ndim as usize).map(|i| word(i) as usize).collect();
    let payload = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| DataError::BadHeader {
            path: path_buf(),
            problem: format!("dimensions {dims:?} overflow"),
        })?;
    let expected = header_len + payload;
    match bytes.len().cmp(&expected) {
        std::cmp::Ordering::Less => Err(DataError::Truncated {
            path: path_buf(),
            expected,
            actual: bytes.len(),
        }),
        std::cmp::Ordering::Greater => Err(DataError::TrailingBytes {
            path: path_buf(),
            expected,
            extra: bytes.len() - expected,
        }),
        std::cmp::Ordering::Equal => Ok(IdxArray {
            dims,
            data: bytes[header_len..].to_vec(),
        }),
    }
}

fn gunzip(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|source| DataError::Decompress {
            path: PathBuf::from(path),
            source,
        })?;
    Ok(out)
}

/// Encodes an IDX array of unsigned bytes (uncompressed): the inverse of [`parse_idx`].
pub fn encode_idx(array: &IdxArray) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * array.dims.len() + array.data.len());
    out.extend_from_slice(&((UBYTE << 8) | array.dims.len() as u32).to_be_bytes());
    for &d in &array.dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(&array.data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn labels(values: &[u8]) -> IdxArray {
        IdxArray {
            dims: vec![values.len()],
            data: values.to_vec(),
        }
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn round_trips_plain_and_gzipped() {
        let array = IdxArray {
            dims: vec![2, 2, 3],
            data: (0..12).collect(),
        };
        let bytes = encode_idx(&array);
        let p = Path::new("x");
        assert_eq!(parse_idx(&bytes, p, 3, "images").unwrap(), array);
        assert_eq!(parse_idx(&gzip(&bytes), p, 3, "images").unwrap(), array);
    }

    #[test]
    fn wrong_magic_names_file_and_numbers() {
        // An image file (3 dims) read where a label file (1 dim) is expected.
        let bytes = encode_idx(&IdxArray {
            dims: vec![1, 1, 1],
            data: vec![0],
        });
        let err = parse_idx(&bytes, Path::new("t10k-labels"), 1, "labels").unwrap_err();
        assert!(matches!(
            err,
            DataError::BadMagic {
                expected: 0x801,
                found: 0x803,
                ..
            }
        ));
        let msg = err.to_string();
        assert!(
            msg.contains("t10k-labels") && msg.contains("0x00000803"),
            "{msg}"
        );
    }

    #[test]
    fn truncated_payload_and_header_are_errors() {
        let bytes = encode_idx(&labels(&[1, 2, 3, 4]));
        let err = parse_idx(&bytes[..bytes.len() - 1], Path::new("f"), 1, "labels").unwrap_err();
        assert!(matches!(
            err,
            DataError::Truncated {
                expected: 12,
                actual: 11,
                ..
            }
        ));
        let err = parse_idx(&bytes[..6], Path::new("f"), 1, "labels").unwrap_err();
        assert!(matches!(err, DataError::Truncated { expected: 8, .. }));
    }

    #[test]
    fn trailing_bytes_are_errors() {
        let mut bytes = encode_idx(&labels(&[1, 2]));
        bytes.push(0);
        let err = parse_idx(&bytes, Path::new("f"), 1, "labels").unwrap_err();
        assert!(matches!(err, DataError::TrailingBytes { extra: 1, .. }));
    }

    #[test]
    fn truncated_gzip_is_a_decompress_error() {
        let gz = gzip(&encode_idx(&labels(&[7; 100])));
        let err = parse_idx(&gz[..gz.len() / 2], Path::new("g.gz"), 1, "labels").unwrap_err();
        assert!(matches!(err, DataError::Decompress { .. }), "{err}");
        assert!(err.to_string().contains("g.gz"));
    }

    #[test]
    fn overflowing_dimensions_are_errors_not_allocations() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&0x803u32.to_be_bytes());
        for _ in 0..3 {
            bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        }
        let err = parse_idx(&bytes, Path::new("f"), 3, "images").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::BadHeader { .. } | DataError::Truncated { .. }
            ),
            "{err}"
        );
    }

    #[test]
    fn missing_file_is_io_error_naming_it() {
        let err = read_idx_file(Path::new("/nonexistent/x-idx1-ubyte"), 1, "labels").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x-idx1-ubyte"));
    }
}

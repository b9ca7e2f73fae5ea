//! Element types of checkpoint tensors, read straight from their little-endian bytes.
//!
//! Pruning never converts a tensor: it ranks elements by a `u32` key and writes zero bytes over
//! the pruned ones (`+0.0` is all-zero bits in every IEEE format), so every kept element stays
//! bit-identical to the input.

use std::fmt;

use crate::PruneError;

/// The element type of a tensor, as far as pruning cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ElementType {
    /// IEEE binary64.
    F64,
    /// IEEE binary32.
    F32,
    /// IEEE binary16.
    F16,
    /// bfloat16.
    BF16,
    /// Anything else (integers, booleans, quantized blocks): never pruned.
    Other,
}

impl ElementType {
    /// Bytes per element of a float type; `None` for [`ElementType::Other`].
    pub fn float_size(self) -> Option<usize> {
        match self {
            Self::F64 => Some(8),
            Self::F32 => Some(4),
            Self::F16 | Self::BF16 => Some(2),
            Self::Other => None,
        }
    }

    /// Whether magnitude pruning applies.
    pub fn is_float(self) -> bool {
        self.float_size().is_some()
    }
}

impl fmt::Display for ElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::F64 => "f64",
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::BF16 => "bf16",
            Self::Other => "other",
        })
    }
}

/// The bit pattern of |x| as an `f32`: ordered like |x| for every non-NaN value (both zeros give
/// 0). Values above [`NAN_KEY_MIN`] are NaN.
#[inline]
pub(crate) fn f32_magnitude_key(bits: u32) -> u32 {
    bits & 0x7FFF_FFFF
}

/// The magnitude key of an `f64`: |x| rounded to `f32` (monotone, so order is kept up to
/// ties), except that a non-zero value too small for `f32` gets the smallest non-zero key, so
/// only a true zero has key 0 (else `1e-300` would count as already pruned and never be
/// zeroed). Values beyond `f32::MAX` get the infinity key; NaN stays NaN.
#[inline]
pub(crate) fn f64_magnitude_key(x: f64) -> u32 {
    let key = f32_magnitude_key((x as f32).to_bits());
    if key == 0 && x != 0.0 { 1 } else { key }
}

/// Keys at or above this are NaN (`f32` exponent all ones, mantissa non-zero).
pub(crate) const NAN_KEY_MIN: u32 = 0x7F80_0001;

/// Calls `f(index, key)` for every element, the key being the magnitude as ordered `f32` bits.
/// `f64` is rounded to `f32` by [`f64_magnitude_key`]; `f16` and `bf16` widen
/// exactly.
pub(crate) fn for_each_magnitude_key(
    element: ElementType,
    bytes: &[u8],
    mut f: impl FnMut(usize, u32),
) {
    match element {
        ElementType::F32 => {
            for (i, c) in bytes.chunks_exact(4).enumerate() {
                f(
                    i,
                    f32_magnitude_key(u32::from_le_bytes(c.try_into().expect("4 bytes"))),
                );
            }
        }
        ElementType::F64 => {
            for (i, c) in bytes.chunks_exact(8).enumerate() {
                f(
                    i,
                    f64_magnitude_key(f64::from_le_bytes(c.try_into().expect("8 bytes"))),
                );
            }
        }
        ElementType::F16 => {
            for (i, c) in bytes.chunks_exact(2).enumerate() {
                let v = half::f16::from_bits(u16::from_le_bytes(c.try_into().expect("2 bytes")));
                f(i, f32_magnitude_key(v.to_f32().to_bits()));
            }
        }
        ElementType::BF16 => {
            for (i, c) in bytes.chunks_exact(2).enumerate() {
                // bf16 is the top half of an f32.
                f(
                    i,
                    f32_magnitude_key(
                        u32::from(u16::from_le_bytes(c.try_into().expect("2 bytes"))) << 16,
                    ),
                );
            }
        }
        ElementType::Other => {}
    }
}

/// Number of elements whose magnitude is zero (`+0.0` or `-0.0`).
pub fn count_zeros(element: ElementType, bytes: &[u8]) -> u64 {
    let mut zeros = 0u64;
    for_each_magnitude_key(element, bytes, |_, k| zeros += u64::from(k == 0));
    zeros
}

/// The magnitude a key stands for.
pub(crate) fn key_magnitude(key: u32) -> f64 {
    f64::from(f32::from_bits(key))
}

/// A float tensor's elements as `f32`, or an error naming the first value that is NaN,
/// infinite or too large for `f32`, with `reason` saying why that matters.
pub(crate) fn finite_f32s(
    name: &str,
    element: ElementType,
    bytes: &[u8],
    reason: &'static str,
) -> Result<Vec<f32>, PruneError> {
    let as_f32 = |index: usize, wide: f64| -> Result<f32, PruneError> {
        let narrow = wide as f32;
        if narrow.is_finite() {
            return Ok(narrow);
        }
        if wide.is_nan() {
            return Err(PruneError::NotANumber {
                tensor: name.to_string(),
                index,
            });
        }
        Err(PruneError::NotFinite {
            tensor: name.to_string(),
            index,
            value: format!("{wide:e}"),
            reason,
        })
    };
    // One pass from the stored bytes to checked f32 values, with no wide copy in between.
    let convert = |wide: &mut dyn Iterator<Item = f64>| -> Result<Vec<f32>, PruneError> {
        wide.enumerate().map(|(i, v)| as_f32(i, v)).collect()
    };
    match element {
        ElementType::F32 => convert(
            &mut bytes
                .chunks_exact(4)
                .map(|b| f64::from(f32::from_le_bytes(b.try_into().expect("4 bytes")))),
        ),
        ElementType::F64 => convert(
            &mut bytes
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes"))),
        ),
        ElementType::F16 => convert(
            &mut bytes
                .chunks_exact(2)
                .map(|b| f64::from(half::f16::from_le_bytes([b[0], b[1]]).to_f32())),
        ),
        ElementType::BF16 => convert(
            &mut bytes
                .chunks_exact(2)
                .map(|b| f64::from(half::bf16::from_le_bytes([b[0], b[1]]).to_f32())),
        ),
        ElementType::Other => Err(PruneError::BadShape {
            tensor: name.to_string(),
            reason: "is not a float tensor".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f64_bytes(values: &[f64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn only_true_zeros_of_f64_count_as_zeros() {
        // 1e-300 rounds to 0 in f32 but is not zero: it must rank as the smallest non-zero.
        let bytes = f64_bytes(&[1e-300, 1.0, 0.0, -0.0, 1e300]);
        assert_eq!(count_zeros(ElementType::F64, &bytes), 2);
        let mut keys = Vec::new();
        for_each_magnitude_key(ElementType::F64, &bytes, |_, k| keys.push(k));
        assert_eq!(keys[0], 1);
        assert!(keys[0] < keys[1] && keys[1] < keys[4]);
        assert_eq!(keys[4], f32::INFINITY.to_bits());
        assert!(f64_magnitude_key(f64::NAN) >= NAN_KEY_MIN);
    }
}

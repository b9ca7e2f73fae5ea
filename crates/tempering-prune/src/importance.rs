//! Importance: a `u32` key per element, smaller = pruned first.

use tempering_core::simd_dispatch::widest_dispatch;
use tempering_core::split_mix::{at, mix};

use crate::element::{ElementType, NAN_KEY_MIN, f32_magnitude_key, for_each_magnitude_key};
use crate::error::PruneError;

/// How elements are ranked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Importance {
    /// |w| (magnitude pruning).
    Magnitude,
    /// A seeded pseudo-random key per element (random pruning, the control of magnitude
    /// pruning): the same seed and tensor name give the same key, whatever else is pruned.
    Random {
        /// Seed.
        seed: u64,
    },
}

/// FNV-1a of a tensor name, so random keys depend on the tensor, not its position.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

impl Importance {
    /// Fills `keys` with one key per element of the tensor `name` (its little-endian `bytes`).
    /// A NaN weight is an error: it has no magnitude to rank.
    pub(crate) fn keys_into(
        self,
        name: &str,
        element: ElementType,
        bytes: &[u8],
        keys: &mut Vec<u32>,
    ) -> Result<(), PruneError> {
        self.fill_keys(name, element, bytes, keys);
        if self == Self::Magnitude
            && let Some(index) = keys.iter().position(|&k| k >= NAN_KEY_MIN)
        {
            return Err(PruneError::NotANumber {
                tensor: name.to_string(),
                index,
            });
        }
        Ok(())
    }

    /// Calls `f` with the keys of the tensor `name` in index order, a block at a time, through
    /// `buf`; for `f32` magnitudes the blocks are small enough to stay in cache, so the keys of
    /// a large tensor are never all in memory. A NaN weight is an error, as in
    /// [`keys_into`](Self::keys_into).
    pub(crate) fn visit_keys(
        self,
        name: &str,
        element: ElementType,
        bytes: &[u8],
        buf: &mut Vec<u32>,
        f: &mut dyn FnMut(&[u32]),
    ) -> Result<(), PruneError> {
        if self != Self::Magnitude || element != ElementType::F32 {
            self.keys_into(name, element, bytes, buf)?;
            f(buf);
            return Ok(());
        }
        const BLOCK: usize = 4096;
        for (b, block) in bytes.chunks(4 * BLOCK).enumerate() {
            // A plain loop that vectorizes with SSE2 alone: a key is NaN when adding 0x7F_FFFF
            // reaches bit 31 (key ≥ NAN_KEY_MIN), so one OR over the block tells whether the
            // NaN search must run.
            buf.resize(block.len() / 4, 0);
            let flags = widest_dispatch(|| f32_magnitude_keys(block, buf));
            if flags & 0x8000_0000 != 0
                && let Some(index) = buf.iter().position(|&k| k >= NAN_KEY_MIN)
            {
                return Err(PruneError::NotANumber {
                    tensor: name.to_string(),
                    index: b * BLOCK + index,
                });
            }
            f(buf);
        }
        Ok(())
    }

    /// The key of element `index` alone (for sampling), as [`fill_keys`](Self::fill_keys)
    /// would compute it; NaN is not checked here.
    pub(crate) fn key_at(self, name: &str, element: ElementType, bytes: &[u8], index: u64) -> u32 {
        match self {
            Self::Magnitude => {
                let size = element.float_size().unwrap_or(1);
                let start = index as usize * size;
                let mut key = 0;
                for_each_magnitude_key(element, &bytes[start..start + size], |_, k| key = k);
                key
            }
            Self::Random { seed } => (at(mix(seed ^ name_hash(name)), index) >> 32) as u32,
        }
    }

    /// [`keys_into`](Self::keys_into) without the NaN check, for data already checked.
    pub(crate) fn fill_keys(
        self,
        name: &str,
        element: ElementType,
        bytes: &[u8],
        keys: &mut Vec<u32>,
    ) {
        self.fill_keys_from(name, element, bytes, 0, keys);
    }

    /// [`fill_keys`](Self::fill_keys) of a window of the tensor: `bytes` are its elements
    /// from element `first` on.
    pub(crate) fn fill_keys_from(
        self,
        name: &str,
        element: ElementType,
        bytes: &[u8],
        first: u64,
        keys: &mut Vec<u32>,
    ) {
        keys.clear();
        let n = bytes.len() / element.float_size().unwrap_or(1);
        keys.reserve(n);
        match self {
            Self::Magnitude if element == ElementType::F32 => keys.extend(
                bytes
                    .chunks_exact(4)
                    .map(|c| f32_magnitude_key(u32::from_le_bytes(c.try_into().expect("4 bytes")))),
            ),
            Self::Magnitude => for_each_magnitude_key(element, bytes, |_, k| keys.push(k)),
            Self::Random { seed } => {
                let stream = mix(seed ^ name_hash(name));
                keys.extend((first..first + n as u64).map(|i| (at(stream, i) >> 32) as u32));
            }
        }
    }
}

/// Writes the magnitude key of each `f32` of `bytes` into `keys` (as long as `bytes` has
/// elements) and returns the OR of `key + 0x7F_FFFF` over them, whose bit 31 is set exactly
/// when some key is NaN's (≥ `NAN_KEY_MIN`). A plain loop, compiled at the widest SIMD level
/// by its caller.
#[inline(always)]
fn f32_magnitude_keys(bytes: &[u8], keys: &mut [u32]) -> u32 {
    let mut flags = 0u32;
    for (key, c) in keys.iter_mut().zip(bytes.chunks_exact(4)) {
        *key = f32_magnitude_key(u32::from_le_bytes(c.try_into().expect("4 bytes")));
        flags |= key.wrapping_add(0x007F_FFFF);
    }
    flags
}

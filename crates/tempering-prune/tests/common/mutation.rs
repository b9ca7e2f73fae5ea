//! Seeded byte-level mutations of checkpoint files, shared by the reader and subcommand
//! fuzzing tests: bit flips, overwritten bytes, truncations, insertions, deletions, edits of the
//! format's length fields and extreme values (0, all ones, NaN, -0.0) in 4-byte windows.

use tempering_core::split_mix::SplitMix64;

/// One to four mutations of `seed`.
pub fn mutate(rng: &mut SplitMix64, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = bytes.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                bytes[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                bytes[i] = rng.next_u64() as u8;
            }
            2 => bytes.truncate(rng.below(len + 1)),
            3 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let junk: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                bytes.splice(i..i, junk);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let j = (i + 1 + rng.below(16)).min(len);
                bytes.drain(i..j);
            }
            // The length fields: burnpack's metadata size (bytes 6..10), safetensors' header
            // size (bytes 0..8).
            5 if len >= 10 => {
                let at = if bytes.starts_with(b"NRUB") {
                    6
                } else {
                    rng.below(8)
                };
                bytes[at] = bytes[at].wrapping_add(1 + rng.below(255) as u8);
            }
            _ if len > 0 => {
                // Extreme values in a random 4-byte window.
                let i = rng.below(len.saturating_sub(4) + 1);
                let v = [0u32, u32::MAX, 0x7FC0_0000, 0x8000_0000][rng.below(4)];
                for (k, b) in v.to_le_bytes().iter().enumerate() {
                    if i + k < len {
                        bytes[i + k] = *b;
                    }
                }
            }
            _ => {}
        }
    }
    bytes
}

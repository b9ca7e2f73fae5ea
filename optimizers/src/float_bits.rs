//! Bit-level tests on `f32` shared by the host loops and the non-finite guard (a leaf module,
//! so neither depends on the other for it).

/// True for NaN and ±∞: all exponent bits set (an integer test that vectorizes).
#[inline(always)]
pub fn non_finite(v: f32) -> bool {
    const EXPONENT: u32 = 0x7f80_0000;
    v.to_bits() & EXPONENT == EXPONENT
}

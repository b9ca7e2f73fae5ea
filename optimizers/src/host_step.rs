//! The fused CPU step: one pass over a parameter, its gradient and its state in host memory.
//!
//! Written as tensor operations, an Adam-like step allocates and traverses memory about eight
//! times; on a CPU backend that dominates the step (Burn's own Lion measured 160–320 ms on 10M
//! parameters here, a single-pass loop 19 ms). On the host backends (Flex, NdArray) a uniquely
//! owned contiguous tensor converts to and from [`TensorData`] without a copy (Flex), so each
//! optimizer here updates parameter and state in one loop over `&mut [f32]`. On other devices
//! (GPUs) the same rule runs as tensor operations, which Burn's fusion compiles; tests check that
//! both paths give the same numbers.
//!
//! Public on purpose: these are the pieces every fused step of this crate is built from, for
//! writing the fused step of an optimizer of your own (and for benchmarks that must split their
//! loops the same way). Decide with [`StepPath::fused`], move the tensors to slices with
//! [`with_host_slices`], split the loop over the cores with [`par_chunks`]:
//!
//! ```
//! use burn::tensor::{Device, Tensor, TensorData};
//! use tempering_optim::host_step::{StepPath, par_chunks, with_host_slices};
//!
//! /// Plain SGD, fused on host devices and tensor operations elsewhere.
//! fn sgd_step(x: Tensor<1>, g: Tensor<1>, lr: f32) -> Tensor<1> {
//!     if !StepPath::Auto.fused(&x) {
//!         return x - g * lr;
//!     }
//!     let [x, _] = with_host_slices([x, g], |[x, g]| {
//!         par_chunks([x, g], &|_offset, [x, g]| {
//!             for (xi, gi) in x.iter_mut().zip(g.iter()) {
//!                 *xi -= lr * gi;
//!             }
//!         })
//!     });
//!     x
//! }
//!
//! let device = Device::default();
//! let x = Tensor::<1>::from_data(TensorData::from([1.0f32, 2.0, 3.0]), &device);
//! let g = Tensor::<1>::from_data(TensorData::from([0.5f32, -0.5, 1.0]), &device);
//! let x = sgd_step(x, g, 0.1).into_data().try_to_vec::<f32>().unwrap();
//! assert!((x[0] - 0.95).abs() < 1e-6 && (x[1] - 2.05).abs() < 1e-6 && (x[2] - 2.9).abs() < 1e-6);
//! ```

use burn::tensor::{DType, Device, Tensor, TensorData};
use tempering_core::host_device::host_backend;
use tempering_core::simd_dispatch::widest_dispatch;

/// True when `device` keeps tensors in host memory (Flex or NdArray, with or without autodiff;
/// `tempering_core::host_device`).
pub fn is_host_device(device: &Device) -> bool {
    host_backend(device).is_some()
}

/// Which implementation of an optimizer's rule a step uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StepPath {
    /// The fused loop on host devices for `f32` tensors, tensor operations elsewhere.
    #[default]
    Auto,
    /// Always tensor operations (the reference path; what GPUs run).
    TensorOps,
}

impl StepPath {
    /// Whether a step on `tensor` takes the fused host loop.
    pub fn fused<const D: usize>(self, tensor: &Tensor<D>) -> bool {
        self == Self::Auto && tensor.dtype() == DType::F32 && is_host_device(&tensor.device())
    }
}

/// Moves `N` same-shaped `f32` tensors to host slices, runs `f` on them, and rebuilds the
/// tensors on the first one's device. Zero-copy where the backend allows it (Flex, uniquely
/// owned, contiguous); otherwise one copy each way.
pub fn with_host_slices<const D: usize, const N: usize>(
    tensors: [Tensor<D>; N],
    f: impl FnOnce([&mut [f32]; N]),
) -> [Tensor<D>; N] {
    let device = tensors[0].device();
    let mut data: [TensorData; N] = tensors.map(Tensor::into_data);
    let slices = data.each_mut().map(|d| {
        d.as_mut_slice::<f32>()
            .expect("the fused step is only taken for f32 tensors")
    });
    f(slices);
    data.map(|d| Tensor::from_data(d, (&device, DType::F32)))
}

/// Below this many elements a fused loop runs on one thread (splitting costs more than it saves).
pub const PARALLEL_MIN_LEN: usize = 1 << 15;

/// Runs `f(offset, chunk)` over same-length slices split at the same indices, in parallel on
/// rayon's pool (recursive halving down to [`PARALLEL_MIN_LEN`]); `offset` is where the chunk
/// starts in the whole. Elementwise loops stay exactly as they would be on one thread.
pub fn par_chunks<const N: usize>(
    slices: [&mut [f32]; N],
    f: &(impl Fn(usize, [&mut [f32]; N]) + Sync),
) {
    fn go<const N: usize>(
        offset: usize,
        slices: [&mut [f32]; N],
        f: &(impl Fn(usize, [&mut [f32]; N]) + Sync),
    ) {
        let len = slices[0].len();
        if len <= PARALLEL_MIN_LEN {
            return f(offset, slices);
        }
        let mid = len / 2;
        let (left, right) = split_all(slices, mid);
        rayon::join(|| go(offset, left, f), || go(offset + mid, right, f));
    }
    go(0, slices, f)
}

/// Splits every slice at `mid`: the left parts and the right parts.
fn split_all<const N: usize>(
    slices: [&mut [f32]; N],
    mid: usize,
) -> ([&mut [f32]; N], [&mut [f32]; N]) {
    let mut left: [&mut [f32]; N] = std::array::from_fn(|_| Default::default());
    let mut right: [&mut [f32]; N] = std::array::from_fn(|_| Default::default());
    for (k, s) in slices.into_iter().enumerate() {
        let (l, r) = s.split_at_mut(mid);
        left[k] = l;
        right[k] = r;
    }
    (left, right)
}

/// Sums `f(offset, chunk)` over same-length slices in parallel, like [`par_chunks`] (for the
/// counting pass of cautious masking and the finiteness check).
pub fn par_sum<const N: usize, T: std::ops::Add<Output = T> + Send>(
    slices: [&[f32]; N],
    f: &(impl Fn(usize, [&[f32]; N]) -> T + Sync),
) -> T {
    fn go<const N: usize, T: std::ops::Add<Output = T> + Send>(
        offset: usize,
        slices: [&[f32]; N],
        f: &(impl Fn(usize, [&[f32]; N]) -> T + Sync),
    ) -> T {
        let len = slices[0].len();
        if len <= PARALLEL_MIN_LEN {
            return f(offset, slices);
        }
        let mid = len / 2;
        let left = slices.map(|s| &s[..mid]);
        let right = slices.map(|s| &s[mid..]);
        let (a, b) = rayon::join(|| go(offset, left, f), || go(offset + mid, right, f));
        a + b
    }
    go(0, slices, f)
}

/// Like [`par_chunks`], with a byte array split at the same indices beside the slices (for
/// two-pass kernels that leave a code per element for their second pass), combining what `f`
/// returns for each chunk with `combine`.
pub(crate) fn par_fold_with_codes<const N: usize, T: Send>(
    slices: [&mut [f32]; N],
    codes: &mut [i8],
    f: &(impl Fn([&mut [f32]; N], &mut [i8]) -> T + Sync),
    combine: &(impl Fn(T, T) -> T + Sync),
) -> T {
    let len = slices[0].len();
    assert!(
        slices.iter().all(|s| s.len() == len) && codes.len() == len,
        "par_fold_with_codes: slices of different lengths"
    );
    if len <= PARALLEL_MIN_LEN {
        return f(slices, codes);
    }
    let mid = len / 2;
    let (left, right) = split_all(slices, mid);
    let (codes_left, codes_right) = codes.split_at_mut(mid);
    let (a, b) = rayon::join(
        || par_fold_with_codes(left, codes_left, f, combine),
        || par_fold_with_codes(right, codes_right, f, combine),
    );
    combine(a, b)
}

/// What the read-only pass of a cautious step finds: how many components agree with their
/// gradient, and whether any gradient entry is NaN or ±∞ (then the step is skipped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CautiousTally {
    /// Components whose update agrees in sign with the gradient.
    pub kept: usize,
    /// Whether a gradient entry was not finite.
    pub non_finite: bool,
}

impl std::ops::Add for CautiousTally {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            kept: self.kept + other.kept,
            non_finite: self.non_finite | other.non_finite,
        }
    }
}

impl CautiousTally {
    /// Counts over one chunk (at most [`PARALLEL_MIN_LEN`] long, so `u32` counters suffice):
    /// `agrees` sees the `N` values at an index, `slices[GRAD]` is checked for finiteness.
    /// The slices are cut to one length first, so the loop has no bounds checks and vectorizes.
    #[inline(always)]
    #[allow(clippy::needless_range_loop)] // `i` indexes all N slices at once.
    pub fn count<const N: usize, const GRAD: usize>(
        slices: [&[f32]; N],
        agrees: impl Fn([f32; N]) -> bool,
    ) -> Self {
        let len = slices[0].len();
        let slices = slices.map(|s| &s[..len]);
        let (mut kept, mut bad) = (0u32, 0u32);
        for i in 0..len {
            let values: [f32; N] = std::array::from_fn(|k| slices[k][i]);
            // Wrapping: a checked add (debug builds) would keep the loop from vectorizing; a
            // chunk is far shorter than u32::MAX.
            kept = kept.wrapping_add(u32::from(agrees(values)));
            bad |= u32::from(crate::float_bits::non_finite(values[GRAD]));
        }
        Self {
            kept: kept as usize,
            non_finite: bad != 0,
        }
    }

    /// [`count`](Self::count) through [`widest_dispatch`]: the agreement test on 16 lanes where
    /// the CPU has AVX-512, 8 where it has AVX2.
    pub fn count_dispatched<const N: usize, const GRAD: usize>(
        slices: [&[f32]; N],
        agrees: impl Fn([f32; N]) -> bool,
    ) -> Self {
        widest_dispatch(|| Self::count::<N, GRAD>(slices, agrees))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_cpu_device_is_host_with_and_without_autodiff() {
        let device = Device::default();
        assert!(is_host_device(&device));
        assert!(is_host_device(&device.autodiff()));
    }

    #[test]
    fn host_slices_round_trip_and_mutate() {
        let device = Device::default();
        let a = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.0]], &device);
        let b = Tensor::<2>::from_floats([[10.0, 20.0], [30.0, 40.0]], &device);
        let [a, b] = with_host_slices([a, b], |[a, b]| {
            for (x, y) in a.iter_mut().zip(b.iter_mut()) {
                *x += *y;
                *y = 0.0;
            }
        });
        assert_eq!(a.dims(), [2, 2]);
        let a: Vec<f32> = a.into_data().try_to_vec().unwrap();
        assert_eq!(a, vec![11.0, 22.0, 33.0, 44.0]);
        let b: Vec<f32> = b.into_data().try_to_vec().unwrap();
        assert_eq!(b, vec![0.0; 4]);
    }
}

#[cfg(test)]
mod parallel_tests {
    use super::*;

    #[test]
    fn par_chunks_covers_every_index_once() {
        let n = 3 * PARALLEL_MIN_LEN + 17;
        let mut a = vec![0.0f32; n];
        let mut b: Vec<f32> = (0..n).map(|i| i as f32).collect();
        par_chunks([&mut a, &mut b], &|offset, [a, b]| {
            for (i, (x, y)) in a.iter_mut().zip(b.iter_mut()).enumerate() {
                *x += (offset + i) as f32;
                *y *= 2.0;
            }
        });
        assert!(a.iter().enumerate().all(|(i, &v)| v == i as f32));
        assert!(b.iter().enumerate().all(|(i, &v)| v == 2.0 * i as f32));
        let mut codes = vec![0i8; n];
        let ones = par_fold_with_codes(
            [&mut a],
            &mut codes,
            &|[a], codes| {
                for (v, c) in a.iter().zip(codes.iter_mut()) {
                    *c = (*v as usize % 3) as i8;
                }
                codes.iter().filter(|&&c| c == 1).count()
            },
            &|x, y| x + y,
        );
        assert_eq!(ones, (0..n).filter(|i| i % 3 == 1).count());
        assert!(codes.iter().enumerate().all(|(i, &c)| c == (i % 3) as i8));
        let evens = par_sum([&a], &|_, [a]| {
            a.iter()
                .filter(|v| (**v as usize).is_multiple_of(2))
                .count()
        });
        assert_eq!(evens, n.div_ceil(2));
    }
}

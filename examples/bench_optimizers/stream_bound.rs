//! The machine's memory bound for an optimizer step, measured the way STREAM measures bandwidth
//! (McCalpin, "Memory Bandwidth and Machine Balance in Current High Performance Computers",
//! 1995): simple vectorized loops over arrays far larger than the caches, on every thread count,
//! with regular and with streaming (non-temporal) stores, the fastest kept.
//!
//! The loop moves exactly the bytes of a step that writes `writes` arrays (parameter and state)
//! and reads one more (the gradient): every array is read once and every written one is written
//! once. Its only arithmetic is one addition per element: the first written array becomes the
//! gradient plus the last one, and each other written array takes the value of the one before
//! it (so no load can be skipped). The gradient is new memory before every pass, written by a
//! computing loop, as the optimizers get theirs.

use std::time::Instant;

use rayon::ThreadPool;
use tempering_examples::common::median::median;

/// One cache line of `f32`s, so that arrays of them are 64-byte aligned (streaming stores need
/// it).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
pub struct Line([f32; 16]);

/// How the loop stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stores {
    /// Ordinary stores, through the cache.
    Regular,
    /// Non-temporal stores (`vmovntps`), past the cache; only where the CPU has AVX.
    Streaming,
}

impl Stores {
    /// Its name in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Stores::Regular => "regular",
            Stores::Streaming => "streaming",
        }
    }
}

/// The median time of one pass, in milliseconds, for each thread count and store kind measured.
#[derive(Clone, Debug)]
pub struct StreamBound {
    /// `(threads, stores, milliseconds)` for every variant measured.
    pub variants: Vec<(usize, Stores, f64)>,
}

impl StreamBound {
    /// The fastest variant's time: the bound.
    pub fn best_ms(&self) -> f64 {
        self.variants
            .iter()
            .map(|v| v.2)
            .fold(f64::INFINITY, f64::min)
    }
}

/// A gradient of `lines` cache lines in new memory, written by a computing loop on the current
/// rayon pool (as a backward pass writes it, which also leaves the pool's threads awake).
fn fresh_lines(lines: usize) -> Vec<Line> {
    use rayon::prelude::*;
    (0..lines)
        .into_par_iter()
        .map(|i| Line(std::array::from_fn(|j| ((i * 16 + j) % 1000) as f32 * 1e-3)))
        .collect()
}

/// Measures the bound for `n` elements (rounded up to whole lines) and `writes` written arrays
/// (1 to 4) over `steps` passes per variant, on each of `pools` (one per thread count).
pub fn stream_bound(n: usize, writes: usize, steps: usize, pools: &[ThreadPool]) -> StreamBound {
    assert!((1..=4).contains(&writes), "1 to 4 written arrays");
    let lines = n.div_ceil(16);
    let mut arrays: Vec<Vec<Line>> = (0..writes)
        .map(|k| vec![Line([k as f32 + 1.0; 16]); lines])
        .collect();
    let mut store_kinds = vec![Stores::Regular];
    if has_streaming_stores() {
        store_kinds.push(Stores::Streaming);
    }
    let mut variants = Vec::new();
    for pool in pools {
        for &stores in &store_kinds {
            let mut times = Vec::with_capacity(steps);
            for i in 0..steps + 2 {
                let gradient = pool.install(|| fresh_lines(lines));
                let start = Instant::now();
                pool.install(|| pass(&gradient, &mut arrays, stores, pool.current_num_threads()));
                if i >= 2 {
                    times.push(start.elapsed().as_secs_f64() * 1e3);
                }
                std::hint::black_box(&arrays);
            }
            variants.push((pool.current_num_threads(), stores, median(times)));
        }
    }
    StreamBound { variants }
}

/// One pass, split into `threads` contiguous parts run in parallel.
fn pass(gradient: &[Line], arrays: &mut [Vec<Line>], stores: Stores, threads: usize) {
    let part = gradient.len().div_ceil(threads.max(1)).max(1);
    let mut parts: Vec<Vec<&mut [Line]>> = (0..gradient.len().div_ceil(part))
        .map(|_| Vec::new())
        .collect();
    for array in arrays.iter_mut() {
        for (k, chunk) in array.chunks_mut(part).enumerate() {
            parts[k].push(chunk);
        }
    }
    rayon::scope(|scope| {
        for (g, mut written) in gradient.chunks(part).zip(parts) {
            scope.spawn(move |_| rotate(g, &mut written, stores));
        }
    });
}

/// Whether this CPU can store past the cache with AVX.
fn has_streaming_stores() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `written[0] ← gradient + written[last]`, `written[k] ← written[k − 1]`, line by line.
fn rotate(gradient: &[Line], written: &mut [&mut [Line]], stores: Stores) {
    let n = gradient.len();
    assert!(written.iter().all(|w| w.len() == n), "arrays of one length");
    let g = gradient.as_ptr();
    let count = written.len();
    let mut ptrs = written.iter_mut().map(|w| w.as_mut_ptr());
    let mut next = || ptrs.next().expect("as many pointers as arrays");
    // SAFETY: every pointer is the start of a distinct live slice of `n` lines.
    unsafe {
        match count {
            1 => rotate_fixed::<1>(g, [next()], n, stores),
            2 => rotate_fixed::<2>(g, [next(), next()], n, stores),
            3 => rotate_fixed::<3>(g, [next(), next(), next()], n, stores),
            4 => rotate_fixed::<4>(g, [next(), next(), next(), next()], n, stores),
            w => panic!("{w} written arrays"),
        }
    }
}

/// [`rotate`] for `W` arrays, on the widest instructions the CPU has.
///
/// # Safety
/// `g` and every `a[k]` point to `n` lines of distinct live allocations.
unsafe fn rotate_fixed<const W: usize>(
    g: *const Line,
    a: [*mut Line; W],
    n: usize,
    stores: Stores,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F; the pointers as the caller promises.
            return unsafe {
                match stores {
                    Stores::Regular => rotate_avx512::<W, false>(g, a, n),
                    Stores::Streaming => rotate_avx512::<W, true>(g, a, n),
                }
            };
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU has AVX; the pointers as the caller promises.
            return unsafe {
                match stores {
                    Stores::Regular => rotate_avx::<W, false>(g, a, n),
                    Stores::Streaming => rotate_avx::<W, true>(g, a, n),
                }
            };
        }
    }
    assert_eq!(stores, Stores::Regular, "streaming stores need AVX");
    for i in 0..n {
        // SAFETY: `i < n`, within every allocation.
        unsafe {
            let loaded: [Line; W] = std::array::from_fn(|k| *a[k].add(i));
            let gi = *g.add(i);
            for k in (1..W).rev() {
                *a[k].add(i) = loaded[k - 1];
            }
            *a[0].add(i) = Line(std::array::from_fn(|j| gi.0[j] + loaded[W - 1].0[j]));
        }
    }
}

/// [`rotate_fixed`] with 512-bit loads and stores, streaming when `NT`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn rotate_avx512<const W: usize, const NT: bool>(
    g: *const Line,
    a: [*mut Line; W],
    n: usize,
) {
    use std::arch::x86_64::*;
    for i in 0..n {
        // SAFETY: `i < n`; lines are 64-byte aligned.
        unsafe {
            let store = |dst: *mut Line, v: __m512| {
                if NT {
                    _mm512_stream_ps(dst.cast(), v)
                } else {
                    _mm512_store_ps(dst.cast(), v)
                }
            };
            // Every load before any store: a store to one array followed by a load from
            // another at the same offset modulo 4 KiB (the arrays are page-aligned alike)
            // would wait on a false store-forwarding match.
            let loaded: [__m512; W] = std::array::from_fn(|k| _mm512_load_ps(a[k].add(i).cast()));
            let gi = _mm512_load_ps(g.add(i).cast());
            for k in (1..W).rev() {
                store(a[k].add(i), loaded[k - 1]);
            }
            store(a[0].add(i), _mm512_add_ps(gi, loaded[W - 1]));
        }
    }
    _mm_sfence();
}

/// [`rotate_fixed`] with 256-bit loads and stores, streaming when `NT`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn rotate_avx<const W: usize, const NT: bool>(g: *const Line, a: [*mut Line; W], n: usize) {
    use std::arch::x86_64::*;
    for i in 0..n {
        for half in [0, 8] {
            // SAFETY: `i < n`; halves of lines are 32-byte aligned.
            unsafe {
                let at = |p: *const Line| p.add(i).cast::<f32>().add(half);
                let store = |dst: *mut f32, v: __m256| {
                    if NT {
                        _mm256_stream_ps(dst, v)
                    } else {
                        _mm256_store_ps(dst, v)
                    }
                };
                let loaded: [__m256; W] = std::array::from_fn(|k| _mm256_load_ps(at(a[k])));
                let gi = _mm256_load_ps(at(g));
                for k in (1..W).rev() {
                    store(at(a[k]).cast_mut(), loaded[k - 1]);
                }
                store(at(a[0]).cast_mut(), _mm256_add_ps(gi, loaded[W - 1]));
            }
        }
    }
    _mm_sfence();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loop is the rotation it claims, in every store kind, split or not.
    #[test]
    fn the_pass_rotates_the_arrays() {
        let lines = 5;
        let gradient = fresh_lines(lines);
        for stores in [Stores::Regular, Stores::Streaming] {
            if stores == Stores::Streaming && !has_streaming_stores() {
                continue;
            }
            for threads in [1, 2, 3] {
                let mut arrays: Vec<Vec<Line>> = (0..3)
                    .map(|k| {
                        (0..lines)
                            .map(|i| Line([(k * 10 + i) as f32; 16]))
                            .collect()
                    })
                    .collect();
                let before = arrays.clone();
                pass(&gradient, &mut arrays, stores, threads);
                for i in 0..lines {
                    for j in 0..16 {
                        assert_eq!(arrays[0][i].0[j], gradient[i].0[j] + before[2][i].0[j]);
                        assert_eq!(arrays[1][i].0[j], before[0][i].0[j]);
                        assert_eq!(arrays[2][i].0[j], before[1][i].0[j]);
                    }
                }
            }
        }
    }
}

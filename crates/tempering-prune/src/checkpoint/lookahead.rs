//! The transformed pieces of a write (whole tensors, or windows of streamed ones), each
//! produced one step ahead of the writer: while the writer copies piece `j` into the file (a
//! single-threaded kernel copy), piece `j + 1` is being transformed on another thread, so the
//! two costs overlap instead of adding up. Buffers are recycled, so memory stays bounded by
//! about three of the largest pieces.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::{Transform, WINDOW_BYTES, WholeTransform};

/// The pieces of one write, in the order the writer asks for them.
pub(super) struct Lookahead {
    jobs: Vec<Job>,
    pool: Pool,
}

struct Job {
    original: bytes::Bytes,
    make: WholeTransform,
    /// Set once the job has been handed to a thread (or run inline).
    started: AtomicBool,
    /// The thread producing it ahead of time, until the writer takes its result.
    ahead: Mutex<Option<JoinHandle<Vec<u8>>>>,
}

/// The pieces of one tensor: its whole bytes under a [`Transform::Whole`], windows of
/// [`WINDOW_BYTES`] under a [`Transform::Windowed`] (`element_size` divides the window).
pub(super) fn pieces(
    original: bytes::Bytes,
    transform: Transform,
    element_size: usize,
) -> Vec<(bytes::Bytes, WholeTransform)> {
    match transform {
        Transform::Whole(make) => vec![(original, make)],
        Transform::Windowed(window) => {
            debug_assert_eq!(WINDOW_BYTES % element_size.max(1), 0);
            (0..original.len())
                .step_by(WINDOW_BYTES)
                .map(|start| {
                    let end = (start + WINDOW_BYTES).min(original.len());
                    let first = (start / element_size.max(1)) as u64;
                    let window = Arc::clone(&window);
                    let make: WholeTransform = Arc::new(move |source: &[u8], out: &mut Vec<u8>| {
                        out.resize(source.len(), 0);
                        window(first, source, out)
                    });
                    (original.slice(start..end), make)
                })
                .collect()
        }
    }
}

impl Lookahead {
    /// The pipeline over `(original bytes, transform)` pieces, in writing order.
    pub(super) fn new(jobs: Vec<(bytes::Bytes, WholeTransform)>) -> Arc<Self> {
        Arc::new(Self {
            jobs: jobs
                .into_iter()
                .map(|(original, make)| Job {
                    original,
                    make,
                    started: AtomicBool::new(false),
                    ahead: Mutex::new(None),
                })
                .collect(),
            pool: Pool::default(),
        })
    }

    /// The new bytes of piece `j` (from its thread if one was started, computed here if not),
    /// after starting piece `j + 1` on a thread of its own. They go back to the pool when the
    /// returned bytes are dropped.
    pub(super) fn produce(self: &Arc<Self>, j: usize) -> bytes::Bytes {
        let ahead = lock(&self.jobs[j].ahead).take();
        let next = j + 1;
        if next < self.jobs.len() && !self.jobs[next].started.swap(true, Ordering::AcqRel) {
            let me = Arc::clone(self);
            *lock(&self.jobs[next].ahead) = Some(std::thread::spawn(move || me.run(next)));
        }
        let buffer = match ahead {
            Some(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            None => {
                self.jobs[j].started.store(true, Ordering::Release);
                self.run(j)
            }
        };
        bytes::Bytes::from_owner(Pooled {
            buffer,
            pool: self.pool.clone(),
        })
    }

    fn run(&self, j: usize) -> Vec<u8> {
        let job = &self.jobs[j];
        let mut buffer = self.pool.take();
        (job.make)(&job.original, &mut buffer);
        buffer
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Buffers handed back after the writer has written a piece, so the next one reuses memory
/// that is already mapped: allocating a fresh buffer per tensor cost more in page faults than
/// the transform itself (measured on a 1 GiB checkpoint).
#[derive(Clone, Default)]
struct Pool(Arc<Mutex<Vec<Vec<u8>>>>);

impl Pool {
    /// A free buffer with its old length and bytes: every transform sets the length it needs,
    /// and one that overwrites every byte need not clear it first.
    fn take(&self) -> Vec<u8> {
        lock(&self.0).pop().unwrap_or_default()
    }
}

/// A piece's new bytes, returned to the pool when the writer drops them.
struct Pooled {
    buffer: Vec<u8>,
    pool: Pool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buffer
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        lock(&self.pool.0).push(std::mem::take(&mut self.buffer));
    }
}

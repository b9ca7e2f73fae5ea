//! A streamed tensor for burn-pack's writer: its bytes are produced window by window, on
//! request, from the [`Lookahead`] pipeline. burn-pack copies every tensor into the file
//! through [`Bytes::view`](burn_pack::Bytes::view) windows of 8 MiB (its write chunk, equal to
//! [`WINDOW_BYTES`]), so a tensor transformed by a [`Transform::Windowed`](super::Transform)
//! is never whole in memory.

use std::mem::MaybeUninit;
use std::sync::{Arc, OnceLock};

use burn_std::{
    AccessError, AccessPolicy, AllocationController, AllocationProperty,
    SharedBytesAllocationController,
};

use super::WINDOW_BYTES;
use super::lookahead::Lookahead;

/// A tensor of `len` bytes whose windows are pieces `first, first + 1, …` of `lookahead`.
pub(super) struct StreamedTensor {
    lookahead: Arc<Lookahead>,
    first: usize,
    len: usize,
    /// The whole tensor, only if someone asks for it at once (burn-pack does not).
    whole: OnceLock<Vec<u8>>,
}

impl StreamedTensor {
    /// The tensor as burn-pack bytes.
    pub(super) fn bytes(lookahead: Arc<Lookahead>, first: usize, len: usize) -> burn_pack::Bytes {
        let controller = Box::new(Self {
            lookahead,
            first,
            len,
            whole: OnceLock::new(),
        });
        // SAFETY: every access through the controller yields exactly `len` initialized bytes
        // (each window is produced in full before it is handed out).
        unsafe { burn_pack::Bytes::from_controller(controller, len) }
    }

    /// The bytes `[start, end)`: one window as produced when the range is exactly one,
    /// otherwise the windows it touches, copied out.
    fn range(&self, start: usize, end: usize) -> bytes::Bytes {
        let window = start / WINDOW_BYTES;
        if start.is_multiple_of(WINDOW_BYTES) && end == (start + WINDOW_BYTES).min(self.len) {
            return self.lookahead.produce(self.first + window);
        }
        let mut out = Vec::with_capacity(end - start);
        let mut at = start;
        while at < end {
            let k = at / WINDOW_BYTES;
            let piece = self.lookahead.produce(self.first + k);
            let base = k * WINDOW_BYTES;
            let stop = (end - base).min(piece.len());
            out.extend_from_slice(&piece[at - base..stop]);
            at = base + stop;
        }
        bytes::Bytes::from(out)
    }

    fn whole(&self) -> &Vec<u8> {
        self.whole
            .get_or_init(|| self.range(0, self.len).as_ref().to_vec())
    }
}

fn uninit(bytes: &[u8]) -> &[MaybeUninit<u8>] {
    // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and initialized bytes are valid
    // `MaybeUninit`s.
    unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast(), bytes.len()) }
}

impl AllocationController for StreamedTensor {
    fn alloc_align(&self) -> usize {
        1
    }

    fn property(&self) -> AllocationProperty {
        AllocationProperty::Other
    }

    unsafe fn memory_mut(
        &mut self,
        policy: AccessPolicy,
    ) -> Result<&mut [MaybeUninit<u8>], AccessError> {
        if self.whole.get().is_none() && !policy.copy_allowed() {
            return Err(AccessError::WouldCopy);
        }
        self.whole();
        let bytes = self.whole.get_mut().expect("materialized");
        // SAFETY: as in `uninit`.
        Ok(unsafe { std::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast(), bytes.len()) })
    }

    fn memory(&self, policy: AccessPolicy) -> Result<&[MaybeUninit<u8>], AccessError> {
        if self.whole.get().is_none() && !policy.copy_allowed() {
            return Err(AccessError::WouldCopy);
        }
        Ok(uninit(self.whole()))
    }

    fn capacity(&self) -> usize {
        self.len
    }

    fn view(&self, start: usize, end: usize) -> Option<Box<dyn AllocationController>> {
        if start > end || end > self.len {
            return None;
        }
        Some(Box::new(SharedBytesAllocationController::new(
            self.range(start, end),
            AllocationProperty::Native,
        )))
    }
}

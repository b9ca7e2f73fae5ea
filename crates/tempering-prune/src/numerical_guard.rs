//! Numerical routines that report failure by panicking (burn-linalg's SVD panics when its QR
//! iteration does not converge), run so that the failure becomes an error naming the tensor.
//!
//! The panic is caught; its message would still reach standard error through the process's
//! panic hook. A program that turns errors into messages of its own (the `tempering` tool)
//! installs [`install_quiet_panic_hook`], which stays silent for panics raised inside
//! [`guarded`] on the same thread and prints every other panic as before.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};

thread_local! {
    /// Whether this thread is inside [`guarded`].
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`; a panic inside it becomes `Err` with the panic's message.
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let outer = GUARDED.replace(true);
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDED.set(outer);
    result.map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "no message".into())
    })
}

/// Replaces the panic hook with one that prints nothing for panics that [`guarded`] turns
/// into errors, and defers to the previous hook for all others. Call it once at start-up.
pub fn install_quiet_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !GUARDED.get() {
            previous(info);
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_the_flag_is_restored() {
        let caught = guarded(|| -> u32 { panic!("no convergence") });
        assert_eq!(caught, Err("no convergence".to_string()));
        assert!(!GUARDED.get());
        assert_eq!(guarded(|| 7), Ok(7));
    }
}

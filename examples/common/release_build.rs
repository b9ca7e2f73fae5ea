//! The benchmarks' guard against timing an unoptimized build: their baselines (the memory-bound
//! loop, the user-space copy) are loops of their own, compiled with the examples crate, which
//! the dev profile does not optimize.

/// Exits with a message naming `--release` when this is not an optimized build (debug
/// assertions on, as in the dev profile), so no benchmark prints ratios against an unoptimized
/// baseline.
pub fn require_release_build(name: &str) {
    if cfg!(debug_assertions) {
        eprintln!(
            "{name}: this is a dev build, whose baseline loops are not optimized; \
             run `cargo run --release -p tempering-examples --bin {name}`"
        );
        std::process::exit(2);
    }
}

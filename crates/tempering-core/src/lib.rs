//! Shared vocabulary of tempering: the bottom layer every other tempering crate may use.
//!
//! Now: [`atomic_write`], the one way tempering writes user-facing files (never a half-written
//! output), and [`split_mix`], the seeded generator of everything that must not depend on
//! Burn's process-wide random state; [`local_stages`], the face of a network cut into
//! gradient-isolated stages that local learning trains; [`mup`], muP (the Maximal Update
//! Parametrization, Yang & Hu 2021, arXiv:2011.14522): the layer roles and fan-ins models
//! declare, and the initialization, multipliers and parameter groups they imply;
//! [`compression`], the traits through which compression passes reach a model's units, linear
//! layers and calibration inputs without naming the model; [`host_device`] and
//! [`simd_dispatch`], where the host loops of the optimizers and models run and which
//! instruction set they run on.
//!
//! ```
//! use std::io::Write;
//! let path = std::env::temp_dir().join("tempering-core-doc.txt");
//! tempering_core::atomic_write::write_atomically(&path, |w| w.write_all(b"hello"))?;
//! # std::fs::remove_file(path)?;
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod atomic_write;
pub mod compression;
pub mod host_device;
pub mod local_stages;
pub mod mup;
pub mod simd_dispatch;
pub mod split_mix;

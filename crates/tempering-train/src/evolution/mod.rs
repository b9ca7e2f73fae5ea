//! Evolution strategies for training networks without gradients: OpenAI-ES on a flat vector
//! ([`OpenEs`], Salimans et al. 2017) and on a Burn module's parameters, pruned entries held
//! at zero ([`es_train`]), as the lottery-ticket experiments of Lange & Sprekeler ("Lottery
//! Tickets in Evolutionary Optimization: On Sparse Backpropagation-Free Trainability", ICML
//! 2023) train sparse networks. The pruning side (iterative magnitude pruning with rewinding,
//! random masks) is `tempering_prune::lottery`.
//!
//! ```
//! use tempering_train::evolution::{OpenEs, OpenEsConfig};
//! let config = OpenEsConfig { pairs: 8, learning_rate: 0.05, ..OpenEsConfig::default() };
//! let mut es = OpenEs::new(config, 3, 0);
//! let mut mean = vec![1.0f32; 3];
//! let loss = |x: &[f32]| x.iter().map(|v| f64::from(v * v)).sum::<f64>();
//! for _ in 0..200 {
//!     es.step(&mut mean, loss);
//! }
//! assert!(loss(&mean) < 0.1);
//! ```

mod module_es;
mod open_es;

pub use module_es::es_train;
pub use open_es::{FitnessShaping, Generation, OpenEs, OpenEsConfig, centered_ranks};

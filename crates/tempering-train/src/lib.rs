//! tempering-train: the training machinery burn-train cannot express, and the reporting every
//! tempering training shares.
//!
//! Now: reporting for burn-train runs — [`ProgressRenderer`] (progress bars and per-epoch lines),
//! [`EpochHistoryLogger`] (per-epoch metric values), [`write_history_csv`] and
//! [`plot_history`] (a PNG of the curves); [`optimizer_loop`], one loop for closure (multi-pass)
//! and per-parameter optimizers under a gradient-evaluation budget, with per-step CSV, plot and
//! exact resume; [`flatness`], diagnostics of the minimum found (top Hessian eigenvalue,
//! first-order flatness, loss along a line); [`local_learning`], the loop that trains a network
//! cut into gradient-isolated stages (AugLocal, Mono-Forward, feature reconstruction, DGL) or
//! the same stages end to end.
//!
//! ```no_run
//! use tempering_train::{EpochHistory, EpochHistoryLogger, ProgressRenderer};
//! let history = EpochHistory::new();
//! // SupervisedTraining::new(dir, train, valid)
//! //     .renderer(Box::new(ProgressRenderer::new()))
//! //     .with_metric_logger(EpochHistoryLogger::new(history.clone()))
//! //     ...launch(learner);
//! tempering_train::write_history_csv("runs/metrics.csv".as_ref(), &history, &[])?;
//! tempering_train::plot_history("runs/curves.png".as_ref(), &history)?;
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod curves_plot;
pub mod epoch_history;
pub mod evolution;
pub mod flatness;
pub mod local_learning;
pub mod meta_training;
pub mod metrics_csv;
pub mod optimizer_loop;
pub mod progress;

pub use curves_plot::{Panel, Series, plot_history, plot_panels};
pub use epoch_history::{EpochHistory, EpochHistoryLogger};
pub use metrics_csv::{history_csv, write_history_csv};
pub use progress::ProgressRenderer;

//! What the examples share, apart from any one example's body: the common flags and the backend
//! they choose, the burn-train glue for Fashion-MNIST classifiers and its training loop, the
//! optimizer menu, the learned-optimizer tasks, the masked training, weight counts and accuracy
//! plot of the pruning and compression examples, small statistics, and the benchmarks' guard
//! against unoptimized builds.

pub mod accuracy_panels;
pub mod backend_choice;
pub mod classifier_training;
pub mod common_args;
pub mod fashion_classifier;
pub mod lopt_lm_task;
pub mod lopt_tasks;
pub mod masked_training;
pub mod median;
pub mod optimizer_choice;
pub mod release_build;
pub mod test_evaluation;
pub mod train_split;
pub mod weight_counts;

//! Shared code of the tempering examples: backend choice, the glue that lets burn-train train
//! tempering-models' classifiers on tempering-data's batches, and each example's `run` function
//! (the binaries in `src/bin/` are thin command lines over them, so tests can run them too).

pub mod backend_choice;
pub mod char_lm;
pub mod compare_optimizers;
pub mod compress_char_lm;
pub mod fashion_classifier;
pub mod local_learning;
pub mod matcher_training;
pub mod median;
pub mod meta_lopt;
pub mod mup_sweep;
pub mod optimizer_choice;
pub mod prune_and_finetune;
pub mod quickstart;
pub mod test_evaluation;
pub mod train_split;
pub mod vit_training;

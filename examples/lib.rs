//! The tempering examples. Each example is a folder holding its binary (`main.rs`), its README
//! (command, expected output, measured table, time) and, where tests run it too, its body as a
//! module of this library (`mod.rs`); [`common`] holds what several examples share.

pub mod char_lm_width_sweep;
pub mod common;
pub mod compare_optimizers;
pub mod compress_and_finetune;
pub mod compress_char_lm;
pub mod es_lottery_tickets;
pub mod local_learning;
pub mod mup_lr_sweep;
pub mod pagcp_multitask;
pub mod prune_and_finetune;
pub mod quickstart;
pub mod train_char_lm;
pub mod train_matcher;
pub mod train_vit;

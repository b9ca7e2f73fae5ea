//! tempering-prune: pruning and compression passes over trained Burn modules and checkpoints.
//!
//! It will keep importance (a score per weight, channel or head), allocation (how much to remove
//! where) and surgery (masking, or physically shrinking coupled tensors) apart, after
//! Torch-Pruning: global magnitude pruning with a minimum threshold, N:M, gradual schedules,
//! structured shrinking and low-rank compression. Empty until the pruning issue lands.

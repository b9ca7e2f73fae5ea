//! tempering-cli: the `tempering` command-line tool for Burn checkpoints.
//!
//! It will inspect, prune, compress and verify burnpack and safetensors checkpoints by tensor
//! name, without the model's code, writing atomically and never over its input. The binary lands
//! with the pruning issue; until then this crate only fixes its place in the workspace.

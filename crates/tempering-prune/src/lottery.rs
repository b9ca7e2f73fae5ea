//! Lottery tickets by iterative magnitude pruning with weight rewinding (Frankle & Carbin 2019),
//! as the ES lottery-ticket experiments run it (Lange & Sprekeler, "Lottery Tickets in
//! Evolutionary Optimization: On Sparse Backpropagation-Free Trainability", ICML 2023; official
//! code RobertTLange/es-lottery @1b59025, `src/prune/imp.py`):
//!
//! - round 0 trains the dense network from its initialization;
//! - round `i ≥ 1` has sparsity `1 − keep^i` (`keep` 0.8 in the paper: each round prunes a
//!   fifth of what is left), a global magnitude threshold over the previous round's trained
//!   weights (biases are never pruned), and trains the ticket: the *initial* weights under the
//!   new mask (rewinding). The count pruned is `⌊s·n⌋`, this crate's global magnitude rule; the
//!   official percentile threshold prunes one weight more where `s·n` is not whole;
//! - the trainer is the caller's: evolution strategies (`tempering_train::evolution::es_train`,
//!   entries a mask prunes never move) or gradient descent (`ModuleMasks::step`).
//!
//! The control is a random mask of the same sparsity, tensor by tensor
//! ([`ModuleMasks::shuffled`]), trained from the same (or a fresh) initialization.
//!
//! ```
//! use burn::module::Module;
//! use burn::nn::{Linear, LinearConfig};
//! use burn::tensor::Device;
//! use tempering_prune::lottery::{LotteryConfig, lottery_tickets};
//! let init = LinearConfig::new(8, 4).init(&Device::default());
//! // A stand-in trainer that keeps the weights: the rounds, masks and rewinding still run.
//! let rounds = lottery_tickets(init, &LotteryConfig::new(3), |m: Linear, _, _| Ok::<_, String>(m))?;
//! assert_eq!(rounds.len(), 4);
//! assert!((rounds[3].sparsity - (1.0 - 0.8f64.powi(3))).abs() < 1e-12);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use burn::module::Module;

use crate::error::PruneError;
use crate::module_masks::ModuleMasks;
use crate::prune::{Method, PruneConfig};

/// Settings of [`lottery_tickets`].
#[derive(Clone, Debug, PartialEq)]
pub struct LotteryConfig {
    /// Pruning rounds after the dense one.
    pub rounds: usize,
    /// Fraction of the remaining weights each round keeps (the paper's `prune_ratio`, 0.8).
    pub keep_per_round: f64,
    /// The weights to prune, a regex over module paths (default: every float weight of rank
    /// ≥ 2, as the checkpoint pruner targets them).
    pub include: Option<String>,
}

impl LotteryConfig {
    /// `rounds` rounds keeping 0.8 of the weights each.
    pub fn new(rounds: usize) -> Self {
        Self {
            rounds,
            keep_per_round: 0.8,
            include: None,
        }
    }

    /// The sparsity of round `round` (`1 − keep^round`; 0 for the dense round).
    pub fn sparsity(&self, round: usize) -> f64 {
        1.0 - self.keep_per_round.powi(round as i32)
    }

    /// The first round whose sparsity reaches `target`, if one of [`rounds`](Self::rounds)
    /// does.
    pub fn round_reaching(&self, target: f64) -> Option<usize> {
        (0..=self.rounds).find(|&r| self.sparsity(r) >= target - 1e-12)
    }
}

/// One round: its sparsity, its mask (`None` for the dense round) and the trained network.
#[derive(Debug)]
pub struct TicketRound<M> {
    /// The round, 0 dense.
    pub round: usize,
    /// Fraction of the targeted weights pruned.
    pub sparsity: f64,
    /// The ticket's mask.
    pub masks: Option<ModuleMasks>,
    /// The network the trainer returned for this round.
    pub trained: M,
}

/// Errors of [`lottery_tickets`]: the pruning's, or the trainer's.
#[derive(Debug, thiserror::Error)]
pub enum LotteryError<E: std::fmt::Display + std::fmt::Debug> {
    /// Computing a round's mask failed.
    #[error("round {round}: {source}")]
    Prune {
        /// The round.
        round: usize,
        /// Why.
        source: PruneError,
    },
    /// The trainer failed.
    #[error("round {round}: training failed: {reason}")]
    Train {
        /// The round.
        round: usize,
        /// Why.
        reason: E,
    },
}

/// Iterative magnitude pruning with rewinding to `init`: `train(network, masks, round)` trains
/// the dense network (round 0, no masks), then each ticket (the initial weights with the
/// round's pruned weights zeroed); every round's mask is a global magnitude threshold over the
/// previous round's trained weights at the round's sparsity.
pub fn lottery_tickets<M, E, T>(
    init: M,
    config: &LotteryConfig,
    mut train: T,
) -> Result<Vec<TicketRound<M>>, LotteryError<E>>
where
    M: Module,
    E: std::fmt::Display + std::fmt::Debug,
    T: FnMut(M, Option<&ModuleMasks>, usize) -> Result<M, E>,
{
    let dense =
        train(init.clone(), None, 0).map_err(|reason| LotteryError::Train { round: 0, reason })?;
    let mut rounds = vec![TicketRound {
        round: 0,
        sparsity: 0.0,
        masks: None,
        trained: dense,
    }];
    for round in 1..=config.rounds {
        let sparsity = config.sparsity(round);
        let prune = PruneConfig::new(Method::GlobalMagnitude, sparsity)
            .with_include(config.include.clone());
        let previous = &rounds.last().expect("round 0 is there").trained;
        let masks = ModuleMasks::compute(previous, &prune)
            .map_err(|source| LotteryError::Prune { round, source })?;
        let ticket = masks.apply(init.clone());
        let trained = train(ticket, Some(&masks), round)
            .map_err(|reason| LotteryError::Train { round, reason })?;
        rounds.push(TicketRound {
            round,
            sparsity,
            masks: Some(masks),
            trained,
        });
    }
    Ok(rounds)
}

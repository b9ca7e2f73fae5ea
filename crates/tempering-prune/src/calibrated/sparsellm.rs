//! SparseLLM on one feed-forward pair (Bai, Chen, Zhang, Zhao & Zhang, "SparseLLM: Towards Global
//! Pruning of Pre-trained Language Models", NeurIPS 2024), following the official code
//! (BaiTheBest/SparseLLM @27fe26a, `model_utils.py` `opt_sparsellm`, the OPT path its current
//! defaults come from).
//!
//! The paper splits the pruning of a whole model into per-layer problems tied by auxiliary
//! variables; the released code couples the two layers of each feed-forward pair, `x → expand →
//! z → act → p → contract → y`, and prunes every other layer by plain SparseGPT. With `X` the
//! expand layer's calibration inputs and `Y` the dense pair's outputs (both from the dense
//! block), it minimises
//!
//! ```text
//! β‖W₂p + b₂ − Y‖² + γ‖p − act(z)‖² + α‖z − (W₁X + b₁)‖²,   W₁, W₂ sparse,
//! ```
//!
//! by alternating, for [`epochs`](SparseLlmConfig::epochs) rounds (`z`, `p` start as the dense
//! pair's pre-activations and activations; the weight refits are skipped in round 0):
//!
//! 1. `W₁ ← (z − b₁)·pinv(X)`, the least-squares fit (here through the eigenvectors of `XᵀX`,
//!    computed exactly in `f64`, see [`pseudo_inverse`](super::pseudo_inverse));
//! 2. `W₂` ← [`contract_steps`](SparseLlmConfig::contract_steps) gradient steps of
//!    [`contract_learning_rate`](SparseLlmConfig::contract_learning_rate) on
//!    `mean((W₂p + b₂ − Y)²)` from its current (pruned) value;
//! 3. the contract layer's `XᵀX` is rebuilt from `p`, and both layers are pruned by SparseGPT
//!    (expand with the `XᵀX` of `X`);
//! 4. `p ← (βW₂ᵀW₂ + γI)⁻¹(βW₂ᵀ(Y − b₂) + γ·act(z))` with the pruned `W₂` (here through the
//!    Woodbury identity, a `[d_model, d_model]` solve instead of the official `[d_ff, d_ff]`
//!    inverse);
//! 5. `z` entrywise (see [`update_pre_activations`](super::pre_activation)): ReLU's official
//!    closed form, or the same scalar problem solved numerically for GELU.
//!
//! The result is the weights of the last prune (steps 4 and 5 of the last round change
//! nothing and are skipped). Biases are never changed. The official `fasterprune` adds its
//! dampening to the expand layer's `XᵀX` in place, so that layer's dampening grows over the
//! rounds, to `(1.01)^(r+1) − 1` of the original mean diagonal in round `r`; that is the
//! default ([`accumulate_dampening`](SparseLlmConfig::accumulate_dampening)). The official
//! code keeps weights in half precision between steps; here everything is `f32` (the solves
//! `f64`).

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Tensor, TensorData, activation};
use tempering_core::compression::FeedForwardActivation;
use tempering_core::compression::linear_units::host_values;

use super::cholesky::solve_positive_definite;
use super::pre_activation::update_pre_activations;
use super::pseudo_inverse::pseudo_inverse_solve;
use super::{InputHessian, LayerSparsity, SparseGptConfig, sparsegpt_linear};
use crate::PruneError;

/// Singular values of the calibration inputs below this fraction of the largest count as zero
/// in `pinv(X)`. The official `torch.pinverse` uses 1e-15, which on `f32` inputs inverts
/// rounding noise when the inputs are degenerate; here `XᵀX` is exact in `f64`, and a
/// direction below 1e-6 of the largest is within `f32` rounding of not being there.
const PSEUDO_INVERSE_RTOL: f64 = 1e-6;

/// SparseLLM's settings; [`Default`] is the official OPT script's.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseLlmConfig {
    /// Weight of `‖z − (W₁X + b₁)‖²` (official 0.1).
    pub alpha: f64,
    /// Weight of `‖W₂p + b₂ − Y‖²` (official 0.1).
    pub beta: f64,
    /// Weight of `‖p − act(z)‖²` (official 0.1).
    pub gamma: f64,
    /// Rounds of the alternating updates (official `opt_epochs`, 4).
    pub epochs: usize,
    /// Gradient steps on the contract layer's weight per round (official 10).
    pub contract_steps: usize,
    /// Their learning rate (official 0.01).
    pub contract_learning_rate: f64,
    /// SparseGPT's column block (official 128).
    pub block_size: usize,
    /// SparseGPT's dampening, a fraction of the mean diagonal of `XᵀX` (official 0.01).
    pub dampening: f64,
    /// The expand layer's dampening compounds over the rounds, as the official code's in-place
    /// update does (the default); `false` dampens every prune by [`dampening`](Self::dampening).
    pub accumulate_dampening: bool,
}

impl Default for SparseLlmConfig {
    fn default() -> Self {
        Self {
            alpha: 0.1,
            beta: 0.1,
            gamma: 0.1,
            epochs: 4,
            contract_steps: 10,
            contract_learning_rate: 0.01,
            block_size: 128,
            dampening: 0.01,
            accumulate_dampening: true,
        }
    }
}

impl SparseLlmConfig {
    fn validate(&self) -> Result<(), PruneError> {
        for (field, value, zero_allowed) in [
            ("alpha", self.alpha, false),
            ("beta", self.beta, true),
            ("gamma", self.gamma, false),
            ("contract learning rate", self.contract_learning_rate, true),
            ("dampening", self.dampening, true),
        ] {
            if !value.is_finite() || value < 0.0 || (value == 0.0 && !zero_allowed) {
                return Err(PruneError::bad(
                    field,
                    format!("{value} must be a finite number above zero"),
                ));
            }
        }
        if self.epochs == 0 {
            return Err(PruneError::bad(
                "epochs",
                "SparseLLM needs at least one round",
            ));
        }
        Ok(())
    }

    /// The expand layer's dampening in round `round` (see the module docs).
    fn expand_dampening(&self, round: usize) -> f64 {
        if self.accumulate_dampening {
            (1.0 + self.dampening).powi(round as i32 + 1) - 1.0
        } else {
            self.dampening
        }
    }
}

/// What SparseLLM did to one pair.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseLlmReport {
    /// Zero weights of the expand layer after the last round.
    pub expand_zeros: usize,
    /// Zero weights of the contract layer after the last round.
    pub contract_zeros: usize,
    /// After each round's prune, the pair's `‖Ŷ − Y‖²/‖Y‖²` on the calibration inputs (`Y`
    /// the dense pair's outputs); round 0 is SparseGPT on both layers with the dense inputs.
    pub output_errors: Vec<f64>,
}

/// Prunes the pair `contract(act(expand(x)))` to `pattern` by SparseLLM (module docs).
/// `inputs` `[tokens, d_in]` are the expand layer's calibration inputs from the dense block,
/// the tokens of `sequences` sequences. Nothing is changed when an input is rejected.
pub fn sparsellm_feed_forward(
    expand: &mut Linear,
    contract: &mut Linear,
    act: FeedForwardActivation,
    inputs: Tensor<2>,
    sequences: usize,
    pattern: LayerSparsity,
    config: &SparseLlmConfig,
) -> Result<SparseLlmReport, PruneError> {
    config.validate()?;
    let [d_in, d_hidden] = expand.weight.dims();
    let [contract_in, d_out] = contract.weight.dims();
    let [tokens, width] = inputs.dims();
    if contract_in != d_hidden || width != d_in {
        return Err(PruneError::bad(
            "feed-forward pair",
            format!(
                "expand [{d_in}, {d_hidden}] and contract [{contract_in}, {d_out}] with inputs \
                 [{tokens}, {width}] do not chain"
            ),
        ));
    }
    if tokens == 0 || sequences == 0 {
        return Err(PruneError::bad(
            "calibration",
            "SparseLLM needs calibration tokens",
        ));
    }
    pattern.check(d_in)?;
    pattern.check(d_hidden)?;
    let gpt = |damp| SparseGptConfig::for_pattern(pattern, config.block_size, damp);
    gpt(config.dampening).validate(d_in)?;
    gpt(config.dampening).validate(d_hidden)?;
    let x = inputs;
    let mut expand_hessian = InputHessian::new(d_in);
    expand_hessian.add_batch(&host_values(x.clone()), sequences)?;
    let (b1, b2) = (bias_row(expand), bias_row(contract));
    let mut z = x.clone().matmul(expand.weight.val()) + b1.clone();
    let mut p = apply(act, z.clone());
    let y = p.clone().matmul(contract.weight.val()) + b2.clone();
    let y_minus_bias = y.clone() - b2.clone();
    let y_energy = sum_of_squares(y.clone()).max(f64::MIN_POSITIVE);
    let mut report = SparseLlmReport {
        expand_zeros: 0,
        contract_zeros: 0,
        output_errors: Vec::with_capacity(config.epochs),
    };
    for round in 0..config.epochs {
        let p_gram = p.clone().transpose().matmul(p.clone());
        if round > 0 {
            let rhs = host_f64(x.clone().transpose().matmul(z.clone() - b1.clone()));
            let scale = 2.0 / expand_hessian.sequences() as f64;
            let mut w1 = pseudo_inverse_solve(
                expand_hessian.matrix(),
                d_in,
                &rhs,
                d_hidden,
                PSEUDO_INVERSE_RTOL,
            );
            w1.iter_mut().for_each(|w| *w *= scale);
            set_weight(expand, from_f64(&w1, [d_in, d_hidden], &x.device()));
            // Gradient descent on mean((pW₂ + b₂ − Y)²): its gradient is
            // (2/(tokens·d_out))·(pᵀp·W₂ − pᵀ(Y − b₂)).
            let target = p.clone().transpose().matmul(y_minus_bias.clone());
            let step = config.contract_learning_rate * 2.0 / (tokens * d_out) as f64;
            let mut w2 = contract.weight.val();
            for _ in 0..config.contract_steps {
                let gradient = p_gram.clone().matmul(w2.clone()) - target.clone();
                w2 = w2 - gradient * step;
            }
            set_weight(contract, w2);
        }
        let mut contract_hessian = InputHessian::new(d_hidden);
        contract_hessian.add_gram(&host_values(p_gram), sequences)?;
        report.expand_zeros = sparsegpt_linear(
            expand,
            &expand_hessian,
            &gpt(config.expand_dampening(round)),
        )?
        .zeros;
        report.contract_zeros =
            sparsegpt_linear(contract, &contract_hessian, &gpt(config.dampening))?.zeros;
        let m = x.clone().matmul(expand.weight.val()) + b1.clone();
        let pruned_y = apply(act, m.clone()).matmul(contract.weight.val()) + b2.clone();
        report
            .output_errors
            .push(sum_of_squares(pruned_y - y.clone()) / y_energy);
        if round + 1 == config.epochs {
            break;
        }
        p = updated_activations(contract, act, &z, &y_minus_bias, config)?;
        let mut z_host = host_values(z.clone());
        update_pre_activations(
            &mut z_host,
            &host_values(p.clone()),
            &host_values(m),
            act,
            config.alpha,
            config.gamma,
        );
        z = Tensor::from_data(TensorData::new(z_host, [tokens, d_hidden]), &x.device());
    }
    Ok(report)
}

/// Step 4: `p ← (γI + βW₂W₂ᵀ)⁻¹·(β(Y − b₂)W₂ᵀ + γ·act(z))` per token row, by Woodbury:
/// `(γI + βW₂W₂ᵀ)⁻¹ = (I − βW₂(γI + βW₂ᵀW₂)⁻¹W₂ᵀ)/γ` (`W₂` stored `[d_hidden, d_out]`).
fn updated_activations(
    contract: &Linear,
    act: FeedForwardActivation,
    z: &Tensor<2>,
    y_minus_bias: &Tensor<2>,
    config: &SparseLlmConfig,
) -> Result<Tensor<2>, PruneError> {
    let w2 = contract.weight.val();
    let [d_hidden, d_out] = w2.dims();
    let (beta, gamma) = (config.beta, config.gamma);
    let forward =
        apply(act, z.clone()) * gamma + y_minus_bias.clone().matmul(w2.clone().transpose()) * beta;
    let w2_host = host_f64(w2.clone());
    // γI + βW₂ᵀW₂, [d_out, d_out], and the right-hand side W₂ᵀ, [d_out, d_hidden].
    let mut system = vec![0.0; d_out * d_out];
    for row in w2_host.chunks_exact(d_out) {
        for a in 0..d_out {
            let ra = row[a] * beta;
            if ra != 0.0 {
                for (s, &rb) in system[a * d_out..(a + 1) * d_out].iter_mut().zip(row) {
                    *s += ra * rb;
                }
            }
        }
    }
    (0..d_out).for_each(|a| system[a * d_out + a] += gamma);
    let transposed: Vec<f64> = (0..d_out * d_hidden)
        .map(|k| w2_host[(k % d_hidden) * d_out + k / d_hidden])
        .collect();
    let coupling =
        solve_positive_definite(&system, d_out, &transposed, d_hidden).map_err(|_| {
            PruneError::bad(
                "SparseLLM",
                "γI + βW₂ᵀW₂ is not positive definite (non-finite weights)",
            )
        })?;
    let coupling = from_f64(&coupling, [d_out, d_hidden], &w2.device());
    let correction = forward.clone().matmul(w2).matmul(coupling) * beta;
    Ok((forward - correction) / gamma)
}

fn apply(act: FeedForwardActivation, z: Tensor<2>) -> Tensor<2> {
    match act {
        FeedForwardActivation::Relu => activation::relu(z),
        FeedForwardActivation::Gelu => activation::gelu(z),
        FeedForwardActivation::GeluTanh => activation::gelu_approximate(z),
    }
}

/// The layer's bias as a `[1, d_out]` row (zeros without one).
fn bias_row(linear: &Linear) -> Tensor<2> {
    let [_, d_out] = linear.weight.dims();
    match &linear.bias {
        Some(bias) => bias.val().unsqueeze(),
        None => Tensor::zeros([1, d_out], &linear.weight.device()),
    }
}

fn set_weight(linear: &mut Linear, weight: Tensor<2>) {
    linear.weight = Param::initialized(linear.weight.id, weight);
}

fn host_f64(tensor: Tensor<2>) -> Vec<f64> {
    host_values(tensor).into_iter().map(f64::from).collect()
}

fn from_f64(values: &[f64], shape: [usize; 2], device: &burn::tensor::Device) -> Tensor<2> {
    let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn sum_of_squares(tensor: Tensor<2>) -> f64 {
    host_values(tensor)
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum()
}

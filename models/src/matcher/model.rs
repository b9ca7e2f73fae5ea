//! The configurable matcher: inputs, config presets, forward pass and the SuperGlue loss.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use super::MatcherError;
use super::assignment::{dual_softmax_kept, log_sinkhorn_kept};
use super::graph::{AdaptiveGraph, AdaptiveGraphConfig};
use super::layers::{
    AttentionalPropagation, KeypointEncoder, RotarySelfAttention, Rotation, SageLayer,
};

/// How keypoint positions enter the network.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum PositionEncoding {
    /// SuperGlue's keypoint-encoder MLP, added to the descriptors.
    Encoder,
    /// LightGlue's rotary encoding of 2-D positions inside self-attention.
    Rotary,
}

/// How scores become a partial assignment.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Assignment {
    /// Log-space Sinkhorn with a learnable dustbin (SuperGlue, GIMS).
    Sinkhorn,
    /// Dual softmax with a matchability per point (LightGlue).
    DualSoftmax,
}

/// Configuration of a [`Matcher`]; see the presets [`gims`](Self::gims),
/// [`superglue`](Self::superglue) and [`lightglue`](Self::lightglue). The widths default to the
/// small matcher that a reference prototype trained on 2 CPU cores (d 64, 3 × (self, cross), 20
/// Sinkhorn iterations), not the papers' d 256 and 9 layers.
#[derive(Config, Debug)]
pub struct MatcherConfig {
    /// Width of the input descriptors.
    #[config(default = 32)]
    pub descriptor_dim: usize,
    /// Width inside the network.
    #[config(default = 64)]
    pub d_model: usize,
    /// Attention heads (must divide `d_model`; with rotary encoding `d_model / heads` must be
    /// even).
    #[config(default = 4)]
    pub heads: usize,
    /// (self, cross) layer pairs.
    #[config(default = 3)]
    pub layers: usize,
    /// GIMS's adaptive graph and GraphSAGE stack over it; none for SuperGlue and LightGlue.
    #[config(default = "None")]
    pub graph: Option<AdaptiveGraphConfig>,
    /// How positions enter.
    #[config(default = "PositionEncoding::Encoder")]
    pub positions: PositionEncoding,
    /// How scores become an assignment.
    #[config(default = "Assignment::Sinkhorn")]
    pub assignment: Assignment,
    /// Sinkhorn iterations.
    #[config(default = 20)]
    pub sinkhorn_iterations: usize,
    /// Initial dustbin score (SuperGlue: 1).
    #[config(default = 1.0)]
    pub initial_dustbin: f32,
    /// Minimum match probability (SuperGlue: 0.2).
    #[config(default = 0.2)]
    pub match_threshold: f32,
}

impl MatcherConfig {
    /// GIMS: adaptive graph + GraphSAGE, keypoint encoder, attentional GNN, Sinkhorn.
    pub fn gims() -> Self {
        Self::new().with_graph(Some(AdaptiveGraphConfig::new()))
    }

    /// SuperGlue: keypoint encoder, attentional GNN, Sinkhorn.
    pub fn superglue() -> Self {
        Self::new()
    }

    /// LightGlue-style: rotary positional self-attention, dual softmax with matchability,
    /// match threshold 0.1 (LightGlue's `filter_threshold`: a dual-softmax probability is a
    /// product of two softmaxes and runs lower than a Sinkhorn one).
    pub fn lightglue() -> Self {
        Self::new()
            .with_positions(PositionEncoding::Rotary)
            .with_assignment(Assignment::DualSoftmax)
            .with_match_threshold(0.1)
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), MatcherError> {
        let bad =
            |field: &'static str, problem: String| Err(MatcherError::Config { field, problem });
        for (field, value) in [
            ("descriptor_dim", self.descriptor_dim),
            ("d_model", self.d_model),
            ("heads", self.heads),
        ] {
            if value == 0 {
                return bad(field, "must be positive".into());
            }
        }
        if !self.d_model.is_multiple_of(self.heads) {
            return bad(
                "heads",
                format!("{} does not divide d_model {}", self.heads, self.d_model),
            );
        }
        if self.positions == PositionEncoding::Rotary
            && !(self.d_model / self.heads).is_multiple_of(2)
        {
            return bad(
                "heads",
                format!(
                    "rotary encoding needs an even head width, got {}",
                    self.d_model / self.heads
                ),
            );
        }
        if self.graph.is_some() && self.d_model < 2 {
            return bad("d_model", "GraphSAGE halves it; must be at least 2".into());
        }
        if self.assignment == Assignment::Sinkhorn && self.sinkhorn_iterations == 0 {
            return bad("sinkhorn_iterations", "must be positive".into());
        }
        if !self.initial_dustbin.is_finite() {
            return bad(
                "initial_dustbin",
                format!("{} is not finite", self.initial_dustbin),
            );
        }
        if !(0.0..1.0).contains(&self.match_threshold) {
            return bad(
                "match_threshold",
                format!("{} is not in [0, 1)", self.match_threshold),
            );
        }
        if let Some(graph) = &self.graph {
            graph.validate()?;
        }
        Ok(())
    }

    /// Builds the matcher.
    ///
    /// # Panics
    /// If [`validate`](Self::validate) finds a problem; the message names it.
    pub fn init(&self, device: &Device) -> Matcher {
        if let Err(problem) = self.validate() {
            panic!("MatcherConfig: {problem}");
        }
        let (d, descriptors) = (self.d_model, self.descriptor_dim);
        let half = d / 2;
        let rotary = self.positions == PositionEncoding::Rotary;
        Matcher {
            input: self
                .graph
                .is_none()
                .then(|| LinearConfig::new(descriptors, d).init(device)),
            sage: if self.graph.is_some() {
                vec![
                    SageLayer::new(descriptors, half, device),
                    SageLayer::new(half, half, device),
                    SageLayer::new(half, d, device),
                ]
            } else {
                Vec::new()
            },
            keypoint_encoder: (!rotary).then(|| KeypointEncoder::new(&[32, 64], d, device)),
            rotary_frequencies: rotary.then(|| {
                LinearConfig::new(2, d / self.heads / 2)
                    .with_bias(false)
                    .init(device)
            }),
            self_attention: if rotary {
                Vec::new()
            } else {
                (0..self.layers)
                    .map(|_| AttentionalPropagation::new(d, self.heads, device))
                    .collect()
            },
            rotary_attention: if rotary {
                (0..self.layers)
                    .map(|_| RotarySelfAttention::new(d, self.heads, device))
                    .collect()
            } else {
                Vec::new()
            },
            cross_attention: (0..self.layers)
                .map(|_| AttentionalPropagation::new(d, self.heads, device))
                .collect(),
            final_projection: LinearConfig::new(d, d).init(device),
            matchability: (self.assignment == Assignment::DualSoftmax)
                .then(|| LinearConfig::new(d, 1).init(device)),
            dustbin: (self.assignment == Assignment::Sinkhorn)
                .then(|| Param::from_tensor(Tensor::from_floats([self.initial_dustbin], device))),
            graph: self.graph.clone(),
            descriptor_dim: descriptors,
            sinkhorn_iterations: self.sinkhorn_iterations,
            match_threshold: self.match_threshold,
        }
    }
}

/// One batch of image pairs: keypoints `[B, M, 2]` and `[B, N, 2]` (normalized coordinates,
/// e.g. in [-1, 1]²; GIMS divides pixels by 0.7·max(W, H)), descriptors `[B, M, D]` and
/// `[B, N, D]`.
#[derive(Clone, Debug)]
pub struct MatcherInput {
    /// View A's keypoints.
    pub keypoints_a: Tensor<3>,
    /// View B's keypoints.
    pub keypoints_b: Tensor<3>,
    /// View A's descriptors.
    pub descriptors_a: Tensor<3>,
    /// View B's descriptors.
    pub descriptors_b: Tensor<3>,
}

impl MatcherInput {
    /// `(B, M, N)` after checking that the shapes agree with each other and with descriptors
    /// `descriptor_dim` wide.
    pub fn check(&self, descriptor_dim: usize) -> Result<(usize, usize, usize), MatcherError> {
        let mut counts = Vec::new();
        for (view, keypoints, descriptors) in [
            ("view A", &self.keypoints_a, &self.descriptors_a),
            ("view B", &self.keypoints_b, &self.descriptors_b),
        ] {
            let [batch, n, two] = keypoints.dims();
            let [d_batch, d_n, width] = descriptors.dims();
            if two != 2 {
                return Err(MatcherError::Shape(format!(
                    "keypoints of {view} are {:?}; expected [batch, points, 2]",
                    keypoints.dims()
                )));
            }
            if n == 0 || d_n == 0 {
                return Err(MatcherError::EmptyKeypoints { view });
            }
            if width != descriptor_dim {
                return Err(MatcherError::DescriptorWidth {
                    view,
                    expected: descriptor_dim,
                    got: width,
                });
            }
            if (batch, n) != (d_batch, d_n) {
                return Err(MatcherError::Shape(format!(
                    "{view} has keypoints {:?} but descriptors {:?}",
                    keypoints.dims(),
                    descriptors.dims()
                )));
            }
            counts.push((batch, n));
        }
        if counts[0].0 != counts[1].0 {
            return Err(MatcherError::Shape(format!(
                "view A has {} pairs in the batch, view B {}",
                counts[0].0, counts[1].0
            )));
        }
        Ok((counts[0].0, counts[0].1, counts[1].1))
    }
}

/// What a matcher gives for a batch of pairs.
#[derive(Clone, Debug)]
pub struct MatcherOutput {
    /// The log-assignment `[B, M + 1, N + 1]`, dustbins last. A dropped keypoint is unmatched
    /// for sure: its dustbin entry is 0 and its other entries are
    /// [`EXCLUDED`](super::assignment::EXCLUDED).
    pub log_assignment: Tensor<3>,
    /// Which keypoints of view A took part, row-major `[B, M]`. GIMS drops the keypoints of
    /// graph components smaller than `min_size` from attention, assignment and loss, as the
    /// official `models/gmatcher.py` does; the other matchers keep every point.
    pub kept_a: Vec<bool>,
    /// The same for view B, `[B, N]`.
    pub kept_b: Vec<bool>,
}

/// The matcher; see [`MatcherConfig`].
#[derive(Module, Debug)]
pub struct Matcher {
    /// Descriptor projection `D → d` (without a graph).
    pub input: Option<Linear>,
    /// GraphSAGE-mean layers `D → d/2 → d/2 → d` (GIMS).
    pub sage: Vec<SageLayer>,
    /// Keypoint encoder (absent with rotary positions).
    pub keypoint_encoder: Option<KeypointEncoder>,
    /// Rotary frequencies `2 → d_head / 2` (LightGlue-style).
    pub rotary_frequencies: Option<Linear>,
    /// Self-attention layers (burn-nn attention), without rotary positions.
    pub self_attention: Vec<AttentionalPropagation>,
    /// Rotary self-attention layers, with them.
    pub rotary_attention: Vec<RotarySelfAttention>,
    /// Cross-attention layers.
    pub cross_attention: Vec<AttentionalPropagation>,
    /// Projection before scoring.
    pub final_projection: Linear,
    /// Matchability logit per point (dual softmax).
    pub matchability: Option<Linear>,
    /// The dustbin score α (Sinkhorn).
    pub dustbin: Option<Param<Tensor<1>>>,
    #[module(skip)]
    graph: Option<AdaptiveGraphConfig>,
    descriptor_dim: usize,
    sinkhorn_iterations: usize,
    match_threshold: f32,
}

impl Matcher {
    /// Width of the descriptors it takes.
    pub fn descriptor_dim(&self) -> usize {
        self.descriptor_dim
    }

    /// Minimum match probability for [`Matches`](super::Matches).
    pub fn match_threshold(&self) -> f32 {
        self.match_threshold
    }

    /// The adaptive-graph settings, for GIMS.
    pub fn graph_config(&self) -> Option<AdaptiveGraphConfig> {
        self.graph.clone()
    }

    /// The log-assignment of a batch of pairs, with the keypoints that took part (GIMS builds
    /// each view's adaptive graph first and drops the keypoints of its small components).
    pub fn forward(&self, input: &MatcherInput) -> Result<MatcherOutput, MatcherError> {
        let (batch, m, n) = input.check(self.descriptor_dim)?;
        match self.graph_config() {
            Some(config) => {
                let graphs_a = build_graphs(&config, &input.keypoints_a, &input.descriptors_a)?;
                let graphs_b = build_graphs(&config, &input.keypoints_b, &input.descriptors_b)?;
                self.run(input, (batch, m, n), Some([&graphs_a, &graphs_b]))
            }
            None => self.run(input, (batch, m, n), None),
        }
    }

    /// GIMS on graphs given by the caller (one per pair and view, e.g. from another
    /// construction rule; the official code also offers a Delaunay graph): nodes marked not
    /// kept leave the matching. An error names the first graph that does not fit the input
    /// (wrong count or size, a neighbour out of range, a dropped node with edges), or a
    /// matcher without GraphSAGE layers.
    pub fn forward_with_graphs(
        &self,
        input: &MatcherInput,
        graphs_a: &[AdaptiveGraph],
        graphs_b: &[AdaptiveGraph],
    ) -> Result<MatcherOutput, MatcherError> {
        if self.sage.is_empty() {
            return Err(MatcherError::Config {
                field: "graph",
                problem: "this matcher has no GraphSAGE layers to run on graphs (use GIMS)".into(),
            });
        }
        let (batch, m, n) = input.check(self.descriptor_dim)?;
        check_graphs("view A", graphs_a, batch, m)?;
        check_graphs("view B", graphs_b, batch, n)?;
        self.run(input, (batch, m, n), Some([graphs_a, graphs_b]))
    }

    fn run(
        &self,
        input: &MatcherInput,
        (batch, m, n): (usize, usize, usize),
        graphs: Option<[&[AdaptiveGraph]; 2]>,
    ) -> Result<MatcherOutput, MatcherError> {
        let device = input.keypoints_a.device();
        let (kept_a, kept_b) = match graphs {
            Some([a, b]) => (kept_of(a), kept_of(b)),
            None => (vec![true; batch * m], vec![true; batch * n]),
        };
        let dropped_a = dropped_mask(&kept_a, [batch, m], &device);
        let dropped_b = dropped_mask(&kept_b, [batch, n], &device);
        let mut x_a = self.embed(
            &input.keypoints_a,
            &input.descriptors_a,
            graphs.map(|g| g[0]),
        );
        let mut x_b = self.embed(
            &input.keypoints_b,
            &input.descriptors_b,
            graphs.map(|g| g[1]),
        );
        let rotations = self.rotary_frequencies.as_ref().map(|frequencies| {
            (
                Rotation::new(frequencies.forward(input.keypoints_a.clone())),
                Rotation::new(frequencies.forward(input.keypoints_b.clone())),
            )
        });
        for (layer, cross) in self.cross_attention.iter().enumerate() {
            (x_a, x_b) = match &rotations {
                Some((rotation_a, rotation_b)) => {
                    let attention = &self.rotary_attention[layer];
                    (
                        attention.forward_masked(x_a, rotation_a, dropped_a.clone()),
                        attention.forward_masked(x_b, rotation_b, dropped_b.clone()),
                    )
                }
                None => {
                    let attention = &self.self_attention[layer];
                    (
                        attention.forward_masked(x_a.clone(), x_a, dropped_a.clone()),
                        attention.forward_masked(x_b.clone(), x_b, dropped_b.clone()),
                    )
                }
            };
            (x_a, x_b) = (
                cross.forward_masked(x_a.clone(), x_b.clone(), dropped_b.clone()),
                cross.forward_masked(x_b, x_a, dropped_a.clone()),
            );
        }
        let d = self.final_projection.weight.dims()[1] as f64;
        let m_a = self.final_projection.forward(x_a.clone());
        let m_b = self.final_projection.forward(x_b.clone());
        let log_assignment = match (&self.dustbin, &self.matchability) {
            (Some(alpha), _) => {
                let scores = m_a.matmul(m_b.swap_dims(1, 2)) / d.sqrt();
                let iterations = self.sinkhorn_iterations;
                log_sinkhorn_kept(scores, alpha.val(), iterations, &kept_a, &kept_b)
            }
            (None, Some(matchability)) => {
                let scale = d.powf(-0.25);
                let similarity = (m_a * scale).matmul((m_b * scale).swap_dims(1, 2));
                let z_a = matchability.forward(x_a).reshape([batch, m]);
                let z_b = matchability.forward(x_b).reshape([batch, n]);
                dual_softmax_kept(similarity, z_a, z_b, &kept_a, &kept_b)
            }
            (None, None) => unreachable!("a matcher has a dustbin or a matchability head"),
        };
        Ok(MatcherOutput {
            log_assignment,
            kept_a,
            kept_b,
        })
    }

    /// Node features `[B, N, d]` of one view: GraphSAGE over the adaptive graphs (GIMS) or the
    /// descriptor projection, plus the keypoint encoding.
    fn embed(
        &self,
        keypoints: &Tensor<3>,
        descriptors: &Tensor<3>,
        graphs: Option<&[AdaptiveGraph]>,
    ) -> Tensor<3> {
        let mut x = match (&self.input, graphs) {
            (_, Some(graphs)) => {
                let mean = mean_aggregation(graphs, &descriptors.device());
                let last = self.sage.len() - 1;
                self.sage
                    .iter()
                    .enumerate()
                    .fold(descriptors.clone(), |h, (i, layer)| {
                        let h = layer.forward(h, mean.clone());
                        if i == last { h } else { relu(h) }
                    })
            }
            (Some(input), None) => input.forward(descriptors.clone()),
            (None, None) => unreachable!("a matcher has a graph or an input projection"),
        };
        if let Some(encoder) = &self.keypoint_encoder {
            x = x + encoder.forward(keypoints.clone());
        }
        x
    }

    /// SuperGlue's negative log-likelihood of the ground truth (mean over its terms):
    /// `-log P_ij` for each match, `-log P_i,dustbin` for each unmatched point of A and
    /// `-log P_dustbin,j` for each of B. `matches_a` `[B, M]` and `matches_b` `[B, N]` hold the
    /// other view's index or -1.
    ///
    /// Dropped keypoints ([`MatcherOutput::kept_a`]) add no term, and a kept point whose
    /// partner was dropped counts as unmatched. (The official GIMS `forward_train` instead
    /// scores every such pair, and every dropped point, at the dustbin–dustbin corner, an
    /// entry that no point owns.)
    pub fn loss(
        output: MatcherOutput,
        matches_a: Tensor<2, Int>,
        matches_b: Tensor<2, Int>,
    ) -> Tensor<1> {
        let MatcherOutput {
            log_assignment,
            kept_a,
            kept_b,
        } = output;
        let [batch, rows, columns] = log_assignment.dims();
        let (m, n) = (rows - 1, columns - 1);
        let truth_a: Vec<i64> = matches_a
            .into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .expect("int");
        let truth_b: Vec<i64> = matches_b
            .into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .expect("int");
        let mut weights = vec![0.0f32; batch * rows * columns];
        let mut terms = 0usize;
        for b in 0..batch {
            let at = |i: usize, j: usize| b * rows * columns + i * columns + j;
            let kept_partner_b = |j: i64| j >= 0 && kept_b[b * n + j as usize];
            let kept_partner_a = |i: i64| i >= 0 && kept_a[b * m + i as usize];
            for i in (0..m).filter(|&i| kept_a[b * m + i]) {
                let j = truth_a[b * m + i];
                weights[if kept_partner_b(j) {
                    at(i, j as usize)
                } else {
                    at(i, n)
                }] = 1.0;
                terms += 1;
            }
            for j in (0..n).filter(|&j| kept_b[b * n + j]) {
                if !kept_partner_a(truth_b[b * n + j]) {
                    weights[at(m, j)] = 1.0;
                    terms += 1;
                }
            }
        }
        let device = log_assignment.device();
        let weights =
            Tensor::<3>::from_data(TensorData::new(weights, [batch, rows, columns]), &device);
        -(log_assignment * weights).sum() / terms.max(1) as f64
    }
}

/// Each view's adaptive graph, one per pair of the batch (host-side, no gradient).
fn build_graphs(
    config: &AdaptiveGraphConfig,
    keypoints: &Tensor<3>,
    descriptors: &Tensor<3>,
) -> Result<Vec<AdaptiveGraph>, MatcherError> {
    let [batch, n, dim] = descriptors.dims();
    let host = |t: &Tensor<3>| -> Vec<f32> {
        t.clone()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32")
    };
    let (points, features) = (host(keypoints), host(descriptors));
    (0..batch)
        .map(|b| {
            let pts: Vec<[f32; 2]> = points[b * n * 2..(b + 1) * n * 2]
                .chunks_exact(2)
                .map(|p| [p[0], p[1]])
                .collect();
            config.build(&pts, &features[b * n * dim..(b + 1) * n * dim], dim)
        })
        .collect()
}

/// The graphs' mean-aggregation matrices `[B, N, N]`.
fn mean_aggregation(graphs: &[AdaptiveGraph], device: &Device) -> Tensor<3> {
    let n = graphs[0].neighbours.len();
    let matrices: Vec<f32> = graphs.iter().flat_map(|g| g.mean_aggregation()).collect();
    Tensor::from_data(TensorData::new(matrices, [graphs.len(), n, n]), device)
}

/// The graphs' kept flags, row-major `[B, N]`.
fn kept_of(graphs: &[AdaptiveGraph]) -> Vec<bool> {
    graphs.iter().flat_map(|g| g.kept.iter().copied()).collect()
}

/// The dropped points as an attention padding mask `[B, N]`; none when every point is kept.
fn dropped_mask(kept: &[bool], shape: [usize; 2], device: &Device) -> Option<Tensor<2, Bool>> {
    (!kept.iter().all(|&k| k)).then(|| {
        let dropped: Vec<bool> = kept.iter().map(|&k| !k).collect();
        Tensor::from_data(TensorData::new(dropped, shape), device)
    })
}

/// Checks that `graphs` are one per pair, each over `n` nodes, with edges only between kept
/// nodes inside the graph.
fn check_graphs(
    view: &'static str,
    graphs: &[AdaptiveGraph],
    batch: usize,
    n: usize,
) -> Result<(), MatcherError> {
    let problem = |pair: usize, problem: String| {
        Err(MatcherError::Graph {
            view,
            pair,
            problem,
        })
    };
    if graphs.len() != batch {
        return problem(0, format!("{} graphs for {batch} pairs", graphs.len()));
    }
    for (pair, graph) in graphs.iter().enumerate() {
        if graph.neighbours.len() != n || graph.kept.len() != n {
            return problem(
                pair,
                format!(
                    "{} nodes ({} kept flags) for {n} keypoints",
                    graph.neighbours.len(),
                    graph.kept.len()
                ),
            );
        }
        for (i, neighbours) in graph.neighbours.iter().enumerate() {
            if let Some(&j) = neighbours.iter().find(|&&j| j >= n) {
                return problem(pair, format!("node {i} has neighbour {j}, out of range"));
            }
            if let Some(&j) = neighbours
                .iter()
                .find(|&&j| !graph.kept[i] || !graph.kept[j])
            {
                return problem(
                    pair,
                    format!("edge {i}–{j} touches a dropped node (dropped nodes have no edges)"),
                );
            }
        }
    }
    Ok(())
}

//! GIMS's adaptive graph over one image's keypoints (Song et al., "GIMS: Image Matching System
//! Based on Adaptive Graph Construction and Graph Neural Network", after the authors'
//! `models/agc.py`), built on the host:
//!
//! 1. `S` = cosine similarity of the L2-normalized descriptors; the dynamic threshold `τ` is the
//!    `percentile`-th value of `S`'s strict upper triangle (per image, by rank `⌊len·p/100⌋`);
//! 2. candidate edges join points closer than `radius`; an edge is kept when `S_ij ≥ τ`;
//! 3. a node left without edges is joined to its nearest neighbour;
//! 4. components smaller than `min_size` leave the graph: their nodes keep no edges and are
//!    marked not kept, and the [`Matcher`](super::Matcher) drops those keypoints from attention,
//!    assignment and loss, so they come out unmatched (the reference's `gmatcher.py` removes
//!    them from the keypoint set and remaps the ground truth);
//! 5. each remaining component is bridged to the component with the nearest centroid, through
//!    their closest pair of nodes (one round, as the reference's `fast_connect_components`).
//!
//! One deviation: the reference skips step 3 when step 2 kept no edge at all (and then step 4
//! empties the graph); here step 3 always runs, so a graph is never empty for want of edges.

use burn::config::Config;

use super::MatcherError;

/// Settings of the adaptive graph. The reference's pixel radii (training 25, evaluation 15, in
/// images of about 640×480) become fractions of the keypoint frame here: the defaults suit
/// keypoints in [-1, 1]² with about 64 points per view (about 5 neighbours within the radius).
#[derive(Config, Debug, PartialEq)]
pub struct AdaptiveGraphConfig {
    /// Candidate edges join keypoints closer than this (in keypoint units).
    #[config(default = 0.35)]
    pub radius: f32,
    /// Percentile (0–100) of the pairwise descriptor similarities that an edge must reach.
    #[config(default = 7.0)]
    pub percentile: f64,
    /// Components with fewer nodes leave the graph, and their keypoints the matching (the
    /// reference's default, 8; its evaluation script passes 7).
    #[config(default = 8)]
    pub min_size: usize,
}

impl AdaptiveGraphConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), MatcherError> {
        if !(self.radius > 0.0 && self.radius.is_finite()) {
            return Err(MatcherError::Config {
                field: "graph.radius",
                problem: format!("{} must be finite and > 0", self.radius),
            });
        }
        if !(0.0..=100.0).contains(&self.percentile) {
            return Err(MatcherError::Config {
                field: "graph.percentile",
                problem: format!("{} is not in [0, 100]", self.percentile),
            });
        }
        Ok(())
    }

    /// The graph of one image: `points` (one per keypoint) and `descriptors` (row-major,
    /// `points.len()` rows of `dim`).
    pub fn build(
        &self,
        points: &[[f32; 2]],
        descriptors: &[f32],
        dim: usize,
    ) -> Result<AdaptiveGraph, MatcherError> {
        self.validate()?;
        let n = points.len();
        if n == 0 {
            return Err(MatcherError::EmptyKeypoints { view: "graph" });
        }
        if descriptors.len() != n * dim {
            return Err(MatcherError::DescriptorWidth {
                view: "graph",
                expected: dim,
                got: descriptors.len() / n,
            });
        }
        let similarity = cosine_similarity(descriptors, n, dim);
        let threshold = percentile_threshold(&similarity, n, self.percentile);
        let mut graph = AdaptiveGraph::empty(n);
        for i in 0..n {
            for j in i + 1..n {
                if distance(points[i], points[j]) < self.radius
                    && similarity[i * n + j] >= threshold
                {
                    graph.connect(i, j);
                }
            }
        }
        for i in 0..n {
            if graph.neighbours[i].is_empty()
                && let Some(j) = nearest(points, i, |j| j != i)
            {
                graph.connect(i, j);
            }
        }
        for component in graph.components() {
            if component.len() < self.min_size {
                for &i in &component {
                    graph.isolate(i);
                }
            }
        }
        graph.bridge_components(points);
        Ok(graph)
    }
}

/// An undirected graph over one image's keypoints.
#[derive(Clone, Debug, PartialEq)]
pub struct AdaptiveGraph {
    /// Sorted neighbours of each node.
    pub neighbours: Vec<Vec<usize>>,
    /// Whether the node stayed in the graph (false: its component was smaller than `min_size`).
    pub kept: Vec<bool>,
}

impl AdaptiveGraph {
    fn empty(n: usize) -> Self {
        Self {
            neighbours: vec![Vec::new(); n],
            kept: vec![true; n],
        }
    }

    fn connect(&mut self, i: usize, j: usize) {
        if i != j && !self.neighbours[i].contains(&j) {
            self.neighbours[i].push(j);
            self.neighbours[j].push(i);
            self.neighbours[i].sort_unstable();
            self.neighbours[j].sort_unstable();
        }
    }

    fn isolate(&mut self, i: usize) {
        self.kept[i] = false;
        for j in std::mem::take(&mut self.neighbours[i]) {
            self.neighbours[j].retain(|&k| k != i);
        }
    }

    /// Number of undirected edges.
    pub fn edge_count(&self) -> usize {
        self.neighbours.iter().map(Vec::len).sum::<usize>() / 2
    }

    /// The connected components of the kept nodes, each sorted, ordered by their first node.
    pub fn components(&self) -> Vec<Vec<usize>> {
        let n = self.neighbours.len();
        let mut seen = vec![false; n];
        let mut components = Vec::new();
        for start in 0..n {
            if seen[start] || !self.kept[start] {
                continue;
            }
            seen[start] = true;
            let mut component = vec![start];
            let mut next = 0;
            while next < component.len() {
                for &j in &self.neighbours[component[next]] {
                    if !seen[j] {
                        seen[j] = true;
                        component.push(j);
                    }
                }
                next += 1;
            }
            component.sort_unstable();
            components.push(component);
        }
        components
    }

    fn bridge_components(&mut self, points: &[[f32; 2]]) {
        let components = self.components();
        if components.len() < 2 {
            return;
        }
        let centroids: Vec<[f32; 2]> = components
            .iter()
            .map(|c| {
                let sum = c.iter().fold([0.0f32; 2], |s, &i| {
                    [s[0] + points[i][0], s[1] + points[i][1]]
                });
                [sum[0] / c.len() as f32, sum[1] / c.len() as f32]
            })
            .collect();
        let mut bridged = Vec::new();
        for a in 0..components.len() {
            let Some(b) = nearest(&centroids, a, |b| b != a) else {
                continue;
            };
            if bridged.contains(&(a.min(b), a.max(b))) {
                continue;
            }
            bridged.push((a.min(b), a.max(b)));
            let mut best = (f32::INFINITY, 0, 0);
            for &i in &components[a] {
                for &j in &components[b] {
                    let d = distance(points[i], points[j]);
                    if d < best.0 {
                        best = (d, i, j);
                    }
                }
            }
            self.connect(best.1, best.2);
        }
    }

    /// The mean-aggregation matrix (row `i` averages node `i`'s neighbours; a node without
    /// neighbours gets a zero row), row-major `n × n`: GraphSAGE-mean's `mean_{N(i)}` as a
    /// matrix product.
    pub fn mean_aggregation(&self) -> Vec<f32> {
        let n = self.neighbours.len();
        let mut matrix = vec![0.0f32; n * n];
        for (i, neighbours) in self.neighbours.iter().enumerate() {
            for &j in neighbours {
                matrix[i * n + j] = 1.0 / neighbours.len() as f32;
            }
        }
        matrix
    }
}

fn distance(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// The point nearest `points[i]` among those `allowed` (ties: the lower index).
fn nearest(points: &[[f32; 2]], i: usize, allowed: impl Fn(usize) -> bool) -> Option<usize> {
    (0..points.len())
        .filter(|&j| allowed(j))
        .map(|j| (distance(points[i], points[j]), j))
        .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
        .map(|(_, j)| j)
}

/// Cosine similarities of the rows of `descriptors` (`n × dim`), `n × n`.
fn cosine_similarity(descriptors: &[f32], n: usize, dim: usize) -> Vec<f32> {
    let unit: Vec<f32> = descriptors
        .chunks_exact(dim)
        .flat_map(|row| {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            row.iter().map(move |v| v / norm)
        })
        .collect();
    let mut similarity = vec![0.0f32; n * n];
    for i in 0..n {
        for j in 0..n {
            similarity[i * n + j] = unit[i * dim..(i + 1) * dim]
                .iter()
                .zip(&unit[j * dim..(j + 1) * dim])
                .map(|(a, b)| a * b)
                .sum();
        }
    }
    similarity
}

/// The value of rank `⌊len·p/100⌋` (clamped to the last) among the strict upper triangle of the
/// `n × n` matrix; `-∞` when there is no pair.
fn percentile_threshold(similarity: &[f32], n: usize, percentile: f64) -> f32 {
    let mut values: Vec<f32> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| similarity[i * n + j]))
        .collect();
    if values.is_empty() {
        return f32::NEG_INFINITY;
    }
    let k = ((values.len() as f64 * percentile / 100.0) as usize).min(values.len() - 1);
    let (_, value, _) = values.select_nth_unstable_by(k, f32::total_cmp);
    *value
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two clusters of four points far apart, plus a lone point; descriptors all alike except
    /// node 1's, which is the least similar to everyone.
    fn hand_made() -> (Vec<[f32; 2]>, Vec<f32>) {
        let points = vec![
            [0.0, 0.0],
            [0.1, 0.0],
            [0.0, 0.1],
            [0.1, 0.1],
            [1.0, 1.0],
            [1.1, 1.0],
            [1.0, 1.1],
            [1.1, 1.1],
            [-1.0, 1.0],
        ];
        let mut descriptors = Vec::new();
        for i in 0..points.len() {
            if i == 1 {
                descriptors.extend([0.0, 1.0]);
            } else {
                descriptors.extend([1.0, 0.05 * i as f32]);
            }
        }
        (points, descriptors)
    }

    #[test]
    fn radius_threshold_isolated_small_components_and_bridges() {
        let (points, descriptors) = hand_made();
        // Percentile 0: τ is the least similarity, every pair within the radius is an edge.
        let all = AdaptiveGraphConfig::new()
            .with_radius(0.2)
            .with_percentile(0.0)
            .with_min_size(1)
            .build(&points, &descriptors, 2)
            .unwrap();
        assert_eq!(all.neighbours[0], vec![1, 2, 3]);
        assert_eq!(all.neighbours[1], vec![0, 2, 3]);
        // 36 pairs; percentile 30 → rank 10. The 8 pairs with node 1 are the least similar
        // (cosine ≤ 0.37, every other pair > 0.92), so τ is above them all and node 1 loses its
        // edges, while the clusters' other pairs (cosine > 0.98) stay.
        let strict = AdaptiveGraphConfig::new()
            .with_radius(0.2)
            .with_percentile(30.0)
            .with_min_size(1)
            .build(&points, &descriptors, 2)
            .unwrap();
        // Node 1 was isolated by the threshold, then joined to its nearest neighbour (node 0,
        // at 0.1; node 3 is at 0.1 too, the lower index wins).
        assert_eq!(strict.neighbours[1], vec![0]);
        assert_eq!(strict.neighbours[0], vec![1, 2, 3]);
        // The lone node 8 was joined to its nearest (node 2, 1.35 away; the second cluster is
        // 2.0 away), so it is in the first cluster's component; the two clusters are bridged
        // through their closest pair (3 and 4, 1.27 apart).
        assert_eq!(strict.neighbours[8], vec![2]);
        assert!(strict.neighbours[3].contains(&4));
        assert_eq!(strict.components().len(), 1);
        assert!(strict.kept.iter().all(|&k| k));
    }

    #[test]
    fn small_components_leave_the_graph() {
        let (points, descriptors) = hand_made();
        // min_size 5: the first cluster with node 8 has 5 nodes and stays, the second (4) leaves.
        let graph = AdaptiveGraphConfig::new()
            .with_radius(0.2)
            .with_percentile(0.0)
            .with_min_size(5)
            .build(&points, &descriptors, 2)
            .unwrap();
        assert_eq!(
            graph.kept,
            vec![true, true, true, true, false, false, false, false, true]
        );
        assert!(graph.neighbours[4..8].iter().all(Vec::is_empty));
        assert_eq!(graph.components().len(), 1);
        let mean = graph.mean_aggregation();
        assert_eq!(mean[0], 0.0);
        assert!((mean[1] - 1.0 / 3.0).abs() < 1e-7);
        assert!(mean[4 * 9..5 * 9].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn the_default_drops_components_below_the_reference_size_of_8() {
        // The hand-made graph with every in-radius pair an edge: components of 5 and 4 nodes,
        // both below the reference's default min_size of 8, so every node leaves.
        let (points, descriptors) = hand_made();
        let config = AdaptiveGraphConfig::new()
            .with_radius(0.2)
            .with_percentile(0.0);
        assert_eq!(config.min_size, 8);
        let graph = config.build(&points, &descriptors, 2).unwrap();
        assert!(graph.kept.iter().all(|&k| !k), "{:?}", graph.kept);
        assert_eq!(graph.edge_count(), 0);
    }

    #[test]
    fn bad_input_names_the_problem() {
        let config = AdaptiveGraphConfig::new();
        assert!(matches!(
            config.build(&[], &[], 2),
            Err(MatcherError::EmptyKeypoints { .. })
        ));
        let err = config
            .build(&[[0.0, 0.0]], &[1.0, 2.0, 3.0], 2)
            .unwrap_err();
        assert!(err.to_string().contains("descriptor"), "{err}");
        let err = config.with_radius(-1.0).validate().unwrap_err();
        assert!(err.to_string().contains("graph.radius"), "{err}");
    }
}

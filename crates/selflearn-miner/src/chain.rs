//! Absorbing Markov chain over utterance forms (Ponnusamy et al., "Feedback-based
//! self-learning in large-scale conversational AI agents", AAAI 2020).
//!
//! Transient states are utterance forms; two absorbing states are success and failure. From
//! the observed transition counts, row-normalised:
//!
//! ```text
//!     P = | Q  R |      Q: transient → transient,  R: transient → {success, failure}
//!         | 0  I |
//! ```
//!
//! The fundamental matrix is N = (I − Q)⁻¹: N[u][v] is the expected number of visits to v on a
//! path starting at u, and the absorption probabilities are B = N R. Nothing is inverted:
//! - the success column of B solves the sparse system (I − Q) x = r (r: the success column of
//!   R), iterated as x ← r + Q x in place (Gauss–Seidel);
//! - one row of N, n = N[u][·], solves nᵀ (I − Q) = e_uᵀ, iterated as n ← e_u + Qᵀ n.
//!
//! N[u][v] · R[v][success] is the probability that a path from u ends in success at v: the
//! miner rewrites u to the reformulation v that maximises it. Every transient state reaches an
//! absorbing state (each observed path ends in one), so both iterations converge.

use std::collections::BTreeMap;

/// Where a transition goes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Target {
    /// Another utterance form (a reformulation).
    State(usize),
    /// The path ended with the person served.
    Success,
    /// The path ended in failure.
    Failure,
}

/// Transition counts between states.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Chain {
    /// Ordered, so that every sum over a row adds in one order whatever the insertion order:
    /// a learn split over processes gives the bits one process gives.
    rows: Vec<BTreeMap<Target, f64>>,
}

impl Chain {
    /// A chain with `states` transient states and no transitions.
    pub fn new(states: usize) -> Self {
        Self {
            rows: vec![BTreeMap::new(); states],
        }
    }

    /// Adds a transient state with no transitions yet; returns its index.
    pub fn push_state(&mut self) -> usize {
        self.rows.push(BTreeMap::new());
        self.rows.len() - 1
    }

    /// Number of transient states.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the chain has no transient state.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Adds `count` observations of `from → to`.
    pub fn add(&mut self, from: usize, to: Target, count: f64) {
        *self.rows[from].entry(to).or_default() += count;
    }

    /// The observed transitions out of `from`, with their counts.
    pub fn transitions(&self, from: usize) -> impl Iterator<Item = (Target, f64)> + '_ {
        self.rows[from].iter().map(|(t, c)| (*t, *c))
    }

    /// Row-normalised transitions: for each state, (state, probability) pairs of Q and the
    /// probability of R's success column.
    fn normalised(&self) -> Vec<(Vec<(usize, f64)>, f64)> {
        self.rows
            .iter()
            .map(|row| {
                let total: f64 = row.values().sum();
                if total == 0.0 {
                    return (Vec::new(), 0.0);
                }
                let to_states = row
                    .iter()
                    .filter_map(|(t, c)| match t {
                        Target::State(j) => Some((*j, c / total)),
                        _ => None,
                    })
                    .collect();
                let to_success = row.get(&Target::Success).copied().unwrap_or(0.0) / total;
                (to_states, to_success)
            })
            .collect()
    }

    /// The chain row-normalised once, for many solves.
    pub fn solver(&self) -> Solver {
        Solver {
            rows: self.normalised(),
        }
    }

    /// R[u][success] for every state: how often saying u directly ended in success.
    pub fn direct_success(&self) -> Vec<f64> {
        self.solver().direct_success()
    }

    /// Expected visits to every state on a path starting at `from`: row `from` of N.
    pub fn visits_from(&self, from: usize, tolerance: f64, max_iterations: usize) -> Vec<f64> {
        let mut dense = vec![0.0; self.rows.len()];
        for (state, visits) in self.solver().visits_from(from, tolerance, max_iterations) {
            dense[state] = visits;
        }
        dense
    }

    /// Probability of ending in success from each state, solving (I − Q) x = r.
    pub fn success_probabilities(&self, tolerance: f64, max_iterations: usize) -> Vec<f64> {
        let normalised = self.normalised();
        let mut x = vec![0.0; self.rows.len()];
        for _ in 0..max_iterations {
            let mut largest_change: f64 = 0.0;
            for (i, (to_states, to_success)) in normalised.iter().enumerate() {
                let value = to_success + to_states.iter().map(|(j, p)| p * x[*j]).sum::<f64>();
                largest_change = largest_change.max((value - x[i]).abs());
                x[i] = value;
            }
            if largest_change < tolerance {
                break;
            }
        }
        x
    }
}

/// The row-normalised chain: Q's rows and R's success column.
#[derive(Debug, Clone)]
pub struct Solver {
    rows: Vec<(Vec<(usize, f64)>, f64)>,
}

impl Solver {
    /// R[u][success] for every state.
    pub fn direct_success(&self) -> Vec<f64> {
        self.rows.iter().map(|(_, s)| *s).collect()
    }

    /// Row `from` of N as a sparse map of the states a path from `from` can visit. Only those
    /// states are touched, so the cost grows with the reformulations reachable from `from`,
    /// not with the chain.
    pub fn visits_from(
        &self,
        from: usize,
        tolerance: f64,
        max_iterations: usize,
    ) -> BTreeMap<usize, f64> {
        // The reachable states, in state order, renumbered densely: each iteration is then
        // plain loops over vectors, and every state's visits add up in state order, the same
        // every run.
        let mut reachable = std::collections::BTreeSet::from([from]);
        let mut frontier = vec![from];
        while let Some(i) = frontier.pop() {
            for &(j, _) in &self.rows[i].0 {
                if reachable.insert(j) {
                    frontier.push(j);
                }
            }
        }
        let states: Vec<usize> = reachable.into_iter().collect();
        let local = |state: usize| {
            states
                .binary_search(&state)
                .expect("a reachable state is in the set")
        };
        let rows: Vec<Vec<(usize, f64)>> = states
            .iter()
            .map(|&i| self.rows[i].0.iter().map(|&(j, p)| (local(j), p)).collect())
            .collect();
        let start = local(from);
        let mut n = vec![0.0; states.len()];
        n[start] = 1.0;
        let mut next = vec![0.0; states.len()];
        for _ in 0..max_iterations {
            next.fill(0.0);
            next[start] = 1.0;
            for (i, row) in rows.iter().enumerate() {
                let visits = n[i];
                if visits == 0.0 {
                    continue;
                }
                for &(j, p) in row {
                    next[j] += visits * p;
                }
            }
            let change = next
                .iter()
                .zip(&n)
                .map(|(v, old)| (v - old).abs())
                .fold(0.0, f64::max);
            std::mem::swap(&mut n, &mut next);
            if change < tolerance {
                break;
            }
        }
        states
            .into_iter()
            .zip(n)
            .filter(|&(_, visits)| visits != 0.0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A → B (½), A → success (¼), A → failure (¼); B → success (0.8), B → failure (0.2).
    /// Q = [[0, ½], [0, 0]], N = (I − Q)⁻¹ = [[1, ½], [0, 1]], r = (¼, 0.8),
    /// x = N r = (¼ + ½·0.8, 0.8) = (0.65, 0.8).
    #[test]
    fn two_transient_states_match_the_fundamental_matrix() {
        let mut chain = Chain::new(2);
        chain.add(0, Target::State(1), 2.0);
        chain.add(0, Target::Success, 1.0);
        chain.add(0, Target::Failure, 1.0);
        chain.add(1, Target::Success, 8.0);
        chain.add(1, Target::Failure, 2.0);
        let x = chain.success_probabilities(1e-12, 1000);
        assert!(
            (x[0] - 0.65).abs() < 1e-9 && (x[1] - 0.8).abs() < 1e-9,
            "{x:?}"
        );
    }

    #[test]
    fn visits_are_the_rows_of_the_fundamental_matrix() {
        let mut chain = Chain::new(2);
        chain.add(0, Target::State(1), 2.0);
        chain.add(0, Target::Success, 1.0);
        chain.add(0, Target::Failure, 1.0);
        chain.add(1, Target::Success, 8.0);
        chain.add(1, Target::Failure, 2.0);
        let n = chain.visits_from(0, 1e-12, 1000);
        assert!(
            (n[0] - 1.0).abs() < 1e-12 && (n[1] - 0.5).abs() < 1e-12,
            "{n:?}"
        );
        let mut looped = Chain::new(1);
        looped.add(0, Target::State(0), 1.0);
        looped.add(0, Target::Failure, 1.0);
        let n = looped.visits_from(0, 1e-12, 10_000);
        assert!((n[0] - 2.0).abs() < 1e-9, "N = (1 − ½)⁻¹ = 2, got {n:?}");
    }

    /// A → A (½), A → success (¼), A → failure (¼): x = ¼ / (1 − ½) = ½.
    #[test]
    fn a_self_loop_is_solved_by_its_geometric_series() {
        let mut chain = Chain::new(1);
        chain.add(0, Target::State(0), 2.0);
        chain.add(0, Target::Success, 1.0);
        chain.add(0, Target::Failure, 1.0);
        let x = chain.success_probabilities(1e-12, 10_000);
        assert!((x[0] - 0.5).abs() < 1e-9, "{x:?}");
    }

    /// A ⇄ B with leaks: A → B ½, A → failure ½; B → A ½, B → success ½.
    /// x_A = ½ x_B, x_B = ½ + ½ x_A  ⇒  x_A = ⅓, x_B = ⅔.
    #[test]
    fn a_cycle_between_states_converges_to_the_exact_solution() {
        let mut chain = Chain::new(2);
        chain.add(0, Target::State(1), 1.0);
        chain.add(0, Target::Failure, 1.0);
        chain.add(1, Target::State(0), 1.0);
        chain.add(1, Target::Success, 1.0);
        let x = chain.success_probabilities(1e-12, 10_000);
        assert!(
            (x[0] - 1.0 / 3.0).abs() < 1e-9 && (x[1] - 2.0 / 3.0).abs() < 1e-9,
            "{x:?}"
        );
    }
}

//! Averaged weights for perceptron training: the final weights are the mean of the weights
//! after every example, computed lazily. With `u = Σ s·Δ` over the updates Δ made at example
//! `s` (1-based) and `N` examples seen, the mean is `w − (u − w) / N`.

/// A weight vector with its running average.
#[derive(Debug, Clone)]
pub struct AveragedWeights {
    weights: Vec<f32>,
    weighted_updates: Vec<f32>,
    step: f32,
}

impl AveragedWeights {
    /// `len` zero weights.
    pub fn new(len: usize) -> Self {
        Self {
            weights: vec![0.0; len],
            weighted_updates: vec![0.0; len],
            step: 1.0,
        }
    }

    /// Current (not averaged) weight, for decoding during training.
    pub fn get(&self, i: usize) -> f32 {
        self.weights[i]
    }

    /// All current weights, for decoding during training.
    pub fn current(&self) -> &[f32] {
        &self.weights
    }

    /// Adds `delta` to weight `i`.
    pub fn update(&mut self, i: usize, delta: f32) {
        self.weights[i] += delta;
        self.weighted_updates[i] += self.step * delta;
    }

    /// Marks the end of one training example.
    pub fn tick(&mut self) {
        self.step += 1.0;
    }

    /// The averaged weights.
    pub fn average(self) -> Vec<f32> {
        let seen = self.step - 1.0;
        if seen == 0.0 {
            return self.weights;
        }
        self.weights
            .iter()
            .zip(&self.weighted_updates)
            .map(|(w, u)| w - (u - w) / seen)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_average_is_the_mean_of_the_weights_after_each_example() {
        let mut w = AveragedWeights::new(1);
        w.update(0, 3.0); // after example 1: 3
        w.tick();
        w.tick(); // after example 2: 3
        w.update(0, -3.0); // after example 3: 0
        w.tick();
        let averaged = w.average()[0];
        assert!((averaged - 2.0).abs() < 1e-6, "{averaged}");
    }
}

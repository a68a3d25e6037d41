//! The A/B's statistics: relative defect reductions paired by seed (the same world, people and
//! goals in both arms), with Student's t intervals over seeds, since a handful of seeds is far
//! from the normal limit.

use serde::Serialize;

/// The counts of one arm on one seed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ArmRun {
    /// Turns lived.
    pub turns: u64,
    /// Of them, defective (by the truth).
    pub defects: u64,
    /// Turns a layer rewrote.
    pub rewritten: u64,
    /// Rewritten turns that would have been defective as heard and were not.
    pub wins: u64,
    /// Rewritten turns that would have worked as heard and did not.
    pub losses: u64,
}

impl ArmRun {
    /// Defects per turn.
    pub fn defect_rate(&self) -> f64 {
        ratio(self.defects, self.turns)
    }
}

/// One treated arm against control on one seed, as a markdown table.
pub fn versus_control(control: &ArmRun, label: &str, treated: &ArmRun) -> String {
    let reduction = (control.defect_rate() - treated.defect_rate())
        / control.defect_rate().max(f64::MIN_POSITIVE);
    format!(
        "| arm | turns | defect rate | relative defect reduction | rewrites fired | wins | losses |\n\
         |---|---|---|---|---|---|---|\n\
         | control | {} | {:.4} | — | — | — | — |\n\
         | {label} | {} | {:.4} | {:+.2}% | {} | {} | {} |\n",
        control.turns,
        control.defect_rate(),
        treated.turns,
        treated.defect_rate(),
        100.0 * reduction,
        treated.rewritten,
        treated.wins,
        treated.losses
    )
}

/// `a / b`, 0 when `b` is 0.
pub fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Relative defect reduction of `treated` against `base`, seed by seed (`treated[i]` and
/// `base[i]` lived the same world): the mean of the per-seed reductions and its 95% Student's
/// t interval over seeds, so the point and the interval are of the same quantity.
pub fn compare(base: &[ArmRun], treated: &[ArmRun]) -> (f64, [f64; 2]) {
    let per_seed: Vec<f64> = treated
        .iter()
        .zip(base)
        .map(|(t, b)| (b.defect_rate() - t.defect_rate()) / b.defect_rate().max(f64::MIN_POSITIVE))
        .collect();
    let mean = per_seed.iter().sum::<f64>() / per_seed.len().max(1) as f64;
    (mean, interval(&per_seed))
}

/// Mean ± t(0.975, n − 1) standard errors of per-seed values. A single seed gives a
/// zero-width interval.
pub fn interval(values: &[f64]) -> [f64; 2] {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n.max(1.0);
    if values.len() < 2 {
        return [mean, mean];
    }
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let half = t_975(values.len() - 1) * (variance / n).sqrt();
    [mean - half, mean + half]
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom (tabulated to 30, then the
/// normal limit with the first correction term).
pub fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        _ => 1.959_964 + 2.4 / df as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_seeds_use_students_t_with_two_degrees_of_freedom() {
        let [low, high] = interval(&[0.1, 0.2, 0.3]);
        // mean 0.2, sd 0.1, se 0.1/sqrt(3); half-width 4.303 * se = 0.2484
        assert!((high - low - 2.0 * 4.303 * 0.1 / 3f64.sqrt()).abs() < 1e-9);
        assert!(((low + high) / 2.0 - 0.2).abs() < 1e-12);
        assert_eq!(interval(&[0.5]), [0.5, 0.5]);
        assert!((t_975(60) - 2.0).abs() < 0.01);
        assert_eq!(t_975(2), 4.303);
    }

    fn run(turns: u64, defects: u64) -> ArmRun {
        ArmRun {
            turns,
            defects,
            ..ArmRun::default()
        }
    }

    #[test]
    fn the_point_estimate_is_the_mean_of_the_paired_per_seed_reductions() {
        // Seed 1: 0.5 -> 0.25 (50%); seed 2 (ten times the turns): 0.5 -> 0.45 (10%).
        let base = [run(100, 50), run(1000, 500)];
        let treated = [run(100, 25), run(1000, 450)];
        let (point, [low, high]) = compare(&base, &treated);
        assert!((point - 0.3).abs() < 1e-12, "{point}");
        // sd of (0.5, 0.1) is 0.2828; se 0.2; t(1) = 12.706.
        assert!((high - point - 12.706 * 0.2).abs() < 1e-9, "{high}");
        assert!((point - low - 12.706 * 0.2).abs() < 1e-9, "{low}");
    }

    #[test]
    fn the_same_reduction_on_every_seed_has_a_zero_width_interval() {
        let base = [run(200, 100), run(400, 100), run(1000, 300)];
        let treated = [run(200, 80), run(400, 80), run(1000, 240)];
        let (point, [low, high]) = compare(&base, &treated);
        assert!((point - 0.2).abs() < 1e-12);
        assert!((high - low).abs() < 1e-12);
    }
}

//! The cross-run test: is a figure's change between two runs larger than
//! what runs of unchanged code show? Welch's test over one run's repeats
//! answers another question (do these repeats differ), and on a shared
//! machine it says yes to nearly every figure: repeats inside one run
//! share the process's memory layout, CPU frequency and neighbours, so
//! they agree more closely with each other than with any other run.
//!
//! The model, on a log scale (changes are relative):
//! `ln(per-run median) = ln(true value) + run effect + repeat noise`.
//! A change is significant when it is more than [`NOISE_Z`] standard
//! deviations of that model away from zero, where the deviation combines:
//!
//! - when the baseline merges two or more runs (a recorded baseline
//!   does): the standard deviation of its per-run medians, which holds
//!   their repeats' noise too, but never less than the within-run spread
//!   of a median (the per-repeat standard deviation, pooled over every
//!   run, over the square root of the repeats), times `sqrt(1 + 1/R)`
//!   for the uncertainty of the baseline's centre over R runs, and never
//!   less than the pair's spread over all figures (below): a machine in
//!   another state than when the baseline was recorded moves every
//!   figure, which the baseline's own runs did not see;
//! - else, from one run each: the spread this pair shows over all its
//!   figures (1.4826 x the median absolute log change, the
//!   normal-consistent MAD around zero: most figures do not change in
//!   one commit, so their typical move is the runs' own noise), plus the
//!   figure's own within-run spread on both sides;
//!
//! and, for latencies, the change must exceed the timer's floor: the
//! difference of the two runs' overhead calibrations (subtracted from
//! every sample), plus one clock step for percentiles, which are
//! multiples of it.
//!
//! [`NOISE_Z`] is 4: a run compares a few hundred figures, and at 4
//! standard deviations of a normal the chance that any of 300 unchanged
//! figures crosses is under 2%.

use crate::stats;

/// How many standard deviations a change must be to count.
pub const NOISE_Z: f64 = 4.0;

/// `1 / Phi^-1(3/4)`: turns a median absolute deviation into a normal
/// standard deviation.
const MAD_TO_SD: f64 = 1.4826;

/// The natural log of every positive value; non-positive values (a
/// latency at or below the timer overhead) are dropped.
fn logs(xs: &[f64]) -> Vec<f64> {
    xs.iter().filter(|x| **x > 0.0).map(|x| x.ln()).collect()
}

/// The log of each run's median (runs without a positive value left out).
pub fn run_log_medians(runs: &[Vec<f64>]) -> Vec<f64> {
    runs.iter()
        .filter_map(|r| stats::median(&logs(r)))
        .collect()
}

/// Standard deviation of the per-run log medians: the run-to-run spread;
/// `None` with fewer than two runs.
pub fn between_runs_sd(runs: &[Vec<f64>]) -> Option<f64> {
    stats::stddev(&run_log_medians(runs))
}

/// Within-run standard deviation of the log values, pooled over the runs
/// that have two or more (root mean of the variances); `None` if none has.
pub fn within_run_sd(runs: &[&[Vec<f64>]]) -> Option<f64> {
    let vars: Vec<f64> = runs
        .iter()
        .flat_map(|side| side.iter())
        .filter_map(|r| stats::variance(&logs(r)))
        .collect();
    stats::mean(&vars).map(f64::sqrt)
}

/// The spread of a pair of runs seen over many figures' log changes:
/// `1.4826 * median(|change|)`; `None` for no figures.
pub fn across_figures_sd(log_changes: &[f64]) -> Option<f64> {
    let abs: Vec<f64> = log_changes
        .iter()
        .filter(|c| c.is_finite())
        .map(|c| c.abs())
        .collect();
    stats::median(&abs).map(|m| MAD_TO_SD * m)
}

/// Where the run-to-run part of the spread came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Between {
    /// The baseline's own runs (how many).
    BaselineRuns(usize),
    /// This pair's spread over all its figures.
    AcrossFigures,
}

/// The verdict on one figure's change.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrossRun {
    /// `ln(NEW / BASE)` of the medians of the per-run medians.
    pub log_change: f64,
    /// The standard deviation a change of unchanged code has.
    pub sd: f64,
    /// Where its run-to-run part came from.
    pub between: Between,
    /// The smallest absolute change the timer can resolve, in the
    /// figure's unit (0 when the figure is not a latency).
    pub floor: f64,
    /// `|NEW - BASE|` in the figure's unit.
    pub abs_change: f64,
    /// BASE: the median of its per-run medians.
    pub base: f64,
    /// NEW: the median of its per-run medians.
    pub new: f64,
}

impl CrossRun {
    /// The change in standard deviations (0 for no spread and no change).
    pub fn z(&self) -> f64 {
        if self.sd > 0.0 {
            self.log_change / self.sd
        } else if self.log_change == 0.0 {
            0.0
        } else {
            f64::INFINITY.copysign(self.log_change)
        }
    }

    /// Whether the change is beyond both the noise and the timer's floor.
    pub fn significant(&self) -> bool {
        self.significant_at(NOISE_Z)
    }

    /// [`CrossRun::significant`] at `z` standard deviations.
    pub fn significant_at(&self, z: f64) -> bool {
        self.z().abs() > z && self.abs_change > self.floor
    }

    /// How large a relative change would count, percent (upward).
    pub fn tolerance_pct(&self) -> f64 {
        self.tolerance_pct_at(NOISE_Z)
    }

    /// [`CrossRun::tolerance_pct`] at `z` standard deviations.
    pub fn tolerance_pct_at(&self, z: f64) -> f64 {
        100.0 * ((z * self.sd).exp() - 1.0)
    }
}

/// What one figure looks like on each side.
#[derive(Debug, Clone, Copy)]
pub struct Sides<'a> {
    /// BASE's values, run by run.
    pub base: &'a [Vec<f64>],
    /// NEW's values, run by run.
    pub new: &'a [Vec<f64>],
}

/// The change of one figure, judged against the spread: `across` is the
/// pair's spread over all figures (used when BASE has one run), `floor`
/// the timer's floor in the figure's unit. `None` when either side has no
/// positive value.
pub fn judge(sides: Sides<'_>, across: Option<f64>, floor: f64) -> Option<CrossRun> {
    let (b, n) = (run_log_medians(sides.base), run_log_medians(sides.new));
    let (mb, mn) = (stats::median(&b)?, stats::median(&n)?);
    let within = within_run_sd(&[sides.base, sides.new]).unwrap_or(0.0);
    let repeats = |runs: &[Vec<f64>]| -> f64 {
        runs.iter()
            .map(|r| logs(r).len() as f64)
            .sum::<f64>()
            .max(1.0)
    };
    let (sd, source) = match between_runs_sd(sides.base) {
        Some(between) if b.len() >= 2 => {
            // NEW's per-run median is one more draw of what BASE's runs
            // show, whose spread already holds their repeats' noise; the
            // prediction also carries the uncertainty of BASE's centre.
            // A spread from a few runs can come out small by chance, but a
            // median of n repeats moves at least by within / sqrt(n).
            // And never less than this pair's spread over all figures:
            // when the machine's state differs from the baseline's (a quiet
            // machine against a baseline recorded under load), every figure
            // moves, and the baseline's runs did not see that.
            let r = b.len() as f64;
            let n = repeats(sides.new) / n.len().max(1) as f64;
            (
                (between.max(within / n.sqrt()) * (1.0 + 1.0 / r).sqrt())
                    .max(across.unwrap_or(0.0)),
                Between::BaselineRuns(b.len()),
            )
        }
        _ => {
            // One run each: the pair's spread over all figures, plus this
            // figure's own repeat noise on both sides.
            let across = across.unwrap_or(0.0);
            let within_var =
                within * within * (1.0 / repeats(sides.base) + 1.0 / repeats(sides.new));
            (
                (across * across + within_var).sqrt(),
                Between::AcrossFigures,
            )
        }
    };
    Some(CrossRun {
        log_change: mn - mb,
        sd,
        between: source,
        floor,
        abs_change: (mn.exp() - mb.exp()).abs(),
        base: mb.exp(),
        new: mn.exp(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(v: &[&[f64]]) -> Vec<Vec<f64>> {
        v.iter().map(|r| r.to_vec()).collect()
    }

    #[test]
    fn a_move_inside_the_baselines_own_spread_is_not_significant() {
        // Five baseline runs around 100 with a 5% run-to-run spread, tight
        // repeats; NEW is 8% up: less than 4 sd.
        let base = runs(&[
            &[100.0, 100.5, 99.5],
            &[95.0, 95.2, 94.8],
            &[105.0, 105.1, 104.9],
            &[102.0, 102.2, 101.8],
            &[98.0, 98.1, 97.9],
        ]);
        let new = runs(&[&[108.0, 108.2, 107.8]]);
        let j = judge(
            Sides {
                base: &base,
                new: &new,
            },
            None,
            0.0,
        )
        .unwrap();
        assert_eq!(j.between, Between::BaselineRuns(5));
        assert!(!j.significant(), "{j:?}");
        // Four times as far out is.
        let far = runs(&[&[140.0, 140.2, 139.8]]);
        let j = judge(
            Sides {
                base: &base,
                new: &far,
            },
            None,
            0.0,
        )
        .unwrap();
        assert!(j.significant(), "{j:?} z {}", j.z());
        assert!(j.tolerance_pct() > 8.0 && j.tolerance_pct() < 40.0, "{j:?}");
    }

    #[test]
    fn one_run_each_uses_the_pairs_spread_over_figures() {
        let base = runs(&[&[10.0, 10.1, 9.9]]);
        let new = runs(&[&[10.5, 10.6, 10.4]]);
        // Tight repeats: Welch would call this 5% significant. The pair's
        // figures move 4% typically, so it is not.
        let across = across_figures_sd(&[0.04, -0.03, 0.05, -0.04, 0.02]).unwrap();
        let j = judge(
            Sides {
                base: &base,
                new: &new,
            },
            Some(across),
            0.0,
        )
        .unwrap();
        assert_eq!(j.between, Between::AcrossFigures);
        assert!(!j.significant(), "{j:?}");
        let welch = stats::welch_t_test(&new[0], &base[0]);
        assert!(welch.p_two_sided < 0.05, "{welch:?}");
    }

    #[test]
    fn a_change_below_the_timer_floor_never_counts() {
        // p99 7 -> 18 ns with a 10 ns clock step and 1.5 ns of overhead
        // drift: constant repeats, so the spread is nothing, but the move
        // is one step plus the drift.
        let base = runs(&[&[7.0, 7.0, 7.0, 7.0, 7.0]]);
        let new = runs(&[&[18.0, 18.0, 18.0, 18.0, 18.0]]);
        let j = judge(
            Sides {
                base: &base,
                new: &new,
            },
            Some(0.0),
            10.0 + 1.5,
        )
        .unwrap();
        assert!(j.z() > 1e6, "no spread at all: {j:?}");
        assert!(!j.significant(), "{j:?}");
        let j = judge(
            Sides {
                base: &base,
                new: &new,
            },
            Some(0.0),
            10.0,
        )
        .unwrap();
        assert!(j.significant(), "two steps' worth: {j:?}");
    }

    #[test]
    fn no_positive_value_gives_no_verdict() {
        let zero = runs(&[&[0.0, -0.1]]);
        let one = runs(&[&[1.0]]);
        assert!(
            judge(
                Sides {
                    base: &zero,
                    new: &one
                },
                None,
                0.0
            )
            .is_none()
        );
        assert_eq!(across_figures_sd(&[]), None);
    }
}

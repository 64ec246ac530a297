//! Per-hook latency histograms: one HDR histogram (3 significant digits)
//! per [`Hook`] of raw timer ticks, plus the exact count, sum and maximum.
//!
//! Why raw ticks: the timer's own overhead is subtracted when summarising,
//! not per sample. A region shorter than the clock's step (10 ns on some
//! VMs) reads as the overhead or one step above it; subtracting per sample
//! would clip the former at zero and bias every mean upward. Summarising
//! from raw ticks keeps means unbiased and percentiles exact to the step.
//!
//! Structure: an array indexed by [`Hook::index`], so recording is an index
//! and a bucket increment. Invariant: for every hook, `sum_ticks` and
//! `max_ticks` are the exact sum and maximum of what was recorded (or added
//! from another set), and `hist.len()` is their count. No lock: each
//! worker thread owns one set, and the runner merges them with
//! [`HookHistograms::add`] afterwards.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::measure::hook::Hook;
use crate::measure::timer::Timer;
use crate::results::HookSummary;

/// Significant decimal digits kept (0.1% value resolution).
const SIGFIG: u8 = 3;
/// Values up to this many ticks are recorded without growing the
/// histogram (about 1 ms); larger ones grow it once, never clamp.
const PRESIZED_MAX_TICKS: u64 = 4_000_000;
/// The trimmed mean averages the fastest this fraction of calls.
pub const TRIM_KEEP: f64 = 0.99;

/// The quantiles [`HookHistograms::percentile_samples`] reports: every
/// percent, then finer steps into the tail, where latency charts look.
fn cdf_quantiles() -> impl Iterator<Item = f64> {
    let body = (0..=99).map(|p| f64::from(p) / 100.0);
    let tail1 = (1..=9).map(|t| (990.0 + f64::from(t)) / 1000.0);
    let tail2 = (1..=9).map(|t| (9990.0 + f64::from(t)) / 10_000.0);
    body.chain(tail1).chain(tail2).chain([0.99999, 1.0])
}

#[derive(Debug, Clone)]
struct HookHistogram {
    hist: Histogram<u64>,
    /// Exact sum of recorded ticks.
    sum_ticks: u128,
    /// Exact largest recorded value (0 when empty).
    max_ticks: u64,
}

impl HookHistogram {
    fn new() -> Self {
        let mut hist = Histogram::new_with_bounds(1, PRESIZED_MAX_TICKS, SIGFIG)
            .expect("constant histogram bounds are valid");
        hist.auto(true);
        HookHistogram {
            hist,
            sum_ticks: 0,
            max_ticks: 0,
        }
    }

    /// Bucket value at `q`, capped at the exact maximum: HDR reports the
    /// top of a bucket, which can lie above every value recorded in it.
    fn ticks_at(&self, q: f64) -> u64 {
        self.hist.value_at_quantile(q).min(self.max_ticks)
    }

    /// Mean of the fastest `keep` fraction of samples, in ticks.
    fn trimmed_mean_ticks(&self, keep: f64) -> f64 {
        let total = self.hist.len() as f64;
        let want = (total * keep).max(1.0);
        let (mut n, mut sum) = (0.0f64, 0.0f64);
        for v in self.hist.iter_recorded() {
            let take = (v.count_at_value() as f64).min(want - n);
            // The bucket's representative value: exact below 2048 ticks,
            // within 0.1% above.
            sum += take * self.hist.median_equivalent(v.value_iterated_to()) as f64;
            n += take;
            if n >= want {
                break;
            }
        }
        sum / n.max(1.0)
    }
}

/// Latency histograms of every hook, in raw timer ticks.
#[derive(Debug, Clone)]
pub struct HookHistograms {
    hooks: [HookHistogram; Hook::COUNT],
}

impl Default for HookHistograms {
    fn default() -> Self {
        Self::new()
    }
}

impl HookHistograms {
    /// Empty histograms for every hook.
    pub fn new() -> Self {
        HookHistograms {
            hooks: std::array::from_fn(|_| HookHistogram::new()),
        }
    }

    /// Record one call of `hook` that took `ticks` (stop - start, overhead
    /// included: it is subtracted when summarising).
    #[inline]
    pub fn record(&mut self, hook: Hook, ticks: u64) {
        let h = &mut self.hooks[hook.index()];
        if h.hist.record(ticks).is_err() {
            // Only when growing would overflow usize: keep the count right.
            h.hist.saturating_record(ticks);
        }
        h.sum_ticks += u128::from(ticks);
        h.max_ticks = h.max_ticks.max(ticks);
    }

    /// Merge another set (another worker thread's) into this one.
    pub fn add(&mut self, other: &HookHistograms) {
        for (mine, theirs) in self.hooks.iter_mut().zip(&other.hooks) {
            if theirs.hist.is_empty() {
                continue;
            }
            // Auto-resize grows `mine` to hold `theirs`, so this cannot fail
            // short of usize overflow; recount value by value if it does.
            if mine.hist.add(&theirs.hist).is_err() {
                for v in theirs.hist.iter_recorded() {
                    mine.hist
                        .saturating_record_n(v.value_iterated_to(), v.count_at_value());
                }
            }
            mine.sum_ticks += theirs.sum_ticks;
            mine.max_ticks = mine.max_ticks.max(theirs.max_ticks);
        }
    }

    /// Forget every sample (reuse across repeats without reallocating).
    pub fn reset(&mut self) {
        for h in &mut self.hooks {
            h.hist.reset();
            h.sum_ticks = 0;
            h.max_ticks = 0;
        }
    }

    /// Calls of `hook` recorded.
    pub fn count(&self, hook: Hook) -> u64 {
        self.hooks[hook.index()].hist.len()
    }

    /// Net time spent in `hook`, ns: the exact sum less the timer overhead
    /// of every call (never below 0).
    pub fn total_ns(&self, hook: Hook, timer: &Timer) -> f64 {
        let h = &self.hooks[hook.index()];
        let net = h.sum_ticks as f64 - h.hist.len() as f64 * timer.overhead_ticks();
        (net / timer.ticks_per_ns()).max(0.0)
    }

    /// [`HookHistograms::total_ns`] over every hook.
    pub fn total_ns_all(&self, timer: &Timer) -> f64 {
        Hook::ALL.iter().map(|&h| self.total_ns(h, timer)).sum()
    }

    /// Summary of every hook recorded at least once, net of the timer's
    /// overhead and in ns. Percentiles are HDR bucket values (exact below
    /// 2048 ticks, within 0.1% above) capped at the exact maximum; the mean
    /// is exact; the trimmed mean averages the fastest [`TRIM_KEEP`].
    pub fn summary(&self, timer: &Timer) -> BTreeMap<Hook, HookSummary> {
        let net = |ticks: f64| ((ticks - timer.overhead_ticks()) / timer.ticks_per_ns()).max(0.0);
        let net_int = |ticks: u64| net(ticks as f64).round() as u64;
        Hook::ALL
            .into_iter()
            .filter_map(|hook| {
                let h = &self.hooks[hook.index()];
                let count = h.hist.len();
                (count > 0).then(|| {
                    (
                        hook,
                        HookSummary {
                            count,
                            mean_ns: net(h.sum_ticks as f64 / count as f64),
                            tmean_ns: net(h.trimmed_mean_ticks(TRIM_KEEP)),
                            p50_ns: net_int(h.ticks_at(0.5)),
                            p90_ns: net_int(h.ticks_at(0.9)),
                            p99_ns: net_int(h.ticks_at(0.99)),
                            p999_ns: net_int(h.ticks_at(0.999)),
                            max_ns: net_int(h.max_ticks),
                        },
                    )
                })
            })
            .collect()
    }

    /// `(quantile, ns)` points of `hook`'s distribution for a CDF chart:
    /// every percent from 0 (the minimum) to 99, then 99.1..99.9,
    /// 99.91..99.99, 99.999 and 1.0 (the maximum). Empty if never recorded.
    pub fn percentile_samples(&self, hook: Hook, timer: &Timer) -> Vec<(f64, u64)> {
        let h = &self.hooks[hook.index()];
        if h.hist.is_empty() {
            return Vec::new();
        }
        cdf_quantiles()
            .map(|q| {
                let ticks = h.ticks_at(q) as f64 - timer.overhead_ticks();
                (q, (ticks / timer.ticks_per_ns()).max(0.0).round() as u64)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One tick per ns, no overhead: values read back unchanged.
    fn unit() -> Timer {
        Timer::fixed(1.0, 0.0)
    }

    #[test]
    fn summary_of_known_samples() {
        let mut h = HookHistograms::new();
        // 1..=1000: exact buckets below 2048 at 3 significant digits.
        for ns in 1..=1000 {
            h.record(Hook::Dup, ns);
        }
        let s = h.summary(&unit());
        assert_eq!(s.len(), 1, "only hooks that ran: {s:?}");
        let dup = s[&Hook::Dup];
        assert_eq!(dup.count, 1000);
        assert_eq!(dup.mean_ns, 500.5);
        // The fastest 990 samples: 1..=990.
        assert_eq!(dup.tmean_ns, 495.5);
        assert_eq!(dup.p50_ns, 500);
        assert_eq!(dup.p90_ns, 900);
        assert_eq!(dup.p99_ns, 990);
        assert_eq!(dup.p999_ns, 999);
        assert_eq!(dup.max_ns, 1000);
        assert_eq!(h.count(Hook::Dup), 1000);
        assert_eq!(h.count(Hook::Free), 0);
        assert_eq!(h.total_ns(Hook::Dup, &unit()), 500_500.0);
    }

    #[test]
    fn overhead_is_subtracted_from_the_mean_without_clipping() {
        // A clock with 26-tick steps and 58.8 ticks of overhead: an empty
        // region reads 52 or 78 ticks. Clipping each sample at zero would
        // give a mean of ~(19.2 * 0.3) ns; the unbiased mean is ~0.
        let timer = Timer::fixed(2.6, 58.8);
        let mut h = HookHistograms::new();
        for i in 0..1000 {
            h.record(Hook::Lookup, if i % 10 < 7 { 52 } else { 78 });
        }
        let s = h.summary(&timer)[&Hook::Lookup];
        let mean_ticks = (700.0 * 52.0 + 300.0 * 78.0) / 1000.0;
        assert!((s.mean_ns - (mean_ticks - 58.8) / 2.6).abs() < 1e-9);
        assert_eq!(s.p50_ns, 0, "the median region is below the overhead");
        assert_eq!(s.max_ns, ((78.0 - 58.8) / 2.6f64).round() as u64);
    }

    #[test]
    fn trimmed_mean_ignores_a_preemption_spike() {
        let mut h = HookHistograms::new();
        for _ in 0..999 {
            h.record(Hook::Free, 100);
        }
        h.record(Hook::Free, 10_000_000);
        let s = h.summary(&unit())[&Hook::Free];
        assert!(s.mean_ns > 10_000.0);
        assert_eq!(s.tmean_ns, 100.0);
    }

    #[test]
    fn totals_are_exact_where_buckets_are_not() {
        let mut h = HookHistograms::new();
        // Above 2048 buckets are 2+ wide; the sum must not care.
        h.record(Hook::Track, 100_001);
        h.record(Hook::Track, 100_003);
        h.record(Hook::Untrack, 7);
        assert_eq!(h.total_ns(Hook::Track, &unit()), 200_004.0);
        assert_eq!(h.total_ns_all(&unit()), 200_011.0);
        let track = h.summary(&unit())[&Hook::Track];
        assert_eq!(track.mean_ns, 100_002.0);
        assert_eq!(track.max_ns, 100_003);
        assert!(track.p50_ns <= track.max_ns, "capped at the exact max");
        assert!(
            track.p50_ns.abs_diff(100_001) <= 100,
            "within 0.1%: {}",
            track.p50_ns
        );
    }

    #[test]
    fn values_beyond_the_presized_range_are_kept() {
        let mut h = HookHistograms::new();
        h.record(Hook::Fault, 0);
        h.record(Hook::Fault, 5_000_000_000); // 5 s: a preempted worker
        let s = h.summary(&unit())[&Hook::Fault];
        assert_eq!(s.count, 2);
        assert_eq!(s.max_ns, 5_000_000_000);
        assert_eq!(h.percentile_samples(Hook::Fault, &unit())[0], (0.0, 0));
    }

    #[test]
    fn add_merges_threads() {
        let mut a = HookHistograms::new();
        let mut b = HookHistograms::new();
        for ns in 1..=500 {
            a.record(Hook::Lookup, ns);
        }
        for ns in 501..=1000 {
            b.record(Hook::Lookup, ns);
        }
        b.record(Hook::Ioremap, 30_000_000); // beyond a's presized range
        a.add(&b);
        let s = a.summary(&unit());
        assert_eq!(s[&Hook::Lookup].count, 1000);
        assert_eq!(s[&Hook::Lookup].p50_ns, 500);
        assert_eq!(s[&Hook::Lookup].max_ns, 1000);
        assert_eq!(a.total_ns(Hook::Lookup, &unit()), 500_500.0);
        assert_eq!(s[&Hook::Ioremap].max_ns, 30_000_000);
        assert_eq!(a.count(Hook::Ioremap), 1);
    }

    #[test]
    fn percentile_samples_form_a_cdf() {
        let mut h = HookHistograms::new();
        assert!(h.percentile_samples(Hook::Dup, &unit()).is_empty());
        for ns in 1..=10_000 {
            h.record(Hook::Dup, ns);
        }
        let pts = h.percentile_samples(Hook::Dup, &unit());
        assert_eq!(pts.first(), Some(&(0.0, 1)));
        assert_eq!(pts.last(), Some(&(1.0, 10_000)));
        assert_eq!(pts.len(), 100 + 9 + 9 + 2);
        for w in pts.windows(2) {
            assert!(w[0].0 < w[1].0, "quantiles increase: {w:?}");
            assert!(w[0].1 <= w[1].1, "values never decrease: {w:?}");
        }
    }

    #[test]
    fn reset_forgets_everything() {
        let mut h = HookHistograms::new();
        h.record(Hook::Dup, 10);
        h.reset();
        assert_eq!(h.count(Hook::Dup), 0);
        assert_eq!(h.total_ns_all(&unit()), 0.0);
        assert!(h.summary(&unit()).is_empty());
    }

    proptest::proptest! {
        /// Against the obvious model (the sorted samples): count, sum and
        /// max exact; each percentile is the nearest-rank sample rounded up
        /// to its bucket, so at most 0.1% above it, and never above the max.
        #[test]
        fn matches_sorted_samples(
            a in proptest::collection::vec(0u64..50_000_000, 1..300),
            b in proptest::collection::vec(0u64..50_000_000, 0..300),
        ) {
            let (mut ha, mut hb) = (HookHistograms::new(), HookHistograms::new());
            a.iter().for_each(|&v| ha.record(Hook::Track, v));
            b.iter().for_each(|&v| hb.record(Hook::Track, v));
            ha.add(&hb);
            let mut all: Vec<u64> = a.iter().chain(&b).copied().collect();
            all.sort_unstable();
            let n = all.len();
            let s = ha.summary(&unit())[&Hook::Track];
            proptest::prop_assert_eq!(s.count, n as u64);
            proptest::prop_assert_eq!(ha.total_ns(Hook::Track, &unit()), all.iter().sum::<u64>() as f64);
            proptest::prop_assert_eq!(s.max_ns, all[n - 1]);
            for (q, got) in [(0.5, s.p50_ns), (0.9, s.p90_ns), (0.99, s.p99_ns), (0.999, s.p999_ns)] {
                let rank = ((q * n as f64).ceil() as usize).max(1);
                let want = all[rank - 1];
                proptest::prop_assert!(
                    got >= want && got - want <= want / 1000,
                    "q {} of {:?}: got {} want {}", q, all, got, want
                );
            }
            // The trimmed mean lies between the minimum and the mean.
            proptest::prop_assert!(s.tmean_ns <= s.mean_ns * 1.001 + 1.0);
            proptest::prop_assert!(s.tmean_ns + 1.0 >= all[0] as f64 * 0.999);
        }
    }
}

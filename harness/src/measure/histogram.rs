//! Per-hook latency histograms: one HDR histogram (3 significant digits)
//! per [`Hook`], plus the exact count, sum and maximum beside it.
//!
//! Structure: an array indexed by [`Hook::index`], so recording is an index
//! and a bucket increment. Invariant: for every hook, `sum_ns` and `max_ns`
//! are the exact sum and maximum of the values recorded (or added from
//! another set), and `hist.len()` is their count; means come from the
//! exact sum, not from buckets.
//!
//! Why the sum is signed: a timed region shorter than the clock's step
//! (10 ns on some VMs) nets out slightly negative or one step positive
//! after the overhead is subtracted. The histogram holds only values of
//! zero or more, so it gets the clipped value; the sum keeps the signed
//! one, so means stay unbiased for hooks faster than one clock step.
//!
//! No lock: each worker thread owns one set, and the runner merges them
//! with [`HookHistograms::add`] afterwards.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::measure::hook::Hook;
use crate::results::HookSummary;

/// Significant decimal digits kept (0.1% value resolution).
const SIGFIG: u8 = 3;
/// Values up to this are recorded without growing the histogram (1 ms, far
/// above any hook); larger ones grow it once (auto-resize), never clamp.
const PRESIZED_MAX_NS: u64 = 1_000_000;

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
    /// Exact sum of recorded (signed, unclipped) values, ns.
    sum_ns: f64,
    /// Exact largest recorded value, ns (0 when empty).
    max_ns: u64,
}

impl HookHistogram {
    fn new() -> Self {
        let mut hist = Histogram::new_with_bounds(1, PRESIZED_MAX_NS, SIGFIG)
            .expect("constant histogram bounds are valid");
        hist.auto(true);
        HookHistogram {
            hist,
            sum_ns: 0.0,
            max_ns: 0,
        }
    }

    /// Bucket value at `q`, capped at the exact maximum: HDR reports the
    /// top of a bucket, which can lie above every value recorded in it.
    fn value_at(&self, q: f64) -> u64 {
        self.hist.value_at_quantile(q).min(self.max_ns)
    }
}

/// Latency histograms of every hook, nanoseconds.
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

    /// Record one call of `hook` that took `ns` (net of timer overhead).
    #[inline]
    pub fn record(&mut self, hook: Hook, ns: u64) {
        self.record_signed(hook, ns as f64);
    }

    /// Record one call whose net time `ns` may be below zero (a region
    /// shorter than a clock step, see the module header): the histogram
    /// gets it rounded and clipped at 0, the sum gets it as is.
    #[inline]
    pub fn record_signed(&mut self, hook: Hook, ns: f64) {
        let h = &mut self.hooks[hook.index()];
        // `as` saturates: negative -> 0.
        let clipped = ns.round() as u64;
        if h.hist.record(clipped).is_err() {
            // Only when growing would overflow usize: keep the count right.
            h.hist.saturating_record(clipped);
        }
        h.sum_ns += ns;
        h.max_ns = h.max_ns.max(clipped);
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
            mine.sum_ns += theirs.sum_ns;
            mine.max_ns = mine.max_ns.max(theirs.max_ns);
        }
    }

    /// Forget every sample (reuse across repeats without reallocating).
    pub fn reset(&mut self) {
        for h in &mut self.hooks {
            h.hist.reset();
            h.sum_ns = 0.0;
            h.max_ns = 0;
        }
    }

    /// Calls of `hook` recorded.
    pub fn count(&self, hook: Hook) -> u64 {
        self.hooks[hook.index()].hist.len()
    }

    /// Exact sum of `hook`'s samples, ns (rounded; never below 0).
    pub fn total_ns(&self, hook: Hook) -> u64 {
        self.hooks[hook.index()].sum_ns.round() as u64
    }

    /// Exact sum over every hook, ns (rounded; never below 0).
    pub fn total_ns_all(&self) -> u64 {
        self.hooks.iter().map(|h| h.sum_ns).sum::<f64>().round() as u64
    }

    /// Summary of every hook recorded at least once. Percentiles are HDR
    /// bucket values (within 0.1%) capped at the exact maximum; mean and
    /// maximum are exact.
    pub fn summary(&self) -> BTreeMap<Hook, HookSummary> {
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
                            mean_ns: (h.sum_ns / count as f64).max(0.0),
                            p50_ns: h.value_at(0.5),
                            p90_ns: h.value_at(0.9),
                            p99_ns: h.value_at(0.99),
                            p999_ns: h.value_at(0.999),
                            max_ns: h.max_ns,
                        },
                    )
                })
            })
            .collect()
    }

    /// `(quantile, ns)` points of `hook`'s distribution for a CDF chart:
    /// every percent from 0 (the minimum) to 99, then 99.1..99.9,
    /// 99.91..99.99, 99.999 and 1.0 (the maximum). Empty if never recorded.
    pub fn percentile_samples(&self, hook: Hook) -> Vec<(f64, u64)> {
        let h = &self.hooks[hook.index()];
        if h.hist.is_empty() {
            return Vec::new();
        }
        cdf_quantiles().map(|q| (q, h.value_at(q))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_samples() {
        let mut h = HookHistograms::new();
        // 1..=1000 ns: exact buckets below 2048 at 3 significant digits.
        for ns in 1..=1000 {
            h.record(Hook::Dup, ns);
        }
        let s = h.summary();
        assert_eq!(s.len(), 1, "only hooks that ran: {s:?}");
        let dup = s[&Hook::Dup];
        assert_eq!(dup.count, 1000);
        assert_eq!(dup.mean_ns, 500.5);
        assert_eq!(dup.p50_ns, 500);
        assert_eq!(dup.p90_ns, 900);
        assert_eq!(dup.p99_ns, 990);
        assert_eq!(dup.p999_ns, 999);
        assert_eq!(dup.max_ns, 1000);
        assert_eq!(h.count(Hook::Dup), 1000);
        assert_eq!(h.count(Hook::Free), 0);
        assert_eq!(h.total_ns(Hook::Dup), 500_500);
    }

    #[test]
    fn totals_are_exact_where_buckets_are_not() {
        let mut h = HookHistograms::new();
        // Above 2048 buckets are 2+ ns wide; the sum must not care.
        h.record(Hook::Track, 100_001);
        h.record(Hook::Track, 100_003);
        h.record(Hook::Untrack, 7);
        assert_eq!(h.total_ns(Hook::Track), 200_004);
        assert_eq!(h.total_ns_all(), 200_011);
        let track = h.summary()[&Hook::Track];
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
        let s = h.summary()[&Hook::Fault];
        assert_eq!(s.count, 2);
        assert_eq!(s.max_ns, 5_000_000_000);
        assert_eq!(h.percentile_samples(Hook::Fault)[0], (0.0, 0));
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
        b.record(Hook::Ioremap, 3_000_000); // beyond a's presized range
        a.add(&b);
        let s = a.summary();
        assert_eq!(s[&Hook::Lookup].count, 1000);
        assert_eq!(s[&Hook::Lookup].p50_ns, 500);
        assert_eq!(s[&Hook::Lookup].max_ns, 1000);
        assert_eq!(a.total_ns(Hook::Lookup), 500_500);
        assert_eq!(s[&Hook::Ioremap].max_ns, 3_000_000);
        assert_eq!(a.count(Hook::Ioremap), 1);
    }

    #[test]
    fn percentile_samples_form_a_cdf() {
        let mut h = HookHistograms::new();
        assert!(h.percentile_samples(Hook::Dup).is_empty());
        for ns in 1..=10_000 {
            h.record(Hook::Dup, ns);
        }
        let pts = h.percentile_samples(Hook::Dup);
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
        assert_eq!(h.total_ns_all(), 0);
        assert!(h.summary().is_empty());
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
            let s = ha.summary()[&Hook::Track];
            proptest::prop_assert_eq!(s.count, n as u64);
            proptest::prop_assert_eq!(ha.total_ns(Hook::Track), all.iter().sum::<u64>());
            proptest::prop_assert_eq!(s.max_ns, all[n - 1]);
            for (q, got) in [(0.5, s.p50_ns), (0.9, s.p90_ns), (0.99, s.p99_ns), (0.999, s.p999_ns)] {
                let rank = ((q * n as f64).ceil() as usize).max(1);
                let want = all[rank - 1];
                proptest::prop_assert!(
                    got >= want && got - want <= want / 1000,
                    "q {} of {:?}: got {} want {}", q, all, got, want
                );
            }
        }
    }
}

//! The named random number generator every workload choice comes from, and
//! the sub-streams it is split into.
//!
//! The generator is `rand_xoshiro::Xoshiro256PlusPlus` (pinned to its minor
//! version in the workspace), seeded with `seed_from_u64`, which expands the
//! 64-bit seed into the 256-bit state with SplitMix64 (as the xoshiro
//! authors recommend). Everything above the raw 64-bit outputs — bounded
//! integers, probabilities, weighted choices — is our own code in this file,
//! so the workload for a seed depends only on the xoshiro256++ algorithm and
//! on pfntrack, never on `rand`'s distribution internals, which may change
//! between releases.
//!
//! Sub-streams: one seed feeds several independent streams (the physical
//! layout, one per worker). Stream `(purpose, index)` is seeded with
//! `seed ^ splitmix64_mix(purpose << 32 | index)`, where `splitmix64_mix` is
//! SplitMix64's output function applied to its argument plus the golden
//! gamma. Adding a new purpose never changes an existing stream.

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// The algorithm's name, recorded in traces and results.
pub const RNG_NAME: &str = "xoshiro256++";

/// What a sub-stream is used for (the high half of its stream id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Purpose {
    /// The physical layout: BAR placement and types, background ioremaps.
    Layout = 1,
    /// One worker's op stream (index = worker number).
    Worker = 2,
    /// Slab pages of one worker's simulated `vm_area_struct` cache
    /// (index = worker number; the runner's, not the workload's).
    VmaSlab = 3,
}

/// SplitMix64's output step (Steele, Lea, Flood 2014) applied to
/// `x + 0x9e3779b97f4a7c15`: a bijective 64-bit mixer.
pub const fn splitmix64_mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed of sub-stream `(purpose, index)` of `seed`.
pub const fn substream_seed(seed: u64, purpose: Purpose, index: u32) -> u64 {
    seed ^ splitmix64_mix(((purpose as u64) << 32) | index as u64)
}

/// A seeded xoshiro256++ stream with pfntrack's own sampling helpers.
#[derive(Debug, Clone)]
pub struct WorkloadRng {
    inner: Xoshiro256PlusPlus,
}

impl WorkloadRng {
    /// A stream seeded directly (SplitMix64 expansion of `seed`).
    pub fn seed_from_u64(seed: u64) -> Self {
        WorkloadRng {
            inner: Xoshiro256PlusPlus::seed_from_u64(seed),
        }
    }

    /// Sub-stream `(purpose, index)` of `seed` (see the module header).
    pub fn substream(seed: u64, purpose: Purpose, index: u32) -> Self {
        Self::seed_from_u64(substream_seed(seed, purpose, index))
    }

    /// The next raw 64-bit output.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// A uniform integer in `0..n` (`n > 0`), without bias: Lemire's
    /// multiply-shift ("Fast random integer generation in an interval",
    /// 2019) with rejection of the few low products that would bias it.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0, "below(0)");
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            // 2^64 mod n: products whose low half falls below it are the
            // surplus that would make some results more likely.
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }

    /// A uniform `u32` in `lo..=hi` (`lo <= hi`).
    #[inline]
    pub fn range_u32(&mut self, lo: u32, hi: u32) -> u32 {
        debug_assert!(lo <= hi, "range_u32({lo}, {hi})");
        lo + self.below(u64::from(hi - lo) + 1) as u32
    }

    /// A uniform index into a non-empty slice of length `len`.
    #[inline]
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// A uniform float in `[0, 1)` with 53 random bits.
    #[inline]
    pub fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p` (always draws once, so the stream stays
    /// aligned whatever `p` is; `p <= 0` is never, `p >= 1` always).
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit_f64() < p
    }
}

/// A weighted choice among a fixed set of outcomes: outcome `i` has
/// probability `weights[i] / sum(weights)`.
#[derive(Debug, Clone)]
pub struct Weighted {
    /// Running sums of the weights; the last is the total.
    cumulative: Vec<u64>,
}

impl Weighted {
    /// A table over `weights`. Return: `None` when every weight is 0.
    pub fn new(weights: &[u32]) -> Option<Self> {
        let mut total = 0u64;
        let cumulative: Vec<u64> = weights
            .iter()
            .map(|&w| {
                total += u64::from(w);
                total
            })
            .collect();
        (total > 0).then_some(Weighted { cumulative })
    }

    /// Draw an outcome index.
    #[inline]
    pub fn pick(&self, rng: &mut WorkloadRng) -> usize {
        let total = *self.cumulative.last().expect("non-empty by construction");
        let x = rng.below(total);
        // Few outcomes (at most a dozen): a linear scan beats a search.
        self.cumulative
            .iter()
            .position(|&c| x < c)
            .expect("x < total")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_pinned() {
        // Raw outputs, bounded draws and a sub-stream seed: a change here
        // changes every workload (see WORKLOAD_VERSION in generator.rs).
        let mut r = WorkloadRng::seed_from_u64(0);
        let first: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(
            first,
            [
                5987356902031041503,
                7051070477665621255,
                6633766593972829180
            ]
        );
        let mut r = WorkloadRng::seed_from_u64(42);
        let bounded: Vec<u64> = (0..4).map(|_| r.below(1000)).collect();
        assert_eq!(bounded, [814, 318, 983, 701]);
        assert_eq!(substream_seed(7, Purpose::Worker, 1), 0xc485_8308_e594_9c4e);
        let mut w0 = WorkloadRng::substream(7, Purpose::Worker, 0);
        let mut w1 = WorkloadRng::substream(7, Purpose::Worker, 1);
        let mut l0 = WorkloadRng::substream(7, Purpose::Layout, 0);
        let (a, b, c) = (w0.next_u64(), w1.next_u64(), l0.next_u64());
        assert!(a != b && b != c && a != c);
    }

    #[test]
    fn splitmix_matches_reference() {
        // SplitMix64 seeded with 0 yields these first outputs (reference
        // C implementation): state += gamma, then the mix.
        assert_eq!(splitmix64_mix(0), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64_mix(0x9e37_79b9_7f4a_7c15), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut r = WorkloadRng::seed_from_u64(1);
        let mut counts = [0u32; 7];
        for _ in 0..70_000 {
            counts[r.below(7) as usize] += 1;
        }
        for c in counts {
            // Expected 10,000 each; 6 sigma is about 500.
            assert!((9_400..10_600).contains(&c), "{counts:?}");
        }
        assert_eq!(r.below(1), 0);
        for _ in 0..1000 {
            let x = r.range_u32(5, 9);
            assert!((5..=9).contains(&x));
        }
        assert_eq!(r.range_u32(u32::MAX, u32::MAX), u32::MAX);
        let x = r.range_u32(0, u32::MAX);
        let _ = x;
    }

    #[test]
    fn chance_extremes() {
        let mut r = WorkloadRng::seed_from_u64(2);
        for _ in 0..1000 {
            assert!(!r.chance(0.0));
            assert!(r.chance(1.0));
            let u = r.unit_f64();
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn weighted_never_picks_zero_weight() {
        let mut r = WorkloadRng::seed_from_u64(3);
        let w = Weighted::new(&[0, 3, 0, 1]).unwrap();
        let mut counts = [0u32; 4];
        for _ in 0..4000 {
            counts[w.pick(&mut r)] += 1;
        }
        assert_eq!(counts[0], 0);
        assert_eq!(counts[2], 0);
        assert!(counts[1] > 2 * counts[3], "{counts:?}");
        assert!(Weighted::new(&[0, 0]).is_none());
        assert!(Weighted::new(&[]).is_none());
    }
}

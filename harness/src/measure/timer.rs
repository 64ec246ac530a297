//! The per-hook cycle timer: a serialized TSC read on x86_64 with an
//! invariant TSC, `std::time::Instant` elsewhere, calibrated once per run.
//!
//! Structure: [`Timer`] holds the clock kind chosen at calibration, the TSC
//! rate (`ticks_per_ns`) and the cost of an empty start/stop pair on the
//! bare clock (`overhead_ticks`, the trimmed mean: see [`EmptyRegion`] for
//! why not the median). Invariant: the kind never changes after
//! construction. No lock: a `Timer` is read-only and shared by workers.
//!
//! Two ways to time a region. [`Timer::start`]/[`Timer::stop`] branch on
//! the kind; the branch always goes the same way, but `stop`'s load of the
//! kind sits inside the region, behind `start`'s fence. Measured with the
//! `timer_calibrate` example on a 2-core EPYC VM: no difference with a
//! call inside the region, about 3 ticks (1 ns) more than the bare clock
//! for an empty region. Hot loops should instead run under
//! [`Timer::with_clock`], which hands a bare [`TscClock`] or
//! [`InstantClock`] to code generic over [`CycleTimer`]: that is the path
//! the overhead is calibrated on.
//!
//! The TSC sequences follow G. Paoloni, "How to Benchmark Code Execution
//! Times on Intel IA-32 and IA-64 Instruction Set Architectures", Intel
//! white paper 324264-001 (2010), section 3.2: serialize before the first
//! read, read the end with `rdtscp` (which waits for the timed code) and
//! fence after it. The paper fences with `cpuid`; we use `lfence`, because
//! `cpuid` traps to the hypervisor in a VM (microseconds, and noisy) while
//! `lfence` waits for all earlier instructions to complete and keeps later
//! ones from starting. That is architectural on Intel (SDM); on AMD it
//! holds on Zen 2 and later ("LFENCE always serializing") and where the
//! DE_CFG LFENCE_SERIALIZE bit is set, which Linux's `init_amd()`
//! (arch/x86/kernel/cpu/amd.c) does on every SSE2 CPU before setting
//! `X86_FEATURE_LFENCE_RDTSC` (in a VM the host must let that write through).
//!
//! Ticks come from the TSC only when `/proc/cpuinfo` lists `tsc`, `rdtscp`,
//! `constant_tsc` (rate independent of P-states) and `nonstop_tsc` (keeps
//! running in C-states); otherwise the timer falls back to `Instant` and
//! records why in [`TimerInfo::fallback`].

use std::fmt;
use std::time::{Duration, Instant};

use crate::results::TimerInfo;

/// Which clock a [`Timer`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    /// The serialized time-stamp counter (x86_64 only).
    Tsc,
    /// `std::time::Instant` (ticks are nanoseconds).
    Instant,
}

impl fmt::Display for TimerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimerKind::Tsc => "tsc",
            TimerKind::Instant => "instant",
        })
    }
}

/// A raw tick source for timed regions: read `start()` before and `stop()`
/// after the code under test. Implemented by the bare clocks and by the
/// dispatching [`Timer`], so a runner may be generic over the clock.
pub trait CycleTimer: Sync {
    /// Ticks at the start of a timed region; later code does not begin
    /// before the read.
    fn start(&self) -> u64;
    /// Ticks at the end of a timed region; earlier code has finished.
    fn stop(&self) -> u64;
}

/// Code generic over the clock, for [`Timer::with_clock`] (a closure
/// cannot be generic, so the runner implements this on a small struct that
/// carries its arguments).
pub trait ClockUser {
    /// What the code returns.
    type Output;
    /// Run with `clock`.
    fn run<C: CycleTimer>(self, clock: &C) -> Self::Output;
}

/// The bare serialized TSC. Only [`TscClock::detect`] makes one, so holding
/// a `TscClock` means the CPU has `rdtscp` and an invariant TSC.
#[derive(Debug, Clone, Copy)]
pub struct TscClock {
    _detected: (),
}

impl TscClock {
    /// A TSC clock if this CPU has a usable one, else why not.
    pub fn detect() -> Result<TscClock, String> {
        tsc_unusable_reason().map_or(Ok(TscClock { _detected: () }), Err)
    }
}

impl CycleTimer for TscClock {
    #[inline(always)]
    fn start(&self) -> u64 {
        tsc::start()
    }

    #[inline(always)]
    fn stop(&self) -> u64 {
        tsc::stop()
    }
}

/// The bare `Instant` clock: nanoseconds since the clock was made.
#[derive(Debug, Clone, Copy)]
pub struct InstantClock {
    epoch: Instant,
}

impl InstantClock {
    /// A clock counting from now.
    pub fn new() -> InstantClock {
        InstantClock {
            epoch: Instant::now(),
        }
    }

    #[inline(always)]
    fn ticks(&self) -> u64 {
        // Saturates after 584 years of uptime.
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

impl Default for InstantClock {
    fn default() -> Self {
        InstantClock::new()
    }
}

impl CycleTimer for InstantClock {
    #[inline(always)]
    fn start(&self) -> u64 {
        self.ticks()
    }

    #[inline(always)]
    fn stop(&self) -> u64 {
        self.ticks()
    }
}

/// The calibrated per-call timer the runner uses.
#[derive(Debug, Clone)]
pub struct Timer {
    /// Fixed at construction (see the module invariant).
    kind: TimerKind,
    /// The clock for `Instant` ticks.
    instant: InstantClock,
    /// TSC ticks per nanosecond; 1.0 for `Instant`.
    ticks_per_ns: f64,
    /// `1 / ticks_per_ns`, so the per-sample conversion is a multiply.
    ns_per_tick: f64,
    /// Cost of an empty start/stop pair in ticks (trimmed mean, see
    /// [`EmptyRegion`]), subtracted from samples.
    overhead_ticks: f64,
    /// The TSC's step in ticks, when the TSC is used (see [`EmptyRegion`]).
    step_ticks: Option<u64>,
    /// Why the TSC was not used, when it was wanted and is not.
    fallback: Option<String>,
}

/// Start/stop pairs run before the overhead is measured (caches, branch
/// predictors, frequency ramp-up).
const WARMUP_PAIRS: usize = 20_000;
/// Empty start/stop pairs the overhead is taken from.
const OVERHEAD_PAIRS: usize = 50_001;
/// How long the TSC is compared against `Instant`.
const RATE_WINDOW: Duration = Duration::from_millis(30);
/// A TSC rate outside this range (ticks/ns) is a broken TSC, not a CPU.
const SANE_TICKS_PER_NS: std::ops::RangeInclusive<f64> = 0.05..=20.0;

impl Timer {
    /// Choose the best clock on this machine and calibrate it: the TSC rate
    /// against `Instant` over about 30 ms, then the cost of an empty
    /// start/stop pair (see [`EmptyRegion`]).
    pub fn calibrate() -> Timer {
        match TscClock::detect() {
            Ok(tsc) => {
                let ticks_per_ns = tsc_ticks_per_ns(&tsc);
                if SANE_TICKS_PER_NS.contains(&ticks_per_ns) {
                    let mut timer = Timer::with_rate(TimerKind::Tsc, ticks_per_ns);
                    let empty = EmptyRegion::measure(&tsc);
                    timer.overhead_ticks = empty.trimmed_mean_ticks;
                    timer.step_ticks = Some(empty.step_ticks);
                    timer
                } else {
                    Timer::instant_because(format!(
                        "TSC calibrated at {ticks_per_ns} ticks/ns, not a plausible rate"
                    ))
                }
            }
            Err(why) if cfg!(target_arch = "x86_64") => Timer::instant_because(why),
            // No TSC to miss: Instant is the best clock, not a fallback.
            Err(_) => Timer::instant(),
        }
    }

    /// An `Instant` timer with its overhead measured, whatever the CPU has.
    pub fn instant() -> Timer {
        let mut timer = Timer::with_rate(TimerKind::Instant, 1.0);
        timer.overhead_ticks = EmptyRegion::measure(&timer.instant).trimmed_mean_ticks;
        timer
    }

    /// A timer with the given calibration, measuring nothing: for tests of
    /// anything that converts ticks, so results do not depend on the clock.
    /// Reads `Instant` if `start`/`stop` are called.
    ///
    /// Panics if `ticks_per_ns` is not positive and finite, or the overhead
    /// is negative (a test bug).
    pub fn fixed(ticks_per_ns: f64, overhead_ticks: f64) -> Timer {
        assert!(
            ticks_per_ns.is_finite() && ticks_per_ns > 0.0,
            "ticks_per_ns must be positive and finite, got {ticks_per_ns}"
        );
        assert!(
            overhead_ticks.is_finite() && overhead_ticks >= 0.0,
            "overhead_ticks must be >= 0, got {overhead_ticks}"
        );
        let mut timer = Timer::with_rate(TimerKind::Instant, ticks_per_ns);
        timer.overhead_ticks = overhead_ticks;
        timer
    }

    fn instant_because(why: String) -> Timer {
        let mut timer = Timer::instant();
        timer.fallback = Some(why);
        timer
    }

    fn with_rate(kind: TimerKind, ticks_per_ns: f64) -> Timer {
        Timer {
            kind,
            instant: InstantClock::new(),
            ticks_per_ns,
            ns_per_tick: 1.0 / ticks_per_ns,
            overhead_ticks: 0.0,
            step_ticks: None,
            fallback: None,
        }
    }

    /// This timer with its overhead re-measured now on `clock` (the same
    /// clock it dispatches to): the runner does this before every design
    /// run, so the subtraction follows the CPU's current speed, not the
    /// speed it had at start-up.
    pub fn recalibrated<C: CycleTimer>(&self, clock: &C) -> Timer {
        self.with_overhead(EmptyRegion::measure(clock).trimmed_mean_ticks)
    }

    /// This timer subtracting `overhead_ticks` instead.
    pub fn with_overhead(&self, overhead_ticks: f64) -> Timer {
        let mut t = self.clone();
        t.overhead_ticks = overhead_ticks.max(0.0);
        t
    }

    /// The clock in use.
    pub fn kind(&self) -> TimerKind {
        self.kind
    }

    /// Ticks per nanosecond.
    pub fn ticks_per_ns(&self) -> f64 {
        self.ticks_per_ns
    }

    /// Ticks of an empty start/stop pair (subtracted by [`Timer::net_ns`]).
    pub fn overhead_ticks(&self) -> f64 {
        self.overhead_ticks
    }

    /// Why the TSC is not used, if it is not.
    pub fn fallback(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// Run `user` with this timer's bare clock, so its timed loop is
    /// compiled once per clock kind with no branch on the kind inside the
    /// timed regions. Convert with this timer's [`Timer::net_ns`].
    pub fn with_clock<U: ClockUser>(&self, user: U) -> U::Output {
        match self.kind {
            // Only `calibrate` sets `Tsc`, after `TscClock::detect` passed.
            TimerKind::Tsc => user.run(&TscClock { _detected: () }),
            TimerKind::Instant => user.run(&self.instant),
        }
    }

    /// Ticks at the start of a timed region.
    #[inline(always)]
    pub fn start(&self) -> u64 {
        match self.kind {
            TimerKind::Tsc => tsc::start(),
            TimerKind::Instant => self.instant_ticks(),
        }
    }

    /// Ticks at the end of a timed region.
    #[inline(always)]
    pub fn stop(&self) -> u64 {
        match self.kind {
            TimerKind::Tsc => tsc::stop(),
            TimerKind::Instant => self.instant_ticks(),
        }
    }

    // Out of line so the TSC path of start/stop stays a few instructions
    // and spills no registers for a call it never makes.
    #[inline(never)]
    fn instant_ticks(&self) -> u64 {
        self.instant.ticks()
    }

    /// Nanoseconds spent between `start` and `stop`, less the timer's own
    /// overhead, rounded, and 0 if the overhead is larger: an empty region
    /// measures within one counter step of 0 (at the median, 0 on the TSC,
    /// a few ns on `Instant`). A `stop` below `start` (a TSC read on another
    /// CPU after a migration) also gives 0. Clipping at 0 lifts the mean of
    /// regions shorter than a counter step: an empty region averages about
    /// 2 ns on a 10 ns-step TSC; regions longer than a step never clip.
    #[inline]
    pub fn net_ns(&self, start: u64, stop: u64) -> u64 {
        let net_ticks = stop.saturating_sub(start) as f64 - self.overhead_ticks;
        // `as` saturates: negative -> 0, and never NaN here.
        (net_ticks * self.ns_per_tick).round() as u64
    }

    /// The calibration, for the results document.
    pub fn info(&self) -> TimerInfo {
        TimerInfo {
            kind: self.kind.to_string(),
            ticks_per_ns: self.ticks_per_ns,
            overhead_ticks: self.overhead_ticks,
            overhead_ns: self.overhead_ticks * self.ns_per_tick,
            resolution_ns: self.step_ticks.map(|step| step as f64 * self.ns_per_tick),
            fallback: self.fallback.clone(),
        }
    }
}

impl CycleTimer for Timer {
    #[inline(always)]
    fn start(&self) -> u64 {
        Timer::start(self)
    }

    #[inline(always)]
    fn stop(&self) -> u64 {
        Timer::stop(self)
    }
}

/// What an empty timed region (start immediately followed by stop) reads
/// as, in raw ticks: the figures calibration takes from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmptyRegion {
    /// Median.
    pub median_ticks: f64,
    /// Mean of the fastest 99% (drops interrupts and preemptions). This is
    /// the overhead subtracted: on a counter that steps coarsely (see
    /// `step_ticks`), the read-out of a region dithers between steps and
    /// its mean, not its median, is the region's true cost.
    pub trimmed_mean_ticks: f64,
    /// Greatest common divisor of all samples: the counter's step (1 when
    /// the TSC counts every cycle; larger on CPUs whose TSC advances in
    /// steps from a slower reference clock).
    pub step_ticks: u64,
}

impl EmptyRegion {
    /// Time 50,001 empty regions on `clock`, after 20,000 warm-up pairs.
    pub fn measure<C: CycleTimer>(clock: &C) -> EmptyRegion {
        for _ in 0..WARMUP_PAIRS {
            let s = clock.start();
            let e = clock.stop();
            std::hint::black_box(e.wrapping_sub(s));
        }
        let mut samples: Vec<u64> = (0..OVERHEAD_PAIRS)
            .map(|_| {
                let s = clock.start();
                let e = clock.stop();
                e.saturating_sub(s)
            })
            .collect();
        EmptyRegion::from_samples(&mut samples).expect("OVERHEAD_PAIRS > 0")
    }

    /// The figures of raw `samples` (reordered); `None` if there are none.
    pub fn from_samples(samples: &mut [u64]) -> Option<EmptyRegion> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let n = samples.len();
        let median_ticks = if n % 2 == 1 {
            samples[n / 2] as f64
        } else {
            (samples[n / 2 - 1] as f64 + samples[n / 2] as f64) / 2.0
        };
        // ceil(0.99 n) fastest, at least one.
        let kept = &samples[..(n * 99).div_ceil(100).max(1)];
        let trimmed_mean_ticks = kept.iter().map(|&t| t as f64).sum::<f64>() / kept.len() as f64;
        let step_ticks = samples.iter().fold(0, |g, &t| gcd(g, t));
        Some(EmptyRegion {
            median_ticks,
            trimmed_mean_ticks,
            step_ticks,
        })
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// TSC ticks per `Instant` nanosecond over [`RATE_WINDOW`]. Each end point
/// pairs a TSC read with the midpoint of two `Instant` reads around it,
/// keeping the tightest of a few tries so a preemption cannot skew it.
fn tsc_ticks_per_ns(tsc: &TscClock) -> f64 {
    let reference = InstantClock::new();
    let pair = || {
        (0..5)
            .map(|_| {
                let before = reference.ticks();
                let ticks = tsc.start();
                let after = reference.ticks();
                (after - before, before + (after - before) / 2, ticks)
            })
            .min_by_key(|&(width, _, _)| width)
            .map(|(_, ns, ticks)| (ns, ticks))
            .expect("five tries")
    };
    let (ns0, ticks0) = pair();
    while Duration::from_nanos(reference.ticks() - ns0) < RATE_WINDOW {
        std::hint::spin_loop();
    }
    let (ns1, ticks1) = pair();
    ticks1.wrapping_sub(ticks0) as f64 / (ns1 - ns0) as f64
}

/// Why the TSC cannot serve as the per-call clock here, or `None` if it can.
fn tsc_unusable_reason() -> Option<String> {
    if !cfg!(target_arch = "x86_64") {
        return Some(format!(
            "no TSC on {}: using Instant",
            std::env::consts::ARCH
        ));
    }
    let cpuinfo = match std::fs::read_to_string("/proc/cpuinfo") {
        Ok(text) => text,
        Err(e) => {
            return Some(format!(
                "cannot read /proc/cpuinfo to check for an invariant TSC: {e}"
            ));
        }
    };
    missing_tsc_flags(&cpuinfo)
}

/// The flags an invariant, serializable TSC needs that the first `flags`
/// line of a `/proc/cpuinfo` text lacks, as a reason; `None` if all there.
fn missing_tsc_flags(cpuinfo: &str) -> Option<String> {
    const NEEDED: [&str; 4] = ["tsc", "rdtscp", "constant_tsc", "nonstop_tsc"];
    let Some(flags) = cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "flags").then_some(value)
    }) else {
        return Some("no `flags` line in /proc/cpuinfo".to_string());
    };
    let have: Vec<&str> = flags.split_whitespace().collect();
    let missing: Vec<&str> = NEEDED.into_iter().filter(|f| !have.contains(f)).collect();
    if missing.is_empty() {
        None
    } else {
        Some(format!(
            "/proc/cpuinfo lacks {}: the TSC rate may vary, using Instant",
            missing.join(", ")
        ))
    }
}

#[cfg(target_arch = "x86_64")]
mod tsc {
    use core::arch::asm;

    /// `lfence; rdtsc; lfence`: earlier work has completed before the read,
    /// and the timed code cannot start before it.
    #[inline(always)]
    pub(super) fn start() -> u64 {
        let lo: u32;
        let hi: u32;
        // SAFETY: lfence and rdtsc write only eax/edx, declared as outputs;
        // they use no stack and leave flags alone. No `nomem`, on purpose:
        // the compiler must treat the block as touching memory, so it
        // cannot move the timed code's loads and stores across it. Only
        // `TscClock::detect` or `Timer::calibrate` (after the same check)
        // choose this path, so the CPU has the TSC.
        unsafe {
            asm!(
                "lfence",
                "rdtsc",
                "lfence",
                out("eax") lo,
                out("edx") hi,
                options(nostack, preserves_flags),
            );
        }
        (u64::from(hi) << 32) | u64::from(lo)
    }

    /// `rdtscp; lfence`: rdtscp waits for the timed code to execute, and
    /// the fence keeps whatever follows from starting before the read.
    #[inline(always)]
    pub(super) fn stop() -> u64 {
        let lo: u32;
        let hi: u32;
        // SAFETY: rdtscp writes eax/edx/ecx (ecx = IA32_TSC_AUX, discarded),
        // all declared; lfence writes nothing. No stack, flags unchanged;
        // memory clobber kept as in `start`. Reached only after `rdtscp`
        // was seen in /proc/cpuinfo (see `start`).
        unsafe {
            asm!(
                "rdtscp",
                "lfence",
                out("eax") lo,
                out("edx") hi,
                out("ecx") _,
                options(nostack, preserves_flags),
            );
        }
        (u64::from(hi) << 32) | u64::from(lo)
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod tsc {
    // `TscClock::detect` never succeeds off x86_64, so these only keep the
    // dispatch compiling.
    pub(super) fn start() -> u64 {
        unreachable!("TSC timer selected on a CPU without a TSC")
    }

    pub(super) fn stop() -> u64 {
        unreachable!("TSC timer selected on a CPU without a TSC")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_ns_subtracts_overhead_then_converts() {
        // 3 ticks per ns, 30 ticks of overhead.
        let t = Timer::fixed(3.0, 30.0);
        assert_eq!(t.net_ns(1_000, 1_030), 0, "exactly the overhead");
        assert_eq!(t.net_ns(1_000, 1_330), 100, "300 net ticks");
        assert_eq!(t.net_ns(1_000, 1_031), 0, "1/3 ns rounds down");
        assert_eq!(t.net_ns(1_000, 1_032), 1, "2/3 ns rounds up");
    }

    #[test]
    fn net_ns_saturates_at_zero() {
        let t = Timer::fixed(2.5, 40.0);
        assert_eq!(t.net_ns(500, 510), 0, "less than the overhead");
        assert_eq!(t.net_ns(500, 400), 0, "stop before start");
        // (2^40 - 40) / 2.5 = 439_804_651_094.4
        assert_eq!(t.net_ns(0, 1 << 40), 439_804_651_094);
    }

    #[test]
    fn net_ns_of_fractional_rate_and_overhead() {
        // 2.245 GHz TSC, median overhead 41.5 ticks (an even sample count).
        let t = Timer::fixed(2.245, 41.5);
        // 2245 + 41.5 ticks is 1000 ns net.
        assert_eq!(t.net_ns(10, 10 + 2245 + 41), 1000);
        assert_eq!(t.net_ns(10, 10 + 2245 + 42), 1000);
    }

    #[test]
    fn info_reports_the_calibration() {
        let info = Timer::fixed(2.0, 50.0).info();
        assert_eq!(info.kind, "instant");
        assert_eq!(info.ticks_per_ns, 2.0);
        assert_eq!(info.overhead_ticks, 50.0);
        assert_eq!(info.overhead_ns, 25.0);
        assert_eq!(info.resolution_ns, None, "instant has no counter step");
        assert_eq!(info.fallback, None);
    }

    #[test]
    fn empty_region_figures_of_a_stepping_counter() {
        // A TSC that advances 26 ticks at a time (seen on AMD EPYC VMs):
        // three quarters of empty pairs read 2 steps, a quarter 3, and one
        // interrupt. The fastest 99% drop the interrupt.
        let mut samples: Vec<u64> = [52u64; 75].into_iter().chain([78; 24]).collect();
        samples.push(26 * 1000);
        let e = EmptyRegion::from_samples(&mut samples).expect("samples");
        assert_eq!(e.median_ticks, 52.0);
        assert_eq!(e.step_ticks, 26);
        assert_eq!(e.trimmed_mean_ticks, (75.0 * 52.0 + 24.0 * 78.0) / 99.0);
        let mut even = vec![3u64, 1, 4, 2];
        let e = EmptyRegion::from_samples(&mut even).expect("samples");
        assert_eq!(e.median_ticks, 2.5);
        assert_eq!(e.step_ticks, 1);
        assert_eq!(e.trimmed_mean_ticks, 2.5, "ceil(0.99 * 4) = 4 kept");
        assert_eq!(EmptyRegion::from_samples(&mut []), None);
    }

    #[test]
    fn kind_names() {
        assert_eq!(TimerKind::Tsc.to_string(), "tsc");
        assert_eq!(TimerKind::Instant.to_string(), "instant");
    }

    #[test]
    fn tsc_needs_all_four_flags() {
        let good = "processor\t: 0\nflags\t\t: fpu tsc msr rdtscp constant_tsc nonstop_tsc\n";
        assert_eq!(missing_tsc_flags(good), None);
        let why = missing_tsc_flags("flags\t: fpu tsc rdtscp\n").expect("missing flags");
        assert!(why.contains("constant_tsc, nonstop_tsc"), "{why}");
        // `tsc` must match a whole flag, not `tsc_known_freq`.
        let why = missing_tsc_flags("flags: rdtscp constant_tsc nonstop_tsc tsc_known_freq\n")
            .expect("missing tsc");
        assert!(why.contains("lacks tsc:"), "{why}");
        assert!(missing_tsc_flags("model name: x\n").is_some());
    }

    #[test]
    fn clocks_do_not_run_backwards() {
        // Behaviour, not timing: a stop read after a start read is not
        // smaller on the same thread.
        let timer = Timer::calibrate();
        let s = timer.start();
        let e = timer.stop();
        assert!(e >= s, "{e} < {s} on {}", timer.kind());
        let clock = InstantClock::new();
        let s = clock.start();
        assert!(clock.stop() >= s);
    }

    #[test]
    #[should_panic(expected = "ticks_per_ns must be positive")]
    fn fixed_rejects_a_zero_rate() {
        let _ = Timer::fixed(0.0, 1.0);
    }
}

//! Calibrate the per-hook timer on this machine and check it: the clock,
//! its rate, step and overhead; the net latency of an empty timed region
//! (should be ~0 ns) and of one no-op call; and whether `Timer`'s kind
//! dispatch costs anything next to the bare clock it dispatches to.
//!
//! Run: `cargo run --release -p pfntrack --example timer_calibrate`

use pfntrack::measure::timer::{ClockUser, CycleTimer, EmptyRegion, Timer};

const REGIONS: usize = 1_000_000;
const ROUNDS: usize = 3;

#[inline(never)]
fn nop(x: u64) -> u64 {
    std::hint::black_box(x)
}

/// Raw ticks of `REGIONS` regions on `clock`, each around `body`.
fn raw_regions<C: CycleTimer>(clock: &C, body: impl Fn(u64)) -> Vec<u64> {
    (0..REGIONS as u64)
        .map(|i| {
            let s = clock.start();
            body(i);
            let e = clock.stop();
            e.saturating_sub(s)
        })
        .collect()
}

/// Median and fastest-99% mean of the net ns of raw `ticks`.
fn net(timer: &Timer, ticks: &[u64]) -> (u64, f64) {
    let mut ns: Vec<u64> = ticks.iter().map(|&t| timer.net_ns(0, t)).collect();
    ns.sort_unstable();
    let kept = &ns[..ns.len() * 99 / 100];
    let mean = kept.iter().sum::<u64>() as f64 / kept.len() as f64;
    (ns[ns.len() / 2], mean)
}

fn show<C: CycleTimer>(label: &str, clock: &C, timer: &Timer) {
    let mut empty = raw_regions(clock, |_| {});
    let mut call = raw_regions(clock, |i| {
        std::hint::black_box(nop(i));
    });
    let (e50, emean) = net(timer, &empty);
    let (c50, cmean) = net(timer, &call);
    let raw_e = EmptyRegion::from_samples(&mut empty).expect("samples");
    let raw_c = EmptyRegion::from_samples(&mut call).expect("samples");
    println!(
        "{label:<16} raw ticks: empty p50 {:>4} mean99 {:>6.2} | call p50 {:>4} mean99 {:>6.2}   \
         net ns: empty p50 {e50:>2} mean99 {emean:>5.2} | call p50 {c50:>2} mean99 {cmean:>5.2}",
        raw_e.median_ticks, raw_e.trimmed_mean_ticks, raw_c.median_ticks, raw_c.trimmed_mean_ticks
    );
}

/// `show` under `Timer::with_clock`: the bare clock, chosen once.
struct Show<'a> {
    label: &'a str,
    timer: &'a Timer,
}

impl ClockUser for Show<'_> {
    type Output = ();
    fn run<C: CycleTimer>(self, clock: &C) {
        show(self.label, clock, self.timer);
    }
}

fn main() {
    let timer = Timer::calibrate();
    let info = timer.info();
    println!("kind            {}", info.kind);
    if let Some(why) = &info.fallback {
        println!("fallback        {why}");
    }
    println!("ticks_per_ns    {:.6}", info.ticks_per_ns);
    if let Some(res) = info.resolution_ns {
        println!("resolution      {res:.2} ns (the counter's step)");
    }
    println!(
        "overhead        {:.2} ticks = {:.2} ns (subtracted)",
        info.overhead_ticks, info.overhead_ns
    );
    println!(
        "({REGIONS} regions each; mean99 = mean of the fastest 99%; call = one \
         #[inline(never)] no-op call)"
    );

    let instant = Timer::instant();
    for round in 1..=ROUNDS {
        println!("round {round}");
        // If the branch on the kind cost anything, the Timer's raw ticks
        // would be higher than the bare clock's.
        show("Timer", &timer, &timer);
        timer.with_clock(Show {
            label: "with_clock",
            timer: &timer,
        });
        show("Timer::instant", &instant, &instant);
        instant.with_clock(Show {
            label: "instant bare",
            timer: &instant,
        });
    }
}

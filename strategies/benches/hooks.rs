//! Criterion benchmarks of every tracking hook of every design, at 1k, 10k
//! and 100k tracked VMAs, plus std `BTreeMap`/`HashMap` reference points
//! keyed by the same VMA addresses (what a naive global index would cost).
//!
//! Ids are `{op}/{size}/{subject}`, e.g. `dup/10k/xarray-shift6`; the
//! workload, and exactly what each op times, is documented in
//! `fixture/mod.rs`. Times are per op: each sample times whole chunks of
//! up to 32 ops with one `Instant` pair, so timer resolution and overhead
//! (about 1 ns per op here) do not dominate; `null` shows that floor.
//!
//! Budget on the 2-core VM: full run about 2.5 minutes, `-- --quick` about
//! 45 s (docs/benchmarks.md).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

mod fixture;

use fixture::{ChunkBench, Design, Hook, MapOp, SIZES, StdMap, run_chunks, size_label};

/// Time `iters` ops of `op`: only the measured part of each chunk counts.
fn time_chunks<O: Copy>(fx: &mut dyn ChunkBench<O>, op: O, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    run_chunks(fx, op, iters, |fx, op, k| {
        let t = Instant::now();
        black_box(fx.measured(op, k));
        total += t.elapsed();
    });
    total
}

/// `{hook}/{size}/{design}`: one population per design and size, built the
/// first time a bench needs it (so a filter that skips a size builds
/// nothing for it) and shared by that design's hooks.
fn hooks(c: &mut Criterion) {
    for size in SIZES {
        let mut fixtures: Vec<Option<Box<dyn ChunkBench<Hook>>>> =
            Design::ALL.iter().map(|_| None).collect();
        for hook in Hook::ALL {
            let mut group = c.benchmark_group(format!("{}/{}", hook.name(), size_label(size)));
            for (design, fx) in Design::ALL.into_iter().zip(&mut fixtures) {
                group.bench_function(design.name(), |b| {
                    let fx = fx.get_or_insert_with(|| design.fixture(size));
                    b.iter_custom(|iters| time_chunks(fx.as_mut(), hook, iters));
                });
            }
            group.finish();
        }
    }
}

/// `{insert,get,remove}/{size}/std-{btreemap,hashmap}`.
fn std_maps(c: &mut Criterion) {
    for size in SIZES {
        let mut fixtures: Vec<Option<Box<dyn ChunkBench<MapOp>>>> =
            StdMap::ALL.iter().map(|_| None).collect();
        for op in MapOp::ALL {
            let mut group = c.benchmark_group(format!("{}/{}", op.name(), size_label(size)));
            for (map, fx) in StdMap::ALL.into_iter().zip(&mut fixtures) {
                group.bench_function(map.name(), |b| {
                    let fx = fx.get_or_insert_with(|| map.fixture(size));
                    b.iter_custom(|iters| time_chunks(fx.as_mut(), op, iters));
                });
            }
            group.finish();
        }
    }
}

/// Short warm-up and measurement: 126 benches must fit in well under 5
/// minutes (the untimed half of each chunk roughly doubles the wall time of the
/// timed half). The ops take nanoseconds to microseconds, so 1 s still
/// gives 10^5..10^8 ops a bench; 20k bootstrap resamples keep the analysis
/// from dominating.
///
/// `--quick` stops a bench once two successive batches agree within 5%
/// but at the latest after `measurement_time`; capping that at 300 ms keeps
/// a quick run of all 126 in about a minute even on a noisy shared machine.
fn config() -> Criterion {
    let quick = std::env::args().any(|a| a == "--quick");
    Criterion::default()
        .warm_up_time(Duration::from_millis(250))
        .measurement_time(Duration::from_millis(if quick { 300 } else { 1000 }))
        .sample_size(20)
        .nresamples(20_000)
}

criterion_group! {
    name = benches;
    config = config();
    targets = hooks, std_maps
}
criterion_main!(benches);

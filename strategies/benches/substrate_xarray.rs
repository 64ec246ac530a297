//! Speed of the XArray model (strategies::xarray) on the four key sets of
//! docs/design.md section 10, for comparison with the kernel's own lib/xarray.c
//! figures there, plus `load` against `BTreeMap::get` on dense keys.
//!
//! One criterion iteration is one pass over all `N` keys (so every pass sees
//! the full-size tree); divide the reported time by `N` for ns per op (the
//! `Throughput` line shows ops/s). Store and erase reuse one array, so after
//! the first pass nodes come from its free list as the kernel's come from a
//! warm slab; loads use a freshly built array. `load_hit_chained` makes each key depend on the previous
//! load's result: per-op latency, where `load_hit` lets independent loads
//! overlap. Run: `cargo bench -p strategies --bench substrate_xarray`
//! (about 2.5 minutes; add `-- --quick` while iterating).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::num::NonZeroU64;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use strategies::kmem::NoAccounting;
use strategies::xarray::XArray;

#[path = "support/xarray_keys.rs"]
mod xarray_keys;
use xarray_keys::KeySet;

/// Keys per set, as in docs/design.md section 10.
const N: u64 = 100_000;

/// A pointer-sized entry with a niche, like the `NonNull` contexts the
/// designs store.
type Entry = NonZeroU64;

fn entry(key: u64) -> Entry {
    NonZeroU64::MIN.saturating_add(key)
}

fn filled(keys: &[u64]) -> XArray<Entry> {
    let mut xa = XArray::new();
    for &k in keys {
        xa.store(k, entry(k), &mut NoAccounting).unwrap();
    }
    xa
}

fn bench_key_set(c: &mut Criterion, set: &KeySet) {
    let nodes = filled(&set.hits).nr_nodes();
    let expected = xarray_keys::kernel_nr_nodes(set.hits.iter().copied());
    assert_eq!(
        nodes, expected,
        "{}: node count differs from the kernel's",
        set.name
    );
    eprintln!(
        "xarray/{}: {} keys, {nodes} xa_nodes",
        set.name,
        set.hits.len()
    );

    let mut group = c.benchmark_group(format!("xarray/{}", set.name));
    group
        .throughput(Throughput::Elements(set.hits.len() as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));

    let mut xa = XArray::new();
    group.bench_function("store", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for &k in &set.hits {
                    black_box(xa.store(black_box(k), entry(k), &mut NoAccounting).unwrap());
                }
                timed += start.elapsed();
                for &k in &set.hits {
                    xa.erase(k, &mut NoAccounting);
                }
            }
            timed
        })
    });
    group.bench_function("erase", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                for &k in &set.hits {
                    xa.store(k, entry(k), &mut NoAccounting).unwrap();
                }
                let start = Instant::now();
                for &k in &set.hits {
                    black_box(xa.erase(black_box(k), &mut NoAccounting));
                }
                timed += start.elapsed();
            }
            timed
        })
    });
    // Loads run on a freshly built array (nodes in allocation order), so
    // their figures do not depend on which store/erase passes ran before:
    // LIFO reuse after churn changes node placement, and with it the cache
    // and TLB behaviour of sparse keys.
    drop(xa);
    let xa = filled(&set.hits);
    group.bench_function("load_hit", |b| {
        b.iter(|| {
            for &k in &set.hits {
                black_box(xa.load(black_box(k)));
            }
        })
    });
    // Each key depends on the previous load's result, so loads cannot
    // overlap: per-op latency rather than throughput.
    group.bench_function("load_hit_chained", |b| {
        b.iter(|| {
            let mut dep = 0;
            for &k in &set.hits {
                let found = xa.load(k.wrapping_add(dep)).expect("stored key");
                // Always 0, but only known after the load completes.
                dep = found.get().wrapping_sub(entry(k).get());
            }
            black_box(dep)
        })
    });
    group.bench_function("load_miss", |b| {
        b.iter(|| {
            for &k in &set.misses {
                black_box(xa.load(black_box(k)));
            }
        })
    });
    group.finish();
}

/// `XArray::load` against `BTreeMap::get` on the same dense keys, same order.
fn bench_vs_btreemap(c: &mut Criterion, set: &KeySet) {
    let xa = filled(&set.hits);
    let map: BTreeMap<u64, Entry> = set.hits.iter().map(|&k| (k, entry(k))).collect();
    let mut group = c.benchmark_group(format!("load_vs_btreemap/{}", set.name));
    group
        .throughput(Throughput::Elements(set.hits.len() as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("xarray_load", |b| {
        b.iter(|| {
            for &k in &set.hits {
                black_box(xa.load(black_box(k)));
            }
        })
    });
    group.bench_function("btreemap_get", |b| {
        b.iter(|| {
            for &k in &set.hits {
                black_box(map.get(&black_box(k)));
            }
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let sets = xarray_keys::all(N);
    for set in &sets {
        bench_key_set(c, set);
    }
    for set in &sets[..2] {
        bench_vs_btreemap(c, set);
    }
}

criterion_group!(substrate_xarray, benches);
criterion_main!(substrate_xarray);

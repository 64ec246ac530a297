//! Generator throughput: ops generated per second for each preset's quick
//! variant, one worker (`cargo bench -p pfntrack --bench generator`).
//! The seed is fixed; the figure is what the runner pays before timing.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pfntrack::workload::{Scenario, generate};

const SEED: u64 = 1;

fn bench_presets(c: &mut Criterion) {
    let mut group = c.benchmark_group("generate");
    group.sample_size(10);
    for name in Scenario::PRESETS {
        let sc = Scenario::preset(name).expect("preset").quick();
        let ops = generate(&sc, SEED, 1).nr_worker_ops();
        group.throughput(Throughput::Elements(ops));
        group.bench_function(name, |b| b.iter(|| generate(&sc, SEED, 1)));
    }
    group.finish();
}

criterion_group!(benches, bench_presets);
criterion_main!(benches);

//! Prints the preset size table of docs/scenarios.md from the generator
//! itself, so the documentation can be refreshed when presets change:
//! `cargo run --release -p pfntrack --example scenario_sizes`.

use pfntrack::workload::{DEFAULT_SEED, Scenario, generate};

fn main() {
    println!(
        "| preset | processes x (K + M) | ops | hook calls | dups / frees | peak live VMAs | quick: ops / hook calls |"
    );
    println!("|---|---|---|---|---|---|---|");
    let hooks = |s: &pfntrack::workload::WorkloadStats| {
        s.vma_dups
            + s.vma_frees
            + s.full_remaps
            + s.partial_remaps
            + s.faults
            + s.lookups
            + s.ioremaps
            + s.iounmaps
    };
    for name in Scenario::PRESETS {
        let sc = Scenario::preset(name).expect("preset");
        let full = generate(&sc, DEFAULT_SEED, 1).stats().expect("valid");
        let quick = generate(&sc.quick(), DEFAULT_SEED, 1)
            .stats()
            .expect("valid");
        println!(
            "| `{name}` | {} x ({} + {}) | {} | {} | {} / {} | {} | {} / {} |",
            sc.processes,
            sc.pfnmap_vmas_per_process,
            sc.ordinary_vmas_per_process,
            full.nr_ops,
            hooks(&full),
            full.vma_dups,
            full.vma_frees,
            full.peak_live_vmas,
            quick.nr_ops,
            hooks(&quick)
        );
    }
}

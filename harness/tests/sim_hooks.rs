//! The simulator against the workload's own shadow mm, and across designs:
//! every preset's stream leaves each process with the VMAs (ids, sizes and
//! fork order) the generator's shadow expects, every design sees the same
//! sequence of hook calls, and nothing is left behind.

use pfntrack::measure::hook::Hook;
use pfntrack::measure::memory::MemoryModel;
use pfntrack::sim::mm::{HookObserver, HookOutcome, Sim, Unobserved};
use pfntrack::sim::slab::VmaSlab;
use pfntrack::workload::rng::WorkloadRng;
use pfntrack::workload::validate::MmShadow;
use pfntrack::workload::{Op, Scenario, generate};
use strategies::designs::{
    legacy::Legacy, memtype_ext::MemtypeExt, null::NullTracker, per_vma::PerVma,
    xarray::XarrayTracker,
};
use strategies::kmem::{Cpu, KObj};
use strategies::{PfnmapTracking, TrackerConfig};

/// Which kernel call site a hook is (a design decides only whether a free
/// untracked, so untrack and free are one site).
fn site(h: Hook) -> Hook {
    match h {
        Hook::Untrack => Hook::Free,
        other => other,
    }
}

#[derive(Default)]
struct Sites(Vec<Hook>, Vec<HookOutcome>);

impl HookObserver for Sites {
    fn start(&mut self) -> u64 {
        0
    }
    fn stop(&mut self) -> u64 {
        0
    }
    fn record(&mut self, hook: Hook, _: u64, _: u64, outcome: &HookOutcome) {
        self.0.push(site(hook));
        self.1.push(*outcome);
    }
}

fn quick(name: &str) -> Scenario {
    let sc = Scenario::preset(name).unwrap().quick();
    sc.validate().unwrap();
    sc
}

fn sim<T: PfnmapTracking>(t: &T) -> Sim<'_, T> {
    let geo = MemoryModel::new("default", 4)
        .unwrap()
        .vma_slab_geometry(false);
    Sim::new(
        t,
        Cpu::new(0),
        VmaSlab::new(geo, WorkloadRng::seed_from_u64(3)),
    )
}

/// Run the setup and worker 0 of `name`; return the call sites and outcomes.
fn run<T: PfnmapTracking>(name: &str, check_shadow: bool) -> Sites {
    let sc = quick(name);
    let w = generate(&sc, 11, 1);
    let cfg = TrackerConfig::with_phys(sc.phys_map());
    let t = T::new(&cfg);
    let mut setup = sim(&t);
    for op in &w.setup {
        setup.apply(&mut Unobserved, op);
    }
    let mut s = sim(&t);
    let mut shadow = MmShadow::for_worker(&w.setup);
    let mut sites = Sites::default();
    for (i, op) in w.workers[0].iter().enumerate() {
        s.apply(&mut sites, op);
        shadow.apply(op).unwrap();
        if check_shadow && (i % 97 == 0 || matches!(op, Op::Fork { .. })) {
            let pids: Vec<u32> = match *op {
                Op::Fork { parent, child, .. } => vec![parent, child],
                Op::Mmap { pid, .. } | Op::Proc { pid } => vec![pid],
                _ => (0..64).collect(),
            };
            for pid in pids {
                let want = shadow.process_vmas(pid).map(|ids| {
                    ids.iter()
                        .map(|&id| {
                            let (pages, pfnmap) = shadow.vma(id).unwrap();
                            (id, pages, pfnmap)
                        })
                        .collect::<Vec<_>>()
                });
                assert_eq!(
                    s.process_vmas(pid),
                    want,
                    "{name}: process {pid} after op {i} ({op})"
                );
            }
        }
    }
    assert_eq!(s.errors().get("skipped"), None, "{name}: ops skipped");
    s.teardown(&mut Unobserved);
    setup.teardown(&mut Unobserved);
    assert_eq!(s.nr_vmas(), 0);
    assert_eq!(s.slab_live(), 0, "{name}: VMA structs leaked");
    // Only what the design's kernel leaks by its own count may be left.
    let leaked = t.reservations_outstanding().unwrap_or(0);
    assert_eq!(
        t.memtype_entries().len() as u64,
        leaked,
        "{name}: reservations leaked"
    );
    for obj in [
        KObj::PfnmapTrackCtx,
        KObj::XaNode,
        KObj::MemtypeVmaLink,
        KObj::Memtype,
    ] {
        let live = Cpu::live_total([s.cpu(), setup.cpu()], obj);
        let want = if obj == KObj::Memtype {
            leaked as i64
        } else {
            0
        };
        assert_eq!(live, want, "{name}: {} leaked", obj.kernel_name());
    }
    sites
}

#[test]
fn the_simulator_follows_the_generators_shadow_mm() {
    for name in Scenario::PRESETS {
        run::<PerVma>(name, true);
    }
}

#[test]
fn every_design_sees_the_same_hook_calls_and_results() {
    for name in Scenario::PRESETS {
        let base = run::<PerVma>(name, false);
        assert!(!base.0.is_empty(), "{name}: no hooks ran");
        let x = run::<XarrayTracker>(name, false);
        let m = run::<MemtypeExt>(name, false);
        assert_eq!(base.0, x.0, "{name}: xarray's call sequence differs");
        assert_eq!(base.0, m.0, "{name}: memtype-ext's call sequence differs");
        assert_eq!(base.1, x.1, "{name}: xarray's results differ");
        assert_eq!(base.1, m.1, "{name}: memtype-ext's results differ");
        let null = run::<NullTracker>(name, false);
        assert_eq!(base.0, null.0, "{name}: null's call sequence differs");
        // v6.15 returns other results (fork reserves, unmap untracks), at
        // the same call sites.
        let legacy = run::<Legacy>(name, false);
        assert_eq!(base.0, legacy.0, "{name}: legacy's call sequence differs");
    }
}

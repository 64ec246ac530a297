//! Deterministic results documents for the chart tests: a few scenarios,
//! the three designs plus `null`, several thread counts and repeats, with
//! figures shaped like real ones (latency tails, a grow-then-unmap memory
//! trajectory) and per-repeat jitter from a fixed, recorded seed.

use std::collections::BTreeMap;

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use strategies::{Footprint, Strategy};

use crate::measure::hook::Hook;
use crate::results::{
    DesignResult, EnvInfo, HookSummary, KernelMemory, MemoryResult, MemorySample, RepeatResult,
    RunParams, RunResults, SCHEMA_VERSION, ScenarioResult, TimerInfo, ToolInfo,
};

/// What to build.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// Scenario names.
    pub scenarios: Vec<String>,
    /// Thread counts.
    pub threads: Vec<u32>,
    /// Repeats per design and thread count.
    pub repeats: u32,
    /// `started_at`.
    pub started_at: String,
    /// `tool.git_commit`.
    pub commit: Option<String>,
    /// Seed of the jitter.
    pub seed: u64,
    /// Multiplies every latency (to make trends move between runs).
    pub slowdown: f64,
}

/// The seed the fixtures use unless a test picks another.
pub const SEED: u64 = 0x5eed_c4a7;

impl Default for Fixture {
    fn default() -> Self {
        Fixture {
            scenarios: vec!["fork-heavy".to_string(), "mremap-split".to_string()],
            threads: vec![1, 2, 4],
            repeats: 3,
            started_at: "2026-01-01T00:00:00Z".to_string(),
            commit: Some("0123456789abcdef0123456789abcdef01234567".to_string()),
            seed: SEED,
            slowdown: 1.0,
        }
    }
}

/// Hooks every fixture scenario times; `fault` only in scenarios whose
/// name contains "fault" or "fork" (to exercise missing hooks).
const HOOKS: [Hook; 6] = [
    Hook::Track,
    Hook::Untrack,
    Hook::Dup,
    Hook::Free,
    Hook::DupPlain,
    Hook::Fault,
];

/// The quantiles the runner records (measure::histogram).
fn quantiles() -> Vec<f64> {
    let mut q: Vec<f64> = (0..=99).map(|p| f64::from(p) / 100.0).collect();
    q.extend((1..=9).map(|t| (990.0 + f64::from(t)) / 1000.0));
    q.extend((1..=9).map(|t| (9990.0 + f64::from(t)) / 10_000.0));
    q.extend([0.99999, 1.0]);
    q
}

fn base_ns(strategy: Strategy, hook: Hook) -> f64 {
    let design = match strategy {
        Strategy::PerVma => 1.0,
        Strategy::Xarray => 1.6,
        Strategy::MemtypeExt => 1.3,
        Strategy::Legacy => 1.1,
        Strategy::Null | Strategy::Reference | Strategy::LegacyReference => 0.1,
    };
    let hook = match hook {
        Hook::Track => 400.0,
        Hook::Untrack => 300.0,
        Hook::Dup => 60.0,
        Hook::Free => 40.0,
        Hook::Fault => 90.0,
        _ => 8.0,
    };
    design * hook
}

/// Build the document.
pub fn run(f: &Fixture) -> RunResults {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(f.seed);
    let mut jitter =
        move || 1.0 + ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.1;
    let strategies = [
        Strategy::PerVma,
        Strategy::Xarray,
        Strategy::MemtypeExt,
        Strategy::Null,
    ];
    let scenarios = f
        .scenarios
        .iter()
        .map(|name| {
            let with_fault = name.contains("fault") || name.contains("fork");
            let mut designs = Vec::new();
            for &threads in &f.threads {
                for &strategy in &strategies {
                    let hooks: Vec<Hook> = HOOKS
                        .into_iter()
                        .filter(|h| *h != Hook::Fault || with_fault)
                        .collect();
                    let repeats = (0..f.repeats)
                        .map(|_| {
                            let summaries = hooks
                                .iter()
                                .map(|&h| {
                                    let b = base_ns(strategy, h) * f.slowdown * jitter();
                                    (
                                        h,
                                        HookSummary {
                                            count: 20_000,
                                            mean_ns: b * 1.2,
                                            tmean_ns: b * 1.1,
                                            p50_ns: b as u64,
                                            p90_ns: (b * 1.5) as u64,
                                            p99_ns: (b * 3.0) as u64,
                                            p999_ns: (b * 8.0) as u64,
                                            max_ns: (b * 40.0) as u64,
                                        },
                                    )
                                })
                                .collect();
                            let speed = match strategy {
                                Strategy::PerVma => 2.0e6,
                                Strategy::Xarray => 1.5e6,
                                Strategy::MemtypeExt => 1.7e6,
                                _ => 3.0e6,
                            };
                            let ops = speed * f64::from(threads).powf(0.8) * jitter() / f.slowdown;
                            RepeatResult {
                                wall_ns: (1e9 * 200_000.0 / ops) as u64,
                                ops_per_sec: ops,
                                hook_ns_total: 1_000_000,
                                timer_overhead_ticks: 58.8,
                                hooks: summaries,
                                errors: BTreeMap::new(),
                            }
                        })
                        .collect();
                    let latency_cdf = hooks
                        .iter()
                        .map(|&h| {
                            let b = base_ns(strategy, h) * f.slowdown;
                            let pts = quantiles()
                                .into_iter()
                                .map(|q| {
                                    let tail = if q < 1.0 { -(1.0 - q).ln() } else { 14.0 };
                                    // Null's hooks sit at the timer floor: 0 ns.
                                    let ns = if strategy == Strategy::Null && q < 0.3 {
                                        0.0
                                    } else {
                                        b * (0.7 + 0.35 * tail * tail)
                                    };
                                    (q, ns as u64)
                                })
                                .collect();
                            (h, pts)
                        })
                        .collect();
                    designs.push(DesignResult {
                        strategy,
                        threads,
                        repeats,
                        latency_cdf,
                        memory: memory(strategy, threads == 1),
                        reservations_peak: 0,
                        invalid_frees: 0,
                        reservations_leaked: 0,
                    });
                }
            }
            ScenarioResult {
                name: name.clone(),
                params: serde_json::json!({ "preset": name }),
                seed: Some(f.seed),
                nr_ops: 200_000,
                designs,
            }
        })
        .collect();
    RunResults {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo {
            name: "pfntrack".to_string(),
            version: "0.1.0".to_string(),
            git_commit: f.commit.clone(),
            git_dirty: Some(false),
        },
        env: EnvInfo {
            cpu_model: "Fixture CPU @ 3.0GHz".to_string(),
            nr_cpus: 2,
            os: "Debian GNU/Linux 13".to_string(),
            kernel: "6.16.0".to_string(),
            rustc: "rustc 1.90.0".to_string(),
            profile: "release".to_string(),
            timer: TimerInfo {
                kind: "tsc".to_string(),
                ticks_per_ns: 3.0,
                overhead_ticks: 60.0,
                overhead_ns: 20.0,
                resolution_ns: Some(6.5),
                fallback: None,
            },
        },
        command: format!("pfntrack run --threads {}", f.threads.len()),
        started_at: f.started_at.clone(),
        duration_s: 12.5,
        params: RunParams {
            repeats: f.repeats,
            threads: f.threads.clone(),
            quick: true,
            seed: f.seed,
            rng: "Xoshiro256PlusPlus".to_string(),
            strategies: strategies.to_vec(),
            layout_config: "default".to_string(),
            slab_nr_cpus: 4,
            xa_key_shift: 0,
            refcount_max: strategies::kref::REFCOUNT_MAX,
        },
        scenarios,
    }
}

/// Kernel bytes of a design holding `tracked` of `vmas` VMAs (a rough
/// shape, not the slab model).
fn kernel_bytes(strategy: Strategy, vmas: u64, tracked: u64) -> u64 {
    match strategy {
        Strategy::PerVma => 8 * vmas + 96 * tracked,
        Strategy::Xarray => 64 * tracked + 576 * tracked.div_ceil(20) + 32 * tracked,
        Strategy::MemtypeExt => 64 * tracked + 48 * tracked,
        Strategy::Legacy => 64 * tracked,
        Strategy::Null | Strategy::Reference | Strategy::LegacyReference => 0,
    }
}

fn kernel_memory(strategy: Strategy, vmas: u64, tracked: u64) -> KernelMemory {
    let kernel_bytes = kernel_bytes(strategy, vmas, tracked);
    KernelMemory {
        objects: Footprint::default(),
        nr_vmas: vmas,
        nr_tracked_vmas: tracked,
        bytes: BTreeMap::from([("memtype".to_string(), kernel_bytes)]),
        kernel_bytes,
        bytes_per_tracked_vma: if tracked == 0 {
            0.0
        } else {
            kernel_bytes as f64 / tracked as f64
        },
    }
}

/// Grow to 40,000 VMAs (a quarter tracked), then unmap down to 5,000;
/// samples only for a single worker, as the runner records them.
fn memory(strategy: Strategy, with_samples: bool) -> MemoryResult {
    let shape = |i: u64| -> (u64, u64) {
        let vmas = if i <= 60 {
            i * 40_000 / 60
        } else {
            40_000 - (i - 60) * 35_000 / 40
        };
        (vmas, vmas / 4)
    };
    let samples = if with_samples {
        (0..=100)
            .map(|i| {
                let (vmas, tracked) = shape(i);
                MemorySample {
                    ops: i * 2_000,
                    nr_vmas: vmas,
                    nr_tracked_vmas: tracked,
                    kernel_bytes: kernel_bytes(strategy, vmas, tracked),
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    MemoryResult {
        peak: kernel_memory(strategy, 40_000, 10_000),
        end: kernel_memory(strategy, 5_000, 1_250),
        sim_heap_peak_bytes: 50 << 20,
        sim_heap_end_bytes: 10 << 20,
        samples,
    }
}

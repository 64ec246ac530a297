//! Synthetic results documents for tests, examples and format work: the
//! shape of a real `pfntrack run` document with made-up figures. They are
//! never measurements; the CPU model says `synthetic fixture`.
//!
//! Deterministic: every figure follows from the builder's settings and its
//! seed, through `Xoshiro256PlusPlus` (the same document on every build and
//! machine, so rendered reports can be compared with committed snapshots).
//!
//! The figures follow the designs' expected shape (docs/design.md section 1): the global
//! designs pay more on dup/free/lookup of pfnmap VMAs and under threads,
//! per-VMA tracking pays nothing extra; percentiles are multiples of a 10 ns
//! clock step, as on the TSC of the reference VM, while means are finer.

use std::collections::BTreeMap;

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use strategies::{Footprint, Strategy};

use crate::measure::hook::Hook;
use crate::results::{
    DesignResult, EnvInfo, HookSummary, KernelMemory, MemoryResult, MemorySample, RepeatResult,
    RunParams, RunResults, SCHEMA_VERSION, ScenarioResult, TimerInfo, ToolInfo,
};

/// Clock step of the synthetic timer, ns.
pub const RESOLUTION_NS: f64 = 10.0;

/// Builder of a synthetic [`RunResults`].
#[derive(Debug, Clone)]
pub struct Fixture {
    seed: u64,
    repeats: u32,
    threads: Vec<u32>,
    designs: Vec<Strategy>,
    scenarios: Vec<String>,
    hooks: Vec<Hook>,
    latency_scale: f64,
    /// One design's hook made slower by a factor (a regression).
    slow: Option<(Strategy, Hook, f64)>,
    noise_pct: f64,
    command: Option<String>,
    cpu_model: String,
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

impl Fixture {
    /// Five repeats of the three designs and `null` on one scenario at one
    /// thread, six hooks, 1% repeat noise, seed 42.
    pub fn new() -> Fixture {
        Fixture {
            seed: 42,
            repeats: 5,
            threads: vec![1],
            designs: vec![
                Strategy::PerVma,
                Strategy::Xarray,
                Strategy::MemtypeExt,
                Strategy::Null,
            ],
            scenarios: vec!["fork-exec".to_string()],
            hooks: vec![
                Hook::Track,
                Hook::Untrack,
                Hook::Dup,
                Hook::Free,
                Hook::DupPlain,
                Hook::Fault,
            ],
            latency_scale: 1.0,
            slow: None,
            noise_pct: 1.0,
            command: None,
            cpu_model: "AMD EPYC 7B13 (synthetic fixture)".to_string(),
        }
    }

    /// Make `hook` of `strategy` `factor` times slower (and nothing else).
    pub fn slow(mut self, strategy: Strategy, hook: Hook, factor: f64) -> Self {
        self.slow = Some((strategy, hook, factor));
        self
    }

    /// Seed of the repeat noise (also recorded as the run's seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Repeats per design.
    pub fn repeats(mut self, repeats: u32) -> Self {
        self.repeats = repeats;
        self
    }

    /// Thread counts measured.
    pub fn threads(mut self, threads: &[u32]) -> Self {
        self.threads = threads.to_vec();
        self
    }

    /// Designs measured, in run order.
    pub fn designs(mut self, designs: &[Strategy]) -> Self {
        self.designs = designs.to_vec();
        self
    }

    /// Scenario names, in run order.
    pub fn scenarios(mut self, names: &[&str]) -> Self {
        self.scenarios = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Hooks that run.
    pub fn hooks(mut self, hooks: &[Hook]) -> Self {
        self.hooks = hooks.to_vec();
        self
    }

    /// Multiply every latency (e.g. 1.2 for a run 20% slower).
    pub fn latency_scale(mut self, scale: f64) -> Self {
        self.latency_scale = scale;
        self
    }

    /// Half-width of the uniform per-repeat noise, percent.
    pub fn noise_pct(mut self, pct: f64) -> Self {
        self.noise_pct = pct;
        self
    }

    /// The recorded command line.
    pub fn command(mut self, command: &str) -> Self {
        self.command = Some(command.to_string());
        self
    }

    /// The recorded CPU model.
    pub fn cpu_model(mut self, model: &str) -> Self {
        self.cpu_model = model.to_string();
        self
    }

    /// The document.
    pub fn build(&self) -> RunResults {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.seed);
        let max_threads = self.threads.iter().copied().max().unwrap_or(1);
        let names: Vec<&str> = self.designs.iter().map(|s| s.name()).collect();
        let command = self.command.clone().unwrap_or_else(|| {
            format!(
                "pfntrack run --scenario {} --designs {} --repeats {} --threads {} \
                 --seed {} --out results.json",
                self.scenarios.join(","),
                names.join(","),
                self.repeats,
                max_threads,
                self.seed
            )
        });
        let scenarios = self
            .scenarios
            .iter()
            .enumerate()
            .map(|(i, name)| self.scenario(i, name, &mut rng))
            .collect();
        RunResults {
            schema_version: SCHEMA_VERSION,
            tool: ToolInfo {
                name: "pfntrack".to_string(),
                version: "0.1.0".to_string(),
                git_commit: Some("0123456789abcdef0123456789abcdef01234567".to_string()),
                git_dirty: Some(false),
            },
            env: EnvInfo {
                cpu_model: self.cpu_model.clone(),
                nr_cpus: 2,
                os: "Debian GNU/Linux 12 (bookworm)".to_string(),
                kernel: "6.1.0-27-amd64".to_string(),
                rustc: "rustc 1.91.0 (f8297e351 2025-10-28)".to_string(),
                profile: "release".to_string(),
                timer: TimerInfo {
                    kind: "tsc".to_string(),
                    ticks_per_ns: 2.6,
                    overhead_ticks: 41.6,
                    overhead_ns: 16.0,
                    resolution_ns: Some(RESOLUTION_NS),
                    fallback: None,
                },
            },
            command,
            started_at: "2026-11-25T14:03:09Z".to_string(),
            duration_s: 93.5,
            params: RunParams {
                repeats: self.repeats,
                threads: self.threads.clone(),
                quick: false,
                seed: self.seed,
                rng: "xoshiro256++".to_string(),
                strategies: self.designs.clone(),
                layout_config: "default".to_string(),
                slab_nr_cpus: 2,
                xa_key_shift: 0,
                refcount_max: strategies::kref::REFCOUNT_MAX,
            },
            scenarios,
        }
    }

    fn scenario(&self, index: usize, name: &str, rng: &mut Xoshiro256PlusPlus) -> ScenarioResult {
        let nr_ops = 100_000;
        let scale = (index + 1) as u64;
        let mut designs = Vec::new();
        for &threads in &self.threads {
            for &strategy in &self.designs {
                designs.push(self.design(strategy, threads, nr_ops, scale, rng));
            }
        }
        ScenarioResult {
            name: name.to_string(),
            params: serde_json::json!({
                "preset": name,
                "nr_ops": nr_ops,
                "nr_vmas": 21_000 * scale,
            }),
            seed: Some(self.seed ^ (index as u64 + 1)),
            nr_ops,
            designs,
        }
    }

    fn design(
        &self,
        strategy: Strategy,
        threads: u32,
        nr_ops: u64,
        scale: u64,
        rng: &mut Xoshiro256PlusPlus,
    ) -> DesignResult {
        let contention = 1.0 + contention_per_thread(strategy) * f64::from(threads - 1);
        let mut repeats = Vec::new();
        for _ in 0..self.repeats {
            let mut hooks = BTreeMap::new();
            let mut hook_ns = 0.0;
            for &hook in &self.hooks {
                let noise = 1.0 + self.noise_pct / 100.0 * uniform(rng);
                let slow = match self.slow {
                    Some((s, h, f)) if (s, h) == (strategy, hook) => f,
                    _ => 1.0,
                };
                let mean = base_latency_ns(strategy, hook)
                    * self.latency_scale
                    * slow
                    * contention
                    * noise;
                let count = calls(hook) * scale;
                hook_ns += mean * count as f64;
                hooks.insert(hook, summary(count, mean));
            }
            let sim_ns = nr_ops as f64 * 180.0 * (1.0 + 0.005 * uniform(rng));
            let wall_ns = (sim_ns + hook_ns / f64::from(threads)).round() as u64;
            let ops = nr_ops * u64::from(threads);
            repeats.push(RepeatResult {
                wall_ns,
                ops_per_sec: ops as f64 * 1e9 / wall_ns as f64,
                hook_ns_total: hook_ns.round() as u64,
                timer_overhead_ticks: 58.8,
                hooks,
                errors: BTreeMap::from([("skipped".to_string(), 12)]),
            });
        }
        let latency_cdf = repeats
            .first()
            .map(|r| {
                r.hooks
                    .iter()
                    .map(|(h, s)| {
                        let points = vec![
                            (0.0, s.p50_ns / 2),
                            (0.5, s.p50_ns),
                            (0.9, s.p90_ns),
                            (0.99, s.p99_ns),
                            (0.999, s.p999_ns),
                            (1.0, s.max_ns),
                        ];
                        (*h, points)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let memory = memory(strategy, scale, threads);
        // legacy re-reserves at fork and leaks split pieces.
        let (invalid_frees, reservations_leaked) = match strategy {
            Strategy::Legacy | Strategy::LegacyReference => (40 * scale, 12 * scale),
            _ => (0, 0),
        };
        DesignResult {
            strategy,
            threads,
            repeats,
            latency_cdf,
            reservations_peak: memory.peak.objects.memtype,
            invalid_frees,
            reservations_leaked,
            memory,
        }
    }
}

/// Uniform in [-1, 1).
fn uniform(rng: &mut Xoshiro256PlusPlus) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

fn quantize(ns: f64) -> u64 {
    ((ns / RESOLUTION_NS).round() * RESOLUTION_NS) as u64
}

fn summary(count: u64, mean: f64) -> HookSummary {
    HookSummary {
        count,
        mean_ns: mean * 1.05,
        tmean_ns: mean,
        p50_ns: quantize(mean * 0.96),
        p90_ns: quantize(mean * 1.3),
        p99_ns: quantize(mean * 2.1),
        p999_ns: quantize(mean * 4.0),
        max_ns: quantize(mean * 40.0).max(10),
    }
}

/// Calls per 100,000 ops of the first scenario.
fn calls(hook: Hook) -> u64 {
    match hook {
        Hook::Track => 4_000,
        Hook::Untrack => 3_900,
        Hook::Dup => 16_000,
        Hook::Free => 15_800,
        Hook::DupPlain => 60_000,
        Hook::FreePlain => 59_000,
        Hook::SetupCachemode => 1_000,
        Hook::Fault => 120_000,
        Hook::Lookup => 8_000,
        Hook::Ioremap => 500,
        Hook::Iounmap => 480,
    }
}

/// Mean net latency of one call at one thread, ns.
fn base_latency_ns(strategy: Strategy, hook: Hook) -> f64 {
    let per_vma = match hook {
        Hook::Track => 412.0,
        Hook::Untrack => 377.0,
        Hook::Dup => 21.4,
        Hook::Free => 14.2,
        Hook::DupPlain => 3.6,
        Hook::FreePlain => 2.9,
        Hook::SetupCachemode => 188.0,
        Hook::Fault => 94.5,
        Hook::Lookup => 6.4,
        Hook::Ioremap => 351.0,
        Hook::Iounmap => 298.0,
    };
    let factor = match (strategy, hook) {
        (Strategy::PerVma, _) => 1.0,
        (Strategy::Null, _) => return 2.1,
        (Strategy::Reference | Strategy::LegacyReference, _) => 7.5,
        (Strategy::Legacy, Hook::Dup) => 9.0,
        (Strategy::Legacy, Hook::Free) => 0.5,
        (Strategy::Legacy, Hook::Lookup) => 0.8,
        (Strategy::Legacy, _) => 1.02,
        (_, Hook::DupPlain | Hook::FreePlain | Hook::Ioremap | Hook::Iounmap) => 1.0,
        (Strategy::Xarray, Hook::Track) => 1.11,
        (Strategy::Xarray, Hook::Untrack) => 1.14,
        (Strategy::Xarray, Hook::Dup) => 2.9,
        (Strategy::Xarray, Hook::Free) => 3.8,
        (Strategy::Xarray, Hook::Lookup) => 5.9,
        (Strategy::Xarray, _) => 1.01,
        (Strategy::MemtypeExt, Hook::Track) => 1.27,
        (Strategy::MemtypeExt, Hook::Untrack) => 1.24,
        (Strategy::MemtypeExt, Hook::Dup) => 4.4,
        (Strategy::MemtypeExt, Hook::Free) => 5.6,
        (Strategy::MemtypeExt, Hook::Lookup) => 18.0,
        (Strategy::MemtypeExt, _) => 1.12,
    };
    per_vma * factor
}

/// Latency growth per extra thread: the global designs share one lock.
fn contention_per_thread(strategy: Strategy) -> f64 {
    match strategy {
        Strategy::PerVma | Strategy::Reference | Strategy::LegacyReference => 0.05,
        Strategy::Xarray => 0.30,
        Strategy::MemtypeExt | Strategy::Legacy => 0.40,
        Strategy::Null => 0.0,
    }
}

/// Slab-rounded bytes for `n` objects of `size` in `slab_bytes` slabs.
fn slab_bytes(n: u64, size: u64, slab_bytes: u64) -> u64 {
    let per_slab = slab_bytes / size;
    n.div_ceil(per_slab) * slab_bytes
}

fn memory(strategy: Strategy, scale: u64, threads: u32) -> MemoryResult {
    let nr_vmas = 21_000 * scale;
    let nr_tracked = 1_000 * scale;
    let ctxs = 250 * scale;
    let memtypes = 260 * scale;
    let mut fp = Footprint::default();
    let mut bytes = BTreeMap::new();
    match strategy {
        Strategy::PerVma | Strategy::Reference => {
            fp.pfnmap_track_ctx = ctxs;
            fp.memtype = memtypes;
            fp.vma_field_bytes = 8;
            bytes.insert("pfnmap_track_ctx".into(), slab_bytes(ctxs, 32, 4096));
            bytes.insert("memtype".into(), slab_bytes(memtypes, 64, 4096));
            bytes.insert("vma_field".into(), 0);
        }
        Strategy::Xarray => {
            fp.pfnmap_track_ctx = ctxs;
            fp.memtype = memtypes;
            fp.xa_node = 180 * scale;
            bytes.insert("pfnmap_track_ctx".into(), slab_bytes(ctxs, 32, 4096));
            bytes.insert("memtype".into(), slab_bytes(memtypes, 64, 4096));
            bytes.insert("xa_node".into(), slab_bytes(fp.xa_node, 576, 16384));
        }
        Strategy::MemtypeExt => {
            fp.memtype = memtypes;
            fp.memtype_vma_link = nr_tracked;
            bytes.insert("memtype".into(), slab_bytes(memtypes, 64, 4096));
            bytes.insert("memtype_vma_link".into(), slab_bytes(nr_tracked, 64, 4096));
        }
        Strategy::Legacy | Strategy::LegacyReference => {
            // One entry per VMA: fork reserves again.
            fp.memtype = nr_tracked;
            bytes.insert("memtype".into(), slab_bytes(nr_tracked, 64, 4096));
        }
        Strategy::Null => {}
    }
    let kernel_bytes: u64 = bytes.values().sum();
    let tracked = if strategy == Strategy::Null {
        0
    } else {
        nr_tracked
    };
    let peak = KernelMemory {
        objects: fp,
        nr_vmas,
        nr_tracked_vmas: tracked,
        bytes,
        kernel_bytes,
        bytes_per_tracked_vma: if tracked == 0 {
            0.0
        } else {
            kernel_bytes as f64 / tracked as f64
        },
    };
    let end = KernelMemory {
        objects: Footprint {
            vma_field_bytes: fp.vma_field_bytes,
            ..Footprint::default()
        },
        nr_vmas: 0,
        nr_tracked_vmas: 0,
        bytes: BTreeMap::new(),
        kernel_bytes: 0,
        bytes_per_tracked_vma: 0.0,
    };
    let samples = if threads == 1 {
        (0..=4)
            .map(|i| MemorySample {
                ops: i * 25_000,
                nr_vmas: nr_vmas * i.min(4 - i) / 2,
                nr_tracked_vmas: tracked * i.min(4 - i) / 2,
                kernel_bytes: kernel_bytes * i.min(4 - i) / 2,
            })
            .collect()
    } else {
        Vec::new()
    };
    MemoryResult {
        peak,
        end,
        sim_heap_peak_bytes: 48 << 20,
        sim_heap_end_bytes: 1 << 20,
        samples,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_settings_same_document() {
        let a = Fixture::new().build();
        assert_eq!(a, Fixture::new().build());
        assert_ne!(a, Fixture::new().seed(7).build());
        // It survives the document's own reader (serde_json parses floats
        // to within an ulp, so compare a figure loosely).
        let json = serde_json::to_string(&a).unwrap();
        let back = RunResults::from_json(&json, std::path::Path::new("x.json")).unwrap();
        assert_eq!(back.scenarios.len(), a.scenarios.len());
        let mean = |r: &RunResults| r.scenarios[0].designs[1].repeats[2].hooks[&Hook::Dup].mean_ns;
        assert!((mean(&back) - mean(&a)).abs() < 1e-9);
    }

    #[test]
    fn percentiles_are_clock_steps_and_means_are_not() {
        let run = Fixture::new().build();
        let d = &run.scenarios[0].designs[0];
        let s = d.repeats[0].hooks[&Hook::Track];
        assert_eq!(s.p50_ns % 10, 0);
        assert_eq!(s.p99_ns % 10, 0);
        assert_ne!(s.mean_ns.fract(), 0.0);
        assert_eq!(d.repeats.len(), 5);
    }
}
